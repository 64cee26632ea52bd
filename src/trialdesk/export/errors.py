"""Import rejections: every problem found in a foreign file, named by row, field and reason.

Imports are all-or-nothing: a file with any problem is rejected as a whole (nothing is written),
and the rejection lists every problem so the sender can fix the file in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass

LISTED_PROBLEMS = 50
"""Problems spelled out in a rejection message; the rest are counted (the full list stays on
`ImportRejected.problems`)."""


@dataclass(frozen=True)
class Rejection:
    """One problem in an imported file. `row` is 1-based as a spreadsheet shows it (the header
    is row 1), or an XML path / element description for XML input."""

    row: int | str
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"row {self.row}" if isinstance(self.row, int) else str(self.row)
        return f"{where}, {self.field}: {self.reason}"


class ImportRejected(ValueError):
    """The whole file was rejected; `problems` says why, one line per problem."""

    def __init__(self, source: str, problems: list[Rejection]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems[:LISTED_PROBLEMS])
        more = (
            f"\n  … and {len(problems) - LISTED_PROBLEMS} more"
            if len(problems) > LISTED_PROBLEMS
            else ""
        )
        super().__init__(
            f"{source}: rejected, {len(problems)} problem(s); nothing was imported\n{lines}{more}"
        )


class ExportError(ValueError):
    """Data that cannot be written in the requested standard (names the record and field)."""

"""The one exception the dictionary readers raise: which file, which line, which field, why."""

from __future__ import annotations


class DictionaryFormatError(ValueError):
    """A dictionary file that is missing or does not follow its layout.

    Attributes:
        file: the file's name (``llt.asc``), never a full path of the sponsor's machine.
        line: the 1-based line number, or None when the whole file is at fault.
        field: the field's name in the distribution documentation (``llt_code``), or None.
        reason: what is wrong, in words.
    """

    def __init__(
        self, file: str, reason: str, *, line: int | None = None, field: str | None = None
    ):
        self.file, self.line, self.field, self.reason = file, line, field, reason
        where = file if line is None else f"{file} line {line}"
        if field:
            where += f", field {field}"
        super().__init__(f"{where}: {reason}")

"""Edit conflicts without silent reverts (issue 13).

Every correction form carries, besides the version it was opened at, the values it was opened
with (hidden ``orig__<field>`` inputs). When the record has moved on since (someone else saved a
newer version), the server knows field by field what *this* user changed (typed ≠ original) and
what the other user changed (original ≠ current), so it can show the other user's values beside
this user's, re-apply only this user's changes over the current record, flag the fields both
changed, and hand out the current version with the current values as the new originals. A
second click therefore saves a merge, never this user's stale copy of the other fields
(the "lost update" of optimistic concurrency control: Kung & Robinson, ACM TODS 6(2), 1981;
HTTP's If-Match, RFC 9110 §13.1.1, which the API uses for the same records).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from trialdesk.web.forms import FormInput

ORIGINAL = "orig__"
CHECK_SEPARATOR = "|"


@dataclass(frozen=True)
class FieldConflict:
    """One field as three values: what you typed, what is saved now, what you started from."""

    name: str
    label: str
    yours: str
    theirs: str
    original: str

    @property
    def you_changed(self) -> bool:
        return self.yours != self.original

    @property
    def they_changed(self) -> bool:
        return self.theirs != self.original

    @property
    def clash(self) -> bool:
        """Both changed it, to different values: the user must choose."""
        return self.you_changed and self.they_changed and self.yours != self.theirs


@dataclass(frozen=True)
class Conflict:
    version: int
    saved_at: datetime | None
    fields: list[FieldConflict] = field(default_factory=list)

    @property
    def clashes(self) -> list[FieldConflict]:
        return [f for f in self.fields if f.clash]

    @property
    def changed(self) -> list[FieldConflict]:
        return [f for f in self.fields if f.you_changed or f.they_changed]


def originals(form: FormInput, names: Iterable[str]) -> dict[str, str]:
    """The values the form was opened with (what the hidden ``orig__`` inputs carried)."""
    return {n: form.values.get(ORIGINAL + n, "") for n in names}


def checks_text(values: Iterable[str]) -> str:
    """A set of ticked boxes as one comparable string."""
    return CHECK_SEPARATOR.join(sorted(v for v in values if v))


def merge(
    typed: Mapping[str, str],
    original: Mapping[str, str],
    current: Mapping[str, str],
    labels: Mapping[str, str],
    *,
    version: int,
    saved_at: datetime | None,
) -> tuple[dict[str, str], Conflict]:
    """Your changes over the current record, and the field-by-field comparison."""
    merged = dict(current)
    rows = []
    for name, now in current.items():
        yours = typed.get(name, original.get(name, now))
        row = FieldConflict(name, labels.get(name, name), yours, now, original.get(name, now))
        rows.append(row)
        if row.you_changed:
            merged[name] = yours
    return merged, Conflict(version, saved_at, rows)


def is_stale(form: FormInput, current_version: int) -> bool:
    """True when the form was opened at an older version than the record's current one."""
    try:
        opened = int(form.values.get("version", ""))
    except ValueError:
        return False
    return opened != current_version


def clash_reason(row: FieldConflict) -> str:
    """The message next to a field both users changed."""
    theirs = row.theirs or "blank"
    return (
        f"changed meanwhile by someone else to {theirs!r}; your {row.yours or 'blank'!r} is kept "
        "here: choose which to save"
    )

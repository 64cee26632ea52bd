"""A value typed into a visit form's empty field that someone else filled since the form was
read ("entered meanwhile"): refused with both values named, never saved as a second value.

The caller says what it read: the elements that had a live value when the visit was opened
(`VisitFormsEntry.opened_with`, the web page's hidden input, the API's body field). The check
is the service's, so the web page and the API refuse the same stale write (the "lost update"
of optimistic concurrency control: Kung & Robinson, ACM TODS 6(2), 1981; RFC 9110 §13.1.1,
whose If-Match the API uses for single records).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from trialdesk.services.actor import Actor
from trialdesk.services.crf_entries import MeasurementFilter
from trialdesk.services.itt import list_itt_tests
from trialdesk.services.measurements import list_measurements
from trialdesk.services.paging import Page

#: The ITT stands for its whole block (its glucose element names the block's field).
ITT_ELEMENT = "itt_glucose"
#: Enough rows for every measurement a visit can hold (the catalogue has fewer elements).
VISIT_ROWS = 500


@dataclass(frozen=True)
class Typed:
    """What the caller typed for one field it found empty."""

    field: str
    shown: str  # e.g. "8.3 %"


@dataclass(frozen=True)
class Meanwhile:
    """The fields filled by someone else since the caller read the visit, with their value now."""

    current: Mapping[str, str]
    problems: Mapping[str, str]


def saved_now(session: Session, actor: Actor, pid: int, code: str) -> dict[str, str]:
    """Each element with a live value at the visit, as entered ("8.1 %"; a missing-data code as
    "recorded as missing (ND)"); the ITT as its number of samples."""
    rows = list_measurements(
        session,
        actor,
        MeasurementFilter(participant_id=pid, visit_code=code),
        Page(limit=VISIT_ROWS),
    ).items
    now = {
        m.element: (
            f"recorded as missing ({m.missing_code})"
            if m.missing_code
            else f"{m.value_as_entered} {m.unit_as_entered or ''}".strip()
        )
        for m in rows
    }
    tests = [t for t in list_itt_tests(session, actor, pid) if t.visit_code == code]
    if tests:
        now[ITT_ELEMENT] = f"an insulin tolerance test of {len(tests[0].samples)} samples"
    return now


def entered_meanwhile(
    session: Session,
    actor: Actor,
    pid: int,
    code: str,
    *,
    opened_with: Iterable[str] | None,
    typed: Iterable[Typed],
) -> Meanwhile:
    """The typed fields someone else filled since the caller read the visit (`opened_with`:
    the elements that had a value then; None: the caller did not say, nothing is checked)."""
    if opened_with is None:
        return Meanwhile({}, {})
    before = set(opened_with)
    now = saved_now(session, actor, pid, code)
    current: dict[str, str] = {}
    problems: dict[str, str] = {}
    for value in typed:
        if value.field in now and value.field not in before:
            current[value.field] = now[value.field]
            problems[value.field] = (
                f"was entered by someone else after you opened this visit: it is now "
                f"{now[value.field]}; yours, {value.shown}, was not saved: if yours is right, "
                "correct the saved value"
            )
    return Meanwhile(current, problems)

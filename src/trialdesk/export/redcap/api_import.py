"""Import Records through the REDCap-compatible API ([@REDCap] API help, "Import Records"):
changes to existing participants' forms, checked and written through the services.

The rows (REDCap's flat format, JSON or CSV) are read by the same reader as a REDCap CSV file
(`read_records`: unknown fields, events and impossible values are refused, naming record and
field), then compared with what the study holds now (`clinical_data`, the records the export
writes). A value equal to the stored one changes nothing. Each form instance with changed values
is written by `api_writes` to the rows that hold them — measurements and their forms' dates,
consent, birth date, sex and screening answers, unscheduled visits' dates and reasons, ITT
samples, insulin and oral drug doses, transplantation, adverse events — with the same use cases
as the forms, so edit checks, rights, locks, queries and the audit trail apply (the reason
"REDCap API import", the token's user). New values are recorded where the form allows it (a
measurement, an ITT, an insulin dose, an adverse event); new participants and visits are not
(they are registered and scheduled in trialdesk).

``overwriteBehavior`` (REDCap API help): ``normal`` — a blank cell keeps the stored value;
``overwrite`` — a blank cell would erase it, which trialdesk refuses naming the field, since it
never erases a value (it is voided, with a reason, on its form). A form status sent different
from the stored one is refused (set on its form). Errors are REDCap's: one CSV line per problem
— record, field, value, reason — the reason naming the event. Everything is one transaction:
one refusal and nothing is written.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk import services as sv
from trialdesk.export.crf.model import StudyDesign
from trialdesk.export.errors import ImportRejected, Rejection
from trialdesk.export.from_store import clinical_data, stored_places
from trialdesk.export.records import ClinicalData, FormRecord
from trialdesk.export.redcap import api_writes
from trialdesk.export.redcap.api_writes import (
    Change,
    FormChanges,
    Writer,
    WriteRefused,
    field_named,
)
from trialdesk.export.redcap.columns import RECORD_ID, unique_event_name
from trialdesk.export.redcap.records import (
    EVENT,
    REPEAT_FORM,
    REPEAT_INSTANCE,
    read_records,
    write_records,
)
from trialdesk.protocol import Protocol
from trialdesk.services.errors import ServiceError
from trialdesk.services.uow import service
from trialdesk.store.models import Participant

IMPORT_REASON = api_writes.IMPORT_REASON
FIRST_DATA_ROW = 2
"""Spreadsheet row of the first record: a rejection's row 1 is the CSV header."""


class ImportRefused(ValueError):
    """The import was refused; `problems` name record, field, value and reason."""

    def __init__(self, problems: list[tuple[str, str, str, str]]) -> None:
        self.problems = problems
        super().__init__(
            "\n".join(
                f"{record}, {field} = {value!r}: {why}" for record, field, value, why in problems
            )
        )


def parse_rows(data: str, fmt: str) -> list[dict[str, str]]:
    """The rows of `data` (REDCap flat JSON: an array of objects; or CSV with a header)."""
    if fmt == "json":
        try:
            rows = json.loads(data)
        except json.JSONDecodeError as exc:
            raise ImportRefused([("", "data", "", f"not valid JSON ({exc.msg})")]) from None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ImportRefused([("", "data", "", "must be a JSON array of records (objects)")])
        return [{str(k): "" if v is None else str(v) for k, v in r.items()} for r in rows]
    return [dict(r) for r in csv.DictReader(io.StringIO(data.lstrip("\ufeff")))]


def _as_csv(rows: list[dict[str, str]]) -> str:
    header = list(dict.fromkeys(k for row in rows for k in row))
    if RECORD_ID in header:
        header.remove(RECORD_ID)
    header.insert(0, RECORD_ID)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def import_records(
    session: Session,
    actor: sv.Actor,
    protocol: Protocol,
    design: StudyDesign,
    rows: list[dict[str, str]],
    *,
    overwrite: bool = False,
) -> int:
    """Apply `rows` (see module docstring); returns the number of records (participants) in
    the data, as REDCap's ``count``. Raises `ImportRefused` and writes nothing on any problem."""
    if not rows:
        return 0
    try:
        incoming = read_records(design, _as_csv(rows), source="data")
    except ImportRejected as exc:
        raise ImportRefused([_from_rejection(p, rows) for p in exc.problems]) from None
    groups = _changes(session, actor, protocol, design, incoming, rows=rows, overwrite=overwrite)
    _apply(
        session,
        actor,
        Writer(session, actor, protocol, design, stored_places(session, protocol)),
        groups,
    )
    return len({r[RECORD_ID] for r in rows})


def _from_rejection(problem: Rejection, rows: list[dict[str, str]]) -> tuple[str, str, str, str]:
    row = (
        rows[problem.row - FIRST_DATA_ROW]
        if isinstance(problem.row, int) and problem.row >= FIRST_DATA_ROW
        else {}
    )
    record = row.get(RECORD_ID, "")
    event = row.get(EVENT, "")
    reason = f"{problem.reason} (event {event})" if event else problem.reason
    return record, problem.field, row.get(problem.field, ""), reason


def _problem(
    subject: str, event: str, name: str, value: object, reason: str
) -> tuple[str, str, str, str]:
    """A refusal as REDCap words it: record, field, value, and the reason naming the event."""
    return (
        subject,
        name,
        "" if value is None else str(value),
        (f"{reason} (event {unique_event_name(event)})"),
    )


def _changes(
    session: Session,
    actor: sv.Actor,
    protocol: Protocol,
    design: StudyDesign,
    incoming: list[FormRecord],
    *,
    rows: list[dict[str, str]],
    overwrite: bool,
) -> list[FormChanges]:
    """The changed form instances of the visible participants; every problem found before
    writing (unknown participants, form statuses, blanks under ``overwrite``) raised at once."""
    data = clinical_data(session, protocol)
    current = {r.key: r for r in data.records}
    visible = _visible_subjects(session, actor, {r.subject for r in incoming} | _ids(rows))
    problems = _status_changes(design, data, rows, visible)
    for subject in sorted(_ids(rows) - visible):
        problems.append(
            (subject, RECORD_ID, subject, "no such participant (new participants are "
             "registered in trialdesk, after their consent)")
        )  # fmt: skip
    if overwrite:
        problems += _erased(design, current, rows, visible)
    if problems:
        raise ImportRefused(problems)
    groups = []
    for record in incoming:
        if record.subject in visible:
            group = _group(record, current.get(record.key))
            if group.changes:
                groups.append(group)
    return groups


def _group(record: FormRecord, before: FormRecord | None) -> FormChanges:
    """What `record` changes in the stored form instance `before` (normal: a field not sent,
    or sent blank, keeps its value)."""
    stored = dict(before.values) if before else {}
    stored_missing = dict(before.missing) if before else {}
    group = FormChanges(record.subject, record.event, record.form, record.instance, stored=stored)
    for name, value in record.values.items():
        if stored.get(name) != value or name in stored_missing:
            group.changes[name] = Change(
                record.subject, record.event, record.form, record.instance, name, value
            )
    for name, (code, _reason) in record.missing.items():
        if stored_missing.get(name, ("", ""))[0] != code:
            group.changes[name] = Change(
                record.subject, record.event, record.form, record.instance, name, None, code
            )
    return group


def _row_key(design: StudyDesign, row: Mapping[str, str]) -> tuple[str, str, str, str]:
    event = row.get(EVENT, "") or unique_event_name(design.events[0].code)
    return (
        row.get(RECORD_ID, ""),
        event,
        row.get(REPEAT_FORM, ""),
        row.get(REPEAT_INSTANCE, ""),
    )


def _status_changes(
    design: StudyDesign, data: ClinicalData, rows: list[dict[str, str]], visible: set[str]
) -> list[tuple[str, str, str, str]]:
    """A form status (`<form>_complete`) sent different from the one exported: refused, since
    a form's status is set on its form in trialdesk (never silently ignored)."""
    records = [r for r in data.records if r.subject in visible]
    exported = csv.DictReader(io.StringIO(write_records(design, records, data.form_statuses)))
    now = {_row_key(design, r): r for r in exported}
    problems = []
    for row in rows:
        if row.get(RECORD_ID, "") not in visible:
            continue
        before = now.get(_row_key(design, row), {})
        for column, text in row.items():
            if column.endswith("_complete") and text and text != before.get(column, ""):
                problems.append(
                    (row[RECORD_ID], column, text, "a form's status is set on its form in "
                     "trialdesk, not through the API")
                )  # fmt: skip
    return problems


def _ids(rows: Iterable[Mapping[str, str]]) -> set[str]:
    return {r.get(RECORD_ID, "") for r in rows if r.get(RECORD_ID)}


def _erased(
    design: StudyDesign,
    current: Mapping[tuple[str, str, str, int], FormRecord],
    rows: list[dict[str, str]],
    visible: set[str],
) -> list[tuple[str, str, str, str]]:
    """overwriteBehavior=overwrite: a blank cell sent where a value is stored. REDCap would
    erase the value; trialdesk keeps every value it holds (ICH E6(R3) 4.2: data changes are
    corrections with a reason, never erasures), so it is refused naming the field."""
    problems = []
    items = {i.name for f in design.forms for i in f.items}
    for row in rows:
        subject = row.get(RECORD_ID, "")
        if subject not in visible:
            continue
        _, event_name, _, instance = _row_key(design, row)
        event = next((e.code for e in design.events if unique_event_name(e.code) == event_name), "")
        number = int(instance) if instance.isdigit() else 1
        for column, text in row.items():
            if text or column in (RECORD_ID, EVENT, REPEAT_FORM, REPEAT_INSTANCE):
                continue
            if column not in items:
                continue
            form = design.form_of(column).name
            stored = current.get((subject, event, form, number))
            if stored is not None and (column in stored.values or column in stored.missing):
                problems.append(
                    _problem(subject, event, column, "", "trialdesk does not erase values: "
                             "correct it, or void it on its form with a reason")
                )  # fmt: skip
    return problems


def _visible_subjects(session: Session, actor: sv.Actor, subjects: set[str]) -> set[str]:
    rows = session.execute(
        select(Participant.study_id, Participant.site_id).where(Participant.study_id.in_(subjects))
    )
    return {study_id for study_id, site_id in rows if actor.sees_site(site_id)}


@service
def _apply(session: Session, actor: sv.Actor, writer: Writer, groups: list[FormChanges]) -> None:
    """Every change in one transaction (`service`): a refusal rolls all of them back. The
    measurements and answers first, then the forms written as one record (their dates follow)."""
    del actor  # the writer's
    for group in sorted(groups, key=lambda g: g.form in ("itt", "dosing", "adverse_events")):
        try:
            writer.write(group)
        except WriteRefused as exc:
            change = group.changes.get(exc.item)
            value = None if change is None else change.value
            raise ImportRefused(
                [_problem(group.subject, group.event, exc.item, value, exc.reason)]
            ) from None
        except ServiceError as exc:
            name = field_named(group, exc.field)
            value = group.changes[name].value if name in group.changes else None
            raise ImportRefused(
                [_problem(group.subject, group.event, name, value, exc.message)]
            ) from None

"""Import Records through the REDCap-compatible API ([@REDCap] API help, "Import Records"):
changes to existing participants' values, checked and written through the services.

The rows (REDCap's flat format, JSON or CSV) are read by the same reader as a REDCap CSV file
(`read_records`: unknown fields, events and impossible values are refused, naming record and
field), then compared with what the study holds now (`clinical_data`, the records the export
writes). A value equal to the stored one changes nothing. A measurement value that differs is
recorded (`record_measurement`) or corrected (`update_measurement`, with the reason
"REDCap API import" and the token's user) — the same use cases as the forms, so edit checks,
queries and the audit trail apply. With ``overwriteBehavior=normal`` a blank cell keeps the
stored value (REDCap's rule); with ``overwrite`` a blank cell where a value is stored is
refused, since trialdesk never erases a value (it is voided, with a reason, on its form). Any
other change (a new record, a screening answer, a date, a form status…) is refused naming the
field: those are entered on trialdesk's forms, where their own rules apply. Everything is one
transaction: one refusal and nothing is written.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk import services as sv
from trialdesk.catalogue import ElementKind
from trialdesk.export.crf.model import StudyDesign
from trialdesk.export.errors import ImportRejected, Rejection
from trialdesk.export.from_store import clinical_data
from trialdesk.export.records import ClinicalData, FormRecord
from trialdesk.export.redcap.columns import RECORD_ID, unique_event_name
from trialdesk.export.redcap.records import (
    EVENT,
    REPEAT_FORM,
    REPEAT_INSTANCE,
    read_records,
    write_records,
)
from trialdesk.export.values import Value
from trialdesk.protocol import Protocol, catalogue_for
from trialdesk.services.errors import ServiceError
from trialdesk.services.uow import service
from trialdesk.store.models import Measurement, Participant, Visit

IMPORT_REASON = "REDCap API import"
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


@dataclass
class _Change:
    subject: str
    event: str
    item: str
    value: Value


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
    changes = _changes(session, actor, protocol, design, incoming, rows=rows, overwrite=overwrite)
    _apply(session, actor, protocol, design, changes)
    return len({r[RECORD_ID] for r in rows})


def _from_rejection(problem: Rejection, rows: list[dict[str, str]]) -> tuple[str, str, str, str]:
    row = (
        rows[problem.row - FIRST_DATA_ROW]
        if isinstance(problem.row, int) and problem.row >= FIRST_DATA_ROW
        else {}
    )
    record = row.get(RECORD_ID, "")
    return record, problem.field, row.get(problem.field, ""), problem.reason


def _changes(
    session: Session,
    actor: sv.Actor,
    protocol: Protocol,
    design: StudyDesign,
    incoming: list[FormRecord],
    *,
    rows: list[dict[str, str]],
    overwrite: bool,
) -> list[_Change]:
    data = clinical_data(session, protocol)
    current = {(r.subject, r.event, r.form, r.instance): r for r in data.records}
    visible = _visible_subjects(session, actor, {r.subject for r in incoming} | _ids(rows))
    catalogue = catalogue_for(protocol)
    problems = _status_changes(design, data, rows, visible)
    changes: list[_Change] = []
    for subject in sorted(_ids(rows) - visible):
        problems.append(
            (subject, RECORD_ID, subject, "no such participant (new participants are "
             "registered in trialdesk, after their consent)")
        )  # fmt: skip
    for record in incoming:
        if record.subject not in visible:
            continue
        before = current.get((record.subject, record.event, record.form, record.instance))
        stored = dict(before.values) if before else {}
        for name, value in record.values.items():
            if stored.get(name) == value:
                continue
            item = design.item(name)
            element = _element(catalogue, item.element)
            repeating = design.event(record.event).repeating  # unscheduled visits
            if repeating or design.form(record.form).repeating or not _measured(item, element):
                problems.append(
                    (record.subject, name, str(value), "cannot be changed through the API: "
                     "enter it on its form in trialdesk")
                )  # fmt: skip
                continue
            changes.append(_Change(record.subject, record.event, name, value))
        if overwrite:
            problems += _erased(record, stored, rows)
    if problems:
        raise ImportRefused(problems)
    return changes


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
    record: FormRecord, stored: Mapping[str, Value], rows: list[dict[str, str]]
) -> list[tuple[str, str, str, str]]:
    """overwriteBehavior=overwrite: a blank cell sent where a value is stored."""
    sent = {k for r in rows if r.get(RECORD_ID) == record.subject for k, v in r.items() if not v}
    return [
        (record.subject, name, "", "trialdesk does not erase values: void it on its form, "
         "with a reason")
        for name in sorted(sent & set(stored))
        if name not in record.values
    ]  # fmt: skip


def _element(catalogue: Any, name: str | None) -> Any:
    return catalogue[name] if name is not None and name in catalogue else None


def _measured(item: Any, element: Any) -> bool:
    """An item the import may write: a numeric measurement (not an ITT sample, not derived)."""
    if element is None or item.sample_minute is not None or item.derivation:
        return False
    return bool(element.kind in (ElementKind.QUANTITY,) and not element.is_derived)


def _visible_subjects(session: Session, actor: sv.Actor, subjects: set[str]) -> set[str]:
    rows = session.execute(
        select(Participant.study_id, Participant.site_id).where(Participant.study_id.in_(subjects))
    )
    return {study_id for study_id, site_id in rows if actor.sees_site(site_id)}


@service
def _apply(
    session: Session,
    actor: sv.Actor,
    protocol: Protocol,
    design: StudyDesign,
    changes: list[_Change],
) -> None:
    """Every change in one transaction (`service`): a refusal rolls all of them back."""
    catalogue = catalogue_for(protocol)
    for change in changes:
        participant = session.scalars(
            select(Participant).where(Participant.study_id == change.subject)
        ).one()
        element = catalogue[str(design.item(change.item).element)]
        try:
            _write(session, actor, participant, change, element)
        except ServiceError as exc:
            raise ImportRefused(
                [(change.subject, change.item, str(change.value), exc.message)]
            ) from None


def _write(
    session: Session, actor: sv.Actor, participant: Participant, change: _Change, element: Any
) -> None:
    row = session.scalars(
        select(Measurement)
        .join(Visit, Visit.id == Measurement.visit_id)
        .where(
            Measurement.participant_id == participant.id,
            Measurement.element == element.name,
            Measurement.voided.is_(False),
            Visit.code == change.event,
            Visit.voided.is_(False),
        )
    ).first()
    unit = element.canonical_unit
    if row is None:
        sv.record_measurement(
            session,
            actor,
            participant.id,
            visit_code=change.event,
            element=element.name,
            value=change.value,
            unit=unit,
        )
    else:
        sv.update_measurement(
            session,
            actor,
            row.id,
            expected_version=row.version,
            reason=IMPORT_REASON,
            value=change.value,
            unit=unit,
        )

"""The audit trail in a site's words: who by full name, which record by what staff call it
("Fasting plasma glucose (FBG) · BL"), each changed field by its label, old → new values at the
catalogue's reporting precision with their units, references (visit, participant, user) by
name instead of id, and times in the site's time zone. The stored trail is not touched: this
only reads it (21 CFR 11.10(e): audit trails must be available for review and copying in a
form people can read)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.services.labels import field_label, record_label
from trialdesk.services.study import current_catalogue, current_protocol
from trialdesk.services.views import AuditEntryView
from trialdesk.store.models import AuditEntry, IttTest, Measurement, Participant, Site, User, Visit
from trialdesk.units.convert import format_measure

_CODE = re.compile(r"[a-z]+(_[a-z0-9]+)+")
CHANGE_PAIR_LENGTH = 2
"""An audited change is stored as the list ``[old, new]`` (services/uow.py)."""
ISO_DATETIME_MIN_LENGTH = 19
"""Length of the shortest ISO 8601 date-time the audit stores, ``YYYY-MM-DDTHH:MM:SS``."""
SHORT_TEXT_MAX = 200
"""Longest value shown whole in an audit line; longer ones are cut with an ellipsis."""
USER_FIELDS = frozenset(
    {"created_by", "updated_by", "voided_by", "reviewed_by", "obtained_by", "signed_by", "run_by"}
    | {"coded_by", "loaded_by"}  # medical coding (issue 14)
    | {"raised_by", "answered_by", "closed_by", "assessed_by", "sent_by", "marked_by"}
    | {"cleared_by", "locked_by", "unlocked_by", "registered_by", "user_id"}
    | {"grade_confirmed_by", "causality_confirmed_by"}  # investigator's safety review
)
# Bookkeeping, not data: the optimistic-lock counter and the database keys of the record and of
# the records it belongs to (the entry already names those by their labels).
HIDDEN_FIELDS = frozenset(
    {"version", "id", "dictionary_id", "target_id", "record_id", "run_id", "protocol_id"}
    | {"adverse_event_id", "consent_id", "itt_test_id", "screening_id"}
)
# Dictionary codes (MedDRA LLT … SOC codes): identifiers, shown as written, not as quantities.
CODE_FIELDS = frozenset({"llt_code", "pt_code", "hlt_code", "hlgt_code", "soc_code"})
# Columns whose values are in a fixed unit (their reporting precision follows that unit).
COLUMN_UNITS = {
    "weight_kg": "kg",
    "glucose_mmol_l": "mmol/L",
    "glucose_as_entered": None,
    "total_units_per_day": "U/day",
    "basal_units_per_day": "U/day",
    "bolus_units_per_day": "U/day",
    "kitt_percent_per_min": "%/min",
}
ACTION_TEXT = {
    "create": "entered",
    "update": "changed",
    "void": "voided",
    "refuse": "refused",
    "sign": "signed",
    "login": "logged in",
    "login_failed": "login failed",
    "logout": "logged out",
}


@dataclass
class ReadableChange:
    field: str
    old: str
    new: str


@dataclass
class ReadableEntry:
    entry: AuditEntryView
    who: str
    action: str
    kind: str  # the kind of record ("measurement", "visit" …)
    record: str  # which one, in words
    changes: list[ReadableChange] = field(default_factory=list)


class _Names:
    """Labels of the ids an audit page refers to, read in a few queries."""

    def __init__(self, session: Session, entries: list[AuditEntryView]) -> None:
        ids: dict[str, set[int]] = {"users": set(), "visits": set(), "participants": set()}
        for e in entries:
            if e.user_id is not None:
                ids["users"].add(e.user_id)
            for key, change in e.changes.items():
                for value in change if isinstance(change, list) else [change]:
                    if isinstance(value, int) and not isinstance(value, bool):
                        _collect(ids, key, value)
        self.users = _pairs(session, select(User.id, User.full_name), User.id, ids["users"])
        self.participants = _pairs(
            session,
            select(Participant.id, Participant.study_id),
            Participant.id,
            ids["participants"] | {e.participant_id for e in entries if e.participant_id},
        )
        self.sites = {s.id: s.code for s in session.scalars(select(Site))}
        self.measurements = self._rows(session, Measurement, entries, "measurements")
        self.unit_trail = _unit_trail(session, [str(i) for i in self.measurements])
        self.itt = self._rows(session, IttTest, entries, "itt_tests")
        visit_ids = ids["visits"] | {m.visit_id for m in self.measurements.values()}
        visit_ids |= {t.visit_id for t in self.itt.values()}
        visit_ids |= {r for e in entries if e.table == "visits" and (r := _rid(e)) is not None}
        self.visits = {
            v.id: v for v in session.scalars(select(Visit).where(Visit.id.in_(visit_ids)))
        }

    @staticmethod
    def _rows(session: Session, model: Any, entries: list[AuditEntryView], table: str) -> Any:
        wanted = {r for e in entries if e.table == table and (r := _rid(e)) is not None}
        if not wanted:
            return {}
        return {r.id: r for r in session.scalars(select(model).where(model.id.in_(wanted)))}

    def visit(self, visit_id: int | None) -> str:
        visit = self.visits.get(visit_id) if visit_id is not None else None
        if visit is None:
            return "a visit no longer recorded"
        try:
            return f"{visit.code} ({current_protocol().visit(visit.code).name})"
        except KeyError:
            return visit.code


def _unit_trail(session: Session, record_ids: list[str]) -> dict[str, list[tuple[int, Any]]]:
    """Every audit entry of these measurements, oldest first: the unit a value was in at the
    time of each change is read from here (a later correction may have changed the unit)."""
    if not record_ids:
        return {}
    rows = session.execute(
        select(AuditEntry.record_id, AuditEntry.sequence, AuditEntry.changes)
        .where(AuditEntry.table_name == "measurements", AuditEntry.record_id.in_(record_ids))
        .order_by(AuditEntry.sequence)
    )
    trail: dict[str, list[tuple[int, Any]]] = {}
    for rid, sequence, changes in rows:
        trail.setdefault(str(rid), []).append((sequence, json.loads(changes)))
    return trail


def _units_around(
    trail: list[tuple[int, Any]], sequence: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(units before, units after) entry `sequence`, for the value columns of a measurement."""
    state: dict[str, Any] = {"value": None, "value_as_entered": None}
    before = dict(state)
    for seq, changes in trail:
        if seq > sequence:
            break
        before = dict(state)
        for column, unit_column in (("value", "unit"), ("value_as_entered", "unit_as_entered")):
            change = changes.get(unit_column)
            if isinstance(change, list) and len(change) == CHANGE_PAIR_LENGTH:
                state[column] = change[1]
    return before, state


def _digits(e: AuditEntryView) -> bool:
    return bool(e.record_id and e.record_id.isdigit())


def _rid(e: AuditEntryView) -> int | None:
    return int(e.record_id) if e.record_id and e.record_id.isdigit() else None


def _collect(ids: dict[str, set[int]], key: str, value: int) -> None:
    if key in USER_FIELDS:
        ids["users"].add(value)
    elif key == "visit_id":
        ids["visits"].add(value)
    elif key == "participant_id":
        ids["participants"].add(value)


def _pairs(session: Session, query: Any, column: Any, ids: Iterable[int]) -> dict[int, str]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {k: v for k, v in session.execute(query.where(column.in_(wanted)))}


def readable_history(
    session: Session, entries: list[AuditEntryView], zone: str = "UTC"
) -> list[ReadableEntry]:
    """The entries (already read through `record_history`/`participant_history`, which check
    access) with every id and code replaced by what it means."""
    names = _Names(session, entries)
    return [_readable(e, names, zone) for e in entries]


def _readable(e: AuditEntryView, names: _Names, zone: str) -> ReadableEntry:
    who = names.users.get(e.user_id, "a former user") if e.user_id is not None else "system"
    kind, record = _record(e, names)
    before, after = _units_around(names.unit_trail.get(e.record_id or "", []), e.sequence)
    if e.table != "measurements":
        before, after = {}, {}
    changes = [
        ReadableChange(field_label(key), *_pair(key, change, names, (before, after), zone))
        for key, change in e.changes.items()
        if key not in HIDDEN_FIELDS
    ]
    return ReadableEntry(e, who, ACTION_TEXT.get(e.action, e.action), kind, record, changes)


def _record(e: AuditEntryView, names: _Names) -> tuple[str, str]:
    """(kind, which record) of an entry."""
    kind = record_label(e.table)
    rid = _rid(e)
    study_id = names.participants.get(e.participant_id or -1, "")
    if e.table == "measurements" and rid in names.measurements:
        m = names.measurements[rid]
        label = _element_label(m.element)
        return label, f"{label} · {names.visit(m.visit_id)}"
    if e.table == "itt_tests" and rid in names.itt:
        return kind, f"{kind} · {names.visit(names.itt[rid].visit_id)}"
    if e.table == "visits" and rid is not None:
        return kind, f"visit {names.visit(rid)}"
    if e.table == "participants":
        return kind, study_id or kind
    return kind, f"{kind} of {study_id}" if study_id else kind


def _element_label(name: str) -> str:
    try:
        return current_catalogue()[name].label
    except KeyError:
        return name.replace("_", " ")


def _pair(
    key: str,
    change: Any,
    names: _Names,
    units: tuple[dict[str, Any], dict[str, Any]],
    zone: str,
) -> tuple[str, str]:
    if isinstance(change, list) and len(change) == CHANGE_PAIR_LENGTH:
        old, new = change
    else:
        old, new = None, change
    before, after = units
    return (
        _value(key, old, names, before, zone, blank=True),
        _value(key, new, names, after, zone, blank=False),
    )


def _value(
    key: str,
    value: Any,
    names: _Names,
    units: dict[str, Any],
    zone: str,
    *,
    blank: bool,
) -> str:
    if value is None:
        return "" if blank else "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    named = _named_value(key, value, names)
    if named is not None:
        return named
    return _plain_value(key, value, units, zone)


def _named_value(key: str, value: Any, names: _Names) -> str | None:
    """A stored id or code shown by its name, or None when `key` is not such a column."""
    if isinstance(value, int):
        return _named_int(key, value, names)
    if isinstance(value, str):
        if key == "element":
            return _element_label(value)
        if key == "target_table":
            return record_label(value)
    return None


def _named_int(key: str, value: int, names: _Names) -> str | None:
    if key in USER_FIELDS:
        return names.users.get(value, "a former user")
    if key in CODE_FIELDS:
        return str(value)
    lookup: dict[str, Callable[[int], str]] = {
        "visit_id": names.visit,
        "participant_id": lambda i: names.participants.get(i, "a participant"),
        "site_id": lambda i: names.sites.get(i, "a site"),
    }
    show = lookup.get(key)
    return show(value) if show is not None else None


def _plain_value(key: str, value: Any, units: dict[str, Any], zone: str) -> str:
    unit = units.get(key) or COLUMN_UNITS.get(key)
    if isinstance(value, float | int):
        return _number(value, unit)
    if isinstance(value, str):
        return _text(value, unit, zone)
    if isinstance(value, dict):
        return _mapping(value)
    return _short(value)


def _mapping(value: dict[str, Any]) -> str:
    """A stored document (screening findings, eligibility snapshot) as a reader wants it."""
    if "status" in value and "criteria" in value:
        return f"eligibility snapshot: {_text(str(value['status']), None, 'UTC')}"
    parts = []
    for key, item in value.items():
        shown = "yes" if item is True else "no" if item is False else _short(item)
        parts.append(f"{_element_label(key)}: {shown}")
    return _short("; ".join(parts))


def _number(value: float | int, unit: str | None) -> str:
    return format_measure(value, unit)


def _text(value: str, unit: str | None, zone: str) -> str:
    if "T" in value and len(value) >= ISO_DATETIME_MIN_LENGTH and value[:4].isdigit():
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return f"{aware.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} {zone}"
    # Codes such as "visit_window" or "not_consented" read as words.
    text = value.replace("_", " ") if _CODE.fullmatch(value) else value
    return f"{text} {unit}" if unit else text


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= SHORT_TEXT_MAX else text[: SHORT_TEXT_MAX - 3] + "…"


def describe_record(session: Session, table: str, record_id: int) -> str:
    """One record in words ("Fasting plasma glucose (FBG) · SCR (Screening)", "visit M1 (Month
    1)", "adverse event"), for pages that list records of several kinds (queries). The caller
    has already checked that the user may see it."""
    entry = AuditEntryView(
        sequence=0,
        occurred_at=datetime.now(UTC),
        user_id=None,
        username=None,
        action="create",
        table=table,
        record_id=str(record_id),
        participant_id=None,
        changes={},
        reason=None,
    )
    kind, record = _record(entry, _Names(session, [entry]))
    return record[:1].upper() + record[1:] if record else kind

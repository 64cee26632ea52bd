"""The facts behind every cell of the record status grid, gathered in a fixed number of
queries for all the participants in scope (one statement per kind of record, never one per
participant or per cell), so the page costs the same number of round trips for 24 participants
as for 2,000.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Select, case, func, literal, select, union_all
from sqlalchemy.orm import Session

from trialdesk.catalogue import Catalogue
from trialdesk.protocol import Protocol
from trialdesk.services.cell_status import CellFacts
from trialdesk.services.crf_forms import (
    SCREENING_VISIT,
    TABLE_FORMS,
    form_of_element,
)
from trialdesk.services.signoff import NOT_CHANGES
from trialdesk.store.enums import FormStatus, LockScope, QueryStatus, SdvKind
from trialdesk.store.models import (
    AdverseEvent,
    AuditEntry,
    Consent,
    DataLock,
    DataQuery,
    FormStatusRecord,
    InsulinDose,
    IttTest,
    Measurement,
    OgldDose,
    ProtocolDeviation,
    Screening,
    SdvMark,
    Signature,
    Transplantation,
    Visit,
)

Cell = tuple[int, str, str]  # participant id, visit code, form


@dataclass
class GridFacts:
    """Raw facts per cell, turned into `CellFacts` by `facts`."""

    data: set[Cell] = field(default_factory=set)
    complete: set[Cell] = field(default_factory=set)
    queries: dict[Cell, int] = field(default_factory=lambda: defaultdict(int))
    deviations: set[tuple[int, str]] = field(default_factory=set)
    verified: set[Cell] = field(default_factory=set)
    reviewed: set[Cell] = field(default_factory=set)
    serious: set[Cell] = field(default_factory=set)
    signed: set[int] = field(default_factory=set)
    locked_all: set[int] = field(default_factory=set)  # participant or study lock
    locked: set[Cell] = field(default_factory=set)  # form locks
    visit_dates: dict[tuple[int, str], date | None] = field(default_factory=dict)
    ae_visits: list[str] = field(default_factory=list)

    def facts(self, cell: Cell) -> CellFacts:
        return CellFacts(
            has_data=cell in self.data,
            form_complete=cell in self.complete,
            open_queries=self.queries.get(cell, 0),
            deviation=(cell[0], cell[1]) in self.deviations,
            verified=cell in self.verified,
            signed=cell[0] in self.signed,
            # A log form's lock (services.locks.LOG_FORMS) has no visit: every visit's cell.
            locked=cell[0] in self.locked_all
            or cell in self.locked
            or (cell[0], "", cell[2]) in self.locked,
        )


def _element_form_case(catalogue: Catalogue) -> Any:
    """SQL mapping a measurement's element to its form, so rows are grouped per form."""
    mapping = {e.name: form_of_element(e, catalogue) for e in catalogue}
    return case(mapping, value=Measurement.element, else_=literal("medical_history"))


def _in(model: Any, pids: Select[Any]) -> Any:
    return model.participant_id.in_(pids)


def _visits(session: Session, pids: Select[Any], out: GridFacts) -> dict[int, tuple[int, str]]:
    rows = session.execute(
        select(Visit.id, Visit.participant_id, Visit.code, Visit.visit_date).where(
            _in(Visit, pids), Visit.voided.is_(False)
        )
    )
    by_id: dict[int, tuple[int, str]] = {}
    for vid, pid, code, on in rows:
        by_id[vid] = (pid, code)
        out.visit_dates[(pid, code)] = on
    return by_id


def _visit_linked(session: Session, pids: Select[Any], catalogue: Catalogue) -> Any:
    """(participant, visit id, form) of every live visit-linked record, one statement."""
    form = _element_form_case(catalogue)
    parts = [
        select(Measurement.participant_id, Measurement.visit_id, form).where(
            _in(Measurement, pids), Measurement.voided.is_(False)
        )
    ]
    for model in (IttTest, InsulinDose, OgldDose, Transplantation):
        label = literal(TABLE_FORMS[model.__tablename__])
        parts.append(
            select(model.participant_id, model.visit_id, label).where(
                _in(model, pids), model.voided.is_(False), model.visit_id.is_not(None)
            )
        )
    return session.execute(union_all(*parts).subquery().select().distinct())


def _screening_forms(session: Session, pids: Select[Any], out: GridFacts) -> None:
    """Consent and eligibility from their records; demographics (sex, date of birth) are
    entered when the participant is registered."""
    for (pid,) in session.execute(pids):
        out.data.add((pid, SCREENING_VISIT, "demographics"))
    for model, form in ((Consent, "consent"), (Screening, "eligibility")):
        for (pid,) in session.execute(
            select(model.participant_id).where(_in(model, pids), model.voided.is_(False)).distinct()
        ):
            out.data.add((pid, SCREENING_VISIT, form))


def _adverse_events(
    session: Session, pids: Select[Any], protocol: Protocol, out: GridFacts
) -> None:
    """An adverse event is reported on the AE form of the first visit on or after its onset
    that has that form (the log is reviewed at each follow-up visit)."""
    out.ae_visits = [v.code for v in protocol.schedule if "adverse_events" in v.forms]
    rows = session.execute(
        select(AdverseEvent.participant_id, AdverseEvent.onset_date, AdverseEvent.serious).where(
            _in(AdverseEvent, pids), AdverseEvent.voided.is_(False)
        )
    )
    for pid, onset, serious in rows:
        code = reporting_visit(pid, onset, out.ae_visits, out.visit_dates)
        if code is not None:
            out.data.add((pid, code, "adverse_events"))
            if serious:
                out.serious.add((pid, code, "adverse_events"))


def reporting_visit(
    pid: int, onset: date, codes: Iterable[str], dates: dict[tuple[int, str], date | None]
) -> str | None:
    """The first visit (of `codes`, in schedule order) dated on or after `onset`; else the last
    one with a date before it (an event after the latest visit is reported there until the next),
    else the first visit with the AE form."""
    codes = list(codes)
    dated = [(c, dates.get((pid, c))) for c in codes]
    for code, on in dated:
        if on is not None and on >= onset:
            return code
    before = [c for c, on in dated if on is not None]
    return before[-1] if before else (codes[0] if codes else None)


def _form_statuses(session: Session, pids: Select[Any], out: GridFacts) -> None:
    rows = session.execute(
        select(FormStatusRecord.participant_id, FormStatusRecord.visit_code, FormStatusRecord.form)
        .where(_in(FormStatusRecord, pids), FormStatusRecord.voided.is_(False))
        .where(FormStatusRecord.status == FormStatus.COMPLETE)
    )
    out.complete.update((pid, code, form) for pid, code, form in rows)


def _deviations(
    session: Session, pids: Select[Any], visits: dict[int, tuple[int, str]], out: GridFacts
) -> None:
    rows = session.execute(
        select(ProtocolDeviation.visit_id).where(
            _in(ProtocolDeviation, pids),
            ProtocolDeviation.voided.is_(False),
            ProtocolDeviation.visit_id.is_not(None),
        )
    )
    out.deviations.update(visits[vid] for (vid,) in rows if vid in visits)


def _marks(session: Session, pids: Select[Any], out: GridFacts) -> None:
    rows = session.execute(
        select(SdvMark.participant_id, SdvMark.visit_code, SdvMark.form, SdvMark.kind).where(
            _in(SdvMark, pids),
            SdvMark.voided.is_(False),
            SdvMark.cleared_at.is_(None),
            SdvMark.target_table.is_(None),
        )
    )
    for pid, code, form, kind in rows:
        (out.verified if kind is SdvKind.VERIFIED else out.reviewed).add((pid, code, form))


def _signed(session: Session, pids: Select[Any], out: GridFacts) -> None:
    """A casebook is signed while no change was audited after its latest signature."""
    signed = dict(
        session.execute(
            select(Signature.participant_id, func.max(Signature.audit_sequence))
            .where(_in(Signature, pids), Signature.voided.is_(False))
            .group_by(Signature.participant_id)
        ).all()
    )
    if not signed:
        return
    latest = dict(
        session.execute(
            select(AuditEntry.participant_id, func.max(AuditEntry.sequence))
            .where(
                AuditEntry.participant_id.in_(list(signed)),
                AuditEntry.table_name.not_in(NOT_CHANGES),
                AuditEntry.action != "refuse",
            )
            .group_by(AuditEntry.participant_id)
        ).all()
    )
    out.signed.update(pid for pid, seq in signed.items() if latest.get(pid, 0) <= seq)


def _locks(session: Session, pids: Select[Any], out: GridFacts) -> None:
    """Active data locks (issue 14): the study lock locks every cell, a participant lock the
    participant's row, a form lock its cell (a log form's lock, stored without a visit, the
    form's cell at every visit)."""
    active = (DataLock.unlocked_at.is_(None), DataLock.voided.is_(False))
    if session.scalars(
        select(DataLock.id).where(*active, DataLock.scope == LockScope.STUDY).limit(1)
    ).first():
        out.locked_all.update(pid for (pid,) in session.execute(pids))
        return
    rows = session.execute(
        select(DataLock.participant_id, DataLock.scope, DataLock.visit_code, DataLock.form).where(
            *active, _in(DataLock, pids)
        )
    )
    for pid, scope, code, form in rows:
        if pid is None:
            continue
        if scope == LockScope.PARTICIPANT:
            out.locked_all.add(pid)
        else:
            out.locked.add((pid, code or "", form or ""))


def gather(
    session: Session, pids: Select[Any], protocol: Protocol, catalogue: Catalogue
) -> GridFacts:
    """Every fact of every cell of the participants `pids` (a subquery of participant ids)."""
    out = GridFacts()
    visits = _visits(session, pids, out)
    for pid, vid, form in _visit_linked(session, pids, catalogue):
        if vid in visits:
            out.data.add((pid, visits[vid][1], form))
    _screening_forms(session, pids, out)
    _adverse_events(session, pids, protocol, out)
    _form_statuses(session, pids, out)
    _deviations(session, pids, visits, out)
    _marks(session, pids, out)
    _signed(session, pids, out)
    _locks(session, pids, out)
    _open_queries(session, pids, catalogue, visits, out)
    return out


VISIT_LINKED = {m.__tablename__: m for m in (IttTest, InsulinDose, OgldDose, Transplantation)}
SCREENING_MODELS: dict[str, Any] = {"consents": Consent, "screenings": Screening}
UNRESOLVED = (QueryStatus.OPEN, QueryStatus.ANSWERED)


def _open_queries(
    session: Session,
    pids: Select[Any],
    catalogue: Catalogue,
    visits: dict[int, tuple[int, str]],
    out: GridFacts,
) -> None:
    """Unresolved queries (open or answered, not yet closed) placed on their form: one
    statement for the queries, then one per kind of record they are about."""
    targets: dict[str, list[int]] = defaultdict(list)
    for table, target_id in session.execute(
        select(DataQuery.target_table, DataQuery.target_id).where(
            _in(DataQuery, pids), DataQuery.voided.is_(False), DataQuery.status.in_(UNRESOLVED)
        )
    ):
        targets[table].append(target_id)
    for table, ids in targets.items():
        for cell in _place(session, table, ids, catalogue=catalogue, visits=visits, out=out):
            out.queries[cell] += 1


def _place(
    session: Session,
    table: str,
    ids: list[int],
    *,
    catalogue: Catalogue,
    visits: dict[int, tuple[int, str]],
    out: GridFacts,
) -> list[Cell]:
    """The cells of the records `ids` of `table` (once per id given)."""
    if table == "measurements":
        form = _element_form_case(catalogue)
        rows = session.execute(
            select(Measurement.id, Measurement.visit_id, form).where(Measurement.id.in_(ids))
        )
        found = {rid: (visits.get(vid), f) for rid, vid, f in rows}
        return [(v[0], v[1], f) for rid in ids if (hit := found.get(rid)) for v, f in [hit] if v]
    if table in VISIT_LINKED:
        model = VISIT_LINKED[table]
        found_v = dict(
            session.execute(select(model.id, model.visit_id).where(model.id.in_(ids))).all()
        )
        form = TABLE_FORMS[table]
        return [(v[0], v[1], form) for rid in ids if (v := visits.get(found_v.get(rid) or -1))]
    if table == "adverse_events":
        rows = session.execute(
            select(AdverseEvent.id, AdverseEvent.participant_id, AdverseEvent.onset_date).where(
                AdverseEvent.id.in_(ids)
            )
        )
        found_ae = {rid: (pid, on) for rid, pid, on in rows}
        cells: list[Cell] = []
        for rid in ids:
            if rid in found_ae:
                pid, onset = found_ae[rid]
                code = reporting_visit(pid, onset, out.ae_visits, out.visit_dates)
                if code is not None:
                    cells.append((pid, code, "adverse_events"))
        return cells
    if table in SCREENING_MODELS:
        model_s = SCREENING_MODELS[table]
        owners: dict[int, int] = dict(
            session.execute(
                select(model_s.id, model_s.participant_id).where(model_s.id.in_(ids))
            ).all()
        )
        return [(owners[rid], SCREENING_VISIT, TABLE_FORMS[table]) for rid in ids if rid in owners]
    return []

"""Source-data verification (SDV) and review: a monitor's marks on a form of a visit or on one
field of a record (ICH E6(R2) 5.18.4 (m): the monitor checks the accuracy and completeness of
the CRF entries against source documents).

A mark is stored and audited with who and when. It covers the data as they were when marked:
any later change to what it covers — a corrected value, a voided record, a new record on a
verified form, a changed visit date — clears it in the same transaction, with who, when and
why (the change's own reason), so the audit trail and the page both say that the data must
be verified again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.services.access import get_participant, not_found, require
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.crf_forms import place_record
from trialdesk.services.errors import ValidationProblem
from trialdesk.services.form_status import check_form
from trialdesk.services.labels import field_label, record_label
from trialdesk.services.study import current_catalogue
from trialdesk.services.uow import add_record, change_record, row_values, service
from trialdesk.services.views import RecordView
from trialdesk.store.base import Base
from trialdesk.store.enums import SdvKind
from trialdesk.store.models import Participant, SdvMark, User, Visit
from trialdesk.store.types import utcnow

MARK_TABLE = SdvMark.__tablename__
MARKABLE = frozenset(
    {
        "measurements",
        "itt_tests",
        "insulin_doses",
        "ogld_doses",
        "transplantations",
        "adverse_events",
        "consents",
        "screenings",
        "visits",
    }
)
"""Records a monitor may mark field by field (participant-owned clinical records)."""
CLEARING = MARKABLE | {"itt_samples", "participants", "participant_identities"}
"""Records whose change clears the marks covering them (a mark's own writes clear nothing)."""
SOURCE_FIELDS = {"participants": frozenset({"sex", "registered_on", "site_id", "voided"})}
"""Where only some columns are source data: a participant's status (enrolled, completed) is
the system's bookkeeping, not something the monitor verified."""


class SdvMarkView(RecordView):
    participant_id: int
    visit_code: str
    form: str
    target_table: str | None
    target_id: int | None
    field: str | None
    kind: SdvKind
    marked_by: int
    marked_by_name: str = ""
    marked_at: datetime
    cleared_at: datetime | None
    cleared_by: int | None
    cleared_by_name: str = ""
    clear_reason: str | None

    @property
    def active(self) -> bool:
        return self.cleared_at is None and not self.voided


def _model(table: str) -> Any:
    if table not in MARKABLE:
        raise ValidationProblem(
            "target_table", f"{table!r} records are not marked field by field here"
        )
    return next(m.class_ for m in Base.registry.mappers if m.class_.__tablename__ == table)


def _check_target(
    session: Session, participant: Participant, table: str, target_id: int | None, field: str | None
) -> None:
    if target_id is None:
        raise ValidationProblem("target_id", "which record of the form is marked")
    row = session.get(_model(table), target_id)
    if row is None or row.participant_id != participant.id:
        raise not_found(table, target_id, participant_id=participant.id)
    if field is not None and field not in row_values(row):
        raise ValidationProblem("field", f"{field!r} is not a field of a {record_label(table)}")


def _same_mark(
    session: Session, participant_id: int, key: dict[str, Any], kind: SdvKind
) -> SdvMark | None:
    query = select(SdvMark).where(
        SdvMark.participant_id == participant_id,
        SdvMark.kind == kind,
        SdvMark.cleared_at.is_(None),
        SdvMark.voided.is_(False),
        *(
            getattr(SdvMark, k).is_(None) if v is None else getattr(SdvMark, k) == v
            for k, v in key.items()
        ),
    )
    return session.scalars(query).first()


@dataclass(frozen=True, kw_only=True)
class SdvTarget:
    """What a monitor's mark covers (ICH E6(R2) 5.18.4(m): source data verification): a form
    of a visit, or one record of it (`target_table`, `target_id`), or one field of that record."""

    visit_code: str
    form: str
    target_table: str | None = None
    target_id: int | None = None
    field: str | None = None


@service
def mark_source_data(
    session: Session,
    actor: Actor,
    participant_id: int,
    target: SdvTarget,
    kind: SdvKind | str = SdvKind.VERIFIED,
) -> SdvMarkView:
    """Mark a form of a visit (no target) or a record's field (or the whole record, no field)
    verified against source or reviewed. Marking what is already marked returns that mark."""
    visit_code, form = target.visit_code, target.form
    target_table, target_id, field = target.target_table, target.target_id, target.field
    participant = get_participant(session, actor, participant_id, Permission.READ_CLINICAL)
    require(
        actor, Permission.VERIFY_SOURCE, participant_id=participant.id, site_id=participant.site_id
    )
    check_form(visit_code, form)
    try:
        what = SdvKind(kind)
    except ValueError:
        raise ValidationProblem("kind", f"{kind!r} is not one of verified, reviewed") from None
    if target_table is not None:
        _check_target(session, participant, target_table, target_id, field)
    elif target_id is not None or field is not None:
        raise ValidationProblem("target_table", "name the kind of record the field belongs to")
    key = {
        "visit_code": visit_code,
        "form": form,
        "target_table": target_table,
        "target_id": target_id,
        "field": field,
    }
    row = _same_mark(session, participant.id, key, what)
    if row is None:
        row = SdvMark(
            participant_id=participant.id,
            kind=what,
            marked_by=actor.user_id,
            marked_at=utcnow(),
            **key,
        )
        add_record(session, actor, row, participant)
    return _view(session, row)


def _names(session: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = session.execute(select(User.id, User.full_name).where(User.id.in_(wanted)))
    return {uid: name for uid, name in rows}


def _view(session: Session, row: SdvMark, names: dict[int, str] | None = None) -> SdvMarkView:
    names = names if names is not None else _names(session, {row.marked_by, row.cleared_by})
    view = SdvMarkView.model_validate(row)
    view.marked_by_name = names.get(row.marked_by, "")
    view.cleared_by_name = names.get(row.cleared_by or -1, "")
    return view


@service
def list_sdv_marks(
    session: Session, actor: Actor, participant_id: int, *, visit_code: str | None = None
) -> list[SdvMarkView]:
    """Every mark of a participant (or of one visit), cleared ones too (they say why)."""
    participant = get_participant(session, actor, participant_id, Permission.READ_CLINICAL)
    query = select(SdvMark).where(
        SdvMark.participant_id == participant.id, SdvMark.voided.is_(False)
    )
    if visit_code is not None:
        query = query.where(SdvMark.visit_code == visit_code)
    rows = list(session.scalars(query.order_by(SdvMark.id)))
    wanted: set[int | None] = {r.cleared_by for r in rows}
    wanted.update(r.marked_by for r in rows)
    names = _names(session, wanted)
    return [_view(session, r, names) for r in rows]


# --- clearing: called by `uow` for every audited write to a clinical record -----------------


def _covering(
    session: Session, participant_id: int, table: str, row: Any, changed: set[str] | None
) -> list[SdvMark]:
    """Live marks that a write to `row` invalidates (`changed` None: a new record)."""
    live = list(
        session.scalars(
            select(SdvMark).where(
                SdvMark.participant_id == participant_id,
                SdvMark.cleared_at.is_(None),
                SdvMark.voided.is_(False),
            )
        )
    )
    if not live:
        return []
    hits = [
        m
        for m in live
        if changed is not None
        and m.target_table == table
        and m.target_id == row.id
        and (m.field is None or m.field in changed)
    ]
    forms = [m for m in live if m.target_table is None]
    if forms:
        hits += [m for m in forms if m in _form_marks_hit(session, table, row, forms)]
    return hits


def _form_marks_hit(session: Session, table: str, row: Any, forms: list[SdvMark]) -> list[SdvMark]:
    if table == "adverse_events":
        # An event belongs to the AE form of the visits from its onset on: clear those.
        dated = dict(
            session.execute(
                select(Visit.code, Visit.visit_date).where(
                    Visit.participant_id == row.participant_id, Visit.voided.is_(False)
                )
            ).all()
        )
        onset = row.onset_date
        return [
            m
            for m in forms
            if m.form == "adverse_events"
            and (dated.get(m.visit_code) is None or dated[m.visit_code] >= onset)
        ]
    code, form = place_record(session, table, row, current_catalogue(session))
    return [m for m in forms if m.visit_code == code and (form is None or m.form == form)]


def clear_marks_after_write(
    session: Session,
    actor: Actor,
    row: Any,
    *,
    changes: dict[str, list[Any]] | None,
    reason: str,
    participant: Any | None,
) -> None:
    """Clear every live mark the write to `row` invalidates, saying why (`changes` None: the
    record is new; otherwise field → [old, new])."""
    table = row.__tablename__
    if table not in CLEARING:
        return
    pid = participant.id if participant is not None else getattr(row, "participant_id", None)
    if pid is None:
        return
    changed = None if changes is None else set(changes) - {"version"}
    if changed is not None and table in SOURCE_FIELDS and not changed & SOURCE_FIELDS[table]:
        return
    marks = _covering(session, pid, table, row, changed)
    if not marks:
        return
    why = _why(table, changes, reason)
    for mark in marks:
        change_record(
            session,
            actor,
            mark,
            {"cleared_at": utcnow(), "cleared_by": actor.user_id, "clear_reason": why},
            reason=why,
            expected_version=None,
            participant=participant,
        )


def _why(table: str, changes: dict[str, list[Any]] | None, reason: str) -> str:
    label = record_label(table)
    if changes is None:
        return f"a new {label} was entered on the verified form"
    if changes.get("voided") == [False, True]:
        return f"the {label} was voided: {reason}"
    shown = ", ".join(
        f"{field_label(k)} {old} → {new}"
        for k, (old, new) in changes.items()
        if k not in ("version", "voided", "void_reason")
    )
    return f"the {label} changed after it was marked ({shown}): {reason}"

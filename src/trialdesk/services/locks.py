"""Data locks at form, participant and study level (issue 14), and the one guard every write
of clinical data passes.

* Who: an investigator (their sites) or an administrator (every site) locks; only an
  administrator unlocks, and must give a reason (21 CFR 11.10(d): system access limited to
  authorised individuals; 11.10(e): the audit trail records who, when and why). Each lock and
  unlock is an audited record (`data_locks`); an unlocked lock is kept with who/when/why.
* What: a form lock freezes one form of one visit of one participant (the forms of
  `services.crf_forms`); a participant lock the whole casebook; the study lock every clinical
  write (the database lock before analysis, ICH E9 section 5.1 / ICH E6(R3) "database lock").
* Where enforced: `guard_write`, called by `uow.add_record`, `change_record` and `void_record`
  (the only way services write clinical rows), so no write service can forget it. A refusal is
  `DataLocked` (423, audited as a refusal) naming the lock: "Month 6 labs for APGH-007 are
  locked by Dr X on …: ask an administrator to unlock".
* Not frozen by a lock: the lock records themselves, signatures (a locked casebook can still be
  signed), the monitor's verification marks and data queries (a query on locked data is how a
  monitor asks for an unlock), user administration, safety reports and the investigator's
  safety judgements (never blocked, ICH E2A), and medical coding (see `NOT_LOCKED_TABLES`).
* Log forms (`LOG_FORMS`): the adverse-event form is a log kept over the whole participation,
  not a form of one visit (CDISC CDASHIG v2.3 AE: "log" collection; an AE record has no
  visit). A lock of that form freezes every adverse event of the participant, new ones and
  changes to existing ones, whichever visit it was chosen from (stored without a visit), and
  pages show the adverse-event forms read-only with the lock's reason.
* The investigator's safety judgements and the sponsor clock they set write to the adverse
  event row itself (causality, expectedness, grade confirmation, the expedited-report due
  date); `safety_judgement` lets exactly those writes through a lock (ICH E2A III; ICH E6(R3)
  2.7: safety reporting is never held up by data management).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from trialdesk.services.access import get_participant, require
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.errors import DataLocked, NotFound, RuleViolation, ValidationProblem
from trialdesk.services.uow import add_record, change_record, require_reason, service
from trialdesk.services.views import LockView
from trialdesk.store.enums import LockScope
from trialdesk.store.models import DataLock, Participant, User
from trialdesk.store.types import utcnow

LOCKED_TABLES = frozenset(
    {
        "participants",
        "participant_identities",
        "consents",
        "screenings",
        "enrollments",
        "visits",
        "measurements",
        "itt_tests",
        "itt_samples",
        "insulin_doses",
        "ogld_doses",
        "transplantations",
        "adverse_events",
        "protocol_deviations",
        "form_statuses",
        "screening_declines",
    }
)
"""Clinical tables a lock freezes."""
NOT_LOCKED_TABLES = frozenset(
    {
        "data_locks",
        "signatures",
        "sdv_marks",
        "data_queries",
        "protocol_versions",  # the study's configuration, registered by the sponsor
        "prescreen_runs",  # EHR pre-screening: not trial data of any participant
        "prescreen_candidates",
        # Safety reporting is never blocked (ICH E2A; ICH E6(R3) §2.7): reports to the sponsor
        # and the investigator's causality/grade judgements on an SAE go on after a lock.
        "safety_reports",
        "safety_assessments",
        # Medical coding derives from the verbatim (which a lock freezes); a dictionary upgrade
        # after a lock must still record its recoding for review. The exported cut names the
        # dictionary version it was coded with (define.xml).
        "coding_assignments",
    }
)
"""Clinical-record tables a lock leaves writable (module docstring says why)."""

_ACTIVE = (DataLock.unlocked_at.is_(None), DataLock.voided.is_(False))
LOG_FORMS = frozenset({"adverse_events"})
"""Forms kept as a log over the whole participation (CDASHIG v2.3: AE is a log form): a lock
of one covers all its records, whatever visit it was chosen from."""
_SAFETY_JUDGEMENT = "trialdesk.safety_judgement"


@contextmanager
def safety_judgement(session: Session) -> Iterator[None]:
    """Within this block, writes to an adverse event are the investigator's safety judgement
    or the reporting clock it sets (`services.safety_reporting`): a lock does not hold them up
    (ICH E2A III; ICH E6(R3) 2.7). Every other write to the event stays frozen."""
    before = session.info.get(_SAFETY_JUDGEMENT, False)
    session.info[_SAFETY_JUDGEMENT] = True
    try:
        yield
    finally:
        session.info[_SAFETY_JUDGEMENT] = before


@dataclass(frozen=True)
class LockPlace:
    """Where a write lands: participant (None: not a participant's record), visit, form."""

    participant: Participant | None
    visit_code: str | None = None
    form: str | None = None


def _signer_name(session: Session, actor: Actor) -> str:
    user = session.get(User, actor.user_id) if actor.user_id is not None else None
    return user.full_name if user is not None else "the system administrator"


def _lock_participant(session: Session, actor: Actor, participant_id: int) -> Participant:
    """An administrator locks at every site; an investigator at their own (site-scoped)."""
    if actor.can(Permission.MANAGE_USERS):
        require(actor, Permission.LOCK_DATA)
        participant = session.get(Participant, participant_id)
        if participant is None:
            raise NotFound("not_found", f"participant {participant_id} not found")
        return participant
    return get_participant(session, actor, participant_id, Permission.LOCK_DATA)


def _new_lock(
    session: Session, actor: Actor, participant: Participant | None, reason: str, **where: Any
) -> LockView:
    text = (reason or "").strip()
    if not text:
        raise ValidationProblem("reason", "a reason is required to lock data", "reason_required")
    row = DataLock(
        participant_id=participant.id if participant else None,
        reason=text[:2000],
        locked_by=actor.user_id,
        locked_by_name=_signer_name(session, actor),
        locked_at=utcnow(),
        **where,
    )
    add_record(session, actor, row, participant)
    return lock_view(session, row)


def _refuse_double(session: Session, participant_id: int | None, **where: Any) -> None:
    query = select(DataLock).where(*_ACTIVE).filter_by(**where)
    if participant_id is not None:
        query = query.where(DataLock.participant_id == participant_id)
    clash = session.scalars(query).first()
    if clash is not None:
        message = lock_message(session, clash)[0].split(": ask")[0]
        raise RuleViolation("already_locked", f"already locked: {message}", "scope", conflict=True)


@service
def lock_study(session: Session, actor: Actor, *, reason: str) -> LockView:
    """The database lock: no clinical write anywhere until an administrator unlocks."""
    require(actor, Permission.LOCK_DATA)
    _refuse_double(session, None, scope=LockScope.STUDY)
    return _new_lock(session, actor, None, reason, scope=LockScope.STUDY)


@service
def lock_participant(
    session: Session, actor: Actor, participant_id: int, *, reason: str
) -> LockView:
    participant = _lock_participant(session, actor, participant_id)
    _refuse_double(session, participant.id, scope=LockScope.PARTICIPANT)
    return _new_lock(session, actor, participant, reason, scope=LockScope.PARTICIPANT)


@service
def lock_form(
    session: Session,
    actor: Actor,
    participant_id: int,
    *,
    visit_code: str,
    form: str,
    reason: str,
) -> LockView:
    """One form of one visit: the form must be one the protocol schedules at that visit."""
    from trialdesk.services.study import current_protocol

    participant = _lock_participant(session, actor, participant_id)
    planned = {v.code: v for v in current_protocol(session).schedule}
    if form in LOG_FORMS and (not visit_code or visit_code in planned):
        where_log = {"scope": LockScope.FORM, "visit_code": None, "form": form}
        _refuse_double(session, participant.id, **where_log)
        return _new_lock(session, actor, participant, reason, **where_log)
    if visit_code not in planned:
        raise ValidationProblem("visit_code", f"no visit {visit_code!r} in the schedule")
    if form not in planned[visit_code].forms:
        raise ValidationProblem(
            "form", f"visit {visit_code} has no form {form!r} (it has: "
            f"{', '.join(planned[visit_code].forms)})",
        )  # fmt: skip
    where = {"scope": LockScope.FORM, "visit_code": visit_code, "form": form}
    _refuse_double(session, participant.id, **where)
    return _new_lock(session, actor, participant, reason, **where)


@service
def unlock(session: Session, actor: Actor, lock_id: int, *, reason: str) -> LockView:
    """Lift a lock (administrators only), with the reason; the lock row is kept."""
    require(actor, Permission.UNLOCK_DATA, table="data_locks", record_id=lock_id)
    row = session.get(DataLock, lock_id)
    if row is None or row.unlocked_at is not None or row.voided:
        raise NotFound("not_found", f"no active data lock {lock_id}", "lock_id")
    if not (reason or "").strip():
        raise ValidationProblem(
            "reason", "a reason is required to unlock data (21 CFR 11.10(e))", "reason_required"
        )
    why = require_reason(reason)
    participant = session.get(Participant, row.participant_id) if row.participant_id else None
    change_record(
        session,
        actor,
        row,
        {
            "unlocked_at": utcnow(),
            "unlocked_by": actor.user_id,
            "unlocked_by_name": _signer_name(session, actor),
            "unlock_reason": why,
        },
        reason=why,
        expected_version=None,
        participant=participant,
    )
    return lock_view(session, row)


@service
def list_locks(
    session: Session, actor: Actor, participant_id: int | None = None, *, active_only: bool = False
) -> list[LockView]:
    """Locks (newest first): the study's and, given a participant, theirs; else every lock the
    actor may see (administrators: all sites)."""
    query = select(DataLock).order_by(DataLock.locked_at.desc(), DataLock.id.desc())
    if active_only:
        query = query.where(*_ACTIVE)
    if participant_id is not None:
        _readable_participant(session, actor, participant_id)
        query = query.where(
            or_(DataLock.participant_id == participant_id, DataLock.scope == LockScope.STUDY)
        )
    rows = [r for r in session.scalars(query) if _may_see(session, actor, r)]
    return [lock_view(session, r) for r in rows]


def _readable_participant(session: Session, actor: Actor, participant_id: int) -> Participant:
    if actor.can(Permission.MANAGE_USERS):
        return _lock_participant(session, actor, participant_id)
    return get_participant(session, actor, participant_id, Permission.READ_CLINICAL)


def _may_see(session: Session, actor: Actor, row: DataLock) -> bool:
    if row.participant_id is None or actor.can(Permission.MANAGE_USERS):
        return True
    participant = session.get(Participant, row.participant_id)
    return participant is not None and actor.sees_site(participant.site_id)


def lock_view(session: Session, row: DataLock) -> LockView:
    view = LockView.model_validate(row)
    participant = session.get(Participant, row.participant_id) if row.participant_id else None
    return view.model_copy(
        update={
            "scope": LockScope(row.scope).value,
            "study_id": participant.study_id if participant else None,
            "what": lock_message(session, row)[1],
        }
    )


def _visit_name(session: Session, code: str) -> str:
    from trialdesk.services.study import current_protocol

    names = {v.code: v.name for v in current_protocol(session).schedule}
    return names.get(code, code)


def lock_message(session: Session, row: DataLock) -> tuple[str, str]:
    """(the refusal sentence, what is locked) in a site's words."""
    from trialdesk.services.record_grid import form_label

    participant = session.get(Participant, row.participant_id) if row.participant_id else None
    study_id = participant.study_id if participant else ""
    when = f"{row.locked_at:%Y-%m-%d %H:%M} UTC"
    by = f"by {row.locked_by_name} on {when} ({row.reason})"
    if row.scope == LockScope.STUDY:
        what = "the study database"
        sentence = f"The study database is locked for analysis {by}"
    elif row.scope == LockScope.PARTICIPANT:
        what = f"the casebook of {study_id}"
        sentence = f"The casebook of {study_id} is locked {by}"
    elif row.form in LOG_FORMS:
        what = f"the {form_label(row.form or '').lower()} of {study_id}"
        sentence = f"{what[:1].upper()}{what[1:]} are locked {by}"
    else:
        what = (
            f"{_visit_name(session, row.visit_code or '')} "
            f"{form_label(row.form or '').lower()} for {study_id}"
        )
        sentence = f"{what[:1].upper()}{what[1:]} are locked {by}"
    return f"{sentence}: ask an administrator to unlock", what


def _active_locks(session: Session, participant_id: int | None) -> list[DataLock]:
    scope = DataLock.scope == LockScope.STUDY
    if participant_id is not None:
        scope = or_(scope, DataLock.participant_id == participant_id)
    return list(session.scalars(select(DataLock).where(*_ACTIVE, scope)))


def _covers(lock: DataLock, place: LockPlace) -> bool:
    if lock.scope != LockScope.FORM:
        return True
    if lock.form in LOG_FORMS:  # the whole log, at every visit; not the visits' dates
        return place.form == lock.form
    if lock.visit_code != place.visit_code:
        return False
    # A visit record (form None) holds the date of every form of its visit.
    return place.form is None or lock.form == place.form


def lock_for(session: Session, place: LockPlace) -> DataLock | None:
    """The active lock that freezes a write at `place`, if any (study lock first)."""
    pid = place.participant.id if place.participant is not None else None
    locks = _active_locks(session, pid)
    order = {LockScope.STUDY: 0, LockScope.PARTICIPANT: 1, LockScope.FORM: 2}
    for lock in sorted(locks, key=lambda x: order[LockScope(x.scope)]):
        if lock.scope == LockScope.FORM and place.visit_code is None and place.form is None:
            continue
        if _covers(lock, place):
            return lock
    return None


def _place_of(session: Session, row: Any, participant: Any | None) -> LockPlace:
    from trialdesk.services.crf_forms import place_record
    from trialdesk.services.study import current_catalogue

    table = row.__tablename__
    if participant is None and table == "participants":
        participant = row if row.id is not None else None
    if participant is None and getattr(row, "participant_id", None) is not None:
        participant = session.get(Participant, row.participant_id)
    if participant is None:
        return LockPlace(None)
    if not _has_form_locks(session, participant.id):
        return LockPlace(participant)
    visit_code, form = place_record(session, table, row, current_catalogue(session))
    return LockPlace(participant, visit_code, form)


def _has_form_locks(session: Session, participant_id: int) -> bool:
    found = session.scalars(
        select(DataLock.id)
        .where(*_ACTIVE, DataLock.participant_id == participant_id)
        .where(DataLock.scope == LockScope.FORM)
        .limit(1)
    ).first()
    return found is not None


def guard_write(session: Session, row: Any, participant: Any | None) -> None:
    """Refuse (`DataLocked`) a write of `row` that an active lock freezes (called by `uow`)."""
    table = getattr(row, "__tablename__", "")
    if table not in LOCKED_TABLES:
        return
    if table == "adverse_events" and session.info.get(_SAFETY_JUDGEMENT):
        return
    place = _place_of(session, row, participant)
    lock = lock_for(session, place)
    if lock is None:
        return
    sentence, _what = lock_message(session, lock)
    where = place.participant
    raise DataLocked(
        "data_locked",
        sentence,
        lock.form or LockScope(lock.scope).value,
        table=table,
        record_id=getattr(row, "id", None),
        site_id=where.site_id if where is not None else None,
        participant_id=where.id if where is not None else None,
    )


def write_block(
    session: Session,
    participant_id: int | None,
    visit_code: str | None = None,
    form: str | None = None,
) -> str:
    """'' when data at that place may be written, else the lock's refusal sentence (pages show
    it on a read-only form instead of a form that would be refused after filling)."""
    participant = session.get(Participant, participant_id) if participant_id else None
    lock = lock_for(session, LockPlace(participant, visit_code, form))
    return lock_message(session, lock)[0] if lock is not None else ""


def locked_forms(session: Session, participant_id: int) -> dict[tuple[str, str], str]:
    """(visit code, form) → refusal sentence for every active form lock of a participant."""
    rows = session.scalars(
        select(DataLock).where(
            *_ACTIVE, DataLock.participant_id == participant_id, DataLock.scope == LockScope.FORM
        )
    )
    return {(r.visit_code or "", r.form or ""): lock_message(session, r)[0] for r in rows}


def study_locked(session: Session) -> DataLock | None:
    """The active study (database) lock, if any: reports and exports record the data cut."""
    return session.scalars(
        select(DataLock).where(*_ACTIVE, DataLock.scope == LockScope.STUDY)
    ).first()


@service
def lockable_participant(session: Session, actor: Actor, study_id: str) -> int:
    """The id of the participant `study_id` (e.g. ``APGH-007``) for a lock: administrators at
    every site, investigators at theirs."""
    found = session.scalars(
        select(Participant.id).where(Participant.study_id == (study_id or "").strip().upper())
    ).first()
    if found is None:
        raise ValidationProblem("study_id", f"no participant {study_id!r}")
    try:
        return _lock_participant(session, actor, found).id
    except NotFound:
        raise ValidationProblem("study_id", f"no participant {study_id!r}") from None

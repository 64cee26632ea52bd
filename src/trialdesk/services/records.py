"""Record-generic use cases: voiding any clinical record, the audit history of any record or
participant, and verification of the audit chain."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from trialdesk.services import paging
from trialdesk.services.access import get_participant, get_record, not_found, require
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.errors import ValidationProblem
from trialdesk.services.listing import FIRST_PAGE, paginate
from trialdesk.services.uow import change_record, service, void_record
from trialdesk.services.views import AuditEntryView, ChainReportView, Page, View
from trialdesk.store import audit
from trialdesk.store.anchor import AnchorConfig, AnchoredReport, AnchorKeyError, verify_anchored
from trialdesk.store.anchor.status import Outcome, now_text, record_verification
from trialdesk.store.enums import ParticipantStatus
from trialdesk.store.models import (
    AdverseEvent,
    AuditEntry,
    Consent,
    DataLock,
    DataQuery,
    Enrollment,
    FormStatusRecord,
    InsulinDose,
    IttSample,
    IttTest,
    Measurement,
    OgldDose,
    Participant,
    ParticipantIdentity,
    ProtocolDeviation,
    Screening,
    Signature,
    Transplantation,
    User,
    Visit,
)

VOIDABLE: dict[str, Any] = {
    m.__tablename__: m
    for m in (
        Consent,
        Screening,
        Enrollment,
        Visit,
        Measurement,
        IttTest,
        InsulinDose,
        OgldDose,
        Transplantation,
        AdverseEvent,
        ProtocolDeviation,
    )
}
"""Tables whose rows can be voided (a data query is closed instead; a participant registered
in error is voided with `void_participant`)."""

CLINICAL_TABLES: dict[str, Any] = {
    **VOIDABLE,
    DataQuery.__tablename__: DataQuery,
    FormStatusRecord.__tablename__: FormStatusRecord,
    IttSample.__tablename__: IttSample,
    Signature.__tablename__: Signature,
}
ACCOUNT_TABLES = frozenset({"users", "sites", "api_tokens", "user_access"})


@service
def void_clinical_record(
    session: Session,
    actor: Actor,
    table: str,
    record_id: int,
    *,
    expected_version: int,
    reason: str,
) -> None:
    """Void a record (kept, marked voided, with the reason) instead of deleting it."""
    model = VOIDABLE.get(table)
    if model is None:
        raise ValidationProblem("table", f"{table!r} records cannot be voided")
    row, participant = get_record(session, actor, model, record_id, Permission.WRITE_CLINICAL)
    void_record(
        session,
        actor,
        row,
        reason=reason,
        expected_version=expected_version,
        participant=participant,
    )
    if model is Visit:
        from trialdesk.services.visits import recheck_windows

        recheck_windows(session, actor, participant)
    if model is Enrollment and participant.status is ParticipantStatus.ENROLLED:
        change_record(
            session,
            actor,
            participant,
            {"status": ParticipantStatus.SCREENING},
            reason=f"enrollment voided: {reason}",
            expected_version=None,
            participant=participant,
        )


@service
def get_clinical_record(session: Session, actor: Actor, table: str, record_id: int) -> View:
    """The view of any participant-owned record by table name (for ``GET /{entity}/{id}``)."""
    model = CLINICAL_TABLES.get(table)
    if model is None or model is IttSample:
        raise ValidationProblem("table", f"{table!r} is not a clinical record table")
    row, participant = get_record(session, actor, model, record_id, Permission.READ_CLINICAL)
    return _record_view(session, actor, row, participant)


def _record_view(session: Session, actor: Actor, row: Any, participant: Participant) -> View:
    from trialdesk.services.itt import itt_view
    from trialdesk.services.measurements import measurement_view
    from trialdesk.services.screening import private_strings, screening_view
    from trialdesk.services.visits import visit_view_in_context

    if isinstance(row, Screening):
        return screening_view(row, private_strings(session, actor, participant))
    if isinstance(row, Visit):
        return visit_view_in_context(session, row)
    if isinstance(row, Measurement | IttTest):
        visit = session.get(Visit, row.visit_id)
        code = visit.code if visit else ""
        return measurement_view(row, code) if isinstance(row, Measurement) else itt_view(row, code)
    return _stored_view(row)


def _stored_view(row: Any) -> View:
    """The view of a record that needs nothing but the row itself."""
    from trialdesk.services import views
    from trialdesk.services.queries import query_view
    from trialdesk.services.safety import ae_view

    if isinstance(row, AdverseEvent):
        return ae_view(row)
    if isinstance(row, DataQuery):
        return query_view(row)
    if isinstance(row, FormStatusRecord):
        from trialdesk.services.form_status import FormStatusView

        return FormStatusView.model_validate(row)
    simple: dict[type, type[View]] = {
        Consent: views.ConsentView,
        Enrollment: views.EnrollmentView,
        InsulinDose: views.InsulinDoseView,
        OgldDose: views.OgldDoseView,
        Transplantation: views.TransplantationView,
        ProtocolDeviation: views.DeviationView,
        Signature: views.SignatureView,
    }
    return simple[type(row)].model_validate(row)


@service
def void_participant(
    session: Session, actor: Actor, participant_id: int, *, expected_version: int, reason: str
) -> None:
    """Void a participant registered in error (with their identity row)."""
    participant = get_participant(session, actor, participant_id, Permission.WRITE_CLINICAL)
    void_record(
        session,
        actor,
        participant,
        reason=reason,
        expected_version=expected_version,
        participant=participant,
    )
    identity = session.scalars(
        select(ParticipantIdentity).where(ParticipantIdentity.participant_id == participant.id)
    ).first()
    if identity is not None and not identity.voided:
        void_record(
            session, actor, identity, reason=reason, expected_version=None, participant=participant
        )


REDACTED = "[redacted]"


def _identity_strings(session: Session, actor: Actor, participant_id: int | None) -> list[str]:
    """The participant's date of birth, to mask in audit entries read by a role without the
    right to identifying data (a coder or statistician: ICH E6(R3) 2.5.4 / GDPR Art. 5(1)(c),
    data minimisation). Screening results quote it in their eligibility explanation."""
    if participant_id is None or actor.can(Permission.READ_IDENTITY):
        return []
    births = session.scalars(
        select(ParticipantIdentity.date_of_birth).where(
            ParticipantIdentity.participant_id == participant_id
        )
    )
    return [b.isoformat() for b in births if b is not None]


def _entry_view(
    entry: AuditEntry, names: dict[int, str], hide: list[str] | None = None
) -> AuditEntryView:
    changes = entry.changes
    for secret in hide or []:
        changes = changes.replace(secret, REDACTED)
    return AuditEntryView(
        sequence=entry.sequence,
        occurred_at=entry.occurred_at,
        user_id=entry.user_id,
        username=names.get(entry.user_id) if entry.user_id is not None else "system",
        action=entry.action,
        table=entry.table_name,
        record_id=entry.record_id,
        participant_id=entry.participant_id,
        changes=json.loads(changes),
        reason=entry.reason,
    )


def _usernames(session: Session, entries: list[AuditEntry]) -> dict[int, str]:
    ids = {e.user_id for e in entries if e.user_id is not None}
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(ids)))
    return {uid: name for uid, name in rows}


@service
def record_history(
    session: Session, actor: Actor, table: str, record_id: int
) -> list[AuditEntryView]:
    """Every audit entry of one record, oldest first (who, when, old → new, why)."""
    require(actor, Permission.READ_AUDIT, table=table, record_id=record_id)
    if table in ACCOUNT_TABLES:
        require(actor, Permission.MANAGE_USERS, table=table, record_id=record_id)
    elif table == "participants":
        get_participant(session, actor, record_id, Permission.READ_AUDIT)
    elif table == ParticipantIdentity.__tablename__:
        row = session.get(ParticipantIdentity, record_id)
        if row is None:
            raise not_found(table, record_id)
        get_participant(session, actor, row.participant_id, Permission.READ_IDENTITY)
    elif table in CLINICAL_TABLES:
        model = CLINICAL_TABLES[table]
        if model is IttSample:
            sample = session.get(IttSample, record_id)
            if sample is None:
                raise not_found(table, record_id)
            get_record(session, actor, IttTest, sample.itt_test_id, Permission.READ_AUDIT)
        else:
            get_record(session, actor, model, record_id, Permission.READ_AUDIT)
    elif table == DataLock.__tablename__:
        _lock_history_access(session, actor, record_id)
    else:
        raise ValidationProblem("table", f"{table!r} is not a table of the study database")
    entries = audit.history(session, table, record_id)
    names = _usernames(session, entries)
    pid = entries[0].participant_id if entries else None
    hide = _identity_strings(session, actor, pid)
    return [_entry_view(e, names, hide) for e in entries]


def _lock_history_access(session: Session, actor: Actor, lock_id: int) -> None:
    """A data lock's history: the study lock for anyone reading the audit trail; a
    participant's or form's lock as the participant's own records."""
    lock = session.get(DataLock, lock_id)
    if lock is None:
        raise not_found(DataLock.__tablename__, lock_id)
    require(actor, Permission.READ_AUDIT)
    if lock.participant_id is not None and not actor.can(Permission.MANAGE_USERS):
        get_participant(session, actor, lock.participant_id, Permission.READ_AUDIT)


@dataclass(frozen=True, kw_only=True)
class AuditTrailFilter:
    """Which entries of an audit trail to read (21 CFR 11.10(e): who changed what, and when):
    only one kind of record (`table`), entries touching one `field`, by one user, or made in
    [since, until). Each item is the API's query parameter of the same name."""

    table: str | None = None
    field: str | None = None
    user_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


@service
def participant_history(
    session: Session,
    actor: Actor,
    participant_id: int,
    *,
    where: AuditTrailFilter | None = None,
    page: paging.Page = FIRST_PAGE,
) -> Page[AuditEntryView]:
    """The audit trail of everything about one participant, oldest first; `where` narrows it."""
    get_participant(session, actor, participant_id, Permission.READ_AUDIT)
    query = _trail_query(participant_id, where or AuditTrailFilter())
    if not actor.can(Permission.READ_IDENTITY):
        query = query.where(AuditEntry.table_name != ParticipantIdentity.__tablename__)
    entries = paginate(session, query, page.limit, page.offset, lambda e: e)
    names = _usernames(session, entries.items)
    hide = _identity_strings(session, actor, participant_id)
    return Page[AuditEntryView](
        items=[_entry_view(e, names, hide) for e in entries.items],
        total=entries.total,
        limit=entries.limit,
        offset=entries.offset,
    )


def _trail_query(participant_id: int, where: AuditTrailFilter) -> Select[AuditEntry]:
    query = (
        select(AuditEntry)
        .where(AuditEntry.participant_id == participant_id)
        .order_by(AuditEntry.sequence)
    )
    if where.table:
        query = query.where(AuditEntry.table_name == where.table)
    if where.field:
        # `changes` is the JSON object field → [old, new]: its keys appear as "field":
        key = json.dumps(where.field) + ":"
        query = query.where(AuditEntry.changes.contains(key, autoescape=True))
    if where.user_id is not None:
        query = query.where(AuditEntry.user_id == where.user_id)
    if where.since is not None:
        query = query.where(AuditEntry.occurred_at >= where.since)
    if where.until is not None:
        query = query.where(AuditEntry.occurred_at < where.until)
    return query


@service
def verify_audit_trail(
    session: Session,
    actor: Actor,
    anchor: AnchorConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> ChainReportView:
    """Recompute the hash chain and, with an `anchor` whose key is present, compare the trail
    with its signed checkpoints; names the first altered, removed, reordered, rewritten or
    rolled-back entry. Without one, says that the trail was checked only against itself."""
    require(actor, Permission.READ_AUDIT, table="audit_entries")
    if anchor is None or not anchor.can_verify:
        report: audit.ChainReport | AnchoredReport = audit.verify_chain(session, progress=progress)
        anchored_through = None
        notes = [NOT_ANCHORED]
    else:
        try:
            report = verify_anchored(session, anchor, progress)
        except (AnchorKeyError, OSError) as exc:
            unverifiable = _unverifiable(exc)
            record_verification(
                anchor, Outcome(now_text(), False, unverifiable.message, actor.username)
            )
            return unverifiable
        anchored_through, notes = report.anchored_through, report.notes
    problem = report.problem
    view = ChainReportView(
        ok=report.ok,
        checked=report.checked,
        last_sequence=report.last_sequence,
        problem_kind=problem.kind if problem else None,
        problem_sequence=problem.sequence if problem else None,
        problem_entry_id=problem.entry_id if problem else None,
        message=str(report),
        anchored_through=anchored_through,
        notes=notes,
    )
    if anchor is not None:  # kept for the dashboard (`store.anchor.status`)
        record_verification(
            anchor,
            Outcome(now_text(), view.ok, view.message, actor.username, view.problem_sequence),
        )
    return view


def _unverifiable(exc: Exception) -> ChainReportView:
    """A configured anchor that cannot be read: not verified, and said why (never a 500)."""
    return ChainReportView(
        ok=False,
        checked=0,
        last_sequence=0,
        problem_kind="checkpoint log",
        message=f"audit trail NOT verified: the checkpoint key or log cannot be read: {exc}",
    )


NOT_ANCHORED = (
    "NOT anchored: no checkpoint key is configured, so the trail was checked only against "
    "itself (edits left un-hashed, gaps, swaps and a removed tail are found). Someone able to "
    "write to the database could have edited entries and recomputed every hash without this "
    "check noticing (see `trialdesk audit keygen`)."
)

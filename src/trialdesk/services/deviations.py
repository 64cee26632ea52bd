"""Protocol deviations: recorded by staff, or automatically (visit outside its window).

Each deviation is classified (category; major = an *important* deviation in the sense of
ICH E3 §10.2 and ICH E6(R3) glossary, one that may significantly affect the completeness,
accuracy or reliability of key data or a participant's rights, safety or well-being; minor
otherwise), carries the site's explanation, and is reviewed and signed off by an investigator
(ICH E6(R3) 2.7.2/3.10: the investigator documents and explains deviations).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.services.access import get_participant, get_record, live_visit
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.crf_entries import DeviationChanges, DeviationEntry, DeviationFilter
from trialdesk.services.crf_entries import ReviewStatus as ReviewStatus
from trialdesk.services.errors import RuleViolation, ValidationProblem
from trialdesk.services.listing import DEFAULT_LIMIT, paginate, scoped
from trialdesk.services.paging import Page as Paging
from trialdesk.services.uow import add_record, change_record, service, void_record
from trialdesk.services.validate import (
    FREE_TEXT_MAX_CHARS,
    choice,
    not_after_today,
    required_text,
    today,
)
from trialdesk.services.views import DeviationView, Page
from trialdesk.store.enums import DeviationCategory, DeviationSeverity
from trialdesk.store.models import Participant, ProtocolDeviation
from trialdesk.store.types import utcnow


@service
def record_deviation(
    session: Session,
    actor: Actor,
    participant_id: int,
    entry: DeviationEntry,
) -> DeviationView:
    participant = get_participant(session, actor, participant_id, Permission.WRITE_CLINICAL)
    visit_id = None
    if entry.visit_code is not None:
        visit = live_visit(session, participant.id, entry.visit_code)
        if visit is None:
            raise ValidationProblem("visit_code", f"visit {entry.visit_code} is not recorded")
        visit_id = visit.id
    row = ProtocolDeviation(
        participant_id=participant.id,
        visit_id=visit_id,
        category=choice(DeviationCategory, entry.category, "category"),
        severity=choice(DeviationSeverity, entry.severity, "severity"),
        description=required_text(entry.description, "description", 4000),
        detected_on=not_after_today(entry.detected_on, "detected_on"),
        automatic=False,
        explanation=_optional_text(entry.explanation, "explanation"),
    )
    add_record(session, actor, row, participant)
    return DeviationView.model_validate(row)


@service
def update_deviation(
    session: Session,
    actor: Actor,
    deviation_id: int,
    changes: DeviationChanges,
) -> DeviationView:
    """Classify (category, major/minor), correct the description or give the explanation."""
    row, participant = get_record(
        session, actor, ProtocolDeviation, deviation_id, Permission.WRITE_CLINICAL
    )
    columns: dict[str, object] = {}
    if changes.severity is not None:
        columns["severity"] = choice(DeviationSeverity, changes.severity, "severity")
    if changes.description is not None:
        columns["description"] = required_text(changes.description, "description", 4000)
    if changes.category is not None:
        columns["category"] = choice(DeviationCategory, changes.category, "category")
    if changes.explanation is not None:
        columns["explanation"] = _optional_text(changes.explanation, "explanation")
    if row.reviewed_at is not None and columns:
        # A change after sign-off needs a new review: the signed review no longer covers it.
        columns.update(reviewed_by=None, reviewed_at=None, review_comment=None)
    change_record(
        session,
        actor,
        row,
        columns,
        reason=changes.reason,
        expected_version=changes.expected_version,
        participant=participant,
    )
    return DeviationView.model_validate(row)


@service
def review_deviation(
    session: Session,
    actor: Actor,
    deviation_id: int,
    *,
    expected_version: int,
    comment: str,
) -> DeviationView:
    """The investigator's review and sign-off of a deviation (investigators only; audited)."""
    row, participant = get_record(session, actor, ProtocolDeviation, deviation_id, Permission.SIGN)
    if row.voided:
        raise RuleViolation(
            "deviation_voided",
            "this deviation was voided: there is nothing to review",
            conflict=True,
        )
    text = required_text(comment, "review_comment", 4000)
    change_record(
        session,
        actor,
        row,
        {"reviewed_by": actor.user_id, "reviewed_at": utcnow(), "review_comment": text},
        reason="investigator review and sign-off",
        expected_version=expected_version,
        participant=participant,
    )
    return DeviationView.model_validate(row)


@service
def list_deviations(
    session: Session,
    actor: Actor,
    filters: DeviationFilter | None = None,
    page: Paging | None = None,
) -> Page[DeviationView]:
    """Deviations matching `filters` (all the actor may read when None), a `page` of them
    (the first `listing.DEFAULT_LIMIT` when None)."""
    filters = filters or DeviationFilter()
    page = page or Paging(limit=DEFAULT_LIMIT)
    if filters.participant_id is not None:
        get_participant(session, actor, filters.participant_id, Permission.READ_CLINICAL)
    query = scoped(select(ProtocolDeviation), ProtocolDeviation, actor, filters.include_voided)
    if filters.participant_id is not None:
        query = query.where(ProtocolDeviation.participant_id == filters.participant_id)
    if filters.site_id is not None:
        query = query.where(Participant.site_id == filters.site_id)
    if filters.category is not None:
        query = query.where(
            ProtocolDeviation.category == choice(DeviationCategory, filters.category, "category")
        )
    if filters.severity is not None:
        query = query.where(
            ProtocolDeviation.severity == choice(DeviationSeverity, filters.severity, "severity")
        )
    if filters.status is not None:
        reviewed = choice(ReviewStatus, filters.status, "status") is ReviewStatus.REVIEWED
        column = ProtocolDeviation.reviewed_at
        query = query.where(column.is_not(None) if reviewed else column.is_(None))
    query = query.order_by(ProtocolDeviation.detected_on.desc(), ProtocolDeviation.id.desc())
    return paginate(session, query, page.limit, page.offset, DeviationView.model_validate)


def _optional_text(value: str | None, field: str) -> str | None:
    text = (value or "").strip()
    if len(text) > FREE_TEXT_MAX_CHARS:
        raise ValidationProblem(field, f"must be at most {FREE_TEXT_MAX_CHARS} characters")
    return text or None


def window_reason(
    session: Session, actor: Actor, participant: Participant, visit_id: int, reason: str
) -> None:
    """Put the site's reason on the automatic deviation of an out-of-window visit."""
    row = automatic_window_deviations(session, participant.id).get(visit_id)
    if row is not None and reason and row.explanation != reason:
        change_record(
            session,
            actor,
            row,
            {"explanation": reason},
            reason="reason given for the out-of-window visit",
            expected_version=None,
            participant=participant,
        )


def automatic_window_deviations(
    session: Session, participant_id: int
) -> dict[int, ProtocolDeviation]:
    """Live automatic visit-window deviations of a participant, by visit id."""
    rows = session.scalars(
        select(ProtocolDeviation).where(
            ProtocolDeviation.participant_id == participant_id,
            ProtocolDeviation.automatic.is_(True),
            ProtocolDeviation.category == DeviationCategory.VISIT_WINDOW,
            ProtocolDeviation.voided.is_(False),
        )
    )
    return {row.visit_id: row for row in rows if row.visit_id is not None}


def flag_window_deviation(
    session: Session,
    actor: Actor,
    participant: Participant,
    visit_id: int,
    *,
    description: str,
    existing: ProtocolDeviation | None,
) -> None:
    """Create (or keep up to date) the automatic deviation of an out-of-window visit."""
    if existing is None:
        row = ProtocolDeviation(
            participant_id=participant.id,
            visit_id=visit_id,
            category=DeviationCategory.VISIT_WINDOW,
            severity=DeviationSeverity.MINOR,
            description=description,
            detected_on=today(),
            automatic=True,
        )
        add_record(session, actor, row, participant)
    elif existing.description != description:
        change_record(
            session,
            actor,
            existing,
            {"description": description, "detected_on": today()},
            reason="visit date or baseline date changed",
            expected_version=None,
            participant=participant,
        )


def clear_window_deviation(
    session: Session, actor: Actor, participant: Participant, row: ProtocolDeviation, why: str
) -> None:
    void_record(session, actor, row, reason=why, expected_version=None, participant=participant)

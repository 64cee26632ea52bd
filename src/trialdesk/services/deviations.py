"""Protocol deviations: recorded by staff, or automatically (visit outside its window).

Each deviation is classified (category; major = an *important* deviation in the sense of
ICH E3 §10.2 and ICH E6(R3) glossary, one that may significantly affect the completeness,
accuracy or reliability of key data or a participant's rights, safety or well-being; minor
otherwise), carries the site's explanation, and is reviewed and signed off by an investigator
(ICH E6(R3) 2.7.2/3.10: the investigator documents and explains deviations).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.services.access import get_participant, get_record, live_visit
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.errors import RuleViolation, ValidationProblem
from trialdesk.services.listing import DEFAULT_LIMIT, paginate, scoped
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
def record_deviation(  # noqa: PLR0913  one keyword-only parameter per item of the deviation form (ICH E3 16.2.2)
    session: Session,
    actor: Actor,
    participant_id: int,
    *,
    category: DeviationCategory | str,
    severity: DeviationSeverity | str,
    description: str,
    detected_on: date,
    visit_code: str | None = None,
    explanation: str | None = None,
) -> DeviationView:
    participant = get_participant(session, actor, participant_id, Permission.WRITE_CLINICAL)
    visit_id = None
    if visit_code is not None:
        visit = live_visit(session, participant.id, visit_code)
        if visit is None:
            raise ValidationProblem("visit_code", f"visit {visit_code} is not recorded")
        visit_id = visit.id
    row = ProtocolDeviation(
        participant_id=participant.id,
        visit_id=visit_id,
        category=choice(DeviationCategory, category, "category"),
        severity=choice(DeviationSeverity, severity, "severity"),
        description=required_text(description, "description", 4000),
        detected_on=not_after_today(detected_on, "detected_on"),
        automatic=False,
        explanation=_optional_text(explanation, "explanation"),
    )
    add_record(session, actor, row, participant)
    return DeviationView.model_validate(row)


@service
def update_deviation(  # noqa: PLR0913  version and reason, then one optional keyword-only parameter per deviation item changed
    session: Session,
    actor: Actor,
    deviation_id: int,
    *,
    expected_version: int,
    reason: str,
    severity: DeviationSeverity | str | None = None,
    description: str | None = None,
    category: DeviationCategory | str | None = None,
    explanation: str | None = None,
) -> DeviationView:
    """Classify (category, major/minor), correct the description or give the explanation."""
    row, participant = get_record(
        session, actor, ProtocolDeviation, deviation_id, Permission.WRITE_CLINICAL
    )
    changes: dict[str, object] = {}
    if severity is not None:
        changes["severity"] = choice(DeviationSeverity, severity, "severity")
    if description is not None:
        changes["description"] = required_text(description, "description", 4000)
    if category is not None:
        changes["category"] = choice(DeviationCategory, category, "category")
    if explanation is not None:
        changes["explanation"] = _optional_text(explanation, "explanation")
    if row.reviewed_at is not None and changes:
        # A change after sign-off needs a new review: the signed review no longer covers it.
        changes.update(reviewed_by=None, reviewed_at=None, review_comment=None)
    change_record(
        session,
        actor,
        row,
        changes,
        reason=reason,
        expected_version=expected_version,
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


class ReviewStatus(StrEnum):
    AWAITING_REVIEW = "awaiting_review"
    REVIEWED = "reviewed"


@service
def list_deviations(  # noqa: PLR0913  optional keyword-only listing filters, one per API query parameter, and paging
    session: Session,
    actor: Actor,
    *,
    participant_id: int | None = None,
    category: DeviationCategory | str | None = None,
    site_id: int | None = None,
    severity: DeviationSeverity | str | None = None,
    status: ReviewStatus | str | None = None,
    include_voided: bool = False,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> Page[DeviationView]:
    if participant_id is not None:
        get_participant(session, actor, participant_id, Permission.READ_CLINICAL)
    query = scoped(select(ProtocolDeviation), ProtocolDeviation, actor, include_voided)
    if participant_id is not None:
        query = query.where(ProtocolDeviation.participant_id == participant_id)
    if site_id is not None:
        query = query.where(Participant.site_id == site_id)
    if category is not None:
        query = query.where(
            ProtocolDeviation.category == choice(DeviationCategory, category, "category")
        )
    if severity is not None:
        query = query.where(
            ProtocolDeviation.severity == choice(DeviationSeverity, severity, "severity")
        )
    if status is not None:
        reviewed = choice(ReviewStatus, status, "status") is ReviewStatus.REVIEWED
        column = ProtocolDeviation.reviewed_at
        query = query.where(column.is_not(None) if reviewed else column.is_(None))
    query = query.order_by(ProtocolDeviation.detected_on.desc(), ProtocolDeviation.id.desc())
    return paginate(session, query, limit, offset, DeviationView.model_validate)


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

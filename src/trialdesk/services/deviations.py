"""Protocol deviations: recorded by staff, or automatically (visit outside its window)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.services.access import get_participant, get_record, live_visit
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.errors import ValidationProblem
from trialdesk.services.listing import DEFAULT_LIMIT, paginate, scoped
from trialdesk.services.uow import add_record, change_record, service, void_record
from trialdesk.services.validate import choice, not_after_today, required_text, today
from trialdesk.services.views import DeviationView, Page
from trialdesk.store.enums import DeviationCategory, DeviationSeverity
from trialdesk.store.models import Participant, ProtocolDeviation


@service
def record_deviation(
    session: Session,
    actor: Actor,
    participant_id: int,
    *,
    category: DeviationCategory | str,
    severity: DeviationSeverity | str,
    description: str,
    detected_on: date,
    visit_code: str | None = None,
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
    )
    add_record(session, actor, row, participant)
    return DeviationView.model_validate(row)


@service
def update_deviation(
    session: Session,
    actor: Actor,
    deviation_id: int,
    *,
    expected_version: int,
    reason: str,
    severity: DeviationSeverity | str | None = None,
    description: str | None = None,
) -> DeviationView:
    row, participant = get_record(
        session, actor, ProtocolDeviation, deviation_id, Permission.WRITE_CLINICAL
    )
    changes: dict[str, object] = {}
    if severity is not None:
        changes["severity"] = choice(DeviationSeverity, severity, "severity")
    if description is not None:
        changes["description"] = required_text(description, "description", 4000)
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
def list_deviations(
    session: Session,
    actor: Actor,
    *,
    participant_id: int | None = None,
    category: DeviationCategory | str | None = None,
    include_voided: bool = False,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> Page[DeviationView]:
    if participant_id is not None:
        get_participant(session, actor, participant_id, Permission.READ_CLINICAL)
    query = scoped(select(ProtocolDeviation), ProtocolDeviation, actor, include_voided)
    if participant_id is not None:
        query = query.where(ProtocolDeviation.participant_id == participant_id)
    if category is not None:
        query = query.where(
            ProtocolDeviation.category == choice(DeviationCategory, category, "category")
        )
    query = query.order_by(ProtocolDeviation.detected_on, ProtocolDeviation.id)
    return paginate(session, query, limit, offset, DeviationView.model_validate)


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

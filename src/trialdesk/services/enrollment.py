"""Enrollment: the gate between screening and treatment.

Rules (issue 3): no enrollment without recorded (unwithdrawn) consent and an eligible latest
screening; at most the protocol's `target_enrollment` participants study-wide (24 for
NCT01142050) unless an investigator overrides with a reason, which is kept on the enrollment and
in the audit trail. The decision takes the audit chain's lock first, so two enrollments racing
for the last place cannot both get it.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trialdesk.services.access import (
    consent_in_effect,
    current_consent,
    current_enrollment,
    get_participant,
    require,
)
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.errors import RuleViolation, ValidationProblem
from trialdesk.services.screening import latest_screening
from trialdesk.services.study import current_protocol
from trialdesk.services.uow import add_record, change_record, require_reason, service
from trialdesk.services.validate import not_after_today
from trialdesk.services.views import EnrollmentSummary, EnrollmentView
from trialdesk.store import audit
from trialdesk.store.enums import ParticipantStatus, ScreeningStatus
from trialdesk.store.models import Enrollment, Participant


def enrolled_count(session: Session) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(Enrollment).where(Enrollment.voided.is_(False))
        )
        or 0
    )


def _require_consent(session: Session, participant: Participant, on: date) -> int:
    consent = consent_in_effect(session, participant.id, on)
    if consent is None:
        raise RuleViolation(
            "enrollment_requires_consent",
            f"{participant.study_id} has no informed consent recorded on or before {on}: "
            "consent comes before enrollment (ICH E6(R2) 4.8.8)",
        )
    latest = current_consent(session, participant.id)  # a withdrawal stands on the latest
    if latest is not None and latest.withdrawn_on is not None:
        raise RuleViolation(
            "enrollment_requires_consent",
            f"{participant.study_id} withdrew consent on {latest.withdrawn_on}",
            conflict=True,
        )
    return consent.id


def _require_eligible(session: Session, participant: Participant, on: date) -> int:
    screening = latest_screening(session, participant.id)
    if screening is None:
        raise RuleViolation(
            "enrollment_requires_eligible_screening",
            f"{participant.study_id} has no screening result: screen before enrolling",
        )
    if screening.status is not ScreeningStatus.ELIGIBLE:
        result = screening.result
        detail = (
            f"failed {', '.join(result.get('failed', []))}"
            if result.get("failed")
            else f"missing {', '.join(result.get('missing', []))}"
        )
        raise RuleViolation(
            "enrollment_requires_eligible_screening",
            f"{participant.study_id}'s latest screening ({screening.screened_on}) is "
            f"{screening.status.value} ({detail})",
        )
    if screening.screened_on > on:
        raise ValidationProblem("enrolled_on", f"is before the screening ({screening.screened_on})")
    return screening.id


@service
def enroll_participant(
    session: Session,
    actor: Actor,
    participant_id: int,
    *,
    enrolled_on: date,
    arm_code: str | None = None,
    override_reason: str | None = None,
) -> EnrollmentView:
    """Enroll a consented, eligible participant (see module docstring for the target rule)."""
    participant = get_participant(session, actor, participant_id, Permission.WRITE_CLINICAL)
    not_after_today(enrolled_on, "enrolled_on")
    protocol = current_protocol(session)
    arms = {a.code for a in protocol.design.arms}
    arm = arm_code or (next(iter(arms)) if len(arms) == 1 else None)
    if arm not in arms:
        raise ValidationProblem(
            "arm_code", f"{arm_code!r} is not an arm ({', '.join(sorted(arms))})"
        )
    audit.lock_chain(session)  # serialise enrollment decisions (the target below)
    if current_enrollment(session, participant.id) is not None:
        raise RuleViolation(
            "already_enrolled", f"{participant.study_id} is already enrolled", conflict=True
        )
    consent_id = _require_consent(session, participant, enrolled_on)
    screening_id = _require_eligible(session, participant, enrolled_on)
    enrolled, target = enrolled_count(session), protocol.target_enrollment
    over = enrolled >= target
    why = None
    if over:
        if not (override_reason or "").strip():
            raise RuleViolation(
                "enrollment_target_reached",
                f"{enrolled} participants are enrolled, the protocol's target is {target}: "
                "only an investigator may enroll beyond it, giving a reason",
                conflict=True,
            )
        require(
            actor,
            Permission.OVERRIDE_ENROLLMENT_TARGET,
            table="enrollments",
            site_id=participant.site_id,
            participant_id=participant.id,
        )
        why = require_reason(override_reason)
    row = Enrollment(
        participant_id=participant.id,
        enrolled_on=enrolled_on,
        arm_code=arm,
        screening_id=screening_id,
        consent_id=consent_id,
        over_target=over,
        override_reason=why,
    )
    add_record(session, actor, row, participant)
    change_record(
        session,
        actor,
        participant,
        {"status": ParticipantStatus.ENROLLED},
        reason=f"enrolled beyond the target of {target}: {why}" if why else "enrolled",
        expected_version=None,
        participant=participant,
    )
    return EnrollmentView.model_validate(row)


@service
def get_enrollment(session: Session, actor: Actor, participant_id: int) -> EnrollmentView | None:
    get_participant(session, actor, participant_id, Permission.READ_CLINICAL)
    row = current_enrollment(session, participant_id)
    return EnrollmentView.model_validate(row) if row else None


@service
def enrollment_summary(session: Session, actor: Actor) -> EnrollmentSummary:
    """Study-wide count against the protocol's target (a count only: no other site's data)."""
    require(actor, Permission.READ_CLINICAL, table="enrollments")
    target = current_protocol(session).target_enrollment
    enrolled = enrolled_count(session)
    return EnrollmentSummary(enrolled=enrolled, target=target, remaining=max(target - enrolled, 0))

"""Informed consent: recording it (form version, date, who obtained it) and its withdrawal.

A participant may withdraw at any time without giving a reason (ICH E6(R2) 4.3.4 — the
investigator should try to ascertain it, so `withdrawal_reason` is optional). Withdrawal stops
further data entry but keeps all data (see `trialdesk.services.access`).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trialdesk.services.access import current_consent, get_participant, get_record
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.errors import RuleViolation, ValidationProblem
from trialdesk.services.study import version_in_force
from trialdesk.services.uow import add_record, change_record, service
from trialdesk.services.validate import not_after_today, required_text
from trialdesk.services.views import ConsentView
from trialdesk.store.enums import ParticipantStatus, Role, StudyEndReason
from trialdesk.store.models import Consent, Screening, User, Visit

CONSENT_TAKERS = frozenset({Role.INVESTIGATOR, Role.COORDINATOR})


def _obtainer(session: Session, user_id: int, site_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise ValidationProblem("obtained_by", f"user {user_id} is unknown or inactive")
    if not (user.role_set & CONSENT_TAKERS) or site_id not in user.site_ids:
        raise ValidationProblem(
            "obtained_by",
            f"{user.username} is not an investigator or coordinator of the participant's site",
        )
    return user


@service
def record_consent(
    session: Session,
    actor: Actor,
    participant_id: int,
    *,
    form_version: str,
    consented_on: date,
    obtained_by: int | None = None,
) -> ConsentView:
    """Record signed informed consent (a later one, e.g. to a revised form, supersedes)."""
    participant = get_participant(session, actor, participant_id, Permission.WRITE_CLINICAL)
    version = required_text(form_version, "form_version", 50)
    not_after_today(consented_on, "consented_on")
    previous = current_consent(session, participant.id)
    if previous is not None and previous.withdrawn_on is not None:
        raise RuleViolation(
            "consent_withdrawn",
            f"{participant.study_id} withdrew consent on {previous.withdrawn_on.isoformat()}; "
            "a withdrawn participant is not re-consented in this study",
            conflict=True,
        )
    if previous is not None and consented_on < previous.consented_on:
        raise ValidationProblem(
            "consented_on", f"is before the consent already on record ({previous.consented_on})"
        )
    obtainer = obtained_by if obtained_by is not None else actor.user_id
    if obtainer is None:
        raise ValidationProblem("obtained_by", "who obtained consent is required")
    _obtainer(session, obtainer, participant.site_id)
    in_force = version_in_force(session, consented_on)
    consent = Consent(
        participant_id=participant.id,
        form_version=version,
        consented_on=consented_on,
        obtained_by=obtainer,
        protocol_version=in_force.label if in_force else None,
    )
    add_record(session, actor, consent, participant)
    return ConsentView.model_validate(consent)


@service
def withdraw_consent(
    session: Session,
    actor: Actor,
    consent_id: int,
    *,
    withdrawn_on: date,
    expected_version: int,
    withdrawal_reason: str | None = None,
) -> ConsentView:
    """Record the participant's withdrawal of consent; ends their participation."""
    consent, participant = get_record(
        session, actor, Consent, consent_id, Permission.WRITE_CLINICAL
    )
    if consent.voided:
        raise RuleViolation("voided", f"consent {consent_id} is voided", conflict=True)
    if consent.withdrawn_on is not None:
        raise RuleViolation(
            "already_withdrawn",
            f"consent was already withdrawn on {consent.withdrawn_on.isoformat()}",
            conflict=True,
        )
    not_after_today(withdrawn_on, "withdrawn_on")
    if withdrawn_on < consent.consented_on:
        raise ValidationProblem("withdrawn_on", "is before the date consent was given")
    change_record(
        session,
        actor,
        consent,
        {"withdrawn_on": withdrawn_on, "withdrawal_reason": withdrawal_reason or None},
        reason="consent withdrawn by the participant",
        expected_version=expected_version,
        participant=participant,
    )
    if participant.ended_on is None:
        change_record(
            session,
            actor,
            participant,
            {
                "status": ParticipantStatus.WITHDRAWN,
                "ended_on": withdrawn_on,
                "end_reason": StudyEndReason.WITHDRAWAL_BY_SUBJECT,
            },
            reason="consent withdrawn by the participant",
            expected_version=None,
            participant=participant,
        )
    return ConsentView.model_validate(consent)


@service
def list_consents(
    session: Session, actor: Actor, participant_id: int, *, include_voided: bool = False
) -> list[ConsentView]:
    get_participant(session, actor, participant_id, Permission.READ_CLINICAL)
    query = select(Consent).where(Consent.participant_id == participant_id)
    if not include_voided:
        query = query.where(Consent.voided.is_(False))
    rows = session.scalars(query.order_by(Consent.consented_on, Consent.id))
    return [ConsentView.model_validate(c) for c in rows]


def _first_trial_data(session: Session, participant_id: int) -> date | None:
    """The earliest date of a live screening or visit: consent may not be dated after it."""
    screened = session.scalar(
        select(func.min(Screening.screened_on)).where(
            Screening.participant_id == participant_id, Screening.voided.is_(False)
        )
    )
    visited = session.scalar(
        select(func.min(Visit.visit_date)).where(
            Visit.participant_id == participant_id, Visit.voided.is_(False)
        )
    )
    known = [d for d in (screened, visited) if d is not None]
    return min(known) if known else None


@service
def update_consent(
    session: Session,
    actor: Actor,
    consent_id: int,
    *,
    expected_version: int,
    reason: str,
    form_version: str | None = None,
    consented_on: date | None = None,
) -> ConsentView:
    """Correct the form version or the date of a consent (a transcription error), with a reason.

    The corrected date must still precede every trial procedure (ICH E6(R2) 4.8.8) and any
    withdrawal; a withdrawal itself is recorded with `withdraw_consent`, never by a correction.
    """
    consent, participant = get_record(
        session, actor, Consent, consent_id, Permission.WRITE_CLINICAL
    )
    if consent.voided:
        raise RuleViolation("voided", f"consent {consent_id} is voided", conflict=True)
    changes: dict[str, object] = {}
    if form_version is not None:
        changes["form_version"] = required_text(form_version, "form_version", 50)
    if consented_on is not None:
        not_after_today(consented_on, "consented_on")
        first = _first_trial_data(session, participant.id)
        if first is not None and consented_on > first:
            raise ValidationProblem(
                "consented_on",
                f"is after the first trial procedure ({first.isoformat()}): consent must come "
                "before any screening procedure (ICH E6(R2) 4.8.8)",
            )
        if consent.withdrawn_on is not None and consented_on > consent.withdrawn_on:
            raise ValidationProblem("consented_on", "is after the withdrawal of this consent")
        changes["consented_on"] = consented_on
    change_record(
        session,
        actor,
        consent,
        changes,
        reason=reason,
        expected_version=expected_version,
        participant=participant,
    )
    return ConsentView.model_validate(consent)

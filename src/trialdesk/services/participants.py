"""Registering participants (pseudonymous study id + identifying data kept apart), reading
them site-scoped, and ending their participation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trialdesk.services.access import get_participant as load_participant
from trialdesk.services.access import not_found, require
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.crf_entries import Registration
from trialdesk.services.errors import Forbidden, RuleViolation, ValidationProblem
from trialdesk.services.listing import DEFAULT_LIMIT, paginate
from trialdesk.services.uow import add_record, change_record, service
from trialdesk.services.validate import not_after_today, required_text
from trialdesk.services.views import IdentityView, Page, ParticipantView
from trialdesk.store import audit
from trialdesk.store.enums import ParticipantStatus, StudyEndReason
from trialdesk.store.models import Participant, ParticipantIdentity, Site

SEXES = ("F", "M")
END_STATUS = {
    StudyEndReason.COMPLETED: ParticipantStatus.COMPLETED,
    StudyEndReason.DEATH: ParticipantStatus.DIED,
    StudyEndReason.LOST_TO_FOLLOW_UP: ParticipantStatus.LOST_TO_FOLLOW_UP,
    StudyEndReason.SCREEN_FAILURE: ParticipantStatus.SCREEN_FAILED,
}


def participant_view(p: Participant) -> ParticipantView:
    fields = {
        name: getattr(p, name) for name in ParticipantView.model_fields if name != "site_code"
    }
    return ParticipantView.model_validate({**fields, "site_code": p.site.code})


def _sex(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip().upper()
    if text not in SEXES:
        raise ValidationProblem("sex", f"{value!r} is not F or M")
    return text


def _date_of_birth(value: date, on: date) -> date:
    if not isinstance(value, date):
        raise ValidationProblem("date_of_birth", f"{value!r} is not a date")
    if value >= on:
        raise ValidationProblem("date_of_birth", f"{value.isoformat()} is not before {on}")
    if (on - value).days > 120 * 366:
        raise ValidationProblem("date_of_birth", f"{value.isoformat()} means an age over 120")
    return value


def _next_study_id(session: Session, site: Site) -> str:
    # Called under the audit chain lock, so two registrations cannot take the same number.
    # After the count, past the highest number in use: an import keeps its source's study
    # ids, gaps included (issue 15), so the count alone could hand out a taken id.
    count = session.scalar(
        select(func.count()).select_from(Participant).where(Participant.site_id == site.id)
    )
    taken = session.scalars(select(Participant.study_id).where(Participant.site_id == site.id))
    numbers = [int(m["n"]) for sid in taken if (m := _STUDY_ID.match(sid or ""))]
    return f"{site.code}-{max([count or 0, *numbers]) + 1:03d}"


_STUDY_ID = re.compile(r"^[A-Z0-9]+-(?P<n>\d{3,6})$")


def _kept_study_id(session: Session, site: Site, study_id: str) -> str:
    """A study id given by an import (the source's): ``<SITE>-NNN`` of this site, not taken."""
    if not study_id.startswith(f"{site.code}-") or not _STUDY_ID.match(study_id):
        raise ValidationProblem(
            "study_id", f"{study_id!r} is not a study id of site {site.code} ({site.code}-NNN)"
        )
    taken = session.scalar(select(Participant.id).where(Participant.study_id == study_id))
    if taken is not None:
        raise RuleViolation(
            "study_id_taken",
            f"study id {study_id} is already used in this database",
            "study_id",
            conflict=True,
        )
    return study_id


@service
def register_participant(
    session: Session,
    actor: Actor,
    registration: Registration,
) -> ParticipantView:
    """Register a candidate at a site: a study id ``<SITE>-NNN`` and a separate identity row.
    `study_id`: keep the one a study exported from elsewhere gave (imports only)."""
    site = session.scalars(select(Site).where(Site.code == registration.site_code)).first()
    if site is None:
        raise ValidationProblem("site_code", f"unknown site {registration.site_code!r}")
    if not actor.sees_site(site.id):
        raise Forbidden(
            "site_not_assigned",
            f"{actor} does not belong to site {site.code}",
            table="participants",
            site_id=site.id,
        )
    require(actor, Permission.WRITE_CLINICAL, table="participants", site_id=site.id)
    not_after_today(registration.registered_on, "registered_on")
    dob = _date_of_birth(registration.date_of_birth, registration.registered_on)
    audit.lock_chain(session)
    participant = Participant(
        study_id=(
            _next_study_id(session, site)
            if registration.study_id is None
            else _kept_study_id(session, site, registration.study_id)
        ),
        site_id=site.id,
        site=site,
        sex=_sex(registration.sex),
        status=ParticipantStatus.SCREENING,
        registered_on=registration.registered_on,
    )
    add_record(session, actor, participant, participant)
    identity = ParticipantIdentity(
        participant_id=participant.id,
        full_name=required_text(registration.full_name, "full_name"),
        date_of_birth=dob,
        medical_record_number=registration.medical_record_number,
        phone=registration.phone,
        email=registration.email,
        address=registration.address,
    )
    add_record(session, actor, identity, participant)
    return participant_view(participant)


@service
def get_participant(session: Session, actor: Actor, participant_id: int) -> ParticipantView:
    return participant_view(
        load_participant(session, actor, participant_id, Permission.READ_CLINICAL)
    )


@service
def find_participant(session: Session, actor: Actor, study_id: str) -> ParticipantView:
    """A participant by study id (e.g. ``APGH-001``), site-scoped like `get_participant`."""
    found = session.scalars(select(Participant).where(Participant.study_id == study_id)).first()
    if found is None:
        raise not_found("participants", study_id)
    return participant_view(load_participant(session, actor, found.id, Permission.READ_CLINICAL))


@service
def list_participants(
    session: Session,
    actor: Actor,
    *,
    site_code: str | None = None,
    status: ParticipantStatus | str | None = None,
    include_voided: bool = False,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> Page[ParticipantView]:
    """The actor's sites' participants by study id (other sites are silently out of scope)."""
    require(actor, Permission.READ_CLINICAL, table="participants")
    query = (
        select(Participant)
        .where(Participant.site_id.in_(actor.site_ids))
        .order_by(Participant.study_id)
    )
    if site_code is not None:
        query = query.join(Site, Site.id == Participant.site_id).where(Site.code == site_code)
    if status is not None:
        try:
            query = query.where(Participant.status == ParticipantStatus(status))
        except ValueError:
            raise ValidationProblem("status", f"{status!r} is not a participant status") from None
    if not include_voided:
        query = query.where(Participant.voided.is_(False))
    return paginate(session, query, limit, offset, participant_view)


def _identity(session: Session, participant_id: int) -> ParticipantIdentity:
    identity = session.scalars(
        select(ParticipantIdentity).where(ParticipantIdentity.participant_id == participant_id)
    ).first()
    if identity is None:
        raise not_found("participant_identities", participant_id)
    return identity


@service
def get_identity(session: Session, actor: Actor, participant_id: int) -> IdentityView:
    """Name, date of birth and contact details (never for statisticians)."""
    load_participant(session, actor, participant_id, Permission.READ_IDENTITY)
    return IdentityView.model_validate(_identity(session, participant_id))


@dataclass(frozen=True)
class IdentityCorrection:
    """New identifying details of a participant; None leaves a detail as it is."""

    full_name: str | None = None
    date_of_birth: date | None = None
    medical_record_number: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None


@service
def update_identity(
    session: Session,
    actor: Actor,
    participant_id: int,
    correction: IdentityCorrection,
    *,
    expected_version: int,
    reason: str,
) -> IdentityView:
    """Correct a participant's identifying details (audited, with a reason)."""
    participant = load_participant(session, actor, participant_id, Permission.WRITE_CLINICAL)
    identity = _identity(session, participant_id)
    changes: dict[str, object] = {
        k: v
        for k, v in {
            "medical_record_number": correction.medical_record_number,
            "phone": correction.phone,
            "email": correction.email,
            "address": correction.address,
        }.items()
        if v is not None
    }
    if correction.full_name is not None:
        changes["full_name"] = required_text(correction.full_name, "full_name")
    if correction.date_of_birth is not None:
        changes["date_of_birth"] = _date_of_birth(
            correction.date_of_birth, participant.registered_on
        )
    change_record(
        session,
        actor,
        identity,
        changes,
        reason=reason,
        expected_version=expected_version,
        participant=participant,
    )
    return IdentityView.model_validate(identity)


@service
def update_participant(
    session: Session,
    actor: Actor,
    participant_id: int,
    *,
    expected_version: int,
    reason: str,
    sex: str | None = None,
) -> ParticipantView:
    participant = load_participant(session, actor, participant_id, Permission.WRITE_CLINICAL)
    changes = {"sex": _sex(sex)} if sex is not None else {}
    change_record(
        session,
        actor,
        participant,
        changes,
        reason=reason,
        expected_version=expected_version,
        participant=participant,
    )
    return participant_view(participant)


@service
def end_participation(
    session: Session,
    actor: Actor,
    participant_id: int,
    *,
    ended_on: date,
    end_reason: StudyEndReason | str,
    expected_version: int,
    reason: str | None = None,
) -> ParticipantView:
    """Record the end of a participant's participation (completion, death, lost to follow-up,
    withdrawal by the investigator …). Consent withdrawal has its own service."""
    participant = load_participant(session, actor, participant_id, Permission.WRITE_CLINICAL)
    try:
        why = StudyEndReason(end_reason)
    except ValueError:
        choices = ", ".join(r.value for r in StudyEndReason)
        raise ValidationProblem("end_reason", f"{end_reason!r} is not one of {choices}") from None
    if participant.ended_on is not None:
        raise RuleViolation(
            "already_ended",
            f"{participant.study_id} already ended on {participant.ended_on.isoformat()}",
            conflict=True,
        )
    not_after_today(ended_on, "ended_on")
    if ended_on < participant.registered_on:
        raise ValidationProblem("ended_on", "is before the registration date")
    status = END_STATUS.get(why, ParticipantStatus.WITHDRAWN)
    change_record(
        session,
        actor,
        participant,
        {"ended_on": ended_on, "end_reason": why, "status": status},
        reason=reason or f"participation ended: {why.value}",
        expected_version=expected_version,
        participant=participant,
    )
    return participant_view(participant)

"""Loading records on behalf of an actor: site scoping, role checks and the consent gate.

* Another site's record (or no record at all) → `NotFound`, so existence is not revealed.
* A record the actor may see but not act on in that way → `Forbidden`.
* Trial data for a participant need recorded consent (ICH E6(R2) 4.8.8: consent before any trial
  procedure); after a withdrawal, data dated after the withdrawal date are refused, while data
  collected before it stay and can still be entered and corrected (FDA Guidance "Data Retention
  When Subjects Withdraw from FDA-Regulated Clinical Trials", 2008).
* A participant who must re-consent to the form a protocol amendment introduced gets no new data
  dated from that amendment on until they do; adverse events are still reported (safety is never
  blocked: ICH E6(R3)).
"""

from __future__ import annotations

from datetime import date
from typing import Any, TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from trialdesk.services.actor import ROLE_PERMISSIONS, Actor, Permission
from trialdesk.services.errors import Forbidden, NotFound, RuleViolation
from trialdesk.services.labels import record_label
from trialdesk.store.models import Consent, Enrollment, Participant, Visit

T = TypeVar("T")

PERMISSION_TEXT: dict[Permission, str] = {
    Permission.READ_CLINICAL: "read clinical data",
    Permission.READ_IDENTITY: "read identifying data (name, date of birth, contact)",
    Permission.WRITE_CLINICAL: "enter or change clinical data",
    Permission.RAISE_QUERY: "raise data queries",
    Permission.ANSWER_QUERY: "answer data queries",
    Permission.CLOSE_QUERY: "close data queries",
    Permission.OVERRIDE_ENROLLMENT_TARGET: "enroll beyond the protocol's target",
    Permission.SIGN: "sign off a casebook",
    Permission.READ_AUDIT: "read the audit trail",
    Permission.MANAGE_USERS: "manage users and sites",
    Permission.VERIFY_SOURCE: "mark data verified against source or reviewed",
    Permission.CODE_TERMS: "code adverse event terms and medications",
    Permission.LOAD_DICTIONARY: "load a coding dictionary",
    Permission.CONFIRM_SAFETY: (
        "confirm causality, expectedness or the severity grade of an adverse event"
    ),
    Permission.LOCK_DATA: "lock data",
    Permission.UNLOCK_DATA: "unlock data",
}


def require(actor: Actor, permission: Permission, **context: Any) -> None:
    """`Forbidden` unless one of the actor's roles grants `permission`."""
    if actor.can(permission):
        return
    allowed = sorted(r.value for r, perms in ROLE_PERMISSIONS.items() if permission in perms)
    raise Forbidden(
        f"{permission.value}_not_allowed",
        f"{actor} may not {PERMISSION_TEXT[permission]}: that needs the role "
        f"{' or '.join(allowed)}",
        **context,
    )


def not_found(table: str, record_id: Any, **context: Any) -> NotFound:
    label = record_label(table)
    return NotFound(
        "not_found", f"{label} {record_id} not found", table=table, record_id=record_id, **context
    )


# Hot statements (every request about a participant runs them) are built once, with bound
# parameters: building and cache-keying a statement cost as much as running it.
_PARTICIPANT = select(Participant).where(Participant.id == bindparam("id"))


def get_participant(
    session: Session, actor: Actor, participant_id: int, permission: Permission
) -> Participant:
    participant = session.scalars(_PARTICIPANT, {"id": participant_id}).first()
    if participant is None or not actor.sees_site(participant.site_id):
        raise not_found(
            "participants",
            participant_id,
            site_id=participant.site_id if participant else None,
            participant_id=participant_id if participant else None,
        )
    require(
        actor,
        permission,
        table="participants",
        record_id=participant_id,
        site_id=participant.site_id,
        participant_id=participant_id,
    )
    return participant


def get_record(
    session: Session, actor: Actor, model: type[T], record_id: int, permission: Permission
) -> tuple[T, Participant]:
    """A participant-owned record and its participant, site-scoped and role-checked."""
    row: Any = session.get(model, record_id)
    table = model.__tablename__  # type: ignore[attr-defined]
    participant = session.get(Participant, row.participant_id) if row is not None else None
    if row is None or participant is None or not actor.sees_site(participant.site_id):
        raise not_found(
            table,
            record_id,
            site_id=participant.site_id if participant else None,
            participant_id=participant.id if participant else None,
        )
    require(
        actor,
        permission,
        table=table,
        record_id=record_id,
        site_id=participant.site_id,
        participant_id=participant.id,
    )
    return row, participant


# Every value entered runs these two: built once as well.
_CURRENT_CONSENT = (
    select(Consent)
    .where(Consent.participant_id == bindparam("participant_id"), Consent.voided.is_(False))
    .order_by(Consent.consented_on.desc(), Consent.id.desc())
    .limit(1)
)
_LIVE_VISIT = select(Visit).where(
    Visit.participant_id == bindparam("participant_id"),
    Visit.code == bindparam("code"),
    Visit.voided.is_(False),
)


def current_consent(session: Session, participant_id: int) -> Consent | None:
    """The latest non-voided consent (a re-consent to a new form version supersedes)."""
    return session.scalars(_CURRENT_CONSENT, {"participant_id": participant_id}).first()


def consent_in_effect(session: Session, participant_id: int, on: date) -> Consent | None:
    """The consent that covered `on`: the latest non-voided one signed on or before that date.
    A re-consent signed later (a new form version) does not undo an earlier consent for the
    days it covered (ICH E6(R2) 4.8.2: the revised form is signed from then on)."""
    return session.scalars(
        select(Consent)
        .where(
            Consent.participant_id == participant_id,
            Consent.voided.is_(False),
            Consent.consented_on <= on,
        )
        .order_by(Consent.consented_on.desc(), Consent.id.desc())
        .limit(1)
    ).first()


def current_enrollment(session: Session, participant_id: int) -> Enrollment | None:
    return session.scalars(
        select(Enrollment).where(
            Enrollment.participant_id == participant_id, Enrollment.voided.is_(False)
        )
    ).first()


def live_visit(session: Session, participant_id: int, code: str) -> Visit | None:
    return session.scalars(_LIVE_VISIT, {"participant_id": participant_id, "code": code}).first()


def require_data_entry(
    session: Session, participant: Participant, on: date, *, safety_report: bool = False
) -> Consent:
    """The consent gate for new trial data dated `on` (see module docstring).

    A `safety_report` (an adverse event) passes a pending re-consent, never a missing or
    withdrawn consent's date limit."""
    consent = current_consent(session, participant.id)
    if consent is None:
        raise RuleViolation(
            "consent_required",
            f"{participant.study_id} has no recorded informed consent: no trial data can be "
            "entered before consent (ICH E6(R2) 4.8.8)",
        )
    if consent.withdrawn_on is not None and on > consent.withdrawn_on:
        raise RuleViolation(
            "consent_withdrawn",
            f"{participant.study_id} withdrew consent on {consent.withdrawn_on.isoformat()}: "
            f"no data dated after it ({on.isoformat()}) can be entered; data collected before "
            "the withdrawal are kept",
            conflict=True,
        )
    if not safety_report:
        # ICH E6(R3) §2.8 (informed consent; E6(R2) 4.8.2): a participant is informed of new
        # information and re-consents before taking part further. Safety reporting is never
        # blocked (ICH E6(R3) §2.7, participant medical care and safety reporting; ICH E2A):
        # a participant owing a signature must still have their adverse events recorded.
        _require_current_form(session, participant, on)
    return consent


def _require_current_form(session: Session, participant: Participant, on: date) -> None:
    # Imported here: protocol_versions reads consents through this module.
    from trialdesk.services.protocol_versions import reconsent_due

    due = reconsent_due(session, participant)
    if due is None or on < due.required_since:
        return  # data dated before the new form was required are judged under the old one
    form = due.required_form_version
    label = form if form.upper().startswith("ICF") else f"ICF {form}"
    raise RuleViolation(
        "reconsent_required",
        f"participant {participant.study_id} must re-consent to {label} before new data are "
        f"entered (protocol version {due.protocol_version}, in force from "
        f"{due.required_since.isoformat()}; signed form {due.signed_form_version} on "
        f"{due.signed_on.isoformat()}). Record the re-consent first; adverse events can still "
        "be reported.",
        conflict=True,
        participant_id=participant.id,
    )


def require_enrolled(session: Session, participant: Participant, what: str) -> Enrollment:
    enrollment = current_enrollment(session, participant.id)
    if enrollment is None:
        raise RuleViolation(
            "not_enrolled",
            f"{participant.study_id} is not enrolled: {what} is recorded for enrolled "
            "participants only",
            conflict=True,
        )
    return enrollment

"""The investigator's electronic signature of a participant's casebook.

21 CFR 11.50: the signature shows the signer's printed name, the date and time, and its
meaning (e.g. review, approval). 21 CFR 11.200(a): a non-biometric signature uses two
components — here the signed-in user and their password, re-entered at signing. The signature
records the audit sequence it covers, so that a later change to the casebook shows the
signature no longer covers the latest data.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trialdesk.services.access import get_participant
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.errors import Unauthenticated, ValidationProblem
from trialdesk.services.passwords import verify_password
from trialdesk.services.uow import add_record, service
from trialdesk.services.validate import required_text
from trialdesk.services.views import SignatureView
from trialdesk.store import audit
from trialdesk.store.models import AuditEntry, Signature, User
from trialdesk.store.types import utcnow

DEFAULT_MEANING = (
    "I have reviewed the data in this casebook and confirm that they are accurate and complete "
    "to the best of my knowledge."
)


@service
def sign_casebook(
    session: Session,
    actor: Actor,
    participant_id: int,
    *,
    password: str,
    meaning: str = DEFAULT_MEANING,
) -> SignatureView:
    participant = get_participant(session, actor, participant_id, Permission.SIGN)
    user = session.get(User, actor.user_id) if actor.user_id is not None else None
    if user is None:
        raise ValidationProblem("actor", "only a person can sign")
    if not verify_password(user.password_hash, password or ""):
        raise Unauthenticated("signature_password", "the password is wrong: not signed")
    last_sequence, _ = audit.lock_chain(session)
    row = Signature(
        participant_id=participant.id,
        signed_by=user.id,
        signer_name=user.full_name,
        signed_at=utcnow(),
        meaning=required_text(meaning, "meaning", 2000),
        audit_sequence=last_sequence,
    )
    add_record(session, actor, row, participant)
    return SignatureView.model_validate(row)


@service
def list_signatures(session: Session, actor: Actor, participant_id: int) -> list[SignatureView]:
    get_participant(session, actor, participant_id, Permission.READ_CLINICAL)
    rows = session.scalars(
        select(Signature)
        .where(Signature.participant_id == participant_id, Signature.voided.is_(False))
        .order_by(Signature.signed_at)
    )
    return [SignatureView.model_validate(r) for r in rows]


def changed_since_signature(session: Session, signature: SignatureView) -> bool:
    """Was anything about the participant changed after the signature (other than signing)?"""
    later = session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(
            AuditEntry.participant_id == signature.participant_id,
            AuditEntry.sequence > signature.audit_sequence,
            AuditEntry.table_name != Signature.__tablename__,
            AuditEntry.action != "refuse",
        )
    )
    return bool(later)

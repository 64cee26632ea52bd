"""The investigator's electronic signature of a participant's casebook.

21 CFR 11.50: the signature shows the signer's printed name, the date and time, and its
meaning (e.g. review, approval); the meaning comes from the protocol (`signature_meaning`).
21 CFR 11.200(a)(1): a non-biometric signature uses two distinct components — here the
signed-in user and their password, re-entered at signing (and the authenticator code when the
account has one, `services.totp`). 21 CFR 11.70: the signature is linked to its record so it
cannot be excised, copied or transferred: it stores the audit sequence it covers, the SHA-256
of the casebook's audit entries up to it (`content_hash`: each entry's chain hash covers the
old and new values) and the SHA-256 of that hash with the signer, time and meaning
(`signature_hash`). `signature_state` recomputes both: a signature copied onto another
casebook or edited no longer matches ("invalid"); a change audited after signing leaves it
"broken" with what changed, by whom and when, until the investigator signs again (the old
signature is kept).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trialdesk.protocol.model import DEFAULT_SIGNATURE_MEANING
from trialdesk.services.access import get_participant
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.errors import Unauthenticated, ValidationProblem
from trialdesk.services.labels import record_label
from trialdesk.services.passwords import verify_password
from trialdesk.services.totp import matching_step, opened
from trialdesk.services.uow import add_record, service
from trialdesk.services.validate import required_text
from trialdesk.services.views import SignatureView
from trialdesk.store import audit
from trialdesk.store.models import AuditEntry, Participant, Signature, User
from trialdesk.store.types import utcnow

DEFAULT_MEANING = DEFAULT_SIGNATURE_MEANING
NOT_CHANGES = ("signatures", "sdv_marks", "data_locks")
"""Audit entries that do not change the casebook's data (a signature, the monitor's marks, a
lock), so they neither break a signature nor enter its content hash."""


def _casebook_entries(session: Session, participant_id: int, upto: int) -> list[str]:
    return list(
        session.scalars(
            select(AuditEntry.hash)
            .where(
                AuditEntry.participant_id == participant_id,
                AuditEntry.sequence <= upto,
                AuditEntry.table_name.not_in(NOT_CHANGES),
                AuditEntry.action != "refuse",
            )
            .order_by(AuditEntry.sequence)
        )
    )


def content_hash(session: Session, participant_id: int, upto: int) -> str:
    """SHA-256 over the chain hashes of the casebook's audit entries up to sequence `upto`."""
    digest = hashlib.sha256(f"casebook:{participant_id}:{upto}".encode())
    for entry_hash in _casebook_entries(session, participant_id, upto):
        digest.update(entry_hash.encode("ascii"))
    return digest.hexdigest()


def signature_hash(row: Signature | SignatureView, study_id: str, content: str) -> str:
    """SHA-256 binding signer, printed name, time, meaning and casebook content together."""
    manifest = {
        "participant_id": row.participant_id,
        "study_id": study_id,
        "signed_by": row.signed_by,
        "signer_name": row.signer_name,
        "signed_at": row.signed_at,
        "meaning": row.meaning,
        "audit_sequence": row.audit_sequence,
        "content_hash": content,
    }
    return hashlib.sha256(audit.canonical_json(manifest).encode("utf-8")).hexdigest()


def signature_meaning(session: Session) -> str:
    """The meaning the protocol in force gives the casebook signature."""
    from trialdesk.services.study import current_protocol

    return current_protocol(session).signature_meaning


def _second_factor(user: User, code: str | None) -> None:
    """An account with an authenticator signs with its code too (21 CFR 11.200(a)(1))."""
    if user.totp_secret is None:
        return
    now = utcnow()
    step = matching_step(opened(user.totp_secret), (code or "").strip(), now, user.totp_last_step)
    if step is None:
        raise Unauthenticated(
            "signature_code", "the authenticator code is wrong or already used: not signed"
        )
    user.totp_last_step = step


@service
def sign_casebook(
    session: Session,
    actor: Actor,
    participant_id: int,
    *,
    password: str,
    code: str | None = None,
    meaning: str | None = None,
) -> SignatureView:
    """Sign the casebook as it stands (the meaning defaults to the protocol's)."""
    participant = get_participant(session, actor, participant_id, Permission.SIGN)
    user = session.get(User, actor.user_id) if actor.user_id is not None else None
    if user is None:
        raise ValidationProblem("actor", "only a person can sign")
    if not verify_password(user.password_hash, password or ""):
        raise Unauthenticated(
            "signature_password",
            "the password is wrong: not signed",
            "password",
            participant_id=participant.id,
            site_id=participant.site_id,
        )
    _second_factor(user, code)
    last_sequence, _ = audit.lock_chain(session)
    row = Signature(
        participant_id=participant.id,
        signed_by=user.id,
        signer_name=user.full_name,
        signed_at=utcnow().replace(microsecond=0),
        meaning=required_text(meaning or signature_meaning(session), "meaning", 2000),
        audit_sequence=last_sequence,
    )
    row.content_hash = content_hash(session, participant.id, last_sequence)
    row.signature_hash = signature_hash(row, participant.study_id, row.content_hash)
    add_record(session, actor, row, participant)
    return SignatureView.model_validate(row)


@service
def list_signatures(session: Session, actor: Actor, participant_id: int) -> list[SignatureView]:
    get_participant(session, actor, participant_id, Permission.READ_CLINICAL)
    rows = session.scalars(
        select(Signature)
        .where(Signature.participant_id == participant_id, Signature.voided.is_(False))
        .order_by(Signature.signed_at, Signature.id)
    )
    return [SignatureView.model_validate(r) for r in rows]


@dataclass(frozen=True)
class LaterChange:
    """A change audited after the signature, in a site's words."""

    what: str
    who: str
    when: datetime
    reason: str | None


@dataclass(frozen=True)
class SignatureState:
    """The latest signature of a casebook and whether it still holds."""

    signature: SignatureView | None
    state: str  # "unsigned", "valid", "broken" (data changed since), "invalid" (hash mismatch)
    changes: list[LaterChange] = field(default_factory=list)
    earlier: list[SignatureView] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """One line for pages and exports."""
        sig = self.signature
        if sig is None:
            return "Not signed"
        head = f"Signed by {sig.signer_name}, {sig.signed_at:%Y-%m-%d %H:%M} UTC"
        if self.state == "broken":
            return f"{head}: broken — data changed after signing"
        if self.state == "invalid":
            return f"{head}: invalid — the signature does not match the casebook it is on"
        return f"{head}, meaning: {sig.meaning}"


def _later_changes(session: Session, sig: SignatureView, limit: int = 20) -> list[LaterChange]:
    rows = session.execute(
        select(AuditEntry, User.full_name)
        .outerjoin(User, User.id == AuditEntry.user_id)
        .where(
            AuditEntry.participant_id == sig.participant_id,
            AuditEntry.sequence > sig.audit_sequence,
            AuditEntry.table_name.not_in(NOT_CHANGES),
            AuditEntry.action != "refuse",
        )
        .order_by(AuditEntry.sequence)
        .limit(limit)
    ).all()
    return [
        LaterChange(
            what=f"{record_label(e.table_name)} {_action_word(e.action)}"
            + (f" ({', '.join(k.replace('_', ' ') for k in _fields(e))})" if _fields(e) else ""),
            who=name or "system",
            when=e.occurred_at,
            reason=e.reason,
        )
        for e, name in rows
    ]


def _action_word(action: str) -> str:
    return {"create": "entered", "update": "changed", "void": "voided"}.get(action, action)


def _fields(entry: AuditEntry) -> list[str]:
    if entry.action == "create":
        return []
    try:
        changes = json.loads(entry.changes)
    except ValueError:
        return []
    skip = {"version", "updated_at", "updated_by", "voided_at", "voided_by"}
    return [k for k in changes if k not in skip][:4] if isinstance(changes, dict) else []


def verify_signature(session: Session, sig: SignatureView) -> bool:
    """Do the stored hashes still match the casebook and the signature's own fields?"""
    if sig.content_hash is None or sig.signature_hash is None:
        return True  # signed before migration 0015: only the audit sequence binds it
    participant = session.get(Participant, sig.participant_id)
    study_id = participant.study_id if participant else ""
    content = content_hash(session, sig.participant_id, sig.audit_sequence)
    return content == sig.content_hash and sig.signature_hash == signature_hash(
        sig, study_id, content
    )


@service
def signature_state(session: Session, actor: Actor, participant_id: int) -> SignatureState:
    """The latest signature, whether it holds, and what changed after it (21 CFR 11.70)."""
    signatures = list_signatures(session, actor, participant_id)
    if not signatures:
        return SignatureState(None, "unsigned")
    latest, earlier = signatures[-1], signatures[:-1]
    if not verify_signature(session, latest):
        return SignatureState(latest, "invalid", earlier=earlier)
    changes = _later_changes(session, latest)
    return SignatureState(latest, "broken" if changes else "valid", changes, earlier)


def changed_since_signature(session: Session, signature: SignatureView) -> bool:
    """Was anything about the participant changed after the signature (other than signing)?"""
    later = session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(
            AuditEntry.participant_id == signature.participant_id,
            AuditEntry.sequence > signature.audit_sequence,
            AuditEntry.table_name.not_in(NOT_CHANGES),
            AuditEntry.action != "refuse",
        )
    )
    return bool(later)


@dataclass(frozen=True)
class SigningForm:
    """What the signing page shows before the password is asked (21 CFR 11.50)."""

    printed_name: str
    meaning: str
    needs_code: bool


@service
def signing_form(session: Session, actor: Actor, participant_id: int) -> SigningForm:
    get_participant(session, actor, participant_id, Permission.SIGN)
    user = session.get(User, actor.user_id) if actor.user_id is not None else None
    if user is None:
        raise ValidationProblem("actor", "only a person can sign")
    return SigningForm(user.full_name, signature_meaning(session), user.totp_secret is not None)

"""REDCap API tokens: long-lived, per user, made by an administrator (REDCap "API" page: a user
is granted API rights and a token per project; [@REDCap] API documentation).

A REDCap token is 32 hexadecimal characters (upper case, as REDCap shows them) — PyCap refuses
any other length. It is an `api_tokens` row of kind ``api`` labelled `REDCAP_LABEL`, valid on
/redcap/api/ only (and a bearer token is not valid there), stored as its SHA-256 like every
token (shown once), audited when issued and revoked, acting with the user's roles and sites.
Unlike a sign-in token it has no idle timeout (scripts call the API now and then), but it does
expire: at most `MAX_TOKEN_LIFETIME` (90 days) after it was made.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.services.access import require
from trialdesk.services.accounts import (
    MAX_TOKEN_LIFETIME,
    REDCAP_LABEL,
    resolve_token,
    token_digest,
)
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.errors import NotFound, Unauthenticated, ValidationProblem
from trialdesk.services.uow import add_record, require_reason, service
from trialdesk.services.views import IssuedToken
from trialdesk.store import audit
from trialdesk.store.enums import AuditAction, TokenKind
from trialdesk.store.models import ApiToken, User
from trialdesk.store.types import utcnow

_FORMAT = re.compile(r"^[0-9A-Fa-f]{32}$")


@service
def issue_redcap_token(
    session: Session, actor: Actor, user_id: int, *, days: int = 90
) -> IssuedToken:
    """A new REDCap API token for user `user_id` (administrators only), valid `days` days."""
    require(actor, Permission.MANAGE_USERS, table="api_tokens")
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise NotFound("user_not_found", f"no active user {user_id}", field="user_id")
    lifetime = timedelta(days=days)
    if days < 1 or lifetime > MAX_TOKEN_LIFETIME:
        raise ValidationProblem(
            "days", f"must be between 1 and {MAX_TOKEN_LIFETIME.days} days, not {days}"
        )
    secret = secrets.token_hex(16).upper()
    now = utcnow()
    row = ApiToken(
        user_id=user.id,
        kind=TokenKind.API,
        token_hash=token_digest(secret),
        label=REDCAP_LABEL,
        created_at=now,
        expires_at=now + lifetime,
        idle_timeout_seconds=None,
    )
    add_record(session, actor, row)
    return IssuedToken(
        token=secret, token_id=row.id, kind=row.kind, user_id=user.id, expires_at=row.expires_at
    )


def resolve_redcap_token(session: Session, token: str) -> Actor:
    """The user a REDCap token belongs to: `Unauthenticated` when it is not 32 hexadecimal
    characters, not a REDCap token, unknown, revoked or expired."""
    text = (token or "").strip()
    if not _FORMAT.match(text):
        raise Unauthenticated("invalid_token", "the token must be 32 hexadecimal characters")
    return resolve_token(session, text.upper(), redcap=True)


@service
def revoke_redcap_tokens(session: Session, actor: Actor, user_id: int, *, reason: str) -> int:
    """Revoke every live REDCap token of user `user_id` (administrators only), each audited
    with the reason; returns how many were revoked."""
    require(actor, Permission.MANAGE_USERS, table="api_tokens")
    why = require_reason(reason)
    rows = session.scalars(
        select(ApiToken).where(
            ApiToken.user_id == user_id,
            ApiToken.label == REDCAP_LABEL,
            ApiToken.revoked_at.is_(None),
        )
    ).all()
    now = utcnow()
    for row in rows:
        row.revoked_at = now
        audit.append(
            session,
            audit.NewEntry(
                user_id=actor.user_id,
                action=AuditAction.LOGOUT,
                table="api_tokens",
                record_id=row.id,
                changes={"revoked_at": [None, now]},
                reason=why,
            ),
        )
    return len(rows)

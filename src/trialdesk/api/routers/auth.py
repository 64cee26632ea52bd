"""Sign in (username + password, then the second factor when the account has or needs one →
bearer token with expiry), sign out, who am I, and the security policy (administrators).

A token is issued only after every step (21 CFR 11.300; EU GMP Annex 11 §12.1; NIST SP 800-63B
§4.2): ``POST /auth/token`` answers either the token, or ``next_step`` (``totp`` or
``enrol_totp``) with a ``challenge`` to send to ``/auth/token/code`` or
``/auth/totp/enrolment`` + ``/auth/totp/enrolment/confirm``. An account whose password was set
by an administrator, or older than the policy's maximum age, gets 403
``password_change_required`` until ``/auth/password-change``; a password close to that age gets
a ``password_warning`` with its token.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from trialdesk.api.deps import ActorDep, SessionDep, TokenDep, set_etag
from trialdesk.api.openapi import error_responses
from trialdesk.api.routing import EventLoopRoute, on_thread
from trialdesk.api.schemas import Body
from trialdesk.services.accounts import TOKEN_LIFETIME, get_user, revoke_token
from trialdesk.services.errors import Forbidden
from trialdesk.services.security_policy import (
    PolicySettings,
    PolicyView,
    get_security_policy,
    set_security_policy,
)
from trialdesk.services.signin import (
    LoginStep,
    PasswordChangeAtSignIn,
    change_password_at_sign_in,
    confirm_totp_enrolment,
    start_login,
    start_totp_enrolment,
    submit_code,
)
from trialdesk.services.views import UserView
from trialdesk.store.enums import Role, TokenKind
from trialdesk.store.types import utcnow

router = APIRouter(prefix="/auth", tags=["auth"], route_class=EventLoopRoute)

_DEFAULT_MINUTES = int(TOKEN_LIFETIME[TokenKind.API] / timedelta(minutes=1))
_LIFETIME = Field(
    None,
    ge=1,
    le=_DEFAULT_MINUTES,
    description=f"Ask for a shorter-lived token (default and maximum {_DEFAULT_MINUTES}).",
)


class TokenRequest(Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    lifetime_minutes: int | None = _LIFETIME


class CodeRequest(Body):
    challenge: str = Field(min_length=1, max_length=200, description="From POST /auth/token")
    code: str = Field(
        min_length=1,
        max_length=40,
        description="The 6-digit code of the authenticator app, or a recovery code",
    )
    lifetime_minutes: int | None = _LIFETIME


class ChallengeRequest(Body):
    challenge: str = Field(min_length=1, max_length=200)


class PasswordChangeRequest(Body):
    username: str = Field(min_length=1, max_length=64)
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(max_length=1024)
    totp_code: str | None = Field(None, max_length=40, description="When the account has one")
    lifetime_minutes: int | None = _LIFETIME


class TokenResponse(BaseModel):
    """OAuth 2.0 style bearer token (RFC 6750), shown once and stored only as a hash; or, while
    a step remains, `next_step` and the `challenge` to continue with (valid 10 minutes)."""

    access_token: str | None = None
    token_type: str = "bearer"
    expires_at: datetime | None = None
    expires_in: int | None = Field(None, description="Seconds until the token expires")
    next_step: str = Field("done", description="done, totp or enrol_totp")
    challenge: str | None = None
    challenge_expires_at: datetime | None = None
    recovery_codes: list[str] = Field(
        default_factory=list, description="After enrolment only: shown once, keep them safe"
    )
    password_warning: str | None = Field(
        None, description="The password expires soon (security policy: maximum age)"
    )


class EnrolmentResponse(BaseModel):
    """The new authenticator secret: add it to the app (QR code of `otpauth_uri`, or type
    `secret`), then confirm with a first code. Shown once."""

    secret: str
    otpauth_uri: str


class PolicyChange(Body):
    reason: str = Field(min_length=1, description="Why the policy changes (audited)")
    site_code: str | None = Field(None, description="A site's override; omit for study-wide")
    totp_roles: list[Role] | None = None
    lockout_threshold: int | None = None
    lockout_minutes: int | None = None
    idle_timeout_minutes: int | None = None
    min_password_length: int | None = None
    password_history: int | None = None
    max_password_age_days: int | None = Field(None, description="0: passwords do not age")
    password_expiry_warning_days: int | None = None


def _lifetime(minutes: int | None) -> timedelta | None:
    return timedelta(minutes=minutes) if minutes else None


def _answer(step: LoginStep) -> TokenResponse:
    if step.next_step == "change_password":
        why = step.password_notice or "the password must be changed first"
        raise Forbidden("password_change_required", f"{why}: POST /api/v1/auth/password-change")
    if step.token is None:
        return TokenResponse(
            next_step=step.next_step,
            challenge=step.challenge,
            challenge_expires_at=step.challenge_expires_at,
        )
    remaining = int((step.token.expires_at - utcnow()).total_seconds())
    return TokenResponse(
        access_token=step.token.token,
        expires_at=step.token.expires_at,
        expires_in=max(remaining, 0),
        recovery_codes=step.recovery_codes,
        password_warning=step.password_notice,
    )


@router.post(
    "/token",
    summary="Sign in: username and password for a bearer token (or the second step)",
    responses=error_responses(401, 403, 422, 429),
)
@on_thread  # argon2 is slow on purpose
def issue_token(body: TokenRequest, session: SessionDep) -> TokenResponse:
    """Repeated failures are throttled (429 with Retry-After) and lock the account for a while;
    every attempt is audited."""
    step = start_login(
        session,
        body.username,
        body.password,
        kind=TokenKind.API,
        lifetime=_lifetime(body.lifetime_minutes),
    )
    return _answer(step)


@router.post(
    "/token/code",
    summary="Second step: the authenticator (or a recovery) code for the bearer token",
    responses=error_responses(401, 409, 422, 429),
)
def post_code(body: CodeRequest, session: SessionDep) -> TokenResponse:
    step = submit_code(
        session,
        body.challenge,
        body.code,
        kind=TokenKind.API,
        lifetime=_lifetime(body.lifetime_minutes),
    )
    return _answer(step)


@router.post(
    "/totp/enrolment",
    summary="Second step for an account without authenticator: a new TOTP secret",
    responses=error_responses(401, 409, 422, 429),
)
def post_enrolment(body: ChallengeRequest, session: SessionDep) -> EnrolmentResponse:
    enrolment = start_totp_enrolment(session, body.challenge)
    return EnrolmentResponse(secret=enrolment.secret, otpauth_uri=enrolment.uri)


@router.post(
    "/totp/enrolment/confirm",
    summary="Confirm the new authenticator with a first code: the token and recovery codes",
    responses=error_responses(401, 409, 422, 429),
)
def post_enrolment_confirm(body: CodeRequest, session: SessionDep) -> TokenResponse:
    step = confirm_totp_enrolment(
        session,
        body.challenge,
        body.code,
        kind=TokenKind.API,
        lifetime=_lifetime(body.lifetime_minutes),
    )
    return _answer(step)


@router.post(
    "/password-change",
    summary="Replace an initial password set by an administrator (then the next step)",
    responses=error_responses(401, 403, 409, 422, 429),
)
@on_thread  # argon2 is slow on purpose
def post_password_change(body: PasswordChangeRequest, session: SessionDep) -> TokenResponse:
    step = change_password_at_sign_in(
        session,
        PasswordChangeAtSignIn(
            body.username, body.current_password, body.new_password, body.totp_code
        ),
        kind=TokenKind.API,
        lifetime=_lifetime(body.lifetime_minutes),
    )
    return _answer(step)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Sign out: revoke the token used for this request",
    responses=error_responses(401),
)
def logout(session: SessionDep, actor: ActorDep, token: TokenDep) -> Response:
    revoke_token(session, actor, token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", summary="The signed-in user", responses=error_responses(401))
def me(session: SessionDep, actor: ActorDep, response: Response) -> UserView:
    assert actor.user_id is not None  # tokens belong to people, never to the system actor
    view = get_user(session, actor, actor.user_id)
    set_etag(response, view.version)
    return view


@router.get(
    "/security-policy",
    summary="The security policy in force, study-wide or at a site (administrators)",
    responses=error_responses(401, 403, 422),
)
def get_policy(
    session: SessionDep, actor: ActorDep, response: Response, site_code: str | None = None
) -> PolicyView:
    view = get_security_policy(session, actor, site_code)
    set_etag(response, view.version)  # the version read, as every versioned answer carries
    return view


@router.put(
    "/security-policy",
    summary="Change the security policy or a site's override (administrators; audited)",
    responses=error_responses(401, 403, 422),
)
def put_policy(body: PolicyChange, session: SessionDep, actor: ActorDep) -> PolicyView:
    return set_security_policy(
        session,
        actor,
        reason=body.reason,
        site_code=body.site_code,
        settings=PolicySettings(
            totp_roles=body.totp_roles,
            lockout_threshold=body.lockout_threshold,
            lockout_minutes=body.lockout_minutes,
            idle_timeout_minutes=body.idle_timeout_minutes,
            min_password_length=body.min_password_length,
            password_history=body.password_history,
            max_password_age_days=body.max_password_age_days,
            password_expiry_warning_days=body.password_expiry_warning_days,
        ),
    )

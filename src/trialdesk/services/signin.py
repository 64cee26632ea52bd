"""Login in steps: password, then what the account still needs, then a token (issue #18).

``start_login`` checks the password. When the account has an authenticator, must change an
initial password, or must enrol a second factor (the security policy), no token is issued yet:
the caller gets a short-lived login challenge (a random secret, stored hashed) and the next
step (``totp``, ``change_password`` or ``enrol_totp``); each step function takes the challenge
and returns the following step, or ``done`` with the token. Web pages and the API use the same
functions, so both enforce the same rules.

Requirements: 21 CFR 11.300 (unique identification codes/passwords, periodic revision, safeguards
against unauthorised use, reported attempts), EU GMP Annex 11 §12.1 (logical access controls),
NIST SP 800-63B §4.2 (AAL2: two factors), §5.1.4.1 (OTP), §5.2.2 (rate limiting failures).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.services.accounts import (
    LoginStepName,
    _actor,
    apply_new_password,
    check_not_locked,
    check_password,
    count_failure,
    in_login_transaction,
    issue_token,
    login_succeeded,
    next_login_step,
    token_digest,
)
from trialdesk.services.errors import RuleViolation, Unauthenticated
from trialdesk.services.password_age import change_reason, expiry_warning
from trialdesk.services.security_policy import policy_for_user
from trialdesk.services.totp import (
    TotpEnrolment,
    enrolment,
    looks_like_totp,
    matching_step,
    new_recovery_codes,
    new_secret,
    opened,
    recovery_digest,
    sealed,
    was_replayed,
)
from trialdesk.services.views import IssuedToken
from trialdesk.store import audit
from trialdesk.store.enums import AuditAction, TokenKind
from trialdesk.store.models import LoginChallenge, RecoveryCode, User
from trialdesk.store.types import utcnow

CHALLENGE_LIFETIME = timedelta(minutes=10)
T = TypeVar("T")


@dataclass
class LoginStep:
    """Where a login stands: `token` when `next_step` is ``done``, else the `challenge`."""

    next_step: LoginStepName
    username: str
    challenge: str | None = None
    challenge_expires_at: datetime | None = None
    token: IssuedToken | None = None
    recovery_codes: list[str] = field(default_factory=list)
    # Why a new password is needed (next_step "change_password"), or, once signed in, a warning
    # that the password expires soon (`password_age`).
    password_notice: str | None = None


def start_login(
    session: Session,
    username: str,
    password: str,
    *,
    kind: TokenKind = TokenKind.SESSION,
    lifetime: timedelta | None = None,
) -> LoginStep:
    """Check the password; a token when nothing else is needed, else the next step."""

    def step() -> LoginStep:
        user = check_password(session, username, password)
        return _advance(session, user, None, kind, lifetime)

    return in_login_transaction(session, step)


def login_progress(session: Session, challenge: str) -> LoginStep:
    """The pending step of a challenge (for a page that shows it)."""
    row, user = _open(session, challenge)
    step = next_login_step(session, user, totp_verified=row.totp_verified)
    return LoginStep(
        step, user.username, challenge, row.expires_at, password_notice=_notice(session, user, step)
    )


def _notice(session: Session, user: User, step: LoginStepName) -> str | None:
    """Why a password change is asked for, or the warning of an expiry to come."""
    policy, now = policy_for_user(session, user), utcnow()
    if step == "change_password":
        return change_reason(user, policy, now)
    return expiry_warning(user, policy, now) if step == "done" else None


def submit_code(
    session: Session,
    challenge: str,
    code: str,
    *,
    kind: TokenKind = TokenKind.SESSION,
    lifetime: timedelta | None = None,
) -> LoginStep:
    """The second factor: a 6-digit TOTP code, or one of the user's recovery codes."""

    def step(row: LoginChallenge, user: User) -> LoginStep:
        now = utcnow()
        factor = _accept_code(session, user, code or "", now)
        if factor is None:
            row.failed_codes += 1
            replay = user.totp_secret is not None and was_replayed(
                opened(user.totp_secret), code or "", now, user.totp_last_step
            )
            count_failure(session, user, "code already used" if replay else "wrong code", now)
            raise _wrong_code(replay)
        row.totp_verified = True
        return _advance(session, user, row, kind, lifetime, factor={"second_factor": factor})

    return _at_step(session, challenge, "totp", step)


def change_initial_password(
    session: Session,
    challenge: str,
    new_password: str,
    *,
    kind: TokenKind = TokenKind.SESSION,
    lifetime: timedelta | None = None,
) -> LoginStep:
    """Replace the password an administrator set, or one that is too old (policy and reuse
    history apply)."""

    def step(row: LoginChallenge, user: User) -> LoginStep:
        initial = user.must_change_password
        apply_new_password(
            session,
            _actor(user),
            user,
            new_password,
            reason=(
                "initial password changed at first login"
                if initial
                else "expired password changed at sign-in (security policy: maximum age)"
            ),
            temporary=False,
            check_history=True,
        )
        return _advance(session, user, row, kind, lifetime)

    return _at_step(session, challenge, "change_password", step)


@dataclass(frozen=True)
class PasswordChangeAtSignIn:
    """A client without pages (the API) changing an initial or expired password in one call."""

    username: str
    current_password: str
    new_password: str
    totp_code: str | None = None


def change_password_at_sign_in(
    session: Session,
    change: PasswordChangeAtSignIn,
    *,
    kind: TokenKind = TokenKind.SESSION,
    lifetime: timedelta | None = None,
) -> LoginStep:
    """The password, the code when the account has an authenticator, then the new password:
    the steps a page takes one by one, in one call. Refused (409) when no change is due."""
    step = start_login(
        session, change.username, change.current_password, kind=kind, lifetime=lifetime
    )
    challenge = step.challenge
    if step.next_step == "totp" and challenge:
        if not change.totp_code:
            raise Unauthenticated("totp_required", "totp_code: the authenticator code is needed")
        step = submit_code(session, challenge, change.totp_code, kind=kind, lifetime=lifetime)
    if step.next_step != "change_password" or not challenge:
        raise RuleViolation(
            "password_change_not_pending",
            "this password is neither an initial one nor expired: sign in, then change it with "
            "POST /api/v1/users/{id}/password",
            conflict=True,
        )
    step = change_initial_password(
        session, challenge, change.new_password, kind=kind, lifetime=lifetime
    )
    step.challenge = step.challenge or (challenge if step.token is None else None)
    return step


def start_totp_enrolment(session: Session, challenge: str) -> TotpEnrolment:
    """A new authenticator secret for the user to scan or type in; only the holder of the
    challenge sees it, and only until the enrolment is confirmed."""

    def step(row: LoginChallenge, user: User) -> TotpEnrolment:
        if row.pending_totp_secret is None:  # the same key again after a mistyped code
            row.pending_totp_secret = sealed(new_secret())
        return enrolment(opened(row.pending_totp_secret), user.username)

    return _at_step(session, challenge, "enrol_totp", step)


def confirm_totp_enrolment(
    session: Session,
    challenge: str,
    code: str,
    *,
    kind: TokenKind = TokenKind.SESSION,
    lifetime: timedelta | None = None,
) -> LoginStep:
    """A first code from the new authenticator proves it works; the secret is then kept, and
    ten recovery codes are made (returned once, in `LoginStep.recovery_codes`)."""

    def step(row: LoginChallenge, user: User) -> LoginStep:
        if row.pending_totp_secret is None:
            raise RuleViolation(
                "totp_enrolment_not_started", "start the enrolment first", conflict=True
            )
        now = utcnow()
        matched = matching_step(opened(row.pending_totp_secret), code or "", now, None)
        if matched is None:
            count_failure(session, user, "wrong code at enrolment", now)
            raise _wrong_code(False)
        codes = _enrol(session, user, row.pending_totp_secret, matched, now)
        row.pending_totp_secret = None
        row.totp_verified = True
        result = _advance(
            session, user, row, kind, lifetime, factor={"second_factor": "totp enrolled"}
        )
        result.recovery_codes = codes
        return result

    return _at_step(session, challenge, "enrol_totp", step)


# --- the steps' shared parts -------------------------------------------------------------------


def _advance(
    session: Session,
    user: User,
    row: LoginChallenge | None,
    kind: TokenKind,
    lifetime: timedelta | None,
    *,
    factor: dict[str, object] | None = None,
) -> LoginStep:
    pending = next_login_step(session, user, totp_verified=row is not None and row.totp_verified)
    if pending == "done":
        if row is not None:
            row.finished_at = utcnow()
        login_succeeded(session, user, factor or {})
        token = issue_token(session, _actor(user), kind=kind, lifetime=lifetime)
        notice = _notice(session, user, "done")
        return LoginStep("done", user.username, token=token, password_notice=notice)
    if factor:
        audit.append(
            session,
            audit.NewEntry(
                user_id=user.id,
                action=AuditAction.LOGIN,
                table="users",
                record_id=user.id,
                changes={**factor, "next_step": pending},
            ),
        )
    if row is None:
        secret = secrets.token_urlsafe(32)
        now = utcnow()
        row = LoginChallenge(
            user_id=user.id,
            token_hash=token_digest(secret),
            created_at=now,
            expires_at=now + CHALLENGE_LIFETIME,
            totp_verified=False,
            failed_codes=0,
        )
        session.add(row)
        notice = _notice(session, user, pending)
        return LoginStep(pending, user.username, secret, row.expires_at, password_notice=notice)
    notice = _notice(session, user, pending)
    return LoginStep(pending, user.username, None, row.expires_at, password_notice=notice)


def _at_step(
    session: Session,
    challenge: str,
    expect: LoginStepName,
    body: Callable[[LoginChallenge, User], T],
) -> T:
    """`body` on the challenge's row and user, when the login stands at step `expect`, in one
    login transaction (committed also when refused: failures count). Every step but the
    first goes through here, so each refuses a dead, foreign or out-of-order challenge alike."""
    return in_login_transaction(session, lambda: body(*_open(session, challenge, expect)))


def _open(
    session: Session, challenge: str, expect: LoginStepName | None = None
) -> tuple[LoginChallenge, User]:
    row = session.scalars(
        select(LoginChallenge).where(LoginChallenge.token_hash == token_digest(challenge or ""))
    ).first()
    if row is None or row.finished_at is not None:
        raise Unauthenticated(
            "login_step_unknown", "this login step is unknown or already completed: log in again"
        )
    now = utcnow()
    if row.expires_at <= now:
        raise Unauthenticated(
            "login_step_expired",
            f"the login was not completed within {int(CHALLENGE_LIFETIME.total_seconds() // 60)} "
            "minutes: log in again",
        )
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise Unauthenticated("account_inactive", "the account is deactivated")
    check_not_locked(session, user, now)
    if expect is not None:
        pending = next_login_step(session, user, totp_verified=row.totp_verified)
        if pending != expect:
            raise RuleViolation(
                "login_step_mismatch",
                f"this login now needs the step {pending!r}, not {expect!r}",
                conflict=True,
            )
    return row, user


def _accept_code(session: Session, user: User, code: str, now: datetime) -> str | None:
    """Which factor `code` is ("totp" or "recovery code"), None when it is neither."""
    assert user.totp_secret is not None  # the "totp" step exists only for enrolled accounts
    if looks_like_totp(code):
        matched = matching_step(opened(user.totp_secret), code, now, user.totp_last_step)
        if matched is None:
            return None
        user.totp_last_step = matched
        return "totp"
    spare = session.scalars(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == recovery_digest(code),
            RecoveryCode.used_at.is_(None),
        )
    ).first()
    if spare is None:
        return None
    spare.used_at = now
    return "recovery code"


def _enrol(session: Session, user: User, secret: str, step: int, now: datetime) -> list[str]:
    user.totp_secret = secret  # as sealed for the pending enrolment: never stored in clear
    user.totp_enabled_at = now
    user.totp_last_step = step
    for old in session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)):
        session.delete(old)
    codes = new_recovery_codes()
    session.add_all(
        RecoveryCode(user_id=user.id, code_hash=recovery_digest(c), created_at=now) for c in codes
    )
    audit.append(
        session,
        audit.NewEntry(
            user_id=user.id,
            action=AuditAction.UPDATE,
            table="users",
            record_id=user.id,
            changes={"totp_enabled_at": [None, now], "recovery_codes": [None, len(codes)]},
            reason="second factor (TOTP) enrolled at login",
        ),
    )
    return codes


def _wrong_code(replay: bool) -> Unauthenticated:
    if replay:
        return Unauthenticated(
            "totp_code_reused", "this code was already used: wait for the next code of your app"
        )
    return Unauthenticated("invalid_code", "the authentication code is wrong or has expired")

"""Sites, users, authentication and bearer tokens / browser sessions.

* Passwords: Argon2id and the password policy (`trialdesk.services.passwords`, NIST SP 800-63B
  §5.1.1.2) with a reuse history; an initial password set by an administrator must be changed at
  first login (21 CFR 11.300(b)).
* Lockout: `lockout_threshold` consecutive failed logins lock the account for
  `lockout_minutes` (the security policy, `trialdesk.services.security_policy`; 21 CFR
  11.300(d), EU GMP Annex 11 §12.1); the lock and an administrator's unlock are audited.
* Tokens: 256-bit random secrets (`secrets.token_urlsafe(32)`); only their SHA-256 is stored, so
  a copy of the database yields no usable token. Every token expires; logout revokes it; a token
  unused for the policy's idle timeout is revoked (NIST SP 800-63B §7.1), audited as a logout.
* Every login, failed login, token issue/revocation and account change is audited.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, TypeVar

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from trialdesk.services.access import require
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.errors import (
    AccessRefused,
    Forbidden,
    NotFound,
    RuleViolation,
    TooManyAttempts,
    Unauthenticated,
    ValidationProblem,
)
from trialdesk.services.listing import page_bounds
from trialdesk.services.password_age import change_reason, password_expired
from trialdesk.services.passwords import (
    check_password_policy,
    hash_password,
    needs_rehash,
    reused,
    verify_password,
)
from trialdesk.services.security_policy import (
    DEFAULT_POLICY,
    PolicyView,
    policy_for_sites,
    policy_for_user,
    study_policy,
)
from trialdesk.services.uow import add_record, change_record, check_version, require_reason, service
from trialdesk.services.views import IssuedToken, Page, SiteView, UserView
from trialdesk.store import audit
from trialdesk.store.enums import AuditAction, Role, TokenKind
from trialdesk.store.models import (
    ApiToken,
    AuditEntry,
    PasswordHistory,
    RecoveryCode,
    Site,
    SiteMembership,
    User,
    UserRole,
)
from trialdesk.store.types import utcnow

MAX_FAILED_LOGINS = DEFAULT_POLICY.lockout_threshold
LOCKOUT = DEFAULT_POLICY.lockout
TOKEN_LIFETIME = {TokenKind.API: timedelta(hours=24), TokenKind.SESSION: timedelta(hours=8)}
MAX_TOKEN_LIFETIME = timedelta(days=90)
_SITE_CODE = re.compile(r"^[A-Z0-9]{2,10}$")
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


# --- sites -----------------------------------------------------------------------------------


@service
def create_site(
    session: Session, actor: Actor, code: str, name: str, *, city: str = "", country: str = ""
) -> SiteView:
    """Register a site; `code` (2–10 capitals/digits) prefixes its participants' study ids."""
    require(actor, Permission.MANAGE_USERS, table="sites")
    if not _SITE_CODE.match(code or ""):
        raise ValidationProblem("code", f"{code!r} is not 2–10 capital letters or digits")
    if not (name or "").strip():
        raise ValidationProblem("name", "is required")
    if session.scalars(select(Site).where(Site.code == code)).first():
        raise RuleViolation("site_exists", f"site {code} already exists", "code", conflict=True)
    site = add_record(
        session, actor, Site(code=code, name=name.strip(), city=city, country=country)
    )
    return SiteView.model_validate(site)


@service
def list_sites(session: Session, actor: Actor) -> list[SiteView]:
    """All sites for an administrator; otherwise the actor's own sites."""
    query = select(Site).order_by(Site.code)
    if not actor.can(Permission.MANAGE_USERS):
        query = query.where(Site.id.in_(actor.site_ids))
    return [SiteView.model_validate(s) for s in session.scalars(query)]


def _sites_by_code(session: Session, codes: Iterable[str]) -> list[Site]:
    wanted = list(dict.fromkeys(codes))
    found = {s.code: s for s in session.scalars(select(Site).where(Site.code.in_(wanted)))}
    missing = [c for c in wanted if c not in found]
    if missing:
        raise ValidationProblem("site_codes", f"unknown site {', '.join(missing)}")
    return [found[c] for c in wanted]


def _roles(values: Iterable[Role | str]) -> list[Role]:
    roles: list[Role] = []
    for value in values:
        try:
            role = Role(value)
        except ValueError:
            choices = ", ".join(r.value for r in Role)
            raise ValidationProblem("roles", f"{value!r} is not a role ({choices})") from None
        if role not in roles:
            roles.append(role)
    if not roles:
        raise ValidationProblem("roles", "a user needs at least one role")
    return roles


# --- users -----------------------------------------------------------------------------------


def user_view(user: User) -> UserView:
    return UserView(
        id=user.id,
        username=user.username,
        full_name=user.full_name,
        email=user.email,
        active=user.active,
        roles=sorted(user.role_set),
        site_codes=sorted(m.site.code for m in user.memberships),
        last_login_at=user.last_login_at,
        locked_until=user.locked_until,
        must_change_password=user.must_change_password,
        totp_enrolled=user.totp_secret is not None,
        version=user.version,
    )


@dataclass(frozen=True, kw_only=True)
class NewUserAccount:
    """The items of the user-account form: who (username, full name, email), the initial
    password, the roles and the sites the user works at. `must_change_password` None: as the
    creator decides by default (see `create_user`)."""

    username: str
    full_name: str
    password: str
    roles: Iterable[Role | str]
    site_codes: Iterable[str] = ()
    email: str | None = None
    must_change_password: bool | None = None


@service
def create_user(session: Session, actor: Actor, account: NewUserAccount) -> UserView:
    """Create a user with roles and site memberships (administrators only).

    The password is an initial one that the user must change at first login (21 CFR 11.300(b):
    only the owner knows it) when an administrator sets it; the system actor (the command line's
    bootstrap, the test and demo seeds) says explicitly with `must_change_password`.
    """
    require(actor, Permission.MANAGE_USERS, table="users")
    username, full_name, password = account.username, account.full_name, account.password
    if not _USERNAME.match(username or ""):
        raise ValidationProblem(
            "username", f"{username!r} must be 2–64 lower-case letters, digits, '.', '_' or '-'"
        )
    if not (full_name or "").strip():
        raise ValidationProblem("full_name", "is required")
    role_list = _roles(account.roles)
    sites = _sites_by_code(session, account.site_codes)
    policy = policy_for_sites(session, [s.id for s in sites])
    check_password_policy(password, username=username, min_length=policy.min_password_length)
    clinical = [r for r in role_list if r is not Role.ADMIN]
    if clinical and not sites:
        raise ValidationProblem(
            "site_codes", f"a {clinical[0].value} must belong to at least one site"
        )
    if session.scalars(select(User).where(User.username == username)).first():
        raise RuleViolation(
            "username_taken", f"user {username} already exists", "username", conflict=True
        )
    user = User(
        username=username,
        full_name=full_name.strip(),
        email=account.email,
        password_hash=hash_password(password),
        must_change_password=_temporary(actor, account.must_change_password),
        password_changed_at=utcnow(),
        roles=[UserRole(role=r) for r in role_list],
        memberships=[SiteMembership(site=s) for s in sites],
    )
    add_record(session, actor, user)
    _remember_password(session, user)
    _audit_account(session, actor, user, {"roles": [None, role_list], "sites": [None, sites]})
    return user_view(user)


def _audit_account(
    session: Session, actor: Actor, user: User, changes: dict[str, list[object]], reason: str = ""
) -> None:
    readable = {
        key: [
            [getattr(v, "code", v) for v in side] if isinstance(side, list) else side
            for side in pair
        ]
        for key, pair in changes.items()
    }
    audit.append(
        session,
        audit.NewEntry(
            user_id=actor.user_id,
            action=AuditAction.UPDATE if reason else AuditAction.CREATE,
            table="user_access",
            record_id=user.id,
            changes=readable,
            reason=reason or None,
        ),
    )


def _get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("not_found", f"user {user_id} not found", table="users", record_id=user_id)
    return user


@service
def get_user(session: Session, actor: Actor, user_id: int) -> UserView:
    """A user's account (administrators, or the user themself)."""
    if actor.user_id != user_id:
        require(actor, Permission.MANAGE_USERS, table="users", record_id=user_id)
    return user_view(_get_user(session, user_id))


@service
def list_users(session: Session, actor: Actor, limit: int = 50, offset: int = 0) -> Page[UserView]:
    require(actor, Permission.MANAGE_USERS, table="users")
    limit, offset = page_bounds(limit, offset)
    total = session.scalar(select(func.count()).select_from(User)) or 0
    users = session.scalars(select(User).order_by(User.username).limit(limit).offset(offset))
    return Page(items=[user_view(u) for u in users], total=total, limit=limit, offset=offset)


@dataclass(frozen=True)
class AccountChange:
    """What an administrator changes on an account; None leaves it as it is."""

    full_name: str | None = None
    email: str | None = None
    active: bool | None = None
    roles: Iterable[Role | str] | None = None
    site_codes: Iterable[str] | None = None


@service
def update_user(
    session: Session,
    actor: Actor,
    user_id: int,
    change: AccountChange,
    *,
    expected_version: int,
    reason: str,
) -> UserView:
    """Change an account: name, e-mail, active flag, roles, sites (administrators only).

    Deactivating a user also revokes their tokens; accounts are never deleted (their audit
    entries must keep resolving to a person).
    """
    require(actor, Permission.MANAGE_USERS, table="users", record_id=user_id)
    if change.active is False and actor.user_id == user_id:
        # An administrator who disables their own account may leave the study with none.
        raise RuleViolation(
            "cannot_disable_self",
            "you cannot disable your own account: ask another administrator",
            "active",
            conflict=True,
        )
    user = _get_user(session, user_id)
    check_version(user, expected_version, f"user {user_id}")
    why = require_reason(reason)
    changes: dict[str, object] = {}
    if change.full_name is not None:
        changes["full_name"] = change.full_name.strip()
    if change.email is not None:
        changes["email"] = change.email or None
    if change.active is not None:
        changes["active"] = change.active
    change_record(session, actor, user, changes, reason=why, expected_version=None)
    access = _change_access(session, user, change.roles, change.site_codes)
    if access:
        session.flush()
        _audit_account(session, actor, user, access, why)
    if change.active is False:
        _revoke_all(session, user.id)
    return user_view(user)


def _change_access(
    session: Session,
    user: User,
    roles: Iterable[Role | str] | None,
    site_codes: Iterable[str] | None,
) -> dict[str, list[object]]:
    """Give `user` these roles and sites (None: unchanged); what changed, as [old, new]."""
    access: dict[str, list[object]] = {}
    if roles is not None:
        new_roles = _roles(roles)
        if set(new_roles) != user.role_set:
            access["roles"] = [sorted(user.role_set), sorted(new_roles)]
            user.roles = [r for r in user.roles if r.role in new_roles] + [
                UserRole(role=r) for r in new_roles if r not in user.role_set
            ]
    if site_codes is not None:
        sites = _sites_by_code(session, site_codes)
        old = sorted(m.site.code for m in user.memberships)
        if sorted(s.code for s in sites) != old:
            access["sites"] = [old, sorted(s.code for s in sites)]
            keep = {s.id for s in sites}
            user.memberships = [m for m in user.memberships if m.site_id in keep] + [
                SiteMembership(site=s) for s in sites if s.id not in user.site_ids
            ]
    return access


@service
def set_password(
    session: Session,
    actor: Actor,
    user_id: int,
    new_password: str,
    *,
    current_password: str | None = None,
    reason: str = "password change",
    temporary: bool | None = None,
) -> None:
    """Set a password: the user themself (with the current one) or an administrator.

    A user's own new password must meet the policy and not be one of their last
    `password_history` passwords. One set by an administrator is `temporary` (changed at next
    login) unless the system actor says otherwise; it also lifts a lockout. Either way every
    token of the user is revoked.
    """
    user = _get_user(session, user_id)
    own = actor.user_id == user_id
    if own:
        if not verify_password(user.password_hash, current_password or ""):
            raise Unauthenticated("wrong_password", "the current password is wrong")
    else:
        require(actor, Permission.MANAGE_USERS, table="users", record_id=user_id)
    apply_new_password(
        session,
        actor,
        user,
        new_password,
        reason=reason,
        temporary=False if own else _temporary(actor, temporary),
        check_history=own,
    )
    _revoke_all(session, user.id)


def apply_new_password(
    session: Session,
    actor: Actor,
    user: User,
    new_password: str,
    *,
    reason: str,
    temporary: bool,
    check_history: bool,
) -> None:
    """Check `new_password` against the policy (and the reuse history), then store it."""
    policy = policy_for_user(session, user)
    check_password_policy(
        new_password,
        "new_password",
        username=user.username,
        min_length=policy.min_password_length,
    )
    if check_history and _is_reuse(session, user, new_password, policy):
        raise ValidationProblem(
            "new_password",
            f"must differ from your last {max(policy.password_history, 1)} passwords",
            rule="password_reused",
        )
    change_record(
        session,
        actor,
        user,
        {
            "password_hash": hash_password(new_password),
            "failed_logins": 0,
            "locked_until": None,
            "must_change_password": temporary,
            "password_changed_at": utcnow(),
        },
        reason=reason,
        expected_version=None,
    )
    _remember_password(session, user)


def _temporary(actor: Actor, requested: bool | None) -> bool:
    return requested if requested is not None else actor.user_id is not None


def _is_reuse(session: Session, user: User, password: str, policy: PolicyView) -> bool:
    if verify_password(user.password_hash, password):
        return True
    earlier = session.scalars(
        select(PasswordHistory.password_hash)
        .where(PasswordHistory.user_id == user.id)
        .order_by(PasswordHistory.id.desc())
        .limit(policy.password_history)
    )
    return reused(password, earlier)


def _remember_password(session: Session, user: User) -> None:
    session.add(
        PasswordHistory(user_id=user.id, password_hash=user.password_hash, created_at=utcnow())
    )


TEMPORARY_PASSWORD_BYTES = 15  # 120 bits, 20 characters (NIST SP 800-63B §5.1.1.2: ≥ 112)


@service
def reset_password(session: Session, actor: Actor, user_id: int, *, reason: str) -> str:
    """A random temporary password for a user who forgot theirs (administrators; audited with
    the reason): returned once for the administrator to hand over, to be changed at the next
    sign-in; the account is unlocked and every session of the user ends."""
    require(actor, Permission.MANAGE_USERS, table="users", record_id=user_id)
    why = require_reason(reason)
    user = _get_user(session, user_id)
    minimum = policy_for_user(session, user).min_password_length
    password = secrets.token_urlsafe(TEMPORARY_PASSWORD_BYTES)
    while len(password) < minimum:
        password += secrets.token_urlsafe(TEMPORARY_PASSWORD_BYTES)
    apply_new_password(
        session,
        actor,
        user,
        password,
        reason=f"password reset: {why}",
        temporary=True,
        check_history=False,
    )
    _revoke_all(session, user.id)
    return password


@service
def unlock_user(session: Session, actor: Actor, user_id: int, *, reason: str) -> UserView:
    """Lift a lockout before it expires (administrators; audited with the reason)."""
    require(actor, Permission.MANAGE_USERS, table="users", record_id=user_id)
    user = _get_user(session, user_id)
    why = require_reason(reason)
    change_record(
        session,
        actor,
        user,
        {"failed_logins": 0, "locked_until": None},
        reason=f"unlock: {why}",
        expected_version=None,
    )
    return user_view(user)


@service
def reset_totp(session: Session, actor: Actor, user_id: int, *, reason: str) -> UserView:
    """Remove a user's authenticator and recovery codes (a lost phone): they enrol again at
    their next login (administrators; audited with the reason)."""
    require(actor, Permission.MANAGE_USERS, table="users", record_id=user_id)
    user = _get_user(session, user_id)
    why = require_reason(reason)
    change_record(
        session,
        actor,
        user,
        {"totp_secret": None, "totp_enabled_at": None, "totp_last_step": None},
        reason=f"second factor reset: {why}",
        expected_version=None,
    )
    for code in session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)):
        session.delete(code)
    _revoke_all(session, user.id)
    return user_view(user)


@service
def find_user(session: Session, actor: Actor, username: str) -> UserView:
    """A user by login name (administrators)."""
    require(actor, Permission.MANAGE_USERS, table="users")
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound("not_found", f"user {username} not found", table="users")
    return user_view(user)


def actor_for(session: Session, user_id: int) -> Actor:
    """The `Actor` for an (active) user id."""
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise Unauthenticated("unknown_user", f"user {user_id} is unknown or inactive")
    return _actor(user)


def _actor(user: User) -> Actor:
    return Actor(user.id, user.username, user.role_set, user.site_ids)


# --- authentication --------------------------------------------------------------------------


LOGIN_RETRIES = 10
T = TypeVar("T")

LoginStepName = Literal["done", "totp", "change_password", "enrol_totp"]


def next_login_step(session: Session, user: User, *, totp_verified: bool = False) -> LoginStepName:
    """What a login with a verified password still needs before a token may be issued.

    The possession factor comes first (an enrolled authenticator), then the change of an
    initial or expired password (`password_age`), then enrolment when the policy requires a
    second factor for the user's roles (21 CFR 11.300; EU GMP Annex 11 §12.1; NIST SP
    800-63B §4.2 AAL2).
    """
    if user.totp_secret is not None and not totp_verified:
        return "totp"
    policy = policy_for_user(session, user)
    if user.must_change_password or password_expired(user, policy, utcnow()):
        return "change_password"
    if user.totp_secret is None and policy.requires_totp(user.role_set):
        return "enrol_totp"
    return "done"


def authenticate(session: Session, username: str, password: str) -> Actor:
    """Check a username and password; the outcome is audited and committed either way.

    Only for accounts that need nothing more: one that needs a second factor or a password
    change is refused (401 ``second_factor_required`` / 403 ``password_change_required``); the
    login pages and ``POST /auth/token`` go through `trialdesk.services.signin` instead.

    Raises `Unauthenticated` (one message for unknown user and wrong password, so usernames
    cannot be probed) or when the account is inactive; `TooManyAttempts` (429) while the name
    is throttled after `lockout_threshold` failures.
    """

    def step() -> Actor:
        user = check_password(session, username, password)
        pending = next_login_step(session, user)
        if pending == "change_password":
            why = change_reason(user, policy_for_user(session, user), utcnow())
            raise Forbidden("password_change_required", why)
        if pending != "done":
            raise Unauthenticated(
                "second_factor_required", "this account needs its authentication code"
            )
        login_succeeded(session, user, {})
        return _actor(user)

    return in_login_transaction(session, step)


def in_login_transaction(session: Session, step: Callable[[], T]) -> T:
    """Run one login step and commit it, also when it is refused (the failure count and its
    audit entry must stay).

    Two logins of the same user at the same moment both update the account row (last login,
    failure count); the later one then finds the row's version changed (`StaleDataError`). That
    is not the user's fault: the step is simply redone on the fresh row.
    """
    for attempt in range(1, LOGIN_RETRIES + 1):
        try:
            result = step()
            session.commit()
            return result
        except AccessRefused:
            session.commit()
            raise
        except StaleDataError:
            session.rollback()
            if attempt == LOGIN_RETRIES:
                raise
        except BaseException:
            session.rollback()
            raise
    raise AssertionError("unreachable")


def check_password(session: Session, username: str, password: str) -> User:
    """The account whose password this is, else a refusal (audited, counted towards lockout).

    A right password does not reset the failure count while a second factor is pending, so
    that guessing codes across fresh logins still ends in a lockout.
    """
    now = utcnow()
    user = session.scalars(select(User).where(User.username == username)).first()
    refused = Unauthenticated("invalid_credentials", "unknown user or wrong password")
    if user is None:
        policy = study_policy(session)
        retry_after = _unknown_name_throttle(session, username, now, policy)
        audit.append(
            session,
            audit.NewEntry(
                user_id=None,
                action=AuditAction.LOGIN_FAILED,
                table="users",
                record_id=None,
                changes={"username": username, "why": _UNKNOWN},
            ),
        )
        if retry_after is not None:
            raise _locked(now + timedelta(seconds=retry_after), now, policy)
        raise refused
    check_not_locked(session, user, now)
    if not user.active:
        _login_failed(session, user, "account inactive")
        raise Unauthenticated("account_inactive", "the account is deactivated")
    if not verify_password(user.password_hash, password):
        count_failure(session, user, "wrong password", now)
        raise refused
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def check_not_locked(session: Session, user: User, now: datetime) -> None:
    if user.locked_until is not None and user.locked_until > now:
        _login_failed(session, user, "account locked")
        raise _locked(user.locked_until, now, policy_for_user(session, user))


def count_failure(session: Session, user: User, why: str, now: datetime) -> None:
    """One more consecutive failure; reaching the policy's threshold locks the account."""
    policy = policy_for_user(session, user)
    user.failed_logins += 1
    _login_failed(session, user, why)
    if user.failed_logins >= policy.lockout_threshold:
        user.locked_until = now + policy.lockout
        audit.append(
            session,
            audit.NewEntry(
                user_id=None,
                action=AuditAction.UPDATE,
                table="users",
                record_id=user.id,
                changes={"locked_until": [None, user.locked_until]},
                reason=f"locked after {user.failed_logins} consecutive failed logins",
            ),
        )


def login_succeeded(session: Session, user: User, changes: dict[str, object]) -> None:
    """Every factor passed: reset the failure count and audit the login."""
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = utcnow()
    audit.append(
        session,
        audit.NewEntry(
            user_id=user.id,
            action=AuditAction.LOGIN,
            table="users",
            record_id=user.id,
            changes=changes,
        ),
    )


_UNKNOWN = "unknown user"


def _locked(until: datetime, now: datetime, policy: PolicyView) -> TooManyAttempts:
    return TooManyAttempts(
        "account_locked",
        f"the account is locked after {policy.lockout_threshold} failed logins until "
        f"{until:%Y-%m-%d %H:%M} UTC",
        retry_after=math.ceil((until - now).total_seconds()),
    )


def _unknown_name_throttle(
    session: Session, username: str, now: datetime, policy: PolicyView
) -> int | None:
    """Seconds until an unknown `username` may be tried again, None when it is not throttled.

    Unknown names are throttled like accounts (the study-wide lockout threshold and period),
    counted from the audit trail; otherwise the 429 of a locked account would tell which names
    exist.
    """
    entry = audit.canonical_json({"username": username, "why": _UNKNOWN})
    limit, window = policy.lockout_threshold, policy.lockout
    recent = sorted(
        session.scalars(
            select(AuditEntry.occurred_at).where(
                AuditEntry.table_name == "users",
                AuditEntry.action == AuditAction.LOGIN_FAILED.value,
                AuditEntry.record_id.is_(None),
                AuditEntry.occurred_at >= now - window,
                AuditEntry.changes == entry,
            )
        )
    )
    if len(recent) < limit:
        return None
    # Throttled until the failure that reached the limit ages out of the window.
    return math.ceil((recent[-limit] + window - now).total_seconds())


def _login_failed(session: Session, user: User, why: str) -> None:
    audit.append(
        session,
        audit.NewEntry(
            user_id=None,
            action=AuditAction.LOGIN_FAILED,
            table="users",
            record_id=user.id,
            changes={"username": user.username, "why": why, "failed_logins": user.failed_logins},
        ),
    )


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@service
def issue_token(
    session: Session,
    actor: Actor,
    *,
    kind: TokenKind = TokenKind.API,
    lifetime: timedelta | None = None,
    label: str = "",
) -> IssuedToken:
    """A new bearer token (or browser session) for the actor; shown once, stored hashed."""
    if actor.user_id is None:
        raise ValidationProblem("actor", "the system actor cannot hold tokens")
    span = lifetime or TOKEN_LIFETIME[TokenKind(kind)]
    if span <= timedelta(0) or span > MAX_TOKEN_LIFETIME:
        raise ValidationProblem("lifetime", f"must be positive and at most {MAX_TOKEN_LIFETIME}")
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    row = ApiToken(
        user_id=actor.user_id,
        kind=TokenKind(kind),
        token_hash=token_digest(secret),
        label=label,
        created_at=now,
        expires_at=now + span,
        idle_timeout_seconds=int(policy_for_sites(session, actor.site_ids).idle_timeout_seconds),
    )
    add_record(session, actor, row)
    return IssuedToken(
        token=secret, token_id=row.id, kind=row.kind, user_id=row.user_id, expires_at=row.expires_at
    )


def login(
    session: Session,
    username: str,
    password: str,
    *,
    kind: TokenKind = TokenKind.SESSION,
    lifetime: timedelta | None = None,
) -> IssuedToken:
    """`authenticate` then `issue_token`, for accounts without a second factor or a pending
    password change (the login pages and the API use `trialdesk.services.signin`)."""
    actor = authenticate(session, username, password)
    return issue_token(session, actor, kind=kind, lifetime=lifetime)


LAST_USED_RESOLUTION = timedelta(minutes=5)


# Built once: constructing and cache-keying the statement cost as much as running it.
_TOKEN_OWNER = (
    select(
        ApiToken.id,
        ApiToken.revoked_at,
        ApiToken.expires_at,
        ApiToken.last_used_at,
        User.id,
        User.username,
        User.active,
        ApiToken.idle_timeout_seconds,
        ApiToken.created_at,
        UserRole.role,
        SiteMembership.site_id,
        ApiToken.label,
    )
    .join(User, User.id == ApiToken.user_id)
    .outerjoin(UserRole, UserRole.user_id == User.id)
    .outerjoin(SiteMembership, SiteMembership.user_id == User.id)
    .where(ApiToken.token_hash == bindparam("digest"))
)


#: The label of a REDCap API token (`trialdesk.services.redcap_tokens`): valid on /redcap/api/
#: only, never as a bearer token (it has no idle timeout).
REDCAP_LABEL = "REDCap API"


def resolve_token(
    session: Session, token: str, now: datetime | None = None, *, redcap: bool = False
) -> Actor:
    """The actor a bearer token belongs to; `Unauthenticated` if unknown, expired or revoked,
    or a REDCap API token used as a bearer token (`redcap` False) or the reverse.

    Every request runs this, so it is one Core query (token, account, roles and sites joined;
    a row per role × site) rather than four ORM loads: a quarter of a write's cost before
    (issue 8, load test).
    """
    moment = now or utcnow()
    rows = session.execute(_TOKEN_OWNER, {"digest": token_digest(token or "")}).all()
    if not rows or rows[0][1] is not None or (rows[0].label == REDCAP_LABEL) != redcap:
        raise Unauthenticated("invalid_token", "the token is unknown or was revoked")
    token_id, _, expires_at, last_used_at, user_id, username, active, idle, created = rows[0][:9]
    if expires_at <= moment:
        raise Unauthenticated("token_expired", "the token has expired: log in again")
    if not active:
        raise Unauthenticated("account_inactive", "the account is deactivated")
    idle_limit = timedelta(seconds=idle) if idle else None
    if idle_limit is not None and moment - (last_used_at or created) > idle_limit:
        _end_idle_session(session, token_id, user_id, moment, idle_limit)
    resolution = min(LAST_USED_RESOLUTION, idle_limit / 10) if idle_limit else LAST_USED_RESOLUTION
    if last_used_at is None or moment - last_used_at > resolution:
        # coarse, so that reads do not each become a write
        session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=moment))
        session.commit()
    return Actor(
        user_id,
        username,
        frozenset(row.role for row in rows if row.role is not None),
        frozenset(row.site_id for row in rows if row.site_id is not None),
    )


def _end_idle_session(
    session: Session, token_id: int, user_id: int, moment: datetime, limit: timedelta
) -> None:
    """Revoke a token unused for longer than the idle timeout, audited as a logout with the
    reason (NIST SP 800-63B §7.1: reauthentication after inactivity; EU GMP Annex 11 §12.1)."""
    minutes = int(limit / timedelta(minutes=1))
    session.execute(update(ApiToken).where(ApiToken.id == token_id).values(revoked_at=moment))
    audit.append(
        session,
        audit.NewEntry(
            user_id=user_id,
            action=AuditAction.LOGOUT,
            table="api_tokens",
            record_id=token_id,
            changes={"revoked_at": [None, moment]},
            reason=f"idle timeout: no activity for {minutes} minutes",
        ),
    )
    session.commit()
    raise Unauthenticated(
        "session_idle_timeout",
        f"the session ended after {minutes} minutes without activity: log in again",
    )


@service
def revoke_token(session: Session, actor: Actor, token: str) -> None:
    """Log out: revoke the given token of the actor (unknown tokens are ignored)."""
    row = session.scalars(
        select(ApiToken).where(ApiToken.token_hash == token_digest(token))
    ).first()
    if row is None or row.revoked_at is not None:
        return
    if row.user_id != actor.user_id:
        require(actor, Permission.MANAGE_USERS, table="api_tokens", record_id=row.id)
    row.revoked_at = utcnow()
    audit.append(
        session,
        audit.NewEntry(
            user_id=actor.user_id,
            action=AuditAction.LOGOUT,
            table="api_tokens",
            record_id=row.id,
            changes={"revoked_at": [None, row.revoked_at]},
        ),
    )


def _revoke_all(session: Session, user_id: int) -> None:
    now = utcnow()
    for row in session.scalars(
        select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
    ):
        row.revoked_at = now

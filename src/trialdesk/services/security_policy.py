"""The security policy: second factor, lockout, idle timeout and password rules (issue #18).

One study-wide policy, and optional per-site overrides; a user working at several sites gets
the strictest of the policies that apply to them. Stored in the database; every change is
audited with its reason (21 CFR 11.10(e)). What it enforces:

* 21 CFR 11.300(d) / EU GMP Annex 11 §12.1: safeguards against unauthorised use — lockout after
  `lockout_threshold` consecutive failed logins for `lockout_minutes`, and a second factor (TOTP,
  RFC 6238) for the roles in `totp_roles` (by default every role that can change data: admin,
  investigator, coordinator, and monitor for queries);
* NIST SP 800-63B §7.1 / §4.2.3: reauthentication after `idle_timeout_minutes` of inactivity;
* NIST SP 800-63B §5.1.1.2: `min_length` (≥ 12) and the reuse history of `password_history`;
* 21 CFR 11.300(b): passwords "periodically checked, recalled, or revised" — a password older
  than `max_password_age_days` must be changed at the next sign-in (0: no ageing, the default,
  since NIST SP 800-63B §5.1.1.2 advises against arbitrary expiry; a sponsor's SOP sets it),
  with a warning `password_expiry_warning_days` before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.services.access import require
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.errors import ValidationProblem
from trialdesk.services.passwords import MIN_PASSWORD_LENGTH
from trialdesk.services.uow import change_record, require_reason, row_values, service
from trialdesk.store import audit
from trialdesk.store.enums import AuditAction, Role
from trialdesk.store.models import SecurityPolicy, Site, User

DATA_CHANGING_ROLES = (Role.ADMIN, Role.INVESTIGATOR, Role.COORDINATOR, Role.MONITOR)

# field: (lowest, highest) accepted value
LIMITS: dict[str, tuple[int, int]] = {
    "lockout_threshold": (1, 100),  # NIST SP 800-63B §5.2.2: no more than 100
    "lockout_minutes": (1, 24 * 60),
    "idle_timeout_minutes": (1, 8 * 60),  # never longer than a browser session
    "min_password_length": (MIN_PASSWORD_LENGTH, 256),
    "password_history": (0, 24),
    "max_password_age_days": (0, 3 * 365),  # 0: passwords do not age
    "password_expiry_warning_days": (0, 90),
}


@dataclass(frozen=True, kw_only=True)
class PolicySettings:
    """The settings to change (see `LIMITS` and the module docstring for their sources);
    a setting left None keeps its current value."""

    totp_roles: Iterable[Role | str] | None = None
    lockout_threshold: int | None = None
    lockout_minutes: int | None = None
    idle_timeout_minutes: int | None = None
    min_password_length: int | None = None
    password_history: int | None = None
    max_password_age_days: int | None = None
    password_expiry_warning_days: int | None = None


NO_CHANGE = PolicySettings()


class PolicyView(BaseModel):
    """A security policy; `site_code` None is the study-wide one."""

    site_code: str | None = None
    totp_roles: list[Role] = Field(default_factory=lambda: list(DATA_CHANGING_ROLES))
    lockout_threshold: int = 5
    lockout_minutes: int = 15
    idle_timeout_minutes: int = 30
    min_password_length: int = MIN_PASSWORD_LENGTH
    password_history: int = 5
    max_password_age_days: int = 0
    password_expiry_warning_days: int = 14
    version: int = 0
    stored: bool = Field(False, description="False: the built-in default (no row yet)")

    @property
    def lockout(self) -> timedelta:
        return timedelta(minutes=self.lockout_minutes)

    @property
    def idle_timeout(self) -> timedelta:
        return timedelta(minutes=self.idle_timeout_minutes)

    @property
    def idle_timeout_seconds(self) -> int:
        return self.idle_timeout_minutes * 60

    @property
    def max_password_age(self) -> timedelta | None:
        return timedelta(days=self.max_password_age_days) if self.max_password_age_days else None

    def requires_totp(self, roles: Iterable[Role]) -> bool:
        return any(role in self.totp_roles for role in roles)


DEFAULT_POLICY = PolicyView()
_SETTINGS = tuple(LIMITS) + ("totp_roles",)


def _view(row: SecurityPolicy, site_code: str | None) -> PolicyView:
    return PolicyView(
        site_code=site_code,
        totp_roles=sorted(Role(r) for r in row.totp_roles),
        **{name: getattr(row, name) for name in LIMITS},
        version=row.version,
        stored=True,
    )


def _row(session: Session, site_id: int | None) -> SecurityPolicy | None:
    where = (
        SecurityPolicy.site_id.is_(None) if site_id is None else SecurityPolicy.site_id == site_id
    )
    return session.scalars(select(SecurityPolicy).where(where)).first()


def _site(session: Session, code: str) -> Site:
    site = session.scalars(select(Site).where(Site.code == code)).first()
    if site is None:
        raise ValidationProblem("site_code", f"unknown site {code}")
    return site


def study_policy(session: Session) -> PolicyView:
    row = _row(session, None)
    return DEFAULT_POLICY if row is None else _view(row, None)


def policy_for_sites(session: Session, site_ids: Iterable[int]) -> PolicyView:
    """The strictest of the policies in force at `site_ids` (study-wide without sites)."""
    base = study_policy(session)
    policies = [base]
    ids = list(site_ids)
    if ids:
        rows = session.scalars(select(SecurityPolicy).where(SecurityPolicy.site_id.in_(ids)))
        overrides = {row.site_id: row for row in rows}
        policies = [_view(overrides[i], None) if i in overrides else base for i in ids]
    return _strictest(policies)


def policy_for_user(session: Session, user: User) -> PolicyView:
    return policy_for_sites(session, user.site_ids)


def _strictest(policies: list[PolicyView]) -> PolicyView:
    if len(policies) == 1:
        return policies[0]
    roles = sorted({role for p in policies for role in p.totp_roles})
    return PolicyView(
        totp_roles=roles,
        lockout_threshold=min(p.lockout_threshold for p in policies),
        lockout_minutes=max(p.lockout_minutes for p in policies),
        idle_timeout_minutes=min(p.idle_timeout_minutes for p in policies),
        min_password_length=max(p.min_password_length for p in policies),
        password_history=max(p.password_history for p in policies),
        max_password_age_days=_shortest_age(policies),
        password_expiry_warning_days=max(p.password_expiry_warning_days for p in policies),
        stored=any(p.stored for p in policies),
    )


def _shortest_age(policies: list[PolicyView]) -> int:
    """The strictest maximum age: the shortest one set (0, no ageing, is the loosest)."""
    ages = [p.max_password_age_days for p in policies if p.max_password_age_days]
    return min(ages, default=0)


@service
def get_security_policy(session: Session, actor: Actor, site_code: str | None = None) -> PolicyView:
    """The study-wide policy, or the one stored for `site_code` (else the study-wide one)."""
    require(actor, Permission.MANAGE_USERS, table="security_policies")
    if site_code is None:
        return study_policy(session)
    row = _row(session, _site(session, site_code).id)
    if row is None:
        return study_policy(session).model_copy(update={"site_code": site_code, "stored": False})
    return _view(row, site_code)


@service
def set_security_policy(
    session: Session,
    actor: Actor,
    *,
    reason: str,
    settings: PolicySettings = NO_CHANGE,
    site_code: str | None = None,
) -> PolicyView:
    """Create or change the study-wide policy (or a site's override); audited with `reason`.

    Settings left None keep their current value (for a new site override: the study-wide one).
    """
    require(actor, Permission.MANAGE_USERS, table="security_policies")
    why = require_reason(reason)
    site_id = None if site_code is None else _site(session, site_code).id
    given = {name: getattr(settings, name) for name in LIMITS}
    changes: dict[str, object] = {k: _in_range(k, v) for k, v in given.items() if v is not None}
    if settings.totp_roles is not None:
        changes["totp_roles"] = sorted(_role(r).value for r in settings.totp_roles)
    row = _row(session, site_id)
    if row is None:
        start = study_policy(session).model_dump(include=set(_SETTINGS), mode="json")
        row = SecurityPolicy(site_id=site_id, **{**start, **changes})
        session.add(row)
        session.flush()
        audit.append(
            session,
            audit.NewEntry(
                user_id=actor.user_id,
                action=AuditAction.CREATE,
                table=SecurityPolicy.__tablename__,
                record_id=row.id,
                changes={k: [None, v] for k, v in row_values(row).items() if v is not None},
                reason=why,
            ),
        )
    else:
        change_record(session, actor, row, changes, reason=why, expected_version=None)
    return _view(row, site_code)


def _in_range(name: str, value: int) -> int:
    low, high = LIMITS[name]
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValidationProblem(name, f"must be a whole number from {low} to {high}")
    return value


def _role(value: Role | str) -> Role:
    try:
        return Role(value)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise ValidationProblem("totp_roles", f"{value!r} is not a role ({choices})") from None

"""Password ageing (21 CFR 11.300(b): passwords "periodically checked, recalled, or revised").

A password older than the security policy's `max_password_age_days` must be changed at the next
sign-in, on the web and the API alike (the login step ``change_password``); from
`password_expiry_warning_days` before, each sign-in says when it expires. The age counts from
the last change (`User.password_changed_at`; an account without one: from its creation).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from trialdesk.services.security_policy import PolicyView
from trialdesk.store.models import User


def password_expires_at(user: User, policy: PolicyView) -> datetime | None:
    """When the password stops being accepted without a change (None: it does not age)."""
    age = policy.max_password_age
    if age is None:
        return None
    return (user.password_changed_at or user.created_at) + age


def password_expired(user: User, policy: PolicyView, now: datetime) -> bool:
    expires = password_expires_at(user, policy)
    return expires is not None and expires <= now


def expiry_warning(user: User, policy: PolicyView, now: datetime) -> str | None:
    """A sentence for the user when the password expires within the warning period."""
    expires = password_expires_at(user, policy)
    if expires is None or expires <= now:
        return None
    if expires - now > timedelta(days=policy.password_expiry_warning_days):
        return None
    days = (expires - now).days
    when = "within a day" if days == 0 else f"in {days} day{'s' if days != 1 else ''}"
    return (
        f"Your password expires {when} ({expires.date().isoformat()}, after "
        f"{policy.max_password_age_days} days): change it before then, or you will have to at "
        "your next sign-in."
    )


def change_reason(user: User, policy: PolicyView, now: datetime) -> str:
    """Why the sign-in asks for a new password (shown to the user, kept in the audit trail)."""
    if user.must_change_password:
        return "the password was set by an administrator and must be changed first"
    return (
        f"the password is more than {policy.max_password_age_days} days old (security policy) "
        "and must be changed"
    )

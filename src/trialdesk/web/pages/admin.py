"""Administration pages (issue #18): the user list, where an administrator unlocks an account,
resets a password or disables and enables a user, each with a reason kept in the audit trail;
the security policy, study-wide and per site; verifying the audit trail from the dashboard; and
every user's own password change.

The pages only parse and render: the rules (who may, what is required, what is audited) are
those of `trialdesk.services`, the same the console and the REST API call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from trialdesk.services.access import require
from trialdesk.services.accounts import (
    AccountChange,
    get_user,
    list_sites,
    list_users,
    reset_password,
    set_password,
    unlock_user,
    update_user,
)
from trialdesk.services.actor import Permission
from trialdesk.services.errors import ServiceError
from trialdesk.services.records import verify_audit_trail
from trialdesk.services.security_policy import (
    LIMITS,
    PolicySettings,
    get_security_policy,
    set_security_policy,
)
from trialdesk.store.enums import Role
from trialdesk.store.types import utcnow
from trialdesk.web.deps import DB, CurrentUser
from trialdesk.web.flash import with_note
from trialdesk.web.forms import FormInput, given, read_form
from trialdesk.web.routing import WebRoute, WebUser
from trialdesk.web.templating import render

router = APIRouter(route_class=WebRoute)

USERS_SHOWN = 200  # a trial's staff fit on one page

SETTING_LABELS = {
    "lockout_threshold": "Failed sign-ins before a lockout",
    "lockout_minutes": "Lockout duration (minutes)",
    "idle_timeout_minutes": "Idle timeout (minutes)",
    "min_password_length": "Minimum password length",
    "password_history": "Earlier passwords not reusable",
    "max_password_age_days": "Maximum password age (days; 0 = no ageing)",
    "password_expiry_warning_days": "Warn before expiry (days)",
}


def _refuse_access(exc: ServiceError) -> None:
    """403/404 are answered as such (not as a form error): the page is not theirs to use."""
    if exc.status in (403, 404):
        raise exc


# --- users ---------------------------------------------------------------------------------------


@router.get("/admin/users")
def users_page(request: Request, session: DB, user: CurrentUser) -> Response:
    return _users(request, session, user, {}, None)


def _users(
    request: Request,
    session: DB,
    user: WebUser,
    errors: dict[str, str],
    shown_password: tuple[str, str] | None,
    *,
    status_code: int = 200,
) -> Response:
    page = list_users(session, user.actor, limit=USERS_SHOWN)
    context: dict[str, Any] = {
        "users": page.items,
        "total": page.total,
        "now": utcnow(),
        "errors": errors,
        "shown_password": shown_password,
    }
    return render(request, "admin_users.html", context, status_code=status_code)


def _user_action_refused(
    request: Request, session: DB, user: WebUser, user_id: int, form: FormInput
) -> Response:
    errors = {f"{name}-{user_id}": text for name, text in form.errors.items()}
    return _users(request, session, user, errors, None, status_code=422)


@router.post("/admin/users/{user_id}/unlock")
async def unlock(request: Request, session: DB, user: CurrentUser, user_id: int) -> Response:
    form = await read_form(request)
    if not form.errors:
        try:
            target = unlock_user(session, user.actor, user_id, reason=form.values.get("reason", ""))
            done = f"{target.username} unlocked."
            return RedirectResponse(with_note(request, "/admin/users", done), status_code=303)
        except ServiceError as exc:
            _refuse_access(exc)
            form.refused(exc, {}, "reason")
    return _user_action_refused(request, session, user, user_id, form)


@router.post("/admin/users/{user_id}/reset-password")
async def reset(request: Request, session: DB, user: CurrentUser, user_id: int) -> Response:
    form = await read_form(request)
    if not form.errors:
        try:
            reason = form.values.get("reason", "")
            password = reset_password(session, user.actor, user_id, reason=reason)
            target = get_user(session, user.actor, user_id)
            # Shown in this answer only, never in an address or a log (no redirect).
            return _users(request, session, user, {}, (target.username, password))
        except ServiceError as exc:
            _refuse_access(exc)
            form.refused(exc, {}, "reason")
    return _user_action_refused(request, session, user, user_id, form)


@router.post("/admin/users/{user_id}/active")
async def set_active(request: Request, session: DB, user: CurrentUser, user_id: int) -> Response:
    form = await read_form(request)
    version = form.integer("version", required=True)
    active = form.yes_no("active")
    if active is None:
        form.errors["active"] = "choose enable or disable"
    if not form.errors:
        try:
            target = update_user(
                session,
                user.actor,
                user_id,
                AccountChange(active=active),
                expected_version=given(version),
                reason=form.values.get("reason", ""),
            )
            done = f"{target.username} {'enabled' if target.active else 'disabled'}."
            return RedirectResponse(with_note(request, "/admin/users", done), status_code=303)
        except ServiceError as exc:
            _refuse_access(exc)
            form.refused(exc, {}, "reason")
    return _user_action_refused(request, session, user, user_id, form)


# --- security policy -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RefusedPolicy:
    """A policy form sent back: which one ("" study-wide, else the site code), as typed."""

    scope: str
    values: dict[str, str] = field(default_factory=dict)
    roles: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


@router.get("/admin/security-policy")
def policy_page(request: Request, session: DB, user: CurrentUser) -> Response:
    return _policy(request, session, user, None)


def _policy(
    request: Request, session: DB, user: WebUser, refused: RefusedPolicy | None
) -> Response:
    sites = list_sites(session, user.actor)
    policies = [get_security_policy(session, user.actor, None)] + [
        get_security_policy(session, user.actor, s.code) for s in sites
    ]
    context: dict[str, Any] = {
        "policies": policies,
        "labels": SETTING_LABELS,
        "limits": LIMITS,
        "roles": [r.value for r in Role],
        "refused": refused,
    }
    status_code = 200 if refused is None else 422
    return render(request, "admin_policy.html", context, status_code=status_code)


@router.post("/admin/security-policy")
async def save_policy(request: Request, session: DB, user: CurrentUser) -> Response:
    require(user.actor, Permission.MANAGE_USERS, table="security_policies")
    form = await read_form(request)
    site_code = form.values.get("site_code") or None
    settings = {name: form.integer(name, required=True) for name in SETTING_LABELS}
    if not form.errors:
        try:
            set_security_policy(
                session,
                user.actor,
                reason=form.values.get("reason", ""),
                site_code=site_code,
                settings=PolicySettings(
                    totp_roles=form.many("totp_roles"),
                    **{name: given(value) for name, value in settings.items()},
                ),
            )
            scope = f"site {site_code}" if site_code else "study-wide"
            done = f"Security policy ({scope}) saved."
            return RedirectResponse(
                with_note(request, "/admin/security-policy", done), status_code=303
            )
        except ServiceError as exc:
            _refuse_access(exc)
            form.refused(exc, {}, "reason")
    refused = RefusedPolicy(site_code or "", form.values, form.many("totp_roles"), form.errors)
    return _policy(request, session, user, refused)


# --- the audit trail, from the dashboard ---------------------------------------------------------


@router.post("/audit/verify")
async def verify_now(request: Request, session: DB, user: CurrentUser) -> Response:
    """Verify chain and checkpoints now; the dashboard shows the result (kept for it)."""
    form = await read_form(request)
    if form.errors:
        return RedirectResponse("/dashboard", status_code=303)
    report = verify_audit_trail(session, user.actor, anchor=request.app.state.anchor)
    if not report.ok:  # the dashboard shows it in red at the top, not in a (green) note
        return RedirectResponse("/dashboard#audit-failure", status_code=303)
    note = f"Audit trail verified: {report.message}"
    return RedirectResponse(with_note(request, "/dashboard", note), status_code=303)


# --- one's own password --------------------------------------------------------------------------


@router.get("/account/password")
def own_password_page(request: Request, user: CurrentUser) -> Response:
    return render(request, "account_password.html", {"errors": {}})


@router.post("/account/password")
async def change_own_password(request: Request, session: DB, user: CurrentUser) -> Response:
    form = await read_form(request)
    new = form.values.get("new_password", "")
    if new != form.values.get("confirm_password", ""):
        form.errors["confirm_password"] = "the two new passwords differ"
    if not form.errors:
        try:
            assert user.actor.user_id is not None  # a session belongs to a person
            set_password(
                session,
                user.actor,
                user.actor.user_id,
                new,
                current_password=form.values.get("current_password", ""),
                reason="changed by the user",
            )
            # Every session of the user ended with the change: sign in with the new password.
            return RedirectResponse("/login?done=password-changed", status_code=303)
        except ServiceError as exc:
            _refuse_access(exc)
            wrong = exc.rule == "wrong_password"
            form.refused(exc, {}, "current_password" if wrong else "new_password")
    return render(request, "account_password.html", {"errors": form.errors}, status_code=422)

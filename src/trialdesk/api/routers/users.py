"""User accounts, roles and site membership (administrators; a user may read their own)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from pydantic import Field

from trialdesk.api.deps import ActorDep, SessionDep, VersionDep, set_etag
from trialdesk.api.openapi import CREATE_ERRORS, READ_ERRORS, WRITE_ERRORS, error_responses
from trialdesk.api.pagination import PageDep
from trialdesk.api.routing import EventLoopRoute, on_thread
from trialdesk.api.schemas import Body, Change
from trialdesk.services.accounts import (
    AccountChange,
    NewUserAccount,
    create_user,
    get_user,
    list_users,
    reset_totp,
    set_password,
    unlock_user,
    update_user,
)
from trialdesk.services.redcap_tokens import issue_redcap_token
from trialdesk.services.views import IssuedToken, Page, UserView
from trialdesk.store.enums import Role

router = APIRouter(prefix="/users", tags=["users"], route_class=EventLoopRoute)


class UserCreate(Body):
    username: str = Field(description="2–64 lower-case letters, digits, '.', '_' or '-'")
    full_name: str
    password: str = Field(description="Checked against the password policy")
    roles: list[Role] = Field(min_length=1)
    site_codes: list[str] = Field(default_factory=list)
    email: str | None = None


class UserChange(Change):
    full_name: str | None = None
    email: str | None = None
    active: bool | None = Field(None, description="false deactivates and revokes all tokens")
    roles: list[Role] | None = None
    site_codes: list[str] | None = None


class PasswordChange(Body):
    new_password: str
    current_password: str | None = Field(
        None, description="Required when users change their own password"
    )
    reason: str = "password change"
    temporary: bool | None = Field(
        None,
        description="Set by an administrator: true (the default) makes the user change it at "
        "their next login",
    )


class Reason(Body):
    reason: str = Field(min_length=1, description="Why (kept in the audit trail)")


@router.get("", summary="All users (administrators)", responses=READ_ERRORS)
def get_users(session: SessionDep, actor: ActorDep, page: PageDep) -> Page[UserView]:
    return list_users(session, actor, limit=page.limit, offset=page.offset)


@router.post(
    "", status_code=status.HTTP_201_CREATED, summary="Create a user", responses=CREATE_ERRORS
)
@on_thread  # argon2 is slow on purpose
def post_user(body: UserCreate, session: SessionDep, actor: ActorDep) -> UserView:
    return create_user(
        session,
        actor,
        NewUserAccount(
            username=body.username,
            full_name=body.full_name,
            password=body.password,
            roles=body.roles,
            site_codes=body.site_codes,
            email=body.email,
        ),
    )


@router.get(
    "/{user_id}", summary="One user (administrators, or the user themself)", responses=READ_ERRORS
)
def get_one_user(
    user_id: int, session: SessionDep, actor: ActorDep, response: Response
) -> UserView:
    view = get_user(session, actor, user_id)
    set_etag(response, view.version)
    return view


@router.patch("/{user_id}", summary="Change an account (If-Match; reason)", responses=WRITE_ERRORS)
def patch_user(
    *,
    user_id: int,
    body: UserChange,
    session: SessionDep,
    actor: ActorDep,
    version: VersionDep,
    response: Response,
) -> UserView:
    view = update_user(
        session,
        actor,
        user_id,
        AccountChange(
            full_name=body.full_name,
            email=body.email,
            active=body.active,
            roles=body.roles,
            site_codes=body.site_codes,
        ),
        expected_version=version,
        reason=body.reason or "",
    )
    set_etag(response, view.version)
    return view


@router.post(
    "/{user_id}/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Set a password (own, with the current one; or any, as administrator)",
    responses=error_responses(401, 403, 404, 422),
)
@on_thread  # argon2 is slow on purpose
def post_password(
    user_id: int, body: PasswordChange, session: SessionDep, actor: ActorDep
) -> Response:
    """Revokes every token of the user: they sign in again with the new password. One set by an
    administrator must be changed at the next login."""
    set_password(
        session,
        actor,
        user_id,
        body.new_password,
        current_password=body.current_password,
        reason=body.reason,
        temporary=body.temporary,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{user_id}/unlock",
    summary="Lift a lockout after failed logins (administrators; reason audited)",
    responses=error_responses(401, 403, 404, 422),
)
def post_unlock(user_id: int, body: Reason, session: SessionDep, actor: ActorDep) -> UserView:
    return unlock_user(session, actor, user_id, reason=body.reason)


@router.post(
    "/{user_id}/totp-reset",
    summary="Remove a lost authenticator: the user enrols again (administrators; audited)",
    responses=error_responses(401, 403, 404, 422),
)
def post_totp_reset(user_id: int, body: Reason, session: SessionDep, actor: ActorDep) -> UserView:
    return reset_totp(session, actor, user_id, reason=body.reason)


class RedcapTokenRequest(Body):
    days: int = Field(90, description="Valid for this many days (1–90)")


@router.post(
    "/{user_id}/redcap-token",
    status_code=status.HTTP_201_CREATED,
    summary="A REDCap API token for /redcap/api/, acting as this user (administrators; shown "
    "once, stored hashed, audited)",
    responses=error_responses(401, 403, 404, 422),
)
def post_redcap_token(
    user_id: int, body: RedcapTokenRequest, session: SessionDep, actor: ActorDep
) -> IssuedToken:
    return issue_redcap_token(session, actor, user_id, days=body.days)

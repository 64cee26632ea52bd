"""Sign in (username + password → bearer token with expiry), sign out, who am I."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from trialdesk.api.deps import ActorDep, SessionDep, TokenDep, set_etag
from trialdesk.api.openapi import error_responses
from trialdesk.api.routing import EventLoopRoute, on_thread
from trialdesk.api.schemas import Body
from trialdesk.services.accounts import TOKEN_LIFETIME, get_user, login, revoke_token
from trialdesk.services.views import UserView
from trialdesk.store.enums import TokenKind
from trialdesk.store.types import utcnow

router = APIRouter(prefix="/auth", tags=["auth"], route_class=EventLoopRoute)

_DEFAULT_MINUTES = int(TOKEN_LIFETIME[TokenKind.API] / timedelta(minutes=1))


class TokenRequest(Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    lifetime_minutes: int | None = Field(
        None,
        ge=1,
        le=_DEFAULT_MINUTES,
        description=f"Ask for a shorter-lived token (default and maximum {_DEFAULT_MINUTES}).",
    )


class TokenResponse(BaseModel):
    """OAuth 2.0 style bearer token (RFC 6750); shown once, stored only as a hash."""

    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    expires_in: int = Field(description="Seconds until the token expires")


@router.post(
    "/token",
    summary="Sign in: username and password for a bearer token",
    responses=error_responses(401, 422, 429),
)
@on_thread  # argon2 is slow on purpose
def issue_token(body: TokenRequest, session: SessionDep) -> TokenResponse:
    """Repeated failures are throttled (429 with Retry-After) and lock the account for a while;
    every attempt is audited."""
    lifetime = timedelta(minutes=body.lifetime_minutes) if body.lifetime_minutes else None
    issued = login(session, body.username, body.password, kind=TokenKind.API, lifetime=lifetime)
    remaining = int((issued.expires_at - utcnow()).total_seconds())
    return TokenResponse(
        access_token=issued.token, expires_at=issued.expires_at, expires_in=max(remaining, 0)
    )


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

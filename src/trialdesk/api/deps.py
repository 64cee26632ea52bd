"""Dependencies shared by the routers: the database session, the signed-in actor, the
optimistic-lock precondition (If-Match) and the ETag of a record."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from trialdesk.api.errors import ApiError
from trialdesk.services.accounts import resolve_token
from trialdesk.services.actor import Actor

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearerToken",
    description="Token from POST /api/v1/auth/token; it expires, and logout revokes it.",
)

_WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="trialdesk"'}


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request; each service call commits or rolls back its own transaction.

    The dependencies are ``async def``: FastAPI runs a plain ``def`` dependency on a worker
    thread, and each hop to a thread and back waits for the GIL (up to 5 ms under load). Like
    the endpoints (`trialdesk.api.routing`), they run on the event loop. Closing the session
    only hands its connection back: the services have committed or rolled back already.
    """
    session: Session = request.app.state.sessions()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


async def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> str:
    if credentials is None or not credentials.credentials.strip():
        raise ApiError(
            401,
            "not_authenticated",
            "sign in first: send 'Authorization: Bearer <token>' (POST /api/v1/auth/token)",
            headers=_WWW_AUTHENTICATE,
        )
    return credentials.credentials.strip()


async def current_actor(session: SessionDep, token: Annotated[str, Depends(bearer_token)]) -> Actor:
    """The user the bearer token belongs to (401 when unknown, expired or revoked)."""
    return resolve_token(session, token)


ActorDep = Annotated[Actor, Depends(current_actor)]
TokenDep = Annotated[str, Depends(bearer_token)]

# RFC 9110 §8.8.3: an entity tag is a quoted string, optionally weak (W/"…").
_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')


async def expected_version(
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            description="The record's version, as given by the ETag of its GET or the "
            '`version` field, e.g. "3". Required for any change.',
        ),
    ] = None,
) -> int:
    """The version the client last saw (optimistic locking): 428 without it."""
    if if_match is None or not if_match.strip():
        raise ApiError(
            428,
            "if_match_required",
            "send 'If-Match: \"<version>\"' with the version of the record you read, so that a "
            "change made meanwhile by someone else is not overwritten",
            field="If-Match",
        )
    match = _ETAG.match(if_match)
    if match is None:
        raise ApiError(
            400,
            "invalid_if_match",
            f'If-Match {if_match!r} is not a record version such as "3"',
            field="If-Match",
        )
    return int(match.group(1))


VersionDep = Annotated[int, Depends(expected_version)]


def etag(version: int) -> str:
    return f'"{version}"'


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)

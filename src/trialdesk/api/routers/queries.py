"""Data queries on one field of one record: raised (by a monitor, an investigator, or an edit
check), answered by the site, closed (or sent back) by whoever raised them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import Field

from trialdesk.api.deps import ActorDep, SessionDep, VersionDep, set_etag
from trialdesk.api.openapi import CREATE_ERRORS, READ_ERRORS, WRITE_ERRORS
from trialdesk.api.pagination import PageDep
from trialdesk.api.routing import EventLoopRoute
from trialdesk.api.schemas import Body
from trialdesk.services.paging import Page as Paging
from trialdesk.services.queries import (
    QueryFilter,
    answer_query,
    close_query,
    get_query,
    list_queries,
    raise_query,
    reopen_query,
)
from trialdesk.services.views import Page, QueryView
from trialdesk.store.enums import QueryStatus

router = APIRouter(prefix="/queries", tags=["queries"], route_class=EventLoopRoute)


class QueryCreate(Body):
    target_table: str = Field(description="Table of the record queried, e.g. measurements")
    target_id: int = Field(description="Id of the record queried")
    field: str = Field(description="Field of the record, e.g. value")
    text: str = Field(description="The question to the site")


class QueryAnswer(Body):
    answer: str


class QueryClose(Body):
    resolution: str


class QueryReopen(Body):
    text: str = Field(description="Why the answer does not resolve the query")


@router.get(
    "",
    summary="Queries at the user's sites (filter by participant, status, record)",
    responses=READ_ERRORS,
)
def get_queries(
    *,
    session: SessionDep,
    actor: ActorDep,
    page: PageDep,
    participant_id: int | None = None,
    status_: Annotated[QueryStatus | None, Query(alias="status")] = None,
    target_table: str | None = None,
    target_id: int | None = None,
) -> Page[QueryView]:
    where = QueryFilter(
        participant_id=participant_id,
        status=status_,
        target_table=target_table,
        target_id=target_id,
    )
    return list_queries(session, actor, where=where, page=Paging(page.limit, page.offset))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Raise a query (monitors, investigators)",
    responses=CREATE_ERRORS,
)
def post_query(
    body: QueryCreate, session: SessionDep, actor: ActorDep, response: Response
) -> QueryView:
    view = raise_query(session, actor, **body.model_dump())
    set_etag(response, view.version)
    return view


@router.get("/{query_id}", summary="One query", responses=READ_ERRORS)
def get_one(query_id: int, session: SessionDep, actor: ActorDep, response: Response) -> QueryView:
    view = get_query(session, actor, query_id)
    set_etag(response, view.version)
    return view


@router.post(
    "/{query_id}/answer", summary="Answer a query (site staff; If-Match)", responses=WRITE_ERRORS
)
def post_answer(
    *,
    query_id: int,
    body: QueryAnswer,
    session: SessionDep,
    actor: ActorDep,
    version: VersionDep,
    response: Response,
) -> QueryView:
    view = answer_query(session, actor, query_id, expected_version=version, answer=body.answer)
    set_etag(response, view.version)
    return view


@router.post(
    "/{query_id}/close",
    summary="Close a query (monitors, investigators; If-Match)",
    responses=WRITE_ERRORS,
)
def post_close(
    *,
    query_id: int,
    body: QueryClose,
    session: SessionDep,
    actor: ActorDep,
    version: VersionDep,
    response: Response,
) -> QueryView:
    view = close_query(
        session, actor, query_id, expected_version=version, resolution=body.resolution
    )
    set_etag(response, view.version)
    return view


@router.post(
    "/{query_id}/reopen",
    summary="Send an answered query back to the site (If-Match)",
    responses=WRITE_ERRORS,
)
def post_reopen(
    *,
    query_id: int,
    body: QueryReopen,
    session: SessionDep,
    actor: ActorDep,
    version: VersionDep,
    response: Response,
) -> QueryView:
    view = reopen_query(session, actor, query_id, expected_version=version, text=body.text)
    set_etag(response, view.version)
    return view

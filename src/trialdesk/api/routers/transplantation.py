"""The cell transplantation: product, lot, cell source, dose (cells/kg), route, date, operator."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Response, status
from pydantic import Field

from trialdesk.api.deps import ActorDep, SessionDep, VersionDep, set_etag
from trialdesk.api.numbers import Number
from trialdesk.api.openapi import CREATE_ERRORS, READ_ERRORS, WRITE_ERRORS
from trialdesk.api.pagination import PageDep, page_of
from trialdesk.api.routers._records import add_record_routes
from trialdesk.api.routing import EventLoopRoute
from trialdesk.api.schemas import Body, Change
from trialdesk.services.crf_entries import TransplantationEntry
from trialdesk.services.transplantation import (
    list_transplantations,
    record_transplantation,
    update_transplantation,
)
from trialdesk.services.views import Page, TransplantationView
from trialdesk.store.enums import CellSource, Route

router = APIRouter(tags=["transplantation"], route_class=EventLoopRoute)


class TransplantationCreate(Body):
    performed_on: date
    product: str = Field(description="Cell product name")
    lot_number: str
    cell_source: CellSource
    dose_cells_per_kg: Number = Field(description="Cells per kg body weight, e.g. 1e6")
    route: Route
    operator: str = Field(description="Who administered the cells")
    weight_kg: Number | None = Field(None, description="Body weight used for the dose")
    visit_code: str | None = None
    notes: str | None = None


class TransplantationChange(Change):
    performed_on: date | None = None
    product: str | None = None
    lot_number: str | None = None
    cell_source: CellSource | None = None
    dose_cells_per_kg: Number | None = None
    route: Route | None = None
    operator: str | None = None
    weight_kg: Number | None = None
    notes: str | None = None


@router.get(
    "/participants/{participant_id}/transplantations",
    summary="Transplantations of a participant",
    responses=READ_ERRORS,
)
def get_transplantations(
    participant_id: int,
    session: SessionDep,
    actor: ActorDep,
    page: PageDep,
    include_voided: bool = False,
) -> Page[TransplantationView]:
    rows = list_transplantations(session, actor, participant_id, include_voided=include_voided)
    return page_of(rows, page)


@router.post(
    "/participants/{participant_id}/transplantations",
    status_code=status.HTTP_201_CREATED,
    summary="Record the cell transplantation",
    responses=CREATE_ERRORS,
)
def post_transplantation(
    participant_id: int,
    body: TransplantationCreate,
    session: SessionDep,
    actor: ActorDep,
    response: Response,
) -> TransplantationView:
    view = record_transplantation(
        session, actor, participant_id, TransplantationEntry(**body.model_dump())
    )
    set_etag(response, view.version)
    return view


@router.patch(
    "/transplantations/{transplantation_id}",
    summary="Correct a transplantation record (If-Match; reason)",
    responses=WRITE_ERRORS,
)
def patch_transplantation(
    *,
    transplantation_id: int,
    body: TransplantationChange,
    session: SessionDep,
    actor: ActorDep,
    version: VersionDep,
    response: Response,
) -> TransplantationView:
    fields = body.model_dump(exclude={"reason"}, exclude_none=True)
    view = update_transplantation(
        session,
        actor,
        transplantation_id,
        expected_version=version,
        reason=body.reason or "",
        **fields,
    )
    set_etag(response, view.version)
    return view


add_record_routes(
    router, "/transplantations", "transplantations", "transplantation", TransplantationView
)

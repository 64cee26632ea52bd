"""Monitoring (issue 14): the record status grid, source-data verification marks and SDV
progress: the same use cases as the web pages."""

from __future__ import annotations

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from trialdesk.api.deps import ActorDep, SessionDep
from trialdesk.api.openapi import CREATE_ERRORS, READ_ERRORS
from trialdesk.api.routing import EventLoopRoute
from trialdesk.api.schemas import Body
from trialdesk.services.cell_status import LEGEND, CellStatus
from trialdesk.services.record_grid import DEFAULT_ROWS, record_status_grid
from trialdesk.services.sdv import SdvMarkView, SdvTarget, list_sdv_marks, mark_source_data
from trialdesk.services.sdv_plan import SdvReason
from trialdesk.services.sdv_progress import Tally, participant_sdv_plan, sdv_progress
from trialdesk.store.enums import SdvKind

router = APIRouter(tags=["monitoring"], route_class=EventLoopRoute)


class GridColumnOut(BaseModel):
    visit_code: str
    visit_name: str
    form: str
    form_label: str


class GridRowOut(BaseModel):
    participant_id: int
    study_id: str
    site_code: str
    cells: list[CellStatus] = Field(description="One status per column, in column order")


class LegendOut(BaseModel):
    status: CellStatus
    label: str
    meaning: str


class RecordGridOut(BaseModel):
    columns: list[GridColumnOut]
    rows: list[GridRowOut]
    total: int = Field(description="Participants matching the filters")
    counts: dict[CellStatus, int] = Field(description="Cells per status over the chosen sites")
    legend: list[LegendOut]
    limit: int
    offset: int


@router.get(
    "/monitoring/record-status",
    summary="Record status grid: participants × scheduled forms, one status per cell",
    responses=READ_ERRORS,
)
def get_record_status(
    *,
    session: SessionDep,
    actor: ActorDep,
    site: str | None = Query(None, description="Site code (default: all your sites)"),
    status_: str | None = Query(None, alias="status", description="Rows having this status"),
    limit: int = DEFAULT_ROWS,
    offset: int = 0,
) -> RecordGridOut:
    grid = record_status_grid(
        session, actor, site_code=site, status=status_, limit=limit, offset=offset
    )
    return RecordGridOut(
        columns=[GridColumnOut(**vars(c)) for c in grid.columns],
        rows=[
            GridRowOut(
                participant_id=r.participant_id,
                study_id=r.study_id,
                site_code=r.site_code,
                cells=list(r.cells),
            )
            for r in grid.rows
        ],
        total=grid.total_rows,
        counts=grid.counts,
        legend=[LegendOut(status=e.status, label=e.label, meaning=e.meaning) for e in LEGEND],
        limit=grid.limit,
        offset=grid.offset,
    )


class TallyOut(BaseModel):
    selected: int = Field(description="Forms with data selected for SDV")
    verified: int
    reviewed: int
    percent: float = Field(description="Verified / selected, in %")


def _tally(t: Tally) -> TallyOut:
    return TallyOut(
        selected=t.selected, verified=t.verified, reviewed=t.reviewed, percent=round(t.percent, 1)
    )


class SdvProgressOut(BaseModel):
    total: TallyOut
    by_site: dict[str, TallyOut]
    by_participant: dict[str, TallyOut]
    by_visit: dict[str, TallyOut]


@router.get(
    "/monitoring/sdv-progress",
    summary="Source-data verification progress per site, participant and visit",
    responses=READ_ERRORS,
)
def get_sdv_progress(
    session: SessionDep,
    actor: ActorDep,
    site: str | None = Query(None, description="Site code (default: all your sites)"),
) -> SdvProgressOut:
    p = sdv_progress(session, actor, site_code=site)
    return SdvProgressOut(
        total=_tally(p.total),
        by_site={k: _tally(v) for k, v in p.by_site.items()},
        by_participant={k: _tally(v) for k, v in p.by_participant.items()},
        by_visit={k: _tally(v) for k, v in p.by_visit.items()},
    )


class FormPlanOut(BaseModel):
    visit_code: str
    form: str
    has_data: bool
    reason: SdvReason | None = Field(description="Why SDV is required; null: not selected")
    verified: bool
    reviewed: bool


class ParticipantSdvOut(BaseModel):
    forms: list[FormPlanOut]
    marks: list[SdvMarkView] = Field(description="Every mark, cleared ones with the reason")


@router.get(
    "/participants/{participant_id}/sdv",
    summary="A participant's SDV plan (forms selected and why) and marks",
    responses=READ_ERRORS,
)
def get_participant_sdv(
    participant_id: int, session: SessionDep, actor: ActorDep
) -> ParticipantSdvOut:
    forms = participant_sdv_plan(session, actor, participant_id)
    return ParticipantSdvOut(
        forms=[FormPlanOut(**vars(f)) for f in forms],
        marks=list_sdv_marks(session, actor, participant_id),
    )


class SdvMarkIn(Body):
    visit_code: str = Field(description="Visit of the schedule, e.g. M3")
    form: str = Field(description="A form of that visit, e.g. labs")
    kind: SdvKind = SdvKind.VERIFIED
    target_table: str | None = Field(None, description="A record's kind, e.g. measurements")
    target_id: int | None = None
    field: str | None = Field(None, description="One field of the record (null: all)")


@router.post(
    "/participants/{participant_id}/sdv",
    status_code=status.HTTP_201_CREATED,
    summary="Mark a form or a record's field verified against source or reviewed (monitor)",
    responses=CREATE_ERRORS,
)
def post_sdv_mark(
    participant_id: int, body: SdvMarkIn, session: SessionDep, actor: ActorDep
) -> SdvMarkView:
    target = SdvTarget(**body.model_dump(exclude={"kind"}))
    return mark_source_data(session, actor, participant_id, target, body.kind)

"""Medical coding (issue 14): the coder's queue, term search, autocoding, manual coding and
the recode list after a dictionary upgrade: the same use cases as the coding page. Releases are
loaded with ``trialdesk coding load`` (the files are on the sponsor's machine, not uploaded)."""

from __future__ import annotations

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from trialdesk.api.deps import ActorDep, SessionDep
from trialdesk.api.openapi import CREATE_ERRORS, READ_ERRORS
from trialdesk.api.routing import EventLoopRoute
from trialdesk.api.schemas import Body
from trialdesk.services.coding import (
    AutocodeResult,
    CodingView,
    DictionaryView,
    QueueItem,
    TermView,
    autocode,
    code_manually,
    coding_history,
    coding_queue,
    get_coding,
    list_dictionaries,
    review_queue,
    search_terms,
)
from trialdesk.store.enums import DictionaryKind

router = APIRouter(tags=["coding"], route_class=EventLoopRoute)
KIND = Query(DictionaryKind.MEDDRA, description="meddra (adverse events) or drug (medications)")


@router.get("/coding/dictionaries", summary="Dictionary releases loaded", responses=READ_ERRORS)
def get_dictionaries(session: SessionDep, actor: ActorDep) -> list[DictionaryView]:
    return list_dictionaries(session, actor)


@router.get("/coding/queue", summary="Verbatims not coded yet (coder)", responses=READ_ERRORS)
def get_queue(session: SessionDep, actor: ActorDep, kind: DictionaryKind = KIND) -> list[QueueItem]:
    return coding_queue(session, actor, kind)


@router.get(
    "/coding/to-review",
    summary="Codings a dictionary upgrade flagged for review (coder)",
    responses=READ_ERRORS,
)
def get_review(
    session: SessionDep, actor: ActorDep, kind: DictionaryKind = KIND
) -> list[QueueItem]:
    return review_queue(session, actor, kind)


@router.get("/coding/terms", summary="Search the latest release's terms", responses=READ_ERRORS)
def get_terms(
    session: SessionDep,
    actor: ActorDep,
    text: str = Query("", description="Part of the term's name (2 letters at least)"),
    kind: DictionaryKind = KIND,
    limit: int = Query(20, ge=1, le=100),
) -> list[TermView]:
    return search_terms(session, actor, kind, text, limit=limit)


class AutocodeIn(Body):
    kind: DictionaryKind = DictionaryKind.MEDDRA


@router.post(
    "/coding/autocode",
    summary="Code every verbatim matching exactly one term or synonym (coder)",
    responses=CREATE_ERRORS,
)
def post_autocode(body: AutocodeIn, session: SessionDep, actor: ActorDep) -> AutocodeResult:
    return autocode(session, actor, body.kind)


class CodingIn(Body):
    target_table: str = Field(description="adverse_events or ogld_doses")
    target_id: int
    code: str = Field(description="The LLT code (adverse event) or drug code (medication)")
    reason: str | None = Field(None, description="Required when replacing a coding")


@router.post(
    "/coding/assignments",
    status_code=status.HTTP_201_CREATED,
    summary="Code a verbatim to the term a coder chose (coder)",
    responses=CREATE_ERRORS,
)
def post_coding(body: CodingIn, session: SessionDep, actor: ActorDep) -> CodingView:
    return code_manually(
        session, actor, body.target_table, body.target_id, code=body.code, reason=body.reason
    )


class CodingOut(BaseModel):
    current: CodingView | None = Field(description="The coding in force (null: not coded)")
    history: list[CodingView] = Field(description="Every coding, superseded ones kept")


def _coding_out(session: SessionDep, actor: ActorDep, table: str, record_id: int) -> CodingOut:
    return CodingOut(
        current=get_coding(session, actor, table, record_id),
        history=coding_history(session, actor, table, record_id),
    )


@router.get(
    "/adverse-events/{adverse_event_id}/coding",
    summary="An adverse event's MedDRA coding and its history",
    responses=READ_ERRORS,
)
def get_adverse_event_coding(
    adverse_event_id: int, session: SessionDep, actor: ActorDep
) -> CodingOut:
    return _coding_out(session, actor, "adverse_events", adverse_event_id)


@router.get(
    "/ogld-doses/{dose_id}/coding",
    summary="An oral glucose-lowering drug's coding (drug dictionary, ATC) and its history",
    responses=READ_ERRORS,
)
def get_ogld_dose_coding(dose_id: int, session: SessionDep, actor: ActorDep) -> CodingOut:
    return _coding_out(session, actor, "ogld_doses", dose_id)

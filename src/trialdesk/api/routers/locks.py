"""Data locks (issue 14): lock the study (database lock), a participant's casebook or one form
of one visit; unlock (administrators, with a reason); list them. The same use cases as the web
pages and `trialdesk lock`. A write to locked data anywhere in the API answers 423 with the
lock named in the error body."""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import Field

from trialdesk.api.deps import ActorDep, SessionDep
from trialdesk.api.openapi import READ_ERRORS, error_responses
from trialdesk.api.routing import EventLoopRoute
from trialdesk.api.schemas import Body
from trialdesk.services.locks import list_locks, lock_form, lock_participant, lock_study, unlock
from trialdesk.services.views import LockView

router = APIRouter(tags=["locks"], route_class=EventLoopRoute)
LOCK_ERRORS = error_responses(401, 403, 404, 409, 422)


class LockRequest(Body):
    reason: str = Field(description="Why the data are locked (e.g. 'data cleaning complete')")


class ParticipantLockRequest(LockRequest):
    visit_code: str | None = Field(None, description="With `form`: lock one form of this visit")
    form: str | None = Field(None, description="A form the schedule has at `visit_code`")


class UnlockRequest(Body):
    reason: str = Field(description="Why the lock is lifted (required, audited)")


@router.get("/locks", summary="Data locks (newest first)", responses=READ_ERRORS)
def get_locks(
    session: SessionDep,
    actor: ActorDep,
    participant_id: int | None = None,
    active: bool = False,
) -> list[LockView]:
    return list_locks(session, actor, participant_id, active_only=active)


@router.post(
    "/locks/study",
    status_code=status.HTTP_201_CREATED,
    summary="Lock the study database for analysis (investigators, administrators)",
    responses=LOCK_ERRORS,
)
def post_study_lock(body: LockRequest, session: SessionDep, actor: ActorDep) -> LockView:
    return lock_study(session, actor, reason=body.reason)


@router.post(
    "/participants/{participant_id}/locks",
    status_code=status.HTTP_201_CREATED,
    summary="Lock a participant's casebook, or one form of one visit",
    responses=LOCK_ERRORS,
)
def post_participant_lock(
    participant_id: int, body: ParticipantLockRequest, session: SessionDep, actor: ActorDep
) -> LockView:
    if body.visit_code or body.form:
        return lock_form(
            session,
            actor,
            participant_id,
            visit_code=body.visit_code or "",
            form=body.form or "",
            reason=body.reason,
        )
    return lock_participant(session, actor, participant_id, reason=body.reason)


@router.post(
    "/locks/{lock_id}/unlock",
    summary="Lift a data lock (administrators; reason required)",
    responses=LOCK_ERRORS,
)
def post_unlock(
    lock_id: int, body: UnlockRequest, session: SessionDep, actor: ActorDep
) -> LockView:
    return unlock(session, actor, lock_id, reason=body.reason)

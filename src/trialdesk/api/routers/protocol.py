"""The protocol versions the study runs under (issue 18): every role may read them; they are
registered from the command line (`trialdesk protocol register`)."""

from __future__ import annotations

from fastapi import APIRouter

from trialdesk.api.deps import ActorDep, SessionDep
from trialdesk.api.openapi import READ_ERRORS
from trialdesk.api.routing import EventLoopRoute
from trialdesk.services.protocol_versions import list_protocol_versions
from trialdesk.services.views import ProtocolVersionView

router = APIRouter(tags=["protocol"], route_class=EventLoopRoute)


@router.get(
    "/protocol-versions",
    summary="Protocol versions: label, effective date, summary of changes, SHA-256, consent form",
    responses=READ_ERRORS,
)
def get_protocol_versions(session: SessionDep, actor: ActorDep) -> list[ProtocolVersionView]:
    return list_protocol_versions(session, actor)

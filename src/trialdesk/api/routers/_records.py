"""`POST /<records>/{id}/void`: the API has no DELETE; a record entered in error is voided
(kept, marked voided, with who, when and why in the audit trail)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from trialdesk.api.deps import ActorDep, SessionDep, VersionDep
from trialdesk.api.openapi import WRITE_ERRORS
from trialdesk.api.schemas import VoidRequest
from trialdesk.services.records import void_clinical_record


def add_void_route(router: APIRouter, path: str, table: str, label: str) -> None:
    """Register `POST {path}/{record_id}/void` for rows of `table`."""

    def void(
        record_id: int,
        body: VoidRequest,
        session: SessionDep,
        actor: ActorDep,
        version: VersionDep,
    ) -> Response:
        void_clinical_record(
            session, actor, table, record_id, expected_version=version, reason=body.reason or ""
        )
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    router.add_api_route(
        f"{path}/{{record_id}}/void",
        void,
        methods=["POST"],
        status_code=status.HTTP_204_NO_CONTENT,
        summary=f"Void a record entered in error: {label} (If-Match; reason)",
        responses=WRITE_ERRORS,
        name=f"void_{table}",
        response_class=Response,
    )

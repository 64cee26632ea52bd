"""Routes every clinical record has: `GET /<records>/{id}` (with its ETag) and
`POST /<records>/{id}/void` — the API has no DELETE; a record entered in error is voided (kept,
marked voided, with who, when and why in the audit trail)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from trialdesk.api.deps import ActorDep, SessionDep, VersionDep, set_etag
from trialdesk.api.openapi import READ_ERRORS, WRITE_ERRORS
from trialdesk.api.schemas import VoidRequest
from trialdesk.services.records import get_clinical_record, void_clinical_record
from trialdesk.services.views import View


def add_get_route(router: APIRouter, path: str, table: str, label: str, view: type[View]) -> None:
    """Register `GET {path}/{record_id}` answering `view` for rows of `table`."""

    def read(record_id: int, session: SessionDep, actor: ActorDep, response: Response) -> Any:
        record = get_clinical_record(session, actor, table, record_id)
        set_etag(response, int(getattr(record, "version", 0)))
        return record

    router.add_api_route(
        f"{path}/{{record_id}}",
        read,
        methods=["GET"],
        response_model=view,
        summary=f"One {label}",
        responses=READ_ERRORS,
        name=f"get_{table}",
    )


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


def add_record_routes(
    router: APIRouter, path: str, table: str, label: str, view: type[View]
) -> None:
    add_get_route(router, path, table, label, view)
    add_void_route(router, path, table, label)

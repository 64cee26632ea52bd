"""A read-only FHIR R4B REST endpoint at `/fhir/R4B` ([@FHIR-R4B] "RESTful API"), tested with a
FHIR client from PyPI ([@fhirpy]).

- `GET /fhir/R4B/metadata`: the CapabilityStatement (what can be read and searched by what);
- `GET /fhir/R4B/{type}/{id}`: read;
- `GET /fhir/R4B/{type}?…`: search, answered as a Bundle of type ``searchset`` with ``total``,
  ``_count`` entries a page and ``self``/``next``/``previous`` links (``_offset``);
- anything else — create, update, delete — 405, as a server that does not offer them answers.

Every answer is ``application/fhir+json``; every refusal an OperationOutcome naming the
parameter or element at fault (FHIR R4B "OperationOutcome", issue-type codes). The bearer
tokens are those of /api/v1 and reading needs the permission to read clinical data; resources of
another site's participants do not exist for the caller (404), as in the rest of the API.
"""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from trialdesk import __version__
from trialdesk.api.fhir_index import (
    CACHE,
    COMMON_PARAMETERS,
    DEFAULT_COUNT,
    MAX_COUNT,
    SEARCH_PARAMETERS,
    FhirIndex,
    SearchError,
)
from trialdesk.services.accounts import resolve_token
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.errors import ServiceError, Unauthenticated

FHIR_PREFIX = "/fhir/R4B"
FHIR_JSON = "application/fhir+json"
FHIR_VERSION = "4.3.0"

router = APIRouter(prefix=FHIR_PREFIX, include_in_schema=False)


def outcome(status: int, code: str, message: str, where: str | None = None) -> JSONResponse:
    """An OperationOutcome with one error issue (`code` from the FHIR issue-type value set)."""
    issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": message}
    if where:
        issue["expression"] = [where]
    headers = (
        {"WWW-Authenticate": 'Bearer realm="trialdesk"'}
        if status == HTTPStatus.UNAUTHORIZED
        else None
    )
    return JSONResponse(
        {"resourceType": "OperationOutcome", "issue": [issue]},
        status_code=status,
        media_type=FHIR_JSON,
        headers=headers,
    )


def _actor(request: Request, session: Any) -> Actor | JSONResponse:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return outcome(
            401, "login", "sign in first: send 'Authorization: Bearer <token>' "
            "(POST /api/v1/auth/token)",
        )  # fmt: skip
    try:
        actor = resolve_token(session, token.strip())
    except Unauthenticated as exc:
        return outcome(401, "login", exc.message)
    if not actor.can(Permission.READ_CLINICAL):
        return outcome(403, "forbidden", f"{actor.username} may not read clinical data")
    return actor


def _index(request: Request) -> tuple[Actor, FhirIndex] | JSONResponse:
    session = request.app.state.sessions()
    try:
        actor = _actor(request, session)
        if isinstance(actor, JSONResponse):
            return actor
        return actor, CACHE.get(request.app.state.engine, session)
    except ServiceError as exc:
        return outcome(exc.status, "processing", exc.message, exc.field)
    finally:
        session.close()


def _fhir(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON)


@router.get("/metadata")
def metadata(request: Request) -> JSONResponse:
    """The CapabilityStatement: read and search-type per resource type, with their search
    parameters (public, as FHIR servers publish it: it holds no study data)."""
    return _fhir(capability_statement(str(request.base_url).rstrip("/") + FHIR_PREFIX))


def capability_statement(base: str) -> dict[str, Any]:
    definition = "http://hl7.org/fhir/SearchParameter/"
    resources = []
    for kind, params in SEARCH_PARAMETERS.items():
        search = [
            {
                "name": name,
                "definition": f"{definition}{kind}-{name}",
                "type": "token" if name in ("code", "event") else "reference",
            }
            for name in params
        ]
        search.append({"name": "_id", "definition": f"{definition}Resource-id", "type": "token"})
        resources.append(
            {
                "type": kind,
                "interaction": [{"code": "read"}, {"code": "search-type"}],
                "searchParam": search,
            }
        )
    statement = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": datetime.now(UTC).date().isoformat(),  # when this statement was generated
        "kind": "instance",
        "software": {"name": "trialdesk", "version": __version__},
        "implementation": {"description": "trialdesk study data (read-only)", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Read-only. Bearer tokens from POST /api/v1/auth/token.",
                "security": {
                    "service": [{"text": "Bearer token (trialdesk API)"}],
                    "description": "Reading needs the permission to read clinical data; "
                    "participants of other sites are not visible.",
                },
                "resource": resources,
            }
        ],
    }
    CapabilityStatement.model_validate(statement)  # the statement itself is valid R4B
    return statement


@router.get("/{kind}/{resource_id}")
def read(request: Request, kind: str, resource_id: str) -> JSONResponse:
    if kind not in SEARCH_PARAMETERS:
        return _unknown_type(kind)
    found = _index(request)
    if isinstance(found, JSONResponse):
        return found
    actor, index = found
    resource = index.read(actor, kind, resource_id)
    if resource is None:
        return outcome(404, "not-found", f"{kind}/{resource_id} is not known", f"{kind}.id")
    return _fhir(resource)


@router.get("/{kind}")
def search(request: Request, kind: str) -> JSONResponse:
    if kind not in SEARCH_PARAMETERS:
        return _unknown_type(kind)
    params = list(request.query_params.multi_items())
    paging = _paging(params)
    if isinstance(paging, JSONResponse):
        return paging
    count, offset = paging
    found = _index(request)
    if isinstance(found, JSONResponse):
        return found
    actor, index = found
    try:
        matches = index.search(actor, kind, params)
    except SearchError as exc:
        return outcome(400, "not-supported", str(exc), exc.parameter)
    base = str(request.base_url).rstrip("/") + FHIR_PREFIX
    return _fhir(_searchset(base, kind, params, matches, count, offset=offset))


def _paging(params: list[tuple[str, str]]) -> tuple[int, int] | JSONResponse:
    values = {}
    for name, default in (("_count", DEFAULT_COUNT), ("_offset", 0)):
        text = next((v for k, v in params if k == name), str(default))
        if not text.isdigit():
            return outcome(400, "value", f"{name} must be a whole number, not {text!r}", name)
        values[name] = int(text)
    if values["_count"] > MAX_COUNT:
        return outcome(400, "too-costly", f"_count must be at most {MAX_COUNT}", "_count")
    return values["_count"], values["_offset"]


def _searchset(
    base: str,
    kind: str,
    params: list[tuple[str, str]],
    matches: list[dict[str, Any]],
    count: int,
    *,
    offset: int,
) -> dict[str, Any]:
    """The page `offset`…`offset+count` of the matches, with its links (FHIR R4B "Paging")."""
    kept = [(k, v) for k, v in params if k not in ("_count", "_offset")]

    def link(relation: str, at: int) -> dict[str, str]:
        query = urlencode([*kept, ("_count", str(count)), ("_offset", str(at))])
        return {"relation": relation, "url": f"{base}/{kind}?{query}"}

    links = [link("self", offset)]
    if count and offset + count < len(matches):
        links.append(link("next", offset + count))
    if offset > 0:
        links.append(link("previous", max(offset - count, 0)))
    page = matches[offset : offset + count]
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(matches),
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base}/{kind}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in page
        ],
    }


def _unknown_type(kind: str) -> JSONResponse:
    known = ", ".join(SEARCH_PARAMETERS)
    return outcome(404, "not-supported", f"{kind!r} is not served here; types: {known}", kind)


READ_ONLY = "this FHIR endpoint is read-only: study data are entered through trialdesk"


@router.api_route("/{path:path}", methods=["POST", "PUT", "PATCH", "DELETE"])
def not_allowed(path: str) -> JSONResponse:
    answer = outcome(405, "not-supported", READ_ONLY)
    answer.headers["Allow"] = "GET"
    return answer


__all__ = ["COMMON_PARAMETERS", "router"]

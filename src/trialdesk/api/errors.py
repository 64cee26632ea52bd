"""One error body for every refusal: `{"error": {code, message, field, details}}`.

`code` is the rule the request broke (e.g. `enrollment_requires_consent`, `stale_version`,
`invalid_request`), so that a client can branch on it and a person can read `message`. Request
validation errors (FastAPI's own 422) and HTTP errors (404 for an unknown path, 405 …) are
rewritten into the same shape; anything unexpected is logged with a reference and answered with a
generic 500 body that leaks no internals.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from trialdesk.api.middleware import API_HEADERS
from trialdesk.services.errors import ServiceError, TooManyAttempts, Unauthenticated

log = logging.getLogger("trialdesk.api")


class ErrorDetail(BaseModel):
    """One problem among several (e.g. each invalid field of a form)."""

    field: str | None = Field(None, description="Dotted path of the field, e.g. body.value")
    message: str
    code: str | None = Field(None, description="Machine-readable reason, e.g. missing")


class ErrorInfo(BaseModel):
    code: str = Field(description="The rule or reason, e.g. stale_version, consent_withdrawn")
    message: str = Field(description="What went wrong, for a person")
    field: str | None = Field(None, description="The field at fault, when there is one")
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """Body of every 4xx/5xx answer."""

    error: ErrorInfo


class ApiError(Exception):
    """A refusal decided in the API layer itself (authentication, preconditions)."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers


def error_response(
    status_code: int,
    code: str,
    message: str,
    field: str | None = None,
    details: Sequence[ErrorDetail] = (),
    *,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(
        error=ErrorInfo(code=code, message=message, field=field, details=list(details))
    )
    return JSONResponse(
        status_code=status_code,
        content=body.model_dump(mode="json"),
        headers=dict(headers) if headers else None,
    )


_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    428: "precondition_required",
    429: "too_many_requests",
}


def _location(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc)


def _validation_details(errors: Sequence[Any]) -> list[ErrorDetail]:
    details = []
    for err in errors:
        loc = err.get("loc", ())
        details.append(
            ErrorDetail(field=_location(loc) or None, message=str(err.get("msg")), code=err["type"])
        )
    return details


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status_code, exc.code, exc.message, exc.field, headers=exc.headers)


async def _on_service_error(request: Request, exc: Exception) -> JSONResponse:
    # Services decide the status (RuleViolation: 422, or 409 when it conflicts with the current
    # state; NotFound 404; Forbidden 403; StaleVersion 409; Unauthenticated 401) and the rule code.
    assert isinstance(exc, ServiceError)
    headers = (
        {"WWW-Authenticate": f'Bearer realm="trialdesk", error="{exc.rule}"'}
        if isinstance(exc, Unauthenticated)
        else None
    )
    if isinstance(exc, TooManyAttempts):  # RFC 6585 §4: say when to come back
        headers = {"Retry-After": str(exc.retry_after)}
    problems = getattr(exc, "problems", None) or {}  # several refused fields (a visit page)
    details = [ErrorDetail(field=f, message=m, code=exc.rule) for f, m in problems.items()]
    answer = error_response(
        exc.status, exc.rule, exc.message, exc.field, details=details, headers=headers
    )
    current = getattr(exc, "current", None)  # values entered meanwhile by someone else
    return _with_current(answer, current) if current else answer


def _with_current(answer: JSONResponse, current: Mapping[str, str]) -> JSONResponse:
    """A conflict's details each say the value saved now (`current`); other bodies unchanged."""
    body = json.loads(bytes(answer.body))
    for detail in body["error"]["details"]:
        if detail["field"] in current:
            detail["current"] = current[detail["field"]]
    headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}
    return JSONResponse(status_code=answer.status_code, content=body, headers=headers)


async def _on_request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = _validation_details(exc.errors())
    first = details[0] if details else None
    message = (
        f"{first.field}: {first.message}" if first and first.field else "the request is invalid"
    )
    if len(details) > 1:
        message += f" (and {len(details) - 1} more problem(s))"
    return error_response(422, "invalid_request", message, first.field if first else None, details)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    message = str(exc.detail) if exc.detail else code.replace("_", " ")
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Never show a traceback or SQL to the client; the reference ties the answer to the log line.
    reference = uuid.uuid4().hex[:12]
    log.exception("unexpected error %s on %s %s", reference, request.method, request.url.path)
    return error_response(
        500,
        "internal_error",
        f"the server could not complete the request (reference {reference}); "
        "please report the reference to the study's data manager",
        headers=API_HEADERS,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers: API refusals, service refusals, bad requests, the rest."""
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(ServiceError, _on_service_error)
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)

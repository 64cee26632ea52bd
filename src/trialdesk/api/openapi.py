"""OpenAPI metadata: error responses that all point at `ErrorBody`, tags, the bearer scheme."""

from __future__ import annotations

from typing import Any

from trialdesk.api.errors import ErrorBody

_DESCRIPTIONS = {
    400: "Bad request",
    401: "Not authenticated: missing, unknown, expired or revoked bearer token",
    403: "The user's role may not do this (the refusal is audited)",
    404: "No such record among the user's sites",
    409: "A study rule refuses the change, or the record changed since it was read "
    "(code stale_version)",
    422: "Invalid input: the body names the field and the reason",
    423: "The data are locked (form, participant or study lock): the body names the lock, "
    "who set it and when; an administrator unlocks",
    428: "If-Match header with the record's version is required for a change",
    429: "Too many failed sign-ins: try again after Retry-After seconds",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route or router: each status documented with the error body."""
    return {code: {"model": ErrorBody, "description": _DESCRIPTIONS[code]} for code in codes}


# What any authenticated endpoint can answer besides success.
READ_ERRORS = error_responses(401, 403, 404, 422)
WRITE_ERRORS = error_responses(400, 401, 403, 404, 409, 422, 423, 428)  # 400: bad If-Match
CREATE_ERRORS = error_responses(401, 403, 404, 409, 422, 423)

TAGS: list[dict[str, Any]] = [
    {"name": "auth", "description": "Sign in (bearer token with expiry) and sign out."},
    {"name": "sites", "description": "Study sites."},
    {"name": "protocol", "description": "Protocol versions stored in the study database."},
    {"name": "users", "description": "User accounts, roles and site membership (admin)."},
    {"name": "participants", "description": "Pseudonymous participants, eligibility, calendar."},
    {
        "name": "identifying data",
        "description": "Name, contact, date of birth: kept apart from study data; "
        "investigators and coordinators only.",
    },
    {"name": "consent", "description": "Informed consent and its withdrawal."},
    {"name": "screening", "description": "Screening values and the stored eligibility result."},
    {"name": "enrollment", "description": "Enrollment (consent + eligible screening; cap 24)."},
    {"name": "visits", "description": "Visits of the protocol's schedule, with windows."},
    {"name": "measurements", "description": "Values as entered, canonical value, LOINC."},
    {"name": "itt", "description": "Insulin tolerance test glucose series."},
    {"name": "dosing", "description": "Insulin and oral glucose-lowering drug doses."},
    {"name": "transplantation", "description": "The cell transplantation."},
    {"name": "adverse events", "description": "CTCAE grade, ICH E2A seriousness, reporting."},
    {"name": "deviations", "description": "Protocol deviations."},
    {"name": "queries", "description": "Data queries: raise, answer, close."},
    {
        "name": "locks",
        "description": "Data locks at form, participant and study level (issue 14): investigators "
        "and administrators lock, only administrators unlock (with a reason); locked data "
        "refuse every change with 423.",
    },
    {
        "name": "monitoring",
        "description": "Record status grid, source-data verification marks and progress.",
    },
    {
        "name": "coding",
        "description": "Medical coding: AE terms to MedDRA, medications to the drug dictionary.",
    },
    {"name": "audit", "description": "Audit trail of any record; chain verification."},
]

DESCRIPTION = (
    "Electronic data capture for NCT01142050 (mesenchymal stem cells in insulin-resistant type 2 "
    "diabetes). JSON in and out. Sign in at `POST /api/v1/auth/token` and send "
    "`Authorization: Bearer <token>`. Changes to an existing record need `If-Match: <version>` "
    "(the `ETag` of the GET) and a `reason`; a stale version is refused with 409. Records are "
    "voided, never deleted. Lists take `limit`/`offset` and answer `{items, total, limit, "
    'offset}`. Every refusal has the body `{"error": {code, message, field, details}}`.'
)

"""Voiding a record from its page: the reason is required, the existing service
(`void_clinical_record`, the one the API's ``POST …/void`` calls) does the work, and the page then
shows the record struck through with who voided it, when and why. Voided rows are left out of
analysis by `trialdesk.analysis.from_store`, as for the API."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from trialdesk.services import record_history, void_clinical_record
from trialdesk.services.errors import ServiceError, StaleVersion
from trialdesk.web.flash import with_note
from trialdesk.web.forms import FormInput, read_form
from trialdesk.web.routing import WebUser


def voided_by(session: Any, user: WebUser, table: str, record: Any) -> str | None:
    """Who voided `record` (from its audit history, when the user may read it)."""
    if not getattr(record, "voided", False) or not user.can("read_audit"):
        return None
    entries = record_history(session, user.actor, table, record.id)
    return next((e.username for e in reversed(entries) if e.action == "void"), None)


async def void_from_form(
    request: Request,
    session: Any,
    user: WebUser,
    table: str,
    record_id: int,
    *,
    done_path: str,
    label: str,
) -> tuple[Response | None, FormInput]:
    """Void the record; the redirect when done, else None and the form with its errors
    (a stale version is reported as such: the record changed since the page was opened)."""
    form = await read_form(request)
    reason = form.text("void_reason", required=True, max_length=4000)
    version = form.integer("version", required=True)
    if not form.errors:
        try:
            void_clinical_record(
                session, user.actor, table, record_id, expected_version=version or 0,
                reason=reason or "",
            )  # fmt: skip
            text = f"{label} voided: {reason}. It stays in the audit history, struck through."
            return RedirectResponse(with_note(request, done_path, text), status_code=303), form
        except StaleVersion:
            form.errors["void_reason"] = (
                "the record was changed by someone else since you opened it: check the current "
                "values below, then void it again if it is still wrong"
            )
        except ServiceError as exc:
            if exc.status in (401, 403, 404):
                raise
            form.refused(exc, {"reason": "void_reason"}, "void_reason")
    return None, form

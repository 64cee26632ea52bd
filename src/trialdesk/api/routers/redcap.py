"""A REDCap-compatible API: `POST /redcap/api/`, form-encoded, as REDCap's API takes it
([@REDCap] API help; [@PyCap], REDCap's Python client, is tested against it).

Parameters: `token` (a REDCap API token, `trialdesk user redcap-token`), `content` (record,
metadata, event, arm, formEventMapping, instrument, exportFieldNames, project, version),
`format` (json or csv), `returnFormat` (of errors and import answers), `action` (export, the
default, or import for records; data sent as `data` also means import). Record exports take
REDCap's filters `records[n]`, `events[n]`, `fields[n]`, `forms[n]`; imports take
`overwriteBehavior` (normal or overwrite) and `returnContent` (count). Errors come as REDCap
sends them: ``{"error": "…"}`` in JSON, the text in CSV, ``<hash><error>…</error></hash>`` in
XML, with 400 for a bad request and 403 for a token that is not valid or lacks the rights.

The content is the file export's (`trialdesk.export.redcap`), read from the study database with
the token's user: only the participants of their sites, identifiers blanked for a user who may
not see them (REDCap's "remove identifier fields" export option).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from trialdesk.export.crf import design_from_protocol
from trialdesk.export.crf.model import StudyDesign
from trialdesk.export.from_store import clinical_data
from trialdesk.export.redcap import api as rc
from trialdesk.export.redcap.api_import import ImportRefused, import_records, parse_rows
from trialdesk.export.redcap.columns import RECORD_ID
from trialdesk.export.redcap.records import write_records
from trialdesk.protocol import Protocol
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.errors import ServiceError, Unauthenticated
from trialdesk.services.redcap_tokens import resolve_redcap_token
from trialdesk.services.study import current_protocol
from trialdesk.store.models import Site
from trialdesk.store.provenance import simulated_description

REDCAP_PATH = "/redcap/api/"
CONTENTS = (
    "record",
    "metadata",
    "event",
    "arm",
    "formEventMapping",
    "instrument",
    "exportFieldNames",
    "project",
    "repeatingFormsEvents",
    "version",
)
FORMATS = ("json", "csv")

router = APIRouter(include_in_schema=False)


class RedcapError(Exception):
    """A refusal, answered in REDCap's error shape."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Call:
    params: dict[str, str]
    lists: dict[str, list[str]]

    @property
    def content(self) -> str:
        return self.params.get("content", "")

    @property
    def fmt(self) -> str:
        return self.params.get("format", "xml") or "xml"

    @property
    def error_format(self) -> str:
        return self.params.get("returnFormat") or self.params.get("format") or "xml"


_INDEXED = re.compile(r"^(records|events|fields|forms)\[\d*\]$")


async def _read(request: Request) -> _Call:
    form = await request.form()
    params: dict[str, str] = {}
    lists: dict[str, list[str]] = {"records": [], "events": [], "fields": [], "forms": []}
    for key, value in form.multi_items():
        text = value if isinstance(value, str) else (await value.read()).decode("utf-8")
        indexed = _INDEXED.match(key)
        if indexed:
            lists[indexed.group(1)].append(text)
        elif key in lists:  # REDCap also takes a comma-separated list
            lists[key] += [t.strip() for t in text.split(",") if t.strip()]
        else:
            params[key] = text
    return _Call(params, lists)


@router.post(REDCAP_PATH)
async def redcap_api(request: Request) -> Response:
    call = await _read(request)
    try:
        return await run_in_threadpool(_answer, request, call)
    except RedcapError as exc:
        return _error(exc.status, exc.message, call.error_format)


def _error(status: int, message: str, fmt: str) -> Response:
    if fmt == "json":
        return JSONResponse({"error": message}, status_code=status)
    if fmt == "csv":
        return PlainTextResponse(f"ERROR: {message}", status_code=status)
    body = f'<?xml version="1.0" encoding="UTF-8" ?>\n<hash><error>{escape(message)}</error></hash>'
    return Response(body, status_code=status, media_type="application/xml")


def _answer(request: Request, call: _Call) -> Response:
    session: Session = request.app.state.sessions()
    try:
        actor = _actor(session, call.params.get("token", ""))
        if call.content not in CONTENTS:
            raise RedcapError(
                400,
                f'The value of the parameter "content" ({call.content!r}) is not valid: '
                f"use one of {', '.join(CONTENTS)}",
            )
        if call.content == "version":
            return PlainTextResponse(rc.REDCAP_API_VERSION)
        if call.fmt not in FORMATS:
            raise RedcapError(400, f"format {call.fmt!r} is not supported here: use json or csv")
        protocol = current_protocol(session)
        design = design_from_protocol(protocol)
        if call.content == "record":
            return _records(session, actor, protocol, design, call)
        if call.params.get("action", "export") != "export" or "data" in call.params:
            raise RedcapError(
                400,
                f"the project's {call.content} cannot be changed through the API: the study's "
                "design comes from its protocol (trialdesk protocol register)",
            )
        return _send(_export(session, protocol, design, call.content), call.fmt)
    except ServiceError as exc:
        raise RedcapError(exc.status, exc.message) from None
    finally:
        session.close()


def _actor(session: Session, token: str) -> Actor:
    try:
        return resolve_redcap_token(session, token)
    except Unauthenticated as exc:
        raise RedcapError(
            403, f"You do not have permissions to use the API ({exc.message})"
        ) from None


_DESIGN_EXPORTS: dict[str, Callable[[StudyDesign], Any]] = {
    "metadata": rc.metadata,
    "event": rc.events,
    "formEventMapping": rc.form_event_mapping,
    "instrument": rc.instruments,
    "exportFieldNames": rc.export_field_names,
    "repeatingFormsEvents": rc.repeating_forms_events,
}
"""REDCap API `content` values answered from the study design alone."""


def _export(session: Session, protocol: Protocol, design: StudyDesign, content: str) -> Any:
    by_design = _DESIGN_EXPORTS.get(content)
    if by_design is not None:
        return by_design(design)
    if content == "arm":
        return rc.arms(protocol)
    return rc.project_info(protocol, design, simulated_description(session))


def _send(body: Any, fmt: str) -> Response:
    if fmt == "json":
        return JSONResponse(body)
    rows = body if isinstance(body, list) else [body]
    columns = list(rows[0]) if rows else []
    return PlainTextResponse(rc.to_csv(columns, rows), media_type="text/csv")


def _records(
    session: Session, actor: Actor, protocol: Protocol, design: StudyDesign, call: _Call
) -> Response:
    importing = call.params.get("action") == "import" or "data" in call.params
    if importing:
        return _import(session, actor, protocol, design, call)
    if call.params.get("action", "export") != "export":
        raise RedcapError(400, f"action {call.params['action']!r} is not supported for records")
    for name, supported in (("type", "flat"), ("rawOrLabel", "raw"), ("rawOrLabelHeaders", "raw")):
        value = call.params.get(name, supported) or supported
        if value != supported:
            raise RedcapError(400, f"{name} {value!r} is not supported here: use {supported}")
    if not actor.can(Permission.READ_CLINICAL):
        raise RedcapError(403, f"{actor.username} may not export records (no data rights)")
    for kind in ("fields", "forms", "events"):
        unknown = rc.unknown_names(design, kind, call.lists[kind])
        if unknown:
            raise RedcapError(400, f"The following values in the parameter \"{kind}\" are not "
                              f"valid: {', '.join(unknown)}")  # fmt: skip
    rows = _visible_rows(session, actor, protocol, design)
    columns, rows = rc.select_records(
        design,
        rows,
        records=call.lists["records"],
        events=call.lists["events"],
        fields=call.lists["fields"],
        forms=call.lists["forms"],
    )
    if call.fmt == "json":
        return JSONResponse(rows)
    return PlainTextResponse(rc.to_csv(columns, rows), media_type="text/csv")


def _visible_rows(
    session: Session, actor: Actor, protocol: Protocol, design: StudyDesign
) -> list[dict[str, str]]:
    data = clinical_data(session, protocol)
    site_ids = {code: sid for code, sid in session.execute(select(Site.code, Site.id))}
    visible = {s for s, code in data.sites.items() if actor.sees_site(site_ids.get(code, -1))}
    records = [r for r in data.records if r.subject in visible]
    statuses = {k: v for k, v in data.form_statuses.items() if k[0] in visible}
    rows = rc.records_from_csv(write_records(design, records, statuses))
    if not actor.can(Permission.READ_IDENTITY):
        hidden = [i.name for f in design.forms for i in f.items if i.identifier]
        for row in rows:
            row.update({name: "" for name in hidden if name in row})
    return rows


def _import(
    session: Session, actor: Actor, protocol: Protocol, design: StudyDesign, call: _Call
) -> Response:
    if not actor.can(Permission.WRITE_CLINICAL):
        raise RedcapError(403, f"{actor.username} may not import records (no data entry rights)")
    overwrite = call.params.get("overwriteBehavior", "normal")
    if overwrite not in ("normal", "overwrite"):
        raise RedcapError(400, f"overwriteBehavior must be normal or overwrite, not {overwrite!r}")
    content = call.params.get("returnContent", "count")
    if content != "count":
        raise RedcapError(400, f"returnContent {content!r} is not supported here: use count")
    try:
        rows = parse_rows(call.params.get("data", ""), call.fmt)
        count = import_records(
            session, actor, protocol, design, rows, overwrite=overwrite == "overwrite"
        )
    except ImportRefused as exc:
        raise RedcapError(400, _refusal_text(exc)) from None
    if call.error_format == "json":
        return JSONResponse({"count": count})
    return PlainTextResponse(str(count))


def _refusal_text(exc: ImportRefused) -> str:
    """REDCap's import error text: one CSV line per problem — record, field, value, reason —
    each quoted, as REDCap writes them (e.g. ``"1","dob","abc","The value you provided…"``)."""
    return "\n".join(",".join(json.dumps(cell) for cell in problem) for problem in exc.problems)


__all__ = ["RECORD_ID", "REDCAP_PATH", "router"]

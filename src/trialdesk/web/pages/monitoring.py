"""Monitoring pages (issue 14): the record status grid and a participant's source-data
verification. Both read through the services (`record_status_grid`, `participant_sdv_plan`,
`list_sdv_marks`); only a monitor is offered the buttons that mark, since only the monitor's
role may (`Permission.VERIFY_SOURCE`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from trialdesk.services import (
    get_participant,
    list_measurements,
    list_sdv_marks,
    list_sites,
    mark_source_data,
    participant_sdv_plan,
    record_status_grid,
    sdv_progress,
)
from trialdesk.services.cell_status import LEGEND, LEGEND_BY_STATUS, CellStatus
from trialdesk.services.crf_entries import MeasurementFilter
from trialdesk.services.crf_forms import OTHER_FORM, form_of_element
from trialdesk.services.errors import ServiceError, ValidationProblem
from trialdesk.services.labels import field_label, record_label
from trialdesk.services.listing import MAX_LIMIT
from trialdesk.services.paging import Page
from trialdesk.services.record_grid import DEFAULT_ROWS, form_label
from trialdesk.services.sdv import SdvMarkView, SdvTarget
from trialdesk.services.study import current_catalogue
from trialdesk.store.enums import SdvKind
from trialdesk.web.deps import DB, CurrentUser
from trialdesk.web.flash import with_note
from trialdesk.web.forms import read_form
from trialdesk.web.routing import WebRoute, WebUser
from trialdesk.web.templating import render

router = APIRouter(route_class=WebRoute)

CASEBOOK_FORMS = frozenset({"consent", "eligibility", "demographics"})
VISIT_SECTIONS = {"vital_signs", "labs", "itt", "dosing"}
MEASUREMENT_ROWS = 500  # a participant's measurements over a year: about 100


def form_link(pid: int, code: str, form: str) -> str:
    """Where a grid cell leads: the form on its visit page (consent, eligibility and
    demographics are on the casebook)."""
    if form in CASEBOOK_FORMS:
        return f"/participants/{pid}"
    anchor = f"#sec-{form}" if form in VISIT_SECTIONS else ""
    return f"/participants/{pid}/visits/{code}{anchor}"


def _grid(session: DB, user: WebUser, site: str, status: str, page: int) -> tuple[Any, str]:
    offset = (max(page, 1) - 1) * DEFAULT_ROWS
    try:
        grid = record_status_grid(
            session, user.actor, site_code=site or None, status=status or None, offset=offset
        )
        return grid, ""
    except ValidationProblem as exc:
        # A filter the page cannot apply: say which and show the unfiltered grid.
        return record_status_grid(session, user.actor), exc.message


@router.get("/monitoring")
def grid_page(
    *,
    request: Request,
    session: DB,
    user: CurrentUser,
    site: str = "",
    status: str = "",
    page: int = 1,
) -> Response:
    grid, problem = _grid(session, user, site, status, page)
    visits: list[tuple[str, str, int]] = []
    for column in grid.columns:
        if visits and visits[-1][0] == column.visit_code:
            visits[-1] = (column.visit_code, column.visit_name, visits[-1][2] + 1)
        else:
            visits.append((column.visit_code, column.visit_name, 1))
    sites = [s for s in list_sites(session, user.actor) if user.actor.sees_site(s.id)]
    return render(
        request,
        "monitoring.html",
        {
            "grid": grid,
            "visits": visits,
            "legend": LEGEND,
            "icons": LEGEND_BY_STATUS,
            "statuses": list(CellStatus),
            "sites": sites,
            "site": "" if problem else site,
            "status": "" if problem else status,
            "problem": problem,
            "page": max(page, 1),
            "pages": max(1, -(-grid.total_rows // grid.limit)),
            "form_link": form_link,
        },
    )


@router.get("/monitoring/sdv")
def sdv_progress_page(request: Request, session: DB, user: CurrentUser, site: str = "") -> Response:
    """Verified / selected forms per site, visit and participant (risk-based selection)."""
    try:
        progress, problem = sdv_progress(session, user.actor, site_code=site or None), ""
    except ValidationProblem as exc:
        progress, problem = sdv_progress(session, user.actor), exc.message
    grid = record_status_grid(session, user.actor, limit=MAX_LIMIT)
    ids = {r.study_id: r.participant_id for r in grid.rows}
    visits = list(dict.fromkeys(c.visit_code for c in grid.columns))
    return render(
        request,
        "sdv_progress.html",
        {
            "progress": progress,
            "problem": problem,
            "by_site": [(k, "", t) for k, t in sorted(progress.by_site.items())],
            "by_visit": [(v, "", progress.by_visit[v]) for v in visits if v in progress.by_visit],
            "by_participant": [
                (k, f"/participants/{ids[k]}/sdv" if k in ids else "", t)
                for k, t in sorted(progress.by_participant.items())
            ],
        },
    )


def record_status_counts(session: DB, user: WebUser) -> dict[str, Any]:
    """The dashboard's card: forms per status over the user's sites (`status_counts`)."""
    grid = record_status_grid(session, user.actor, limit=1)
    return {"status_counts": [(e, grid.counts[e.status]) for e in LEGEND]}


def _latest_marks(marks: list[SdvMarkView]) -> dict[tuple[Any, ...], SdvMarkView]:
    """The latest mark per (what, kind): a cleared one stays shown until marked again."""
    latest: dict[tuple[Any, ...], SdvMarkView] = {}
    for m in marks:
        latest[(m.visit_code, m.form, m.target_table, m.target_id, m.field, m.kind.value)] = m
    return latest


def sdv_page(
    request: Request, session: DB, user: WebUser, pid: int, *, problem: str = "", status: int = 200
) -> Response:
    participant = get_participant(session, user.actor, pid)
    plans = participant_sdv_plan(session, user.actor, pid)
    marks = list_sdv_marks(session, user.actor, pid)
    measurements = list_measurements(
        session, user.actor, MeasurementFilter(participant_id=pid), Page(limit=MEASUREMENT_ROWS)
    ).items
    selected = [p for p in plans if p.reason is not None]
    catalogue = current_catalogue(session)
    value_marks = {
        m.target_id: m
        for m in marks
        if m.target_table == "measurements" and m.kind is SdvKind.VERIFIED
    }
    return render(
        request,
        "sdv.html",
        {
            "participant": participant,
            "plans": [p for p in plans if p.has_data or p.verified or p.reviewed],
            "selected": len(selected),
            "verified": sum(p.verified for p in selected),
            "latest": _latest_marks(marks),
            "cleared": [m for m in marks if m.cleared_at is not None],
            "measurements": measurements,
            "value_marks": value_marks,
            "value_labels": {m.id: m.label for m in measurements},
            "value_forms": {
                m.id: form_of_element(catalogue[m.element], catalogue)
                if m.element in catalogue
                else OTHER_FORM
                for m in measurements
            },
            "record_label": record_label,
            "field_label": field_label,
            "can_mark": user.can("verify_source"),
            "form_label": form_label,
            "form_link": form_link,
            "problem": problem,
        },
        status_code=status,
    )


@router.get("/participants/{pid}/sdv")
def show_sdv(request: Request, session: DB, user: CurrentUser, pid: int) -> Response:
    return sdv_page(request, session, user, pid)


@router.post("/participants/{pid}/sdv")
async def mark_sdv(request: Request, session: DB, user: CurrentUser, pid: int) -> Response:
    form = await read_form(request)
    v = form.values
    target_id = form.integer("target_id") if v.get("target_id") else None
    if form.errors:
        return sdv_page(
            request, session, user, pid, problem="; ".join(form.errors.values()), status=422
        )
    try:
        mark = mark_source_data(
            session,
            user.actor,
            pid,
            SdvTarget(
                visit_code=v.get("visit_code", ""),
                form=v.get("form", ""),
                target_table=v.get("target_table") or None,
                target_id=target_id,
                field=v.get("field") or None,
            ),
            kind=v.get("kind", "verified"),
        )
    except ServiceError as exc:
        if exc.status in (403, 404):
            raise
        return sdv_page(request, session, user, pid, problem=exc.message, status=422)
    where = f"/participants/{pid}/sdv#v-{mark.visit_code}-{mark.form}"
    text = f"Marked {mark.kind.value}: {form_label(mark.form)} at {mark.visit_code}."
    return RedirectResponse(with_note(request, where, text), status_code=303)

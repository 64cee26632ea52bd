"""Data queries: a monitor (or investigator) raises one on any field of a record; the site
(coordinator or investigator) answers; the monitor closes it or sends it back. Who may do what is
decided by the services; the page offers only the actions the user's roles allow."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from trialdesk.services import (
    answer_query,
    close_query,
    get_measurement,
    get_participant,
    get_query,
    list_queries,
    raise_query,
    reopen_query,
)
from trialdesk.services.actor import Permission
from trialdesk.services.errors import ServiceError
from trialdesk.services.labels import record_label
from trialdesk.services.paging import Page as Paging
from trialdesk.services.queries import QueryFilter
from trialdesk.services.views import QueryView
from trialdesk.store.enums import QueryStatus
from trialdesk.web.deps import DB, CurrentUser
from trialdesk.web.forms import ShownForm, read_form
from trialdesk.web.pages.auth import safe_next
from trialdesk.web.readonly import refusal
from trialdesk.web.records import query_fields
from trialdesk.web.routing import WebRoute, WebUser
from trialdesk.web.templating import render

router = APIRouter(route_class=WebRoute)

PAGE_SIZE = 50
RECORD_PAGES = {"visits", "insulin_doses", "ogld_doses", "transplantations", "adverse_events"}


def record_link(q: QueryView) -> str:
    """The page showing the queried record (so the site can see the field in context)."""
    pid = q.participant_id
    if q.target_table == "measurements":
        return f"/participants/{pid}/measurements/{q.target_id}"
    if q.target_table == "itt_tests":
        return f"/participants/{pid}/itt/{q.target_id}"
    if q.target_table in RECORD_PAGES:
        return f"/participants/{pid}/records/{q.target_table}/{q.target_id}"
    return f"/participants/{pid}"


@router.get("/queries")
def queries(
    request: Request, session: DB, user: CurrentUser, status: str = "open", page: int = 1
) -> Response:
    statuses = [s.value for s in QueryStatus]
    chosen = status if status in statuses else None
    page = max(page, 1)
    listing = list_queries(
        session,
        user.actor,
        where=QueryFilter(status=chosen),
        page=Paging(limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE),
    )
    return render(
        request,
        "queries.html",
        {
            "listing": listing,
            "statuses": statuses,
            "status": chosen or "all",
            "page": page,
            "pages": max(1, -(-listing.total // PAGE_SIZE)),
            "links": {q.id: record_link(q) for q in listing.items},
        },
    )


@router.get("/queries/new")
def new_query(
    *,
    request: Request,
    session: DB,
    user: CurrentUser,
    table: str,
    id: int,  # noqa: A002 - the record id, as in the link
    field: str = "",
    back: str = "",
) -> Response:
    values = {"field": field, "back": safe_next(back) if back else ""}
    return _new_page(
        request, table, id, shown=ShownForm(values=values),
        target=target_words(session, user, table, id),
        read_only=refusal(user, Permission.RAISE_QUERY),
    )  # fmt: skip


def _new_page(
    request: Request,
    table: str,
    record_id: int,
    *,
    shown: ShownForm,
    target: str = "",
    read_only: str = "",
) -> Response:
    return render(
        request,
        "query_new.html",
        {
            "target": target or record_label(table),
            "table": table,
            "record_id": record_id,
            "fields": query_fields(table),
            "values": shown.values or {},
            "errors": shown.errors or {},
            "labels": {"field": "Field", "text": "Query"},
            "read_only": read_only,
        },
        status_code=shown.status_code,
    )


@router.post("/queries/new")
async def create_query(
    request: Request,
    session: DB,
    user: CurrentUser,
    table: str,
    id: int,  # noqa: A002 - the record id, as in the link
) -> Response:
    form = await read_form(request)
    field = form.text("field", required=True, max_length=64)
    text = form.text("text", required=True, max_length=4000)
    back = safe_next(form.values.get("back")) if form.values.get("back") else ""
    if not form.errors:
        try:
            view = raise_query(
                session,
                user.actor,
                target_table=table,
                target_id=id,
                field=field or "",
                text=text or "",
            )
            target = back or f"/queries/{view.id}"
            joiner = "&" if "?" in target else "?"
            return RedirectResponse(f"{target}{joiner}done=query-raised", status_code=303)
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            form.refused(exc, {"target_table": "field"}, "text")
    target = target_words(session, user, table, id)
    return _new_page(
        request,
        table,
        id,
        shown=ShownForm(values=form.values, errors=form.errors, status_code=422),
        target=target,
    )


def describe_target(session: Session, user: WebUser, q: QueryView) -> tuple[str, str | None]:
    """(what the record is, the queried field's current value) in the site's words."""
    if q.target_table == "measurements":
        m = get_measurement(session, user.actor, q.target_id)
        value = f"{m.value_as_entered} {m.unit_as_entered or ''}".strip()
        if m.missing_code:  # a query on a value recorded as missing shows why it is missing
            value = f"missing: {m.missing_code} ({m.missing_label}), {m.missing_reason}"
        return f"{m.label} at {m.visit_code}", value if q.field == "value" else None
    if q.target_table == "itt_tests":
        return "Insulin tolerance test", None
    return target_words(session, user, q.target_table, q.target_id), None


def target_words(session: Session, user: WebUser, table: str, record_id: int) -> str:
    """What a queried record is, as the site calls it ("HbA1c at BL", "Adverse event")."""
    if table == "measurements":
        m = get_measurement(session, user.actor, record_id)
        return f"{m.label} at {m.visit_code}"
    return record_label(table).capitalize()


def query_page(
    request: Request,
    session: Session,
    user: WebUser,
    q: QueryView,
    values: dict[str, str] | None = None,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    what, current = describe_target(session, user, q)
    return render(
        request,
        "query.html",
        {
            "q": q,
            "study_id": get_participant(session, user.actor, q.participant_id).study_id,
            "what": what,
            "current": current,
            "link": record_link(q),
            "values": values or {},
            "errors": errors or {},
            "labels": {"answer": "Answer", "resolution": "Resolution", "reopen": "Why"},
            "can_answer": user.can("answer_query") and q.status.value == "open",
            "can_close": user.can("close_query") and q.status.value in ("open", "answered"),
            "can_reopen": user.can("close_query") and q.status.value == "answered",
            "can_audit": user.can("read_audit"),
        },
        status_code=status_code,
    )


@router.get("/queries/{query_id}")
def show_query(request: Request, session: DB, user: CurrentUser, query_id: int) -> Response:
    return query_page(request, session, user, get_query(session, user.actor, query_id))


ACTIONS: dict[str, tuple[Callable[..., QueryView], str, str]] = {
    "answer": (answer_query, "answer", "query-answered"),
    "close": (close_query, "resolution", "query-closed"),
    "reopen": (reopen_query, "text", "query-raised"),
}


@router.post("/queries/{query_id}/{action}")
async def act_on_query(
    request: Request, session: DB, user: CurrentUser, query_id: int, action: str
) -> Response:
    q = get_query(session, user.actor, query_id)
    if action not in ACTIONS:
        return query_page(
            request,
            session,
            user,
            q,
            {},
            errors={"answer": f"unknown action {action!r}"},
            status_code=404,
        )
    call, keyword, flash = ACTIONS[action]
    form = await read_form(request)
    field = "reopen" if action == "reopen" else keyword
    text = form.text(field, required=True, max_length=4000)
    version = form.integer("version", required=True)
    if not form.errors:
        try:
            call(session, user.actor, query_id, expected_version=version or 0, **{keyword: text})
            return RedirectResponse(f"/queries/{query_id}?done={flash}", status_code=303)
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            form.refused(exc, {keyword: field, "expected_version": field}, field)
    return query_page(request, session, user, q, form.values, errors=form.errors, status_code=422)

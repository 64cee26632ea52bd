"""The coder's pages (issue 14): the queue of verbatims not coded yet, autocoding, searching the
dictionary and choosing a term, and the recode list after a dictionary upgrade. Every action is
a use case of `trialdesk.services.coding`; the pages only read the form and show the result."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from trialdesk.services.coding import (
    KIND_TEXT,
    TARGETS,
    autocode,
    code_manually,
    coding_history,
    coding_queue,
    get_coding,
    latest_dictionary,
    review_queue,
    search_terms,
)
from trialdesk.services.errors import ServiceError, ValidationProblem
from trialdesk.services.labels import record_label
from trialdesk.store.enums import DictionaryKind
from trialdesk.web.deps import DB, CurrentUser
from trialdesk.web.flash import with_note
from trialdesk.web.forms import read_form
from trialdesk.web.routing import WebRoute, WebUser
from trialdesk.web.templating import render

router = APIRouter(route_class=WebRoute)
KINDS = {"meddra": DictionaryKind.MEDDRA, "drug": DictionaryKind.DRUG}
WHAT = {"adverse_events": "Adverse event term", "ogld_doses": "Oral glucose-lowering drug"}


def _kind(value: str) -> DictionaryKind:
    return KINDS.get(value, DictionaryKind.MEDDRA)


def coding_counts(session: DB, user: WebUser) -> list[tuple[str, str, int, int]]:
    """The coder's dashboard card: per dictionary (kind, name, to code, to review); empty for
    users who do not code."""
    if not user.can("code_terms"):
        return []
    return [
        (k.value, KIND_TEXT[k], len(coding_queue(session, user.actor, k)),
         len(review_queue(session, user.actor, k)))
        for k in DictionaryKind
    ]  # fmt: skip


@router.get("/coding")
def coding_page(request: Request, session: DB, user: CurrentUser, kind: str = "meddra") -> Response:
    what = _kind(kind)
    queue = coding_queue(session, user.actor, what)  # refuses anyone who may not code
    release = latest_dictionary(session, what)
    return render(
        request,
        "coding.html",
        {
            "kind": what.value,
            "kind_text": KIND_TEXT[what],
            "kinds": [(k.value, KIND_TEXT[k]) for k in DictionaryKind],
            "release": release,
            "queue": queue,
            "review": review_queue(session, user.actor, what),
            "what": WHAT,
        },
    )


@router.post("/coding/autocode")
async def run_autocode(request: Request, session: DB, user: CurrentUser) -> Response:
    form = await read_form(request)
    what = _kind(form.values.get("kind", "meddra"))
    result = autocode(session, user.actor, what)
    text = (
        f"Autocoded {result.coded} term(s) with {KIND_TEXT[what]} {result.dictionary_version}; "
        f"{result.left} left for coding by hand."
    )
    return RedirectResponse(with_note(request, f"/coding?kind={what.value}", text), 303)


@dataclass(frozen=True)
class TermSearch:
    """What the term page shows: the search typed (`q`), why a chosen term was refused, and
    the page's HTTP status (422 after a refusal)."""

    q: str = ""
    problem: str = ""
    status: int = 200


NEW_SEARCH = TermSearch()


def term_page(
    request: Request,
    session: DB,
    user: WebUser,
    table: str,
    rid: int,
    *,
    shown: TermSearch = NEW_SEARCH,
) -> Response:
    q, problem, status = shown.q, shown.problem, shown.status
    history = coding_history(session, user.actor, table, rid)
    current = get_coding(session, user.actor, table, rid)
    queue = {(i.target_table, i.target_id): i for i in coding_queue(session, user.actor,
             TARGETS[table][2])} if table in TARGETS else {}  # fmt: skip
    item = queue.get((table, rid))
    verbatim = item.verbatim if item else (history[-1].verbatim if history else "")
    study_id = item.study_id if item else ""
    results, search_problem = [], ""
    if q.strip():
        try:
            results = search_terms(session, user.actor, TARGETS[table][2], q)
        except ValidationProblem as exc:
            search_problem = exc.reason
    return render(
        request,
        "coding_term.html",
        {
            "table": table,
            "rid": rid,
            "what": WHAT[table],
            "record_label": record_label(table),
            "verbatim": verbatim,
            "study_id": study_id,
            "current": current,
            "history": [
                h for h in history if h is not current and h.id != getattr(current, "id", 0)
            ],
            "q": q or (verbatim if not current else ""),
            "results": results,
            "search_problem": search_problem,
            "problem": problem,
            "kind": TARGETS[table][2].value,
        },
        status_code=status,
    )


def _check_table(table: str) -> None:
    if table not in TARGETS:
        raise ValidationProblem("target_table", f"{record_label(table)} records are not coded")


@router.get("/coding/{table}/{rid}")
def show_term(
    *, request: Request, session: DB, user: CurrentUser, table: str, rid: int, q: str = ""
) -> Response:
    _check_table(table)
    return term_page(request, session, user, table, rid, shown=TermSearch(q=q))


@router.post("/coding/{table}/{rid}")
async def choose_term(
    request: Request, session: DB, user: CurrentUser, table: str, rid: int
) -> Response:
    _check_table(table)
    form = await read_form(request)
    v = form.values
    try:
        coded = code_manually(
            session, user.actor, table, rid, code=v.get("code", ""), reason=v.get("reason") or None
        )
    except ServiceError as exc:
        if exc.status in (403, 404):
            raise
        return term_page(
            request,
            session,
            user,
            table,
            rid,
            shown=TermSearch(v.get("q", ""), exc.message, status=422),
        )
    kind = TARGETS[table][2].value
    text = f"Coded “{coded.verbatim}” to {coded.term}."
    return RedirectResponse(with_note(request, f"/coding?kind={kind}", text), 303)

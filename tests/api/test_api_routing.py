"""`trialdesk.api.routing`: where an endpoint runs (the event loop, or a worker thread with
`@on_thread`), that the wrapping leaves the OpenAPI document alone, and that a transaction an
inline endpoint leaves open is rolled back; then which endpoints of the real app run where."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Query, Request, status
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select
from sqlalchemy.orm import Session, sessionmaker

from trialdesk.api.routing import EventLoopRoute, on_thread, runs_on_thread

# --- where an endpoint runs ----------------------------------------------------------------------


class Where(BaseModel):
    on_loop_thread: bool
    running_loop: bool


async def loop_thread() -> int:
    """An ``async def`` dependency: it runs on the event loop's thread."""
    return threading.get_ident()


LoopThread = Annotated[int, Depends(loop_thread)]


def where(loop: int) -> Where:
    try:
        asyncio.get_running_loop()
        running = True
    except RuntimeError:  # a worker thread has no running loop
        running = False
    return Where(on_loop_thread=threading.get_ident() == loop, running_loop=running)


def plain(loop: LoopThread) -> Where:
    return where(loop)


@on_thread
def threaded(loop: LoopThread) -> Where:
    return where(loop)


async def asynchronous(loop: LoopThread) -> Where:
    return where(loop)


def _router(route_class: type[APIRoute] = EventLoopRoute) -> APIRouter:
    router = APIRouter(route_class=route_class)
    router.add_api_route("/plain", plain, methods=["GET"])
    router.add_api_route("/threaded", threaded, methods=["GET"])
    router.add_api_route("/async", asynchronous, methods=["GET"])
    return router


def _route(router: APIRouter, path: str) -> APIRoute:
    (route,) = [r for r in router.routes if isinstance(r, APIRoute) and r.path == path]
    return route


def _client(router: APIRouter) -> TestClient:
    app = FastAPI()
    app.include_router(router)
    return TestClient(app)


def test_a_plain_endpoint_runs_on_the_event_loop() -> None:
    router = _router()
    endpoint = _route(router, "/plain").endpoint
    assert endpoint is not plain and inspect.unwrap(endpoint) is plain
    assert inspect.iscoroutinefunction(endpoint)
    with _client(router) as client:
        answer = client.get("/plain")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"on_loop_thread": True, "running_loop": True}


def test_without_the_route_class_the_same_endpoint_runs_on_a_thread() -> None:
    """The control: what the test above would see, were `plain` not wrapped."""
    with _client(_router(APIRoute)) as client:
        answer = client.get("/plain")
    assert answer.json() == {"on_loop_thread": False, "running_loop": False}


def test_an_on_thread_endpoint_keeps_the_thread_pool() -> None:
    router = _router()
    assert runs_on_thread(threaded) and not runs_on_thread(plain)
    assert _route(router, "/threaded").endpoint is threaded
    with _client(router) as client:
        answer = client.get("/threaded")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"on_loop_thread": False, "running_loop": False}


def test_an_async_endpoint_is_left_alone() -> None:
    router = _router()
    assert _route(router, "/async").endpoint is asynchronous
    with _client(router) as client:
        answer = client.get("/async")
    assert answer.json() == {"on_loop_thread": True, "running_loop": True}


# --- the OpenAPI document ------------------------------------------------------------------------


class ItemIn(BaseModel):
    name: str = Field(min_length=1, description="What it is called")
    quantity: int = Field(1, ge=1)


class ItemOut(BaseModel):
    id: int
    name: str
    quantity: int
    tag: str | None = None


def put_item(
    item_id: int,
    body: ItemIn,
    tag: Annotated[str | None, Query(max_length=8, description="A short label")] = None,
    x_request_id: Annotated[str | None, Header()] = None,
) -> ItemOut:
    """Store an item under its id."""
    # The extra key must not reach the client: the response model filters it.
    return {"id": item_id, "tag": tag, "secret": "filtered", **body.model_dump()}  # type: ignore[return-value]


def _item_app(route_class: type[APIRoute]) -> FastAPI:
    router = APIRouter(prefix="/items", tags=["items"], route_class=route_class)
    router.add_api_route(
        "/{item_id}",
        put_item,
        methods=["PUT"],
        status_code=status.HTTP_201_CREATED,
        summary="Store an item",
        responses={409: {"description": "Already stored"}},
    )
    app = FastAPI(title="items")
    app.include_router(router, prefix="/v1")
    return app


def test_the_openapi_document_is_that_of_the_unwrapped_endpoint() -> None:
    wrapped, plain_route = _item_app(EventLoopRoute), _item_app(APIRoute)
    document = wrapped.openapi()
    operation = document["paths"]["/v1/items/{item_id}"]["put"]
    # Not an empty document: parameters, body and response all come from the signature.
    assert {p["name"] for p in operation["parameters"]} == {"item_id", "tag", "x-request-id"}
    json_schema = "application/json"
    assert operation["requestBody"]["content"][json_schema]["schema"] == {
        "$ref": "#/components/schemas/ItemIn"
    }
    created = operation["responses"]["201"]["content"][json_schema]["schema"]
    assert created["$ref"].endswith("/ItemOut")
    assert operation["operationId"] == "put_item_v1_items__item_id__put"
    assert document == plain_route.openapi()


def test_a_wrapped_endpoint_validates_its_input_and_output() -> None:
    with TestClient(_item_app(EventLoopRoute)) as client:
        stored = client.put("/v1/items/7?tag=new", json={"name": "kit", "quantity": 2})
        assert stored.status_code == 201, stored.text
        assert stored.json() == {"id": 7, "name": "kit", "quantity": 2, "tag": "new"}
        refused = client.put("/v1/items/seven", json={"name": "", "quantity": 0})
        assert refused.status_code == 422
        fields = {tuple(error["loc"]) for error in refused.json()["detail"]}
        assert fields == {("path", "item_id"), ("body", "name"), ("body", "quantity")}


# --- transactions left open ----------------------------------------------------------------------

metadata = MetaData()
notes = Table("notes", metadata, Column("id", Integer, primary_key=True), Column("text", String))


async def request_session(request: Request) -> Session:
    """A session the test can inspect afterwards. Deliberately not closed (closing would roll
    back too, and hide whether the route did)."""
    session: Session = request.app.state.sessions()
    request.app.state.opened.append(session)
    return session


SessionArg = Annotated[Session, Depends(request_session)]


def leave_open(session: SessionArg) -> dict[str, str]:
    session.execute(insert(notes).values(text="uncommitted"))
    return {"left": "open"}


def commit_then_leave_open(session: SessionArg) -> dict[str, str]:
    session.execute(insert(notes).values(text="committed"))
    session.commit()
    session.execute(insert(notes).values(text="uncommitted"))
    return {"left": "open"}


def refuse(session: SessionArg) -> None:
    session.execute(insert(notes).values(text="uncommitted"))
    raise HTTPException(status.HTTP_409_CONFLICT, "refused")


def crash(session: SessionArg) -> None:
    session.execute(insert(notes).values(text="uncommitted"))
    raise RuntimeError("endpoint failed")


@on_thread
def leave_open_on_thread(session: SessionArg) -> dict[str, str]:
    session.execute(insert(notes).values(text="uncommitted"))
    return {"left": "open"}


@pytest.fixture
def notes_app(tmp_path: Path) -> Iterator[FastAPI]:
    engine = create_engine(
        f"sqlite:///{tmp_path / 'notes.sqlite'}", connect_args={"check_same_thread": False}
    )
    metadata.create_all(engine)
    router = APIRouter(route_class=EventLoopRoute)
    for endpoint in (leave_open, commit_then_leave_open, refuse, crash, leave_open_on_thread):
        router.add_api_route(f"/{endpoint.__name__}", endpoint, methods=["POST"])
    app = FastAPI()
    app.include_router(router)
    app.state.sessions = sessionmaker(engine)
    app.state.opened = []
    yield app
    for session in app.state.opened:
        session.close()
    engine.dispose()


def _after(app: FastAPI, path: str, expected_status: int) -> Session:
    """The session of one POST to `path`, after the request."""
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.post(path)
    assert answer.status_code == expected_status, answer.text
    (session,) = app.state.opened
    app.state.opened.clear()
    return session


def _texts(session: Session) -> list[str]:
    """What the session sees: its own uncommitted rows too, were its transaction still open."""
    return list(session.scalars(select(notes.c.text).order_by(notes.c.id)))


@pytest.mark.parametrize(
    ("path", "expected_status", "kept"),
    [
        ("/leave_open", 200, []),
        ("/commit_then_leave_open", 200, ["committed"]),
        ("/refuse", 409, []),
        ("/crash", 500, []),
    ],
)
def test_a_transaction_left_open_is_rolled_back(
    notes_app: FastAPI, path: str, expected_status: int, kept: list[str]
) -> None:
    session = _after(notes_app, path, expected_status)
    assert not session.in_transaction()
    assert _texts(session) == kept


def test_an_on_thread_endpoint_is_not_rolled_back_by_the_route(notes_app: FastAPI) -> None:
    """The control: the rollback above is the route's (here, in the real app, the session
    dependency's close ends the transaction)."""
    session = _after(notes_app, "/leave_open_on_thread", 200)
    assert session.in_transaction()
    assert _texts(session) == ["uncommitted"]
    session.rollback()


# --- the real app --------------------------------------------------------------------------------

ON_THREAD = {
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/users"),
    ("POST", "/api/v1/users/{user_id}/password"),
    ("POST", "/api/v1/auth/password-change"),  # argon2, like the password set by an admin
    ("GET", "/api/v1/audit/verify"),
}


def _api_routes(app: FastAPI) -> dict[tuple[str, str], Any]:
    """(method, full path) → the route object, for the documented /api/v1 routes.

    FastAPI versions that keep included routers whole (``effective_route_contexts``) give the
    full path on the context and the route (with its endpoint) as ``original_route``."""
    found: dict[tuple[str, str], Any] = {}
    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        pairs = (
            [(ctx.path, getattr(ctx, "original_route", ctx)) for ctx in contexts()]
            if contexts is not None
            else [(getattr(route, "path", ""), route)]
        )
        for path, original in pairs:
            if not isinstance(original, APIRoute) or not path.startswith("/api/v1/"):
                continue
            if not original.include_in_schema:
                continue  # the docs page: not an API endpoint
            for method in original.methods:
                found[(method, path)] = original
    return found


def test_only_the_slow_endpoints_of_the_app_run_on_threads(app: FastAPI) -> None:
    routes = _api_routes(app)
    assert len(routes) > 40 and routes.keys() >= ON_THREAD
    assert {key for key, route in routes.items() if runs_on_thread(route.endpoint)} == ON_THREAD
    for key, route in routes.items():
        assert isinstance(route, EventLoopRoute), key
        if key in ON_THREAD:
            assert not inspect.iscoroutinefunction(route.endpoint), key
        else:
            assert inspect.iscoroutinefunction(route.endpoint), key

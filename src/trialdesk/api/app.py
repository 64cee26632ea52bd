"""The FastAPI application factory (FastAPI "Bigger Applications" layout: one router per entity,
shared dependencies in `trialdesk.api.deps`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from trialdesk import __version__
from trialdesk.api.docs import render_docs
from trialdesk.api.errors import install_error_handlers
from trialdesk.api.input_guard import RejectNulMiddleware
from trialdesk.api.middleware import SecurityHeadersMiddleware
from trialdesk.api.openapi import DESCRIPTION, TAGS
from trialdesk.api.routers import ROUTERS
from trialdesk.api.routers.fhir import router as fhir_router
from trialdesk.api.routers.redcap import router as redcap_router
from trialdesk.api.runtime import prepare_process
from trialdesk.api.settings import ApiSettings
from trialdesk.store.anchor import anchor_config
from trialdesk.store.anchor.background import checkpoint_in_background as audit_checkpoints
from trialdesk.store.engine import make_engine, make_session_factory
from trialdesk.store.sqlite_checkpoint import checkpoint_in_background
from trialdesk.web import mount as mount_web_pages

API_PREFIX = "/api/v1"
OPENAPI_URL = f"{API_PREFIX}/openapi.json"
DOCS_URL = f"{API_PREFIX}/docs"


def create_app(
    settings: ApiSettings | str | None = None, *, engine: Engine | None = None
) -> FastAPI:
    """The REST API over the study database.

    `settings` is an `ApiSettings`, a database URL, or None (read from the environment). An
    `engine` may be passed in (tests share one); otherwise the app makes one and disposes of it
    at shutdown. The database must already be at the current schema (`trialdesk db upgrade`).
    """
    if settings is None:
        settings = ApiSettings.from_env()
    elif isinstance(settings, str):
        settings = ApiSettings(database_url=settings)
    owns_engine = engine is None
    anchor = anchor_config()
    engine = engine or make_engine(settings.database_url, connections=settings.threads)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # A server's own SQLite engine checkpoints its log in the background, not in commits.
        checkpointer = checkpoint_in_background(engine) if owns_engine else None
        # A server anchors its audit trail: signed checkpoints, periodically and every N entries.
        anchor_writer = audit_checkpoints(engine, anchor) if owns_engine else None
        prepare_process(engine, settings.threads)
        yield
        if anchor_writer is not None:
            anchor_writer.stop()
        if checkpointer is not None:
            checkpointer.stop()
        if owns_engine:
            engine.dispose()

    app = FastAPI(
        title="trialdesk API",
        version=__version__,
        description=DESCRIPTION,
        openapi_url=OPENAPI_URL,
        openapi_tags=TAGS,
        docs_url=None,  # no CDN-hosted Swagger UI / ReDoc; see `_add_docs_page`
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.anchor = anchor
    app.state.sessions = make_session_factory(engine)
    install_error_handlers(app)
    app.add_middleware(RejectNulMiddleware)  # inside the headers middleware: its 422 gets them
    app.add_middleware(SecurityHeadersMiddleware, docs_path=DOCS_URL)
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(fhir_router)  # read-only FHIR R4B REST endpoint at /fhir/R4B
    app.include_router(redcap_router)  # REDCap-compatible API at /redcap/api/
    if settings.docs_enabled:
        _add_docs_page(app)
    mount_web_pages(app)  # the browser pages (trialdesk.web) share this app and its database
    return app


def app_from_env() -> FastAPI:
    """The app as configured by the environment: what each `trialdesk serve --workers` process
    builds (uvicorn ``factory=True``)."""
    return create_app(ApiSettings.from_env())


def _add_docs_page(app: FastAPI) -> None:
    @app.get(DOCS_URL, include_in_schema=False, response_class=HTMLResponse)
    def docs_page() -> HTMLResponse:
        return HTMLResponse(render_docs(app.openapi(), OPENAPI_URL))

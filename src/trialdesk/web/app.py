"""Assembling the web pages onto the FastAPI application of `trialdesk.api.create_app`.

    app = create_app(settings)
    mount(app)            # pages at /, static files at /static

The pages share the API's database engine and session factory (``app.state.sessions``), so the
browser and the REST API see and change the same data through the same services.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from trialdesk.web.csrf import CsrfSigner
from trialdesk.web.pages import (
    admin,
    audit,
    auth,
    coding,
    dashboard,
    declines,
    deviations,
    monitoring,
    participants,
    queries,
    records,
    safety,
    screening,
    signoff,
    sites,
    unscheduled,
    visit_save,
    visits,
)
from trialdesk.web.settings import WebSettings
from trialdesk.web.templating import STATIC_DIR

router = APIRouter(include_in_schema=False)
for _module in (
    auth,
    dashboard,
    screening,
    declines,
    deviations,
    sites,
    participants,
    visits,
    unscheduled,
    visit_save,
    safety,
    records,
    queries,
    monitoring,
    coding,
    signoff,
    audit,
    admin,
):
    router.include_router(_module.router)


def mount(app: FastAPI, settings: WebSettings | None = None) -> FastAPI:
    """Serve the web pages from `app` (which must come from `trialdesk.api.create_app`, which
    calls this already). Calling it again only replaces the settings (tests use that to fix
    the secret key)."""
    settings = settings or WebSettings.from_env()
    app.state.web_settings = settings
    app.state.web_csrf = CsrfSigner(settings.secret_key)
    if not getattr(app.state, "web_mounted", False):
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
        app.include_router(router)
        app.state.web_mounted = True
    return app

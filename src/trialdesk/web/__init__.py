"""Web pages for site staff, monitors and investigators (Jinja2 + htmx, server-rendered).

Thin like the API: each page parses the form, calls a service of `trialdesk.services`, renders
the answer. Rules, roles and site scoping are the services'. `mount(app)` adds the pages to the
FastAPI application made by `trialdesk.api.create_app`.
"""

from trialdesk.web.app import mount, router
from trialdesk.web.settings import WebSettings

__all__ = ["WebSettings", "mount", "router"]

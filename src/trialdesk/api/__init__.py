"""REST API (FastAPI) over `trialdesk.services`: parse, call a service, render.

Rules, authorisation and database access live in the services; this package maps HTTP onto them
and their exceptions onto one error body.

The package's names are loaded on first use (PEP 562): `trialdesk.api.workers`, the supervisor
of `trialdesk serve --workers N`, is imported by the supervisor and by every spawned server
process before it loads the app, and need not build the whole API (about a second each) first.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trialdesk.api.app import API_PREFIX, create_app
    from trialdesk.api.settings import ApiSettings

__all__ = ["API_PREFIX", "ApiSettings", "create_app"]
_WHERE = {"API_PREFIX": "app", "create_app": "app", "ApiSettings": "settings"}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'trialdesk.api' has no attribute {name!r}")
    value = getattr(import_module(f"trialdesk.api.{_WHERE[name]}"), name)
    globals()[name] = value
    return value

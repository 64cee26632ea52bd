"""REST API (FastAPI) over `trialdesk.services`: parse, call a service, render.

Rules, authorisation and database access live in the services; this package maps HTTP onto them
and their exceptions onto one error body.
"""

from trialdesk.api.app import API_PREFIX, create_app
from trialdesk.api.settings import ApiSettings

__all__ = ["API_PREFIX", "ApiSettings", "create_app"]

"""One APIRouter per entity, mounted under /api/v1 by `create_app` in this order."""

from fastapi import APIRouter

from trialdesk.api.routers import (
    adverse_events,
    audit,
    auth,
    consent,
    deviations,
    dosing,
    enrollment,
    forms,
    itt,
    measurements,
    monitoring,
    participants,
    protocol,
    queries,
    screening,
    screening_log,
    sites,
    transplantation,
    users,
    visits,
)

ROUTERS: list[APIRouter] = [
    auth.router,
    sites.router,
    protocol.router,
    users.router,
    participants.router,
    consent.router,
    screening.router,
    screening_log.router,
    enrollment.router,
    visits.router,
    forms.router,
    measurements.router,
    itt.router,
    dosing.router,
    transplantation.router,
    adverse_events.router,
    deviations.router,
    queries.router,
    monitoring.router,
    audit.router,
]

"""Several records from one form, saved as one transaction of the services' use cases.

A function decorated with the services' `@service` runs as one transaction and the use cases it
calls join it, so a form that records several values either saves all of them or none. A refusal
is re-addressed to the form field it concerns (`FormRefusal.field`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from sqlalchemy.orm import Session

from trialdesk.services import record_measurement
from trialdesk.services.actor import Actor
from trialdesk.services.crf_entries import VisitMeasurement
from trialdesk.services.errors import ServiceError, ValidationProblem
from trialdesk.services.uow import service


class FormRefusal(ValidationProblem):
    """A service refusal re-addressed to the form field it concerns."""


@contextmanager
def on_field(default: str, field_map: Mapping[str, str] | None = None) -> Iterator[None]:
    """Re-raise a service refusal as a `FormRefusal` naming a form field."""
    try:
        yield
    except FormRefusal:
        raise
    except ServiceError as exc:
        raw = (exc.field or "").removeprefix("findings.")
        mapping = field_map or {}
        target = mapping.get(raw, raw) or default
        if exc.rule == "consent_required" and "consent" in mapping:
            target = mapping["consent"]
        reason = getattr(exc, "reason", None) or exc.message
        raise FormRefusal(target, reason, rule=exc.rule) from exc


@service
def record_visit_values(
    session: Session,
    actor: Actor,
    participant_id: int,
    visit_code: str,
    entries: Sequence[tuple[str, str, str | None]],
    *,
    missing: Sequence[tuple[str, str, str]] = (),
) -> int:
    """Record (element, value, unit) entries at a visit, and (element, missing-data code,
    reason) for fields with no value; returns how many were saved."""
    for element, value, unit in entries:
        # Refusals about the value, its unit or the element belong next to that element.
        with on_field(element, {"value": element, "unit": element, "element": element}):
            record_measurement(
                session,
                actor,
                participant_id,
                VisitMeasurement(visit_code=visit_code, element=element, value=value, unit=unit),
            )
    for element, code, reason in missing:
        fields = {
            "missing_code": f"{element}_missing",
            "missing_reason": f"{element}_missing_reason",
        }
        with on_field(f"{element}_missing", {**fields, "element": element}):
            record_measurement(
                session,
                actor,
                participant_id,
                VisitMeasurement(
                    visit_code=visit_code,
                    element=element,
                    value=None,
                    missing_code=code,
                    missing_reason=reason,
                ),
            )
    return len(entries) + len(missing)

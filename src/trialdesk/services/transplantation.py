"""The cell transplantation: product, lot, cell source, dose (cells/kg), route, date, operator.

Only an enrolled participant is transplanted, on or after the enrollment date.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.services.access import (
    get_participant,
    get_record,
    require_data_entry,
    require_enrolled,
)
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.crf_entries import TransplantationEntry
from trialdesk.services.errors import RuleViolation, ValidationProblem
from trialdesk.services.measurements import done_visit
from trialdesk.services.uow import add_record, change_record, service
from trialdesk.services.validate import choice, finite_number, not_after_today, required_text
from trialdesk.services.views import TransplantationView
from trialdesk.store.enums import CellSource, Route
from trialdesk.store.models import Measurement, Transplantation, Visit

# Plausibility bounds for an MSC dose. Published T2DM MSC trials gave about 1e6 cells/kg
# (this protocol: 1e6 cells/kg, the NCT01142050 protocol YAML); anything outside 1e3–1e9 cells/kg
# is a unit or typing error rather than a dose.
DOSE_RANGE_CELLS_PER_KG = (1e3, 1e9)
WEIGHT_HARD_LIMITS_KG = (20.0, 350.0)
"""Body weight outside these is an entry error: the hard limits of ``weight`` in
catalogue/elements.yaml."""


def _dose(value: Any) -> float:
    dose = finite_number(value, "dose_cells_per_kg")
    low, high = DOSE_RANGE_CELLS_PER_KG
    if not low <= dose <= high:
        raise ValidationProblem(
            "dose_cells_per_kg",
            f"{dose:.3g} cells/kg is outside {low:.0e}–{high:.0e} cells/kg: check the exponent",
            rule="hard_limit",
        )
    return dose


def _weight(value: Any) -> float | None:
    if value is None:
        return None
    weight = finite_number(value, "weight_kg")
    low, high = WEIGHT_HARD_LIMITS_KG
    if not low <= weight <= high:
        raise ValidationProblem(
            "weight_kg", f"{weight:g} kg is outside {low:g}–{high:g} kg", rule="hard_limit"
        )
    return weight


@service
def record_transplantation(
    session: Session,
    actor: Actor,
    participant_id: int,
    entry: TransplantationEntry,
) -> TransplantationView:
    participant = get_participant(session, actor, participant_id, Permission.WRITE_CLINICAL)
    not_after_today(entry.performed_on, "performed_on")
    require_data_entry(session, participant, entry.performed_on)
    enrollment = require_enrolled(session, participant, "a transplantation")
    if entry.performed_on < enrollment.enrolled_on:
        raise RuleViolation(
            "before_enrollment",
            f"transplantation on {entry.performed_on} is before enrollment "
            f"({enrollment.enrolled_on})",
            "performed_on",
        )
    dose, weight = _dose(entry.dose_cells_per_kg), _weight(entry.weight_kg)
    visit = done_visit(session, participant, entry.visit_code) if entry.visit_code else None
    weight, source = _weight_once(session, visit, weight)
    row = Transplantation(
        participant_id=participant.id,
        visit_id=visit.id if visit else None,
        performed_on=entry.performed_on,
        product=required_text(entry.product, "product"),
        lot_number=required_text(entry.lot_number, "lot_number", 64),
        cell_source=choice(CellSource, entry.cell_source, "cell_source"),
        dose_cells_per_kg=dose,
        weight_kg=weight,
        total_cells=dose * weight if weight else None,
        route=choice(Route, entry.route, "route"),
        operator=required_text(entry.operator, "operator"),
        notes=entry.notes,
    )
    add_record(session, actor, row, participant, extra=source)
    return TransplantationView.model_validate(row)


#: Two weights of one visit closer than this (kg) are the same weighing typed twice.
_SAME_WEIGHT_KG = 0.05


def vital_signs_weight(session: Session, visit: Visit | None) -> Measurement | None:
    """The body weight recorded with the vital signs of `visit` (not voided, not coded as
    missing), or None."""
    if visit is None:
        return None
    return session.scalars(
        select(Measurement).where(
            Measurement.visit_id == visit.id,
            Measurement.element == "weight",
            Measurement.voided.is_(False),
            Measurement.value.is_not(None),
        )
    ).first()


def weight_source_text(measurement: Measurement) -> str:
    """How the source of a transplantation's weight is stated (audit, page)."""
    return f"from vital signs on {measurement.collected_on.isoformat()}"


def _weight_once(
    session: Session, visit: Visit | None, typed: float | None
) -> tuple[float | None, dict[str, list[Any]]]:
    """The body weight of the transplantation day is weighed once, with the vital signs of the
    visit: when they hold it, the dose uses it (the audit entry names its source) and a
    different weight typed for the transplantation is refused, naming both."""
    measured = vital_signs_weight(session, visit)
    if measured is None or measured.value is None:
        return typed, {}
    if typed is not None and abs(typed - measured.value) > _SAME_WEIGHT_KG:
        raise RuleViolation(
            "weight_twice",
            f"{typed:g} kg differs from the body weight recorded with the vital signs of this "
            f"visit ({measured.value:g} kg on {measured.collected_on.isoformat()}): the weight "
            "is taken once, with the vital signs; correct it there",
            "weight_kg",
        )
    source = f"{weight_source_text(measured)} (measurement {measured.id})"
    return measured.value, {"weight_kg_source": [None, source]}


@service
def update_transplantation(
    session: Session,
    actor: Actor,
    /,
    transplantation_id: int,
    *,
    expected_version: int,
    reason: str,
    **fields: Any,
) -> TransplantationView:
    """Correct fields of a transplantation record (same names as `record_transplantation`)."""
    row, participant = get_record(
        session, actor, Transplantation, transplantation_id, Permission.WRITE_CLINICAL
    )
    allowed: dict[str, Callable[[Any], Any]] = {
        "performed_on": lambda v: not_after_today(v, "performed_on"),
        "product": lambda v: required_text(v, "product"),
        "lot_number": lambda v: required_text(v, "lot_number", 64),
        "cell_source": lambda v: choice(CellSource, v, "cell_source"),
        "dose_cells_per_kg": _dose,
        "weight_kg": _weight,
        "route": lambda v: choice(Route, v, "route"),
        "operator": lambda v: required_text(v, "operator"),
        "notes": lambda v: v,
    }
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise ValidationProblem(unknown[0], "is not a field of a transplantation record")
    changes = {k: allowed[k](v) for k, v in fields.items() if v is not None}
    if "weight_kg" in changes and row.visit_id is not None:
        # A corrected weight must still be the one weighed with the vital signs.
        _weight_once(session, session.get(Visit, row.visit_id), changes["weight_kg"])
    dose = changes.get("dose_cells_per_kg", row.dose_cells_per_kg)
    weight = changes.get("weight_kg", row.weight_kg)
    changes["total_cells"] = dose * weight if weight else None
    change_record(
        session,
        actor,
        row,
        changes,
        reason=reason,
        expected_version=expected_version,
        participant=participant,
    )
    return TransplantationView.model_validate(row)


@service
def list_transplantations(
    session: Session, actor: Actor, participant_id: int, *, include_voided: bool = False
) -> list[TransplantationView]:
    get_participant(session, actor, participant_id, Permission.READ_CLINICAL)
    query = select(Transplantation).where(Transplantation.participant_id == participant_id)
    if not include_voided:
        query = query.where(Transplantation.voided.is_(False))
    rows = session.scalars(query.order_by(Transplantation.performed_on, Transplantation.id))
    return [TransplantationView.model_validate(r) for r in rows]

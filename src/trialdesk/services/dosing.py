"""Glucose-lowering treatment over time: exogenous insulin (U/day) and oral glucose-lowering
drugs (mg/day, expressed also as WHO defined daily doses, `trialdesk.derive.WHO_DDD_MG`).

Each record holds the dose in force from `start_date` until the next record of the same kind;
the insulin total is edit-checked against the catalogue element ``insulin_daily_dose`` and the
OGLD DDD count against ``ogld_ddd``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.catalogue import ElementKind
from trialdesk.derive import WHO_DDD_MG
from trialdesk.services.access import get_participant, get_record, require_data_entry
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.crf_entries import (
    InsulinDoseChanges,
    InsulinDoseEntry,
    OgldDoseChanges,
    OgldDoseEntry,
)
from trialdesk.services.editchecks import element_for_entry, limit_check
from trialdesk.services.errors import RuleViolation, ValidationProblem
from trialdesk.services.measurements import done_visit
from trialdesk.services.queries import open_query
from trialdesk.services.uow import add_record, change_record, service
from trialdesk.services.validate import finite_number, not_after_today, required_text
from trialdesk.services.views import InsulinDoseView, OgldDoseView
from trialdesk.store.enums import QueryOrigin
from trialdesk.store.models import InsulinDose, OgldDose, Participant

SPLIT_TOLERANCE_U = 0.5  # basal + bolus may differ from the total by rounding only


def _visit_id(session: Session, participant: Participant, visit_code: str | None) -> int | None:
    return done_visit(session, participant, visit_code).id if visit_code else None


def _insulin_fields(
    total: Any, basal: Any, bolus: Any
) -> tuple[dict[str, float | None], str | None]:
    element = element_for_entry("insulin_daily_dose", allow=(ElementKind.QUANTITY,))
    units = finite_number(total, "total_units_per_day")
    _flag, query = limit_check(element, units, f"{units:g} U/day")
    parts = {
        "basal_units_per_day": None
        if basal is None
        else finite_number(basal, "basal_units_per_day"),
        "bolus_units_per_day": None
        if bolus is None
        else finite_number(bolus, "bolus_units_per_day"),
    }
    for field, value in parts.items():
        if value is not None and value < 0:
            raise ValidationProblem(field, "cannot be negative")
    if None not in parts.values():
        split = (parts["basal_units_per_day"] or 0) + (parts["bolus_units_per_day"] or 0)
        if abs(split - units) > SPLIT_TOLERANCE_U:
            raise ValidationProblem(
                "total_units_per_day",
                f"basal + bolus = {split:g} U/day does not add up to the total {units:g} U/day",
            )
    return {"total_units_per_day": units, **parts}, query


@service
def record_insulin_dose(
    session: Session,
    actor: Actor,
    participant_id: int,
    entry: InsulinDoseEntry,
) -> InsulinDoseView:
    """The total daily insulin dose (basal + bolus) in force from `start_date` (0 = off insulin)."""
    participant = get_participant(session, actor, participant_id, Permission.WRITE_CLINICAL)
    not_after_today(entry.start_date, "start_date")
    require_data_entry(session, participant, entry.start_date)
    fields, query = _insulin_fields(
        entry.total_units_per_day, entry.basal_units_per_day, entry.bolus_units_per_day
    )
    row = InsulinDose(
        participant_id=participant.id,
        visit_id=_visit_id(session, participant, entry.visit_code),
        start_date=entry.start_date,
        regimen=entry.regimen,
        **fields,
    )
    add_record(session, actor, row, participant)
    if query:
        open_query(
            session,
            actor,
            participant,
            row,
            "total_units_per_day",
            text=query,
            origin=QueryOrigin.EDIT_CHECK,
        )
    return InsulinDoseView.model_validate(row)


@service
def update_insulin_dose(
    session: Session,
    actor: Actor,
    dose_id: int,
    changes: InsulinDoseChanges,
) -> InsulinDoseView:
    row, participant = get_record(session, actor, InsulinDose, dose_id, Permission.WRITE_CLINICAL)
    if row.voided:
        raise RuleViolation("voided", f"insulin dose {dose_id} is voided", conflict=True)
    fields, query = _insulin_fields(
        row.total_units_per_day
        if changes.total_units_per_day is None
        else changes.total_units_per_day,
        row.basal_units_per_day
        if changes.basal_units_per_day is None
        else changes.basal_units_per_day,
        row.bolus_units_per_day
        if changes.bolus_units_per_day is None
        else changes.bolus_units_per_day,
    )
    columns: dict[str, Any] = dict(fields)
    if changes.start_date is not None:
        columns["start_date"] = not_after_today(changes.start_date, "start_date")
    if changes.regimen is not None:
        columns["regimen"] = changes.regimen
    diff = change_record(
        session,
        actor,
        row,
        columns,
        reason=changes.reason,
        expected_version=changes.expected_version,
        participant=participant,
    )
    if query and "total_units_per_day" in diff:
        open_query(
            session,
            actor,
            participant,
            row,
            "total_units_per_day",
            text=query,
            origin=QueryOrigin.EDIT_CHECK,
        )
    return InsulinDoseView.model_validate(row)


def _ogld_fields(drug: str, daily_dose_mg: Any, ddd_mg: Any) -> tuple[dict[str, Any], str | None]:
    name = required_text(drug, "drug", 100).lower()
    dose = finite_number(daily_dose_mg, "daily_dose_mg")
    if dose < 0:
        raise ValidationProblem("daily_dose_mg", "cannot be negative")
    if ddd_mg is None:
        if name not in WHO_DDD_MG:
            known = ", ".join(sorted(WHO_DDD_MG))
            raise ValidationProblem(
                "ddd_mg",
                f"no WHO defined daily dose is on file for {name!r} (known: {known}); give ddd_mg",
            )
        ddd_mg = WHO_DDD_MG[name]
    reference = finite_number(ddd_mg, "ddd_mg")
    if reference <= 0:
        raise ValidationProblem("ddd_mg", "must be positive")
    ddd = dose / reference
    element = element_for_entry("ogld_ddd", allow=(ElementKind.QUANTITY,))
    _flag, query = limit_check(element, ddd, f"{ddd:.3g} DDD ({dose:g} mg/day {name})")
    return {"drug": name, "daily_dose_mg": dose, "ddd_mg": reference, "ddd": ddd}, query


@service
def record_ogld_dose(
    session: Session,
    actor: Actor,
    participant_id: int,
    entry: OgldDoseEntry,
) -> OgldDoseView:
    """An oral glucose-lowering drug's daily dose from `start_date` (0 mg = stopped).

    `ddd_mg` defaults to the WHO DDD of the drug (`WHO_DDD_MG`); give it for other drugs or
    formulations (e.g. modified-release gliclazide).
    """
    participant = get_participant(session, actor, participant_id, Permission.WRITE_CLINICAL)
    not_after_today(entry.start_date, "start_date")
    require_data_entry(session, participant, entry.start_date)
    fields, query = _ogld_fields(entry.drug, entry.daily_dose_mg, entry.ddd_mg)
    row = OgldDose(
        participant_id=participant.id,
        visit_id=_visit_id(session, participant, entry.visit_code),
        start_date=entry.start_date,
        **fields,
    )
    add_record(session, actor, row, participant)
    if query:
        open_query(
            session,
            actor,
            participant,
            row,
            "daily_dose_mg",
            text=query,
            origin=QueryOrigin.EDIT_CHECK,
        )
    return OgldDoseView.model_validate(row)


@service
def update_ogld_dose(
    session: Session,
    actor: Actor,
    dose_id: int,
    changes: OgldDoseChanges,
) -> OgldDoseView:
    row, participant = get_record(session, actor, OgldDose, dose_id, Permission.WRITE_CLINICAL)
    if row.voided:
        raise RuleViolation("voided", f"OGLD dose {dose_id} is voided", conflict=True)
    fields, query = _ogld_fields(
        row.drug,
        row.daily_dose_mg if changes.daily_dose_mg is None else changes.daily_dose_mg,
        row.ddd_mg if changes.ddd_mg is None else changes.ddd_mg,
    )
    columns: dict[str, Any] = dict(fields)
    if changes.start_date is not None:
        columns["start_date"] = not_after_today(changes.start_date, "start_date")
    diff = change_record(
        session,
        actor,
        row,
        columns,
        reason=changes.reason,
        expected_version=changes.expected_version,
        participant=participant,
    )
    if query and "daily_dose_mg" in diff:
        open_query(
            session,
            actor,
            participant,
            row,
            "daily_dose_mg",
            text=query,
            origin=QueryOrigin.EDIT_CHECK,
        )
    return OgldDoseView.model_validate(row)


@service
def list_insulin_doses(
    session: Session, actor: Actor, participant_id: int, *, include_voided: bool = False
) -> list[InsulinDoseView]:
    get_participant(session, actor, participant_id, Permission.READ_CLINICAL)
    query = select(InsulinDose).where(InsulinDose.participant_id == participant_id)
    if not include_voided:
        query = query.where(InsulinDose.voided.is_(False))
    rows = session.scalars(query.order_by(InsulinDose.start_date, InsulinDose.id))
    return [InsulinDoseView.model_validate(r) for r in rows]


@service
def list_ogld_doses(
    session: Session, actor: Actor, participant_id: int, *, include_voided: bool = False
) -> list[OgldDoseView]:
    get_participant(session, actor, participant_id, Permission.READ_CLINICAL)
    query = select(OgldDose).where(OgldDose.participant_id == participant_id)
    if not include_voided:
        query = query.where(OgldDose.voided.is_(False))
    rows = session.scalars(query.order_by(OgldDose.start_date, OgldDose.id))
    return [OgldDoseView.model_validate(r) for r in rows]

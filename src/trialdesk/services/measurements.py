"""Measurements at visits: value and unit as entered, canonical value and unit, LOINC from the
catalogue, edit-checked (`trialdesk.services.editchecks`).

A field may instead be recorded as missing: a missing-data code (`trialdesk.catalogue.missing`)
and the site's reason, no value. Edit checks do not run on it (there is no value to check); it is
audited and corrected like a value (a correction may replace the code by a value or back)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.catalogue import ElementKind
from trialdesk.catalogue.missing import UnknownMissingCode, code_of
from trialdesk.services.access import (
    get_participant,
    get_record,
    live_visit,
    require,
    require_data_entry,
)
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.crf_entries import MeasurementChanges, MeasurementFilter, VisitMeasurement
from trialdesk.services.editchecks import CheckedValue, check_value, element_for_entry, soft_flag
from trialdesk.services.errors import RuleViolation, ValidationProblem
from trialdesk.services.listing import DEFAULT_LIMIT, scoped
from trialdesk.services.paging import Page as Paging
from trialdesk.services.queries import open_query
from trialdesk.services.study import current_catalogue, current_protocol
from trialdesk.services.uow import add_record, change_record, service
from trialdesk.services.validate import not_after_today, required_text
from trialdesk.services.views import MeasurementView, Page
from trialdesk.services.visits import plan_of
from trialdesk.store.enums import QueryOrigin, VisitStatus
from trialdesk.store.models import Measurement, Participant, Visit

ENTERABLE = (ElementKind.QUANTITY, ElementKind.CATEGORY)
#: Elements that may be recorded as missing: every enterable one, a whole series (an ITT
#: not done) — the ITT samples and doses themselves are recorded by their own services — and a
#: yes/no answer (a screening finding asked but unknown, issue #13).
MISSABLE = (*ENTERABLE, ElementKind.SERIES, ElementKind.BOOLEAN)


def measurement_view(row: Measurement, visit_code: str) -> MeasurementView:
    catalogue = current_catalogue()
    label = catalogue[row.element].label if row.element in catalogue else row.element
    derived = ("visit_code", "label", "limit_flag", "missing_label")
    fields = {k: getattr(row, k) for k in MeasurementView.model_fields if k not in derived}
    return MeasurementView.model_validate(
        {
            **fields,
            "visit_code": visit_code,
            "label": label,
            "limit_flag": soft_flag(row.element, row.value),
            "missing_label": code_of(row.missing_code).label if row.missing_code else None,
        }
    )


def coded_missing(code: str, reason: str | None, value: Any) -> dict[str, Any]:
    """The columns of a field recorded as missing (`code` and the site's `reason`, no value)."""
    if value is not None and str(value).strip():
        raise ValidationProblem(
            "missing_code", "give either a value or a missing-data code, not both"
        )
    try:
        known = code_of(code)
    except UnknownMissingCode as exc:
        raise ValidationProblem("missing_code", str(exc)) from None
    return {
        "value_as_entered": "",
        "unit_as_entered": None,
        "value": None,
        "unit": None,
        "text_value": None,
        "missing_code": known.code,
        "missing_reason": required_text(reason, "missing_reason", 2000),
    }


def done_visit(session: Session, participant: Participant, code: str) -> Visit:
    plan_of(current_protocol(session), code)
    visit = live_visit(session, participant.id, code)
    if visit is None or visit.status is not VisitStatus.DONE or visit.visit_date is None:
        raise RuleViolation(
            "visit_not_recorded",
            f"visit {code} of {participant.study_id} is not recorded as done: record the visit "
            "(its date) before its data",
            "visit_code",
        )
    return visit


def _apply(checked: CheckedValue) -> dict[str, Any]:
    return {
        "value_as_entered": checked.value_as_entered,
        "unit_as_entered": checked.unit_as_entered,
        "value": checked.value,
        "unit": checked.unit,
        "text_value": checked.text_value,
        "missing_code": None,
        "missing_reason": None,
    }


@service
def record_measurement(
    session: Session,
    actor: Actor,
    participant_id: int,
    entry: VisitMeasurement,
) -> MeasurementView:
    """Record one value (e.g. ``fasting_glucose`` 126 ``mg/dL`` at ``BL``), or why there is
    none (`missing_code` such as ``ND`` with `missing_reason`; `value` then None).

    A value outside the element's soft limits is stored and a data query is raised on it; one
    outside the hard limits is refused.
    """
    participant = get_participant(session, actor, participant_id, Permission.WRITE_CLINICAL)
    data_element = element_for_entry(
        entry.element, allow=MISSABLE if entry.missing_code else ENTERABLE, session=session
    )
    visit = done_visit(session, participant, entry.visit_code)
    assert visit.visit_date is not None
    when = not_after_today(entry.collected_on or visit.visit_date, "collected_on")
    require_data_entry(session, participant, when)
    checked = None
    if entry.missing_code:
        columns = coded_missing(entry.missing_code, entry.missing_reason, entry.value)
    else:
        checked = check_value(data_element, entry.value, entry.unit)
        columns = _apply(checked)
    row = Measurement(
        participant_id=participant.id,
        visit_id=visit.id,
        element=data_element.name,
        loinc=data_element.codes.loinc,
        collected_on=when,
        **columns,
    )
    add_record(session, actor, row, participant)
    if checked is not None and checked.query_text:
        open_query(
            session,
            actor,
            participant,
            row,
            "value",
            text=checked.query_text,
            origin=QueryOrigin.EDIT_CHECK,
        )
    return measurement_view(row, visit.code)


@service
def update_measurement(
    session: Session,
    actor: Actor,
    measurement_id: int,
    changes: MeasurementChanges,
) -> MeasurementView:
    """Correct a value (re-checked against the limits) or its collection date; or record the
    value as missing (`missing_code`, `missing_reason`), or a missing one's value (`value`)."""
    row, participant = get_record(
        session, actor, Measurement, measurement_id, Permission.WRITE_CLINICAL
    )
    if row.voided:
        raise RuleViolation("voided", f"measurement {measurement_id} is voided", conflict=True)
    columns: dict[str, Any] = {}
    checked = None
    if changes.missing_code:
        columns.update(coded_missing(changes.missing_code, changes.missing_reason, changes.value))
    elif changes.missing_reason is not None and row.missing_code and changes.value is None:
        columns["missing_reason"] = required_text(changes.missing_reason, "missing_reason", 2000)
    elif changes.value is not None:
        data_element = element_for_entry(row.element, allow=ENTERABLE, session=session)
        checked = check_value(data_element, changes.value, changes.unit or row.unit_as_entered)
        columns.update(_apply(checked))
    elif changes.unit is not None:
        raise ValidationProblem("value", "give the value together with its new unit")
    if changes.collected_on is not None:
        columns["collected_on"] = not_after_today(changes.collected_on, "collected_on")
    diff = change_record(
        session,
        actor,
        row,
        columns,
        reason=changes.reason,
        expected_version=changes.expected_version,
        participant=participant,
    )
    if checked is not None and checked.query_text and "value" in diff:
        open_query(
            session,
            actor,
            participant,
            row,
            "value",
            text=checked.query_text,
            origin=QueryOrigin.EDIT_CHECK,
        )
    visit = session.get(Visit, row.visit_id)
    return measurement_view(row, visit.code if visit else "")


@service
def get_measurement(session: Session, actor: Actor, measurement_id: int) -> MeasurementView:
    row, _ = get_record(session, actor, Measurement, measurement_id, Permission.READ_CLINICAL)
    visit = session.get(Visit, row.visit_id)
    return measurement_view(row, visit.code if visit else "")


@service
def list_measurements(
    session: Session,
    actor: Actor,
    filters: MeasurementFilter | None = None,
    page: Paging | None = None,
) -> Page[MeasurementView]:
    """Measurements matching `filters` (all the actor may read when None), a `page` of them
    (the first `listing.DEFAULT_LIMIT` when None)."""
    filters = filters or MeasurementFilter()
    page = page or Paging(limit=DEFAULT_LIMIT)
    if filters.participant_id is not None:
        get_participant(session, actor, filters.participant_id, Permission.READ_CLINICAL)
    else:
        require(actor, Permission.READ_CLINICAL, table="measurements")
    query = scoped(
        select(Measurement, Visit.code).join(Visit, Visit.id == Measurement.visit_id),
        Measurement,
        actor,
        filters.include_voided,
    )
    if filters.participant_id is not None:
        query = query.where(Measurement.participant_id == filters.participant_id)
    if filters.visit_code is not None:
        query = query.where(Visit.code == filters.visit_code)
    if filters.element is not None:
        query = query.where(Measurement.element == filters.element)
    query = query.order_by(Measurement.participant_id, Measurement.collected_on, Measurement.id)
    return _paginate_pairs(session, query, page.limit, page.offset)


def _paginate_pairs(session: Session, query: Any, limit: int, offset: int) -> Page[MeasurementView]:
    from sqlalchemy import func

    from trialdesk.services.listing import page_bounds

    limit, offset = page_bounds(limit, offset)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = session.execute(query.limit(limit).offset(offset)).all()
    items = [measurement_view(m, code) for m, code in rows]
    return Page[MeasurementView](items=items, total=total, limit=limit, offset=offset)

"""Saving a screening form: one transaction made of the services' own use cases.

Register the candidate → record the signed consent → record the screening visit → record each
measurement and the ITT as entered (value and unit) → screen (the services rebuild the record from
what was stored and evaluate it, as `screen_participant` documents). The steps run inside one
`@service` call, so they join one transaction: if any step is refused nothing is kept, and the
refusal comes back naming the form field it concerns.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from trialdesk.catalogue import ElementKind
from trialdesk.services import (
    record_consent,
    record_itt_test,
    record_measurement,
    record_visit,
    register_participant,
    screen_participant,
)
from trialdesk.services.actor import Actor
from trialdesk.services.study import current_catalogue, current_protocol
from trialdesk.services.uow import service
from trialdesk.services.visits import SCREENING_CODE
from trialdesk.web.entry import on_field
from trialdesk.web.screening_form import CONSENT_ELEMENT

# Where a service's field name lands on the screening form.
_FIELD_MAP = {
    "registered_on": "screening_date",
    "visit_date": "screening_date",
    "screened_on": "screening_date",
    "collected_on": "screening_date",
    "performed_on": "screening_date",
    "form_version": "consent_form_version",
    "consented_on": "consent_date",
    "obtained_by": "consent_date",
    "samples": "itt_glucose",
    "glucose_unit": "itt_glucose",
    "consent": "consent_form_version",  # no consent on record: the consent fields are empty
}


def _on_field(default: str) -> AbstractContextManager[None]:
    return on_field(default, _FIELD_MAP)


def _date(form: Mapping[str, Any], name: str) -> date:
    return date.fromisoformat(str(form[name]).strip())


def _findings(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Yes/no, category and date answers other than those with their own records."""
    catalogue = current_catalogue()
    sourced = {CONSENT_ELEMENT, "date_of_birth", "sex", "screening_date"}
    return {
        name: value
        for name, value in raw.items()
        if name in catalogue
        and name not in sourced
        and catalogue[name].kind in (ElementKind.BOOLEAN, ElementKind.CATEGORY, ElementKind.DATE)
    }


@service
def _screen_new_candidate(
    session: Session, actor: Actor, form: Mapping[str, Any], raw: Mapping[str, Any]
) -> int:
    catalogue = current_catalogue()
    screened_on = _date(form, "screening_date")
    with _on_field("full_name"):
        participant = register_participant(
            session,
            actor,
            site_code=str(form["site_code"]),
            registered_on=screened_on,
            full_name=str(form["full_name"]),
            date_of_birth=_date(form, "date_of_birth"),
            sex=str(raw["sex"]) if raw.get("sex") else None,
            medical_record_number=str(form.get("medical_record_number") or "").strip() or None,
        )
    pid = participant.id
    if form.get("consent_form_version") or form.get("consent_date"):
        with _on_field("consent_date"):
            record_consent(
                session,
                actor,
                pid,
                form_version=str(form.get("consent_form_version") or ""),
                consented_on=_date(form, "consent_date"),
            )
    with _on_field("screening_date"):
        record_visit(session, actor, pid, code=SCREENING_CODE, visit_date=screened_on)
    for name, value in raw.items():
        if name not in catalogue or catalogue[name].kind is not ElementKind.QUANTITY:
            continue
        with _on_field(name):
            record_measurement(
                session,
                actor,
                pid,
                visit_code=SCREENING_CODE,
                element=name,
                value=value,
                unit=raw.get(f"{name}_unit"),
            )
    _record_itt(session, actor, pid, raw)
    with _on_field("screening_date"):
        screen_participant(session, actor, pid, screened_on=screened_on, findings=_findings(raw))
    return pid


def _record_itt(session: Session, actor: Actor, pid: int, raw: Mapping[str, Any]) -> None:
    samples = raw.get("itt_glucose")
    if not samples:
        return
    with _on_field("itt_glucose"):
        record_itt_test(
            session,
            actor,
            pid,
            visit_code=SCREENING_CODE,
            samples={float(m): v for m, v in samples.items()},
            glucose_unit=str(raw.get("itt_glucose_unit") or ""),
            insulin_dose_u_per_kg=_itt_dose(),
        )


def _itt_dose() -> float | None:
    """The protocol's ITT bolus (parameter ``itt_insulin_dose``, 0.1 U/kg in NCT01142050)."""
    parameter = current_protocol().parameters.get("itt_insulin_dose")
    return parameter.value if parameter is not None and parameter.unit == "U/kg" else None


def save_screening_form(
    session: Session, actor: Actor, form: Mapping[str, Any], raw: Mapping[str, Any]
) -> int:
    """Save the form; returns the new participant's id. The services evaluate the criteria again
    from what they stored, so the saved verdict never rests on the browser's live one."""
    return _screen_new_candidate(session, actor, form, raw)

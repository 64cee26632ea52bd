"""Saving a screening form: the form read into the services' `CandidateScreeningEntry`, saved by
their `register_and_screen` use case (registration, consent, screening visit, measurements and
ITT as entered, then the screening, all or nothing), and a refusal brought back next to the form
field it concerns.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from trialdesk.catalogue import ElementKind
from trialdesk.services.actor import Actor
from trialdesk.services.errors import ServiceError
from trialdesk.services.screening import (
    FINDING_KINDS,
    SOURCED,
    CandidateRegistration,
    CandidateScreeningEntry,
    ConsentEntry,
    EntryProblem,
    IttEntry,
    IttSampleEntry,
    MeasurementEntry,
    MissingEntry,
    protocol_itt_dose,
    register_and_screen,
)
from trialdesk.services.study import current_catalogue
from trialdesk.web.entry import FormRefusal, on_field

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

# The form field a refusal without a field of its own belongs to, by part of the entry (a
# measurement's is its element's field).
_PART_FIELD = {
    "registration": "full_name",
    "consent": "consent_date",
    "visit": "screening_date",
    "itt": "itt_glucose",
    "screening": "screening_date",
}


def _date(form: Mapping[str, Any], name: str) -> date:
    return date.fromisoformat(str(form[name]).strip())


def _consent(form: Mapping[str, Any]) -> ConsentEntry | None:
    if not (form.get("consent_form_version") or form.get("consent_date")):
        return None
    if not str(form.get("consent_date") or "").strip():
        raise FormRefusal("consent_date", "is required (YYYY-MM-DD) with the consent form version")
    return ConsentEntry(
        form_version=str(form.get("consent_form_version") or ""),
        consented_on=_date(form, "consent_date"),
    )


def _findings(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Yes/no, category and date answers other than those with their own records."""
    catalogue = current_catalogue()
    return {
        name: value
        for name, value in raw.items()
        if name in catalogue and name not in SOURCED and catalogue[name].kind in FINDING_KINDS
    }


def _measurements(raw: Mapping[str, Any]) -> list[MeasurementEntry]:
    catalogue = current_catalogue()
    return [
        MeasurementEntry(element=name, value=value, unit=raw.get(f"{name}_unit"))
        for name, value in raw.items()
        if name in catalogue and catalogue[name].kind is ElementKind.QUANTITY
    ]


def _itt(raw: Mapping[str, Any], session: Session | None = None) -> IttEntry | None:
    """The ITT samples typed, given with the protocol's bolus (the form has no dose field)."""
    samples = raw.get("itt_glucose")
    if not samples:
        return None
    return IttEntry(
        glucose_unit=str(raw.get("itt_glucose_unit") or ""),
        samples=[IttSampleEntry(minute=float(m), glucose=v) for m, v in samples.items()],
        insulin_dose_u_per_kg=protocol_itt_dose(session),
    )


def screening_entry(
    form: Mapping[str, Any],
    raw: Mapping[str, Any],
    session: Session | None = None,
    coded: Mapping[str, tuple[str, str]] | None = None,
) -> CandidateScreeningEntry:
    """The services' entry from the submitted form, the raw record read from it and the fields
    recorded as missing (`coded`: element → (code, reason))."""
    return CandidateScreeningEntry(
        screened_on=_date(form, "screening_date"),
        registration=CandidateRegistration(
            site_code=str(form["site_code"]),
            full_name=str(form["full_name"]),
            date_of_birth=_date(form, "date_of_birth"),
            sex=str(raw["sex"]) if raw.get("sex") else None,
            medical_record_number=str(form.get("medical_record_number") or "").strip() or None,
        ),
        consent=_consent(form),
        findings=_findings(raw),
        measurements=_measurements(raw),
        itt=_itt(raw, session),
        missing=[
            MissingEntry(element=name, code=code, reason=reason)
            for name, (code, reason) in (coded or {}).items()
        ],
    )


def save_screening_form(
    session: Session,
    actor: Actor,
    form: Mapping[str, Any],
    raw: Mapping[str, Any],
    coded: Mapping[str, tuple[str, str]] | None = None,
) -> int:
    """Save the form; returns the new participant's id. The services evaluate the criteria again
    from what they stored, so the saved verdict never rests on the browser's live one."""
    entry = screening_entry(form, raw, session, coded)
    try:
        return register_and_screen(session, actor, entry).participant_id
    except ServiceError as exc:
        part = exc.context.get("part")
        if part is None:  # about no part of the form (e.g. a write conflicting at commit)
            raise
        defaults = {f"measurements[{i}]": m.element for i, m in enumerate(entry.measurements)}
        defaults |= {f"missing[{i}]": f"{m.element}_missing" for i, m in enumerate(entry.missing)}
        refusal = exc.refusal if isinstance(exc, EntryProblem) else exc
        # Raised again inside on_field, the part's own refusal comes out as a FormRefusal.
        with on_field(defaults.get(part) or _PART_FIELD[part], _field_map(entry, part)):
            raise refusal from None


def _field_map(entry: CandidateScreeningEntry, part: str) -> dict[str, str]:
    """Where a refusal of `part` lands: a coded field's code and reason beside that field."""
    if not part.startswith("missing["):
        return _FIELD_MAP
    element = entry.missing[int(part.removeprefix("missing[").rstrip("]"))].element
    return {
        **_FIELD_MAP,
        element: f"{element}_missing",
        "missing_code": f"{element}_missing",
        "missing_reason": f"{element}_missing_reason",
    }

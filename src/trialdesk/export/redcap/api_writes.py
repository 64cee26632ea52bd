"""Writing one form's changed values, imported through the REDCap API, to the rows that hold
them — through the same use cases (services) the forms use, so the edit checks, rights, locks and
audit trail apply, each correction with the reason `IMPORT_REASON` and the token's user.

Where each exported value is stored comes from the export itself (`from_store.stored_places`);
a value with no row yet is recorded as new where the form allows it (a measurement, an ITT, an
insulin dose, an adverse event — the same calls as `to_store`'s import), else refused naming the
field and why. Values are converted back from the CRF's codes as `to_store` does (AE outcome and
action codes, 10^6 cells, oral drugs' WHO DDD).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk import services as sv
from trialdesk.catalogue import ElementKind
from trialdesk.export.crf.model import StudyDesign
from trialdesk.export.from_store import StoredPlaces
from trialdesk.export.to_store import AE_OUTCOMES, ITT_GLUCOSE_UNIT, MILLION, NO_REASON
from trialdesk.export.values import Value
from trialdesk.protocol import Protocol, catalogue_for
from trialdesk.services.participants import IdentityCorrection
from trialdesk.services.screening import latest_screening
from trialdesk.store.models import (
    AdverseEvent,
    Consent,
    InsulinDose,
    IttTest,
    Measurement,
    OgldDose,
    Participant,
    ParticipantIdentity,
    Transplantation,
    Visit,
)

IMPORT_REASON = "REDCap API import"


class WriteRefused(Exception):
    """A value that cannot be written: the item (REDCap field) and why."""

    def __init__(self, item: str, reason: str) -> None:
        super().__init__(f"{item}: {reason}")
        self.item = item
        self.reason = reason


@dataclass
class Change:
    """One field sent with a value different from the stored one."""

    subject: str
    event: str  # the CRF event code (UNSCHEDULED for an unscheduled visit's instance)
    form: str
    instance: int
    item: str
    value: Value | None
    missing: str | None = None  # a missing-data code sent instead of a value


@dataclass
class FormChanges:
    """The changes to one form instance, with what is stored there now."""

    subject: str
    event: str
    form: str
    instance: int
    changes: dict[str, Change] = field(default_factory=dict)
    stored: dict[str, Value] = field(default_factory=dict)

    def value(self, item: str) -> Value | None:
        """The item's value after the import (sent, else stored)."""
        if item in self.changes:
            return self.changes[item].value
        return self.stored.get(item)


@dataclass
class Writer:
    """Writes `FormChanges` for one import (one transaction, opened by the caller)."""

    session: Session
    actor: sv.Actor
    protocol: Protocol
    design: StudyDesign
    places: StoredPlaces

    def participant(self, subject: str) -> Participant:
        return self.session.scalars(
            select(Participant).where(Participant.study_id == subject)
        ).one()

    def visit_code(self, group: FormChanges) -> str:
        """The trialdesk visit of a CRF event instance (an unscheduled visit's own code)."""
        return self.places.unscheduled.get((group.subject, group.instance), group.event)

    def source(self, group: FormChanges, item: str) -> tuple[str, int] | None:
        key = (group.subject, group.event, group.form, group.instance, item)
        return self.places.sources.get(key)

    def row_of(self, group: FormChanges, table: str) -> int | None:
        """The id of the `table` row holding any stored value of the form instance."""
        for item in group.stored:
            found = self.source(group, item)
            if found is not None and found[0] == table:
                return found[1]
        return None

    def write(self, group: FormChanges) -> None:
        handler = _HANDLERS.get(group.form, _findings_or_measurements)
        handler(self, group)


def _date(group: FormChanges, item: str) -> date | None:
    value = group.value(item)
    return value if isinstance(value, date) else None


def _number(value: Value | None) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(value: Value | None) -> str | None:
    return None if value is None else str(value)


def _only_values(group: FormChanges) -> None:
    """A missing-data code is only for measurements (the other forms record a value)."""
    for change in group.changes.values():
        if change.missing is not None:
            raise WriteRefused(
                change.item, "a missing-data code can be given for a measurement only"
            )


# ---- measurements, their forms' dates, screening findings -------------------------------------


FORM_DATES = {"vs_date": "vital_signs", "lb_date": "labs", "slb_date": "safety_labs"}
"""The item holding the date a form's samples were taken (CRF layout.yaml)."""


def _findings_or_measurements(writer: Writer, group: FormChanges) -> None:
    """Any form: each measurement on its own, each form date on the form's measurements,
    screening answers together on the latest screening, identity and consent on theirs."""
    catalogue = catalogue_for(writer.protocol)
    findings: dict[str, Value | None] = {}
    for name, change in group.changes.items():
        item = writer.design.item(name)
        if name in FORM_DATES:
            continue
        if item.derivation:
            raise WriteRefused(name, "is calculated by trialdesk and cannot be imported")
        element = catalogue[item.element] if item.element and item.element in catalogue else None
        if element is not None and _is_measured(element):
            _measurement(writer, group, change, element.name)
        elif change.missing is not None:
            raise WriteRefused(name, "a missing-data code can be given for a measurement only")
        else:
            findings[name] = change.value
    for name in FORM_DATES.keys() & group.changes.keys():
        _form_date(writer, group, name)
    _screening_items(writer, group, findings)


def _is_measured(element: Any) -> bool:
    """Stored as a measurement (a value at a visit): LB/VS or a quantity (`to_store` rule)."""
    if element.kind is ElementKind.BOOLEAN:
        return False
    return bool(
        element.codes.sdtm_domain in ("LB", "VS")
        or element.kind in (ElementKind.QUANTITY, ElementKind.SERIES)
    )


def _measurement(writer: Writer, group: FormChanges, change: Change, element: str) -> None:
    participant = writer.participant(group.subject)
    code = writer.visit_code(group)
    row = writer.session.scalars(
        select(Measurement)
        .join(Visit, Visit.id == Measurement.visit_id)
        .where(
            Measurement.participant_id == participant.id,
            Measurement.element == element,
            Measurement.voided.is_(False),
            Visit.code == code,
            Visit.voided.is_(False),
        )
    ).first()
    unit = catalogue_for(writer.protocol)[element].canonical_unit
    day = next((_date(group, d) for d in FORM_DATES if _date(group, d)), None)
    if change.missing is not None:
        coded: dict[str, Any] = {"missing_code": change.missing, "missing_reason": NO_REASON}
    else:
        coded = {"value": change.value, "unit": unit}
    if row is None:
        sv.record_measurement(
            writer.session,
            writer.actor,
            participant.id,
            sv.VisitMeasurement(visit_code=code, element=element, collected_on=day, **coded),
        )
        return
    sv.update_measurement(
        writer.session,
        writer.actor,
        row.id,
        sv.MeasurementChanges(expected_version=row.version, reason=IMPORT_REASON, **coded),
    )


def _form_date(writer: Writer, group: FormChanges, name: str) -> None:
    """A form's sample date: the collection date of each of its measurements at the visit."""
    day = _date(group, name)
    if day is None:
        raise WriteRefused(name, "a form's date cannot be removed")
    elements = {i.element for i in writer.design.form(FORM_DATES[name]).items if i.element}
    participant = writer.participant(group.subject)
    rows = writer.session.scalars(
        select(Measurement)
        .join(Visit, Visit.id == Measurement.visit_id)
        .where(
            Measurement.participant_id == participant.id,
            Measurement.element.in_(elements),
            Measurement.voided.is_(False),
            Visit.code == writer.visit_code(group),
            Visit.voided.is_(False),
        )
    ).all()
    if not rows:
        raise WriteRefused(name, "the form has no value at this visit to date")
    for row in rows:
        if row.collected_on != day:
            sv.update_measurement(
                writer.session,
                writer.actor,
                row.id,
                sv.MeasurementChanges(
                    expected_version=row.version, reason=IMPORT_REASON, collected_on=day
                ),
            )


def _screening_items(writer: Writer, group: FormChanges, items: Mapping[str, Any]) -> None:
    """Consent, identity, sex and screening answers (the screening visit's forms)."""
    participant = writer.participant(group.subject)
    rest = dict(items)
    for name in ("screening_date", "informed_consent"):
        if name in rest:
            raise WriteRefused(
                name,
                "is set when the participant is screened or consents in trialdesk; "
                "correct it there",
            )
    consent: dict[str, Any] = {
        k: rest.pop(k) for k in ("consent_date", "consent_version") if k in rest
    }
    if consent:
        _consent(writer, participant, consent)
    if "date_of_birth" in rest:
        _birth(writer, participant, rest.pop("date_of_birth"))
    if "sex" in rest:
        sv.update_participant(
            writer.session,
            writer.actor,
            participant.id,
            expected_version=participant.version,
            reason=IMPORT_REASON,
            sex=_text(rest.pop("sex")),
        )
    if rest:
        _findings(writer, participant, rest)


def _consent(writer: Writer, participant: Participant, values: Mapping[str, Any]) -> None:
    row = writer.session.scalars(
        select(Consent)
        .where(Consent.participant_id == participant.id, Consent.voided.is_(False))
        .order_by(Consent.consented_on)
    ).first()
    if row is None:
        raise WriteRefused(next(iter(values)), "no consent is recorded for this participant")
    sv.update_consent(
        writer.session,
        writer.actor,
        row.id,
        expected_version=row.version,
        reason=IMPORT_REASON,
        form_version=None
        if values.get("consent_version") is None
        else str(values["consent_version"]),
        consented_on=values.get("consent_date"),
    )


def _birth(writer: Writer, participant: Participant, born: Any) -> None:
    identity = writer.session.scalars(
        select(ParticipantIdentity).where(ParticipantIdentity.participant_id == participant.id)
    ).first()
    if identity is None or not isinstance(born, date):
        raise WriteRefused("date_of_birth", "is not a date that can be recorded")
    sv.update_identity(
        writer.session,
        writer.actor,
        participant.id,
        IdentityCorrection(date_of_birth=born),
        expected_version=identity.version,
        reason=IMPORT_REASON,
    )


def _findings(writer: Writer, participant: Participant, findings: Mapping[str, Any]) -> None:
    """Screening answers (eligibility, medical history, race/ethnicity): a correction of the
    latest screening, whose eligibility is evaluated again (`update_screening`)."""
    row = latest_screening(writer.session, participant.id)
    if row is None:
        raise WriteRefused(next(iter(findings)), "the participant has not been screened yet")
    sv.update_screening(
        writer.session,
        writer.actor,
        row.id,
        expected_version=row.version,
        reason=IMPORT_REASON,
        findings=dict(findings),
    )


# ---- the other forms ---------------------------------------------------------------------------


def _unscheduled_visit(writer: Writer, group: FormChanges) -> None:
    _only_values(group)
    visit_id = writer.row_of(group, "visits")
    visit = writer.session.get(Visit, visit_id) if visit_id else None
    if visit is None:
        raise WriteRefused(
            next(iter(group.changes)), "new unscheduled visits are added in trialdesk"
        )
    reason = group.changes.get("uv_reason")
    sv.update_visit(
        writer.session,
        writer.actor,
        visit.id,
        sv.VisitChanges(
            expected_version=visit.version,
            reason=IMPORT_REASON,
            visit_date=_date(group, "uv_date") if "uv_date" in group.changes else None,
            unscheduled_reason=None if reason is None else str(reason.value or ""),
        ),
    )


def _itt(writer: Writer, group: FormChanges) -> None:
    """The ITT's samples and date: the stored test corrected, or a new test recorded."""
    if "kitt" in group.changes:
        raise WriteRefused("kitt", "is calculated by trialdesk and cannot be imported")
    _only_values(group)
    samples = {
        item.sample_minute: group.value(item.name)
        for item in writer.design.form(group.form).items
        if item.sample_minute is not None and group.value(item.name) is not None
    }
    test_id = writer.row_of(group, "itt_tests")
    test = writer.session.get(IttTest, test_id) if test_id else None
    sampled = any(writer.design.item(n).sample_minute is not None for n in group.changes)
    if test is None:
        sv.record_itt_test(
            writer.session,
            writer.actor,
            writer.participant(group.subject).id,
            sv.IttTestEntry(
                visit_code=writer.visit_code(group),
                samples=samples,
                glucose_unit=ITT_GLUCOSE_UNIT,
                performed_on=_date(group, "itt_date"),
            ),
        )
        return
    sv.update_itt_test(
        writer.session,
        writer.actor,
        test.id,
        sv.IttTestChanges(
            expected_version=test.version,
            reason=IMPORT_REASON,
            samples=samples if sampled else None,
            glucose_unit=ITT_GLUCOSE_UNIT if sampled else None,
            performed_on=_date(group, "itt_date") if "itt_date" in group.changes else None,
        ),
    )


def _dosing(writer: Writer, group: FormChanges) -> None:
    """The insulin dose in force from the dosing date, and the oral drugs' total WHO DDD."""
    _only_values(group)
    if "insulin_dose_per_kg" in group.changes:
        raise WriteRefused("insulin_dose_per_kg", "is calculated by trialdesk from the weight")
    if group.changes.keys() & {"dosing_date", "insulin_daily_dose"}:
        _insulin(writer, group)
    if "ogld_ddd" in group.changes:
        _ogld(writer, group)


def _insulin(writer: Writer, group: FormChanges) -> None:
    start, total = _date(group, "dosing_date"), _number(group.value("insulin_daily_dose"))
    dose_id = writer.row_of(group, "insulin_doses")
    dose = writer.session.get(InsulinDose, dose_id) if dose_id else None
    if dose is None:
        if start is None or total is None:
            missing = "dosing_date" if start is None else "insulin_daily_dose"
            raise WriteRefused(missing, "a new insulin dose needs its start date and daily dose")
        sv.record_insulin_dose(
            writer.session,
            writer.actor,
            writer.participant(group.subject).id,
            sv.InsulinDoseEntry(
                start_date=start, total_units_per_day=total, visit_code=writer.visit_code(group)
            ),
        )
        return
    sv.update_insulin_dose(
        writer.session,
        writer.actor,
        dose.id,
        sv.InsulinDoseChanges(
            expected_version=dose.version,
            reason=IMPORT_REASON,
            start_date=start if "dosing_date" in group.changes else None,
            total_units_per_day=total if "insulin_daily_dose" in group.changes else None,
        ),
    )


def _ogld(writer: Writer, group: FormChanges) -> None:
    """The visit's oral drugs' total WHO DDD: changed on the one drug that makes it up
    (daily dose = DDD count x the drug's DDD, WHO ATC/DDD methodology); a total over several
    drugs, or a new drug, is entered drug by drug on trialdesk's dosing form."""
    participant = writer.participant(group.subject)
    rows = writer.session.scalars(
        select(OgldDose)
        .join(Visit, Visit.id == OgldDose.visit_id)
        .where(
            OgldDose.participant_id == participant.id,
            OgldDose.voided.is_(False),
            Visit.code == writer.visit_code(group),
        )
    ).all()
    ddd = _number(group.value("ogld_ddd"))
    if len(rows) != 1 or ddd is None:
        raise WriteRefused(
            "ogld_ddd",
            "oral glucose-lowering drugs are entered one by one, by drug and daily dose, on "
            "trialdesk's dosing form (this total can be changed only when one drug makes it up)",
        )
    row = rows[0]
    sv.update_ogld_dose(
        writer.session,
        writer.actor,
        row.id,
        sv.OgldDoseChanges(
            expected_version=row.version, reason=IMPORT_REASON, daily_dose_mg=ddd * row.ddd_mg
        ),
    )


_TRANSPLANT_FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "tx_date": ("performed_on", lambda v: v),
    "tx_product": ("product", str),
    "tx_lot": ("lot_number", str),
    "tx_cell_source": ("cell_source", str),
    "tx_dose_per_kg": ("dose_cells_per_kg", lambda v: float(v) * MILLION),
    "tx_route": ("route", str),
    "tx_operator": ("operator", str),
}
"""Transplantation form items → `update_transplantation` fields (cells from 10^6 cells)."""


def _transplantation(writer: Writer, group: FormChanges) -> None:
    _only_values(group)
    row_id = writer.row_of(group, "transplantations")
    row = writer.session.get(Transplantation, row_id) if row_id else None
    if row is None:
        raise WriteRefused(
            next(iter(group.changes)),
            "a transplantation is recorded on its form in trialdesk (product and lot checks)",
        )
    fields: dict[str, Any] = {}
    for name, change in group.changes.items():
        if name == "tx_pregnancy_test":
            _measurement(writer, group, change, "pregnancy_test")
        elif name == "tx_total_cells":
            # total = dose x weight: a new total is a new weight at the same dose per kg
            dose, total = _number(group.value("tx_dose_per_kg")), _number(change.value)
            if not dose or total is None:
                raise WriteRefused(name, "needs a dose per kg to be calculated from")
            fields["weight_kg"] = total / dose
        elif name in _TRANSPLANT_FIELDS and change.value is not None:
            target, convert = _TRANSPLANT_FIELDS[name]
            fields[target] = convert(change.value)
    if fields:
        sv.update_transplantation(
            writer.session,
            writer.actor,
            row.id,
            expected_version=row.version,
            reason=IMPORT_REASON,
            **fields,
        )


def _adverse_event(writer: Writer, group: FormChanges) -> None:
    """One AE instance: the stored event corrected, or a new one reported."""
    _only_values(group)
    fields = _ae_fields(group)
    row_id = writer.row_of(group, "adverse_events")
    row = writer.session.get(AdverseEvent, row_id) if row_id else None
    if row is None:
        for name in ("ae_term", "ae_onset", "ae_grade"):
            if group.value(name) is None:
                raise WriteRefused(name, "a new adverse event needs its term, onset and grade")
        sv.report_adverse_event(
            writer.session,
            writer.actor,
            writer.participant(group.subject).id,
            sv.AdverseEventReport(
                term=str(group.value("ae_term")),
                onset_date=fields.pop("onset_date", _date(group, "ae_onset")),
                grade=int(str(group.value("ae_grade"))),
                relatedness=fields.pop("relatedness", "possible"),
                action_taken=fields.pop("action_taken", "not applicable"),
                outcome=fields.pop("outcome", "unknown"),
                **{k: v for k, v in fields.items() if k in ("seriousness", "resolution_date")},
            ),
        )
        return
    sv.update_adverse_event(
        writer.session,
        writer.actor,
        row.id,
        expected_version=row.version,
        reason=IMPORT_REASON,
        changes=sv.AdverseEventChanges(**fields),
    )


_AE_FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "ae_term": ("term", str),
    "ae_onset": ("onset_date", lambda v: v),
    "ae_resolved": ("resolution_date", lambda v: v),
    "ae_grade": ("grade", lambda v: int(str(v))),
    "ae_related": ("relatedness", str),
    "ae_outcome": ("outcome", lambda v: AE_OUTCOMES.get(str(v), "unknown")),
    "ae_action": ("action_taken", lambda v: str(v).replace("_", " ")),
    "ae_seriousness": ("seriousness", lambda v: list(v) if isinstance(v, tuple) else []),
}
"""AE form items → `update_adverse_event` fields (codes as `to_store` converts them)."""


def _ae_fields(group: FormChanges) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, change in group.changes.items():
        if name == "ae_serious":
            if bool(change.value) != bool(group.value("ae_seriousness")):
                raise WriteRefused(
                    name, "follows the seriousness criteria: give them in ae_seriousness"
                )
            continue
        target, convert = _AE_FIELDS[name]
        if change.value is None and name != "ae_seriousness":
            continue
        fields[target] = convert(change.value)
    return fields


_HANDLERS: dict[str, Callable[[Writer, FormChanges], None]] = {
    "unscheduled_visit": _unscheduled_visit,
    "itt": _itt,
    "dosing": _dosing,
    "transplantation": _transplantation,
    "adverse_events": _adverse_event,
}
"""The forms written as one record each; the others value by value."""

_SERVICE_FIELDS: dict[str, dict[str, str]] = {
    "adverse_events": {target: item for item, (target, _) in _AE_FIELDS.items()},
    "transplantation": {
        **{target: item for item, (target, _) in _TRANSPLANT_FIELDS.items()},
        "weight_kg": "tx_total_cells",
    },
    "consent": {"consented_on": "consent_date", "form_version": "consent_version"},
    "dosing": {
        "start_date": "dosing_date",
        "total_units_per_day": "insulin_daily_dose",
        "daily_dose_mg": "ogld_ddd",
    },
    "itt": {"performed_on": "itt_date"},
    "unscheduled_visit": {"visit_date": "uv_date", "unscheduled_reason": "uv_reason"},
    "vital_signs": {"collected_on": "vs_date"},
    "labs": {"collected_on": "lb_date"},
    "safety_labs": {"collected_on": "slb_date"},
}
"""A service's field names (its parameters) → the form's REDCap field, to name in a refusal."""


def field_named(group: FormChanges, service_field: str | None) -> str:
    """The REDCap field a service's refusal is about: the field it names on this form, else
    the form's first changed field."""
    if service_field in group.changes:
        return str(service_field)
    mapped = _SERVICE_FIELDS.get(group.form, {}).get(service_field or "")
    return mapped or next(iter(group.changes))

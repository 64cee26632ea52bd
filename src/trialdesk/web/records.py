"""Declarative forms for the clinical records entered field by field (dosing, transplantation,
adverse events, visits): which fields, how each is typed in, and which service creates,
lists and corrects the record. One generic page renders and parses them all."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, time
from enum import Enum
from typing import Any

from sqlalchemy.orm import Session

from trialdesk.catalogue import ElementKind
from trialdesk.derive.dosing import WHO_DDD_MG
from trialdesk.services import (
    AdverseEventChanges,
    AdverseEventReport,
    InsulinDoseChanges,
    InsulinDoseEntry,
    OgldDoseChanges,
    OgldDoseEntry,
    TransplantationEntry,
    VisitChanges,
    list_insulin_doses,
    list_ogld_doses,
    list_transplantations,
    list_visits,
    record_insulin_dose,
    record_ogld_dose,
    record_transplantation,
    report_adverse_event,
    update_adverse_event,
    update_consent,
    update_insulin_dose,
    update_ogld_dose,
    update_screening,
    update_transplantation,
    update_visit,
)
from trialdesk.services.actor import Actor
from trialdesk.services.screening import SOURCED
from trialdesk.services.study import current_catalogue, current_protocol
from trialdesk.store.enums import AeAction, AeOutcome, CellSource, Relatedness, Route
from trialdesk.units.convert import convert, quantity
from trialdesk.web.forms import FormInput


@dataclass(frozen=True)
class Field:
    """One input. kind: text | textarea | number | date | time | select | yesno | checks."""

    name: str
    label: str
    kind: str = "text"
    options: tuple[tuple[str, str], ...] = ()
    required: bool = False
    hint: str = ""
    on_create: bool = True  # offered when the record is first entered
    on_edit: bool = True  # offered when it is corrected
    integer: bool = False  # a select whose values are whole numbers (e.g. the CTCAE grade)
    units: tuple[str, ...] = ()  # a number entered in any of these; stored in the first


@dataclass(frozen=True)
class RecordKind:
    table: str
    title: str  # "Insulin dose"
    fields: tuple[Field, ...]
    lister: Callable[[Session, Actor, int], list[Any]] | None = None
    creator: Callable[..., Any] | None = None  # fn(session, actor, participant_id, **values)
    updater: Callable[..., Any] | None = None  # fn(session, actor, id, expected_version, reason, …)
    visit_linked: bool = False  # the creator takes visit_code
    # The record's values by field name, when they are not attributes of its view (a
    # screening's findings are one JSON document).
    values_of: Callable[[Any], Mapping[str, Any]] | None = None

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


def _enum_options(enum: type[Enum]) -> tuple[tuple[str, str], ...]:
    return tuple((str(m.value), str(m.value).replace("_", " ")) for m in enum)


# CTCAE v5.0 general grade definitions (NCI, 27 Nov 2017, "Grades").
CTCAE_GRADES: tuple[tuple[str, str], ...] = (
    ("1", "1 — Mild; asymptomatic or mild symptoms; intervention not indicated"),
    ("2", "2 — Moderate; minimal, local or non-invasive intervention indicated"),
    ("3", "3 — Severe or medically significant but not immediately life-threatening"),
    ("4", "4 — Life-threatening consequences; urgent intervention indicated"),
    ("5", "5 — Death related to the adverse event"),
)

# ICH E2A (CPMP/ICH/377/95, II.B): the six seriousness criteria, as the services name them.
SERIOUSNESS: tuple[tuple[str, str], ...] = (
    ("results_in_death", "Results in death"),
    ("life_threatening", "Is life-threatening"),
    ("hospitalisation", "Requires or prolongs inpatient hospitalisation"),
    ("disability", "Results in persistent or significant disability/incapacity"),
    ("congenital_anomaly", "Is a congenital anomaly/birth defect"),
    ("important_medical_event", "Is another important medical event"),
)


def _report_adverse_event(session: Session, actor: Actor, pid: int, **values: Any) -> Any:
    return report_adverse_event(session, actor, pid, AdverseEventReport(**values))


def _update_adverse_event(
    session: Session, actor: Actor, rid: int, *, expected_version: int, reason: str, **changes: Any
) -> Any:
    return update_adverse_event(
        session,
        actor,
        rid,
        expected_version=expected_version,
        reason=reason,
        changes=AdverseEventChanges(**changes),
    )


def _entered(service: Callable[..., Any], form: type[Any]) -> Callable[..., Any]:
    """`service(session, actor, participant_id, form(**values))`: a form's values as its entry."""

    def create(session: Session, actor: Actor, pid: int, **values: Any) -> Any:
        return service(session, actor, pid, form(**values))

    return create


def _corrected(service: Callable[..., Any], form: type[Any]) -> Callable[..., Any]:
    """`service(session, actor, id, form(expected_version=…, reason=…, **changes))`."""

    def correct(session: Session, actor: Actor, rid: int, **changes: Any) -> Any:
        return service(session, actor, rid, form(**changes))

    return correct


ADVERSE_EVENT = RecordKind(
    "adverse_events",
    "Adverse event",
    (
        Field("term", "Adverse event term", required=True, hint="e.g. Hypoglycaemia (MedDRA LLT)"),
        Field("onset_date", "Onset date", "date", required=True),
        Field("resolution_date", "Resolution date", "date", hint="Blank while ongoing"),
        Field(
            "grade",
            "Severity: CTCAE v5.0 grade",
            "select",
            CTCAE_GRADES,
            required=True,
            integer=True,
        ),
        Field(
            "seriousness",
            "Seriousness (ICH E2A): tick every criterion met; none ticked = not serious",
            "checks",
            SERIOUSNESS,
        ),
        Field(
            "relatedness",
            "Relationship to the cell product",
            "select",
            _enum_options(Relatedness),
            required=True,
        ),
        Field("expected", "Expected (listed in the investigator's brochure)?", "yesno"),
        Field(
            "action_taken",
            "Action taken with the study treatment",
            "select",
            _enum_options(AeAction),
            required=True,
        ),
        Field("outcome", "Outcome", "select", _enum_options(AeOutcome), required=True),
        Field(
            "awareness_date",
            "Date the site became aware",
            "date",
            hint="A serious event is reported to the sponsor within 24 hours of it; default: today",
        ),
        Field(
            "aware_time",
            "Time the site became aware (site time)",
            "time",
            hint="Blank: now if today, else the start of that day",
        ),
        Field(
            "expedited_reported_on",
            "SUSAR: sponsor's expedited report sent to the regulator on",
            "date",
            on_create=False,
        ),
    ),
    creator=_report_adverse_event,
    updater=_update_adverse_event,
)

INSULIN_DOSE = RecordKind(
    "insulin_doses",
    "Insulin dose",
    (
        Field("start_date", "In force from", "date", required=True),
        Field("total_units_per_day", "Total daily insulin (U/day)", "number", required=True),
        Field("basal_units_per_day", "of which basal (U/day)", "number"),
        Field("bolus_units_per_day", "of which bolus (U/day)", "number"),
        Field("regimen", "Regimen", hint="e.g. glargine + aspart with meals"),
    ),
    lister=lambda s, a, pid: list_insulin_doses(s, a, pid),
    creator=_entered(record_insulin_dose, InsulinDoseEntry),
    updater=_corrected(update_insulin_dose, InsulinDoseChanges),
    visit_linked=True,
)

OGLD_DOSE = RecordKind(
    "ogld_doses",
    "Oral glucose-lowering drug",
    (
        Field("start_date", "In force from", "date", required=True),
        Field(
            "drug",
            "Drug (INN)",
            "select",
            tuple((d, f"{d} (WHO DDD {ddd:g} mg)") for d, ddd in WHO_DDD_MG.items()),
            required=True,
            on_edit=False,
        ),
        Field("daily_dose_mg", "Daily dose (mg/day)", "number", required=True),
    ),
    lister=lambda s, a, pid: list_ogld_doses(s, a, pid),
    creator=_entered(record_ogld_dose, OgldDoseEntry),
    updater=_corrected(update_ogld_dose, OgldDoseChanges),
    visit_linked=True,
)

TRANSPLANTATION = RecordKind(
    "transplantations",
    "Cell transplantation",
    (
        Field("performed_on", "Date of infusion", "date", required=True),
        Field("product", "Product", required=True, hint="e.g. umbilical cord MSC"),
        Field("lot_number", "Lot number", required=True),
        Field("cell_source", "Cell source", "select", _enum_options(CellSource), required=True),
        Field(
            "dose_cells_per_kg",
            "Dose (cells/kg)",
            "number",
            required=True,
            hint="Protocol: 1.0x10^6 cells/kg; write e.g. 1.0x10^6, 1e6 or 1,000,000",
        ),
        Field("weight_kg", "Body weight on the day", "number", units=("kg", "lb")),
        Field("route", "Route", "select", _enum_options(Route), required=True),
        Field("operator", "Operator", required=True),
        Field("notes", "Notes", "textarea"),
    ),
    lister=lambda s, a, pid: list_transplantations(s, a, pid),
    creator=_entered(record_transplantation, TransplantationEntry),
    updater=update_transplantation,
    visit_linked=True,
)

VISIT = RecordKind(
    "visits",
    "Visit",
    (Field("visit_date", "Visit date", "date", required=True), Field("notes", "Notes", "textarea")),
    lister=lambda s, a, pid: list_visits(s, a, pid),
    updater=_corrected(update_visit, VisitChanges),
)

CONSENT = RecordKind(
    "consents",
    "Informed consent",
    (
        Field("form_version", "Consent form version", required=True),
        Field(
            "consented_on",
            "Date signed",
            "date",
            required=True,
            hint="Must precede every trial procedure (ICH E6(R2) 4.8.8)",
        ),
    ),
    updater=update_consent,  # recorded and withdrawn on the casebook page
)


def _finding_fields() -> tuple[Field, ...]:
    """The yes/no, category and date answers of the screening visit (what a screening's
    findings hold; measurements and the ITT are corrected on their own pages)."""
    catalogue = current_catalogue()
    protocol = current_protocol()
    plan = next(v for v in protocol.schedule if v.code == "SCR")
    judged = [n for c in protocol.criteria for n in c.expr.elements()]
    fields = []
    for name in dict.fromkeys([*plan.assessments, *judged]):
        if name not in catalogue or name in SOURCED or catalogue[name].is_derived:
            continue
        element = catalogue[name]
        if element.kind is ElementKind.BOOLEAN:
            fields.append(Field(name, element.label, "yesno"))
        elif element.kind is ElementKind.CATEGORY:
            choices = tuple((c, c.replace("_", " ").capitalize()) for c in element.choices)
            fields.append(Field(name, element.label, "select", choices))
        elif element.kind is ElementKind.DATE:
            fields.append(Field(name, element.label, "date"))
    return tuple(fields)


def _correct_screening(
    session: Session, actor: Actor, rid: int, *, expected_version: int, reason: str, **changes: Any
) -> Any:
    return update_screening(
        session, actor, rid, expected_version=expected_version, reason=reason, findings=changes
    )


SCREENING = RecordKind(
    "screenings",
    "Screening",
    _finding_fields(),
    updater=_correct_screening,  # a new screening is entered on the screening page
    values_of=lambda view: view.findings,
)


def prefixed(kind: RecordKind, prefix: str, without: tuple[str, ...] = ()) -> RecordKind:
    """A record form as a block of the visit page: its inputs named `prefix` + field, so that
    they cannot collide with another block's; the fields in `without` are taken elsewhere on
    the page."""
    fields = tuple(
        replace(f, name=prefix + f.name)
        for f in kind.fields
        if f.on_create and f.name not in without
    )
    return replace(kind, fields=fields)


#: The transplantation and a new adverse event as blocks of the visit page's one Save.
TX_PREFIX, AE_PREFIX = "tx_", "ae_"
#: The body weight of the transplantation day is weighed once, with the vital signs of the
#: same visit: the block shows it read-only and the dose uses it (services.transplantation).
TX_BLOCK = prefixed(TRANSPLANTATION, TX_PREFIX, without=("weight_kg",))
AE_BLOCK = prefixed(ADVERSE_EVENT, AE_PREFIX)

KINDS: dict[str, RecordKind] = {
    k.table: k
    for k in (ADVERSE_EVENT, INSULIN_DOSE, OGLD_DOSE, TRANSPLANTATION, VISIT, CONSENT, SCREENING)
}

# Fields a query may be raised on, per table (column name → label), for records without a kind.
QUERY_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "measurements": (("value", "Value"), ("collected_on", "Collection date")),
    "itt_tests": (
        ("performed_on", "Date of the test"),
        ("glucose_unit_as_entered", "Glucose unit"),
        ("insulin_dose_u_per_kg", "Insulin bolus (U/kg)"),
    ),
    "consents": (("form_version", "Form version"), ("consented_on", "Date signed")),
    "enrollments": (("enrolled_on", "Date of enrollment"),),
    "participants": (("sex", "Sex"), ("registered_on", "Registration date")),
    "screenings": (
        ("screened_on", "Screening date"),
        ("findings", "Findings"),
        ("status", "Verdict"),
    ),
}


def query_fields(table: str) -> tuple[tuple[str, str], ...]:
    if table in QUERY_FIELDS:
        return QUERY_FIELDS[table]
    kind = KINDS.get(table)
    if kind is None:
        return ()
    names = [(f.name, f.label) for f in kind.fields if f.kind != "checks"]
    if table == "adverse_events":  # seriousness is stored one column per criterion
        names += list(SERIOUSNESS)
    return tuple(names)


def current_values(kind: RecordKind, view: Any) -> dict[str, str]:
    """A record's values as form strings (what the edit form starts from)."""
    values: dict[str, str] = {}
    for f in kind.fields:
        if f.kind == "checks":
            continue
        values[f.name] = as_text(_value(kind, view, f.name), f.kind)
    return values


def _value(kind: RecordKind, view: Any, name: str) -> Any:
    if kind.values_of is not None:
        return kind.values_of(view).get(name)
    return getattr(view, name, None)


def current_checks(kind: RecordKind, view: Any) -> dict[str, list[str]]:
    checks = {}
    for f in kind.fields:
        if f.kind == "checks" and f.name == "seriousness":
            checks[f.name] = [name for name, _ in SERIOUSNESS if getattr(view, name, False)]
    return checks


_TEXT_OF: tuple[tuple[type, Callable[[Any], str]], ...] = (
    (Enum, lambda value: str(value.value)),
    (bool, lambda value: "yes" if value else "no"),
    (date, lambda value: str(value.isoformat())),
    (time, lambda value: str(value.strftime("%H:%M"))),
)
"""How a stored value of each type is shown in a form field (checked in this order)."""


def as_text(value: Any, kind: str = "text") -> str:
    if value is None:
        return ""
    for type_, text_of in _TEXT_OF:
        if isinstance(value, type_):
            return text_of(value)
    if isinstance(value, float):
        return f"{value:.6g}" if kind == "number" else f"{value:g}"
    return str(value)


def parse(kind: RecordKind, form: FormInput, *, editing: bool) -> dict[str, Any]:
    """Typed values of the kind's fields (errors land in `form.errors`)."""
    values: dict[str, Any] = {}
    for f in kind.fields:
        if (editing and not f.on_edit) or (not editing and not f.on_create):
            continue
        values[f.name] = _parse_field(f, form)
    return values


def _parse_field(f: Field, form: FormInput) -> Any:
    parser = _PARSERS.get(f.kind)
    if parser is not None:
        return parser(f, form)
    return form.text(f.name, required=f.required, max_length=200)


def _date(f: Field, form: FormInput) -> date | None:
    return form.date(f.name, required=f.required)


def _number(f: Field, form: FormInput) -> float | None:
    """A number, converted to its stored unit when the field offers several units."""
    if f.units:
        return _in_stored_unit(f, form)
    return form.number(f.name, required=f.required)


def _select(f: Field, form: FormInput) -> Any:
    options: dict[str, Any] = {v: int(v) if f.integer else v for v, _ in f.options}
    return form.choice(f.name, options, required=f.required)


def _yes_no(f: Field, form: FormInput) -> bool | None:
    return form.yes_no(f.name)


def _checks(f: Field, form: FormInput) -> list[str]:
    allowed = {value for value, _ in f.options}
    return [v for v in form.many(f.name) if v in allowed]


def _textarea(f: Field, form: FormInput) -> str | None:
    return form.text(f.name, required=f.required, max_length=4000)


def _time(f: Field, form: FormInput) -> time | None:
    """A time of day typed as HH:MM (the browser's time input)."""
    text = form.text(f.name, required=f.required)
    if text is None:
        return None
    try:
        return time.fromisoformat(text)
    except ValueError:
        form.errors[f.name] = f"{text!r} is not a time of day (HH:MM)"
        return None


def _in_stored_unit(f: Field, form: FormInput) -> float | None:
    """A number typed in any of the field's units, converted to the unit it is stored in
    (e.g. 154 lb → 69.85 kg; `trialdesk.units.convert`)."""
    value = form.number(f.name, required=f.required)
    unit = form.values.get(f"{f.name}_unit") or f.units[0]
    if value is None:
        return None
    if unit not in f.units:
        form.errors[f.name] = f"unit {unit!r} is not one of {', '.join(f.units)}"
        return None
    return float(convert(quantity(value, unit), f.units[0]).magnitude)


_PARSERS: dict[str, Callable[[Field, FormInput], Any]] = {
    "date": _date,
    "time": _time,
    "number": _number,
    "select": _select,
    "yesno": _yes_no,
    "checks": _checks,
    "textarea": _textarea,
}
"""How each field kind's typed text is read; any other kind is one line of text."""


def changed_values(kind: RecordKind, new: Mapping[str, Any], view: Any) -> dict[str, Any]:
    """Only what differs from the stored record (an unchanged field is not re-sent)."""
    changes = {}
    for name, value in new.items():
        f = kind.field(name)
        if f is None:
            continue
        if f.kind == "checks":
            old = current_checks(kind, view).get(name, [])
            if sorted(value) != sorted(old):
                changes[name] = value
        elif as_text(value, f.kind) != as_text(_value(kind, view, name), f.kind):
            changes[name] = value
    return changes

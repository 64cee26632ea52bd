"""Building the CRF design from the protocol, the catalogue and the form layout (layout.yaml).

The protocol's schedule says which forms each visit collects; layout.yaml says which catalogue
elements (and which operational fields) each form holds; the catalogue gives every element's
kind, canonical unit, edit-check limits and codes.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from trialdesk import yamlio
from trialdesk.catalogue import Catalogue, DataElement, ElementKind
from trialdesk.export.crf.model import Choice, Condition, DataType, Event, Form, Item, StudyDesign
from trialdesk.protocol import Protocol, catalogue_for

_KIND_TO_TYPE = {
    ElementKind.QUANTITY: DataType.FLOAT,
    ElementKind.BOOLEAN: DataType.BOOLEAN,
    ElementKind.DATE: DataType.DATE,
    ElementKind.CATEGORY: DataType.CHOICE,
}
_NO_UNIT = {None, "dimensionless"}


class DesignError(ValueError):
    """The layout and the protocol/catalogue do not fit together (names the form and item)."""


@cache
def _default_layout() -> dict[str, Any]:
    text = resources.files("trialdesk.export.crf").joinpath("layout.yaml").read_text("utf-8")
    layout: dict[str, Any] = yamlio.safe_load(text)
    return layout


UNSCHEDULED_EVENT = "UNSCHEDULED"
UNSCHEDULED_FORM = "unscheduled_visit"
#: The forms of an unscheduled visit (its date and reason, then what it may collect).
UNSCHEDULED_FORMS = (UNSCHEDULED_FORM, "vital_signs", "labs", "safety_labs", "itt")


def element_forms(layout: dict[str, Any] | None = None) -> dict[str, str]:
    """The form that records each catalogue element (series included), by the form layout:
    what an export that is not shaped by forms (FHIR Observations) needs to find a value's form
    and so its status."""
    spec = layout if layout is not None else _default_layout()
    forms: dict[str, str] = {}
    for form in spec["forms"]:
        for entry in form["items"]:
            name = entry.get("element") or entry.get("series")
            if name is not None:
                forms.setdefault(name, form["name"])
    return forms


def design_from_protocol(protocol: Protocol, layout: dict[str, Any] | None = None) -> StudyDesign:
    """The CRF design of `protocol`: one event per scheduled visit, the forms it names, and a
    repeating event for unscheduled visits (CDISC ODM StudyEventDef Type="Unscheduled")."""
    catalogue = catalogue_for(protocol)
    spec = layout if layout is not None else _default_layout()
    used = {name for visit in protocol.schedule for name in visit.forms}
    laid_out = {f["name"] for f in spec["forms"]}
    used |= {f for f in UNSCHEDULED_FORMS if f in laid_out}
    forms = tuple(_form(f, catalogue) for f in spec["forms"] if f["name"] in used)
    known = {f.name for f in forms}
    missing = sorted(used - known)
    if missing:
        raise DesignError(f"the schedule names form(s) with no layout: {', '.join(missing)}")
    events = tuple(
        Event(
            code=v.code,
            name=v.name,
            day=v.day,
            window_before=v.window_before,
            window_after=v.window_after,
            forms=tuple(v.forms),
        )
        for v in protocol.schedule
    )
    if UNSCHEDULED_FORM in known:
        events += (
            Event(
                code=UNSCHEDULED_EVENT,
                name="Unscheduled visit",
                day=0,
                window_before=0,
                window_after=0,
                forms=tuple(f for f in UNSCHEDULED_FORMS if f in known),
                repeating=True,
            ),
        )
    return StudyDesign(study_id=protocol.id, title=protocol.title, forms=forms, events=events)


def _form(spec: dict[str, Any], catalogue: Catalogue) -> Form:
    items: list[Item] = []
    for entry in spec["items"]:
        try:
            if "series" in entry:
                items.extend(_series_items(catalogue[entry["series"]], entry))
            elif "element" in entry:
                items.append(_element_item(catalogue[entry["element"]], entry))
            else:
                items.append(_operational_item(entry))
        except (KeyError, ValueError) as exc:
            raise DesignError(f"form {spec['name']}: {exc}") from None
    return Form(
        name=spec["name"],
        label=spec.get("label", spec["name"]),
        repeating=bool(spec.get("repeating", False)),
        items=tuple(items),
    )


def _element_item(element: DataElement, entry: dict[str, Any]) -> Item:
    data_type = DataType(entry["type"]) if "type" in entry else _KIND_TO_TYPE[element.kind]
    labels: dict[str, str] = entry.get("choice_labels", {})
    limits = element.limits
    return Item(
        name=entry.get("name", element.name),
        label=entry.get("label", element.label),
        data_type=data_type,
        unit=None if element.canonical_unit in _NO_UNIT else element.canonical_unit,
        choices=tuple(Choice(code=c, label=labels.get(c, _humanise(c))) for c in element.choices),
        hard_low=limits.hard_low,
        hard_high=limits.hard_high,
        soft_low=limits.soft_low,
        soft_high=limits.soft_high,
        element=element.name,
        derivation=element.derivation,
        loinc=element.codes.loinc,
        decimals=element.reported_decimals,
        required=bool(entry.get("required", False)),
        identifier=bool(entry.get("identifier", False)),
        show_if=_condition(entry),
    )


def _condition(entry: dict[str, Any]) -> Condition | None:
    spec = entry.get("show_if")
    if spec is None:
        return None
    value = spec["equals"]
    return Condition(item=spec["item"], value="1" if value is True else str(value))


def _series_items(element: DataElement, entry: dict[str, Any]) -> list[Item]:
    """One item per sample time of a timed series, e.g. ITT glucose at 0, 3, … 15 min."""
    limits = element.limits
    label = entry.get("label", element.label + " at {minute} min")
    return [
        Item(
            name=f"{element.name}_t{_minute_text(m)}",
            label=label.format(minute=_minute_text(m)),
            data_type=DataType.FLOAT,
            unit=element.canonical_unit,
            hard_low=limits.hard_low,
            hard_high=limits.hard_high,
            soft_low=limits.soft_low,
            soft_high=limits.soft_high,
            element=element.name,
            sample_minute=float(m),
            loinc=element.codes.loinc,
            decimals=element.reported_decimals,
        )
        for m in entry["minutes"]
    ]


def _operational_item(entry: dict[str, Any]) -> Item:
    choices = entry.get("choices", {})
    return Item(
        name=entry["name"],
        label=entry["label"],
        data_type=DataType(entry["type"]),
        unit=entry.get("unit"),
        choices=tuple(Choice(code=str(k), label=str(v)) for k, v in choices.items()),
        hard_low=entry.get("hard_low"),
        hard_high=entry.get("hard_high"),
        required=bool(entry.get("required", False)),
        show_if=_condition(entry),
    )


def _minute_text(minute: float) -> str:
    return str(int(minute)) if float(minute).is_integer() else str(minute).replace(".", "_")


def _humanise(code: str) -> str:
    return code.replace("_", " ").capitalize()


def uncovered_assessments(protocol: Protocol, design: StudyDesign) -> list[str]:
    """Visit assessments that no item on that visit's forms records (should be empty)."""
    problems = []
    for visit in protocol.schedule:
        recorded = {item.element for name in visit.forms for item in design.form(name).items}
        problems += [
            f"visit {visit.code}: assessment {a!r} is on none of its forms "
            f"({', '.join(visit.forms)})"
            for a in visit.assessments
            if a not in recorded
        ]
    return problems

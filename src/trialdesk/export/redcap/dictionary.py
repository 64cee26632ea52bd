"""Writing a REDCap project: data dictionary, events, instrument–event mapping, repeating forms.

One REDCap project per protocol, longitudinal with one arm: an event per scheduled visit named
`<visit>_arm_1` (day offset = the visit day, offsets = its window), the visit's forms mapped to it,
the adverse-event log a repeating instrument. Item values are recorded in the catalogue's
canonical unit (given in the field note); hard limits become the validation min/max (REDCap
warns on them), soft limits are written in the note ("query below/above").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from trialdesk.catalogue.missing import redcap_choices
from trialdesk.export.crf.model import DataType, Form, Item, StudyDesign
from trialdesk.export.redcap import calc
from trialdesk.export.redcap.columns import (
    ARM,
    DICTIONARY_HEADER,
    EVENTS_HEADER,
    INSTRUMENTS_HEADER,
    MAPPING_HEADER,
    RECORD_ID,
    REPEATING_HEADER,
    unique_event_name,
)
from trialdesk.export.values import format_number

_VALIDATION = {
    DataType.INTEGER: "integer",
    DataType.FLOAT: "number",
    DataType.DATE: "date_ymd",
    DataType.DATETIME: "datetime_ymd",
}
_FIELD_TYPE = {
    DataType.BOOLEAN: "yesno",
    DataType.CHOICE: "radio",
    DataType.MULTICHOICE: "checkbox",
}


@dataclass(frozen=True)
class RedcapProject:
    """The CSV files REDCap takes to set up the project (Project Setup → Data Dictionary,
    Define My Events, Designate Instruments, Repeating Instruments), and the text of the project
    setting "Missing Data Codes" (Additional customizations: one ``CODE, Label`` a line), so that
    REDCap accepts the codes the records carry for values recorded as missing."""

    dictionary: str
    instruments: str
    events: str
    mapping: str
    repeating: str
    missing_codes: str = field(default_factory=redcap_choices)

    def write(self, directory: Path, stem: str) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for suffix, text in (
            ("DataDictionary", self.dictionary),
            ("Instruments", self.instruments),
            ("Events", self.events),
            ("InstrumentDesignations", self.mapping),
            ("RepeatingInstruments", self.repeating),
        ):
            path = directory / f"{stem}_{suffix}.csv"
            path.write_text(text, encoding="utf-8")
            paths.append(path)
        path = directory / f"{stem}_MissingDataCodes.txt"
        path.write_text(self.missing_codes + "\n", encoding="utf-8")
        return [*paths, path]


def redcap_project(design: StudyDesign) -> RedcapProject:
    return RedcapProject(
        dictionary=_csv(DICTIONARY_HEADER, dictionary_rows(design)),
        instruments=_csv(INSTRUMENTS_HEADER, [[f.name, f.label] for f in design.forms]),
        events=_csv(EVENTS_HEADER, _event_rows(design)),
        mapping=_csv(MAPPING_HEADER, _mapping_rows(design)),
        repeating=_csv(REPEATING_HEADER, _repeating_rows(design)),
    )


def dictionary_rows(design: StudyDesign) -> list[list[str]]:
    """The data dictionary, 18 columns a row; the record id leads the first form."""
    first = design.forms[0].name
    rows = [_row(RECORD_ID, first, "text", "Study subject ID")]
    for form in design.forms:
        rows += [_item_row(design, form, item) for item in form.items]
    return rows


def _row(name: str, form: str, field_type: str, label: str, **columns: str) -> list[str]:
    values = dict.fromkeys(DICTIONARY_HEADER, "")
    values.update(
        {
            "Variable / Field Name": name,
            "Form Name": form,
            "Field Type": field_type,
            "Field Label": label,
        }
    )
    for key, value in columns.items():
        values[key] = value
    return [values[h] for h in DICTIONARY_HEADER]


def _item_row(design: StudyDesign, form: Form, item: Item) -> list[str]:
    field_type = _FIELD_TYPE.get(item.data_type, "text")
    choices = " | ".join(f"{c.code}, {c.label}" for c in item.choices)
    validation = _VALIDATION.get(item.data_type, "")
    formula = None
    if item.derivation:
        formula = calc.render(item.derivation, lambda f: _reference(design, form, f))
    if formula:
        field_type, choices, validation = "calc", formula, ""
    numeric_limits = item.is_numeric and not formula
    return _row(
        item.name,
        form.name,
        field_type,
        item.label,
        **{
            "Choices, Calculations, OR Slider Labels": choices,
            "Field Note": field_note(item),
            "Text Validation Type OR Show Slider Number": validation,
            "Text Validation Min": _num(item.hard_low) if numeric_limits else "",
            "Text Validation Max": _num(item.hard_high) if numeric_limits else "",
            "Identifier?": "y" if item.identifier else "",
            "Branching Logic (Show field only if...)": _branching(design, form, item),
            "Required Field?": "y" if item.required else "",
            "Field Annotation": annotation(
                item, readonly=bool(item.derivation and not formula), calc=bool(formula)
            ),
        },
    )


def _num(value: float | None) -> str:
    return "" if value is None else format_number(value)


def field_note(item: Item) -> str:
    """Unit and soft limits, e.g. "Unit: mmol/L; query below 2.8; query above 33.3"."""
    parts = []
    if item.unit:
        parts.append(f"Unit: {item.unit}")
    if item.soft_low is not None:
        parts.append(f"query below {format_number(item.soft_low)}")
    if item.soft_high is not None:
        parts.append(f"query above {format_number(item.soft_high)}")
    if item.note:
        parts.append(item.note)
    return "; ".join(parts)


def annotation(item: Item, *, readonly: bool, calc: bool = False) -> str:
    """Action tags, then trialdesk's links to the catalogue ("trialdesk: element=…; loinc=…").
    A calc field is a number to REDCap; `type=integer` keeps a whole-number derivation whole."""
    tags = ["@READONLY"] if readonly else []
    whole = calc and item.data_type is DataType.INTEGER
    links = [
        f"{key}={value}"
        for key, value in (
            ("type", "integer" if whole else None),
            ("element", item.element),
            ("minute", None if item.sample_minute is None else format_number(item.sample_minute)),
            ("derivation", item.derivation),
            ("loinc", item.loinc),
        )
        if value is not None
    ]
    if links:
        tags.append("trialdesk: " + "; ".join(links))
    return " ".join(tags)


def _reference(design: StudyDesign, form: Form, field: str) -> str:
    """`[field]`, or `[event][field]` when the field's form is missing from some event that
    holds `form` (then the first event that collects it is meant, e.g. height at screening)."""
    other = design.form_of(field)
    if other.name == form.name:
        return f"[{field}]"
    holding = [e for e in design.events if form.name in e.forms]
    if all(other.name in e.forms for e in holding):
        return f"[{field}]"
    source = next(e for e in design.events if other.name in e.forms)
    return f"[{unique_event_name(source.code)}][{field}]"


def _branching(design: StudyDesign, form: Form, item: Item) -> str:
    if item.show_if is None:
        return ""
    target = design.item(item.show_if.item)
    reference = _reference(design, form, target.name)
    if target.data_type is DataType.MULTICHOICE:
        reference = reference[:-1] + f"({item.show_if.value})]"
        return f"{reference} = '1'"
    return f"{reference} = '{item.show_if.value}'"


def _event_rows(design: StudyDesign) -> list[list[str]]:
    return [
        [
            e.code,
            str(ARM),
            str(e.day),
            str(e.window_before),
            str(e.window_after),
            unique_event_name(e.code),
            e.name,
        ]
        for e in design.events
    ]


def _mapping_rows(design: StudyDesign) -> list[list[str]]:
    return [[str(ARM), unique_event_name(e.code), f] for e in design.events for f in e.forms]


def _repeating_rows(design: StudyDesign) -> list[list[str]]:
    """Repeating instruments, and repeating events (REDCap: a blank form name repeats the whole
    event, as the unscheduled visit does)."""
    repeating = {f.name: f for f in design.forms if f.repeating}
    rows = [
        [unique_event_name(e.code), name, f"[{repeating[name].items[0].name}]"]
        for e in design.events
        if not e.repeating
        for name in e.forms
        if name in repeating
    ]
    return rows + [[unique_event_name(e.code), "", ""] for e in design.events if e.repeating]


def _csv(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()

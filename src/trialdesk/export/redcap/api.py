"""What the REDCap-compatible API answers, built from the same pieces as the file export
(`dictionary.py`, `records.py`, `columns.py`), so that the API and `trialdesk export redcap` agree.

Shapes follow REDCap's API documentation ([@REDCap] API help: Export Metadata, Export Events,
Export Arms, Export Instrument-Event Mappings, Export Instruments, Export Project Info, Export
List of Export Field Names, Export/Import Records) and PyCap, REDCap's Python client
([@PyCap]): JSON arrays of objects (strings, except the numbers REDCap sends as numbers), or the
same as CSV with a header row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from trialdesk.export.crf.model import DataType, StudyDesign
from trialdesk.export.redcap.columns import (
    API_KEYS,
    ARM,
    RECORD_ID,
    checkbox_column,
    unique_event_name,
)
from trialdesk.export.redcap.dictionary import _repeating_rows, dictionary_rows
from trialdesk.export.redcap.records import EVENT, record_columns
from trialdesk.protocol import Protocol

#: The REDCap version whose API this endpoint follows (answered to `content=version`; PyCap
#: reads it as a semantic version).
REDCAP_API_VERSION = "14.5.0"


def metadata(design: StudyDesign) -> list[dict[str, str]]:
    """Export Metadata: one object per field with REDCap's 18 `metadata` keys."""
    return [dict(zip(API_KEYS, row, strict=True)) for row in dictionary_rows(design)]


def events(design: StudyDesign) -> list[dict[str, Any]]:
    """Export Events: name, arm, day offset and window, unique event name."""
    return [
        {
            "event_name": e.code,
            "arm_num": ARM,
            "unique_event_name": unique_event_name(e.code),
            "custom_event_label": e.name,
            "day_offset": e.day,
            "offset_min": e.window_before,
            "offset_max": e.window_after,
        }
        for e in design.events
    ]


def arms(protocol: Protocol) -> list[dict[str, Any]]:
    """Export Arms: the protocol's single arm is REDCap's arm 1."""
    return [{"arm_num": ARM, "name": protocol.design.arms[0].name}]


def form_event_mapping(design: StudyDesign) -> list[dict[str, Any]]:
    """Export Instrument-Event Mappings: arm, unique event name, form."""
    return [
        {"arm_num": ARM, "unique_event_name": unique_event_name(e.code), "form": form}
        for e in design.events
        for form in e.forms
    ]


def repeating_forms_events(design: StudyDesign) -> list[dict[str, str]]:
    """Export Repeating Instruments and Events: the file export's rows (a blank form name
    repeats the whole event, as the unscheduled visit does)."""
    return [
        {"event_name": event, "form_name": form, "custom_form_label": label}
        for event, form, label in _repeating_rows(design)
    ]


def instruments(design: StudyDesign) -> list[dict[str, str]]:
    return [{"instrument_name": f.name, "instrument_label": f.label} for f in design.forms]


def export_field_names(design: StudyDesign) -> list[dict[str, str]]:
    """Export List of Export Field Names: a checkbox gives one `field___code` per choice."""
    out = [{"original_field_name": RECORD_ID, "choice_value": "", "export_field_name": RECORD_ID}]
    for form in design.forms:
        for item in form.items:
            if item.data_type is DataType.MULTICHOICE:
                out += [
                    {
                        "original_field_name": item.name,
                        "choice_value": c.code,
                        "export_field_name": checkbox_column(item.name, c.code),
                    }
                    for c in item.choices
                ]
            else:
                out.append(
                    {
                        "original_field_name": item.name,
                        "choice_value": "",
                        "export_field_name": item.name,
                    }
                )
    return out


def project_info(protocol: Protocol, design: StudyDesign, simulated: str | None) -> dict[str, Any]:
    """Export Project Information: REDCap's keys, filled from the protocol."""
    notes = protocol.title + (f" — SIMULATED DATA: {simulated}" if simulated else "")
    return {
        "project_id": 1,
        "project_title": f"{protocol.id} {protocol.title}",
        "creation_time": "",
        "production_time": "",
        "in_production": 1,
        "project_language": "English",
        "purpose": 2,  # REDCap purpose 2: Research
        "purpose_other": "",
        "project_notes": notes,
        "custom_record_label": "",
        "secondary_unique_field": "",
        "is_longitudinal": 1,
        "has_repeating_instruments_or_events": int(
            any(f.repeating for f in design.forms) or any(e.repeating for e in design.events)
        ),
        "surveys_enabled": 0,
        "scheduling_enabled": 0,
        "record_autonumbering_enabled": 0,
        "randomization_enabled": 0,
        "ddp_enabled": 0,
        "project_irb_number": "",
        "project_grant_number": "",
        "project_pi_firstname": "",
        "project_pi_lastname": "",
        "display_today_now_button": 1,
        "missing_data_codes": "",
        "external_modules": "",
        "bypass_branching_erase_field_prompt": 0,
    }


def records_from_csv(text: str) -> list[dict[str, str]]:
    """The flat CSV export as REDCap's JSON export: one object per row, every column present."""
    return [dict(row) for row in csv.DictReader(io.StringIO(text))]


def select_records(
    design: StudyDesign,
    rows: list[dict[str, str]],
    *,
    records: Sequence[str] = (),
    events: Sequence[str] = (),
    fields: Sequence[str] = (),
    forms: Sequence[str] = (),
) -> tuple[list[str], list[dict[str, str]]]:
    """REDCap's filters of Export Records (`records`, `events`, `fields`, `forms`): the columns
    and rows kept. The record id and the event/repeat columns always stay."""
    columns = record_columns(design)
    if fields or forms:
        wanted = set(_field_columns(design, fields)) | set(_form_columns(design, forms))
        keep = {RECORD_ID, EVENT, "redcap_repeat_instrument", "redcap_repeat_instance"}
        columns = [c for c in columns if c in keep or c in wanted]
    chosen = [
        {c: row.get(c, "") for c in columns}
        for row in rows
        if (not records or row[RECORD_ID] in records) and (not events or row[EVENT] in events)
    ]
    return columns, chosen


def _field_columns(design: StudyDesign, fields: Iterable[str]) -> Iterable[str]:
    completes = {f"{f.name}_complete" for f in design.forms}
    for name in fields:
        if name == RECORD_ID or name in completes:
            yield name
            continue
        item = design.item(name)
        if item.data_type is DataType.MULTICHOICE:
            yield from (checkbox_column(name, c.code) for c in item.choices)
        else:
            yield name


def _form_columns(design: StudyDesign, forms: Iterable[str]) -> Iterable[str]:
    for name in forms:
        form = design.form(name)
        yield from _field_columns(design, (i.name for i in form.items))
        yield f"{form.name}_complete"


def unknown_names(design: StudyDesign, kind: str, names: Iterable[str]) -> list[str]:
    """Names of a filter that the project does not have (REDCap refuses them)."""
    known: set[str]
    if kind == "fields":
        known = {RECORD_ID} | {i.name for f in design.forms for i in f.items}
        known |= {f"{f.name}_complete" for f in design.forms}  # the form status fields
    elif kind == "forms":
        known = {f.name for f in design.forms}
    else:
        known = {unique_event_name(e.code) for e in design.events}
    return [n for n in names if n not in known]


def to_csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), restval="", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()

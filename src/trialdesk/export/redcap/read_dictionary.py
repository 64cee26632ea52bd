"""Importing a REDCap project (data dictionary + optional events, designations, repeating forms)
into a trialdesk CRF design, with a per-row report of everything rejected.

Checks follow what REDCap itself enforces on upload ([@REDCap] dictionary help: unique field names,
contiguous forms, valid field types, choices for radio/dropdown/checkbox, record id first) plus
what trialdesk needs (parsable limits, a unit for quantities linked to catalogue elements).
Fields that cannot carry data (descriptive text) and display-only features trialdesk does not
model (section headers, matrix groups, complex branching logic) are dropped with a warning.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

from trialdesk.catalogue import Catalogue, default_catalogue
from trialdesk.export.crf.link import incompatibility
from trialdesk.export.crf.model import (
    Choice,
    Condition,
    DataType,
    Event,
    Form,
    Item,
    StudyDesign,
)
from trialdesk.export.errors import ImportRejected, Rejection
from trialdesk.export.redcap.columns import (
    API_KEYS,
    DICTIONARY_HEADER,
    EVENTS_HEADER,
    FIELD_TYPES,
    INSTRUMENTS_HEADER,
    MAPPING_HEADER,
    REPEATING_HEADER,
    unique_event_name,
)

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
_VALIDATION_TYPES: dict[str, DataType] = {
    "integer": DataType.INTEGER,
    "number": DataType.FLOAT,
    "date_ymd": DataType.DATE,
    "date_dmy": DataType.DATE,
    "date_mdy": DataType.DATE,
    "datetime_ymd": DataType.DATETIME,
    "datetime_dmy": DataType.DATETIME,
    "datetime_mdy": DataType.DATETIME,
    "datetime_seconds_ymd": DataType.DATETIME,
    "datetime_seconds_dmy": DataType.DATETIME,
    "datetime_seconds_mdy": DataType.DATETIME,
}
_TEXT_VALIDATIONS = {
    "time",
    "time_mm_ss",
    "email",
    "phone",
    "zipcode",
    "alpha_only",
    "ssn",
    "postalcode_canada",
    "postalcode_uk",
    "postalcode_french",
    "mrn_10d",
}
_UNIT = re.compile(r"(?:^|;\s*)Unit:\s*([^;]+)")
_SOFT = re.compile(r"(?:^|;\s*)query (below|above) (-?[0-9.]+)")
_LINKS = re.compile(r"trialdesk:\s*(.*)$")
_SIMPLE_LOGIC = re.compile(
    r"^\s*(?:\[(?P<event>[a-z0-9_]+)\])?\[(?P<field>[a-z][a-z0-9_]*)(?:\((?P<code>[^)]+)\))?\]"
    r"\s*=\s*(?P<q>['\"])(?P<value>[^'\"]*)(?P=q)\s*$"
)


@dataclass
class DictionaryImport:
    """The design built from a REDCap project, and what was dropped on the way."""

    design: StudyDesign
    warnings: list[Rejection] = field(default_factory=list)
    record_id_field: str = "record_id"


@dataclass
class _Reader:
    source: str
    catalogue: Catalogue
    problems: list[Rejection] = field(default_factory=list)
    warnings: list[Rejection] = field(default_factory=list)

    def reject(self, row: int | str, column: str, reason: str) -> None:
        self.problems.append(Rejection(row, column, reason))

    def warn(self, row: int | str, column: str, reason: str) -> None:
        self.warnings.append(Rejection(row, column, reason))


@dataclass(frozen=True)
class RedcapProjectFiles:
    """The CSV texts of a REDCap project as REDCap exports them: the data dictionary, and
    optionally its instruments, events, instrument-event mapping and repeating instruments
    (the REDCap API's `content` metadata, instrument, event, formEventMapping and
    repeatingFormsEvents)."""

    dictionary: str
    instruments: str | None = None
    events: str | None = None
    mapping: str | None = None
    repeating: str | None = None


def read_redcap_project(
    files: RedcapProjectFiles,
    *,
    study_id: str = "REDCAP",
    title: str = "Imported REDCap project",
    catalogue: Catalogue | None = None,
    source: str = "data dictionary",
) -> DictionaryImport:
    """Read the CSV texts of a REDCap project; raise ImportRejected listing every problem."""
    reader = _Reader(source, catalogue or default_catalogue())
    dictionary, instruments, events = files.dictionary, files.instruments, files.events
    mapping, repeating = files.mapping, files.repeating
    rows = _read_csv(reader, dictionary, DICTIONARY_HEADER, API_KEYS, "data dictionary")
    record_id, forms = _forms(reader, rows)
    repeating_forms, repeating_events = _repeating(reader, repeating, {f for f, _ in forms})
    labels = _instrument_labels(reader, instruments, {f for f, _ in forms})
    built = _build_forms(reader, forms, repeating_forms, labels)
    event_list = _events(reader, events, mapping, [f.name for f in built], repeating_events)
    if reader.problems:
        raise ImportRejected(source, reader.problems)
    try:
        design = StudyDesign(
            study_id=study_id, title=title, forms=tuple(built), events=tuple(event_list)
        )
    except ValueError as exc:
        raise ImportRejected(source, [Rejection("project", "design", str(exc))]) from None
    return DictionaryImport(design, reader.warnings, record_id)


def _read_csv(
    reader: _Reader, text: str, header: tuple[str, ...], alt: tuple[str, ...] | None, what: str
) -> list[tuple[int, dict[str, str]]]:
    # newline="": line ends inside quoted cells and lone CRs (old Mac / Excel files) are the
    # csv module's to interpret (Python docs, csv module, footnote on newline='').
    rows_in = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        lines = list(rows_in)
    except csv.Error as exc:
        reader.reject(rows_in.line_num, what, f"not readable as CSV: {exc}")
        return []
    if not lines:
        reader.reject(1, what, "the file is empty")
        return []
    found = tuple(h.strip() for h in lines[0])
    if found == header:
        names = header
    elif alt is not None and found == alt:
        names = header  # API metadata keys, same order
    else:
        reader.reject(
            1,
            what,
            f"the header is not REDCap's {len(header)} columns "
            f"({', '.join(header)}); found {', '.join(found) or 'nothing'}",
        )
        return []
    rows = []
    for number, cells in enumerate(lines[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(names):
            reader.reject(number, what, f"has {len(cells)} cells, expected {len(names)}")
            continue
        rows.append((number, dict(zip(names, (c.strip() for c in cells), strict=True))))
    return rows


_Row = tuple[int, dict[str, str]]


def _forms(reader: _Reader, rows: list[_Row]) -> tuple[str, list[tuple[str, list[_Row]]]]:
    """Group rows by form, checking names, uniqueness and contiguity; drop the record id."""
    if not rows:
        if not reader.problems:
            reader.reject(2, "Variable / Field Name", "the dictionary has no fields")
        return "record_id", []
    seen: set[str] = set()
    forms: list[tuple[str, list[_Row]]] = []
    for number, row in rows:
        name, form = row["Variable / Field Name"], row["Form Name"]
        _check_field_name(reader, number, name, seen)
        if not _NAME.match(form):
            reader.reject(number, "Form Name", f"{form!r} is not a REDCap form name")
            continue
        if forms and forms[-1][0] == form:
            forms[-1][1].append((number, row))
        elif any(f == form for f, _ in forms):
            reader.reject(
                number,
                "Form Name",
                f"form {form!r} resumes after other forms; REDCap forms are contiguous",
            )
        else:
            forms.append((form, [(number, row)]))
    first_number, first = rows[0]
    if first["Field Type"] != "text":
        reader.reject(
            first_number,
            "Field Type",
            "the first field is the record id and must be "
            f"a text field, not {first['Field Type']!r}",
        )
    if forms:
        forms[0][1].pop(0)  # the record id is not a CRF item
    return first["Variable / Field Name"], [(f, r) for f, r in forms]


def _check_field_name(reader: _Reader, number: int, name: str, seen: set[str]) -> None:
    """A field name is REDCap's (lower case, digits, underscores) and not seen before; it is
    added to `seen`."""
    if not _NAME.match(name):
        reader.reject(
            number,
            "Variable / Field Name",
            f"{name!r} is not a REDCap field name "
            "(lower-case letters, digits, underscores; starts with a letter)",
        )
    elif name in seen:
        reader.reject(number, "Variable / Field Name", f"{name!r} is defined twice")
    seen.add(name)


def _instrument_labels(reader: _Reader, text: str | None, forms: set[str]) -> dict[str, str]:
    if not text:
        return {}
    labels = {}
    for number, row in _read_csv(reader, text, INSTRUMENTS_HEADER, None, "instruments"):
        if row["instrument_name"] not in forms:
            reader.reject(number, "instrument_name", f"unknown form {row['instrument_name']!r}")
        labels[row["instrument_name"]] = row["instrument_label"]
    return labels


def _build_forms(
    reader: _Reader,
    forms: list[tuple[str, list[_Row]]],
    repeating: set[str],
    labels: dict[str, str],
) -> list[Form]:
    built = []
    for name, rows in forms:
        items = [item for number, row in rows if (item := _item(reader, number, row))]
        if not items:
            reader.warn(
                rows[0][0] if rows else 2,
                "Form Name",
                f"form {name!r} has no data fields and was left out",
            )
            continue
        label = labels.get(name) or name.replace("_", " ").capitalize()
        built.append(Form(name=name, label=label, repeating=name in repeating, items=tuple(items)))
    _check_logic_targets(reader, built)
    return built


def _item(reader: _Reader, number: int, row: dict[str, str]) -> Item | None:
    name, field_type = row["Variable / Field Name"], row["Field Type"]
    if not _is_data_field(reader, number, name, field_type):
        return None
    for column in ("Section Header", "Matrix Group Name", "Custom Alignment"):
        if row[column]:
            reader.warn(number, column, f"{column.lower()} of {name!r} is not kept")
    data_type = _data_type(reader, number, row)
    choices = (
        _choices(reader, number, row) if field_type in ("radio", "dropdown", "checkbox") else ()
    )
    if data_type is None or choices is None:
        return None
    links = _links(row["Field Annotation"])
    note = row["Field Note"]
    unit_match = _UNIT.search(note)
    soft = {side: float(value) for side, value in _SOFT.findall(note)}
    rest = _UNIT.sub("", _SOFT.sub("", note)).strip("; ").strip()
    hard_low = _limit(reader, number, row, "Text Validation Min", data_type)
    hard_high = _limit(reader, number, row, "Text Validation Max", data_type)
    if hard_low is not None and hard_high is not None and hard_low > hard_high:
        reader.reject(number, "Text Validation Min", f"min {hard_low:g} is above max {hard_high:g}")
    fields: dict[str, Any] = {
        "name": name,
        "label": row["Field Label"] or name,
        "data_type": data_type,
        "unit": unit_match.group(1).strip() if unit_match else None,
        "choices": choices,
        "hard_low": hard_low,
        "hard_high": hard_high,
        "soft_low": soft.get("below"),
        "soft_high": soft.get("above"),
        "required": row["Required Field?"].lower() == "y",
        "identifier": row["Identifier?"].lower() == "y",
        "show_if": _logic(reader, number, row),
        "note": rest if field_type != "calc" or rest else "",
    }
    _derivation(fields, links, row)
    _link_element(reader, number, fields, links)
    try:
        return Item(**fields)
    except ValueError as exc:
        reader.reject(number, "Variable / Field Name", _first_error(exc))
        return None


def _is_data_field(reader: _Reader, number: int, name: str, field_type: str) -> bool:
    """Whether the field holds data trialdesk can import; if not, the reason is noted (a
    descriptive field is only warned about)."""
    if field_type not in FIELD_TYPES:
        reader.reject(
            number,
            "Field Type",
            f"{field_type!r} is not a REDCap field type ({', '.join(sorted(FIELD_TYPES))})",
        )
        return False
    if field_type == "descriptive":
        reader.warn(number, "Field Type", f"descriptive field {name!r} holds no data; left out")
        return False
    if field_type in ("file", "sql"):
        reader.reject(
            number,
            "Field Type",
            f"{field_type} fields cannot be imported into trialdesk (field {name!r})",
        )
        return False
    return True


def _derivation(fields: dict[str, Any], links: dict[str, str], row: dict[str, str]) -> None:
    """A calc field is derived (by the annotation's derivation, else by REDCap's calculation,
    kept in the note); any other field only when its annotation names a derivation."""
    if row["Field Type"] == "calc":
        if links.get("type") == "integer":
            fields["data_type"] = DataType.INTEGER
        fields["derivation"] = links.get("derivation", "redcap_calc")
        if "derivation" not in links:
            fields["note"] = f"REDCap calculation: {row['Choices, Calculations, OR Slider Labels']}"
    elif "derivation" in links:
        fields["derivation"] = links["derivation"]


def _data_type(reader: _Reader, number: int, row: dict[str, str]) -> DataType | None:
    field_type = row["Field Type"]
    validation = row["Text Validation Type OR Show Slider Number"]
    simple = {
        "yesno": DataType.BOOLEAN,
        "truefalse": DataType.BOOLEAN,
        "radio": DataType.CHOICE,
        "dropdown": DataType.CHOICE,
        "checkbox": DataType.MULTICHOICE,
        "calc": DataType.FLOAT,
        "slider": DataType.INTEGER,
        "notes": DataType.TEXT,
    }
    if field_type in simple:
        return simple[field_type]
    if not validation:
        return DataType.TEXT
    if validation.startswith("number_") and validation.endswith("dp"):
        return DataType.FLOAT
    if validation in _VALIDATION_TYPES:
        return _VALIDATION_TYPES[validation]
    if validation in _TEXT_VALIDATIONS:
        return DataType.TEXT
    reader.reject(
        number,
        "Text Validation Type OR Show Slider Number",
        f"{validation!r} is not a REDCap validation type",
    )
    return None


def _choices(reader: _Reader, number: int, row: dict[str, str]) -> tuple[Choice, ...] | None:
    column = "Choices, Calculations, OR Slider Labels"
    text = row[column]
    if not text:
        reader.reject(
            number,
            column,
            f"a {row['Field Type']} field needs choices ('code, label | code, label')",
        )
        return None
    choices: list[Choice] = []
    for part in text.split("|"):
        code, sep, label = part.strip().partition(",")
        code = code.strip()
        if not sep or not code:
            reader.reject(number, column, f"choice {part.strip()!r} is not 'code, label'")
            return None
        if any(c.code == code for c in choices):
            reader.reject(number, column, f"choice code {code!r} is used twice")
            return None
        try:
            choices.append(Choice(code=code, label=label.strip() or code))
        except ValueError:
            reader.reject(
                number,
                column,
                f"choice code {code!r} may hold only letters, digits, "
                "underscores, a dot or a leading minus",
            )
            return None
    return tuple(choices)


def _limit(
    reader: _Reader, number: int, row: dict[str, str], column: str, data_type: DataType
) -> float | None:
    text = row[column]
    if not text:
        return None
    if data_type not in (DataType.FLOAT, DataType.INTEGER):
        reader.warn(number, column, f"limit {text!r} on a non-numeric field is not kept")
        return None
    try:
        return float(text)
    except ValueError:
        reader.reject(number, column, f"{text!r} is not a number")
        return None


def _links(annotation: str) -> dict[str, str]:
    match = _LINKS.search(annotation)
    if not match:
        return {}
    pairs = (part.partition("=") for part in match.group(1).split(";"))
    return {k.strip(): v.strip() for k, _, v in pairs if k.strip() and v.strip()}


def _logic(reader: _Reader, number: int, row: dict[str, str]) -> Condition | None:
    text = row["Branching Logic (Show field only if...)"]
    if not text:
        return None
    match = _SIMPLE_LOGIC.match(text)
    if not match:
        reader.warn(
            number,
            "Branching Logic (Show field only if...)",
            f"{text!r} is more than one equality test; the field is always shown",
        )
        return None
    if match.group("code"):
        return Condition(item=match.group("field"), value=match.group("code"))
    return Condition(item=match.group("field"), value=match.group("value"))


def _check_logic_targets(reader: _Reader, forms: list[Form]) -> None:
    names = {i.name for f in forms for i in f.items}
    for form in forms:
        for item in form.items:
            if item.show_if and item.show_if.item not in names:
                reader.reject(
                    f"field {item.name}",
                    "Branching Logic (Show field only if...)",
                    f"refers to unknown field {item.show_if.item!r}",
                )


def _link_element(
    reader: _Reader, number: int, fields: dict[str, Any], links: dict[str, str]
) -> None:
    """Link the field to a catalogue element: as annotated, or by its name when compatible."""
    name = links.get("element") or fields["name"]
    if name not in reader.catalogue:
        if "element" in links:
            reader.reject(number, "Field Annotation", f"unknown catalogue element {name!r}")
        return
    element = reader.catalogue[name]
    why = incompatibility(element, fields["data_type"], fields["unit"], fields["choices"])
    if why:
        if "element" in links:
            reader.reject(number, "Field Annotation", f"cannot record element {name!r}: {why}")
        else:
            reader.warn(
                number,
                "Variable / Field Name",
                f"field {fields['name']!r} is not linked to catalogue element {name!r}: {why}",
            )
        return
    fields["element"] = name
    fields["loinc"] = links.get("loinc", element.codes.loinc)
    fields["decimals"] = element.reported_decimals  # the catalogue's reporting precision
    if fields.get("derivation") and fields["hard_low"] is None and fields["hard_high"] is None:
        # REDCap calc fields carry no validation limits; the catalogue's apply.
        limits = element.limits
        fields.update(
            hard_low=limits.hard_low,
            hard_high=limits.hard_high,
            soft_low=limits.soft_low,
            soft_high=limits.soft_high,
        )
    if "minute" in links:
        try:
            fields["sample_minute"] = float(links["minute"])
        except ValueError:
            reader.reject(number, "Field Annotation", f"minute={links['minute']!r} is not a number")


def _repeating(reader: _Reader, text: str | None, forms: set[str]) -> tuple[set[str], set[str]]:
    """(repeating forms, repeating events: rows with a blank form name repeat the event)."""
    if not text:
        return set(), set()
    names, events = set(), set()
    for number, row in _read_csv(reader, text, REPEATING_HEADER, None, "repeating instruments"):
        if not row["form_name"]:
            events.add(row["event_name"])
            continue
        if row["form_name"] not in forms:
            reader.reject(number, "form_name", f"unknown form {row['form_name']!r}")
        names.add(row["form_name"])
    return names, events


def _events(
    reader: _Reader,
    events: str | None,
    mapping: str | None,
    forms: list[str],
    repeating: set[str] | None = None,
) -> list[Event]:
    if not events:
        # A classic (non-longitudinal) project: one implicit event holding every form.
        return [
            Event(
                code="ALL",
                name="All forms",
                day=0,
                window_before=0,
                window_after=0,
                forms=tuple(forms),
            )
        ]
    parsed: dict[str, dict[str, Any]] = {}
    for number, row in _read_csv(reader, events, EVENTS_HEADER, None, "events"):
        try:
            code = re.sub(r"[^A-Z0-9_]+", "_", row["event_name"].upper()).strip("_")[:20]
            spec: dict[str, Any] = {
                "code": code,
                "name": row["custom_event_label"] or row["event_name"],
                "day": int(row["day_offset"] or 0),
                "window_before": int(row["offset_min"] or 0),
                "window_after": int(row["offset_max"] or 0),
                "forms": [],
            }
        except ValueError:
            reader.reject(
                number,
                "day_offset",
                "day_offset, offset_min and offset_max are whole numbers of days",
            )
            continue
        unique = row["unique_event_name"] or unique_event_name(code, int(row["arm_num"] or 1))
        parsed[unique] = spec
    for number, row in (
        _read_csv(reader, mapping or "", MAPPING_HEADER, None, "instrument designations")
        if mapping
        else []
    ):
        event = parsed.get(row["unique_event_name"])
        if event is None:
            reader.reject(
                number, "unique_event_name", f"unknown event {row['unique_event_name']!r}"
            )
        elif row["form"] not in forms:
            reader.reject(number, "form", f"unknown form {row['form']!r}")
        else:
            event["forms"].append(row["form"])
    result = []
    for unique, spec in parsed.items():
        try:
            result.append(
                Event(
                    **{
                        **spec,
                        "forms": tuple(spec["forms"]),
                        "repeating": unique in (repeating or set()),
                    }
                )
            )
        except ValueError as exc:
            reader.reject(f"event {unique}", "event_name", _first_error(exc))
    return result


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}".lstrip(": ")
    return str(exc)

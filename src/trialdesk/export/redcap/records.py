"""REDCap records in the flat CSV export shape, written from and read into `FormRecord`s.

Shape (REDCap "Export Records", type=flat, raw values; [@REDCap] API documentation): `record_id`,
`redcap_event_name` (unique event name), `redcap_repeat_instrument`, `redcap_repeat_instance`,
then each form's fields in dictionary order — a checkbox as one 0/1 column per choice,
`field___code` — followed by `<form>_complete` (0 Incomplete, 1 Unverified, 2 Complete: the
status the site recorded for that form and visit; 2 for a form with data but no recorded status).
One row per record and event for the non-repeating forms, and one row per instance of a repeating
form. A value recorded as missing is written as its missing-data code (``ND``, ``UNK``…), as
REDCap stores its project's "Missing Data Codes" in the field itself; the site's reason does not
travel in this file.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from trialdesk.catalogue.missing import BY_CODE
from trialdesk.export.crf.model import DataType, Event, Form, Item, StudyDesign
from trialdesk.export.errors import ImportRejected, Rejection
from trialdesk.export.records import FormRecord
from trialdesk.export.redcap.columns import RECORD_ID, checkbox_column, unique_event_name
from trialdesk.export.values import Value, check_limits, format_value, parse_value

EVENT = "redcap_event_name"
REPEAT_FORM = "redcap_repeat_instrument"
REPEAT_INSTANCE = "redcap_repeat_instance"
COMPLETE = "2"
# REDCap's codes of the form status ("<form>_complete").
STATUS_CODES = {"incomplete": "0", "unverified": "1", "complete": COMPLETE}


def _status_only_forms(
    design: StudyDesign,
    statuses: Mapping[tuple[str, str, str], str],
    subjects: list[str],
    rows: dict[tuple[str, str, str, int], dict[str, str]],
) -> None:
    """A status the site gave a form that holds no value yet ("Incomplete" on an empty form)
    is written too: REDCap's ``<form>_complete`` is the form's status, data or not."""
    events = {e.code: e for e in design.events if not e.repeating}
    for (subject, event, form), status in statuses.items():
        if subject not in subjects or event not in events or form not in events[event].forms:
            continue
        if design.form(form).repeating:
            continue
        row = rows.setdefault(
            (subject, event, "", 0),
            {RECORD_ID: subject, EVENT: unique_event_name(event), REPEAT_FORM: "",
             REPEAT_INSTANCE: ""},
        )  # fmt: skip
        row.setdefault(f"{form}_complete", STATUS_CODES[status])


def _status_only_instances(
    design: StudyDesign,
    statuses: Mapping[tuple[str, str, str, int], str],
    subjects: list[str],
    rows: dict[tuple[str, str, str, int], dict[str, str]],
) -> None:
    """A status given to a form of an unscheduled visit's instance that holds no value yet."""
    events = {e.code: e for e in design.events if e.repeating}
    for (subject, event, form, instance), status in statuses.items():
        if subject not in subjects or event not in events or form not in events[event].forms:
            continue
        row = rows.setdefault(
            (subject, event, "", instance),
            {RECORD_ID: subject, EVENT: unique_event_name(event), REPEAT_FORM: "",
             REPEAT_INSTANCE: str(instance)},
        )  # fmt: skip
        row.setdefault(f"{form}_complete", STATUS_CODES[status])


def record_columns(design: StudyDesign) -> list[str]:
    columns = [RECORD_ID, EVENT, REPEAT_FORM, REPEAT_INSTANCE]
    for form in design.forms:
        for item in form.items:
            columns += _item_columns(item)
        columns.append(f"{form.name}_complete")
    return columns


def _item_columns(item: Item) -> list[str]:
    if item.data_type is DataType.MULTICHOICE:
        return [checkbox_column(item.name, c.code) for c in item.choices]
    return [item.name]


def write_records(
    design: StudyDesign,
    records: list[FormRecord] | tuple[FormRecord, ...],
    statuses: Mapping[tuple[str, str, str], str] | None = None,
    instance_statuses: Mapping[tuple[str, str, str, int], str] | None = None,
) -> str:
    """The flat CSV text of `records` (raw values, canonical units); `statuses`: the form status
    the site recorded per (subject, event, form), written as REDCap's 0/1/2;
    `instance_statuses`: the same per instance of a repeating (unscheduled) event, on that
    instance's row (REDCap's repeating event: ``redcap_repeat_instance``)."""
    statuses = statuses or {}
    instance_statuses = instance_statuses or {}
    columns = record_columns(design)
    rows: dict[tuple[str, str, str, int], dict[str, str]] = {}
    subjects = list(dict.fromkeys(r.subject for r in records))
    events = [e.code for e in design.events]
    for record in records:
        form = design.form(record.form)
        repeat = form.name if form.repeating else ""
        # A repeating event (unscheduled visits): no instrument name, the event's instance.
        numbered = bool(repeat) or design.event(record.event).repeating
        key = (record.subject, record.event, repeat, record.instance if numbered else 0)
        row = rows.setdefault(
            key,
            {
                RECORD_ID: record.subject,
                EVENT: unique_event_name(record.event),
                REPEAT_FORM: repeat,
                REPEAT_INSTANCE: str(record.instance) if numbered else "",
            },
        )
        row.update(_cells(form, record.values))
        row.update(
            {
                name: code
                for name, (code, _reason) in record.missing.items()
                if design.item(name).data_type is not DataType.MULTICHOICE
            }
        )
        status = (
            instance_statuses.get(record.key)
            if design.event(record.event).repeating
            else statuses.get((record.subject, record.event, form.name))
        )
        row[f"{form.name}_complete"] = STATUS_CODES.get(status or "", COMPLETE)
    _status_only_forms(design, statuses, subjects, rows)
    _status_only_instances(design, instance_statuses, subjects, rows)

    def order(key: tuple[str, str, str, int]) -> tuple[int, int, str, int]:
        return (subjects.index(key[0]), events.index(key[1]), key[2], key[3])

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    for key in sorted(rows, key=order):
        writer.writerow(rows[key])
    return buffer.getvalue()


def _cells(form: Form, values: dict[str, Value]) -> dict[str, str]:
    cells = {}
    for item in form.items:
        if item.name not in values:
            continue
        value = values[item.name]
        if item.data_type is DataType.MULTICHOICE:
            chosen = set(value) if isinstance(value, tuple) else set()
            for choice in item.choices:
                column = checkbox_column(item.name, choice.code)
                cells[column] = "1" if choice.code in chosen else "0"
        else:
            cells[item.name] = format_value(item, value)
    return cells


@dataclass
class _Columns:
    """Where each CSV column goes: an item, one choice of a checkbox, or a form status."""

    item: dict[str, tuple[Form, Item, str | None]]
    complete: dict[str, Form]


def _map_columns(design: StudyDesign) -> _Columns:
    item: dict[str, tuple[Form, Item, str | None]] = {}
    complete = {}
    for form in design.forms:
        complete[f"{form.name}_complete"] = form
        for it in form.items:
            if it.data_type is DataType.MULTICHOICE:
                for choice in it.choices:
                    item[checkbox_column(it.name, choice.code)] = (form, it, choice.code)
            else:
                item[it.name] = (form, it, None)
    return _Columns(item, complete)


@dataclass(frozen=True)
class _Reading:
    """One reading of a records CSV: what it is read against, and what it has found so far
    (the records collected by key, and every problem)."""

    design: StudyDesign
    mapping: _Columns
    events: dict[str, Event]
    record_id: str
    collected: dict[tuple[str, str, str, int], FormRecord]
    problems: list[Rejection]


def read_records(
    design: StudyDesign, text: str, *, record_id: str = RECORD_ID, source: str = "records"
) -> list[FormRecord]:
    """Parse REDCap's flat CSV export against `design`; raise ImportRejected listing every
    problem (row, column, reason). Nothing is returned unless every row is valid."""
    problems: list[Rejection] = []
    # newline="": lone CRs and line ends inside quoted cells are the csv module's to interpret.
    rows_in = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        lines = list(rows_in)
    except csv.Error as exc:
        raise ImportRejected(
            source, [Rejection(rows_in.line_num, "CSV", f"not readable as CSV: {exc}")]
        ) from None
    if not lines:
        raise ImportRejected(source, [Rejection(1, "header", "the file is empty")])
    header = [h.strip() for h in lines[0]]
    mapping = _map_columns(design)
    _check_header(header, record_id, mapping, design, problems)
    if problems:
        raise ImportRejected(source, problems)
    reading = _Reading(
        design,
        mapping,
        events={unique_event_name(e.code): e for e in design.events},
        record_id=record_id,
        collected={},
        problems=problems,
    )
    for number, cells in enumerate(lines[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            problems.append(
                Rejection(number, "row", f"has {len(cells)} cells, the header {len(header)}")
            )
            continue
        row = dict(zip(header, (c.strip() for c in cells), strict=True))
        _read_row(reading, number, row)
    if problems:
        raise ImportRejected(source, problems)
    return list(reading.collected.values())


def _check_header(
    header: list[str],
    record_id: str,
    mapping: _Columns,
    design: StudyDesign,
    problems: list[Rejection],
) -> None:
    if not header or header[0] != record_id:
        problems.append(
            Rejection(
                1,
                header[0] if header else "header",
                f"the first column must be the record id {record_id!r}",
            )
        )
    duplicates = sorted({h for h in header if header.count(h) > 1})
    for name in duplicates:
        problems.append(Rejection(1, name, "column appears twice"))
    known = (
        {record_id, EVENT, REPEAT_FORM, REPEAT_INSTANCE} | set(mapping.item) | set(mapping.complete)
    )
    for name in header:
        if name not in known:
            problems.append(Rejection(1, name, "not a field of this project's data dictionary"))
    longitudinal = len(design.events) > 1 or design.events[0].code != "ALL"
    if longitudinal and EVENT not in header:
        problems.append(Rejection(1, EVENT, "a longitudinal project's export needs this column"))


def _read_row(reading: _Reading, number: int, row: dict[str, str]) -> None:
    design, problems, record_id = reading.design, reading.problems, reading.record_id
    subject = row[record_id]
    if not subject:
        problems.append(Rejection(number, record_id, "the record id is empty"))
        return
    event_name = row.get(EVENT, "") or unique_event_name(design.events[0].code)
    event = reading.events.get(event_name)
    if event is None:
        problems.append(Rejection(number, EVENT, f"unknown event {event_name!r}"))
        return
    repeat_form = row.get(REPEAT_FORM, "")
    instance = _row_instance(reading, number, row, event)
    if instance is None:
        return
    values, missing = _row_values(reading.mapping, number, row, repeat_form, problems)
    for form_name in missing:
        values.setdefault(form_name, {})
    for form_name, form_values in values.items():
        if form_name not in event.forms:
            problems.append(
                Rejection(
                    number,
                    next(iter([*form_values, *missing.get(form_name, {})]), form_name),
                    f"form {form_name} is not collected at event {event_name}",
                )
            )
            continue
        key = (subject, event.code, form_name, instance)
        if key in reading.collected:
            problems.append(
                Rejection(
                    number,
                    record_id,
                    f"record {subject}, event {event_name}, "
                    f"form {form_name}, instance {instance} appears twice",
                )
            )
            continue
        reading.collected[key] = FormRecord(
            subject,
            event.code,
            form_name,
            form_values,
            instance,
            missing.get(form_name, {}),
        )


def _row_instance(reading: _Reading, number: int, row: dict[str, str], event: Event) -> int | None:
    """The row's instance: its repeat instance on a repeating instrument or event, else 1;
    None (and the problem noted) when the repeat columns are wrong."""
    repeat_form = row.get(REPEAT_FORM, "")
    if repeat_form and repeat_form not in {f.name for f in reading.design.forms if f.repeating}:
        reading.problems.append(
            Rejection(number, REPEAT_FORM, f"{repeat_form!r} is not a repeating instrument")
        )
        return None
    if not repeat_form and not event.repeating:
        return 1
    text = row.get(REPEAT_INSTANCE, "") if repeat_form else row.get(REPEAT_INSTANCE, "") or "1"
    if not text.isdigit() or int(text) < 1:
        reading.problems.append(
            Rejection(number, REPEAT_INSTANCE, f"{text!r} is not a repeat instance (1, 2, …)")
        )
        return None
    return int(text)


def _is_missing_code(item: Item, text: str) -> bool:
    """A REDCap missing-data code in a field (unless it is one of the field's own choices)."""
    return text in BY_CODE and not any(c.code == text for c in item.choices)


def _row_values(
    mapping: _Columns, number: int, row: dict[str, str], repeat_form: str, problems: list[Rejection]
) -> tuple[dict[str, dict[str, Value]], dict[str, dict[str, tuple[str, str]]]]:
    values: dict[str, dict[str, Value]] = defaultdict(dict)
    missing: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)
    checked: dict[tuple[str, str], list[str]] = defaultdict(list)
    for column, text in row.items():
        if column in mapping.complete:
            problems += _status_problems(number, column, text)
            continue
        if column not in mapping.item or not text:
            continue
        form, item, code = mapping.item[column]
        if _is_misplaced(form, repeat_form):
            problems.append(Rejection(number, column, _misplaced(form, repeat_form)))
            continue
        if code is not None:
            if _is_checked(number, column, text, problems):
                checked[(form.name, item.name)].append(code)
            continue
        if _is_missing_code(item, text):
            missing[form.name][item.name] = (text, "")
            continue
        value = _cell_value(item, text)
        if isinstance(value, _Rejected):
            problems.append(Rejection(number, column, value.reason))
            continue
        values[form.name][item.name] = value
    for (form_name, item_name), codes in checked.items():
        item = mapping.item[checkbox_column(item_name, codes[0])][1]
        values[form_name][item_name] = tuple(c.code for c in item.choices if c.code in codes)
    return values, missing


_CHECKBOX_VALUES = ("0", "1")
"""A REDCap checkbox column (<field>___<code>): 1 checked, 0 not."""
_CHECKED = "1"
_FORM_STATUSES = ("", "0", "1", "2")
"""REDCap's <form>_complete values: 0 Incomplete, 1 Unverified, 2 Complete (or blank)."""
_NOT_A_STATUS = "{text!r} is not a form status (0 Incomplete, 1 Unverified, 2 Complete)"


def _status_problems(number: int, column: str, text: str) -> list[Rejection]:
    """A <form>_complete cell that is not a REDCap form status."""
    if text in _FORM_STATUSES:
        return []
    return [Rejection(number, column, _NOT_A_STATUS.format(text=text))]


def _is_checked(number: int, column: str, text: str, problems: list[Rejection]) -> bool:
    """Whether a checkbox cell is checked; a cell other than 0 or 1 is a problem."""
    if text not in _CHECKBOX_VALUES:
        problems.append(Rejection(number, column, f"{text!r} is not 0 or 1"))
    return text == _CHECKED


@dataclass(frozen=True)
class _Rejected:
    """Why a cell's text is not a value of its item."""

    reason: str


def _cell_value(item: Item, text: str) -> Value | _Rejected:
    """The cell's typed value, or why it is not one (unparseable, or beyond hard limits)."""
    try:
        value = parse_value(item, text)
    except ValueError as exc:
        return _Rejected(str(exc))
    if (why := check_limits(item, value)) is not None:
        return _Rejected(why)
    return value


def _is_misplaced(form: Form, repeat_form: str) -> bool:
    """A field of a repeating form on a non-repeating row, or of another form than the row's
    repeating instrument (REDCap: redcap_repeat_instrument)."""
    return bool(repeat_form) != form.repeating or bool(repeat_form and form.name != repeat_form)


def _misplaced(form: Form, repeat_form: str) -> str:
    if form.repeating:
        return f"belongs to repeating form {form.name}; give it on that form's instance rows"
    return f"belongs to form {form.name}, not to the {repeat_form} instance row"

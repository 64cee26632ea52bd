"""Reading candidates from CSV or JSON files (one record per candidate, fields by element name).

Text must be UTF-8 (a byte-order mark is accepted) or UTF-16 with its byte-order mark, as CSV
files ([@RFC4180]) exported by spreadsheets are; any other encoding is refused rather than
guessed, because a wrong guess silently changes what was written (µIU/mL becomes Âµ…). A CSV
row must have as many cells as the header ([@RFC4180] §2.4): a row with more or fewer cells is
refused and named, never shifted into the wrong columns.

A cell may hold a missing-data code instead of a value, as the web and API screening forms
take it (`trialdesk.catalogue.missing`: ND, NA, UNK, ASKU, NASK, NAV, MSK, the REDCap /
HL7 NullFlavor codes), alone or followed by the site's reason: ``ND`` or
``ND: haemolysed``. The field then holds no value, and the verdict says it was recorded as
missing with that code (`CandidateRow.coded`).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trialdesk.catalogue.missing import BY_CODE, describe
from trialdesk.eligibility.values import InputError

ID_FIELDS = ("id", "candidate_id", "subject_id")


@dataclass
class CandidateRow:
    """One candidate as read: its row (1 = first data row), fields, and problems of shape."""

    row: int
    record: dict[str, Any]
    problems: list[InputError] = field(default_factory=list)
    # Fields recorded as missing with a code, and why: {"hba1c": "not done (ND): haemolysed"}.
    coded: dict[str, str] = field(default_factory=dict)

    @property
    def candidate_id(self) -> str:
        return candidate_id(self.record, self.row - 1)


def read_candidate_rows(path: str | Path) -> list[CandidateRow]:
    """Rows of a .csv (header = element names, `<name>_unit` columns) or .json file.

    File-level problems (missing, unreadable, empty, not JSON) raise `InputError` naming the
    file; a malformed row is kept with its `problems`, so the other rows are still judged.
    JSON: a list of objects, or {"candidates": [...]}. Values may be "126 mg/dL" strings,
    {"value": 126, "unit": "mg/dL"} objects, or numbers with a `<name>_unit` key.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "no such file")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise InputError(str(path), f"unsupported file type {suffix!r} (use .csv or .json)")
    text = decode(path)
    if not text.strip():
        raise InputError(str(path), "the file is empty (no header, no candidates)")
    rows = _csv_rows(path, text) if suffix == ".csv" else _json_rows(path, text)
    if not rows:
        raise InputError(str(path), "no candidates (only a header)")
    for row in rows:
        row.record, row.coded = split_coded(row.record)
    return rows


def missing_code_in(cell: object) -> tuple[str, str | None] | None:
    """(code, reason) when `cell` is a missing-data code, alone or as ``CODE: reason``."""
    if not isinstance(cell, str):
        return None
    code, _, reason = cell.strip().partition(":")
    if code.strip().upper() not in BY_CODE:
        return None
    return code.strip().upper(), reason.strip() or None


def split_coded(record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The record without its coded-missing fields (and their unit columns), and those
    fields described as a verdict quotes them ("not done (ND): haemolysed")."""
    coded: dict[str, str] = {}
    for name, cell in record.items():
        if name in ID_FIELDS or name.endswith("_unit"):
            continue
        found = missing_code_in(cell)
        if found is not None:
            coded[name] = describe(*found)
    kept = {
        k: v
        for k, v in record.items()
        if k not in coded and not (k.endswith("_unit") and k.removesuffix("_unit") in coded)
    }
    return kept, coded


def read_candidates(path: str | Path) -> list[dict[str, Any]]:
    """The records of `read_candidate_rows`; the first malformed row raises `InputError`."""
    rows = read_candidate_rows(path)
    for row in rows:
        if row.problems:
            raise row.problems[0]
    return [row.record for row in rows]


def decode(path: Path) -> str:
    """The file's text: UTF-8 (BOM optional) or UTF-16 with a BOM; anything else is refused."""
    data = path.read_bytes()
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise InputError(str(path), f"not valid UTF-16 text ({exc.reason})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            str(path),
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); save it as "
            "CSV UTF-8 (or UTF-16 with a byte-order mark)",
        ) from None


def _csv_rows(path: Path, text: str) -> list[CandidateRow]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    names = [h.strip() for h in header]
    blank = [i + 1 for i, name in enumerate(names) if not name]
    if blank:
        raise InputError(str(path), f"header column {blank[0]} has no name")
    rows: list[CandidateRow] = []
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue  # a blank line is not a candidate
        number = len(rows) + 1
        record = dict(zip(names, cells, strict=False))
        row = CandidateRow(number, record)
        if len(cells) != len(names):
            row.problems.append(
                InputError(
                    f"line {reader.line_num}",
                    f"{len(cells)} cells where the header has {len(names)} columns",
                )
            )
        rows.append(row)
    return rows


def _json_rows(path: Path, text: str) -> list[CandidateRow]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(str(path), f"not valid JSON: {exc.msg} at line {exc.lineno}") from None
    records = data.get("candidates") if isinstance(data, dict) else data
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise InputError(str(path), "expected a list of candidate objects")
    return [CandidateRow(i + 1, _flatten(r)) for i, r in enumerate(records)]


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict) and "value" in value and set(value) <= {"value", "unit"}:
            out[key] = value["value"]
            if "unit" in value:
                out[f"{key}_unit"] = value["unit"]
        else:
            out[key] = value
    return out


def candidate_id(record: dict[str, Any], index: int) -> str:
    for key in ID_FIELDS:
        if record.get(key):
            return str(record[key])
    return f"row {index + 1}"

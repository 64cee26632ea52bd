"""Reading candidates from CSV or JSON files (one record per candidate, fields by element name)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from trialdesk.eligibility.values import InputError


def read_candidates(path: str | Path) -> list[dict[str, Any]]:
    """Records from a .csv (header = element names, `<name>_unit` columns) or .json file.

    JSON: a list of objects, or {"candidates": [...]}. Values may be "126 mg/dL" strings,
    {"value": 126, "unit": "mg/dL"} objects, or numbers with a `<name>_unit` key.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return [dict(row) for row in csv.DictReader(handle)]
    if suffix == ".json":
        try:
            data = json.loads(path.read_text("utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(str(path), f"not valid JSON: {exc.msg} at line {exc.lineno}") from None
        records = data.get("candidates") if isinstance(data, dict) else data
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise InputError(str(path), "expected a list of candidate objects")
        return [_flatten(r) for r in records]
    raise InputError(str(path), f"unsupported file type {suffix!r} (use .csv or .json)")


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
    for key in ("id", "candidate_id", "subject_id"):
        if record.get(key):
            return str(record[key])
    return f"row {index + 1}"

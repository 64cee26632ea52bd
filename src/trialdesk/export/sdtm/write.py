"""Writing SDTM datasets: SAS XPORT v5 (pyreadstat) and CDISC Dataset-JSON 1.1.

XPORT v5 limits (FDA Study Data Technical Conformance Guide; SDTMIG §4.1): dataset and variable
names ≤ 8 characters, labels ≤ 40, character values ≤ 200 bytes of ASCII. Dataset-JSON 1.1
(CDISC, 2024): one JSON object per dataset with `columns` metadata and `rows` arrays; numbers
as JSON numbers, missing values as null.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat

from trialdesk.export.errors import ExportError
from trialdesk.export.sdtm.spec import DOMAINS, Domain
from trialdesk.export.sdtm.text import MAX_TEXT_LENGTH

DATASET_JSON_VERSION = "1.1.0"


def conform(domain: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The dataset with exactly its spec's columns, in order: Char as str ("" when missing),
    Num as float (NaN when missing). Raises ExportError on a value that breaks XPORT v5."""
    spec = DOMAINS[domain]
    missing = [c for c in spec.names if c not in frame.columns]
    extra = [c for c in frame.columns if c not in spec.names]
    if missing or extra:
        raise ExportError(
            f"{domain}: columns differ from the spec (missing {missing}, extra {extra})"
        )
    out = pd.DataFrame(index=frame.index)
    for var in spec.variables:
        column = frame[var.name]
        if var.type == "Num":
            out[var.name] = pd.to_numeric(
                column.astype(object).where(column.notna(), None), errors="raise"
            ).astype(float)
        else:
            out[var.name] = pd.Series(
                [_char(domain, var.name, v) for v in column.astype(object)],
                index=frame.index,
                dtype=object,
            )
    return out.reset_index(drop=True)


def max_length(column: pd.Series) -> int:
    """The longest text in a character column (at least 1, also for an empty dataset)."""
    lengths = column.astype(str).str.len()
    return max(1, int(lengths.max())) if len(lengths) else 1


def _char(domain: str, name: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    text = str(value)
    if not text.isascii():
        raise ExportError(f"{domain}.{name}: {text!r} is not ASCII (SAS XPORT v5)")
    if len(text) > MAX_TEXT_LENGTH:
        raise ExportError(
            f"{domain}.{name}: {len(text)} characters; XPORT allows {MAX_TEXT_LENGTH}"
        )
    return text


def write_xpt(domain: str, frame: pd.DataFrame, folder: Path) -> Path:
    """`<domain>.xpt` (lower-case name, as submitted) in SAS XPORT version 5."""
    spec = DOMAINS[domain]
    data = conform(domain, frame)
    path = folder / f"{domain.lower()}.xpt"
    pyreadstat.write_xport(
        data,
        str(path),
        file_label=spec.label[:40],
        column_labels=[v.label for v in spec.variables],
        table_name=domain,
        file_format_version=5,
    )
    return path


def _json_type(spec: Domain, name: str) -> str:
    var = spec.var(name)
    if var.type == "Num":
        return (
            "integer"
            if name.endswith(("SEQ", "NUM", "DY", "TAETORD")) or name in ("AGE", "VISITDY")
            else "double"
        )
    return "string"


def dataset_json(
    domain: str,
    frame: pd.DataFrame,
    *,
    study_id: str,
    created: datetime | None = None,
    define: str = "define.xml",
) -> dict[str, Any]:
    """The Dataset-JSON 1.1 object of one SDTM dataset."""
    spec = DOMAINS[domain]
    data = conform(domain, frame)
    created = created or datetime.now(UTC)
    columns = []
    for var in spec.variables:
        column: dict[str, Any] = {
            "itemOID": f"IT.{domain}.{var.name}",
            "name": var.name,
            "label": var.label,
            "dataType": _json_type(spec, var.name),
        }
        if var.type == "Char":
            column["length"] = max_length(data[var.name])
        if var.name in spec.keys:
            column["keySequence"] = spec.keys.index(var.name) + 1
        columns.append(column)
    rows = [
        [_json_value(spec, str(name), value) for name, value in row.items()]
        for row in data.to_dict(orient="records")
    ]
    stamp = created.replace(microsecond=0, tzinfo=None).isoformat()
    return {
        "datasetJSONCreationDateTime": stamp,
        "datasetJSONVersion": DATASET_JSON_VERSION,
        "fileOID": f"{study_id}/{domain}",
        "originator": "trialdesk",
        "sourceSystem": {"name": "trialdesk", "version": _version()},
        "studyOID": study_id,
        "metaDataVersionOID": f"MDV.{study_id}.SDTMIG.3.4",
        "metaDataRef": define,
        "itemGroupOID": f"IG.{domain}",
        "records": len(rows),
        "name": domain,
        "label": spec.label,
        "columns": columns,
        "rows": rows,
    }


def _json_value(spec: Domain, name: str, value: Any) -> Any:
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return int(value) if _json_type(spec, name) == "integer" else value
    return value if value != "" else None


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trialdesk")
    except PackageNotFoundError:
        return "0"


def write_dataset_json(
    domain: str,
    frame: pd.DataFrame,
    folder: Path,
    *,
    study_id: str,
    created: datetime | None = None,
) -> Path:
    path = folder / f"{domain.lower()}.json"
    document = dataset_json(domain, frame, study_id=study_id, created=created)
    path.write_text(json.dumps(document, ensure_ascii=True), encoding="utf-8")
    return path

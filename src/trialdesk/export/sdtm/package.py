"""Writing a full SDTM package to a folder: one .xpt (SAS XPORT v5) and one .json (Dataset-JSON
1.1) per dataset, and define.xml 2.1; the conformance findings are returned to the caller."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from lxml import etree

from trialdesk.export.errors import ExportError
from trialdesk.export.odm.validate import schema_errors
from trialdesk.export.sdtm.conformance import Finding, check
from trialdesk.export.sdtm.define import define_xml
from trialdesk.export.sdtm.write import dataset_json, write_xpt


@dataclass(frozen=True)
class SdtmPackage:
    files: list[Path]
    findings: list[Finding]


def write_package(
    datasets: dict[str, pd.DataFrame],
    folder: Path,
    *,
    study_id: str,
    title: str,
    created: datetime | None = None,
    dictionaries: dict[str, str] | None = None,
) -> SdtmPackage:
    """Write every dataset as XPT and Dataset-JSON plus define.xml (schema-validated first)."""
    created = created or datetime.now(UTC).replace(microsecond=0)
    root = define_xml(
        datasets, study_id=study_id, title=title, created=created, dictionaries=dictionaries
    )
    errors = schema_errors(root, "define")
    if errors:
        raise ExportError("define.xml does not validate: " + "; ".join(map(str, errors[:5])))
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for code, frame in datasets.items():
        files.append(write_xpt(code, frame, folder))
        document = dataset_json(code, frame, study_id=study_id, created=created)
        path = folder / f"{code.lower()}.json"
        path.write_text(json.dumps(document, ensure_ascii=True), encoding="utf-8")
        files.append(path)
    define = folder / "define.xml"
    define.write_bytes(
        etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    )
    files.append(define)
    return SdtmPackage(files, check(datasets))

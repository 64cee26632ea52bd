"""Issue #15: every exported file reports numbers at their reporting precision (no float
artefacts such as 4.832479999999999), and LOINC codes match the property of the unit."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest
from export_samples import sdtm_sources as sample_sources
from tools.harness.database import TestDatabase
from typer.testing import CliRunner

from trialdesk.catalogue import default_catalogue
from trialdesk.catalogue.precision import round_reported
from trialdesk.cli import app
from trialdesk.export.fhir.bundle import study_bundle
from trialdesk.export.from_store import sdtm_sources
from trialdesk.export.sdtm.build import sdtm_datasets
from trialdesk.protocol import builtin_protocol

pytestmark = pytest.mark.slow  # exports a simulated cohort written through the services

# A decimal number with five or more decimals that is not part of a dotted identifier (OIDs such
# as 2.16.840.1.113883 are preceded or followed by a dot).
OVERLONG = re.compile(r"(?<![\w.:])-?\d+\.\d{5,}(?![\d.])")
MAX_DECIMALS = 4  # the widest reporting precision any exported number may carry
MOLAR = {"14771-0", "14995-5", "14749-6", "59261-8", "14796-7"}
MASS = {"1558-6", "1518-0", "1521-4", "2345-7", "1986-9"}


def _export_everything(database: TestDatabase, folder: Path) -> list[Path]:
    runner = CliRunner()
    for args in (
        ["export", "sdtm", "--database", database.url, "--out", str(folder / "sdtm")],
        ["export", "odm", "--database", database.url, "--out", str(folder / "study.xml")],
        ["export", "redcap", "--database", database.url, "--out", str(folder / "redcap")],
        ["export", "fhir", "--database", database.url, "--out", str(folder / "bundle.json")],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_no_exported_file_carries_an_overlong_decimal(cohort: TestDatabase, tmp_path: Path) -> None:
    files = _export_everything(cohort, tmp_path)
    kinds = {p.suffix for p in files}
    assert {".xpt", ".json", ".xml", ".csv"} <= kinds, kinds
    for path in files:
        if path.suffix == ".xpt":
            frame, _ = pyreadstat.read_xport(str(path))
            for column in frame.select_dtypes("number").columns:
                values = frame[column].dropna()
                off = values[(values - values.round(MAX_DECIMALS)).abs() > 1e-9]
                assert off.empty, f"{path.name} {column}: {off.tolist()[:3]}"
        else:
            found = OVERLONG.findall(path.read_text(encoding="utf-8"))
            assert not found, f"{path.name}: {found[:5]}"


def _datasets(cohort: TestDatabase) -> dict[str, pd.DataFrame]:
    protocol = builtin_protocol()
    with cohort.session() as session:
        return sdtm_datasets(protocol, sdtm_sources(session, protocol))


def test_lb_standard_results_are_at_the_catalogue_precision(cohort: TestDatabase) -> None:
    lb = _datasets(cohort)["LB"]
    numeric = lb[lb["LBSTRESN"].notna()]
    assert len(numeric) > 0
    decimals = {"%": 1, "mmol/L": 1, "mIU/L": 1, "ug/L": 2}  # CT units (findings.UNITS)
    for unit, places in decimals.items():
        values = numeric.loc[numeric["LBSTRESU"] == unit, "LBSTRESN"].astype(float)
        assert len(values) > 0, unit
        assert ((values - values.round(places)).abs() < 1e-9).all(), unit
        texts = numeric.loc[numeric["LBSTRESU"] == unit, "LBSTRESC"]
        assert all(len(t.partition(".")[2]) <= places for t in texts), unit


def test_lb_loinc_matches_the_property_of_the_original_unit(cohort: TestDatabase) -> None:
    samples = sdtm_datasets(builtin_protocol(), sample_sources())["LB"]  # entered in mg/dL
    lb = pd.concat([_datasets(cohort)["LB"], samples], ignore_index=True)
    glucose = lb[(lb["LBTESTCD"] == "GLUC") & lb["LBORRESU"].notna()]
    assert {"mg/dL", "mmol/L"} <= set(glucose["LBORRESU"])
    for unit, code in zip(glucose["LBORRESU"], glucose["LBLOINC"], strict=True):
        assert pd.isna(code) or code in (MOLAR if unit == "mmol/L" else MASS), (unit, code)
    fasting = glucose[glucose["LBFAST"] == "Y"]
    assert set(fasting.loc[fasting["LBORRESU"] == "mmol/L", "LBLOINC"]) <= {"14771-0", "14749-6"}
    assert set(fasting.loc[fasting["LBORRESU"] == "mg/dL", "LBLOINC"]) <= {"1558-6"}
    hba1c = lb[lb["LBTESTCD"] == "HBA1C"]
    for unit, code in zip(hba1c["LBORRESU"], hba1c["LBLOINC"], strict=True):
        assert code == {"%": "4548-4", "mmol/mol": "59261-8"}[unit]


def test_fhir_loinc_matches_the_unit_of_the_value(cohort: TestDatabase) -> None:
    protocol = builtin_protocol()
    with cohort.session() as session:
        bundle = study_bundle(protocol, sdtm_sources(session, protocol))
    observations = [
        json.loads(e.resource.model_dump_json())
        for e in bundle.entry or []
        if e.resource.get_resource_type() == "Observation"
    ]
    glucose = [o for o in observations if "valueQuantity" in o and "lucose" in o["code"]["text"]]
    assert glucose
    for o in glucose:
        code, unit = o["code"]["coding"][0]["code"], o["valueQuantity"]["code"]
        assert code in (MOLAR if unit == "mmol/L" else MASS), (code, unit)
    fasting = [o for o in glucose if o["code"]["text"].startswith("Fasting plasma glucose")]
    assert {o["code"]["coding"][0]["code"] for o in fasting} == {"14771-0"}


def test_loinc_for_a_unit_never_borrows_another_property() -> None:
    catalogue = default_catalogue()
    assert catalogue["fasting_glucose"].loinc_for("mmol/L") == "14771-0"
    assert catalogue["fasting_glucose"].loinc_for("mg/dL") == "1558-6"
    assert catalogue["hba1c"].loinc_for("%") == "4548-4"
    assert catalogue["hba1c"].loinc_for("mmol/mol") == "59261-8"
    assert catalogue["postmeal_glucose"].loinc_for("mmol/L") is None  # no molar code on record
    assert catalogue["weight"].loinc_for("lb") == "29463-7"  # one code whatever the unit


def test_reported_values_round_half_away_from_zero_at_the_precision() -> None:
    assert round_reported(4.832479999999999, 2) == 4.83
    assert round_reported(0.125, 2) == 0.13  # Python's round() gives 0.12
    assert round_reported(-0.125, 2) == -0.13
    assert round_reported(176.6 / 18.016, 1) == 9.8
    assert round_reported(1 / 3, None) == 0.3333  # no catalogue precision: at most 4 places
    catalogue = default_catalogue()
    assert catalogue["fasting_glucose"].reported_decimals == 1  # mmol/L, the lab table's
    assert catalogue["homa_ir"].reported_decimals == 2  # the element's own precision

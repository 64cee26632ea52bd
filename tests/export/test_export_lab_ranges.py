"""Issue #15: LB reference ranges from a per-site laboratory range table (shipped default,
replaceable per site): LBORNRLO/HI in the original unit, LBSTNRLO/HI in the standard unit,
LBNRIND from the standard result."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from export_samples import sdtm_sources

from trialdesk.catalogue import default_catalogue
from trialdesk.catalogue.lab_ranges import LabRange, default_lab_ranges, load_lab_ranges
from trialdesk.export.sdtm import findings
from trialdesk.export.sdtm.build import sdtm_datasets
from trialdesk.export.sdtm.conformance import check
from trialdesk.export.sdtm.ranges import range_fields
from trialdesk.protocol import builtin_protocol


def _row(lb: pd.DataFrame, **where: object) -> pd.Series:
    mask = pd.Series(True, index=lb.index)
    for column, value in where.items():
        mask &= lb[column] == value
    assert mask.sum() == 1, where
    return lb[mask].iloc[0]


def test_lb_ranges_in_original_and_standard_units_with_the_indicator() -> None:
    datasets = sdtm_datasets(builtin_protocol(), sdtm_sources())
    assert check(datasets) == []
    lb = datasets["LB"]
    glucose = _row(
        lb, USUBJID="NCT01142050-APGH-001", LBTESTCD="GLUC", VISIT="Baseline", LBLOINC="1558-6"
    )
    assert (glucose["LBORRES"], glucose["LBORRESU"]) == ("176.6", "mg/dL")
    assert (glucose["LBSTNRLO"], glucose["LBSTNRHI"]) == (3.9, 6.0)  # mmol/L, the table's
    assert (glucose["LBORNRLO"], glucose["LBORNRHI"]) == ("70", "108")  # mg/dL, whole numbers
    assert glucose["LBNRIND"] == "HIGH"  # 9.8 mmol/L
    itt = lb[lb["LBCAT"] == "INSULIN TOLERANCE TEST"]
    assert itt["LBNRIND"].isna().all() and itt["LBSTNRLO"].isna().all()  # a challenge
    with_range = lb[lb["LBSTNRHI"].notna()]
    for value, low, high, flag in zip(
        with_range["LBSTRESN"],
        with_range["LBSTNRLO"],
        with_range["LBSTNRHI"],
        with_range["LBNRIND"],
        strict=True,
    ):
        expected = "LOW" if value < low else "HIGH" if value > high else "NORMAL"
        assert flag == expected


def test_a_site_table_replaces_the_default_for_that_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = tmp_path / "ranges.yaml"
    table.write_text(
        "default:\n  hba1c: {unit: '%', high: 5.6}\n"
        "sites:\n  APGH:\n    hba1c: {unit: mmol/mol, low: 20, high: 42}\n",
        encoding="utf-8",
    )
    ranges = load_lab_ranges(table)
    assert ranges.for_site("APGH", "hba1c") == LabRange(unit="mmol/mol", low=20, high=42)
    assert ranges.for_site("OTHER", "hba1c") == LabRange(unit="%", high=5.6)
    monkeypatch.setattr(findings, "default_lab_ranges", lambda: ranges)
    lb = sdtm_datasets(builtin_protocol(), sdtm_sources())["LB"]
    hba1c = lb[(lb["LBTESTCD"] == "HBA1C") & lb["LBSTRESN"].notna()]
    assert len(hba1c) > 0
    # 20-42 mmol/mol in NGSP % (IFCC master equation), at the % reporting precision
    assert set(hba1c["LBSTNRLO"]) == {4.0} and set(hba1c["LBSTNRHI"]) == {6.0}


def test_a_range_table_with_a_reversed_range_is_refused(tmp_path: Path) -> None:
    table = tmp_path / "ranges.yaml"
    table.write_text("default:\n  hba1c: {unit: '%', low: 7, high: 5}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="low 7.0 is above high 5.0"):
        load_lab_ranges(table)


def test_a_unit_that_cannot_express_the_range_leaves_it_empty() -> None:
    element = default_catalogue()["fasting_glucose"]
    lab = default_lab_ranges().for_site(None, "fasting_glucose")
    fields = range_fields(element, lab, orresu="kg", stres=5.0)
    assert (fields["LBORNRLO"], fields["LBORNRHI"]) == (None, None)  # never guessed
    assert (fields["LBSTNRLO"], fields["LBNRIND"]) == (3.9, "NORMAL")

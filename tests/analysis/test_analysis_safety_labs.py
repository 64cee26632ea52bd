"""The safety laboratory is listed in the report (issue #13): every value at scheduled and
unscheduled visits, eGFR by CKD-EPI 2021 from each creatinine, values outside the soft limits
flagged, tests not done with their code and reason; nothing is summarised by visit."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from trialdesk.analysis.datasets import derive_datasets
from trialdesk.analysis.report import build_report
from trialdesk.analysis.results import analyse
from trialdesk.analysis.sources import SourceFrames
from trialdesk.analysis.tables import all_tables
from trialdesk.derive import compute_age
from trialdesk.derive.renal import compute_egfr_ckd_epi_2021
from trialdesk.protocol import Protocol


def _row(
    base: Any, visit: str, day: int, element: str, value: float, *, unit: str
) -> dict[str, Any]:
    return {
        "usubjid": base.usubjid,
        "visit": visit,
        "visit_day": day,
        "date": base.enrolled_on + timedelta(days=day),
        "element": element,
        "value": value,
        "unit": unit,
        "value_as_entered": str(value),
        "unit_as_entered": unit,
    }


def _with_safety_labs(frames: SourceFrames) -> SourceFrames:
    """Participant 1: the panel at baseline, a high ALT at an unscheduled visit; participant 2:
    a creatinine, and platelets not done (clotted sample)."""
    first, second = list(frames.subjects.itertuples(index=False))[:2]
    rows = [
        _row(first, "BL", 0, "alt", 30.0, unit="U/L"),
        _row(first, "BL", 0, "creatinine", 80.0, unit="µmol/L"),
        _row(first, "BL", 0, "haemoglobin", 95.0, unit="g/L"),
        _row(first, "BL", 0, "white_cell_count", 6.1, unit="10^9/L"),
        _row(first, "M1.U01", 45, "alt", 210.0, unit="U/L"),
        _row(second, "BL", 0, "creatinine", 100.0, unit="µmol/L"),
    ]
    missing = pd.DataFrame(
        [
            {
                "usubjid": second.usubjid,
                "visit": "BL",
                "visit_day": 0,
                "date": second.enrolled_on,
                "element": "platelets",
                "code": "ND",
                "reason": "sample clotted",
            }
        ]
    )
    measurements = pd.concat([frames.measurements, pd.DataFrame(rows)], ignore_index=True)
    return SourceFrames(**{**frames.as_dict(), "measurements": measurements, "missing": missing})


def test_adlb_lists_values_egfr_alerts_and_tests_not_done(
    frames: SourceFrames, protocol: Protocol
) -> None:
    changed = _with_safety_labs(frames)
    adlb = derive_datasets(changed, protocol).adlb
    first, second = list(changed.subjects.itertuples(index=False))[:2]
    mine = adlb[adlb["USUBJID"] == first.usubjid]
    assert list(mine["PARAMCD"]) == ["ALT", "CREAT", "EGFR", "HGB", "WBC", "ALT"]
    alt = mine[mine["PARAMCD"] == "ALT"]
    assert list(alt["VISIT"]) == ["BL", "M1.U01"]
    assert list(alt["ALERTFL"].fillna("")) == ["", "HIGH"]
    assert mine.loc[mine["PARAMCD"] == "HGB", "ALERTFL"].item() == "LOW"  # < 100 g/L
    born, on = pd.Timestamp(first.birth_date).date(), pd.Timestamp(first.enrolled_on).date()
    age = compute_age(born, on)
    egfr = mine.loc[mine["PARAMCD"] == "EGFR"].iloc[0]
    assert egfr["AVAL"] == pytest.approx(compute_egfr_ckd_epi_2021(80.0, age, first.sex))
    assert egfr["AVALU"] == "mL/min/1.73 m²"
    not_done = adlb[(adlb["USUBJID"] == second.usubjid) & (adlb["PARAMCD"] == "PLAT")]
    assert not_done[["MISSCD", "MISSREAS"]].values.tolist() == [["ND", "sample clotted"]]
    assert pd.isna(not_done["AVAL"].item())


def test_the_report_lists_the_safety_laboratory(
    frames: SourceFrames, protocol: Protocol, tmp_path: Path
) -> None:
    results = analyse(derive_datasets(_with_safety_labs(frames), protocol), protocol)
    tables = all_tables(results)
    listing = next(t for t in tables if t.key == "lab_safety")
    assert listing.columns == ["Participant", "Visit", "Date", "Test", "Value", "Unit", "Alert"]
    cells = {(r[1], r[3]): r for r in listing.rows}
    assert cells[("M1.U01", "Alanine aminotransferase (ALT)")][4:] == ["210", "U/L", "HIGH"]
    assert cells[("BL", "White cell count (leukocytes)")][4] == "6.1"
    assert cells[("BL", "Platelet count")][4] == "not done (ND): sample clotted"
    html = build_report(_with_safety_labs(frames), protocol, tmp_path).html.read_text("utf-8")
    assert "Listing of safety laboratory values" in html and "sample clotted" in html
    # Without safety labs the study has no such table (not an empty one).
    plain = analyse(derive_datasets(frames, protocol), protocol)
    assert not any(t.key == "lab_safety" for t in all_tables(plain))

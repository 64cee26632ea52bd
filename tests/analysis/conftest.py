"""A small deterministic study (source frames) for the analysis tests.

Independent of the simulator package on purpose: the numbers are simple enough to reason
about, and the structure exercises every path (screen failures, a participant never
transplanted, a withdrawal, a missed visit, insulin independence, SAEs, a pre-treatment AE).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from trialdesk.analysis import SourceFrames
from trialdesk.analysis.report import ReportFiles, ReportOptions, build_report
from trialdesk.protocol import Protocol, builtin_protocol

LAB_VISITS = ("SCR", "BL", "M1", "M3", "M6", "M9", "M12")
ITT_VISITS = ("BL", "M3", "M6", "M12")


def _visit_dates(protocol: Protocol, start: date) -> dict[str, tuple[int, date]]:
    return {v.code: (v.day, start + timedelta(days=v.day)) for v in protocol.schedule}


_LAB_CHANGE_PER_YEAR = {  # multiplied by `effect` for the glycaemic ones
    "hba1c": 1.0,
    "fasting_glucose": 1.5,
    "postmeal_glucose": 2.0,
}
_LAB_UNITS = {
    "hba1c": "%",
    "weight": "kg",
    "fasting_insulin": "µIU/mL",
    "c_peptide": "ng/mL",
    "stimulated_c_peptide": "ng/mL",
}


@dataclass(frozen=True)
class _Visit:
    """One participant's visit: who, which, when and how far through the year."""

    index: int
    usubjid: str
    code: str
    day: int
    when: date

    @property
    def frac(self) -> float:
        return min(max(self.day, 0) / 372, 1.0)

    def row(self) -> dict[str, Any]:
        return {
            "usubjid": self.usubjid,
            "visit": self.code,
            "visit_day": self.day,
            "date": self.when,
        }


def _screen_failures() -> list[dict[str, Any]]:
    failures = [["I5"], ["I4", "E2"], ["I6"], [], [], ["E4"]]
    statuses = ["ineligible", "ineligible", "ineligible", "incomplete", "eligible", "ineligible"]
    return [
        {
            "candidate_id": f"X{k:02d}",
            "screened_on": date(2024, 1, 2),
            "status": status,
            "failed": failed,
            "enrolled": False,
            "usubjid": None,
        }
        for k, (failed, status) in enumerate(zip(failures, statuses, strict=True))
    ]


def _lab_change(element: str, frac: float, effect: float) -> float:
    if element in _LAB_CHANGE_PER_YEAR:
        return _LAB_CHANGE_PER_YEAR[element] * effect * frac
    return {"weight": -1.0 * frac, "c_peptide": 0.2 * frac}.get(element, 0.0)


def _lab_rows(
    visit: _Visit, base: dict[str, float], effect: float, rng: np.random.Generator
) -> list[dict[str, Any]]:
    rows = []
    for element, value in base.items():
        if element == "stimulated_c_peptide" and visit.code not in ITT_VISITS:
            continue
        if element == "postmeal_glucose" and visit.code == "SCR":
            continue
        change = _lab_change(element, visit.frac, effect)
        noisy = value + change + rng.normal(0, 0.25 if element != "weight" else 0.8)
        unit = _LAB_UNITS.get(element, "mmol/L")
        rows.append(
            visit.row()
            | {
                "element": element,
                "value": round(noisy, 2),
                "unit": unit,
                "value_as_entered": f"{noisy:.2f}",
                "unit_as_entered": unit,
            }
        )
    if visit.code == "SCR":
        rows.append(
            visit.row()
            | {
                "element": "diabetes_duration",
                "value": 5.0 + visit.index,
                "unit": "year",
                "value_as_entered": None,
                "unit_as_entered": None,
            }
        )
    return rows


def _itt_rows(
    visit: _Visit, g0: float, kitt0: float, rng: np.random.Generator
) -> list[dict[str, Any]]:
    k = (kitt0 + 0.8 * visit.frac + rng.normal(0, 0.1)) / 100
    rows = []
    for minute in (0, 3, 6, 9, 12, 15):
        glucose = g0 * math.exp(-k * max(minute - 1, 0)) * (1 + rng.normal(0, 0.005))
        rows.append(
            {
                "usubjid": visit.usubjid,
                "visit": visit.code,
                "date": visit.when,
                "minute": float(minute),
                "glucose_mmol_l": glucose,
            }
        )
    return rows


def _dosing_row(visit: _Visit, weight: float) -> dict[str, Any]:
    i, frac = visit.index, visit.frac
    insulin0 = 40.0 + 2 * i
    dose = insulin0 * (1 - 0.6 * frac) if i != 5 else (0.0 if visit.day > 100 else insulin0)
    return visit.row() | {
        "insulin_u_per_day": round(dose, 1),
        "ogld_ddd": 1.0 if frac < 0.5 else 0.5,
        "weight_kg": weight - frac if visit.code != "M9" else None,
    }


def _subject_row(i: int, dates: dict[str, tuple[int, date]]) -> dict[str, Any]:
    transplanted = i != 1  # S02 enrolled but never transplanted
    withdrawn = i == 2  # S03 withdraws after month 3
    status = "withdrawn" if withdrawn else ("completed" if transplanted else "withdrawn")
    return {
        "usubjid": f"S{i + 1:02d}",
        "site": "APGH",
        "sex": "F" if i % 3 == 0 else "M",
        "birth_date": date(1965 + i, 3, 1),
        "age": math.nan,
        "height_cm": 160.0 + i,
        "enrolled_on": dates["SCR"][1],
        "transplanted_on": dates["TX"][1] if transplanted else None,
        "status": status,
        "end_on": dates["M3"][1] if withdrawn else dates["M12"][1],
        "end_reason": "Withdrawal by subject"
        if withdrawn
        else (None if transplanted else "Not transplanted: infection"),
    }


def _missed(i: int, code: str, day: int) -> bool:
    """S03 withdraws after month 3, S02 is never transplanted, S05 misses month 6."""
    return (i == 2 and day > 97) or (i == 1 and day > 0) or (i == 4 and code == "M6")


def make_frames(n_subjects: int = 12, seed: int = 7, effect: float = -1.0) -> SourceFrames:
    """`n_subjects` enrolled (S01..), 6 screen failures, HbA1c falling by `effect` over a year."""
    protocol = builtin_protocol()
    rng = np.random.default_rng(seed)
    screening = _screen_failures()
    subjects: list[dict[str, Any]] = []
    measurements: list[dict[str, Any]] = []
    itt: list[dict[str, Any]] = []
    dosing: list[dict[str, Any]] = []
    for i in range(n_subjects):
        usubjid = f"S{i + 1:02d}"
        dates = _visit_dates(protocol, date(2024, 2, 1) + timedelta(days=3 * i))
        screening.append(
            {
                "candidate_id": f"C{i:02d}",
                "screened_on": dates["SCR"][1],
                "status": "eligible",
                "failed": [],
                "enrolled": True,
                "usubjid": usubjid,
            }
        )
        subjects.append(_subject_row(i, dates))
        base = {
            "hba1c": 8.5 + 0.1 * i,
            "fasting_glucose": 9.0 + 0.2 * (i % 5),
            "postmeal_glucose": 14.0 + 0.3 * (i % 4),
            "fasting_insulin": 12.0 + i % 6,
            "c_peptide": 1.2 + 0.05 * i,
            "stimulated_c_peptide": 2.4 + 0.1 * (i % 3),
            "weight": 70.0 + i,
        }
        for code in LAB_VISITS:
            day, when = dates[code]
            if _missed(i, code, day):
                continue
            visit = _Visit(index=i, usubjid=usubjid, code=code, day=day, when=when)
            measurements.extend(_lab_rows(visit, base, effect, rng))
            if code in ITT_VISITS:
                itt.extend(_itt_rows(visit, base["fasting_glucose"], 1.6 + 0.05 * i, rng))
            if code != "SCR":
                dosing.append(_dosing_row(visit, base["weight"]))
    aes = [
        {
            "usubjid": "S01",
            "ae_id": "AE1",
            "term": "Headache",
            "onset": date(2024, 2, 20),
            "resolved": date(2024, 2, 22),
            "grade": 1,
            "serious": False,
            "seriousness": [],
            "related": "possible",
            "outcome": "recovered",
            "action": "none",
        },
        {
            "usubjid": "S01",
            "ae_id": "AE2",
            "term": "Hypoglycaemia",
            "onset": date(2024, 5, 1),
            "resolved": date(2024, 5, 1),
            "grade": 3,
            "serious": True,
            "seriousness": ["hospitalisation"],
            "related": "probable",
            "outcome": "recovered",
            "action": "dose reduced",
        },
        {
            "usubjid": "S04",
            "ae_id": "AE3",
            "term": "Fever",
            "onset": date(2024, 2, 20),
            "resolved": None,
            "grade": 2,
            "serious": False,
            "seriousness": [],
            "related": "unlikely",
            "outcome": "recovering",
            "action": "none",
        },
        {
            "usubjid": "S04",
            "ae_id": "AE4",
            "term": "Pneumonia",
            "onset": date(2024, 7, 1),
            "resolved": date(2024, 7, 20),
            "grade": 3,
            "serious": True,
            "seriousness": ["hospitalisation", "important_medical_event"],
            "related": "not related",
            "outcome": "recovered",
            "action": "none",
        },
        {
            "usubjid": "S05",
            "ae_id": "AE5",
            "term": "Headache",
            "onset": date(2024, 3, 1),
            "resolved": date(2024, 3, 2),
            "grade": 2,
            "serious": False,
            "seriousness": [],
            "related": "possible",
            "outcome": "recovered",
            "action": "none",
        },
        {
            "usubjid": "S01",
            "ae_id": "AE0",
            "term": "Nausea",
            "onset": date(2024, 1, 10),
            "resolved": date(2024, 1, 11),
            "grade": 1,
            "serious": False,
            "seriousness": [],
            "related": "not related",
            "outcome": "recovered",
            "action": "none",
        },
    ]
    return SourceFrames(
        screening=pd.DataFrame(screening),
        subjects=pd.DataFrame(subjects),
        measurements=pd.DataFrame(measurements),
        itt=pd.DataFrame(itt),
        dosing=pd.DataFrame(dosing),
        adverse_events=pd.DataFrame(aes),
    )


@pytest.fixture(scope="session")
def protocol() -> Protocol:
    return builtin_protocol()


@pytest.fixture(scope="session")
def frames() -> SourceFrames:
    return make_frames()


@pytest.fixture(scope="session")
def frames_factory():  # type: ignore[no-untyped-def]
    return make_frames


#: How the shared report's data were made (the simulated-data mark on every output).
SIMULATED_HOW = "virtual cohort of 40 candidates, seed 5, assumed treatment effect: moderate"


@pytest.fixture(scope="session")
def simulated_report(
    frames: SourceFrames, protocol: Protocol, tmp_path_factory: pytest.TempPathFactory
) -> ReportFiles:
    """One report of `frames` marked as simulated, read by the modules that check its files
    (test_analysis_tlf, test_analysis_simulated_label): building it takes ~15 s."""
    return build_report(
        frames,
        protocol,
        tmp_path_factory.mktemp("report"),
        options=ReportOptions(simulated=SIMULATED_HOW),
    )

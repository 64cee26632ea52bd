"""A small deterministic study (source frames) for the analysis tests.

Independent of the simulator package on purpose: the numbers are simple enough to reason
about, and the structure exercises every path (screen failures, a participant never
transplanted, a withdrawal, a missed visit, insulin independence, SAEs, a pre-treatment AE).
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from trialdesk.analysis import SourceFrames
from trialdesk.protocol import Protocol, builtin_protocol

LAB_VISITS = ("SCR", "BL", "M1", "M3", "M6", "M9", "M12")
ITT_VISITS = ("BL", "M3", "M6", "M12")


def _visit_dates(protocol: Protocol, start: date) -> dict[str, tuple[int, date]]:
    return {v.code: (v.day, start + timedelta(days=v.day)) for v in protocol.schedule}


def make_frames(n_subjects: int = 12, seed: int = 7, effect: float = -1.0) -> SourceFrames:
    """`n_subjects` enrolled (S01..), 6 screen failures, HbA1c falling by `effect` over a year."""
    protocol = builtin_protocol()
    rng = np.random.default_rng(seed)
    screening, subjects, measurements, itt, dosing, aes = [], [], [], [], [], []
    failures = [["I5"], ["I4", "E2"], ["I6"], [], [], ["E4"]]
    statuses = ["ineligible", "ineligible", "ineligible", "incomplete", "eligible", "ineligible"]
    for k, (failed, status) in enumerate(zip(failures, statuses, strict=True)):
        screening.append(
            {
                "candidate_id": f"X{k:02d}",
                "screened_on": date(2024, 1, 2),
                "status": status,
                "failed": failed,
                "enrolled": False,
                "usubjid": None,
            }
        )
    for i in range(n_subjects):
        usubjid = f"S{i + 1:02d}"
        start = date(2024, 2, 1) + timedelta(days=3 * i)
        dates = _visit_dates(protocol, start)
        transplanted = i != 1  # S02 enrolled but never transplanted
        withdrawn = i == 2  # S03 withdraws after month 3
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
        status = "withdrawn" if withdrawn else ("completed" if transplanted else "withdrawn")
        subjects.append(
            {
                "usubjid": usubjid,
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
        )
        base = {
            "hba1c": 8.5 + 0.1 * i,
            "fasting_glucose": 9.0 + 0.2 * (i % 5),
            "postmeal_glucose": 14.0 + 0.3 * (i % 4),
            "fasting_insulin": 12.0 + i % 6,
            "c_peptide": 1.2 + 0.05 * i,
            "stimulated_c_peptide": 2.4 + 0.1 * (i % 3),
            "weight": 70.0 + i,
        }
        kitt0 = 1.6 + 0.05 * i
        insulin0 = 40.0 + 2 * i
        for code in LAB_VISITS:
            day, when = dates[code]
            if (
                withdrawn
                and day > 97
                or (not transplanted and day > 0)
                or (i == 4 and code == "M6")
            ):
                continue
            frac = min(max(day, 0) / 372, 1.0)
            for element, value in base.items():
                if element == "stimulated_c_peptide" and code not in ITT_VISITS:
                    continue
                if element == "postmeal_glucose" and code == "SCR":
                    continue
                change = {
                    "hba1c": effect * frac,
                    "fasting_glucose": 1.5 * effect * frac,
                    "postmeal_glucose": 2 * effect * frac,
                    "weight": -1.0 * frac,
                    "c_peptide": 0.2 * frac,
                }.get(element, 0.0)
                noisy = value + change + rng.normal(0, 0.25 if element != "weight" else 0.8)
                unit = {
                    "hba1c": "%",
                    "weight": "kg",
                    "fasting_insulin": "µIU/mL",
                    "c_peptide": "ng/mL",
                    "stimulated_c_peptide": "ng/mL",
                }.get(element, "mmol/L")
                measurements.append(
                    {
                        "usubjid": usubjid,
                        "visit": code,
                        "visit_day": day,
                        "date": when,
                        "element": element,
                        "value": round(noisy, 2),
                        "unit": unit,
                        "value_as_entered": f"{noisy:.2f}",
                        "unit_as_entered": unit,
                    }
                )
            if code == "SCR":
                measurements.append(
                    {
                        "usubjid": usubjid,
                        "visit": code,
                        "visit_day": day,
                        "date": when,
                        "element": "diabetes_duration",
                        "value": 5.0 + i,
                        "unit": "year",
                        "value_as_entered": None,
                        "unit_as_entered": None,
                    }
                )
            if code in ITT_VISITS:
                k = (kitt0 + 0.8 * frac + rng.normal(0, 0.1)) / 100
                g0 = base["fasting_glucose"]
                for minute in (0, 3, 6, 9, 12, 15):
                    glucose = g0 * math.exp(-k * max(minute - 1, 0)) * (1 + rng.normal(0, 0.005))
                    itt.append(
                        {
                            "usubjid": usubjid,
                            "visit": code,
                            "date": when,
                            "minute": float(minute),
                            "glucose_mmol_l": glucose,
                        }
                    )
            if code != "SCR":
                dose = insulin0 * (1 - 0.6 * frac) if i != 5 else (0.0 if day > 100 else insulin0)
                dosing.append(
                    {
                        "usubjid": usubjid,
                        "visit": code,
                        "visit_day": day,
                        "date": when,
                        "insulin_u_per_day": round(dose, 1),
                        "ogld_ddd": 1.0 if frac < 0.5 else 0.5,
                        "weight_kg": base["weight"] - frac if code != "M9" else None,
                    }
                )
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

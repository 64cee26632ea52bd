"""The pre-screening rules on hand-made OMOP rows: unit conversion at reporting precision,
inclusive bounds, most recent value, look-back, hard limits, closed-world coding, Kleene logic."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from trialdesk.prescreen.plan import Settings, build_plan
from trialdesk.prescreen.query import AT_VISIT, build_query
from trialdesk.prescreen.records import evaluate_people, read_tables, truths
from trialdesk.prescreen.source import SourceError, open_duckdb
from trialdesk.protocol import builtin_protocol

INDEX = date(2025, 6, 30)
FPG, HBA1C, WEIGHT, HEIGHT = 3037110, 3004410, 3025315, 3036277
MMOL_L, MG_DL, PERCENT, MMOL_MOL, KG, LB, CM = 8753, 8840, 8554, 9579, 9529, 8739, 8582


def _person(
    pid: int,
    born: date | None = date(1970, 3, 1),
    sex: int = 8507,
    year: int | None = None,
    month: int | None = None,
) -> dict[str, Any]:
    if born is None:
        return {
            "person_id": pid,
            "gender_concept_id": sex,
            "year_of_birth": year,
            "month_of_birth": month,
            "day_of_birth": None,
            "birth_datetime": None,
        }
    return {
        "person_id": pid,
        "gender_concept_id": sex,
        "year_of_birth": born.year,
        "month_of_birth": born.month,
        "day_of_birth": born.day,
        "birth_datetime": None,
    }


def _cdm(
    tmp_path: Path,
    persons: list[dict[str, Any]],
    measurements: list[tuple[Any, ...]],
    conditions: list[tuple[int, int, date]] = (),
    drugs: list[tuple[int, int, date, date]] = (),
) -> Path:
    ids = [p["person_id"] for p in persons]
    tables = {
        "person": pa.Table.from_pylist(
            persons,
            schema=pa.schema(
                [
                    ("person_id", pa.int64()),
                    ("gender_concept_id", pa.int32()),
                    ("year_of_birth", pa.int32()),
                    ("month_of_birth", pa.int32()),
                    ("day_of_birth", pa.int32()),
                    ("birth_datetime", pa.timestamp("s")),
                ]
            ),
        ),
        "observation_period": pa.table(
            {
                "observation_period_id": ids,
                "person_id": ids,
                "observation_period_start_date": pa.array([date(2015, 1, 1)] * len(ids)),
                "observation_period_end_date": pa.array([INDEX] * len(ids)),
            }
        ),
        "measurement": pa.table(
            {
                "measurement_id": pa.array([i + 1 for i in range(len(measurements))], pa.int64()),
                "person_id": pa.array([m[0] for m in measurements], pa.int64()),
                "measurement_concept_id": pa.array([m[1] for m in measurements], pa.int32()),
                "measurement_date": pa.array([m[2] for m in measurements], pa.date32()),
                "value_as_number": pa.array([m[3] for m in measurements], pa.float64()),
                "unit_concept_id": pa.array([m[4] for m in measurements], pa.int32()),
            }
        ),
        "condition_occurrence": pa.table(
            {
                "person_id": pa.array([c[0] for c in conditions], pa.int64()),
                "condition_concept_id": pa.array([c[1] for c in conditions], pa.int32()),
                "condition_start_date": pa.array([c[2] for c in conditions], pa.date32()),
            }
        ),
        "drug_exposure": pa.table(
            {
                "person_id": pa.array([d[0] for d in drugs], pa.int64()),
                "drug_concept_id": pa.array([d[1] for d in drugs], pa.int32()),
                "drug_exposure_start_date": pa.array([d[2] for d in drugs], pa.date32()),
                "drug_exposure_end_date": pa.array([d[3] for d in drugs], pa.date32()),
            }
        ),
    }
    path = tmp_path / "tiny.duckdb"
    with duckdb.connect(str(path)) as db:
        for name, table in tables.items():
            db.register("incoming", table)
            db.execute(f'CREATE TABLE "{name}" AS SELECT * FROM incoming')
            db.unregister("incoming")
    return path


def _run(path: Path, lookback: int = 365) -> dict[int, dict[str, Any]]:
    source = open_duckdb(path)
    try:
        plan = build_plan(builtin_protocol(), Settings(INDEX, lookback), source.descendants)
        rows = source.to_pyarrow(build_query(source, plan).table).to_pylist()
        with duckdb.connect(str(path), read_only=True) as con:
            reference = evaluate_people(read_tables(con), plan)
    finally:
        source.close()
    out = {int(r["person_id"]): r for r in rows}
    for pid, result in reference.items():  # every case also agrees with the Evaluator
        expected = {
            k: {True: "met", False: "not met", None: "not assessable"}[v]
            for k, v in truths(result, plan).items()
        }
        assert {k: out[pid][k] for k in expected} == expected, pid
    return out


D = date(2025, 5, 1)


@pytest.mark.parametrize(
    ("value", "unit", "verdict"),
    [
        (126, MG_DL, "met"),  # WHO 1999: 7.0 mmol/L is tabulated as 126 mg/dL
        (125, MG_DL, "not met"),
        (6.95, MMOL_L, "met"),  # rounds to 7.0 at 1 decimal (as reported)
        (6.94, MMOL_L, "not met"),
    ],
)
def test_fasting_glucose_threshold_in_the_recorded_unit(
    tmp_path: Path, value: float, unit: int, verdict: str
) -> None:
    path = _cdm(tmp_path, [_person(1)], [(1, FPG, D, value, unit), (1, HBA1C, D, 8.0, PERCENT)])
    assert _run(path)[1]["I5"] == verdict


@pytest.mark.parametrize(
    ("value", "unit", "verdict"),
    [
        (53, MMOL_MOL, "met"),  # IFCC 10.93 × 7 − 23.5 = 53.01 → 53
        (52, MMOL_MOL, "not met"),
        (7.0, PERCENT, "met"),
        (6.9, PERCENT, "not met"),
    ],
)
def test_hba1c_percent_and_ifcc(tmp_path: Path, value: float, unit: int, verdict: str) -> None:
    path = _cdm(tmp_path, [_person(1)], [(1, FPG, D, 8.0, MMOL_L), (1, HBA1C, D, value, unit)])
    assert _run(path)[1]["I5"] == verdict


@pytest.mark.parametrize(
    ("kg", "cm", "verdict"),
    [
        (86.7, 170.0, "met"),  # 30.0 kg/m² (30.0 exactly at 1 decimal): inclusive
        (86.9, 170.0, "not met"),  # 30.07 → 30.1
        (54.9, 170.0, "met"),  # 19.0
        (54.7, 170.0, "not met"),  # 18.9
    ],
)
def test_bmi_bounds_inclusive(tmp_path: Path, kg: float, cm: float, verdict: str) -> None:
    path = _cdm(tmp_path, [_person(1)], [(1, WEIGHT, D, kg, KG), (1, HEIGHT, D, cm, CM)])
    assert _run(path)[1]["I4"] == verdict


def test_bmi_from_pounds_and_age_at_birthday(tmp_path: Path) -> None:
    persons = [
        _person(1, date(1950, 6, 30)),
        _person(2, date(1950, 7, 1)),
        _person(3, date(2007, 6, 30)),
        _person(4, None, year=1960, month=None),
    ]
    path = _cdm(tmp_path, persons, [(1, WEIGHT, D, 165, LB), (1, HEIGHT, D, 170, CM)])
    rows = _run(path)
    assert rows[1]["age"] == 75 and rows[1]["I3"] == "met"  # 75th birthday on the index date
    assert rows[2]["age"] == 74
    assert rows[3]["age"] == 18 and rows[3]["I3"] == "met"
    assert rows[4]["age"] == 64  # year only: born "1 July 1960" (imputed), not yet 65
    assert rows[1]["weight_kg"] == pytest.approx(165 * 0.45359237)
    assert rows[1]["bmi"] == pytest.approx(165 * 0.45359237 / 1.7**2)


def test_most_recent_value_in_window_and_hard_limits(tmp_path: Path) -> None:
    measurements = [
        (1, FPG, date(2025, 1, 1), 9.0, MMOL_L),
        (1, FPG, date(2025, 3, 1), 6.0, MMOL_L),  # most recent usable: 6.0
        (1, FPG, date(2025, 4, 1), 130, MMOL_L),  # mg/dL labelled mmol/L: above 60, dropped
        (1, FPG, date(2025, 5, 1), 8.0, 0),  # unknown unit: dropped
        (1, FPG, date(2025, 6, 1), None, MMOL_L),  # no value: dropped
        (2, FPG, date(2024, 6, 29), 9.0, MMOL_L),  # one day before the 365-day window
        (3, FPG, date(2024, 6, 30), 9.0, MMOL_L),  # first day of the window
    ]
    rows = _run(_cdm(tmp_path, [_person(1), _person(2), _person(3)], measurements))
    assert rows[1]["fasting_glucose_value"] == 6.0
    assert rows[1]["fasting_glucose_date"] == date(2025, 3, 1)
    assert rows[2]["fasting_glucose_value"] is None and rows[2]["I2"] == "not assessable"
    assert rows[3]["fasting_glucose_value"] == 9.0 and rows[3]["I2"] == "met"


def test_coded_conditions_drugs_and_kleene(tmp_path: Path) -> None:
    conditions = [
        (1, 201826, date(2010, 1, 1)),  # T2DM long ago: history counts
        (2, 439727, date(2020, 1, 1)),  # HIV
        (3, 255848, date(2025, 6, 10)),  # pneumonia 20 days ago
        (4, 255848, date(2025, 5, 1)),
    ]  # pneumonia 60 days ago: not active
    drugs = [
        (1, 1502905, date(2025, 1, 1), date(2025, 3, 31)),  # insulin in the look-back
        (2, 1502905, date(2023, 1, 1), date(2023, 3, 31)),
    ]  # stopped two years ago
    rows = _run(_cdm(tmp_path, [_person(i) for i in (1, 2, 3, 4)], [], conditions, drugs))
    assert rows[1]["I2"] == "met" and rows[1]["P1"] == "met"
    assert rows[2]["P1"] == "not met"
    # E4 is judged on its EHR part (HIV, hepatitis B/C); "other" is checked at the visit
    assert rows[2]["E4"] == "met" and rows[1]["E4"] == "not met"
    assert "E4: Other known immunosuppressive disease" in rows[1]["check_at_visit"]
    assert rows[3]["E2"] == "met" and rows[4]["E2"] == "not met"
    assert rows[1]["I1"] == AT_VISIT and rows[1]["I6"] == AT_VISIT
    assert rows[2]["status"] == "excluded"


def test_ranking_fewest_failed_then_most_assessable(tmp_path: Path) -> None:
    full = [
        (1, FPG, D, 9.0, MMOL_L),
        (1, HBA1C, D, 8.0, PERCENT),
        (1, WEIGHT, D, 70, KG),
        (1, HEIGHT, D, 170, CM),
    ]
    partial = [(2, FPG, D, 9.0, MMOL_L)]
    failing = [(3, FPG, D, 5.0, MMOL_L), (3, HBA1C, D, 5.0, PERCENT)]
    insulin = [(p, 1502905, date(2025, 1, 1), date(2025, 6, 30)) for p in (1, 2, 3)]
    rows = _run(
        _cdm(
            tmp_path, [_person(3), _person(2), _person(1)], full + partial + failing, drugs=insulin
        )
    )
    order = sorted(rows, key=lambda p: rows[p]["rank"])
    assert order == [1, 2, 3]
    assert rows[1]["failed"] == 0 and rows[1]["assessable"] > rows[2]["assessable"]
    assert rows[3]["status"] == "excluded" and rows[1]["status"] == "candidate"
    assert rows[2]["status"] == "incomplete"


def test_missing_table_is_named(tmp_path: Path) -> None:
    path = tmp_path / "empty.duckdb"
    with duckdb.connect(str(path)) as db:
        db.execute("CREATE TABLE person (person_id BIGINT)")
    with pytest.raises(SourceError, match="missing OMOP table"):
        open_duckdb(path)
    with pytest.raises(SourceError, match="no such"):
        open_duckdb(tmp_path / "nowhere.duckdb")


def test_birth_datetime_wins(tmp_path: Path) -> None:
    person = _person(1, date(1980, 1, 1)) | {"birth_datetime": datetime(1990, 12, 31, 8, 0)}
    assert _run(_cdm(tmp_path, [person], []))[1]["age"] == 34


T1DM_CODE, T2DM_CODE, INSULIN = 201254, 201826, 1502905
FULL = [(FPG, D, 9.0, MMOL_L), (HBA1C, D, 8.0, PERCENT), (WEIGHT, D, 70, KG), (HEIGHT, D, 170, CM)]


def _measured(pid: int, rows: list[tuple[Any, ...]] = FULL) -> list[tuple[Any, ...]]:
    return [(pid, *row) for row in rows]


@pytest.mark.parametrize(
    ("codes", "diabetes_type", "i2"),
    [
        ((), "unknown", "met"),  # FPG 9.0 establishes diabetes; no type coded
        ((T2DM_CODE,), "type_2", "met"),
        ((T1DM_CODE,), "type_1", "not met"),  # issue #16: type 1 with a high FPG is not I2
        ((T2DM_CODE, T1DM_CODE), "type_1", "not met"),  # as the OHDSI T2DM phenotype excludes
    ],
)
def test_i2_diabetes_type_from_codes_agrees_with_the_evaluator(
    tmp_path: Path, codes: tuple[int, ...], diabetes_type: str, i2: str
) -> None:
    conditions = [(1, code, date(2015 + n, 1, 1)) for n, code in enumerate(codes)]
    drugs = [(1, INSULIN, date(2025, 1, 1), date(2025, 6, 30))]
    rows = _run(_cdm(tmp_path, [_person(1)], _measured(1), conditions, drugs))
    assert rows[1]["diabetes_type"] == diabetes_type and rows[1]["I2"] == i2
    if codes:  # the date shown is the coded diagnosis that decided the type
        decided = {T1DM_CODE: "type_1", T2DM_CODE: "type_2"}
        day = next(c[2] for c in conditions if decided[c[1]] == diabetes_type)
        assert rows[1]["diabetes_type_date"] == day


def test_what_the_site_is_told_per_status(tmp_path: Path) -> None:
    """candidate: all EHR-assessable parts met, plus what the visit must check; incomplete:
    the missing elements by name; excluded: the failed criteria by id."""
    insulin = [(p, INSULIN, date(2024, 11, 3), date(2025, 12, 31)) for p in (1, 2, 3)]
    no_hba1c = [row for row in FULL if row[0] != HBA1C]
    low_fpg = [(FPG, D, 5.0, MMOL_L), *FULL[1:]]
    rows = _run(
        _cdm(
            tmp_path,
            [_person(1), _person(2), _person(3, born=date(1940, 1, 1))],
            _measured(1) + _measured(2, no_hba1c) + _measured(3, low_fpg),
            [(3, 439727, date(2020, 1, 1))],  # HIV
            insulin,
        )
    )
    candidate, incomplete, excluded = rows[1], rows[2], rows[3]
    assert candidate["status"] == "candidate" and candidate["failed_criteria"] == ""
    visit = candidate["check_at_visit"]
    for part in ("I1 (whole criterion)", "I6 (whole criterion)", "E3 (whole criterion)"):
        assert part in visit
    assert "I2: 2-hour plasma glucose, 75 g OGTT" in visit
    assert incomplete["status"] == "incomplete" and incomplete["missing"] == "hba1c"
    assert incomplete["I5"] == "not assessable"
    assert excluded["status"] == "excluded"
    # no T2DM code and FPG 5.0 (I2, the OGTT part is for the visit), age 85, HIV
    assert excluded["failed_criteria"] == "I2, I3, I5, E4"
    # evidence dates: the exposure start and the measurement date, never the index date
    assert candidate["insulin_treated_date"] == date(2024, 11, 3)
    assert candidate["hba1c_date"] == D and candidate["fasting_glucose_date"] == D


def test_a_file_from_a_newer_duckdb_says_which_version_is_needed(tmp_path: Path) -> None:
    """The words DuckDB 1.5 uses for a file written by DuckDB 2.0 (storage version 69)."""
    from trialdesk.prescreen.source import SUPPORTED_DUCKDB, duckdb_open_problem

    newer = duckdb.IOException(
        "IO Error: Trying to read a database file with version number 69, but we can only "
        "read versions between 64 and 68.\nThe database file was created with a newer "
        "version of DuckDB."
    )
    text = duckdb_open_problem(tmp_path / "ehr.duckdb", newer)
    assert f"written by a newer DuckDB than the {duckdb.__version__} installed here" in text
    assert SUPPORTED_DUCKDB in text and "EXPORT DATABASE" in text
    garbage = tmp_path / "not.duckdb"
    garbage.write_text("hello", "utf-8")
    with pytest.raises(SourceError, match="not a DuckDB database"):
        open_duckdb(garbage)

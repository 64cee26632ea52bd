"""The per-person path: raw candidate records built from OMOP rows, one person at a time, and
evaluated by `trialdesk.eligibility.Evaluator` (the in-memory evaluator of the screening visit).

It applies the rules of `prescreen.features` with plain Python (units through
`trialdesk.units.convert`, one value at a time). It is the reference the Ibis query is tested
against, and the per-person baseline of the benchmark.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import pyarrow as pa

from trialdesk.eligibility import EligibilityResult, Evaluator, Truth, coerce_record
from trialdesk.prescreen.features import (
    IMPUTED_BIRTH_DAY_NO_MONTH,
    IMPUTED_BIRTH_DAY_OF_MONTH,
    IMPUTED_BIRTH_MONTH,
    RECENCY_SCALE,
)
from trialdesk.prescreen.mapping import GENDER_CONCEPTS
from trialdesk.prescreen.plan import INDEX_ELEMENT, CodedElement, MeasuredElement, Plan
from trialdesk.units.convert import convert, quantity

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "person": (
        "person_id",
        "gender_concept_id",
        "year_of_birth",
        "month_of_birth",
        "day_of_birth",
        "birth_datetime",
    ),
    "observation_period": (
        "person_id",
        "observation_period_start_date",
        "observation_period_end_date",
    ),
    "measurement": (
        "person_id",
        "measurement_id",
        "measurement_concept_id",
        "measurement_date",
        "value_as_number",
        "unit_concept_id",
    ),
    "condition_occurrence": ("person_id", "condition_concept_id", "condition_start_date"),
    "drug_exposure": (
        "person_id",
        "drug_concept_id",
        "drug_exposure_start_date",
        "drug_exposure_end_date",
    ),
}


Row = dict[str, Any]


def _day(value: Any) -> date | None:
    return value.date() if isinstance(value, datetime) else value


def _present(value: Any) -> bool:
    return value is not None


@lru_cache(maxsize=65536)
def _canonical(value: float, unit: str, canonical_unit: str, analyte: str | None) -> float:
    return float(
        convert(quantity(value, unit, analyte=analyte), canonical_unit, analyte=analyte).magnitude
    )


def population_ids(periods: list[Row], plan: Plan) -> list[int]:
    s = plan.settings
    found = set()
    for row in periods:
        start = _day(row["observation_period_start_date"])
        end = _day(row["observation_period_end_date"])
        if (
            start is not None
            and end is not None
            and start <= s.index_date
            and end >= s.window_start
        ):
            found.add(int(row["person_id"]))
    return sorted(found)


def date_of_birth(row: Mapping[str, Any]) -> date:
    """birth_datetime, else year/month/day with the imputations of `prescreen.features`."""
    if _present(row.get("birth_datetime")):
        stamp = row["birth_datetime"]
        return stamp.date() if hasattr(stamp, "date") else stamp  # type: ignore[no-any-return]
    year = int(row["year_of_birth"])
    if not _present(row.get("month_of_birth")):
        return date(year, IMPUTED_BIRTH_MONTH, IMPUTED_BIRTH_DAY_NO_MONTH)
    day = row.get("day_of_birth")
    return date(
        year, int(row["month_of_birth"]), IMPUTED_BIRTH_DAY_OF_MONTH if day is None else int(day)
    )


def _latest(rows: list[Row], element: MeasuredElement, plan: Plan) -> tuple[Any, str]:
    """(value, unit) of the most recent usable measurement, or (None, "")."""
    spec = plan.catalogue[element.name]
    units = {u.unit_concept_id: u.unit for u in element.units}
    best: tuple[date, int] | None = None
    found: tuple[Any, str] = (None, "")
    for row in rows:
        day = _day(row["measurement_date"])
        unit = units.get(row["unit_concept_id"]) if _present(row["unit_concept_id"]) else None
        if (
            row["measurement_concept_id"] not in element.concept_ids
            or unit is None
            or not _present(row["value_as_number"])
            or day is None
            or not element.start <= day <= plan.settings.index_date
        ):
            continue
        value = float(row["value_as_number"])
        canonical = _canonical(value, unit, spec.canonical_unit or "", spec.analyte)
        low = element.hard_low if element.hard_low is not None else float("-inf")
        high = element.hard_high if element.hard_high is not None else float("inf")
        if not low <= canonical <= high:
            continue
        key = (day, int(row["measurement_id"]) % RECENCY_SCALE)
        if best is None or key > best:
            best, found = key, (value, unit)
    return found


def _coded(rows: list[Row], element: CodedElement, plan: Plan) -> bool:
    index = plan.settings.index_date
    start = element.start or date.min
    for row in rows:
        if element.domain == "condition":
            concept, first = row["condition_concept_id"], _day(row["condition_start_date"])
            last = first
        else:
            concept, first = row["drug_concept_id"], _day(row["drug_exposure_start_date"])
            last = _day(row["drug_exposure_end_date"]) or first
        if (
            concept in element.concept_ids
            and first is not None
            and last is not None
            and (first <= index and last >= start)
        ):
            return True
    return False


def raw_record(person: Row, rows: Mapping[str, list[Row]], plan: Plan) -> dict[str, Any]:
    """The raw record the Evaluator takes ("value" + "<name>_unit" keys), for one person."""
    raw: dict[str, Any] = {"screening_date": plan.settings.index_date.isoformat()}
    for name, source in plan.person.items():
        if source == "person_sex":
            sex = GENDER_CONCEPTS.get(int(person["gender_concept_id"]))
            if sex:
                raw[name] = sex
        else:
            raw[name] = date_of_birth(person).isoformat()
    for name, element in plan.measured.items():
        value, unit = _latest(rows.get("measurement", []), element, plan)
        if value is not None:
            raw[name], raw[f"{name}_unit"] = value, unit
    for name, coded in plan.coded.items():
        table = "condition_occurrence" if coded.domain == "condition" else "drug_exposure"
        raw[name] = _coded(rows.get(table, []), coded, plan)
    for name, category in plan.categories.items():
        chosen = [choice for choice, part in category.choices if raw.pop(part)]
        value = chosen[0] if chosen else category.otherwise
        if value is not None:
            raw[name] = value
    return raw


def person_rows(
    tables: Mapping[str, list[Row]], plan: Plan
) -> Iterator[tuple[int, Row, dict[str, list[Row]]]]:
    """(person_id, person row, that person's rows per table) for the population."""
    people = {int(r["person_id"]): r for r in tables["person"]}
    grouped: dict[str, dict[int, list[Row]]] = {}
    for name in ("measurement", "condition_occurrence", "drug_exposure"):
        groups: dict[int, list[Row]] = defaultdict(list)
        for row in tables[name]:
            groups[int(row["person_id"])].append(row)
        grouped[name] = groups
    for pid in population_ids(tables["observation_period"], plan):
        if pid in people:
            yield pid, people[pid], {name: g.get(pid, []) for name, g in grouped.items()}


def evaluate_people(tables: Mapping[str, list[Row]], plan: Plan) -> dict[int, EligibilityResult]:
    """Evaluator results per person, from raw records built one person at a time."""
    evaluator = Evaluator(plan.protocol, plan.catalogue)
    out = {}
    for pid, person, rows in person_rows(tables, plan):
        # Not `evaluate`: coded EHR data may hold both a type 2 and a type 1 diagnosis, which
        # a typed record may not (`eligibility.values.check_record`); the element map's
        # priority (type 1 first) has already resolved it, as the compiled query does.
        values = coerce_record(plan.catalogue, raw_record(person, rows, plan))
        values.setdefault(INDEX_ELEMENT, plan.settings.index_date)
        out[pid] = evaluator.evaluate_values(values, str(pid))
    return out


def truths(result: EligibilityResult, plan: Plan) -> dict[str, bool | None]:
    """Per EHR criterion: True met, False not met, None not assessable."""
    wanted = {c.id for c in plan.ehr_criteria}
    convert_truth = {Truth.MET: True, Truth.NOT_MET: False, Truth.NOT_ASSESSABLE: None}
    return {
        c.criterion.id: convert_truth[c.truth] for c in result.criteria if c.criterion.id in wanted
    }


def read_tables(con: Any, person_ids: list[int] | None = None) -> dict[str, list[Row]]:
    """The columns `records` needs, as rows, from a DuckDB connection (optionally only some
    persons: the benchmark's subsample)."""
    where = ""
    if person_ids is not None:
        con.register(
            "trialdesk_subsample", pa.table({"person_id": pa.array(person_ids, pa.int64())})
        )
        where = " WHERE person_id IN (SELECT person_id FROM trialdesk_subsample)"
    tables: dict[str, list[Row]] = {}
    for name, cols in TABLE_COLUMNS.items():
        cursor = con.execute(f'SELECT {", ".join(cols)} FROM "{name}"{where}')
        names = [d[0] for d in cursor.description]
        tables[name] = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return tables

"""The same pre-screen written by hand as one DuckDB SQL query (NCT01142050 + P1 only).

This is the practical performance limit the compiled Ibis query is measured against, and a third
opinion in the equivalence tests. Thresholds are written out per recorded unit, rounded as the
evaluator rounds (half-up at the unit's reporting decimals, on scaled integers):

* I2  T2DM coded, or FPG ≥ 7.0 mmol/L (= 126 mg/dL, WHO 1999) (the 2-h OGTT is not in OMOP: that
      part is checked at the visit);
      and the diabetes type (type 1 code, else other type, else type 2, else unknown) is
      type 2 or unknown
* I3  age 18-75 years inclusive
* I4  BMI 19-30 kg/m² inclusive (1 decimal → 190..300)
* I5  FPG ≥ 7.0 mmol/L (70 at 1 decimal; 126 mg/dL) and HbA1c ≥ 7 % (70 at 1 decimal;
      53 mmol/mol: IFCC = 10.93 × 7 − 23.5 = 53.01, Hoelzel 2004)
* E1  any severe organ disease coded; E2 infection in 30 days; E4 HIV/HBV/HCV (other
  immunosuppressive disease is not coded in OMOP: checked at the visit); P1 insulin exposure.

The status, rank, verdicts and the explanatory columns (failed_criteria, missing,
check_at_visit) are those of the compiled query, so both do the same work (issue #16: the
compiled query is measured against this one).

Only the concept lists come from the plan (`prescreen_codes`), so both paths read the same codes.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pyarrow as pa

from trialdesk.prescreen.plan import Plan

CODES_TABLE = "prescreen_codes"
# What the EHR cannot tell (the registry record's criteria with no OMOP source), as the compiled
# query lists it (`prescreen.query.check_at_visit`).
CHECK_AT_VISIT = (
    "I1 (whole criterion); I2: 2-hour plasma glucose, 75 g OGTT; I6 (whole criterion); "
    "I7 (whole criterion); I8 (whole criterion); I9 (whole criterion); E3 (whole criterion); "
    "E4: Other known immunosuppressive disease"
)
DIABETES_TYPE_PARTS = (  # the condition parts of diabetes_type, in its priority order
    ("diabetes_type__0", "type_1"),
    ("diabetes_type__1", "other_specified"),
    ("diabetes_type__2", "type_2"),
)
CONDITIONS = (
    "t2dm_diagnosis",
    *(part for part, _choice in DIABETES_TYPE_PARTS),
    "severe_heart_disease",
    "severe_lung_disease",
    "haematopoietic_dysfunction",
    "liver_dysfunction",
    "kidney_dysfunction",
    "active_infection_requiring_treatment",
    "hiv_infection",
    "hepatitis_b_infection",
    "hepatitis_c_infection",
)
DRUGS = ("insulin_treated",)
# Read only what the criteria use, as the compiled query does (`plan.needed_only`): pregnancy is
# assessed at the visit (E3) and oral glucose-lowering treatment is in no EHR criterion.
HAND_CRITERIA = ("I2", "I3", "I4", "I5", "E1", "E2", "E4", "P1")
PROTOCOL_ORDER = (
    "I1",
    "I2",
    "I3",
    "I4",
    "I5",
    "I6",
    "I7",
    "I8",
    "I9",
    "E1",
    "E2",
    "E3",
    "E4",
    "P1",
)

SQL = """
WITH pop AS (
  SELECT DISTINCT person_id FROM observation_period
  WHERE observation_period_start_date <= DATE '{index}'
    AND observation_period_end_date >= DATE '{window_start}'
), people AS (
  SELECT p.person_id,
    CASE p.gender_concept_id WHEN 8507 THEN 'M' WHEN 8532 THEN 'F' END AS sex,
    CASE WHEN p.birth_datetime IS NOT NULL THEN year(p.birth_datetime)
         ELSE p.year_of_birth END AS by,
    CASE WHEN p.birth_datetime IS NOT NULL THEN month(p.birth_datetime)
         ELSE coalesce(p.month_of_birth, 7) END AS bm,
    CASE WHEN p.birth_datetime IS NOT NULL THEN day(p.birth_datetime)
         WHEN p.month_of_birth IS NULL THEN 1 ELSE coalesce(p.day_of_birth, 15) END AS bd
  FROM person p JOIN pop USING (person_id)
), meas AS (
  SELECT m.person_id, m.measurement_id, m.measurement_date AS d, c.element,
         CAST(m.value_as_number AS DOUBLE) AS v, m.unit_concept_id AS u
  FROM measurement m
  JOIN {codes} c ON c.domain = 'measurement' AND c.concept_id = m.measurement_concept_id
  WHERE m.measurement_date BETWEEN c.start_date AND DATE '{index}'
    AND m.value_as_number IS NOT NULL
    AND CASE
      WHEN c.element = 'fasting_glucose' AND m.unit_concept_id = 8753
        THEN m.value_as_number BETWEEN 0.5 AND 60
      WHEN c.element = 'fasting_glucose' AND m.unit_concept_id = 8840
        THEN m.value_as_number / 18.016 BETWEEN 0.5 AND 60
      WHEN c.element = 'hba1c' AND m.unit_concept_id = 8554
        THEN m.value_as_number BETWEEN 3 AND 25
      WHEN c.element = 'hba1c' AND m.unit_concept_id = 9579
        THEN 0.0915 * m.value_as_number + 2.15 BETWEEN 3 AND 25
      WHEN c.element = 'weight' AND m.unit_concept_id = 9529
        THEN m.value_as_number BETWEEN 20 AND 350
      WHEN c.element = 'weight' AND m.unit_concept_id = 8739
        THEN m.value_as_number * 0.45359237 BETWEEN 20 AND 350
      WHEN c.element = 'height' AND m.unit_concept_id = 8582
        THEN m.value_as_number BETWEEN 100 AND 250
      WHEN c.element = 'height' AND m.unit_concept_id = 9327
        THEN m.value_as_number * 2.54 BETWEEN 100 AND 250
      WHEN c.element = 'height' AND m.unit_concept_id = 9546
        THEN m.value_as_number * 100 BETWEEN 100 AND 250
      ELSE FALSE END
), keyed AS (
  -- most recent: by date, then the later entry (measurement_id mod 10^12) of the day
  SELECT *, date_diff('day', DATE '1970-01-01', d) * 1000000000000
            + measurement_id % 1000000000000 AS k
  FROM meas
), latest AS (
  -- the latest row per person and element (its day is the largest: k orders by day first)
  SELECT person_id, element, arg_max(v, k) AS v, arg_max(u, k) AS u, max(d) AS d
  FROM keyed GROUP BY person_id, element
), mw AS (
  SELECT person_id,
    max(v) FILTER (WHERE element = 'fasting_glucose') AS fpg,
    max(u) FILTER (WHERE element = 'fasting_glucose') AS fpg_u,
    max(d) FILTER (WHERE element = 'fasting_glucose') AS fpg_date,
    max(v) FILTER (WHERE element = 'hba1c') AS a1c,
    max(u) FILTER (WHERE element = 'hba1c') AS a1c_u,
    max(d) FILTER (WHERE element = 'hba1c') AS a1c_date,
    max(v) FILTER (WHERE element = 'weight') AS wt,
    max(u) FILTER (WHERE element = 'weight') AS wt_u,
    max(d) FILTER (WHERE element = 'weight') AS wt_date,
    max(v) FILTER (WHERE element = 'height') AS ht,
    max(u) FILTER (WHERE element = 'height') AS ht_u,
    max(d) FILTER (WHERE element = 'height') AS ht_date
  FROM latest GROUP BY person_id
), cond AS (
  SELECT co.person_id,
{cond_dates}
  FROM condition_occurrence co
  JOIN {codes} c ON c.domain = 'condition' AND c.concept_id = co.condition_concept_id
  WHERE co.condition_start_date BETWEEN c.start_date AND DATE '{index}'
  GROUP BY co.person_id
), drug AS (
  SELECT de.person_id,
{drug_dates}
  FROM drug_exposure de
  JOIN {codes} c ON c.domain = 'drug' AND c.concept_id = de.drug_concept_id
  WHERE de.drug_exposure_start_date <= DATE '{index}'
    AND coalesce(de.drug_exposure_end_date, de.drug_exposure_start_date) >= c.start_date
  GROUP BY de.person_id
), w AS (
  SELECT pe.person_id, pe.sex, pe.by AS birth_year,
    CASE WHEN pe.by > {iy} OR (pe.by = {iy} AND (pe.bm > {im} OR (pe.bm = {im} AND pe.bd > {id})))
         THEN NULL
         ELSE {iy} - pe.by - CAST(pe.bm > {im} OR (pe.bm = {im} AND pe.bd > {id}) AS INTEGER)
    END AS age,
    mw.* EXCLUDE (person_id),
    CASE mw.wt_u WHEN 9529 THEN mw.wt WHEN 8739 THEN mw.wt * 0.45359237 END
      / power(CASE mw.ht_u WHEN 8582 THEN mw.ht * 0.01 WHEN 9327 THEN mw.ht * 0.0254
                           WHEN 9546 THEN mw.ht END, 2) AS bmi,
    cond.* EXCLUDE (person_id), drug.* EXCLUDE (person_id),
    t2dm_diagnosis_date IS NOT NULL AS t2dm,
    severe_heart_disease_date IS NOT NULL OR severe_lung_disease_date IS NOT NULL
      OR haematopoietic_dysfunction_date IS NOT NULL OR liver_dysfunction_date IS NOT NULL
      OR kidney_dysfunction_date IS NOT NULL AS organ,
    active_infection_requiring_treatment_date IS NOT NULL AS infection,
    hiv_infection_date IS NOT NULL OR hepatitis_b_infection_date IS NOT NULL
      OR hepatitis_c_infection_date IS NOT NULL AS viral,
    insulin_treated_date IS NOT NULL AS insulin,
    CASE WHEN diabetes_type__0_date IS NOT NULL THEN 'type_1'
         WHEN diabetes_type__1_date IS NOT NULL THEN 'other_specified'
         WHEN diabetes_type__2_date IS NOT NULL THEN 'type_2' ELSE 'unknown' END AS dtype,
    coalesce(diabetes_type__0_date, diabetes_type__1_date, diabetes_type__2_date) AS dtype_date
  FROM people pe
  LEFT JOIN mw USING (person_id) LEFT JOIN cond USING (person_id) LEFT JOIN drug USING (person_id)
), c AS (
  SELECT *,
    CASE fpg_u WHEN 8753 THEN floor(fpg * 10 + 0.5 + 1e-9) >= 70
               WHEN 8840 THEN floor(fpg + 0.5 + 1e-9) >= 126 END AS fpg_high,
    CASE a1c_u WHEN 8554 THEN floor(a1c * 10 + 0.5 + 1e-9) >= 70
               WHEN 9579 THEN floor(a1c + 0.5 + 1e-9) >= 53 END AS a1c_high
  FROM w
), t AS (
  SELECT *,
    (t2dm OR fpg_high) AND dtype IN ('type_2', 'unknown') AS I2,
    age BETWEEN 18 AND 75 AS I3,
    floor(bmi * 10 + 0.5 + 1e-9) BETWEEN 190 AND 300 AS I4,
    fpg_high AND a1c_high AS I5,
    organ AS E1, infection AS E2, viral AS E4, insulin AS P1
  FROM c
), s AS (
  SELECT *,
    CAST(coalesce(NOT I2, FALSE) AS INTEGER) + CAST(coalesce(NOT I3, FALSE) AS INTEGER)
    + CAST(coalesce(NOT I4, FALSE) AS INTEGER) + CAST(coalesce(NOT I5, FALSE) AS INTEGER)
    + CAST(coalesce(E1, FALSE) AS INTEGER) + CAST(coalesce(E2, FALSE) AS INTEGER)
    + CAST(coalesce(E4, FALSE) AS INTEGER) + CAST(coalesce(NOT P1, FALSE) AS INTEGER) AS failed,
    CAST(I2 IS NOT NULL AS INTEGER) + CAST(I3 IS NOT NULL AS INTEGER)
    + CAST(I4 IS NOT NULL AS INTEGER) + CAST(I5 IS NOT NULL AS INTEGER)
    + CAST(E1 IS NOT NULL AS INTEGER) + CAST(E2 IS NOT NULL AS INTEGER)
    + CAST(E4 IS NOT NULL AS INTEGER) + CAST(P1 IS NOT NULL AS INTEGER) AS assessable
  FROM t
)
-- labels after the sort (as the compiled query): the sorts carry no constant strings
SELECT rank,
  person_id,
  CASE WHEN failed > 0 THEN 'excluded' WHEN assessable = 8 THEN 'candidate'
       ELSE 'incomplete' END AS status,
  failed, assessable, 8 - assessable AS not_assessable,
  concat_ws(', ', CASE WHEN NOT I2 THEN 'I2' END, CASE WHEN NOT I3 THEN 'I3' END,
    CASE WHEN NOT I4 THEN 'I4' END, CASE WHEN NOT I5 THEN 'I5' END, CASE WHEN E1 THEN 'E1' END,
    CASE WHEN E2 THEN 'E2' END, CASE WHEN E4 THEN 'E4' END, CASE WHEN NOT P1 THEN 'P1' END
  ) AS failed_criteria,
  -- what the record lacks where a criterion using it is undecided (coded data: absent = no)
  concat_ws(', ',
    CASE WHEN (I2 IS NULL OR I5 IS NULL) AND fpg IS NULL THEN 'fasting_glucose' END,
    CASE WHEN I3 IS NULL AND birth_year IS NULL THEN 'date_of_birth' END,
    CASE WHEN I4 IS NULL AND wt IS NULL THEN 'weight' END,
    CASE WHEN I4 IS NULL AND ht IS NULL THEN 'height' END,
    CASE WHEN I5 IS NULL AND a1c IS NULL THEN 'hba1c' END
  ) AS missing,
  '{check_at_visit}' AS check_at_visit,
  {verdicts},
  sex, age, birth_year,
  fpg AS fasting_glucose_value,
  CASE fpg_u WHEN 8753 THEN 'mmol/L' WHEN 8840 THEN 'mg/dL' END AS fasting_glucose_unit,
  CASE fpg_u WHEN 8753 THEN fpg WHEN 8840 THEN fpg / 18.016 END AS fasting_glucose_mmol_l,
  fpg_date AS fasting_glucose_date,
  a1c AS hba1c_value,
  CASE a1c_u WHEN 8554 THEN '%' WHEN 9579 THEN 'mmol/mol' END AS hba1c_unit,
  CASE a1c_u WHEN 8554 THEN a1c WHEN 9579 THEN 0.0915 * a1c + 2.15 END AS hba1c_percent,
  a1c_date AS hba1c_date,
  wt AS weight_value,
  CASE wt_u WHEN 9529 THEN 'kg' WHEN 8739 THEN 'lb' END AS weight_unit,
  CASE wt_u WHEN 9529 THEN wt WHEN 8739 THEN wt * 0.45359237 END AS weight_kg,
  wt_date AS weight_date,
  ht AS height_value,
  CASE ht_u WHEN 8582 THEN 'cm' WHEN 9327 THEN 'in' WHEN 9546 THEN 'm' END AS height_unit,
  CASE ht_u WHEN 8582 THEN ht WHEN 9327 THEN ht * 2.54 WHEN 9546 THEN ht * 100 END AS height_cm,
  ht_date AS height_date,
  bmi,
{coded_out}
FROM (
  SELECT *, row_number() OVER (ORDER BY failed, assessable DESC, person_id) AS rank
  FROM s ORDER BY rank
) AS s
"""


def codes_table(plan: Plan) -> pa.Table:
    """(domain, element, concept_id, start_date) of every element the hand query reads."""
    rows: dict[str, list[Any]] = {"domain": [], "element": [], "concept_id": [], "start_date": []}
    sources: list[tuple[str, str, frozenset[int], date | None]] = [
        ("measurement", e.name, e.concept_ids, e.start) for e in plan.measured.values()
    ]
    sources += [(e.domain, e.name, e.concept_ids, e.start) for e in plan.coded.values()]
    for domain, element, ids, start in sources:
        for concept_id in sorted(ids):
            rows["domain"].append(domain)
            rows["element"].append(element)
            rows["concept_id"].append(concept_id)
            rows["start_date"].append(start or plan.settings.index_date.replace(year=1800))
    return pa.table(
        rows,
        schema=pa.schema(
            [
                ("domain", pa.string()),
                ("element", pa.string()),
                ("concept_id", pa.int64()),
                ("start_date", pa.date32()),
            ]
        ),
    )


def hand_sql(plan: Plan) -> str:
    index = plan.settings.index_date
    verdicts = ",\n  ".join(
        f"CASE WHEN {c} THEN 'met' WHEN NOT {c} THEN 'not met' ELSE 'not assessable' END AS {c}"
        if c in HAND_CRITERIA
        else f"'assessed at visit' AS {c}"
        for c in PROTOCOL_ORDER
    )

    def dates(alias: str, names: tuple[str, ...]) -> str:
        return ",\n".join(
            f"    max({alias}) FILTER (WHERE c.element = '{n}') AS {n}_date" for n in names
        )

    parts = {part for part, _choice in DIABETES_TYPE_PARTS}
    coded_out = ",\n".join(
        f"  {n}_date IS NOT NULL AS {n}, {n}_date" for n in CONDITIONS + DRUGS if n not in parts
    )
    coded_out += ",\n  dtype AS diabetes_type, dtype_date AS diabetes_type_date"
    return SQL.format(
        cond_dates=dates("co.condition_start_date", CONDITIONS),
        drug_dates=dates("de.drug_exposure_start_date", DRUGS),
        coded_out=coded_out,
        index=index.isoformat(),
        window_start=plan.settings.window_start.isoformat(),
        iy=index.year,
        im=index.month,
        id=index.day,
        codes=CODES_TABLE,
        verdicts=verdicts,
        check_at_visit=CHECK_AT_VISIT,
    )


def run_hand_sql(con: Any, plan: Plan) -> pa.Table:
    """Execute on a DuckDB connection holding the OMOP tables; returns an Arrow table."""
    con.register(CODES_TABLE, codes_table(plan))
    try:
        return con.sql(hand_sql(plan)).to_arrow_table()
    finally:
        con.unregister(CODES_TABLE)

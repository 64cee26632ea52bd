"""A synthetic OMOP CDM v5.4 population (no external data), vectorised with numpy and Arrow.

Prevalences and frequencies are APPROXIMATE public figures, rounded, used only to give test and
benchmark data a realistic shape (they are not estimates of anything):

* age structure: shares by 5-year band after China's 7th national census (2020), rounded;
* diabetes by age: Li Y et al., BMJ 2020;369:m997 (China 2017, ADA criteria: 12.8 % overall,
  rising from ~5 % at 18-29 to ~24 % at 70+); ~90 % of diabetes is type 2 (IDF Diabetes Atlas,
  10th ed., 2021);
* insulin among people treated for type 2 diabetes ~25 %, oral agents ~70 % (order of magnitude
  of the CDC National Diabetes Statistics Report and Chinese registry figures);
* HbA1c tested at least once a year in ~85 % of people with diabetes, ~2-4 times (ADA Standards
  of Care: at least twice yearly, quarterly when not at goal);
* HBsAg ~6 % in China (WHO Western Pacific), but a coded hepatitis B diagnosis far less often
  (2 % used); HIV ~0.1 % (UNAIDS, China); HCV ~0.5 %; COPD coded 3 %; heart failure 1.5 %;
* adult BMI mean ~24.5 kg/m² (China Chronic Disease and Risk Factor Surveillance 2018, approx.),
  higher in type 2 diabetes; glucose/HbA1c distributions shaped after typical clinic values.

Recording habits are synthetic too: units mixed per site habit (mmol/L vs mg/dL, % vs
mmol/mol, kg vs lb, cm/in/m), ~1 % values missing, ~1 % unknown units, ~0.3 % glucose values in
mg/dL labelled mmol/L (caught by the catalogue's hard limits). Local concepts (id > 2,000,000,000,
the OMOP range for site-specific concepts) sit below standard ones in `concept_ancestor`, so
descendant expansion matters. Ids come from the concept-set files (see their evidence notes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trialdesk.prescreen.concepts import builtin_concept_sets

EPOCH = date(1970, 1, 1)
MMOL_TO_MG_DL_GLUCOSE = 18.016  # 180.16 g/mol (trialdesk.units)

# Age bands 0-4 … 90-94: approximate shares (%) after China's 2020 census.
AGE_BAND_SHARES = (
    5.7,
    6.4,
    6.2,
    5.3,
    5.3,
    6.7,
    8.8,
    7.0,
    6.6,
    8.2,
    8.7,
    7.2,
    5.2,
    5.0,
    3.5,
    2.2,
    1.4,
    0.8,
    0.2,
)
# Diabetes prevalence by age (lower bound of band, share): Li et al., BMJ 2020 (approximate).
DIABETES_BY_AGE = ((18, 0.05), (30, 0.063), (40, 0.109), (50, 0.176), (60, 0.225), (70, 0.237))

T2DM, T1DM, T2DM_LOCAL = 201826, 201254, 2_000_000_001
DIABETES_MELLITUS = 201820
INSULINS = (1502905, 1550023, 1567198, 1516976, 1544838, 1596977)
INSULIN_LOCAL = 2_000_000_101
INSULIN_CLASS, OGLD_CLASS, A10 = 21600713, 21600744, 21600712
ORAL_AGENTS = (1503297, 1560171, 1597756, 1580747, 1525215, 1529331)
FPG, HBA1C, HBA1C_HPLC, WEIGHT, HEIGHT = 3037110, 3004410, 3005673, 3025315, 3036277
MMOL_L, MG_DL, PERCENT, MMOL_MOL, KG, LB, CM, INCH, METRE = (
    8753,
    8840,
    8554,
    9579,
    9529,
    8739,
    8582,
    9327,
    9546,
)
EHR_TYPE = 32817  # Type Concept "EHR"
OUTPATIENT, INPATIENT, EMERGENCY = 9202, 9201, 9203

# Noise: ordinary EHR content that pre-screening must skip (ids > 2e9: local, synthetic).
NOISE_LABS = tuple(2_000_100_000 + i for i in range(16))
NOISE_CONDITIONS = tuple(2_000_200_000 + i for i in range(12))
NOISE_DRUGS = tuple(2_000_300_000 + i for i in range(10))
SMOKING_OBSERVATION = 2_000_400_000

#: Adults (age of majority, 18 years): children get child heights, BMIs and fewer visits, and
#: are not tested for glucose.
ADULT_AGE = 18
#: Upper end of the 18-45 age band of `SynthParameters.pregnancy_women_18_45`.
CHILDBEARING_AGE_MAX = 45
#: The sort keys are packed into one int64 only when they fit in its 63 value bits.
_INT64_VALUE_BITS = 63
#: Shares of persons recorded with no birth month, with no birth day, and with a birth
#: datetime (OMOP CDM v5.4 PERSON: month_of_birth, day_of_birth, birth_datetime are optional;
#: shares are assumptions).
_NO_BIRTH_MONTH_SHARE = 0.05
_NO_BIRTH_DAY_SHARE = 0.03
_BIRTH_DATETIME_SHARE = 0.1
#: HbA1c results coded with the HPLC method concept rather than the generic one (assumption).
_HBA1C_HPLC_SHARE = 0.1
#: Visits with a weight, and with a height, measured (assumption).
_WEIGHED_VISIT_SHARE = 0.6
_MEASURED_HEIGHT_SHARE = 0.2
#: Persons with a past (not recent) infection recorded (assumption).
_PAST_INFECTION_SHARE = 0.05
#: Persons from this age on who take unrelated ("noise") drugs, and their share (assumption).
_NOISE_DRUG_MIN_AGE = 30
_NOISE_DRUG_SHARE = 0.25
#: Persons from this age on with a smoking status recorded, and their share (assumption).
_SMOKING_MIN_AGE = 15
_SMOKING_RECORDED_SHARE = 0.7


@dataclass(frozen=True)
class SynthParameters:
    """Shape of the synthetic population (see the module docstring for the sources)."""

    extract_date: date = date(2025, 6, 30)
    male_share: float = 0.51
    type2_share_of_diabetes: float = 0.9
    t2dm_coded: float = 0.75  # diagnosis coded in condition_occurrence
    t2dm_local_code: float = 0.2  # coded with a local child concept (needs concept_ancestor)
    insulin_in_t2dm: float = 0.25
    oral_in_t2dm: float = 0.7
    hba1c_tested_diabetes: float = 0.85
    hba1c_tested_others: float = 0.08
    fpg_tested_diabetes: float = 0.9
    fpg_tested_others: float = 0.35
    heart_failure: float = 0.015
    myocardial_infarction: float = 0.01
    copd: float = 0.03
    kidney_failure: float = 0.005
    cirrhosis: float = 0.003
    marrow_failure: float = 0.0005
    hiv: float = 0.001
    hepatitis_b: float = 0.02
    hepatitis_c: float = 0.005
    infection_last_30_days: float = 0.015
    pregnancy_women_18_45: float = 0.04
    seen_recently: float = 0.8  # observation period reaching into the last year
    missing_value: float = 0.01
    unknown_unit: float = 0.01
    mislabelled_glucose: float = 0.003


@dataclass
class _People:
    n: int
    ids: np.ndarray
    male: np.ndarray
    age: np.ndarray
    birth: np.ndarray  # days since epoch
    obs_start: np.ndarray
    obs_end: np.ndarray
    t2dm: np.ndarray
    t1dm: np.ndarray
    insulin: np.ndarray
    oral: np.ndarray
    bmi: np.ndarray
    height_cm: np.ndarray


def _day(d: date) -> int:
    return (d - EPOCH).days


def _people(n: int, p: SynthParameters, rng: np.random.Generator, first_id: int = 1) -> _People:
    extract = _day(p.extract_date)
    shares = np.array(AGE_BAND_SHARES) / sum(AGE_BAND_SHARES)
    band = rng.choice(len(shares), size=n, p=shares)
    age_days = ((band * 5 + rng.random(n) * 5) * 365.25).astype(np.int64)
    birth = extract - age_days
    age = age_days / 365.25
    male = rng.random(n) < p.male_share
    prevalence = np.zeros(n)
    for low, share in DIABETES_BY_AGE:
        prevalence[age >= low] = share
    diabetic = rng.random(n) < prevalence
    type2 = rng.random(n) < p.type2_share_of_diabetes
    t2dm, t1dm = diabetic & type2, diabetic & ~type2
    insulin = (t2dm & (rng.random(n) < p.insulin_in_t2dm)) | t1dm
    oral = t2dm & (rng.random(n) < p.oral_in_t2dm)
    height = np.where(male, rng.normal(169.7, 6.5, n), rng.normal(158.0, 6.0, n))
    height = np.where(age < ADULT_AGE, height * np.clip(0.45 + age / 32, 0.45, 1.0), height)
    bmi = np.clip(rng.normal(24.5, 3.6, n) + np.where(t2dm, 1.8, 0.0), 15.0, 48.0)
    bmi = np.where(age < ADULT_AGE, np.clip(rng.normal(18.5, 2.5, n), 13, 30), bmi)
    years = rng.uniform(1.0, 15.0, n)
    obs_start = np.maximum(extract - (years * 365.25).astype(np.int64), birth)
    recent = rng.random(n) < p.seen_recently
    gap = np.where(recent, rng.integers(0, 300, n), rng.integers(400, 2000, n))
    obs_end = np.maximum(extract - gap, obs_start + 1)
    return _People(
        n,
        np.arange(first_id, first_id + n, dtype=np.int64),
        male,
        age,
        birth,
        obs_start,
        obs_end,
        t2dm,
        t1dm,
        insulin,
        oral,
        bmi,
        height,
    )


def _dates(rng: np.random.Generator, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    span = np.maximum(high - low, 0)
    days: np.ndarray = low + (rng.random(len(low)) * (span + 1)).astype(np.int64)
    return days


def _dates32(days: np.ndarray) -> pa.Array:
    return pa.array(days.astype(np.int32), pa.date32())


def _order(*keys: np.ndarray) -> np.ndarray:
    """As `np.lexsort(keys)` (last key primary, stable), but by one stable argsort of the keys
    packed into an int64 when they fit in 63 bits (orders of magnitude faster here)."""
    lows = [int(k.min()) if len(k) else 0 for k in keys]
    bits = [
        max(int(k.max()) - low, 0).bit_length() if len(k) else 0
        for k, low in zip(keys, lows, strict=True)
    ]
    if sum(bits) > _INT64_VALUE_BITS:
        return np.lexsort(keys)
    packed = np.zeros(len(keys[0]), np.int64)
    shift = 0
    for key, low, width in zip(keys, lows, bits, strict=True):
        packed |= (key.astype(np.int64) - low) << shift
        shift += width
    return np.argsort(packed, kind="stable")


_NULLS: dict[str, pa.Array] = {}


def _nulls(kind: pa.DataType, n: int) -> pa.Array:
    """An all-null column: a zero-copy slice of one cached array per type (allocating and
    zero-filling a fresh one per column dominated the generation time)."""
    key = str(kind)
    cached = _NULLS.get(key)
    if cached is None or len(cached) < n:
        cached = _NULLS[key] = pa.nulls(max(n, 2 * len(cached) if cached else n), kind)
    return cached.slice(0, n)


def _person_table(pp: _People, rng: np.random.Generator) -> pa.Table:
    birth = np.array(pp.birth, dtype="datetime64[D]")
    years = birth.astype("datetime64[Y]").astype(np.int64) + 1970
    months = (birth.astype("datetime64[M]").astype(np.int64) % 12) + 1
    days = (birth - birth.astype("datetime64[M]")).astype(np.int64) + 1
    no_month = rng.random(pp.n) < _NO_BIRTH_MONTH_SHARE
    no_day = no_month | (rng.random(pp.n) < _NO_BIRTH_DAY_SHARE)
    with_dt = (~no_day) & (rng.random(pp.n) < _BIRTH_DATETIME_SHARE)
    birth_dt = pa.array(
        np.where(with_dt, birth.astype("datetime64[s]"), np.datetime64("NaT", "s")),
        pa.timestamp("s"),
    )
    return pa.table(
        {
            "person_id": pp.ids,
            "gender_concept_id": np.where(pp.male, 8507, 8532).astype(np.int32),
            "year_of_birth": years.astype(np.int32),
            "month_of_birth": pa.array(
                np.where(no_month, 0, months).astype(np.int32), mask=no_month
            ),
            "day_of_birth": pa.array(np.where(no_day, 0, days).astype(np.int32), mask=no_day),
            "birth_datetime": birth_dt,
            "race_concept_id": np.zeros(pp.n, np.int32),
            "ethnicity_concept_id": np.zeros(pp.n, np.int32),
            "location_id": _nulls(pa.int64(), pp.n),
            "provider_id": _nulls(pa.int64(), pp.n),
            "care_site_id": _nulls(pa.int64(), pp.n),
            "person_source_value": pc.cast(pa.array(pp.ids), pa.string()),
            "gender_source_value": np.where(pp.male, "M", "F"),
            "gender_source_concept_id": np.zeros(pp.n, np.int32),
            "race_source_value": _nulls(pa.string(), pp.n),
            "race_source_concept_id": np.zeros(pp.n, np.int32),
            "ethnicity_source_value": _nulls(pa.string(), pp.n),
            "ethnicity_source_concept_id": np.zeros(pp.n, np.int32),
        }
    )


def _observation_period_table(pp: _People) -> pa.Table:
    return pa.table(
        {
            "observation_period_id": pp.ids,
            "person_id": pp.ids,
            "observation_period_start_date": _dates32(pp.obs_start),
            "observation_period_end_date": _dates32(pp.obs_end),
            "period_type_concept_id": np.full(pp.n, EHR_TYPE, np.int32),
        }
    )


@dataclass
class _Visits:
    person: np.ndarray
    day: np.ndarray
    first: np.ndarray  # per person: index of the first visit
    count: np.ndarray  # per person: number of visits


def _visits(pp: _People, rng: np.random.Generator) -> _Visits:
    rate = np.where(pp.age >= ADULT_AGE, 4.0, 1.5) + np.where(pp.t2dm | pp.t1dm, 5.0, 0.0)
    years = np.minimum((pp.obs_end - pp.obs_start) / 365.25, 2.0)
    count = rng.poisson(rate * years) + 1
    person = np.repeat(np.arange(pp.n), count)
    low = np.maximum(pp.obs_start, pp.obs_end - 730)[person]
    day = _dates(rng, low, pp.obs_end[person])
    day[np.r_[0, np.cumsum(count)[:-1]]] = pp.obs_end  # the last contact ends the period
    first = np.r_[0, np.cumsum(count)[:-1]]
    return _Visits(person, day, first, count)


def _visit_table(pp: _People, v: _Visits, rng: np.random.Generator) -> pa.Table:
    n = len(v.person)
    kind = rng.choice([OUTPATIENT, INPATIENT, EMERGENCY], size=n, p=[0.9, 0.04, 0.06])
    end = v.day + np.where(kind == INPATIENT, rng.integers(1, 10, n), 0)
    return pa.table(
        {
            "visit_occurrence_id": np.arange(1, n + 1, dtype=np.int64),
            "person_id": pp.ids[v.person],
            "visit_concept_id": kind.astype(np.int32),
            "visit_start_date": _dates32(v.day),
            "visit_start_datetime": _nulls(pa.timestamp("s"), n),
            "visit_end_date": _dates32(end),
            "visit_end_datetime": _nulls(pa.timestamp("s"), n),
            "visit_type_concept_id": np.full(n, EHR_TYPE, np.int32),
            "provider_id": _nulls(pa.int64(), n),
            "care_site_id": _nulls(pa.int64(), n),
            "visit_source_value": _nulls(pa.string(), n),
            "visit_source_concept_id": np.zeros(n, np.int32),
            "admitted_from_concept_id": np.zeros(n, np.int32),
            "admitted_from_source_value": _nulls(pa.string(), n),
            "discharged_to_concept_id": np.zeros(n, np.int32),
            "discharged_to_source_value": _nulls(pa.string(), n),
            "preceding_visit_occurrence_id": _nulls(pa.int64(), n),
        }
    )


def _at_visits(
    v: _Visits, who: np.ndarray, per_person: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Rows for persons `who` (indices), `per_person` each, placed on random visits of theirs."""
    person = np.repeat(who, per_person)
    pick = v.first[person] + (rng.random(len(person)) * v.count[person]).astype(np.int64)
    return person, pick


class _Rows:
    """Accumulates measurement rows (arrays) and builds the table once."""

    def __init__(self) -> None:
        self.parts: list[dict[str, np.ndarray]] = []

    def add(
        self,
        person: np.ndarray,
        visit: np.ndarray,
        concept: int | np.ndarray,
        value: np.ndarray,
        unit: np.ndarray,
    ) -> None:
        n = len(person)
        self.parts.append(
            {
                "person": person,
                "visit": visit,
                "concept": np.broadcast_to(np.asarray(concept, np.int64), (n,)).copy(),
                "value": value.astype(np.float64),
                "unit": unit.astype(np.int64),
            }
        )

    def joined(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}


def _mixed_units(rng: np.random.Generator, n: int, shares: dict[int, float]) -> np.ndarray:
    return rng.choice(list(shares), size=n, p=list(shares.values()))


def _glucose_and_hba1c(
    pp: _People, v: _Visits, p: SynthParameters, rows: _Rows, rng: np.random.Generator
) -> None:
    diabetic = pp.t2dm | pp.t1dm
    adult = pp.age >= ADULT_AGE
    # Fasting glucose, mmol/L: clinic-like distributions (approximate).
    tested = adult & (
        rng.random(pp.n) < np.where(diabetic, p.fpg_tested_diabetes, p.fpg_tested_others)
    )
    who = np.flatnonzero(tested)
    counts = np.where(diabetic[who], rng.poisson(3.0, len(who)) + 1, rng.poisson(0.4, len(who)) + 1)
    person, visit = _at_visits(v, who, counts, rng)
    level = np.where(diabetic[person], np.where(pp.insulin[person], 9.6, 8.4), 5.2)
    spread = np.where(diabetic[person], 2.4, 0.55)
    mmol = np.clip(rng.normal(level, spread), 2.5, 30.0)
    unit = _mixed_units(rng, len(person), {MMOL_L: 0.6, MG_DL: 0.4})
    value = np.where(unit == MG_DL, np.round(mmol * MMOL_TO_MG_DL_GLUCOSE), np.round(mmol, 1))
    wrong = (unit == MG_DL) & (rng.random(len(person)) < p.mislabelled_glucose)
    unit = np.where(wrong, MMOL_L, unit)
    rows.add(person, visit, FPG, value, unit)
    # HbA1c, NGSP %.
    tested = rng.random(pp.n) < np.where(diabetic, p.hba1c_tested_diabetes, p.hba1c_tested_others)
    who = np.flatnonzero(tested & adult)
    counts = np.where(diabetic[who], rng.poisson(2.0, len(who)) + 1, 1)
    person, visit = _at_visits(v, who, counts, rng)
    level = np.where(diabetic[person], np.where(pp.insulin[person], 8.3, 7.4), 5.4)
    spread = np.where(diabetic[person], 1.3, 0.35)
    percent = np.clip(rng.normal(level, spread), 4.0, 15.0)
    unit = _mixed_units(rng, len(person), {PERCENT: 0.85, MMOL_MOL: 0.15})
    value = np.where(unit == MMOL_MOL, np.round(10.93 * percent - 23.5), np.round(percent, 1))
    concept = np.where(rng.random(len(person)) < _HBA1C_HPLC_SHARE, HBA1C_HPLC, HBA1C)
    rows.add(person, visit, concept, value, unit)


def _anthropometry(pp: _People, v: _Visits, rows: _Rows, rng: np.random.Generator) -> None:
    visit = np.flatnonzero(rng.random(len(v.person)) < _WEIGHED_VISIT_SHARE)
    person = v.person[visit]
    height_m = pp.height_cm[person] / 100
    kg = np.clip(pp.bmi[person] * height_m**2 + rng.normal(0, 1.2, len(person)), 3, 250)
    unit = _mixed_units(rng, len(person), {KG: 0.92, LB: 0.08})
    value = np.where(unit == LB, np.round(kg / 0.45359237), np.round(kg, 1))
    rows.add(person, visit, WEIGHT, value, unit)
    visit = np.flatnonzero(rng.random(len(v.person)) < _MEASURED_HEIGHT_SHARE)
    person = v.person[visit]
    cm = pp.height_cm[person] + rng.normal(0, 0.6, len(person))
    unit = _mixed_units(rng, len(person), {CM: 0.9, INCH: 0.05, METRE: 0.05})
    value = np.select(
        [unit == INCH, unit == METRE],
        [np.round(cm / 2.54, 1), np.round(cm / 100, 2)],
        np.round(cm, 1),
    )
    rows.add(person, visit, HEIGHT, value, unit)


def _noise_labs(v: _Visits, rows: _Rows, rng: np.random.Generator) -> None:
    panels = rng.poisson(1.2, len(v.person))
    visit = np.repeat(np.arange(len(v.person)), panels * 2)
    concept = rng.choice(NOISE_LABS, size=len(visit))
    rows.add(
        v.person[visit],
        visit,
        concept,
        np.round(rng.gamma(4.0, 10.0, len(visit)), 1),
        np.full(len(visit), MMOL_L),
    )


def _measurement_table(
    pp: _People, v: _Visits, p: SynthParameters, rng: np.random.Generator
) -> pa.Table:
    rows = _Rows()
    _glucose_and_hba1c(pp, v, p, rows, rng)
    _anthropometry(pp, v, rows, rng)
    _noise_labs(v, rows, rng)
    r = rows.joined()
    n = len(r["person"])
    order = _order(r["concept"], v.day[r["visit"]], r["person"])
    r = {k: a[order] for k, a in r.items()}
    missing = rng.random(n) < p.missing_value
    unknown = rng.random(n) < p.unknown_unit
    unit = np.where(unknown, 0, r["unit"])
    return pa.table(
        {
            "measurement_id": np.arange(1, n + 1, dtype=np.int64),
            "person_id": pp.ids[r["person"]],
            "measurement_concept_id": r["concept"].astype(np.int32),
            "measurement_date": _dates32(v.day[r["visit"]]),
            "measurement_datetime": _nulls(pa.timestamp("s"), n),
            "measurement_time": _nulls(pa.string(), n),
            "measurement_type_concept_id": np.full(n, EHR_TYPE, np.int32),
            "operator_concept_id": _nulls(pa.int32(), n),
            "value_as_number": pa.array(r["value"], mask=missing),
            "value_as_concept_id": _nulls(pa.int32(), n),
            "unit_concept_id": unit.astype(np.int32),
            "range_low": _nulls(pa.float64(), n),
            "range_high": _nulls(pa.float64(), n),
            "provider_id": _nulls(pa.int64(), n),
            "visit_occurrence_id": (r["visit"] + 1).astype(np.int64),
            "visit_detail_id": _nulls(pa.int64(), n),
            "measurement_source_value": _nulls(pa.string(), n),
            "measurement_source_concept_id": np.zeros(n, np.int32),
            "unit_source_value": _nulls(pa.string(), n),
            "unit_source_concept_id": np.zeros(n, np.int32),
            "value_source_value": _nulls(pa.string(), n),
            "measurement_event_id": _nulls(pa.int64(), n),
            "meas_event_field_concept_id": _nulls(pa.int32(), n),
        }
    )


def _condition_parts(
    pp: _People, p: SynthParameters, rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(person index, concept, start day) groups."""
    sets = builtin_concept_sets()
    extract = _day(p.extract_date)
    adult = pp.age >= ADULT_AGE
    diabetic_risk = np.where(pp.t2dm, 2.0, 1.0)
    parts = []

    def history(mask: np.ndarray, concepts: tuple[int, ...] | np.ndarray) -> None:
        who = np.flatnonzero(mask)
        concept = rng.choice(np.asarray(concepts), size=len(who))
        parts.append((who, concept, _dates(rng, pp.obs_start[who], pp.obs_end[who])))

    def leaves(name: str) -> tuple[int, ...]:
        return tuple(sorted(i.concept_id for i in sets[name].items if not i.exclude))

    coded = pp.t2dm & (rng.random(pp.n) < p.t2dm_coded)
    local = rng.random(pp.n) < p.t2dm_local_code
    history(coded & ~local, (T2DM,))
    history(coded & local, (T2DM_LOCAL,))
    history(pp.t1dm, (T1DM,))

    def u() -> np.ndarray:
        return rng.random(pp.n)

    history(adult & (u() < p.heart_failure * diabetic_risk), (316139,))
    history(adult & (u() < p.myocardial_infarction * diabetic_risk), (4329847,))
    history(adult & (u() < p.copd), leaves("severe_lung_disease"))
    history(adult & (u() < p.kidney_failure * diabetic_risk * 1.5), leaves("kidney_dysfunction"))
    history(adult & (u() < p.cirrhosis), leaves("liver_dysfunction"))
    history(u() < p.marrow_failure, leaves("haematopoietic_dysfunction"))
    history(adult & (u() < p.hiv), leaves("hiv"))
    history(u() < p.hepatitis_b, leaves("hepatitis_b"))
    history(u() < p.hepatitis_c, leaves("hepatitis_c"))
    # Infections: recent ones (last 30 days) and older ones that must not count.
    # (drawn among persons seen in the last 30 days, so that ~infection_last_30_days overall)
    seen = pp.obs_end >= extract - 29
    share = p.infection_last_30_days * pp.n / max(int(seen.sum()), 1)
    recent = np.flatnonzero(seen & (u() < min(share, 1.0)))
    parts.append(
        (
            recent,
            rng.choice(leaves("active_infection"), size=len(recent)),
            _dates(rng, np.maximum(extract - 29, pp.obs_start[recent]), pp.obs_end[recent]),
        )
    )
    history(u() < _PAST_INFECTION_SHARE, leaves("active_infection"))
    women = (~pp.male) & (pp.age >= ADULT_AGE) & (pp.age <= CHILDBEARING_AGE_MAX)
    pregnant = np.flatnonzero(women & (u() < p.pregnancy_women_18_45))
    parts.append(
        (
            pregnant,
            np.full(len(pregnant), 4299535),
            _dates(
                rng,
                np.maximum(pp.obs_end[pregnant] - 250, pp.obs_start[pregnant]),
                pp.obs_end[pregnant],
            ),
        )
    )
    count = rng.poisson(np.where(adult, 2.5, 0.8))
    who = np.repeat(np.arange(pp.n), count)
    parts.append(
        (
            who,
            rng.choice(NOISE_CONDITIONS, size=len(who)),
            _dates(rng, pp.obs_start[who], pp.obs_end[who]),
        )
    )
    return parts


def _condition_table(pp: _People, p: SynthParameters, rng: np.random.Generator) -> pa.Table:
    parts = _condition_parts(pp, p, rng)
    who = np.concatenate([w for w, _, _ in parts])
    concept = np.concatenate([np.asarray(c, np.int64) for _, c, _ in parts])
    start = np.concatenate([s for _, _, s in parts])
    order = _order(start, who)
    who, concept, start = who[order], concept[order], start[order]
    n = len(who)
    return pa.table(
        {
            "condition_occurrence_id": np.arange(1, n + 1, dtype=np.int64),
            "person_id": pp.ids[who],
            "condition_concept_id": concept.astype(np.int32),
            "condition_start_date": _dates32(start),
            "condition_start_datetime": _nulls(pa.timestamp("s"), n),
            "condition_end_date": _nulls(pa.date32(), n),
            "condition_end_datetime": _nulls(pa.timestamp("s"), n),
            "condition_type_concept_id": np.full(n, EHR_TYPE, np.int32),
            "condition_status_concept_id": np.zeros(n, np.int32),
            "stop_reason": _nulls(pa.string(), n),
            "provider_id": _nulls(pa.int64(), n),
            "visit_occurrence_id": _nulls(pa.int64(), n),
            "visit_detail_id": _nulls(pa.int64(), n),
            "condition_source_value": _nulls(pa.string(), n),
            "condition_source_concept_id": np.zeros(n, np.int32),
            "condition_status_source_value": _nulls(pa.string(), n),
        }
    )


def _drug_table(pp: _People, rng: np.random.Generator) -> pa.Table:
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def exposures(
        mask: np.ndarray, concepts: tuple[int, ...], per_year: float, stopped_share: float
    ) -> None:
        who = np.flatnonzero(mask)
        stopped = rng.random(len(who)) < stopped_share  # last fill > 1 year before extract
        last = np.where(
            stopped, pp.obs_end[who] - rng.integers(420, 900, len(who)), pp.obs_end[who]
        )
        count = rng.poisson(per_year * 2, len(who)) + 1
        person = np.repeat(who, count)
        end = np.repeat(last, count)
        start = _dates(rng, np.maximum(end - 730, pp.obs_start[person]), end)
        supply = rng.choice([30, 60, 90], size=len(person))
        concept = rng.choice(concepts, size=len(who))  # one product per person
        parts.append((person, np.repeat(concept, count), start, supply))

    exposures(pp.insulin, INSULINS + (INSULIN_LOCAL,), 4.0, 0.1)
    exposures(pp.oral, ORAL_AGENTS, 4.0, 0.1)
    exposures(
        (pp.age >= _NOISE_DRUG_MIN_AGE) & (rng.random(pp.n) < _NOISE_DRUG_SHARE),
        NOISE_DRUGS,
        3.0,
        0.3,
    )
    person = np.concatenate([x[0] for x in parts])
    concept = np.concatenate([x[1] for x in parts]).astype(np.int64)
    start = np.concatenate([x[2] for x in parts])
    supply = np.concatenate([x[3] for x in parts])
    order = _order(start, person)
    person, concept, start, supply = person[order], concept[order], start[order], supply[order]
    n = len(person)
    return pa.table(
        {
            "drug_exposure_id": np.arange(1, n + 1, dtype=np.int64),
            "person_id": pp.ids[person],
            "drug_concept_id": concept.astype(np.int32),
            "drug_exposure_start_date": _dates32(start),
            "drug_exposure_start_datetime": _nulls(pa.timestamp("s"), n),
            "drug_exposure_end_date": _dates32(start + supply - 1),
            "drug_exposure_end_datetime": _nulls(pa.timestamp("s"), n),
            "verbatim_end_date": _nulls(pa.date32(), n),
            "drug_type_concept_id": np.full(n, EHR_TYPE, np.int32),
            "stop_reason": _nulls(pa.string(), n),
            "refills": _nulls(pa.int32(), n),
            "quantity": _nulls(pa.float64(), n),
            "days_supply": supply.astype(np.int32),
            "sig": _nulls(pa.string(), n),
            "route_concept_id": np.zeros(n, np.int32),
            "lot_number": _nulls(pa.string(), n),
            "provider_id": _nulls(pa.int64(), n),
            "visit_occurrence_id": _nulls(pa.int64(), n),
            "visit_detail_id": _nulls(pa.int64(), n),
            "drug_source_value": _nulls(pa.string(), n),
            "drug_source_concept_id": np.zeros(n, np.int32),
            "route_source_value": _nulls(pa.string(), n),
            "dose_unit_source_value": _nulls(pa.string(), n),
        }
    )


def _observation_table(pp: _People, rng: np.random.Generator) -> pa.Table:
    who = np.flatnonzero(
        (pp.age >= _SMOKING_MIN_AGE) & (rng.random(pp.n) < _SMOKING_RECORDED_SHARE)
    )
    n = len(who)
    status = rng.choice(
        np.array(["never smoker", "former smoker", "current smoker"]), size=n, p=[0.6, 0.12, 0.28]
    )
    return pa.table(
        {
            "observation_id": np.arange(1, n + 1, dtype=np.int64),
            "person_id": pp.ids[who],
            "observation_concept_id": np.full(n, SMOKING_OBSERVATION, np.int32),
            "observation_date": _dates32(_dates(rng, pp.obs_start[who], pp.obs_end[who])),
            "observation_datetime": _nulls(pa.timestamp("s"), n),
            "observation_type_concept_id": np.full(n, EHR_TYPE, np.int32),
            "value_as_number": _nulls(pa.float64(), n),
            "value_as_string": status,
            "value_as_concept_id": _nulls(pa.int32(), n),
            "qualifier_concept_id": _nulls(pa.int32(), n),
            "unit_concept_id": _nulls(pa.int32(), n),
            "provider_id": _nulls(pa.int64(), n),
            "visit_occurrence_id": _nulls(pa.int64(), n),
            "visit_detail_id": _nulls(pa.int64(), n),
            "observation_source_value": _nulls(pa.string(), n),
            "observation_source_concept_id": np.zeros(n, np.int32),
            "unit_source_value": _nulls(pa.string(), n),
            "qualifier_source_value": _nulls(pa.string(), n),
            "value_source_value": _nulls(pa.string(), n),
            "observation_event_id": _nulls(pa.int64(), n),
            "obs_event_field_concept_id": _nulls(pa.int32(), n),
        }
    )


def vocabulary_rows() -> list[tuple[int, str, str, str, str, str | None, str]]:
    """(concept_id, name, domain, vocabulary, class, standard, code) of every concept used."""
    domains = {
        "condition": ("Condition", "SNOMED", "Clinical Finding"),
        "drug": ("Drug", "RxNorm", "Ingredient"),
        "measurement": ("Measurement", "LOINC", "Lab Test"),
    }
    rows: dict[int, tuple[int, str, str, str, str, str | None, str]] = {}
    for concept_set in builtin_concept_sets().values():
        domain, vocabulary, klass = domains.get(concept_set.domain, ("Observation", "SNOMED", ""))
        for item in concept_set.items:
            rows[item.concept_id] = (item.concept_id, item.name, domain, vocabulary, klass, "S", "")
    for cid, name, domain, vocab, klass, std, code in (
        (INSULIN_CLASS, "INSULINS AND ANALOGUES", "Drug", "ATC", "ATC 3rd", "C", "A10A"),
        (
            OGLD_CLASS,
            "BLOOD GLUCOSE LOWERING DRUGS, EXCL. INSULINS (id GUESS)",
            "Drug",
            "ATC",
            "ATC 3rd",
            "C",
            "A10B",
        ),
        (A10, "DRUGS USED IN DIABETES", "Drug", "ATC", "ATC 2nd", "C", "A10"),
        (
            DIABETES_MELLITUS,
            "Diabetes mellitus",
            "Condition",
            "SNOMED",
            "Clinical Finding",
            "S",
            "",
        ),
        (T1DM, "Type 1 diabetes mellitus", "Condition", "SNOMED", "Clinical Finding", "S", ""),
        (
            T2DM_LOCAL,
            "Type 2 diabetes mellitus with complication (synthetic local concept)",
            "Condition",
            "Local",
            "Clinical Finding",
            "S",
            "SYN-T2DM-C",
        ),
        (
            INSULIN_LOCAL,
            "insulin glargine 100 UNT/ML pen (synthetic local concept)",
            "Drug",
            "Local",
            "Clinical Drug",
            "S",
            "SYN-INS-1",
        ),
        (
            FPG,
            "Fasting glucose [Mass/volume] in Serum or Plasma",
            "Measurement",
            "LOINC",
            "Lab Test",
            "S",
            "1558-6",
        ),
        (
            HBA1C,
            "Hemoglobin A1c/Hemoglobin.total in Blood",
            "Measurement",
            "LOINC",
            "Lab Test",
            "S",
            "4548-4",
        ),
        (WEIGHT, "Body weight", "Measurement", "LOINC", "Clinical Observation", "S", "29463-7"),
        (HEIGHT, "Body height", "Measurement", "LOINC", "Clinical Observation", "S", "8302-2"),
        (8507, "MALE", "Gender", "Gender", "Gender", "S", "M"),
        (8532, "FEMALE", "Gender", "Gender", "Gender", "S", "F"),
        (OUTPATIENT, "Outpatient Visit", "Visit", "Visit", "Visit", "S", "OP"),
        (INPATIENT, "Inpatient Visit", "Visit", "Visit", "Visit", "S", "IP"),
        (EMERGENCY, "Emergency Room Visit", "Visit", "Visit", "Visit", "S", "ER"),
        (EHR_TYPE, "EHR", "Type Concept", "Type Concept", "Type Concept", "S", "OMOP4976890"),
        (
            SMOKING_OBSERVATION,
            "Tobacco smoking status (synthetic local concept)",
            "Observation",
            "Local",
            "Observable Entity",
            "S",
            "SYN-SMOKE",
        ),
    ):
        rows[cid] = (cid, name, domain, vocab, klass, std, code)
    for cid, unit in (
        (MMOL_L, "mmol/L"),
        (MG_DL, "mg/dL"),
        (PERCENT, "%"),
        (MMOL_MOL, "mmol/mol"),
        (KG, "kg"),
        (LB, "[lb_av]"),
        (CM, "cm"),
        (INCH, "[in_i]"),
        (METRE, "m"),
    ):
        rows[cid] = (cid, unit, "Unit", "UCUM", "Unit", "S", unit)
    for offset, ids in ((0, NOISE_LABS), (1, NOISE_CONDITIONS), (2, NOISE_DRUGS)):
        domain = ("Measurement", "Condition", "Drug")[offset]
        for cid in ids:
            rows[cid] = (
                cid,
                f"Synthetic {domain.lower()} {cid}",
                domain,
                "Local",
                "Local",
                "S",
                f"SYN-{cid}",
            )
    return sorted(rows.values())


def _concept_table() -> pa.Table:
    rows = vocabulary_rows()
    cols = list(zip(*rows, strict=True))
    n = len(rows)
    return pa.table(
        {
            "concept_id": pa.array(cols[0], pa.int32()),
            "concept_name": pa.array(cols[1]),
            "domain_id": pa.array(cols[2]),
            "vocabulary_id": pa.array(cols[3]),
            "concept_class_id": pa.array(cols[4]),
            "standard_concept": pa.array(cols[5]),
            "concept_code": pa.array(cols[6]),
            "valid_start_date": pa.array([date(1970, 1, 1)] * n, pa.date32()),
            "valid_end_date": pa.array([date(2099, 12, 31)] * n, pa.date32()),
            "invalid_reason": pa.nulls(n, pa.string()),
        }
    )


def _concept_ancestor_table(concept_ids: list[int]) -> pa.Table:
    pairs: dict[tuple[int, int], int] = {(c, c): 0 for c in concept_ids}  # self-rows (Circe)
    for ancestor, members, level in (
        (INSULIN_CLASS, INSULINS + (INSULIN_LOCAL,), 1),
        (OGLD_CLASS, ORAL_AGENTS, 1),
        (A10, (INSULIN_CLASS, OGLD_CLASS), 1),
        (A10, INSULINS + ORAL_AGENTS + (INSULIN_LOCAL,), 2),
        (1502905, (INSULIN_LOCAL,), 1),
        (DIABETES_MELLITUS, (T2DM, T1DM), 1),
        (DIABETES_MELLITUS, (T2DM_LOCAL,), 2),
        (T2DM, (T2DM_LOCAL,), 1),
    ):
        for member in members:
            pairs[(ancestor, member)] = level
    anc, desc = zip(*pairs, strict=True)
    levels = list(pairs.values())
    return pa.table(
        {
            "ancestor_concept_id": pa.array(anc, pa.int32()),
            "descendant_concept_id": pa.array(desc, pa.int32()),
            "min_levels_of_separation": pa.array(levels, pa.int32()),
            "max_levels_of_separation": pa.array(levels, pa.int32()),
        }
    )


TABLE_ORDER = (
    "person",
    "observation_period",
    "visit_occurrence",
    "condition_occurrence",
    "measurement",
    "drug_exposure",
    "observation",
    "concept",
    "concept_ancestor",
)


BLOCK_PERSONS = 10_000
"""Persons per random block: block k (persons k·B+1 … (k+1)·B) draws from its own generator,
seeded with (seed, k), so the data depend on the seed and the block size only, never on how
many blocks are generated or written at a time."""
CHUNK_PERSONS = 50_000
"""Persons generated and written at a time (rounded up to whole blocks): bounds memory."""

# Row-id columns numbered within a block, shifted by the rows of the blocks before it.
_ID_COLUMNS = {
    "visit_occurrence": ("visit_occurrence_id", "visit_occurrence"),
    "measurement": ("measurement_id", "measurement"),
    "condition_occurrence": ("condition_occurrence_id", "condition_occurrence"),
    "drug_exposure": ("drug_exposure_id", "drug_exposure"),
    "observation": ("observation_id", "observation"),
}
CLINICAL = TABLE_ORDER[:7]


def _block(
    first_id: int, n: int, p: SynthParameters, rng: np.random.Generator
) -> dict[str, pa.Table]:
    """The clinical tables of persons first_id … first_id + n − 1 (row ids from 1)."""
    pp = _people(n, p, rng, first_id)
    visits = _visits(pp, rng)
    return {
        "person": _person_table(pp, rng),
        "observation_period": _observation_period_table(pp),
        "visit_occurrence": _visit_table(pp, visits, rng),
        "condition_occurrence": _condition_table(pp, p, rng),
        "measurement": _measurement_table(pp, visits, p, rng),
        "drug_exposure": _drug_table(pp, rng),
        "observation": _observation_table(pp, rng),
    }


def _shift(table: pa.Table, column: str, offset: int) -> pa.Table:
    if offset == 0:
        return table
    index = table.schema.get_field_index(column)
    shifted = pc.add(table.column(column), pa.scalar(offset, pa.int64()))
    return table.set_column(index, column, shifted)


def _renumber(tables: dict[str, pa.Table], before: dict[str, int]) -> dict[str, pa.Table]:
    """Row ids continue from the blocks before (`before`: rows so far per table), updated."""
    out = dict(tables)
    for name, (column, counter) in _ID_COLUMNS.items():
        out[name] = _shift(out[name], column, before[counter])
    out["measurement"] = _shift(
        out["measurement"], "visit_occurrence_id", before["visit_occurrence"]
    )
    for name in _ID_COLUMNS:
        before[name] += tables[name].num_rows
    return out


def _check_sizes(persons: int, block_persons: int) -> None:
    if persons < 1:
        raise ValueError(f"persons: {persons} must be at least 1")
    if block_persons < 1:
        raise ValueError(f"block_persons: {block_persons} must be at least 1")


def synthesize_chunks(
    persons: int,
    seed: int = 20100611,
    parameters: SynthParameters | None = None,
    chunk_persons: int = CHUNK_PERSONS,
    block_persons: int = BLOCK_PERSONS,
) -> Iterator[dict[str, pa.Table]]:
    """The clinical tables, `chunk_persons` persons at a time (person-id ranges, in order).

    Concatenated, the chunks are the same tables whatever `chunk_persons` is: randomness is drawn
    per block of `block_persons` (own seed) and row ids continue across blocks."""
    _check_sizes(persons, block_persons)
    if chunk_persons < 1:
        raise ValueError(f"chunk_persons: {chunk_persons} must be at least 1")
    p = parameters or SynthParameters()
    per_chunk = max(1, -(-chunk_persons // block_persons))  # whole blocks
    before = dict.fromkeys(_ID_COLUMNS, 0)
    blocks = -(-persons // block_persons)
    for first_block in range(0, blocks, per_chunk):
        parts = []
        for k in range(first_block, min(first_block + per_chunk, blocks)):
            first = k * block_persons + 1
            n = min(block_persons, persons - k * block_persons)
            rng = np.random.default_rng([seed, k])
            parts.append(_renumber(_block(first, n, p, rng), before))
        yield {name: pa.concat_tables([t[name] for t in parts]) for name in CLINICAL}


def vocabulary_tables() -> dict[str, pa.Table]:
    """`concept` and `concept_ancestor` for every concept the synthetic data use."""
    concept = _concept_table()
    return {
        "concept": concept,
        "concept_ancestor": _concept_ancestor_table(concept.column("concept_id").to_pylist()),
    }


def synthesize(
    persons: int,
    seed: int = 20100611,
    parameters: SynthParameters | None = None,
    progress: Callable[[str], None] | None = None,
    block_persons: int = BLOCK_PERSONS,
) -> dict[str, pa.Table]:
    """The synthetic CDM as Arrow tables in memory, by OMOP table name (deterministic for a
    seed). For large populations use `write_cdm_streaming`, which never holds them all."""
    _check_sizes(persons, block_persons)
    say = progress or (lambda _: None)
    say("clinical tables")
    chunks = list(synthesize_chunks(persons, seed, parameters, persons, block_persons))
    tables = {name: pa.concat_tables([c[name] for c in chunks]) for name in CLINICAL}
    say("vocabulary")
    return tables | vocabulary_tables()


def write_cdm(tables: dict[str, pa.Table], out: str | Path) -> Path:
    """A `.duckdb` file, or a folder of `<table>.parquet` files (any other path)."""
    with _CdmWriter(Path(out)) as writer:
        writer.append(tables)
    return Path(out)


class _CdmWriter:
    """Appends tables chunk by chunk: DuckDB (CREATE, then INSERT) or one Parquet file per table
    (a row group per chunk); the schema of a table's first chunk is kept for the later ones."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.schemas: dict[str, pa.Schema] = {}
        self.writers: dict[str, Any] = {}
        self.db: Any = None
        self.rows: dict[str, int] = {}
        self.created: set[str] = set()

    def __enter__(self) -> _CdmWriter:
        if self.out.suffix == ".duckdb":
            import duckdb

            self.out.parent.mkdir(parents=True, exist_ok=True)
            self.out.unlink(missing_ok=True)
            self.db = duckdb.connect(str(self.out))
        else:
            self.out.mkdir(parents=True, exist_ok=True)
        return self

    def append(self, tables: dict[str, pa.Table]) -> None:
        for name, table in tables.items():
            if name in self.schemas:
                table = table.cast(self.schemas[name])
            else:
                self.schemas[name] = table.schema
            self.rows[name] = self.rows.get(name, 0) + table.num_rows
            if self.db is not None:
                self._append_duckdb(name, table)
            else:
                self._append_parquet(name, table)

    def _append_duckdb(self, name: str, table: pa.Table) -> None:
        self.db.register("incoming", table)
        if name not in self.created:
            self.db.execute(f'CREATE TABLE "{name}" AS SELECT * FROM incoming')
            self.created.add(name)
        else:
            self.db.execute(f'INSERT INTO "{name}" SELECT * FROM incoming')
        self.db.unregister("incoming")

    def _append_parquet(self, name: str, table: pa.Table) -> None:
        import pyarrow.parquet as pq

        if name not in self.writers:
            self.writers[name] = pq.ParquetWriter(self.out / f"{name}.parquet", table.schema)
        self.writers[name].write_table(table, row_group_size=1_000_000)

    def __exit__(self, *exc: object) -> None:
        for writer in self.writers.values():
            writer.close()
        if self.db is not None:
            self.db.close()


def write_cdm_streaming(
    persons: int,
    out: str | Path,
    seed: int = 20100611,
    parameters: SynthParameters | None = None,
    *,
    chunk_persons: int = CHUNK_PERSONS,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Generate and write the synthetic CDM chunk by chunk (memory bounded by the chunk, not the
    population); `progress` is told the persons written so far. Returns rows per table."""
    done = 0
    with _CdmWriter(Path(out)) as writer:
        for chunk in synthesize_chunks(persons, seed, parameters, chunk_persons):
            writer.append(chunk)
            done += chunk["person"].num_rows
            if progress is not None:
                progress(done)
        writer.append(vocabulary_tables())
        return dict(writer.rows)

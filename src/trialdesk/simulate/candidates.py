"""Virtual screening candidates for NCT01142050: physiologically coherent and deterministic.

`generate_candidates(n, seed)` returns `Candidate` objects. Each has

* ``raw``: the screening record exactly as `trialdesk.eligibility.Evaluator.evaluate` takes it:
  catalogue element names, ``<name>_unit`` keys in the reporting laboratory's unit (mmol/L or
  mg/dL glucose, % or mmol/mol HbA1c, µIU/mL, mIU/L or pmol/L insulin, ng/mL, nmol/L or pmol/L
  C-peptide, kg/lb, cm/m/in), the ITT series as ``{minute: glucose}``, booleans and dates;
* ``profile``: the true, unrounded physiology behind it (canonical units), which the follow-up
  simulator continues from and the tests check coherence on.

How one candidate is built (parameters and their sources: `trialdesk.simulate.population`):

1. Recorded diagnosis (type 2, autoimmune/LADA, prediabetes), sex, age (two-component normal
   mixture), height (normal by sex, shrinking after 50), BMI (log-normal) and so weight.
2. A latent insulin-resistance score ``z`` ~ N(0, 1), correlated with log BMI.
3. Diabetes duration (gamma, at most age - 18). True HbA1c (normal); mean glucose from it by
   the ADAG line with its residual scatter (`physiology`), so HbA1c tracks mean glucose.
   Fasting and post-meal glucose are person-specific fractions of mean glucose with day-to-day
   noise. Without a recorded T2DM diagnosis a screening 75 g OGTT 2-h glucose is recorded.
4. Fasting insulin and C-peptide rise with ``z``; C-peptide falls with diabetes duration and is
   low in autoimmune diabetes. KITT falls with ``z`` (so with BMI and HOMA-IR); the ITT glucose
   curve is generated from the day's KITT (test-retest CV 13 %) starting at the fasting glucose.
5. Insulin dose (U/kg/day, log-normal, higher with ``z``) x weight; oral drugs with doses and
   their total WHO defined daily doses (`trialdesk.derive.compute_ogld_ddd_total`); metformin
   is mostly withheld in kidney dysfunction.
6. Fertility (women: before menopause and not sterilised; men: by age band), pregnancy and
   breast-feeding (women under 45), pregnancy test (positive exactly when pregnant; women of
   childbearing potential only), contraception; exclusion conditions with age- and
   duration-dependent prevalence; consent. A declined consent leaves only the data available
   without study procedures (no ITT, no study labs). A small share of records lacks one value.

Determinism: candidate ``i`` uses its own random stream derived from ``(seed, i)``, so the
first ``k`` candidates of ``generate_candidates(n, seed)`` are the same for every ``n >= k``.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from trialdesk.derive import compute_ogld_ddd_total
from trialdesk.simulate.labs import LabProfile, as_reported, choose_lab
from trialdesk.simulate.physiology import (
    ITT_SAMPLE_MINUTES,
    KITT_TEST_RETEST_CV,
    estimated_average_glucose_mg_dl,
    hba1c_from_mean_glucose,
    itt_curve,
    lognormal_factor,
    mmol_l,
)
from trialdesk.simulate.population import ScreeningPopulation
from trialdesk.simulate.streams import Stream, rng_for

#: First screening date of a simulated study (a Monday) unless the caller gives one.
DEFAULT_START = date(2022, 1, 3)
#: `date.weekday()` of Saturday (Monday is 0): screening happens on working days.
_SATURDAY = 5
#: Pregnancy and nursing are drawn only for women younger than this (assumption).
_PREGNANCY_AGE_LIMIT = 48.0
#: Upper ends of the male age bands of `ScreeningPopulation.male_fertile_by_age` (<60, 60-69,
#: 70+).
_MALE_AGE_BAND_EDGES = (60, 70)

TYPE_2 = "type 2 diabetes"
AUTOIMMUNE = "autoimmune diabetes (LADA)"
PREDIABETES = "prediabetes"
#: The diabetes type the site records (catalogue `diabetes_type`, WHO 1999 classification:
#: LADA is slowly progressive autoimmune, i.e. type 1; prediabetes found diabetic at screening
#: has no established type).
DIABETES_TYPE = {TYPE_2: "type_2", AUTOIMMUNE: "type_1", PREDIABETES: "unknown"}

#: Race and ethnicity a virtual candidate reports (catalogue `race`, `ethnicity`: CDISC CT RACE
#: C74457, ETHNIC C66790). The study's one site is in China (protocol `sites`), so a candidate
#: reports Asian, not Hispanic or Latino; one in ten declines to say (NOT REPORTED).
REPORTED_ORIGIN = ("asian", "not_hispanic_or_latino")
NOT_REPORTED = ("not_reported", "not_reported")


def reported_origin(profile: CandidateProfile) -> tuple[str, str]:
    """(race, ethnicity) of a profile: a pure function of its birth date, not a draw from the
    random stream, so every other simulated value is the same as before they were collected."""
    return NOT_REPORTED if profile.birth_date.toordinal() % 10 == 0 else REPORTED_ORIGIN


#: Elements a declined consent leaves unrecorded (they need study procedures).
_NEEDS_CONSENT = (
    "itt_glucose",
    "pregnancy_test",
    "fasting_insulin",
    "c_peptide",
    "ogtt_2h_glucose",
)


@dataclass(frozen=True)
class CandidateProfile:
    """The true physiology behind one candidate's record (canonical units, not rounded)."""

    diagnosis: str
    sex: str
    birth_date: date
    age_years: float
    height_cm: float
    weight_kg: float
    bmi: float
    resistance_score: float
    diabetes_duration_years: float
    hba1c_percent: float  # true value; the record holds a measured one
    mean_glucose_mg_dl: float
    fasting_ratio: float  # fasting glucose / mean glucose of this person
    postmeal_ratio: float
    fasting_glucose_mmol_l: float  # measured at screening
    postmeal_glucose_mmol_l: float  # true usual 2-h post-meal value
    ogtt_2h_glucose_mmol_l: float | None
    fasting_insulin_uiu_ml: float  # true usual value
    c_peptide_ng_ml: float
    stimulated_c_peptide_ng_ml: float
    kitt_percent_per_min: float  # true usual KITT
    itt_glucose_mmol_l: dict[float, float]  # the screening ITT as sampled
    insulin_u_per_kg_day: float
    insulin_u_per_day: float
    oral_drugs_mg_per_day: dict[str, float]
    ogld_ddd: float
    fertile: bool
    pregnant: bool
    pregnancy_known: bool
    nursing: bool
    effective_contraception: bool | None
    conditions: dict[str, bool]
    informed_consent: bool
    lab: LabProfile
    #: Screening measurements in canonical units before rounding (weight, height, fasting
    #: glucose, HbA1c, fasting insulin, C-peptide and, without a T2DM diagnosis, OGTT 2-h).
    screening_values: dict[str, float]
    withheld: tuple[str, ...] = ()  # values missing from the record (pending results)

    @property
    def homa_ir(self) -> float:
        """HOMA1-IR from the true usual fasting values (Matthews 1985: G x I / 22.5)."""
        fasting = mmol_l(self.mean_glucose_mg_dl) * self.fasting_ratio
        return fasting * self.fasting_insulin_uiu_ml / 22.5


@dataclass(frozen=True)
class Candidate:
    """One screening candidate: id, screening date, the raw record and the truth behind it."""

    candidate_id: str
    index: int
    screening_date: date
    raw: dict[str, Any] = field(repr=False)
    profile: CandidateProfile = field(repr=False)


def generate_candidates(
    n: int,
    seed: int = 0,
    *,
    start: date = DEFAULT_START,
    population: ScreeningPopulation | None = None,
) -> list[Candidate]:
    """`n` screening candidates, screened on weekdays from `start` (deterministic in `seed`)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n: {n!r} is not a number of candidates (a whole number >= 0)")
    population = population or ScreeningPopulation()
    candidates = []
    day = start
    for index in range(n):
        rng = rng_for(seed, Stream.CANDIDATE, index)
        if index:
            gap = rng.exponential(population.mean_days_between_screenings)
            day = day + timedelta(days=max(1, int(round(gap))))
        else:
            rng.exponential(1.0)  # keep the stream aligned with the other candidates
        day = _weekday(day)
        candidates.append(_candidate(index, day, rng, population))
    return candidates


def _weekday(day: date) -> date:
    while day.weekday() >= _SATURDAY:
        day += timedelta(days=1)
    return day


def _candidate(
    index: int, screening_date: date, rng: np.random.Generator, pop: ScreeningPopulation
) -> Candidate:
    profile = draw_profile(rng, screening_date, pop)
    raw = screening_record(profile, screening_date)
    return Candidate(f"S{index + 1:04d}", index, screening_date, raw, profile)


def draw_profile(
    rng: np.random.Generator, screening_date: date, pop: ScreeningPopulation
) -> CandidateProfile:
    """The true physiology of one candidate (steps 1-6 of the module docstring)."""
    diagnosis = _diagnosis(rng, pop)
    sex = "M" if rng.random() < pop.share_male else "F"
    age = _age(rng, pop)
    birth_date = screening_date - timedelta(days=int(age * 365.25))
    height, bmi = _anthropometry(rng, pop, sex, age)
    weight = bmi * (height / 100.0) ** 2
    z = _resistance_score(rng, pop, bmi)
    duration = _duration(rng, pop, age, diagnosis)
    glycaemia = _glycaemia(rng, pop, diagnosis)
    kitt = _kitt(rng, pop, diagnosis, z)
    conditions = _conditions(rng, pop, age, duration)
    insulin_per_kg = _insulin_per_kg(rng, pop, diagnosis, z)
    drugs = _oral_drugs(rng, pop, diagnosis, conditions.get("kidney_dysfunction", False))
    fertility = _fertility(rng, pop, sex, age)
    c_peptide, fasting_insulin = _insulin_secretion(rng, pop, diagnosis, duration, z)
    mean_glucose = glycaemia["mean_glucose_mg_dl"]
    fasting_measured, itt = _screening_itt(rng, glycaemia, kitt)
    ogtt = glycaemia["ogtt_2h_mmol_l"] if diagnosis != TYPE_2 else None
    insulin_u_per_day = float(max(6, round(insulin_per_kg * weight))) if insulin_per_kg else 0.0
    consent = rng.random() >= pop.decline_consent
    withheld = _withheld(rng, pop, fertility)
    screening_values = {
        "weight": weight,
        "height": height,
        "fasting_glucose": fasting_measured,
        **_screening_labs(rng, glycaemia["hba1c"], fasting_insulin, c_peptide),
    }
    if ogtt is not None:
        screening_values["ogtt_2h_glucose"] = ogtt
    return CandidateProfile(
        diagnosis=diagnosis,
        sex=sex,
        birth_date=birth_date,
        age_years=age,
        height_cm=height,
        weight_kg=weight,
        bmi=bmi,
        resistance_score=z,
        diabetes_duration_years=duration,
        hba1c_percent=glycaemia["hba1c"],
        mean_glucose_mg_dl=mean_glucose,
        fasting_ratio=glycaemia["fasting_ratio"],
        postmeal_ratio=glycaemia["postmeal_ratio"],
        fasting_glucose_mmol_l=fasting_measured,
        postmeal_glucose_mmol_l=mmol_l(mean_glucose) * glycaemia["postmeal_ratio"],
        ogtt_2h_glucose_mmol_l=ogtt,
        fasting_insulin_uiu_ml=fasting_insulin,
        c_peptide_ng_ml=c_peptide,
        stimulated_c_peptide_ng_ml=c_peptide
        * pop.stimulated_c_peptide_ratio
        * lognormal_factor(rng, 0.2),
        kitt_percent_per_min=kitt,
        itt_glucose_mmol_l=itt,
        insulin_u_per_kg_day=insulin_per_kg,
        insulin_u_per_day=insulin_u_per_day,
        oral_drugs_mg_per_day=drugs,
        ogld_ddd=round(compute_ogld_ddd_total(drugs), 3),
        fertile=fertility["fertile"],
        pregnant=fertility["pregnant"],
        pregnancy_known=fertility["pregnancy_known"],
        nursing=fertility["nursing"],
        effective_contraception=fertility["contraception"],
        conditions=conditions,
        informed_consent=consent,
        lab=choose_lab(rng),
        screening_values=screening_values,
        withheld=withheld,
    )


def _insulin_secretion(
    rng: np.random.Generator, pop: ScreeningPopulation, diagnosis: str, duration: float, z: float
) -> tuple[float, float]:
    """(fasting C-peptide ng/mL, fasting insulin µIU/mL), true usual values (see population)."""
    c_peptide = (
        pop.c_peptide_median
        * math.exp(-0.035 * (duration - 10.0) + 0.25 * z)
        * lognormal_factor(rng, 0.35)
        * (0.3 if diagnosis == AUTOIMMUNE else 1.0)  # autoimmune beta-cell loss (assumption)
    )
    fasting_insulin = pop.fasting_insulin_median * math.exp(0.45 * z) * lognormal_factor(rng, 0.25)
    return c_peptide, fasting_insulin


def _screening_itt(
    rng: np.random.Generator, glycaemia: dict[str, float], kitt: float
) -> tuple[float, dict[float, float]]:
    """(measured fasting glucose mmol/L, ITT samples): the ITT starts from that morning's
    fasting glucose (2 % apart: a second analyser) with the day's KITT (test-retest CV 13 %)."""
    fasting = mmol_l(glycaemia["mean_glucose_mg_dl"]) * glycaemia["fasting_ratio"]
    fasting_measured = fasting * lognormal_factor(rng, 0.1)
    itt_kitt = kitt * lognormal_factor(rng, KITT_TEST_RETEST_CV)
    return fasting_measured, itt_curve(
        fasting_measured * lognormal_factor(rng, 0.02), itt_kitt, rng
    )


def _screening_labs(
    rng: np.random.Generator, hba1c: float, fasting_insulin: float, c_peptide: float
) -> dict[str, float]:
    """Screening laboratory values with within-subject and assay variation (Ricos 1999):
    HbA1c ± 0.15 %-points (about 2 % CV), insulin CV 20 %, C-peptide CV 12 %."""
    return {
        "hba1c": hba1c + rng.normal(0.0, 0.15),
        "fasting_insulin": fasting_insulin * lognormal_factor(rng, 0.2),
        "c_peptide": c_peptide * lognormal_factor(rng, 0.12),
    }


def _diagnosis(rng: np.random.Generator, pop: ScreeningPopulation) -> str:
    u = rng.random()
    if u < pop.share_autoimmune:
        return AUTOIMMUNE
    if u < pop.share_autoimmune + pop.share_prediabetes:
        return PREDIABETES
    return TYPE_2


def _age(rng: np.random.Generator, pop: ScreeningPopulation) -> float:
    if rng.random() < pop.young_share:
        age = rng.normal(pop.young_age_mean, pop.young_age_sd)
    else:
        age = rng.normal(pop.age_mean, pop.age_sd)
    # Referrals outside 16-88 years do not happen (assumption); 16-17 and 76-88 fail I3.
    return float(np.clip(age, 16.0, 88.0))


def _anthropometry(
    rng: np.random.Generator, pop: ScreeningPopulation, sex: str, age: float
) -> tuple[float, float]:
    if sex == "M":
        height = rng.normal(pop.height_male_mean, pop.height_sd_male)
    else:
        height = rng.normal(pop.height_female_mean, pop.height_sd_female)
    height -= 0.1 * max(0.0, age - 50.0)
    bmi = pop.bmi_median * math.exp(rng.normal(0.0, pop.bmi_sd_log))
    return float(np.clip(height, 135.0, 200.0)), float(np.clip(bmi, 15.5, 45.0))


def _resistance_score(rng: np.random.Generator, pop: ScreeningPopulation, bmi: float) -> float:
    rho = pop.resistance_bmi_correlation
    bmi_z = math.log(bmi / pop.bmi_median) / pop.bmi_sd_log
    return float(rho * bmi_z + math.sqrt(1.0 - rho * rho) * rng.normal())


def _duration(
    rng: np.random.Generator, pop: ScreeningPopulation, age: float, diagnosis: str
) -> float:
    shape = (pop.duration_mean / pop.duration_sd) ** 2
    scale = pop.duration_sd**2 / pop.duration_mean
    duration = rng.gamma(shape, scale)
    if diagnosis == PREDIABETES:
        duration = rng.uniform(0.0, 3.0)  # years since the abnormal glucose was first noted
    return float(np.clip(duration, 0.3, max(0.3, age - 18.0)))


def _glycaemia(
    rng: np.random.Generator, pop: ScreeningPopulation, diagnosis: str
) -> dict[str, float]:
    """True HbA1c, mean glucose (ADAG), the person's fasting/post-meal ratios, OGTT 2-h value."""
    if diagnosis == PREDIABETES:
        # Prediabetes: HbA1c 5.7-6.4 % (ADA), OGTT 2-h 7.8-11.0 mmol/L (WHO 1999 IGT).
        target = float(np.clip(rng.normal(6.0, 0.25), 5.5, 6.4))
        ogtt = float(np.clip(rng.normal(9.3, 0.8), 7.8, 11.0))
    else:
        target = float(np.clip(rng.normal(pop.hba1c_mean, pop.hba1c_sd), 5.8, 14.5))
        ogtt = float(np.clip(rng.normal(16.0, 3.0), 11.5, 30.0))
    # Draw mean glucose around the ADAG value, then HbA1c from it by the inverted line.
    mean_glucose = estimated_average_glucose_mg_dl(target)
    hba1c = float(np.clip(hba1c_from_mean_glucose(mean_glucose, rng), 4.8, 16.0))
    sd = pop.glucose_ratio_sd_log
    return {
        "hba1c": hba1c,
        "mean_glucose_mg_dl": mean_glucose,
        "fasting_ratio": pop.fasting_to_mean_ratio * lognormal_factor(rng, sd),
        "postmeal_ratio": pop.postmeal_to_mean_ratio * lognormal_factor(rng, sd),
        "ogtt_2h_mmol_l": ogtt,
    }


def _kitt(rng: np.random.Generator, pop: ScreeningPopulation, diagnosis: str, z: float) -> float:
    if diagnosis == PREDIABETES:
        kitt = pop.kitt_prediabetes_median * math.exp(
            -0.5 * pop.kitt_resistance_slope * z + rng.normal(0.0, 0.2)
        )
    else:
        kitt = pop.kitt_median * math.exp(
            -pop.kitt_resistance_slope * z + rng.normal(0.0, pop.kitt_sd_log)
        )
    # Below 0.5 %/min the 15-min test cannot resolve the fall; above 7 is not seen in T2DM.
    return float(np.clip(kitt, 0.5, 7.0))


def _insulin_per_kg(
    rng: np.random.Generator, pop: ScreeningPopulation, diagnosis: str, z: float
) -> float:
    if diagnosis == PREDIABETES:
        return 0.0
    value = pop.insulin_u_per_kg_median * math.exp(0.2 * z + rng.normal(0.0, pop.insulin_sd_log))
    return float(np.clip(value, 0.15, 1.6))


def _oral_drugs(
    rng: np.random.Generator, pop: ScreeningPopulation, diagnosis: str, kidney: bool
) -> dict[str, float]:
    drugs: dict[str, float] = {}
    for name, probability, doses in pop.oral_drugs:
        p = probability
        if name == "metformin" and kidney:
            p *= 0.3  # withheld or stopped at low eGFR
        if diagnosis == PREDIABETES:
            p = probability * 0.6 if name == "metformin" else 0.0
        if rng.random() < p:
            choice = int(rng.choice(len(doses), p=[w for _, w in doses]))
            drugs[name] = doses[choice][0]
    return drugs


def _fertility(
    rng: np.random.Generator, pop: ScreeningPopulation, sex: str, age: float
) -> dict[str, Any]:
    pregnant = known = nursing = False
    if sex == "F":
        premenopausal = age < rng.normal(pop.menopause_age_mean, pop.menopause_age_sd)
        fertile = premenopausal and rng.random() >= pop.sterilised_share
        if age < _PREGNANCY_AGE_LIMIT:
            u = rng.random()
            pregnant = fertile and u < pop.pregnant_share
            nursing = (not pregnant) and pop.pregnant_share <= u < (
                pop.pregnant_share + pop.nursing_share
            )
            known = pregnant and rng.random() < pop.pregnancy_known_share
    else:
        band = bisect.bisect_right(_MALE_AGE_BAND_EDGES, age)
        fertile = rng.random() < pop.male_fertile_by_age[band]
    contraception = None
    if fertile:
        contraception = rng.random() >= pop.no_contraception_share
    return {
        "fertile": bool(fertile),
        "pregnant": bool(pregnant),
        "pregnancy_known": bool(known),
        "nursing": bool(nursing),
        "contraception": contraception,
    }


def _conditions(
    rng: np.random.Generator, pop: ScreeningPopulation, age: float, duration: float
) -> dict[str, bool]:
    present = {}
    for name, risk in pop.conditions.items():
        logit = (
            math.log(risk.prevalence / (1.0 - risk.prevalence))
            + risk.per_year_of_age * (age - 58.0)
            + risk.per_year_of_diabetes * (duration - 10.0)
        )
        present[name] = bool(rng.random() < 1.0 / (1.0 + math.exp(-logit)))
    return present


def _withheld(
    rng: np.random.Generator, pop: ScreeningPopulation, fertility: dict[str, Any]
) -> tuple[str, ...]:
    if rng.random() >= pop.incomplete_record_share:
        return ()
    options = ["hba1c", "fasting_glucose", "itt_glucose", "weight"]
    if fertility["fertile"]:
        options.append("effective_contraception")
    return (options[int(rng.integers(len(options)))],)


def screening_record(profile: CandidateProfile, screening_date: date) -> dict[str, Any]:
    """The raw screening record (`Evaluator.evaluate` input) for a profile, in its lab's units.

    A pure function of the profile: the measured values are in ``profile.screening_values``.
    """
    lab = profile.lab
    record: dict[str, Any] = {
        "informed_consent": profile.informed_consent,
        "t2dm_diagnosis": profile.diagnosis == TYPE_2,
        "diabetes_type": DIABETES_TYPE[profile.diagnosis],
        "date_of_birth": profile.birth_date,
        "screening_date": screening_date,
        "sex": profile.sex,
        "race": reported_origin(profile)[0],
        "ethnicity": reported_origin(profile)[1],
        "diabetes_duration": round(profile.diabetes_duration_years),
        "diabetes_duration_unit": "year",
    }
    for element, value in profile.screening_values.items():
        unit = lab.unit_for(element)
        record[element] = as_reported(element, value, unit)
        record[f"{element}_unit"] = unit
    glucose_unit = lab.unit_for("itt_glucose")
    record["itt_glucose"] = {
        t: as_reported("itt_glucose", g, glucose_unit)
        for t, g in profile.itt_glucose_mmol_l.items()
    }
    record["itt_glucose_unit"] = glucose_unit
    record["insulin_daily_dose"] = profile.insulin_u_per_day
    record["insulin_daily_dose_unit"] = "U/day"
    record["ogld_ddd"] = profile.ogld_ddd
    record.update(_reproductive_fields(profile))
    record.update(profile.conditions)
    if not profile.informed_consent:
        for name in _NEEDS_CONSENT:
            record.pop(name, None)
            record.pop(f"{name}_unit", None)
    for name in profile.withheld:
        record.pop(name, None)
        record.pop(f"{name}_unit", None)
    return record


def _reproductive_fields(profile: CandidateProfile) -> dict[str, Any]:
    fields: dict[str, Any] = {"fertile": profile.fertile}
    if profile.sex == "F":
        fields["pregnant"] = profile.pregnant and profile.pregnancy_known
        fields["nursing"] = profile.nursing
        if profile.fertile:
            fields["pregnancy_test"] = "positive" if profile.pregnant else "negative"
    if profile.effective_contraception is not None:
        fields["effective_contraception"] = profile.effective_contraception
    return fields


__all__ = [
    "AUTOIMMUNE",
    "DEFAULT_START",
    "ITT_SAMPLE_MINUTES",
    "PREDIABETES",
    "TYPE_2",
    "Candidate",
    "CandidateProfile",
    "draw_profile",
    "generate_candidates",
    "screening_record",
]

"""Virtual screening candidates: determinism, format, coherence, and the screening they produce."""

from __future__ import annotations

import collections
import doctest
from datetime import date

import numpy as np
import pytest
from scipy import stats

from trialdesk.derive import compute_homa_ir, compute_kitt, compute_ogld_ddd_total
from trialdesk.eligibility import Evaluator, Status
from trialdesk.protocol import builtin_protocol
from trialdesk.simulate import candidates as candidates_module
from trialdesk.simulate import effect as effect_module
from trialdesk.simulate import labs, physiology
from trialdesk.simulate.candidates import (
    AUTOIMMUNE,
    PREDIABETES,
    TYPE_2,
    Candidate,
    generate_candidates,
)
from trialdesk.simulate.labs import to_canonical
from trialdesk.simulate.population import ConditionRisk, ScreeningPopulation

N = 500


@pytest.fixture(scope="module")
def cohort() -> list[Candidate]:
    return generate_candidates(N, seed=11)


@pytest.fixture(scope="module")
def screened(cohort: list[Candidate]) -> list:
    evaluator = Evaluator(builtin_protocol())
    return [evaluator.evaluate(c.raw, c.candidate_id, c.screening_date) for c in cohort]


def _canonical(c: Candidate, element: str) -> float:
    return to_canonical(element, float(c.raw[element]), str(c.raw[f"{element}_unit"]))


def _kitt(c: Candidate) -> float:
    samples = c.profile.itt_glucose_mmol_l
    return compute_kitt(list(samples), list(samples.values()))


# --- determinism --------------------------------------------------------------------------------


def test_same_seed_gives_identical_candidates() -> None:
    first = generate_candidates(40, seed=3)
    again = generate_candidates(40, seed=3)
    assert [c.raw for c in first] == [c.raw for c in again]
    assert [c.screening_date for c in first] == [c.screening_date for c in again]


def test_different_seed_gives_different_candidates() -> None:
    a = generate_candidates(40, seed=3)
    b = generate_candidates(40, seed=4)
    differing = sum(x.raw != y.raw for x, y in zip(a, b, strict=True))
    assert differing == 40


def test_adding_candidates_does_not_change_earlier_ones() -> None:
    short = generate_candidates(25, seed=8)
    long = generate_candidates(60, seed=8)
    assert [c.raw for c in short] == [c.raw for c in long[:25]]


def test_screening_dates_are_weekdays_in_order_from_start() -> None:
    start = date(2023, 5, 1)
    cohort = generate_candidates(80, seed=2, start=start)
    days = [c.screening_date for c in cohort]
    assert days[0] == start
    assert days == sorted(days)
    assert all(d.weekday() < 5 for d in days)
    assert [c.candidate_id for c in cohort[:3]] == ["S0001", "S0002", "S0003"]


@pytest.mark.parametrize("n", [-1, 2.5, True, "10"])
def test_bad_number_of_candidates_is_refused(n: object) -> None:
    with pytest.raises(ValueError, match="n: "):
        generate_candidates(n, seed=1)  # type: ignore[arg-type]


def test_bad_seed_is_refused() -> None:
    with pytest.raises(ValueError, match="seed"):
        generate_candidates(3, seed=-1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"share_male": 1.5}, "share_male"),
        ({"share_autoimmune": 0.6, "share_prediabetes": 0.6}, "share_autoimmune"),
        ({"conditions": {"hiv_infection": ConditionRisk(0.0)}}, "hiv_infection"),
        ({"mean_days_between_screenings": 0}, "mean_days_between_screenings"),
    ],
)
def test_population_parameters_are_checked(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScreeningPopulation(**change)


# --- record format ------------------------------------------------------------------------------


def test_every_record_is_accepted_by_the_evaluator(screened: list) -> None:
    # The fixture would have raised CandidateInputError on any malformed record.
    assert len(screened) == N


def test_units_vary_as_reporting_laboratories_do(cohort: list[Candidate]) -> None:
    units = collections.defaultdict(set)
    for c in cohort:
        for key, value in c.raw.items():
            if key.endswith("_unit"):
                units[key.removesuffix("_unit")].add(value)
    assert units["fasting_glucose"] == {"mmol/L", "mg/dL"}
    assert units["hba1c"] == {"%", "mmol/mol"}
    assert units["fasting_insulin"] == {"µIU/mL", "pmol/L", "mIU/L"}
    assert units["c_peptide"] == {"ng/mL", "nmol/L", "pmol/L"}
    assert {"kg", "lb"} <= units["weight"]
    assert units["itt_glucose"] == units["fasting_glucose"]


def test_itt_is_a_minute_to_glucose_mapping_in_the_glucose_unit(cohort: list[Candidate]) -> None:
    with_itt = [c for c in cohort if "itt_glucose" in c.raw]
    assert len(with_itt) > 0.9 * N
    for c in with_itt:
        assert list(c.raw["itt_glucose"]) == list(physiology.ITT_SAMPLE_MINUTES)
        assert c.raw["itt_glucose_unit"] == c.raw.get("fasting_glucose_unit", "mmol/L") or (
            "fasting_glucose" not in c.raw
        )


def test_declined_consent_leaves_no_study_procedures(cohort: list[Candidate]) -> None:
    declined = [c for c in cohort if c.raw["informed_consent"] is False]
    assert declined, "some candidates decline consent"
    for c in declined:
        assert "itt_glucose" not in c.raw and "pregnancy_test" not in c.raw


def test_reproductive_fields_follow_sex_and_age(cohort: list[Candidate]) -> None:
    for c in cohort:
        p = c.profile
        if p.sex == "M":
            assert "pregnant" not in c.raw and "pregnancy_test" not in c.raw and not p.pregnant
        elif p.pregnant:
            assert p.fertile and p.age_years < 48
        if "pregnancy_test" in c.raw:
            assert p.sex == "F" and p.fertile
            assert (c.raw["pregnancy_test"] == "positive") == p.pregnant
        if p.fertile and c.raw["informed_consent"]:
            assert "effective_contraception" in c.raw or "effective_contraception" in p.withheld
    women_60_plus = [c for c in cohort if c.profile.sex == "F" and c.profile.age_years >= 60]
    assert women_60_plus and not any(c.profile.fertile for c in women_60_plus)


def test_oral_drug_ddds_are_the_who_sum(cohort: list[Candidate]) -> None:
    for c in cohort:
        expected = compute_ogld_ddd_total(c.profile.oral_drugs_mg_per_day)
        assert c.raw["ogld_ddd"] == pytest.approx(expected, abs=5e-4)
    assert (
        collections.Counter(d for c in cohort for d in c.profile.oral_drugs_mg_per_day)["metformin"]
        > 0.4 * N
    )


def test_insulin_dose_is_weight_based(cohort: list[Candidate]) -> None:
    type2 = [c for c in cohort if c.profile.diagnosis == TYPE_2]
    per_kg = np.array([c.profile.insulin_u_per_day / c.profile.weight_kg for c in type2])
    assert 0.45 < np.median(per_kg) < 0.65
    assert per_kg.min() >= 0.1 and per_kg.max() <= 1.7


# --- physiological coherence --------------------------------------------------------------------


def test_hba1c_tracks_mean_glucose(cohort: list[Candidate]) -> None:
    with_a1c = [c for c in cohort if "hba1c" in c.raw]
    hba1c = [_canonical(c, "hba1c") for c in with_a1c]
    mean_glucose = [c.profile.mean_glucose_mg_dl for c in with_a1c]
    r = np.corrcoef(hba1c, mean_glucose)[0, 1]
    assert r > 0.85
    # And the ADAG line holds on average: eAG = 28.7 x HbA1c - 46.7 (Nathan 2008).
    residual = np.array(mean_glucose) - (28.7 * np.array(hba1c) - 46.7)
    assert abs(residual.mean()) < 5.0  # mg/dL


def test_fasting_glucose_tracks_hba1c(cohort: list[Candidate]) -> None:
    both = [c for c in cohort if "hba1c" in c.raw and "fasting_glucose" in c.raw]
    hba1c = [_canonical(c, "hba1c") for c in both]
    r = np.corrcoef(hba1c, [_canonical(c, "fasting_glucose") for c in both])[0, 1]
    assert 0.6 < r < 0.95


def test_kitt_is_lower_with_higher_bmi_and_homa_ir(cohort: list[Candidate]) -> None:
    usable = [c for c in cohort if c.profile.diagnosis == TYPE_2]
    kitt = np.array([_kitt(c) for c in usable])
    bmi = np.array([c.profile.bmi for c in usable])
    homa = np.array(
        [
            compute_homa_ir(
                c.profile.screening_values["fasting_glucose"],
                c.profile.screening_values["fasting_insulin"],
            )
            for c in usable
        ]
    )
    r_bmi, p_bmi = stats.pearsonr(kitt, bmi)
    r_homa, p_homa = stats.spearmanr(kitt, homa)
    assert r_bmi < -0.15 and p_bmi < 1e-3
    assert r_homa < -0.25 and p_homa < 1e-3
    assert stats.spearmanr(homa, bmi)[0] > 0.15


def test_kitt_distribution_matches_t2dm_literature(cohort: list[Candidate]) -> None:
    kitt = np.array([_kitt(c) for c in cohort if c.profile.diagnosis == TYPE_2])
    # Lee et al. 2008: 2.03 ± 1.14 %/min; Kozawa 2011: median 1.56 %/min.
    assert 1.6 < kitt.mean() < 2.6
    assert 1.4 < np.median(kitt) < 2.3
    assert 0.5 < (kitt < 2.5).mean() < 0.85


def test_itt_curve_gives_back_its_kitt_without_noise() -> None:
    rng = np.random.default_rng(1)
    for true_kitt in (0.8, 2.0, 4.5):
        curve = physiology.itt_curve(9.0, true_kitt, rng, assay_cv=0.0)
        assert compute_kitt(list(curve), list(curve.values())) == pytest.approx(true_kitt)


def test_c_peptide_is_coherent(cohort: list[Candidate]) -> None:
    p = [c.profile for c in cohort]
    assert all(x.stimulated_c_peptide_ng_ml > 0 and x.c_peptide_ng_ml > 0 for x in p)
    ratio = np.array([x.stimulated_c_peptide_ng_ml / x.c_peptide_ng_ml for x in p])
    assert 1.8 < np.median(ratio) < 2.6
    duration = [x.diabetes_duration_years for x in p]
    assert stats.spearmanr(duration, [x.c_peptide_ng_ml for x in p])[0] < -0.1


def test_bmi_and_age_are_in_the_referral_range(cohort: list[Candidate]) -> None:
    bmi = np.array([c.profile.bmi for c in cohort])
    age = np.array([c.profile.age_years for c in cohort])
    assert 24 < np.median(bmi) < 27 and 45 < age.mean() < 62
    assert all(c.profile.birth_date < c.screening_date for c in cohort)


# --- screening outcome --------------------------------------------------------------------------


def test_every_criterion_fails_for_some_candidates(screened: list) -> None:
    failed = collections.Counter(c.criterion.id for r in screened for c in r.failed)
    criteria = [c.id for c in builtin_protocol().criteria]
    assert set(criteria) <= set(failed), f"never failed: {set(criteria) - set(failed)}"


def test_share_eligible_is_realistic(screened: list) -> None:
    statuses = collections.Counter(r.status for r in screened)
    eligible = statuses[Status.ELIGIBLE] / N
    assert 0.2 < eligible < 0.5
    # Incomplete records exist but are rare (a pending result, a form not completed).
    assert 0 < statuses[Status.INCOMPLETE] < 0.05 * N


def test_commonest_failures_are_the_trial_specific_ones(screened: list) -> None:
    failed = collections.Counter(c.criterion.id for r in screened for c in r.failed)
    top = {cid for cid, _ in failed.most_common(3)}
    assert "I6" in top and "I5" in top  # insulin resistance by ITT; FBG and HbA1c


def test_without_a_t2dm_record_diabetes_is_judged_by_who_glucose_criteria(
    cohort: list[Candidate], screened: list
) -> None:
    pairs = [
        (c, r)
        for c, r in zip(cohort, screened, strict=True)
        if not c.raw["t2dm_diagnosis"] and c.raw["informed_consent"]
    ]
    assert {c.profile.diagnosis for c, _ in pairs} == {PREDIABETES, AUTOIMMUNE}
    for c, r in pairs:
        assert "ogtt_2h_glucose" in c.raw  # a screening OGTT stands in for the record
        i2 = next(x for x in r.criteria if x.criterion.id == "I2")
        if c.profile.diagnosis == PREDIABETES and "fasting_glucose" in c.raw:
            assert i2.satisfied is (_canonical(c, "fasting_glucose") >= 6.95)


def test_documented_examples_hold() -> None:
    for module in (physiology, labs, candidates_module, effect_module):
        result = doctest.testmod(module)
        assert result.failed == 0, module.__name__


def test_the_generators_do_not_import_the_database_or_web_layers() -> None:
    import subprocess
    import sys

    code = (
        "import sys, trialdesk.simulate; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'fastapi') "
        "or m.startswith(('trialdesk.store', 'trialdesk.services', 'trialdesk.web'))]; "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

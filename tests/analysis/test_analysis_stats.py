"""Statistics against hand calculations and against scipy/statsmodels called directly."""

from __future__ import annotations

import doctest
import importlib
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from trialdesk.analysis.stats import (
    compute_mean_ci,
    compute_paired_tests,
    compute_proportion,
    compute_summary,
    fit_mmrm,
)
from trialdesk.analysis.stats.paired import compute_hodges_lehmann
from trialdesk.analysis.stats.safety import (
    compute_ae_by_grade,
    compute_ae_by_seriousness,
    compute_ae_overview,
)
from trialdesk.analysis.stats.unstructured import Structure

BEFORE = [8.0, 9.0, 7.5, 8.5, 10.0]
AFTER = [7.0, 8.5, 7.5, 7.0, 9.0]


@pytest.mark.parametrize(
    "module",
    [
        "trialdesk.analysis.errors",
        "trialdesk.analysis.adae",
        "trialdesk.analysis.stats.descriptive",
        "trialdesk.analysis.stats.paired",
        "trialdesk.analysis.stats.proportions",
    ],
)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_paired_t_by_hand() -> None:
    # d = -1, -0.5, 0, -1.5, -1: mean -0.8, sum of squares about the mean 1.3, SD^2 = 1.3/4.
    r = compute_paired_tests(BEFORE, AFTER)
    sd = math.sqrt(1.3 / 4)
    se = sd / math.sqrt(5)
    assert r.n == 5 and r.df == 4
    assert r.mean_change == pytest.approx(-0.8)
    assert r.sd_change == pytest.approx(sd)
    assert r.t == pytest.approx(-0.8 / se)  # -3.1379
    assert r.t == pytest.approx(-3.1379, abs=1e-4)
    # t(0.975, 4) = 2.7764 (statistical tables): CI -0.8 +- 2.7764 x 0.25495.
    assert r.ci_low == pytest.approx(-0.8 - 2.7764 * se, abs=1e-4)
    assert r.ci_high == pytest.approx(-0.8 + 2.7764 * se, abs=1e-4)
    assert r.p_ttest == pytest.approx(0.0349, abs=1e-4)


def test_wilcoxon_by_hand() -> None:
    # Zero dropped; the 4 non-zero changes are all negative: W+ = 0, the most extreme of
    # 2^4 = 16 equally likely sign patterns, two-sided exact p = 2/16.
    r = compute_paired_tests(BEFORE, AFTER)
    assert r.wilcoxon_statistic == 0
    assert r.p_wilcoxon == pytest.approx(0.125)
    assert r.median_change == -1.0


def test_hodges_lehmann_by_hand() -> None:
    # Walsh averages of (1, 2, 4): 1, 1.5, 2.5, 2, 3, 4 -> median 2.25.
    assert compute_hodges_lehmann([1.0, 2.0, 4.0]) == 2.25


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_paired_tests_match_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    before = rng.normal(9, 1.2, 23)
    after = before + rng.normal(-0.7, 0.9, 23)
    r = compute_paired_tests(before, after)
    t = stats.ttest_rel(after, before)
    w = stats.wilcoxon(after - before)
    assert r.t == pytest.approx(t.statistic) and r.p_ttest == pytest.approx(t.pvalue)
    assert r.wilcoxon_statistic == w.statistic and r.p_wilcoxon == pytest.approx(w.pvalue)
    low, high = stats.t.interval(
        0.95, 22, loc=np.mean(after - before), scale=stats.sem(after - before)
    )
    assert (r.ci_low, r.ci_high) == pytest.approx((low, high))


def test_paired_tests_drop_incomplete_pairs() -> None:
    r = compute_paired_tests([8.0, float("nan"), 9.0, 7.0], [7.0, 6.0, float("nan"), 6.5])
    assert r.n == 2 and r.mean_change == pytest.approx(-0.75)
    few = compute_paired_tests([8.0], [7.0])
    assert few.n == 1 and math.isnan(few.p_ttest) and "fewer than 2" in few.note
    same = compute_paired_tests([8.0, 9.0, 7.0], [7.0, 8.0, 6.0])
    assert math.isnan(same.p_ttest) and "SD 0" in same.note
    none = compute_paired_tests([8.0, 9.0], [8.0, 9.0])
    assert "no non-zero change" in none.note
    with pytest.raises(ValueError, match="one pair per participant"):
        compute_paired_tests([1.0, 2.0], [1.0])


def test_summary_matches_numpy() -> None:
    values = [7.1, 8.0, 9.5, 6.4, float("nan"), 8.8]
    s = compute_summary(values)
    x = np.array([7.1, 8.0, 9.5, 6.4, 8.8])
    assert s.n == 5 and s.mean == pytest.approx(x.mean()) and s.sd == pytest.approx(x.std(ddof=1))
    assert (s.q1, s.median, s.q3) == pytest.approx(tuple(np.percentile(x, [25, 50, 75])))
    assert (s.min, s.max) == (6.4, 9.5)
    low, high = stats.t.interval(0.9, 4, loc=x.mean(), scale=stats.sem(x))
    assert compute_mean_ci(x, 0.9) == pytest.approx((low, high))
    assert compute_summary([]).n == 0 and math.isnan(compute_summary([3.0]).sd)
    with pytest.raises(ValueError, match="level"):
        compute_mean_ci(x, 95)


def test_clopper_pearson_by_hand_and_statsmodels() -> None:
    # x = 0: upper = 1 - (alpha/2)^(1/n); x = n: lower = (alpha/2)^(1/n) (Clopper & Pearson).
    zero = compute_proportion(0, 11)
    assert zero.ci_low == 0 and zero.ci_high == pytest.approx(1 - 0.025 ** (1 / 11))
    full = compute_proportion(11, 11)
    assert full.ci_low == pytest.approx(0.025 ** (1 / 11)) and full.ci_high == 1
    seven = compute_proportion(7, 10)
    assert (seven.ci_low, seven.ci_high) == pytest.approx(
        proportion_confint(7, 10, alpha=0.05, method="beta")
    )
    # Beta quantiles: lower = B(a/2; x, n-x+1), upper = B(1-a/2; x+1, n-x).
    assert seven.ci_low == pytest.approx(stats.beta.ppf(0.025, 7, 4))
    assert seven.ci_high == pytest.approx(stats.beta.ppf(0.975, 8, 3))
    assert math.isnan(compute_proportion(0, 0).estimate)
    for bad in ((3, 2), (-1, 4), (1.5, 4)):
        with pytest.raises(ValueError):
            compute_proportion(*bad)  # type: ignore[arg-type]


def _longitudinal(seed: int, n: int = 20, missing: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    visits = [("M1", 37), ("M3", 97), ("M6", 187), ("M12", 372)]
    for i in range(n):
        base = rng.normal(9, 1)
        subject = rng.normal(0, 0.4)
        for k, (visit, day) in enumerate(visits):
            if rng.random() < missing:
                continue
            change = -0.3 * (k + 1) + subject - 0.2 * (base - 9) + rng.normal(0, 0.3)
            rows.append({"USUBJID": f"P{i:02d}", "VISIT": visit, "AVISITN": day,
                         "BASE": base, "CHG": change})  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("seed", "missing"), [(1, 0.0), (2, 0.25)])
def test_random_intercept_model_matches_statsmodels_formula_fit(seed: int, missing: float) -> None:
    """The compound-symmetry sensitivity model is statsmodels' random-intercept MixedLM: same
    REML estimates; standard errors by the GLS formula from statsmodels' variance components
    (statsmodels' own bse_fe inverts the joint Hessian, which differs slightly)."""
    data = _longitudinal(seed, missing=missing)
    result = fit_mmrm(data, structure=Structure.COMPOUND_SYMMETRY)
    direct_data = data.assign(BASEC=data["BASE"] - data["BASE"].mean())
    direct = smf.mixedlm("CHG ~ 0 + C(VISIT) + BASEC", direct_data, groups=direct_data["USUBJID"])
    fit = direct.fit(reml=True)
    assert result.estimable and result.n_subjects == data["USUBJID"].nunique()
    assert result.n_observations == len(data)
    tau2, sigma2 = float(np.asarray(fit.cov_re)[0, 0]), float(fit.scale)
    assert result.subject_variance == pytest.approx(tau2, rel=1e-3)
    assert result.residual_variance == pytest.approx(sigma2, rel=1e-3)
    x = direct.exog
    groups = direct_data["USUBJID"].to_numpy()
    information = np.zeros((x.shape[1], x.shape[1]))
    for g in np.unique(groups):
        xi = x[groups == g]
        vi = tau2 * np.ones((len(xi), len(xi))) + sigma2 * np.eye(len(xi))
        information += xi.T @ np.linalg.solve(vi, xi)
    gls_se = np.sqrt(np.diag(np.linalg.inv(information)))
    names = list(direct.exog_names)
    for estimate in result.visits:
        name = f"C(VISIT)[{estimate.visit}]"
        assert estimate.estimate == pytest.approx(fit.fe_params[name], abs=1e-4)
        assert estimate.se_model == pytest.approx(gls_se[names.index(name)], rel=1e-3)
        assert estimate.se >= estimate.se_model * (1 - 1e-6)  # the KR adjustment inflates
        assert estimate.df > 0
    assert result.baseline_slope == pytest.approx(fit.fe_params["BASEC"], abs=1e-4)
    assert [v.visit for v in result.visits] == ["M1", "M3", "M6", "M12"]


def test_mixed_model_keeps_participants_with_missing_visits() -> None:
    data = _longitudinal(4)
    gappy = data[~((data["USUBJID"] == "P00") & data["VISIT"].isin(["M6", "M12"]))]
    result = fit_mmrm(gappy)
    assert result.n_subjects == 20  # P00 still contributes M1 and M3
    assert result.at("M12") is not None and result.at("M12").n == 19  # type: ignore[union-attr]


def test_mixed_model_not_estimable_cases() -> None:
    tiny = _longitudinal(5, n=2)
    assert not fit_mmrm(tiny).estimable and "need 3" in fit_mmrm(tiny).note
    flat = _longitudinal(6).assign(CHG=0.5)
    assert not fit_mmrm(flat).estimable
    with pytest.raises(ValueError, match="lacks the columns"):
        fit_mmrm(tiny.drop(columns="BASE"))


def _adae(rows: list[tuple[str, int, str, str]]) -> pd.DataFrame:
    flags = ["AESDTH", "AESLIFE", "AESHOSP", "AESDISAB", "AESCONG", "AESMIE"]
    records = []
    for usubjid, grade, serious, criterion in rows:
        record = {"USUBJID": usubjid, "ATOXGRN": grade, "AESER": serious, "TRTEMFL": "Y",
                  "SAFFL": "Y", "AERELGR1": "Related", "AEDECOD": "X"}  # fmt: skip
        record.update({f: "Y" if f == criterion else "N" for f in flags})
        records.append(record)
    return pd.DataFrame(records)


def test_incidence_by_worst_grade_counts_each_participant_once() -> None:
    adsl = pd.DataFrame({"USUBJID": [f"P{i}" for i in range(10)], "SAFFL": "Y"})
    adae = _adae([("P1", 1, "N", ""), ("P1", 3, "Y", "AESHOSP"), ("P2", 2, "N", ""),
                  ("P2", 2, "N", ""), ("P3", 1, "N", "")])  # fmt: skip
    by_grade = compute_ae_by_grade(adae, adsl).set_index("category")
    assert by_grade.loc["Grade 1 (mild)", "n_subjects"] == 1  # P3 only: P1's worst is 3
    assert by_grade.loc["Grade 1 (mild)", "n_events"] == 2
    assert by_grade.loc["Grade 2 (moderate)", ["n_subjects", "n_events"]].tolist() == [1, 2]
    assert by_grade.loc["Grade 3 (severe)", "n_subjects"] == 1
    assert by_grade["n_at_risk"].eq(10).all()
    low, high = proportion_confint(1, 10, method="beta")
    assert by_grade.loc["Grade 3 (severe)", ["ci_low", "ci_high"]].tolist() == pytest.approx(
        [low * 100, high * 100]
    )
    overview = compute_ae_overview(adae, adsl).set_index("category")
    assert overview.loc["Any adverse event", ["n_subjects", "n_events"]].tolist() == [3, 5]
    assert overview.loc["Any serious adverse event (SAE)", "percent"] == pytest.approx(10.0)
    criteria = compute_ae_by_seriousness(adae, adsl).set_index("category")
    assert criteria.loc["Requires or prolongs inpatient hospitalisation", "n_subjects"] == 1
    assert criteria.loc["Results in death", "n_subjects"] == 0

"""The MMRM (unstructured covariance, REML, Kenward–Roger and Satterthwaite df) against an
independent fit in R, and the pre-specified covariance fallback.

R's nlme::gls with corSymm + varIdent is the unstructured model, corCompSymm the compound
symmetry; nlme reports no Satterthwaite df (its t-tests use N - p), so the df are compared
with emmeans' Satterthwaite approximation for gls fits ("appx-satterthwaite": a numerical
derivative of the variance of each estimate over nlme's own variance parameters), within 5 %.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from tests.analysis._nlme import fit_in_r, kenward_roger_in_r

from trialdesk.analysis.stats import compare_covariances, fit_mmrm
from trialdesk.analysis.stats.mmrm import (
    AUTOREGRESSIVE,
    COMPOUND_SYMMETRY,
    TOEPLITZ,
    UNSTRUCTURED,
    fit_primary_mmrm,
)
from trialdesk.analysis.stats.unstructured import Structure

VISITS = [("M1", 37), ("M3", 97), ("M6", 187), ("M9", 277), ("M12", 372)]
#: Visit SDs rising over the year and a correlation decaying with distance: not compound
#: symmetric, as HbA1c changes are.
SDS = np.array([0.15, 0.3, 0.45, 0.5, 0.6])


def _longitudinal(seed: int, n: int = 24, missing: float = 0.15) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    k = np.arange(len(VISITS))
    correlation = 0.8 ** np.abs(k[:, None] - k[None, :])
    covariance = correlation * np.outer(SDS, SDS)
    rows = []
    for i in range(n):
        base = rng.normal(9, 1)
        errors = rng.multivariate_normal(np.zeros(len(VISITS)), covariance)
        for j, (visit, day) in enumerate(VISITS):
            if j > 0 and rng.random() < missing:
                continue
            change = -0.2 * (j + 1) - 0.1 * (base - 9) + errors[j]
            rows.append({"USUBJID": f"P{i:02d}", "VISIT": visit, "AVISITN": day,
                         "BASE": base, "CHG": change})  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", [11, 12])
def test_mmrm_matches_nlme_gls_and_emmeans_satterthwaite(seed: int, tmp_path: Path) -> None:
    data = _longitudinal(seed)
    visits = [v for v, _ in VISITS]
    un = fit_mmrm(data)
    cs = fit_mmrm(data, structure=Structure.COMPOUND_SYMMETRY)
    r = fit_in_r(data, visits, tmp_path)
    assert un.estimable and cs.estimable and un.converged and cs.converged
    assert (un.covariance, cs.covariance) == (UNSTRUCTURED, COMPOUND_SYMMETRY)
    assert un.covariance_parameters == 15 and cs.covariance_parameters == 2
    for estimate in un.visits:
        expected = r.row(estimate.visit)
        assert estimate.estimate == pytest.approx(expected["un_est"], abs=1e-4)
        assert estimate.se_model == pytest.approx(expected["un_se"], abs=1e-4)
        # emmeans' df for gls fits is its own approximation of Satterthwaite's (numerical
        # derivatives of the covariance parameters), not the exact one here: within 8 %.
        assert estimate.df_satterthwaite == pytest.approx(expected["df"], rel=0.08)
        quantile = stats.t.ppf(0.975, estimate.df)
        assert estimate.ci_high - estimate.estimate == pytest.approx(quantile * estimate.se)
    for estimate in cs.visits:
        assert estimate.estimate == pytest.approx(r.row(estimate.visit)["cs_est"], abs=1e-4)
        assert estimate.se_model == pytest.approx(r.row(estimate.visit)["cs_se"], abs=1e-4)
    assert un.baseline_slope == pytest.approx(r.table.loc["BASEC", "un_est"], abs=1e-4)
    assert cs.baseline_slope == pytest.approx(r.table.loc["BASEC", "cs_est"], abs=1e-4)
    assert un.log_likelihood == pytest.approx(r.un_loglik, abs=1e-4)
    assert cs.log_likelihood == pytest.approx(r.cs_loglik, abs=1e-4)
    lrt = compare_covariances(un, cs)
    assert lrt is not None and lrt.df == 13
    assert lrt.statistic == pytest.approx(2 * (r.un_loglik - r.cs_loglik), abs=1e-3)
    assert lrt.p == pytest.approx(stats.chi2.sf(2 * (r.un_loglik - r.cs_loglik), 13), rel=1e-2)


def test_unstructured_standard_errors_follow_the_visit_variances() -> None:
    """With variance rising over the year, compound symmetry (one variance) overstates the
    Month-1 standard error and understates Month 12's; the unstructured model does not."""
    data = _longitudinal(13, n=60, missing=0.0)
    un = fit_mmrm(data)
    cs = fit_mmrm(data, structure=Structure.COMPOUND_SYMMETRY)
    m1_un, m1_cs = un.at("M1"), cs.at("M1")
    m12_un, m12_cs = un.at("M12"), cs.at("M12")
    assert m1_un and m1_cs and m12_un and m12_cs
    assert m1_un.se < m1_cs.se and m12_un.se > m12_cs.se
    assert un.visit_variances[0] < un.visit_variances[-1]
    lrt = compare_covariances(un, cs)
    assert lrt is not None and lrt.p < 1e-6


def test_no_likelihood_ratio_test_without_both_models() -> None:
    data = _longitudinal(14)
    tiny = data[data["USUBJID"].isin(["P00", "P01"])]
    assert compare_covariances(fit_mmrm(tiny), fit_mmrm(data)) is None


@pytest.mark.parametrize("n", [3, 5])
def test_too_few_participants_for_an_unstructured_covariance_says_so(n: int) -> None:
    data = _longitudinal(15, n=n)
    un = fit_mmrm(data)
    cs = fit_mmrm(data, structure=Structure.COMPOUND_SYMMETRY)
    assert not un.estimable and un.visits == []
    assert "need more participants than visits" in un.note and "compound symmetry" in un.note
    assert cs.estimable and compare_covariances(un, cs) is None


def test_a_singular_unstructured_fit_is_reported_not_used() -> None:
    """Six participants, five visits, some missing: the REML estimate of the unstructured
    matrix runs to a singular matrix (no maximum); the model is reported as not fitted."""
    un = fit_mmrm(_longitudinal(3, n=6, missing=0.1))
    assert not un.estimable and "did not converge" in un.note


@pytest.mark.parametrize("seed", [11, 12])
@pytest.mark.parametrize("structure", [Structure.UNSTRUCTURED, Structure.COMPOUND_SYMMETRY])
def test_kenward_roger_matches_pbkrtest(seed: int, structure: Structure, tmp_path: Path) -> None:
    """KR-adjusted standard errors and KR df against R's pbkrtest (Kenward & Roger 1997).

    Tolerance: estimates and standard errors 1e-4 (absolute; the two REML optimisers agree to
    about 1e-6 on Sigma), df 1e-3 relative (the df are a smooth function of Sigma-hat, so the
    optimisers' difference moves them by about 1e-4 relative; 1e-3 is ten times that).
    The adjusted standard errors differ from the unadjusted ones by more than the tolerance,
    so a fit that skipped the adjustment would fail.
    """
    data = _longitudinal(seed)
    visits = [v for v, _ in VISITS]
    model = fit_mmrm(data, structure=structure)
    r = kenward_roger_in_r(data, visits, tmp_path)
    tag = "un" if structure is Structure.UNSTRUCTURED else "cs"
    assert model.estimable and model.df_method == "Kenward–Roger"
    inflated = 0
    for estimate in model.visits:
        expected = r.loc[(tag, f"VISIT{estimate.visit}")]
        assert estimate.estimate == pytest.approx(expected["est"], abs=1e-4)
        assert estimate.se_model == pytest.approx(expected["se"], abs=1e-4)
        assert estimate.se == pytest.approx(expected["se_kr"], abs=1e-4)
        assert estimate.df == pytest.approx(expected["df"], rel=1e-3)
        inflated += estimate.se - estimate.se_model > 1e-4
        quantile = stats.t.ppf(0.975, estimate.df)
        assert estimate.ci_high - estimate.estimate == pytest.approx(quantile * estimate.se)
        assert estimate.p == pytest.approx(2 * stats.t.sf(abs(estimate.t), estimate.df))
    assert inflated >= (3 if tag == "un" else 0)


def test_unstructured_failure_falls_back_in_the_prespecified_order() -> None:
    """Six participants, five visits: the unstructured fit runs to a singular matrix, so the
    primary model is the next structure that converges (heterogeneous Toeplitz), and the
    result says which structure was left and why."""
    data = _longitudinal(3, n=6, missing=0.1)
    assert not fit_mmrm(data).estimable
    primary = fit_primary_mmrm(data)
    assert primary.estimable and primary.converged
    assert primary.covariance == TOEPLITZ
    assert primary.fallback.startswith("unstructured not fitted (REML did not converge")
    assert "heterogeneous Toeplitz used" in primary.fallback
    assert [v.visit for v in primary.visits] == [v for v, _ in VISITS]


def test_too_few_for_toeplitz_falls_back_further() -> None:
    """Three participants: neither unstructured (15 parameters) nor Toeplitz (9) can be
    estimated; the sequence goes on to AR(1) or compound symmetry and says so."""
    data = _longitudinal(15, n=3)
    primary = fit_primary_mmrm(data)
    assert primary.estimable
    assert primary.covariance in (AUTOREGRESSIVE, COMPOUND_SYMMETRY)
    assert "unstructured not fitted (3 participants" in primary.fallback


def test_no_fallback_when_the_unstructured_fit_converges() -> None:
    data = _longitudinal(11)
    primary = fit_primary_mmrm(data)
    assert primary.covariance == UNSTRUCTURED and primary.fallback == ""

"""The fallback covariance structures (heterogeneous Toeplitz, first-order autoregressive)
against an independent REML fit in R, with Kenward–Roger by pbkrtest's algebra.

Compound symmetry, the last structure of the sequence, is checked in
test_analysis_mmrm.py (nlme's corCompSymm for estimates and standard errors, lme4's random
intercept with pbkrtest for Kenward–Roger). Here:

- AR(1): nlme::gls with ``corAR1(form = ~visit_index | USUBJID)`` (homogeneous, as trialdesk's
  AR(1), SAS TYPE=AR(1)).
- TOEPH: nlme::gls with ``corARMA(p = T-1)`` over the visit index and ``varIdent`` per visit —
  an AR(T-1) process spans every Toeplitz correlation over T visits, so this is SAS TYPE=TOEPH.
- Kenward–Roger: no R package computes it for gls fits; the R side uses pbkrtest's own
  functions (vcovAdj_internal, Lb_ddf) on nlme's Sigma with dV/ds and d2V/ds ds written
  analytically in SAS's parameters, where trialdesk takes them by central differences.

Tolerances: estimates, standard errors and REML log-likelihoods 1e-4 absolute; df 1e-3
relative (as for the unstructured model against pbkrtest).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from tests.analysis._nlme import fallback_in_r
from tests.analysis.test_analysis_mmrm import VISITS, _longitudinal

from trialdesk.analysis.stats import fit_mmrm
from trialdesk.analysis.stats.mmrm import TOEPLITZ, MmrmResult, fit_primary_mmrm
from trialdesk.analysis.stats.unstructured import Structure

_TAGS = {Structure.AR1: "ar1", Structure.HETEROGENEOUS_TOEPLITZ: "toeph"}
#: (seed, participants, share of post-first visits missed): the two data sets of the
#: unstructured checks, and the six-participant one on which the unstructured fit fails and the
#: primary model falls back to heterogeneous Toeplitz.
_DATA = [(11, 24, 0.15), (12, 24, 0.15), (3, 6, 0.1)]


def _check(model: MmrmResult, r: pd.DataFrame, tag: str) -> int:
    """Compare one fitted structure with R's rows; returns how many visits KR inflated."""
    assert model.estimable and model.converged, model.note
    inflated = 0
    for estimate in model.visits:
        expected = r.loc[(tag, f"VISIT{estimate.visit}")]
        assert estimate.estimate == pytest.approx(expected["est"], abs=1e-4)
        assert estimate.se_model == pytest.approx(expected["nlme_se"], abs=1e-4)
        assert estimate.se == pytest.approx(expected["se_kr"], abs=1e-4)
        assert estimate.df == pytest.approx(expected["df"], rel=1e-3)
        inflated += abs(estimate.se - estimate.se_model) > 1e-4
    assert model.baseline_slope == pytest.approx(r.loc[(tag, "BASEC"), "est"], abs=1e-4)
    assert model.log_likelihood == pytest.approx(r.loc[(tag, "BASEC"), "loglik"], abs=1e-4)
    return inflated


@pytest.mark.parametrize(("seed", "n", "missing"), _DATA)
def test_fallback_structures_match_nlme_and_pbkrtest(
    seed: int, n: int, missing: float, tmp_path: Path
) -> None:
    data = _longitudinal(seed, n=n, missing=missing)
    r = fallback_in_r(data, [v for v, _ in VISITS], tmp_path)
    inflated = 0
    for structure, tag in _TAGS.items():
        model = fit_mmrm(data, structure=structure)
        assert model.covariance_parameters == (2 if structure is Structure.AR1 else 9)
        inflated += _check(model, r, tag)
    # The two structures give different answers, and the KR adjustment moves the standard
    # errors by more than the tolerance: a mix-up of structures or a skipped adjustment fails.
    assert abs(r.loc[("ar1", "VISITM1"), "se"] - r.loc[("toeph", "VISITM1"), "se"]) > 1e-3
    assert inflated >= 3


def test_the_model_used_after_a_fallback_is_the_independent_toeplitz_fit(tmp_path: Path) -> None:
    """Six participants: the primary MMRM falls back to heterogeneous Toeplitz, and what the
    report prints for it is nlme's corARMA + varIdent fit with pbkrtest's Kenward–Roger."""
    seed, n, missing = _DATA[-1]
    data = _longitudinal(seed, n=n, missing=missing)
    primary = fit_primary_mmrm(data)
    assert primary.covariance == TOEPLITZ
    r = fallback_in_r(data, [v for v, _ in VISITS], tmp_path)
    assert _check(primary, r, "toeph") >= 3

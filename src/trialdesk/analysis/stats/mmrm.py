"""Mixed model for repeated measures (MMRM-style) of the change from baseline.

Model, fitted by REML with statsmodels ``MixedLM``::

    CHG_ij = mu_j + beta * (BASE_i - mean BASE) + b_i + e_ij,
    b_i ~ N(0, tau^2),  e_ij ~ N(0, sigma^2)

with j the post-baseline scheduled visit (a fixed effect per visit, no intercept, so mu_j is
directly the adjusted mean change at visit j for a participant with the average baseline),
the baseline value as covariate, and a random intercept per participant. All post-baseline
values of every participant with a baseline enter: a participant who misses visits or drops out
contributes the visits attended, and the estimates are valid if data are missing at random
(Mallinckrodt et al., Drug Inf J 2008;42:303; Siddiqui et al., J Biopharm Stat 2009;19:227).

Choice of covariance: the random intercept gives a compound-symmetric covariance (equal
variance at every visit, equal correlation between any two visits). The usual MMRM uses an
unstructured covariance, which statsmodels cannot fit for repeated measures (its GLS takes a
known covariance, GLSAR is for a single time series), and with ~24 participants and 5 visits
the 15 parameters of an unstructured matrix are poorly estimated anyway. Confidence intervals
and p-values are Wald (normal) as reported by statsmodels; there is no Kenward-Roger
small-sample correction, so they are somewhat narrow for small n. The paired t-test at the
primary visit (exact t distribution) is reported beside the model.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.tools.sm_exceptions import ConvergenceWarning

COVARIANCE = "compound symmetry (random intercept per participant)"

_MIN_SUBJECTS = 3


@dataclass(frozen=True)
class VisitEstimate:
    """Adjusted mean change from baseline at one visit, from the mixed model."""

    visit: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    z: float
    p: float
    n: int


@dataclass(frozen=True)
class MmrmResult:
    """The fitted model, or why it could not be fitted (`estimable` False, `note` says why)."""

    estimable: bool
    n_subjects: int
    n_observations: int
    visits: list[VisitEstimate] = field(default_factory=list)
    baseline_slope: float = math.nan
    subject_variance: float = math.nan
    residual_variance: float = math.nan
    converged: bool = False
    covariance: str = COVARIANCE
    note: str = ""

    def at(self, visit: str) -> VisitEstimate | None:
        return next((v for v in self.visits if v.visit == visit), None)


def _design(data: pd.DataFrame, visits: list[str]) -> tuple[pd.DataFrame, pd.Series]:
    exog = pd.DataFrame(
        {f"visit[{v}]": (data["VISIT"] == v).astype(float).to_numpy() for v in visits}
    )
    # A baseline identical for everyone (e.g. the same OGLD dose) carries no information and
    # would make the design singular: the covariate is then left out.
    if data["BASE"].nunique() > 1:
        exog["base_centred"] = (data["BASE"] - data["BASE"].mean()).to_numpy()
    return exog, data["CHG"].reset_index(drop=True)


def _explain(message: str) -> str:
    """statsmodels' convergence notices in words a reader of the report can act on."""
    if "boundary" in message:
        return (
            "between-participant variance estimated at 0 (boundary): the model reduces to "
            "ordinary least squares with visit means"
        )
    if "Retrying" in message:
        return "first optimiser did not converge; refitted with L-BFGS"
    return message.splitlines()[0]


def fit_mmrm(data: pd.DataFrame, level: float = 0.95) -> MmrmResult:
    """Fit the model to post-baseline rows with columns USUBJID, VISIT, AVISITN, BASE, CHG.

    Rows with a missing CHG or BASE are left out (a participant without baseline has no change);
    visits are ordered by AVISITN. The BASE mean used for centring is over the rows fitted.
    Returns ``estimable=False`` with a note when there are fewer than 3 participants or no
    change varies, instead of raising.
    """
    needed = {"USUBJID", "VISIT", "AVISITN", "BASE", "CHG"}
    missing = needed - set(data.columns)
    if missing:
        raise ValueError(f"fit_mmrm: data lacks the columns {', '.join(sorted(missing))}")
    rows = data.dropna(subset=["CHG", "BASE"]).sort_values(["USUBJID", "AVISITN"])
    rows = rows.reset_index(drop=True)
    n_subjects = int(rows["USUBJID"].nunique())
    if n_subjects < _MIN_SUBJECTS or rows["CHG"].nunique() < 2:
        why = f"{n_subjects} participant(s) with baseline and follow-up (need {_MIN_SUBJECTS})"
        if n_subjects >= _MIN_SUBJECTS:
            why = "no variation in the change from baseline"
        return MmrmResult(False, n_subjects, len(rows), note=f"model not fitted: {why}")
    visits = rows.drop_duplicates("VISIT").sort_values("AVISITN")["VISIT"].tolist()
    exog, endog = _design(rows, visits)
    if rows.groupby("USUBJID").size().max() < 2:
        return MmrmResult(
            False,
            n_subjects,
            len(rows),
            note="model not fitted: one value per participant (no repeated measures)",
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = sm.MixedLM(endog, exog, groups=rows["USUBJID"].to_numpy())
        try:
            fit = model.fit(reml=True)
        except (np.linalg.LinAlgError, ValueError) as exc:
            return MmrmResult(
                False, n_subjects, len(rows), note=f"model not fitted: {exc} (singular design)"
            )
    convergence = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    with np.errstate(invalid="ignore"):
        standard_errors = np.asarray(fit.bse_fe, dtype=float)
    if not np.all(np.isfinite(standard_errors)) or not fit.scale > 0:
        return MmrmResult(
            False,
            n_subjects,
            len(rows),
            note="model not fitted: degenerate variance (changes identical within visits)",
        )
    ci = fit.conf_int(alpha=1 - level)
    estimates = []
    for visit in visits:
        name = f"visit[{visit}]"
        estimates.append(
            VisitEstimate(
                visit=visit,
                estimate=float(fit.fe_params[name]),
                se=float(fit.bse_fe[name]),
                ci_low=float(ci.loc[name, 0]),
                ci_high=float(ci.loc[name, 1]),
                z=float(fit.tvalues[name]),
                p=float(2 * stats.norm.sf(abs(fit.tvalues[name]))),
                n=int((rows["VISIT"] == visit).sum()),
            )
        )
    notes = [_explain(str(w.message)) for w in convergence]
    return MmrmResult(
        estimable=True,
        n_subjects=n_subjects,
        n_observations=len(rows),
        visits=estimates,
        baseline_slope=float(fit.fe_params.get("base_centred", math.nan)),
        subject_variance=float(np.asarray(fit.cov_re)[0, 0]),
        residual_variance=float(fit.scale),
        converged=bool(fit.converged),
        note="; ".join(dict.fromkeys(notes)),
    )

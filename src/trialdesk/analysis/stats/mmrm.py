"""Mixed model for repeated measures (MMRM) of the change from baseline.

Model, fitted by REML (`trialdesk.analysis.stats.unstructured`)::

    CHG_ij = mu_j + beta * (BASE_i - mean BASE) + e_ij,   (e_i1 .. e_iT) ~ N(0, Sigma)

with j the post-baseline scheduled visit (a fixed effect per visit, no intercept, so mu_j is
directly the adjusted mean change at visit j for a participant with the average baseline) and
the baseline value as covariate, as the statistical analysis plan states. All post-baseline
values of every participant with a baseline enter: a participant who misses visits or drops out
contributes the visits attended, and the estimates are valid if data are missing at random
(Mallinckrodt et al., Drug Inf J 2008;42:303; Siddiqui et al., J Biopharm Stat 2009;19:227).

Covariance: the primary analysis leaves Sigma unstructured (a variance per visit and a
correlation per pair of visits), as regulators expect of an MMRM; the sensitivity analysis
constrains it to compound symmetry (equal variances, one correlation: the random-intercept
model). Standard errors come from the GLS formula (X' V^-1 X)^-1 at the REML estimate;
confidence intervals and p-values use the t distribution with Satterthwaite degrees of freedom
per visit (Satterthwaite 1946, [@Satterthwaite1946]). The likelihood-ratio test of unstructured
against compound symmetry compares the two REML log-likelihoods (same fixed effects).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from trialdesk.analysis.stats.unstructured import RemlFit, Structure, Subject, fit_reml

UNSTRUCTURED = "MMRM, unstructured"
COMPOUND_SYMMETRY = "random intercept (compound symmetry)"
#: Kept for the methods text: the primary model's covariance in words.
COVARIANCE = "unstructured covariance across visits"
DF_METHOD = "Satterthwaite"

_LABELS = {Structure.UNSTRUCTURED: UNSTRUCTURED, Structure.COMPOUND_SYMMETRY: COMPOUND_SYMMETRY}
_MIN_SUBJECTS = 3


@dataclass(frozen=True)
class VisitEstimate:
    """Adjusted mean change from baseline at one visit, from the mixed model."""

    visit: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    t: float
    df: float  # Satterthwaite degrees of freedom
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
    subject_variance: float = math.nan  # compound symmetry: rho x sigma^2
    residual_variance: float = math.nan  # compound symmetry: (1 - rho) x sigma^2
    visit_variances: list[float] = field(default_factory=list)  # diagonal of Sigma
    log_likelihood: float = math.nan  # REML
    covariance_parameters: int = 0
    converged: bool = False
    covariance: str = UNSTRUCTURED
    df_method: str = DF_METHOD
    note: str = ""

    def at(self, visit: str) -> VisitEstimate | None:
        return next((v for v in self.visits if v.visit == visit), None)


@dataclass(frozen=True)
class LikelihoodRatio:
    """REML likelihood-ratio test of the unstructured against the compound-symmetric
    covariance: chi-square on the difference in covariance parameters."""

    statistic: float
    df: int
    p: float


def _subjects(rows: pd.DataFrame, visits: list[str]) -> list[Subject]:
    index = {v: k for k, v in enumerate(visits)}
    columns = [(rows["VISIT"] == v).astype(float).to_numpy() for v in visits]
    # A baseline identical for everyone (e.g. no one on a drug) carries no information and
    # would make the design singular: the covariate is then left out.
    if rows["BASE"].nunique() > 1:
        columns.append((rows["BASE"] - rows["BASE"].mean()).to_numpy(dtype=float))
    design = np.asarray(np.column_stack(columns), dtype=np.float64)
    out = []
    for _, at in rows.groupby("USUBJID", sort=True).indices.items():
        out.append(
            Subject(
                y=rows["CHG"].to_numpy(dtype=float)[at],
                x=design[at],
                visits=np.array([index[v] for v in rows["VISIT"].iloc[at]], dtype=np.int64),
            )
        )
    return out


def _not_fitted(rows: pd.DataFrame, why: str, label: str) -> MmrmResult:
    return MmrmResult(
        False, int(rows["USUBJID"].nunique()), len(rows), covariance=label,
        note=f"model not fitted: {why}",
    )  # fmt: skip


def _why_not(rows: pd.DataFrame) -> str | None:
    n_subjects = int(rows["USUBJID"].nunique())
    if n_subjects < _MIN_SUBJECTS:
        return f"{n_subjects} participant(s) with baseline and follow-up (need {_MIN_SUBJECTS})"
    if rows["CHG"].nunique() < 2:
        return "no variation in the change from baseline"
    if rows.groupby("USUBJID").size().max() < 2:
        return "one value per participant (no repeated measures)"
    if rows.groupby("VISIT")["CHG"].nunique().min() < 2:
        return "degenerate variance (changes identical within a visit)"
    return None


_SEE_CS = "see the random-intercept (compound symmetry) model"


#: Smallest/largest eigenvalue of Sigma below which the estimate is singular (numerically).
_SINGULAR_RATIO = 1e-10


def _why_diverged(fit: RemlFit) -> str:
    eigenvalues = np.linalg.eigvalsh(fit.sigma)
    if eigenvalues[0] <= _SINGULAR_RATIO * eigenvalues[-1]:
        return (
            "the unstructured covariance runs to a singular matrix (the changes at some "
            "visits are almost perfectly correlated), so it has no REML estimate"
        )
    return fit.message


def _too_few_for(structure: Structure, rows: pd.DataFrame, visits: list[str]) -> str | None:
    """An unstructured covariance over T visits needs more than T participants (with T or
    fewer, its REML estimate is singular)."""
    n_subjects = int(rows["USUBJID"].nunique())
    if structure is Structure.UNSTRUCTURED and n_subjects <= len(visits):
        return (
            f"{n_subjects} participants for an unstructured covariance over {len(visits)} "
            f"visits (need more participants than visits); {_SEE_CS}"
        )
    return None


def _estimates(
    fit: RemlFit, rows: pd.DataFrame, visits: list[str], level: float
) -> list[VisitEstimate]:
    out = []
    for k, visit in enumerate(visits):
        contrast = np.zeros(len(fit.beta))
        contrast[k] = 1.0
        se = math.sqrt(float(fit.covariance_beta[k, k]))
        df = fit.df_of(contrast)
        quantile = float(stats.t.ppf(0.5 + level / 2, df))
        t = float(fit.beta[k]) / se
        out.append(
            VisitEstimate(
                visit=visit,
                estimate=float(fit.beta[k]),
                se=se,
                ci_low=float(fit.beta[k]) - quantile * se,
                ci_high=float(fit.beta[k]) + quantile * se,
                t=t,
                df=df,
                p=float(2 * stats.t.sf(abs(t), df)),
                n=int((rows["VISIT"] == visit).sum()),
            )
        )
    return out


def _variance_parts(fit: RemlFit, structure: Structure) -> tuple[float, float]:
    if structure is not Structure.COMPOUND_SYMMETRY:
        return math.nan, math.nan
    sigma = fit.sigma
    if sigma.shape[0] < 2:
        return math.nan, float(sigma[0, 0])
    covariance = float(sigma[0, 1])
    return covariance, float(sigma[0, 0]) - covariance


def fit_mmrm(
    data: pd.DataFrame, level: float = 0.95, structure: Structure = Structure.UNSTRUCTURED
) -> MmrmResult:
    """Fit the model to post-baseline rows with columns USUBJID, VISIT, AVISITN, BASE, CHG.

    Rows with a missing CHG or BASE are left out (a participant without baseline has no change);
    visits are ordered by AVISITN. The BASE mean used for centring is over the rows fitted.
    Returns ``estimable=False`` with a note when there are fewer than 3 participants, no
    repeated measures or no variation, instead of raising.
    """
    needed = {"USUBJID", "VISIT", "AVISITN", "BASE", "CHG"}
    missing = needed - set(data.columns)
    if missing:
        raise ValueError(f"fit_mmrm: data lacks the columns {', '.join(sorted(missing))}")
    rows = data.dropna(subset=["CHG", "BASE"]).sort_values(["USUBJID", "AVISITN"])
    rows = rows.reset_index(drop=True)
    label = _LABELS[structure]
    why = _why_not(rows)
    if why:
        return _not_fitted(rows, why, label)
    visits = rows.drop_duplicates("VISIT").sort_values("AVISITN")["VISIT"].astype(str).tolist()
    too_few = _too_few_for(structure, rows, visits)
    if too_few:
        return _not_fitted(rows, too_few, label)
    try:
        fit = fit_reml(_subjects(rows, visits), len(visits), structure)
        estimates = _estimates(fit, rows, visits, level)
    except np.linalg.LinAlgError as exc:
        return _not_fitted(rows, f"{exc} (singular design or covariance)", label)
    if not fit.converged and structure is Structure.UNSTRUCTURED:
        # Standard errors of a covariance that did not converge mean nothing: say so and let
        # the reader use the compound-symmetry model reported beside it.
        return _not_fitted(rows, f"REML did not converge: {_why_diverged(fit)}; {_SEE_CS}", label)
    subject_variance, residual_variance = _variance_parts(fit, structure)
    has_slope = len(fit.beta) > len(visits)
    return MmrmResult(
        estimable=True,
        n_subjects=int(rows["USUBJID"].nunique()),
        n_observations=len(rows),
        visits=estimates,
        baseline_slope=float(fit.beta[-1]) if has_slope else math.nan,
        subject_variance=subject_variance,
        residual_variance=residual_variance,
        visit_variances=[float(v) for v in np.diag(fit.sigma)],
        log_likelihood=fit.log_likelihood,
        covariance_parameters=fit.n_parameters,
        converged=fit.converged,
        covariance=label,
        note="" if fit.converged else f"optimiser: {fit.message}",
    )


def compare_covariances(unstructured: MmrmResult, compound: MmrmResult) -> LikelihoodRatio | None:
    """REML likelihood-ratio test of unstructured (alternative) against compound symmetry
    (null); None unless both were fitted to the same observations."""
    if not (unstructured.estimable and compound.estimable):
        return None
    if unstructured.n_observations != compound.n_observations:
        return None
    df = unstructured.covariance_parameters - compound.covariance_parameters
    if df <= 0:
        return None
    statistic = max(0.0, 2.0 * (unstructured.log_likelihood - compound.log_likelihood))
    return LikelihoodRatio(statistic, df, float(stats.chi2.sf(statistic, df)))

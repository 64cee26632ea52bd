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
model). Inference uses Kenward–Roger (Kenward & Roger 1997, [@KenwardRoger1997]): the
standard errors come from the KR-adjusted covariance of the fixed effects (the GLS
(X' V^-1 X)^-1 at the REML estimate inflated for the uncertainty in Sigma; the unadjusted one
is kept as ``se_model``) and confidence intervals and p-values use the t distribution with the
KR degrees of freedom, the method regulators' MMRM guidance and the literature recommend for
small trials (EMA Guideline on missing data in confirmatory clinical trials,
EMA/CPMP/EWP/1776/99 Rev. 1, 2010; Mallinckrodt et al. 2008; [@EMAMissing2010]).
Satterthwaite's degrees of freedom (Satterthwaite 1946, [@Satterthwaite1946]) with the
unadjusted standard errors are reported beside them as an alternative.

When the unstructured covariance has no REML estimate (too few participants, a singular or
non-converging fit), the pre-specified sequence of simpler structures is tried in order:
unstructured → heterogeneous Toeplitz → first-order autoregressive → compound symmetry (the
order of Mallinckrodt et al. 2008, section 4.3 and of SAS/mmrm practice), and the first that
converges is the primary model; `fallback` says which were tried and why each was left
(`fit_primary_mmrm`). The likelihood-ratio test of unstructured against compound symmetry
compares the two REML log-likelihoods (same fixed effects).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats

from trialdesk.analysis.stats.kenward_roger import (
    KenwardRoger,
    derivatives_for,
    kenward_roger,
)
from trialdesk.analysis.stats.unstructured import (
    RemlFit,
    Structure,
    Subject,
    fit_reml,
)

UNSTRUCTURED = "MMRM, unstructured"
TOEPLITZ = "MMRM, heterogeneous Toeplitz"
AUTOREGRESSIVE = "MMRM, first-order autoregressive"
COMPOUND_SYMMETRY = "random intercept (compound symmetry)"
#: Kept for the methods text: the primary model's covariance in words.
COVARIANCE = "unstructured covariance across visits"
DF_METHOD = "Kenward–Roger"
DF_ALTERNATIVE = "Satterthwaite"
#: The pre-specified order in which covariance structures are tried for the primary model.
FALLBACK_SEQUENCE = (
    Structure.UNSTRUCTURED,
    Structure.HETEROGENEOUS_TOEPLITZ,
    Structure.AR1,
    Structure.COMPOUND_SYMMETRY,
)

_LABELS = {
    Structure.UNSTRUCTURED: UNSTRUCTURED,
    Structure.HETEROGENEOUS_TOEPLITZ: TOEPLITZ,
    Structure.AR1: AUTOREGRESSIVE,
    Structure.COMPOUND_SYMMETRY: COMPOUND_SYMMETRY,
}
_MIN_SUBJECTS = 3
#: Variation, repeated measures and a covariance all need at least two distinct values.
_AT_LEAST_TWO = 2


@dataclass(frozen=True)
class VisitEstimate:
    """Adjusted mean change from baseline at one visit, from the mixed model."""

    visit: str
    estimate: float
    se: float  # from the Kenward-Roger adjusted covariance
    ci_low: float
    ci_high: float
    t: float
    df: float  # Kenward-Roger degrees of freedom
    p: float
    n: int
    se_model: float = math.nan  # GLS (X'V^-1X)^-1, unadjusted
    df_satterthwaite: float = math.nan
    p_satterthwaite: float = math.nan  # with se_model and the Satterthwaite df


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
    fallback: str = ""  # which structures were tried before this one, and why each was left
    tried: tuple[str, ...] = ()  # labels of the structures left before this one

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
    if rows["CHG"].nunique() < _AT_LEAST_TWO:
        return "no variation in the change from baseline"
    if rows.groupby("USUBJID").size().max() < _AT_LEAST_TWO:
        return "one value per participant (no repeated measures)"
    if rows.groupby("VISIT")["CHG"].nunique().min() < _AT_LEAST_TWO:
        return "degenerate variance (changes identical within a visit)"
    return None


_SEE_CS = "see the random-intercept (compound symmetry) model"


#: Smallest/largest eigenvalue of Sigma below which the estimate is singular (numerically).
_SINGULAR_RATIO = 1e-10


def _why_diverged(fit: RemlFit) -> str:
    eigenvalues = np.linalg.eigvalsh(fit.sigma)
    if eigenvalues[0] <= _SINGULAR_RATIO * eigenvalues[-1]:
        return (
            "the covariance runs to a singular matrix (the changes at some "
            "visits are almost perfectly correlated), so it has no REML estimate"
        )
    return "the optimiser stopped before reaching a maximum of the REML likelihood"


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


def kenward_roger_of(fit: RemlFit, subjects: list[Subject]) -> KenwardRoger:
    """Kenward–Roger pieces at the REML estimate, in SAS's parameters of the structure."""
    first, second = derivatives_for(fit.structure, fit.sigma)
    return kenward_roger(subjects, fit.sigma, first, second)


def _estimates(
    fit: RemlFit, kr: KenwardRoger, rows: pd.DataFrame, visits: list[str], level: float
) -> list[VisitEstimate]:
    out = []
    for k, visit in enumerate(visits):
        contrast = np.zeros(len(fit.beta))
        contrast[k] = 1.0
        estimate = float(fit.beta[k])
        se = math.sqrt(float(kr.phi_adjusted[k, k]))
        se_model = math.sqrt(float(fit.covariance_beta[k, k]))
        df = kr.df(contrast)
        df_satterthwaite = fit.df_of(contrast)
        quantile = float(stats.t.ppf(0.5 + level / 2, df))
        t = estimate / se
        out.append(
            VisitEstimate(
                visit=visit,
                estimate=estimate,
                se=se,
                ci_low=estimate - quantile * se,
                ci_high=estimate + quantile * se,
                t=t,
                df=df,
                p=float(2 * stats.t.sf(abs(t), df)),
                n=int((rows["VISIT"] == visit).sum()),
                se_model=se_model,
                df_satterthwaite=df_satterthwaite,
                p_satterthwaite=float(2 * stats.t.sf(abs(estimate / se_model), df_satterthwaite)),
            )
        )
    return out


def _variance_parts(fit: RemlFit, structure: Structure) -> tuple[float, float]:
    if structure is not Structure.COMPOUND_SYMMETRY:
        return math.nan, math.nan
    sigma = fit.sigma
    if sigma.shape[0] < _AT_LEAST_TWO:
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
        subjects = _subjects(rows, visits)
        fit = fit_reml(subjects, len(visits), structure)
        if not fit.converged and structure is not Structure.COMPOUND_SYMMETRY:
            # Standard errors of a covariance that did not converge mean nothing: say so and
            # let the reader use the next structure or the compound-symmetry model.
            why = f"REML did not converge: {_why_diverged(fit)}; {_SEE_CS}"
            return _not_fitted(rows, why, label)
        estimates = _estimates(fit, kenward_roger_of(fit, subjects), rows, visits, level)
    except np.linalg.LinAlgError as exc:
        return _not_fitted(rows, f"{exc} (singular design or covariance)", label)
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


#: The pre-specified fallback in words (statistical analysis plan, methods, table footnotes).
FALLBACK_TEXT = (
    "If the unstructured covariance has no REML estimate (too few participants, a singular "
    "matrix or no convergence), the first of heterogeneous Toeplitz, first-order "
    "autoregressive and compound symmetry that converges is used, in that pre-specified order"
)


def structure_used(result: MmrmResult) -> str:
    """The covariance structure of `result` and, after a fallback, why the structures before
    it were left (the whole reasons: results.json, the model table)."""
    if not result.estimable:
        return f"not fitted: {result.note.removeprefix('model not fitted: ')}"
    name = result.covariance.removeprefix("MMRM, ")
    if result.fallback:
        return f"{name} covariance ({result.fallback})"
    return f"{name} covariance"


def structure_brief(result: MmrmResult) -> str:
    """A footnote's words: ``unstructured``, ``first-order autoregressive (unstructured,
    heterogeneous Toeplitz not fitted)`` or ``not fitted``."""
    if not result.estimable:
        return "not fitted"
    name = result.covariance.removeprefix("MMRM, ")
    left = [label.removeprefix("MMRM, ") for label in result.tried]
    return f"{name} ({', '.join(left)} not fitted)" if left else name


def structures_footnote(results: Sequence[tuple[str, MmrmResult]]) -> str:
    """``Covariance across visits: unstructured for A, B; AR(1) (...) for C.`` grouping the
    parameters by the structure their primary MMRM used; reasons are in the model table."""
    groups: dict[str, list[str]] = {}
    for param, result in results:
        groups.setdefault(structure_brief(result), []).append(param)
    parts = [f"{brief} for {', '.join(params)}" for brief, params in groups.items()]
    return f"Covariance across visits: {'; '.join(parts)}."


def _reason(result: MmrmResult) -> str:
    return result.note.removeprefix("model not fitted: ").split(f"; {_SEE_CS}")[0]


def fit_primary_mmrm(data: pd.DataFrame, level: float = 0.95) -> MmrmResult:
    """The primary MMRM: the first structure of `FALLBACK_SEQUENCE` that has a REML estimate
    (unstructured when it converges). A model fitted after a fallback says in `fallback`
    which structures were tried first and why each was left; when none can be fitted, the
    unstructured result is returned with every reason in its note."""
    tried: list[str] = []
    left: list[str] = []
    first: MmrmResult | None = None
    for structure in FALLBACK_SEQUENCE:
        result = fit_mmrm(data, level, structure)
        first = first or result
        if result.estimable and result.converged:
            if not tried:
                return result
            text = "; ".join(tried)
            used = _LABELS[structure].removeprefix("MMRM, ")
            return replace(
                result,
                fallback=f"{text}; {used} used (next in the pre-specified sequence)",
                tried=tuple(left),
            )
        if not result.estimable and not tried and _why_not_data(data):
            return result  # the data cannot carry any model: no point trying others
        tried.append(f"{_LABELS[structure].removeprefix('MMRM, ')} not fitted ({_reason(result)})")
        left.append(_LABELS[structure])
    assert first is not None
    return replace(first, note=f"model not fitted: {'; '.join(tried)}")


def _why_not_data(data: pd.DataFrame) -> str | None:
    rows = data.dropna(subset=["CHG", "BASE"])
    return _why_not(rows)


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

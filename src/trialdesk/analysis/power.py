"""Power of the single-group paired design (change from baseline, one-sample t-test).

Design (NCT01142050): n participants enrolled, each drops out before the primary visit with
probability `dropout`, the completers' change from baseline is tested with a two-sided paired
(one-sample) t-test at level alpha.

- Monte Carlo (`simulate_power`): every simulated trial at once, vectorised in numpy. Each
  trial draws n changes ~ Normal(effect, sd_change) and n dropout indicators; the t statistic is
  computed on the completers of every trial (masked means and variances), and a trial is a
  success when p < alpha. Trials with fewer than 2 completers count as failures. With
  `correlation` given, baseline and follow-up values are drawn as a bivariate normal with SD
  `sd` each and that correlation, and the change is their difference (then
  ``sd_change = sd * sqrt(2 (1 - correlation))``).
- Analytic (`analytic_power`): statsmodels ``TTestPower`` (noncentral t) with effect size
  d = effect / sd_change at the expected number of completers n (1 - dropout).
- Minimum detectable effect (`minimum_detectable_effect`): ``TTestPower.solve_power`` for d at
  the requested power, times sd_change.

The Monte Carlo and analytic powers differ slightly with dropout because the analytic value uses
the expected number of completers while the simulation averages over the binomial number.
Reference: Cohen J. Statistical Power Analysis for the Behavioral Sciences, 2nd ed., 1988.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats
from statsmodels.stats.power import TTestPower

#: A paired t-test needs at least two completers (df = n - 1 >= 1).
MIN_PARTICIPANTS = 2


@dataclass(frozen=True)
class PowerDesign:
    """The design and assumptions of one power calculation.

    Attributes:
        effect: true mean change from baseline (outcome units; negative = fall).
        sd: SD of the change, or, with `correlation`, SD of the outcome at each visit.
        n: participants enrolled.
        dropout: probability that a participant has no primary-visit value (0 <= p < 1).
        alpha: two-sided significance level.
        correlation: baseline/follow-up correlation (None: `sd` is the SD of the change).
    """

    effect: float
    sd: float
    n: int = 24
    dropout: float = 0.1
    alpha: float = 0.05
    correlation: float | None = None

    def __post_init__(self) -> None:
        checks = [
            ("effect", math.isfinite(self.effect), "a finite number"),
            ("sd", math.isfinite(self.sd) and self.sd > 0, "a positive SD"),
            (
                "n",
                isinstance(self.n, int) and self.n >= MIN_PARTICIPANTS,
                "at least 2 participants",
            ),
            ("dropout", 0 <= self.dropout < 1, "a probability from 0 up to (not including) 1"),
            ("alpha", 0 < self.alpha < 1, "a level between 0 and 1"),
        ]
        if self.correlation is not None:
            checks.append(("correlation", -1 < self.correlation < 1, "a value between -1 and 1"))
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"{name}={getattr(self, name)!r}: expected {expected}")

    @property
    def sd_change(self) -> float:
        """SD of the within-participant change from baseline."""
        if self.correlation is None:
            return self.sd
        return self.sd * math.sqrt(2 * (1 - self.correlation))

    @property
    def expected_completers(self) -> float:
        return self.n * (1 - self.dropout)


@dataclass(frozen=True)
class SimulatedTrials:
    """Pre-drawn data of many trials: changes (trials x n) and completion flags."""

    changes: np.ndarray
    completed: np.ndarray


def draw_trials(design: PowerDesign, sims: int, seed: int | None) -> SimulatedTrials:
    """Draw every trial's changes and dropouts (the random part, shared by both engines)."""
    if sims < 1:
        raise ValueError(f"sims={sims!r}: expected at least 1 simulated trial")
    rng = np.random.default_rng(seed)
    shape = (sims, design.n)
    if design.correlation is None:
        changes = rng.normal(design.effect, design.sd, size=shape)
    else:
        cov = design.sd**2 * np.array([[1.0, design.correlation], [design.correlation, 1.0]])
        pairs = rng.multivariate_normal([0.0, design.effect], cov, size=shape)
        changes = pairs[..., 1] - pairs[..., 0]
    completed = rng.random(shape) >= design.dropout
    return SimulatedTrials(changes=changes, completed=completed)


def p_values_vectorised(trials: SimulatedTrials) -> np.ndarray:
    """Two-sided one-sample t-test p-value of each trial's completers, all trials at once."""
    mask = trials.completed
    m = mask.sum(axis=1)
    x = np.where(mask, trials.changes, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = x.sum(axis=1) / m
        squares = np.where(mask, (trials.changes - mean[:, None]) ** 2, 0.0).sum(axis=1)
        sd = np.sqrt(squares / (m - 1))
        t = mean / (sd / np.sqrt(m))
        p = 2 * stats.t.sf(np.abs(t), m - 1)
    return np.where(m >= MIN_PARTICIPANTS, p, np.nan)


def p_values_loop(trials: SimulatedTrials) -> np.ndarray:
    """The same p-values one trial at a time with ``scipy.stats.ttest_1samp`` (reference)."""
    out = np.full(trials.changes.shape[0], np.nan)
    for i, (row, keep) in enumerate(zip(trials.changes, trials.completed, strict=True)):
        if keep.sum() >= MIN_PARTICIPANTS:
            out[i] = stats.ttest_1samp(row[keep], 0.0).pvalue
    return out


@dataclass(frozen=True)
class PowerResult:
    design: PowerDesign
    sims: int
    power: float
    mc_se: float
    analytic: float
    mean_completers: float

    @property
    def ci(self) -> tuple[float, float]:
        """95% Monte Carlo interval of the simulated power (normal approximation)."""
        return (self.power - 1.96 * self.mc_se, self.power + 1.96 * self.mc_se)


def analytic_power(design: PowerDesign) -> float:
    """Paired-t power from statsmodels ``TTestPower`` at the expected number of completers."""
    d = design.effect / design.sd_change
    completers = design.expected_completers
    if completers < MIN_PARTICIPANTS:
        return math.nan
    return float(
        TTestPower().power(
            effect_size=d, nobs=completers, alpha=design.alpha, alternative="two-sided"
        )
    )


def simulate_power(design: PowerDesign, sims: int = 10_000, seed: int | None = None) -> PowerResult:
    """Monte Carlo power (vectorised) with its Monte Carlo SE, beside the analytic value."""
    trials = draw_trials(design, sims, seed)
    p = p_values_vectorised(trials)
    power = float(np.mean(np.nan_to_num(p, nan=1.0) < design.alpha))
    return PowerResult(
        design=design,
        sims=sims,
        power=power,
        mc_se=math.sqrt(power * (1 - power) / sims),
        analytic=analytic_power(design),
        mean_completers=float(trials.completed.sum(axis=1).mean()),
    )


def minimum_detectable_effect(design: PowerDesign, power: float = 0.8) -> float:
    """Smallest |mean change| detected with `power` (two-sided t, expected completers).

    Returned with the sign of ``design.effect`` (a fall stays negative); in outcome units.
    """
    if not 0 < power < 1:
        raise ValueError(f"power={power!r}: expected a probability between 0 and 1")
    d = TTestPower().solve_power(
        effect_size=None,
        nobs=design.expected_completers,
        alpha=design.alpha,
        power=power,
        alternative="two-sided",
    )
    sign = -1.0 if design.effect < 0 else 1.0
    return sign * abs(float(np.asarray(d).item())) * design.sd_change


def power_curve(
    design: PowerDesign, effects: np.ndarray, sims: int = 2_000, seed: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Monte Carlo and analytic power over a range of true effects (for the power plot)."""
    mc, analytic = [], []
    for i, effect in enumerate(effects):
        point = PowerDesign(
            float(effect), design.sd, design.n, design.dropout, design.alpha, design.correlation
        )
        result = simulate_power(point, sims, None if seed is None else seed + i)
        mc.append(result.power)
        analytic.append(result.analytic)
    return np.array(mc), np.array(analytic)

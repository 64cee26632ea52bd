"""Proportions with exact (Clopper-Pearson) confidence intervals.

Clopper & Pearson, Biometrika 1934;26:404: the interval inverts two one-sided binomial tests;
it is computed here by statsmodels ``proportion_confint(method="beta")`` (beta quantiles),
which gives [0, upper] when x = 0 and [lower, 1] when x = n.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from statsmodels.stats.proportion import proportion_confint


@dataclass(frozen=True)
class Proportion:
    """x of n, the proportion and its exact CI (all in 0-1; NaN when n = 0)."""

    x: int
    n: int
    estimate: float
    ci_low: float
    ci_high: float

    @property
    def percent(self) -> float:
        return self.estimate * 100.0

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def compute_proportion(x: int, n: int, level: float = 0.95) -> Proportion:
    """x/n with its two-sided Clopper-Pearson CI.

    Permitted values: integers with 0 <= x <= n; level strictly between 0 and 1; otherwise
    ValueError naming the value.

    >>> p = compute_proportion(7, 10)
    >>> round(p.ci_low, 4), round(p.ci_high, 4)
    (0.3475, 0.9333)
    """
    if isinstance(x, bool) or isinstance(n, bool) or int(x) != x or int(n) != n:
        raise ValueError(f"x={x!r}, n={n!r}: expected whole-number counts")
    x, n = int(x), int(n)
    if n < 0 or not 0 <= x <= n:
        raise ValueError(f"x={x}, n={n}: expected 0 <= x <= n")
    if not 0 < level < 1:
        raise ValueError(f"level={level!r}: expected a confidence level between 0 and 1")
    if n == 0:
        return Proportion(0, 0, math.nan, math.nan, math.nan)
    low, high = proportion_confint(x, n, alpha=1 - level, method="beta")
    return Proportion(x, n, x / n, float(low), float(high))

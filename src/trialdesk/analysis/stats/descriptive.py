"""Descriptive statistics: n, mean, SD, median, quartiles, range and a t-based CI of the mean.

Quartiles use linear interpolation between order statistics (Hyndman & Fan type 7, the
numpy/R default; SAS PROC MEANS uses type 5 by default, so quartiles can differ slightly from a
SAS listing for small n). The SD is the sample SD (divisor n - 1). The CI of the mean is
``mean +- t(1 - alpha/2, n - 1) x SD / sqrt(n)`` (Student 1908).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

#: A sample SD (ddof = 1) and a t interval need at least two values.
_MIN_FOR_SPREAD = 2


@dataclass(frozen=True)
class Summary:
    """Summary of one sample; statistics that need more values than available are NaN."""

    n: int
    mean: float
    sd: float
    se: float
    ci_low: float
    ci_high: float
    median: float
    q1: float
    q3: float
    min: float
    max: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _clean(values: Iterable[float]) -> np.ndarray:
    array = np.asarray(list(values), dtype=float)
    clean: np.ndarray = array[~np.isnan(array)]
    return clean


def compute_mean_ci(values: Iterable[float], level: float = 0.95) -> tuple[float, float]:
    """Two-sided t-based confidence interval of the mean (NaN, NaN) with fewer than 2 values.

    >>> low, high = compute_mean_ci([1.0, 2.0, 3.0])
    >>> round(low, 4), round(high, 4)
    (-0.4841, 4.4841)
    """
    if not 0 < level < 1:
        raise ValueError(f"level={level!r}: expected a confidence level between 0 and 1")
    x = _clean(values)
    if len(x) < _MIN_FOR_SPREAD:
        return (math.nan, math.nan)
    half = stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return (float(x.mean() - half), float(x.mean() + half))


def compute_summary(values: Iterable[float], level: float = 0.95) -> Summary:
    """n, mean, SD, SE, CI of the mean, median, Q1, Q3, min and max; NaN values are ignored.

    >>> s = compute_summary([7.1, 8.0, 9.5, 6.4])
    >>> s.n, round(s.mean, 3), round(s.median, 2), round(s.q1, 3)
    (4, 7.75, 7.55, 6.925)
    """
    x = _clean(values)
    n = len(x)
    if n == 0:
        nan = math.nan
        return Summary(0, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan)
    sd = float(x.std(ddof=1)) if n > 1 else math.nan
    low, high = compute_mean_ci(x, level)
    q1, median, q3 = (float(v) for v in np.percentile(x, [25, 50, 75]))
    return Summary(
        n=n,
        mean=float(x.mean()),
        sd=sd,
        se=sd / math.sqrt(n) if n > 1 else math.nan,
        ci_low=low,
        ci_high=high,
        median=median,
        q1=q1,
        q3=q3,
        min=float(x.min()),
        max=float(x.max()),
    )

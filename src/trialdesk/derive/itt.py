"""Short intravenous insulin tolerance test (ITT): KITT, glucose half-life, resistance call.

Protocol (standard short ITT): after an overnight fast, an IV bolus of 0.1 U/kg regular insulin
is given at t = 0 and glucose is sampled at 0, 3, 6, 9, 12 and 15 min (Akinmokun et al.,
*Diabet Med* 1992;9:432; Geloneze & Tambascia, *Arq Bras Endocrinol Metab* 2006;50:208). The
glucose disappearance rate KITT is the slope of natural-log glucose on time between 3 and 15 min
(Akinmokun 1992; Hirst et al., *Diabet Med* 1993;10:839); t = 0 is excluded because it falls in
the insulin-mixing lag.

Samples not taken (a missing-data code instead of a glucose, issue #13) are left out, and KITT
is the slope over the samples that remain in the 3–15 min window, provided at least three do:
the least-squares slope of ln glucose on time needs no fixed sampling times, and three points
are the fewest that fit a line with a residual (Akinmokun 1992 and Hirst 1993 fit all the
samples of the window by least squares; neither interpolates a missing one). With fewer than
three the function raises, KITT is not computed, and the analysis counts it as missing
(`trialdesk.analysis.from_store`). No sample is ever imputed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from trialdesk.derive import _checks
from trialdesk.derive.errors import DerivationError

#: The standard KITT fitting window in minutes after the bolus, both ends included.
KITT_WINDOW_MIN: tuple[float, float] = (3.0, 15.0)

_MIN_POINTS = 3

#: A fitting window is a (start, end) pair.
_WINDOW_ENDS = 2


def _check_window(window: tuple[float, float]) -> tuple[float, float]:
    if not isinstance(window, tuple) or len(window) != _WINDOW_ENDS:
        raise DerivationError("window", window, "a (start, end) pair of times in minutes")
    start = _checks.finite("window[0]", window[0], "time in minutes")
    end = _checks.finite("window[1]", window[1], "time in minutes")
    if not start < end:
        raise DerivationError("window", window, "(start, end) with start < end, in minutes")
    return start, end


def _log_glucose_slope(
    times_min: Sequence[float], glucose: Sequence[float], window: tuple[float, float]
) -> float:
    """OLS slope (per minute) of ln(glucose) on time over the window; validated, always < 0."""
    if len(times_min) != len(glucose):
        raise DerivationError(
            "len(glucose)",
            len(glucose),
            f"one glucose value per sample time (len(times_min)={len(times_min)})",
        )
    start, end = _check_window(window)
    times = [
        _checks.finite(f"times_min[{i}]", t, "time in minutes") for i, t in enumerate(times_min)
    ]
    values = [_checks.positive(f"glucose[{i}]", g, "concentration") for i, g in enumerate(glucose)]
    for i in range(1, len(times)):
        if not times[i] > times[i - 1]:
            raise DerivationError(
                f"times_min[{i}]",
                times_min[i],
                f"strictly increasing sample times (times_min[{i - 1}]={times[i - 1]!r})",
            )
    in_window = [i for i, t in enumerate(times) if start <= t <= end]
    if len(in_window) < _MIN_POINTS:
        raise DerivationError(
            "times_min",
            tuple(times),
            f"at least {_MIN_POINTS} samples with {start!r} <= t <= {end!r} min "
            f"(found {len(in_window)})",
        )
    t = np.array([times[i] for i in in_window], dtype=np.float64)
    log_g = np.log(np.array([values[i] for i in in_window], dtype=np.float64))
    # Fit ln(G) - ln(G_first): the same slope, and exactly 0 (not +-1e-17) for a flat curve.
    slope = float(np.polyfit(t, log_g - log_g[0], 1)[0])
    if not slope < 0:
        raise DerivationError(
            "glucose",
            tuple(values[i] for i in in_window),
            f"glucose falling over {start!r} <= t <= {end!r} min; the slope of ln(glucose) "
            f"is {slope:+.6g}/min (>= 0), so KITT is not computable",
        )
    return slope


def compute_kitt(
    times_min: Sequence[float],
    glucose: Sequence[float],
    window: tuple[float, float] = KITT_WINDOW_MIN,
) -> float:
    """Glucose disappearance rate KITT (%/min) of a short insulin tolerance test.

    Formula: fit ordinary least squares ln(G) = a + b*t over the samples with
    ``window[0] <= t <= window[1]`` (natural log; default window 3-15 min), then
    ``KITT = -b * 100`` %/min, which equals ``ln 2 / t_half * 100`` (0.693 / t_half x 100).

    Units: ``times_min`` in minutes after the insulin bolus (pre-bolus samples may be negative and
    are ignored unless inside the window); ``glucose`` in any concentration unit (mg/dL and
    mmol/L give the same KITT, since only ratios enter). Returns %/min, always > 0.

    Permitted values: same length sequences; every glucose finite and > 0; sample times finite
    and strictly increasing; at least 3 samples in the window; glucose must fall over the window
    (slope < 0). Anything else raises `DerivationError` naming the offending value; a flat or
    rising curve is "not computable" and raises rather than returning KITT <= 0.

    Sources: Akinmokun et al., Diabet Med 1992;9:432 (0.1 U/kg, KITT over 3-15 min); Hirst et
    al., Diabet Med 1993;10:839 (slope of log glucose between 3 and 15 min); Geloneze &
    Tambascia, Arq Bras Endocrinol Metab 2006;50:208 (KITT = 0.693/t_half).

    Worked example ([@KITT-examples], case B, T2DM-like; 2.271 %/min; the same in mmol/L):

    >>> t = [0, 3, 6, 9, 12, 15]
    >>> round(compute_kitt(t, [180, 176, 165, 153, 144, 134]), 3)
    2.271
    >>> round(compute_kitt(t, [g / 18.016 for g in [180, 176, 165, 153, 144, 134]]), 3)
    2.271
    >>> round(compute_kitt(t, [180, 176, 165, 153, 144, 134], window=(0.0, 15.0)), 3)
    2.051
    """
    return -_log_glucose_slope(times_min, glucose, window) * 100.0


def compute_itt_half_life(
    times_min: Sequence[float],
    glucose: Sequence[float],
    window: tuple[float, float] = KITT_WINDOW_MIN,
) -> float:
    """Glucose half-life t_half (minutes) during a short insulin tolerance test.

    Formula: with b the OLS slope of ln(G) on t over the window (as in `compute_kitt`),
    ``t_half = ln 2 / (-b)`` minutes, so that ``KITT = ln 2 / t_half * 100``.

    Permitted values, units and errors: exactly as `compute_kitt` (times in minutes, glucose in
    any unit, at least 3 samples in the window, falling glucose required). Returns minutes,
    always > 0.

    Sources: Geloneze & Tambascia, Arq Bras Endocrinol Metab 2006;50:208 (KITT = 0.693/t_half);
    Akinmokun et al., Diabet Med 1992;9:432.

    Worked example ([@KITT-examples], case B: t_half 30.52 min):

    >>> round(compute_itt_half_life([0, 3, 6, 9, 12, 15], [180, 176, 165, 153, 144, 134]), 2)
    30.52
    """
    return math.log(2.0) / -_log_glucose_slope(times_min, glucose, window)


def is_insulin_resistant(kitt: float, cutoff: float) -> bool:
    """Classify a KITT as insulin resistant: True when ``kitt < cutoff`` (strictly below).

    The cut-off is a protocol parameter, not a constant: published values depend on population,
    insulin dose and assay. Examples (all %/min):

    - Lee et al., Yonsei Med J 2008;49:901: T2DM patients insulin resistant at KITT < 2.5
      -> ``cutoff=2.5``.
    - Graci et al., J Endocrinol Invest 1999;22:472: KITT <= 4.8 identified the
      insulin-resistance cluster in 60 non-diabetic subjects (sensitivity 83.3%, specificity
      80.5%). That rule is inclusive; since this function compares strictly, a protocol adopting
      Graci must pass ``cutoff=math.nextafter(4.8, math.inf)`` (or state that exactly 4.8 is not
      resistant).

    Units: both in %/min as returned by `compute_kitt`. Permitted values: finite and > 0 (a
    KITT <= 0 is never produced by `compute_kitt`); otherwise `DerivationError`.

    Sources: Lee et al. 2008 and Graci et al. 1999 as above; docs/references.md recommends
    keeping the cut-off a protocol parameter.

    Worked example ([@KITT-examples], case C: KITT 0.926 %/min, markedly resistant):

    >>> is_insulin_resistant(0.926, cutoff=2.5)
    True
    >>> is_insulin_resistant(2.5, cutoff=2.5)
    False
    """
    kitt_value = _checks.positive("kitt", kitt, "KITT in %/min")
    cutoff_value = _checks.positive("cutoff", cutoff, "KITT cut-off in %/min")
    return kitt_value < cutoff_value

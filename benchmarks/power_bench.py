"""Monte Carlo power: vectorised numpy against a per-trial scipy loop; MC against analytic.

The two engines get the same pre-drawn trials (`draw_trials`), so they must give identical
p-values; the benchmark checks that before timing. The loop is timed on a subsample (it is
slow by design) and compared with the vectorised engine on the same subsample.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from trialdesk.analysis.power import (
    PowerDesign,
    draw_trials,
    p_values_loop,
    p_values_vectorised,
    simulate_power,
)

DESIGN = PowerDesign(effect=-1.0, sd=1.2, n=24, dropout=0.1, alpha=0.05)  # HbA1c planning values
SUBSAMPLE = 1_000
FULL = 10_000


def _best_of(repeats: int, work: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def _loop_power(sims: int, seed: int) -> tuple[float, float]:
    """Seconds and power of the same simulation with the per-trial loop (the baseline)."""
    started = time.perf_counter()
    p = p_values_loop(draw_trials(DESIGN, sims, seed=seed))
    power = float(np.mean(np.nan_to_num(p, nan=1.0) < DESIGN.alpha))
    return time.perf_counter() - started, power


def run() -> list[dict[str, Any]]:
    trials = draw_trials(DESIGN, SUBSAMPLE, seed=20240601)
    fast, slow = p_values_vectorised(trials), p_values_loop(trials)
    if not np.allclose(fast, slow, rtol=1e-9, atol=1e-12, equal_nan=True):
        raise AssertionError("vectorised and per-trial p-values differ")
    loop_s = _best_of(1, lambda: p_values_loop(trials))
    vector_s = _best_of(5, lambda: p_values_vectorised(trials))
    full_s = _best_of(3, lambda: simulate_power(DESIGN, FULL, seed=1))
    result = simulate_power(DESIGN, FULL, seed=1)
    low, high = result.ci
    loop_full_s, loop_power = _loop_power(FULL, seed=1)
    if loop_power != result.power:
        raise AssertionError(f"per-trial loop power {loop_power} != vectorised {result.power}")
    return [
        {
            "name": f"power: t-tests of {SUBSAMPLE:,} trials (loop vs vectorised)",
            "baseline_seconds": loop_s,
            "candidate_seconds": vector_s,
            "note": "identical p-values",
        },
        {
            "name": f"power: {FULL:,} simulated trials (HbA1c −1.0, SD 1.2, n=24, 10% dropout)",
            "baseline_seconds": loop_full_s,
            "candidate_seconds": full_s,
            "note": f"baseline: the per-trial scipy loop, same power; "
            f"MC {result.power:.4f} [{low:.4f}, {high:.4f}] vs analytic "
            f"{result.analytic:.4f} (diff {result.power - result.analytic:+.4f})",
        },
    ]

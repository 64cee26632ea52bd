"""Monte Carlo power against the per-trial loop, the analytic value and a hand calculation."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import TTestPower
from typer.testing import CliRunner

from trialdesk.analysis.power import (
    PowerDesign,
    analytic_power,
    draw_trials,
    minimum_detectable_effect,
    p_values_loop,
    p_values_vectorised,
    simulate_power,
)
from trialdesk.cli import app

runner = CliRunner()
HBA1C = PowerDesign(effect=-1.0, sd=1.2, n=24, dropout=0.1)


def test_vectorised_p_values_equal_the_loop() -> None:
    trials = draw_trials(PowerDesign(-0.5, 1.0, n=6, dropout=0.4), 400, seed=3)
    fast, slow = p_values_vectorised(trials), p_values_loop(trials)
    assert np.isnan(fast).sum() > 0  # some trials with < 2 completers
    np.testing.assert_allclose(fast, slow, rtol=1e-10, equal_nan=True)


def test_analytic_power_by_hand() -> None:
    # Noncentral t: df = n - 1, noncentrality d sqrt(n); power = P(|T| > t_crit).
    design = PowerDesign(effect=-0.6, sd=1.0, n=20, dropout=0.0)
    df, nc = 19, 0.6 * math.sqrt(20)
    crit = stats.t.ppf(0.975, df)
    by_hand = stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc)
    assert analytic_power(design) == pytest.approx(by_hand, abs=1e-6)
    expected = TTestPower().power(effect_size=-0.6, nobs=20, alpha=0.05)
    assert analytic_power(design) == pytest.approx(expected)


@pytest.mark.parametrize(
    "design",
    [
        PowerDesign(effect=-0.5, sd=1.0, n=24, dropout=0.0),
        HBA1C,
        PowerDesign(effect=0.3, sd=0.6, n=12, dropout=0.2),
        PowerDesign(effect=-1.0, sd=1.5, n=24, dropout=0.1, correlation=0.6),
    ],
)
def test_monte_carlo_agrees_with_analytic(design: PowerDesign) -> None:
    result = simulate_power(design, 20_000, seed=5)
    # Within 4 Monte Carlo SEs, plus a small allowance for the binomial number of completers.
    allowance = 4 * max(result.mc_se, 0.002) + (0.015 if design.dropout else 0.0)
    assert abs(result.power - result.analytic) < allowance
    assert result.mean_completers == pytest.approx(design.expected_completers, rel=0.02)


def test_no_effect_gives_alpha() -> None:
    result = simulate_power(PowerDesign(effect=0.0, sd=1.0, n=24, dropout=0.0), 20_000, seed=9)
    assert result.power == pytest.approx(0.05, abs=4 * math.sqrt(0.05 * 0.95 / 20_000))


def test_correlation_sets_the_sd_of_the_change() -> None:
    design = PowerDesign(effect=-1.0, sd=1.2, correlation=0.75)
    assert design.sd_change == pytest.approx(1.2 * math.sqrt(0.5))
    changes = draw_trials(design, 2000, seed=1).changes
    assert changes.std() == pytest.approx(design.sd_change, rel=0.02)


def test_minimum_detectable_effect_has_the_requested_power() -> None:
    mde = minimum_detectable_effect(HBA1C, 0.8)
    assert mde < 0
    assert analytic_power(PowerDesign(mde, 1.2, 24, 0.1)) == pytest.approx(0.8, abs=1e-6)
    with pytest.raises(ValueError, match="power"):
        minimum_detectable_effect(HBA1C, 80)


def test_seed_makes_runs_reproducible() -> None:
    a, b = simulate_power(HBA1C, 5000, seed=42), simulate_power(HBA1C, 5000, seed=42)
    assert a.power == b.power


def test_ten_thousand_trials_are_fast() -> None:
    started = time.perf_counter()
    simulate_power(HBA1C, 10_000, seed=1)
    assert time.perf_counter() - started < 5.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sd": 0.0}, "sd"),
        ({"n": 1}, "n=1"),
        ({"dropout": 1.0}, "dropout"),
        ({"alpha": 0.0}, "alpha"),
        ({"correlation": 1.0}, "correlation"),
        ({"effect": math.nan}, "effect"),
    ],
)
def test_design_validation(kwargs: dict[str, float], message: str) -> None:
    values: dict[str, float] = {"effect": -1.0, "sd": 1.2, **kwargs}
    with pytest.raises(ValueError, match=message):
        PowerDesign(**values)  # type: ignore[arg-type]


def test_power_command_table_and_json(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["power", "--seed", "1", "--sims", "4000"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for text in (
        "Monte Carlo power",
        "Analytic power",
        "Minimum detectable change",
        "percentage points",
    ):
        assert text in result.output  # fmt: skip
    as_json = runner.invoke(app, ["power", "--outcome", "kitt", "--effect", "0.5", "--sd", "0.6",
                                  "--sims", "2000", "--seed", "2", "--json"])  # fmt: skip
    doc = json.loads(as_json.output)
    assert doc["outcome"] == "KITT" and doc["power_analytic"] == pytest.approx(
        TTestPower().power(effect_size=0.5 / 0.6, nobs=24 * 0.9, alpha=0.05)
    )
    plot = tmp_path / "curve.png"
    drawn = runner.invoke(app, ["power", "--sims", "500", "--seed", "3", "--plot", str(plot)])
    assert drawn.exit_code == 0 and plot.read_bytes().startswith(b"\x89PNG")


def test_power_command_errors() -> None:
    assert runner.invoke(app, ["power", "--outcome", "bogus"]).exit_code == 2
    needs = runner.invoke(app, ["power", "--outcome", "kitt"])
    assert needs.exit_code == 2 and "--effect and --sd are required" in needs.output
    bad = runner.invoke(app, ["power", "--dropout", "1.5"])
    assert bad.exit_code == 2 and "dropout" in bad.output

"""`trialdesk simulate`: options, output and errors (database and --frames modes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trialdesk.analysis.frames_io import read_frames
from trialdesk.cli import app
from trialdesk.console import simulate_cmd
from trialdesk.services.passwords import use_fast_hashing
from trialdesk.simulate.effect import MODERATE, NO_EFFECT
from trialdesk.simulate.run import RunSummary, SimulationSettings
from trialdesk.simulate.trial import simulate_trial

runner = CliRunner()


def test_frames_mode_writes_the_source_frames(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    result = runner.invoke(
        app,
        [
            "simulate",
            "-n",
            "60",
            "--seed",
            "4",
            "--effect",
            "moderate",
            "--frames",
            str(folder),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    expected = simulate_trial(60, seed=4).counts()
    assert summary["screened"] == 60 and summary["eligible"] == expected.eligible
    frames = read_frames(folder)
    assert len(frames.screening) == 60
    assert len(frames.subjects) == summary["enrolled"]


def test_database_mode_runs_through_the_services(tmp_path: Path) -> None:
    use_fast_hashing()
    url = f"sqlite:///{tmp_path / 'nested' / 'trial.sqlite'}"
    result = runner.invoke(
        app, ["simulate", "-n", "12", "--seed", "2", "--database", url, "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    counts = simulate_trial(12, seed=2).counts()
    assert summary["eligible"] == counts.eligible and summary["enrolled"] == counts.enrolled
    assert summary["screened"] + summary["declined_consent"] == 12
    again = runner.invoke(app, ["simulate", "-n", "3", "--database", url])
    assert again.exit_code == 1
    assert "already holds" in again.output


def test_the_summary_is_one_screen() -> None:
    summary = RunSummary(candidates=90, screened=85, declined_consent=5, eligible=30, enrolled=24)
    with simulate_cmd.console.capture() as captured:
        simulate_cmd.render_summary(summary, SimulationSettings(effect=MODERATE), "sqlite:///x")
    text = captured.get()
    assert "Screened (eligibility snapshot stored)" in text and "85" in text
    assert "moderate: HbA1c -0.7 %-points, insulin dose -25%" in text
    assert len(text.splitlines()) < 40
    assert simulate_cmd.describe_effect(NO_EFFECT) == "none (safety dry run)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--effect", "huge"], "not one of none, moderate, strong"),
        (["--effect", "moderate", "--insulin-reduction", "1.5"], "insulin_dose_reduction"),
        (["--start", "2020-13-01"], "--start"),
        (["--onset-days", "300", "--waning-from-days", "200"], "onset_days"),
    ],
)
def test_bad_options_exit_with_code_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["simulate", *args])
    assert result.exit_code == 2
    assert message in result.output

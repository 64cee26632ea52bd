"""`trialdesk report` (statistical report) and `trialdesk power` (design help)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from trialdesk.analysis import AnalysisError, SourceFrameError, SourceFrames
from trialdesk.analysis.figures import figure_power_curve
from trialdesk.analysis.frames_io import read_frames, read_simulated
from trialdesk.analysis.params import PARAMS_BY_CODE
from trialdesk.analysis.power import (
    PowerDesign,
    PowerResult,
    minimum_detectable_effect,
    simulate_power,
)
from trialdesk.analysis.report import REPORT_STEPS, ReportFiles, ReportOptions, build_report
from trialdesk.analysis.report.html import key_results
from trialdesk.console.protocol_cmd import resolve_protocol
from trialdesk.console.study_protocol import StudyProtocolError, study_protocol
from trialdesk.protocol import Protocol, ProtocolError
from trialdesk.store import DatabaseConfigError

console = Console()

MIN_CONFIDENCE_LEVEL = 0.5
"""Lowest --level accepted: a confidence interval below 50 % is not a useful interval."""
MAX_SIMULATIONS = 5_000_000
"""Most simulated trials --sims accepts (bounds the run time of the power simulation)."""

_STEP_LABELS = {
    "datasets": "Deriving ADSL, ADEFF, ADAE",
    "statistics": "Statistics (tests, mixed models, safety)",
    "figures": "Figures",
    "html": "HTML report",
    "pdf": "PDF report",
    "rtf": "Tables, listings and figures (RTF)",
    "docx": "Tables, listings and figures (DOCX)",
    "json": "Registry-format JSON",
}


def _data_cut(database: str | None) -> str:
    """Whether the study database is locked for analysis (issue 14), in the report's words."""
    from trialdesk.export.from_store import data_cut_at

    return data_cut_at(database).description


def load_source_frames(
    frames_dir: Path | None, database: str | None, protocol: Protocol
) -> tuple[SourceFrames, str]:
    """The frames to analyse and a note saying where they came from.

    ``--frames DIR`` reads Parquet files (`trialdesk.analysis.frames_io`); otherwise the study
    database (``--database URL``, ``TRIALDESK_DATABASE_URL`` or the embedded SQLite file) is
    read through `trialdesk.analysis.from_store`.
    """
    if frames_dir is not None:
        return read_frames(frames_dir), f"data: source frames in {frames_dir}"
    from trialdesk.analysis.from_store import load_source_frames as from_database

    try:
        frames = from_database(database, protocol)
        return frames, f"data: study database; data cut: {_data_cut(database)}"
    except (SQLAlchemyError, DatabaseConfigError) as exc:
        first = str(exc).splitlines()[0]
        raise AnalysisError(
            f"cannot read the study database ({first}); run `trialdesk db upgrade` first, or "
            "pass --frames DIR"
        ) from exc


def load_simulated(frames_dir: Path | None, database: str | None) -> str | None:
    """How the data to analyse were simulated (None for real data): the mark the simulator
    left in the study database or beside the Parquet frames."""
    if frames_dir is not None:
        return read_simulated(frames_dir)
    from trialdesk.analysis.from_store import simulated_description_at

    try:
        return simulated_description_at(database)
    except (SQLAlchemyError, DatabaseConfigError) as exc:
        first = str(exc).splitlines()[0]
        raise AnalysisError(f"cannot read the study database ({first})") from exc


def run_report(
    frames: SourceFrames,
    protocol: Protocol,
    out: Path,
    *,
    data_note: str = "",
    banner: str = "",
    level: float = 0.95,
    simulated: str | None = None,
) -> ReportFiles:
    """Build the report with a progress bar, then print the key results and the file paths.

    Public so that other commands (e.g. the demo) show the same progress and summary.
    """
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(_STEP_LABELS[REPORT_STEPS[0]], total=len(REPORT_STEPS))

        def advance(step: str) -> None:
            index = REPORT_STEPS.index(step)
            following = REPORT_STEPS[index + 1] if index + 1 < len(REPORT_STEPS) else step
            progress.update(task, advance=1, description=_STEP_LABELS[following])

        files = build_report(
            frames,
            protocol,
            out,
            on_step=advance,
            options=ReportOptions(
                data_note=data_note, banner=banner, simulated=simulated, level=level
            ),
        )
    render_summary(files)
    return files


def render_summary(files: ReportFiles) -> None:
    table = Table(title=f"{files.results.protocol.registry.id}: key results", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key in key_results(files.results):
        table.add_row(key.label, key.line)
    console.print(table)
    issues = files.results.issues
    if issues:
        console.print(
            f"[yellow]{len(issues)} value(s) not derived or data-quality message(s); "
            "see the report's 'Model details and data issues'.[/yellow]"
        )
    for label, path in (
        ("HTML", files.html),
        ("PDF", files.pdf),
        ("RTF", files.rtf),
        ("DOCX", files.docx),
        ("JSON", files.json),
    ):
        console.print(f"{label:5} {escape(str(path))}", highlight=False, soft_wrap=True)


def report(
    out: Path = typer.Option(Path("report"), "--out", help="Folder for the report files"),
    frames_dir: Path | None = typer.Option(
        None, "--frames", help="Analyse Parquet source frames in this folder instead of the DB"
    ),
    database: str | None = typer.Option(None, "--database", help="Study database URL"),
    protocol_file: Path | None = typer.Option(
        None,
        "--protocol",
        help="Protocol YAML: with --frames, the protocol to analyse under; with the database, "
        "it must be one the database has registered (the stored protocol is used)",
    ),
    level: float = typer.Option(0.95, "--level", help="Confidence level of every interval"),
) -> None:
    """Write the statistical report: report.html, report.pdf, report.rtf, report.docx and
    results.json."""
    if not MIN_CONFIDENCE_LEVEL <= level < 1:
        console.print(f"[red]--level {level}: expected a confidence level from 0.5 up to 1[/red]")
        raise typer.Exit(2)
    try:
        protocol = (
            resolve_protocol(protocol_file)
            if frames_dir is not None
            else study_protocol(database, protocol_file).protocol
        )
        frames, note = load_source_frames(frames_dir, database, protocol)
        simulated = load_simulated(frames_dir, database)
        run_report(frames, protocol, out, data_note=note, level=level, simulated=simulated)
    except (ProtocolError, SourceFrameError, AnalysisError, StudyProtocolError) as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", highlight=False)
        raise typer.Exit(2) from None
    except (SQLAlchemyError, DatabaseConfigError) as exc:
        first = str(exc).splitlines()[0]
        console.print(
            f"[red]cannot read the study database ({escape(first)}); run `trialdesk db upgrade` "
            "first, or pass --frames DIR[/red]",
            highlight=False,
        )
        raise typer.Exit(2) from None


#: Planning defaults per outcome: (effect, SD of change). HbA1c: a fall of about 1.0-1.3
#: percentage points in stem-cell T2DM studies (Bhansali 2009: -1.0; Zang 2022: -1.31); the
#: SD of the change (1.2 points) is an assumption to revisit with pilot data.
PLANNING_DEFAULTS: dict[str, tuple[float, float]] = {"HBA1C": (-1.0, 1.2)}

_ALIASES = {"INSULIN": "INSDOSKG", "CPEPTIDE": "CPEPF", "HOMA": "HOMAIR", "OGLD": "OGLDDDD"}


def _outcome_code(outcome: str) -> str:
    code = outcome.strip().upper().replace("-", "").replace("_", "")
    code = _ALIASES.get(code, code)
    if code not in PARAMS_BY_CODE:
        known = ", ".join(sorted(c.lower() for c in PARAMS_BY_CODE))
        raise typer.BadParameter(f"{outcome!r}: expected one of {known}", param_hint="--outcome")
    return code


def _power_table(result: PowerResult, code: str, mde80: float, mde90: float) -> Table:
    spec = PARAMS_BY_CODE[code]
    d = result.design
    table = Table(title=f"Power: {spec.param}, single group, paired t-test (two-sided)")
    table.add_column("")
    table.add_column("Value", justify="right")
    low, high = result.ci
    corr = "" if d.correlation is None else f" (from SD {d.sd:g} and r = {d.correlation:g})"
    rows = [
        ("True mean change", f"{d.effect:g} {spec.change_unit}"),
        ("SD of the change", f"{d.sd_change:.3g} {spec.change_unit}{corr}"),
        ("Enrolled / dropout", f"{d.n} / {d.dropout:.0%}"),
        (
            "Completers (expected / simulated mean)",
            f"{d.expected_completers:.1f} / {result.mean_completers:.2f}",
        ),
        ("Alpha (two-sided)", f"{d.alpha:g}"),
        (
            f"Monte Carlo power ({result.sims:,} trials)",
            f"{result.power:.3f}  [{max(low, 0):.3f}, {min(high, 1):.3f}]",
        ),
        ("Analytic power (statsmodels TTestPower)", f"{result.analytic:.3f}"),
        ("Monte Carlo − analytic", f"{result.power - result.analytic:+.3f}"),
        (f"Minimum detectable change, 80% power, n={d.n}", f"{mde80:.3g} {spec.change_unit}"),
        (f"Minimum detectable change, 90% power, n={d.n}", f"{mde90:.3g} {spec.change_unit}"),
    ]
    for label, value in rows:
        table.add_row(label, value)
    return table


def power(  # noqa: PLR0913  Typer command: one parameter per CLI option (Typer has no option groups)
    *,
    outcome: str = typer.Option("hba1c", "--outcome", help="Outcome (PARAMCD, e.g. hba1c, kitt)"),
    effect: float | None = typer.Option(None, "--effect", help="True mean change from baseline"),
    sd: float | None = typer.Option(
        None, "--sd", help="SD of the change (or of the outcome with --correlation)"
    ),
    n: int = typer.Option(24, "--n", help="Participants enrolled"),
    dropout: float = typer.Option(0.1, "--dropout", help="Share without the primary visit"),
    sims: int = typer.Option(10_000, "--sims", help="Simulated trials"),
    alpha: float = typer.Option(0.05, "--alpha", help="Two-sided significance level"),
    correlation: float | None = typer.Option(
        None, "--correlation", help="Baseline/follow-up correlation (then --sd is per visit)"
    ),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (reproducible results)"),
    plot: Path | None = typer.Option(None, "--plot", help="Save a power curve (.png/.pdf/.svg)"),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON"),
) -> None:
    """Monte Carlo power of the single-group paired design, beside the analytic value."""
    code = _outcome_code(outcome)
    defaults = PLANNING_DEFAULTS.get(code)
    if (effect is None or sd is None) and defaults is None:
        console.print(
            f"[red]--effect and --sd are required for {code.lower()} "
            "(planning defaults exist only for hba1c)[/red]"
        )
        raise typer.Exit(2)
    if defaults is not None:
        effect = defaults[0] if effect is None else effect
        sd = defaults[1] if sd is None else sd
    assert effect is not None and sd is not None
    try:
        design = PowerDesign(effect, sd, n, dropout, alpha, correlation)
        if not 1 <= sims <= MAX_SIMULATIONS:
            raise ValueError(f"sims={sims}: expected 1 to 5,000,000 simulated trials")
        result = simulate_power(design, sims, seed)
        mde80 = minimum_detectable_effect(design, 0.8)
        mde90 = minimum_detectable_effect(design, 0.9)
    except ValueError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", highlight=False)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "outcome": code,
                    "effect": effect,
                    "sd_change": design.sd_change,
                    "n": n,
                    "dropout": dropout,
                    "alpha": alpha,
                    "sims": sims,
                    "seed": seed,
                    "power_monte_carlo": result.power,
                    "monte_carlo_se": result.mc_se,
                    "power_analytic": result.analytic,
                    "mde_80": mde80,
                    "mde_90": mde90,
                },
                indent=2,
            )
        )
    else:
        console.print(_power_table(result, code, mde80, mde90))
    if plot is not None:
        spec = PARAMS_BY_CODE[code]
        figure = figure_power_curve(
            design, spec.param, spec.change_unit, max(500, min(sims, 4000)), seed
        )
        figure.savefig(plot, dpi=120)
        console.print(f"power curve: {escape(str(plot))}", highlight=False)

"""`trialdesk simulate`: run the protocol on a virtual cohort.

By default the cohort is written into the study database through the services (the same rules
and audit trail as site staff); ``--frames DIR`` instead writes the analysis source frames of an
in-memory run as Parquet files, for ``trialdesk report --frames DIR``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from trialdesk import services as sv
from trialdesk.console.study_protocol import StudyProtocolError, set_up_study
from trialdesk.simulate.candidates import DEFAULT_START
from trialdesk.simulate.effect import Effect, effect_preset
from trialdesk.simulate.followup import FollowupParameters
from trialdesk.simulate.run import (
    FOLLOW_UP,
    SCREENING,
    RunSummary,
    SimulationError,
    SimulationSettings,
    describe_settings,
    run_simulation,
)
from trialdesk.store import DatabaseConfigError, database_url, make_engine, make_session_factory
from trialdesk.store import upgrade as upgrade_schema

console = Console()
err = Console(stderr=True)

_STAGE_LABEL = {SCREENING: "Screening candidates", FOLLOW_UP: "Following participants"}


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]{escape(message)}[/red]", highlight=False)
    return typer.Exit(code)


def build_effect(preset: str, **overrides: float | int | None) -> Effect:
    """The effect preset with any explicit options applied (bad values: exit code 2)."""
    try:
        return effect_preset(preset, **overrides)
    except ValueError as exc:
        raise _fail(f"--effect: {str(exc).removeprefix('effect: ')}", 2) from None


def simulate(  # noqa: PLR0913  Typer command: one parameter per CLI option (Typer has no option groups)
    *,
    candidates: int = typer.Option(120, "--candidates", "-n", min=1, help="Candidates to screen"),
    seed: int = typer.Option(0, "--seed", min=0, help="Random seed (same seed, same trial)"),
    effect: str = typer.Option(
        "none", "--effect", help="Treatment effect: none (safety dry run), moderate or strong"
    ),
    hba1c_change: float | None = typer.Option(
        None, help="Full-effect HbA1c change, %-points (e.g. -0.7)"
    ),
    insulin_reduction: float | None = typer.Option(
        None, help="Full-effect insulin dose reduction, fraction 0-1 (e.g. 0.25)"
    ),
    kitt_change: float | None = typer.Option(None, help="Full-effect KITT change, %/min"),
    c_peptide_change: float | None = typer.Option(
        None, help="Full-effect C-peptide change, fraction (e.g. 0.15 = +15 %)"
    ),
    ogld_reduction: float | None = typer.Option(
        None, help="Full-effect oral drug (DDD) reduction, fraction 0-1"
    ),
    onset_days: int | None = typer.Option(None, help="Days after transplantation to full effect"),
    waning_from_days: int | None = typer.Option(None, help="Day the effect starts to wane"),
    waning_fraction: float | None = typer.Option(None, help="Share of the effect lost by month 12"),
    dropout_rate: float = typer.Option(
        0.10, min=0.0, help="Withdrawal / loss to follow-up, per participant-year"
    ),
    start: str | None = typer.Option(
        None, help=f"First screening date, YYYY-MM-DD (default {DEFAULT_START.isoformat()})"
    ),
    database: str | None = typer.Option(
        None,
        "--database",
        help="Database URL (default: TRIALDESK_DATABASE_URL or ./data/trialdesk.sqlite)",
    ),
    frames: Path | None = typer.Option(
        None, "--frames", help="Write analysis source frames (Parquet) here instead of a database"
    ),
    stop_when_full: bool = typer.Option(
        False, "--stop-when-full", help="Stop screening once the enrolment target is reached"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON"),
) -> None:
    """Simulate screening, enrolment and 12 months of follow-up of a virtual cohort."""
    chosen = build_effect(
        effect,
        hba1c_change=hba1c_change,
        insulin_dose_reduction=insulin_reduction,
        kitt_change=kitt_change,
        c_peptide_change=c_peptide_change,
        ogld_dose_reduction=ogld_reduction,
        onset_days=onset_days,
        waning_from_days=waning_from_days,
        waning_fraction=waning_fraction,
    )
    try:
        first = date.fromisoformat(start) if start else DEFAULT_START
    except ValueError:
        raise _fail(f"--start: {start!r} is not a date (YYYY-MM-DD)", 2) from None
    settings = SimulationSettings(
        n_candidates=candidates,
        seed=seed,
        effect=chosen,
        start=first,
        followup=FollowupParameters(dropout_rate_per_year=dropout_rate),
        stop_when_full=stop_when_full,
    )
    if frames is not None:
        _write_frames(settings, frames, as_json)
        return
    summary, where = _run_in_database(settings, database, quiet=as_json)
    if as_json:
        typer.echo(json.dumps({"database": where, **asdict(summary)}, indent=2))
    else:
        render_summary(summary, settings, where)


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def _progress(quiet: bool) -> Iterator[Progress]:
    progress = Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
        transient=False,
    )
    with progress:
        yield progress


def _bulk_load_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """SQLite in WAL mode with ``synchronous=NORMAL``: commits skip the fsync of the log, which
    makes the thousands of small transactions of a simulation several times faster on slow
    disks. The database cannot be corrupted by it (SQLite docs, "WAL mode"); only the last
    transactions before a power failure could be lost, which a simulated run can simply redo.
    Applies to this command's engine only, never to the site's normal data entry."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _run_in_database(
    settings: SimulationSettings, database: str | None, quiet: bool
) -> tuple[RunSummary, str]:
    try:
        url = database or database_url()
    except DatabaseConfigError as exc:
        raise _fail(str(exc), 2) from None
    engine = make_engine(url)  # creates the folder of a SQLite file
    if make_url(url).get_backend_name() == "sqlite":
        event.listen(engine, "connect", _bulk_load_pragmas)
    try:
        upgrade_schema(engine)
        with make_session_factory(engine)() as session:
            # The study runs under the stored protocol; TRIALDESK_PROTOCOL sets up a new one.
            set_up_study(session, None, min(settings.start, date.today()))
        with _progress(quiet) as progress, make_session_factory(engine)() as session:
            tasks: dict[str, TaskID] = {}

            def report(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = progress.add_task(_STAGE_LABEL.get(stage, stage), total=total)
                progress.update(tasks[stage], completed=done, total=total)

            summary = run_simulation(session, settings, progress=report)
    except (SimulationError, StudyProtocolError) as exc:
        raise _fail(str(exc)) from None
    except sv.ServiceError as exc:
        raise _fail(f"refused ({exc.rule}): {exc.message}") from None
    except SQLAlchemyError as exc:
        raise _fail(f"database error on {_shown(url)}: {exc.__class__.__name__}: {exc}") from None
    finally:
        engine.dispose()
    return summary, _shown(url)


def _write_frames(settings: SimulationSettings, folder: Path, as_json: bool) -> None:
    from trialdesk.analysis.frames_io import write_frames
    from trialdesk.simulate.frames import source_frames
    from trialdesk.simulate.trial import TrialOptions, simulate_trial

    with console.status("Simulating the trial in memory", spinner="dots"):
        trial = simulate_trial(
            settings.n_candidates,
            settings.seed,
            settings.effect,
            options=TrialOptions(
                start=settings.start,
                followup=settings.followup,
                stop_when_full=settings.stop_when_full,
            ),
        )
        paths = write_frames(source_frames(trial), folder, describe_settings(settings))
    counts = asdict(trial.counts())
    if as_json:
        typer.echo(json.dumps({"frames": str(folder), **counts}, indent=2))
        return
    table = Table(title=f"Virtual trial (seed {settings.seed}, effect {settings.effect.name})")
    table.add_column("")
    table.add_column("n", justify="right")
    for key, value in counts.items():
        table.add_row(key.replace("_", " "), str(value))
    console.print(table)
    console.print(f"source frames: {', '.join(p.name for p in paths)} in {folder}")
    console.print(f"next: trialdesk report --frames {folder}", style="dim")


def describe_effect(effect: Effect) -> str:
    """One line: the simulated effect at full strength, or that there is none."""
    if effect.is_null:
        return "none (safety dry run)"
    return (
        f"{effect.name}: HbA1c {effect.hba1c_change:+g} %-points, insulin dose "
        f"-{effect.insulin_dose_reduction:.0%}, KITT {effect.kitt_change:+g} %/min, "
        f"full by day {effect.onset_days}, {effect.waning_fraction:.0%} lost by month 12"
    )


def render_summary(
    summary: RunSummary, settings: SimulationSettings, where: str, *, next_step: bool = True
) -> None:
    """The one-screen summary: participant flow, follow-up and safety, data quality; and the
    command that analyses this database (not the default one) unless the caller runs it."""
    flow = Table(title=f"Virtual cohort, seed {settings.seed}", show_header=False)
    flow.add_column("", style="bold")
    flow.add_column("", justify="right")
    rows = [
        ("Candidates", summary.candidates),
        ("  not yet screened (after today)", summary.not_yet_screened),
        ("  not screened (target reached)", summary.not_screened_target_reached),
        ("  declined consent", summary.declined_consent),
        ("Screened (eligibility snapshot stored)", summary.screened),
        ("  eligible", summary.eligible),
        ("  ineligible", summary.ineligible),
        ("  incomplete", summary.incomplete),
        ("Enrolled", summary.enrolled),
        ("Transplanted", summary.transplanted),
        ("Completed 12 months", summary.completed),
        ("Ongoing", summary.ongoing),
        ("Withdrawn / lost", summary.withdrawn),
        ("Died", summary.died),
        ("Visits done / missed", f"{summary.visits} / {summary.missed_visits}"),
        ("Measurements", summary.measurements),
        ("Adverse events", summary.adverse_events),
        ("  serious (ICH E2A)", summary.serious_adverse_events),
        ("Protocol deviations", summary.deviations),
        ("Data queries from edit checks", summary.queries),
    ]
    for label, value in rows:
        flow.add_row(label, str(value))
    console.print(flow)
    console.print(f"effect: {describe_effect(settings.effect)}", highlight=False)
    console.print(f"database: {where}", highlight=False)
    if next_step:
        console.print(f"next: trialdesk report --database {where}", style="dim", highlight=False)

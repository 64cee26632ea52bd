"""`trialdesk prescreen` (EHR pre-screening over an OMOP CDM) and `trialdesk omop synth`."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from trialdesk.prescreen.concepts import ConceptSet, ConceptSetError, load_concept_sets
from trialdesk.prescreen.funnel import funnel_path, plot_funnel
from trialdesk.prescreen.mapping import MappingError, OmopMap, load_element_map
from trialdesk.prescreen.plan import DEFAULT_LOOKBACK_DAYS, Settings
from trialdesk.prescreen.query import AT_VISIT, MET, NOT_ASSESSABLE, NOT_MET
from trialdesk.prescreen.run import (
    Summary,
    check_output,
    default_index_date,
    prescreen,
    prescreen_streamed,
)
from trialdesk.prescreen.source import BACKENDS, SourceError, open_source
from trialdesk.prescreen.synth import CHUNK_PERSONS, TABLE_ORDER, write_cdm_streaming
from trialdesk.protocol import Protocol, ProtocolError, builtin_protocol, load_protocol

if TYPE_CHECKING:
    from trialdesk.console.prescreen_store import LogTarget

console = Console()
err = Console(stderr=True)
omop_app = typer.Typer(help="OMOP CDM utilities: synthetic populations.", no_args_is_help=True)
OMOP_ENV = "TRIALDESK_OMOP"
TOP_SHOWN = 10
"""Best-ranked persons listed on the terminal after a run (the file holds them all)."""


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]{escape(message)}[/red]", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def _stages(label: str) -> Iterator[Progress]:
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        yield progress


def prescreen_command(  # noqa: PLR0913  Typer command: one parameter per CLI option (Typer has no option groups)
    *,
    omop: str | None = typer.Option(
        None,
        "--omop",
        help=f"DuckDB file or Parquet folder; PostgreSQL URL with --backend "
        f"postgres (default: ${OMOP_ENV})",
    ),
    backend: str = typer.Option("duckdb", "--backend", help="duckdb | postgres | spark"),
    schema: str | None = typer.Option(None, "--schema", help="CDM schema (PostgreSQL)"),
    index_date: str | None = typer.Option(
        None,
        "--index-date",
        help="Planned screening date, YYYY-MM-DD (default: the latest "
        "observation_period_end_date, i.e. the extract date)",
    ),
    lookback_days: int = typer.Option(
        DEFAULT_LOOKBACK_DAYS, "--lookback-days", help="Most recent value within this many days"
    ),
    out: Path | None = typer.Option(None, "--out", help="candidates.csv or .parquet"),
    top: int | None = typer.Option(None, "--top", help="Keep only the N best-ranked persons"),
    protocol_file: Path | None = typer.Option(None, "--protocol", help="Protocol YAML"),
    into_database: bool = typer.Option(
        False,
        "--into-database",
        help="Also store the run and its candidates in the study database's screening log",
    ),
    database: str | None = typer.Option(
        None,
        "--database",
        help="Study database URL for --into-database (default: TRIALDESK_DATABASE_URL or "
        "./data/trialdesk.sqlite)",
    ),
    site: str | None = typer.Option(None, "--site", help="Site code of the EHR (--into-database)"),
    user: str | None = typer.Option(
        None, "--user", help="Username storing the run: coordinator or investigator of the site"
    ),
    log_excluded: bool = typer.Option(
        False,
        "--log-excluded",
        help="Also list excluded persons in the screening log (by default they are only counted)",
    ),
    concept_sets: Path | None = typer.Option(
        None,
        "--concept-sets",
        help="Folder of <name>.yaml concept sets (the site's local codes) replacing or adding "
        "to the built-in ones",
    ),
    element_map: Path | None = typer.Option(
        None,
        "--element-map",
        help="YAML element map (layout of trialdesk/prescreen/omop_map.yaml) replacing the "
        "built-in one",
    ),
    funnel_png: Path | None = typer.Option(
        None, "--funnel-png", help="Also draw the attrition funnel as a PNG picture"
    ),
) -> None:
    """Rank the persons of an OMOP CDM database against the protocol's criteria.

    Status: candidate (every EHR-assessable criterion met; the site still checks the rest at
    the visit), incomplete (data missing from the record, named), excluded (criterion named).
    """
    location, when = _checked_options(omop, backend, top, lookback_days, index_date)
    try:
        if out is not None:
            check_output(out)
        if funnel_png is not None and funnel_png.suffix.lower() != ".png":
            raise ValueError(f"--funnel-png: {funnel_png.name} must end in .png")
        protocol = load_protocol(protocol_file) if protocol_file else builtin_protocol()
        vocabulary = _site_vocabulary(concept_sets, element_map)
    except (ValueError, ProtocolError) as exc:
        raise _fail(str(exc)) from None
    target = _log_target(into_database, database, site, user, log_excluded)
    if target is not None:  # into the study database: its stored protocol
        protocol = _stored_protocol(database, protocol_file)
    started = time.perf_counter()
    with _stages("prescreen") as progress:
        task = progress.add_task(f"opening {location}")
        try:
            source = open_source(location, backend, schema)
        except SourceError as exc:
            raise _fail(str(exc)) from None
        try:
            settings = Settings(
                when or default_index_date(source),
                lookback_days,
                element_map=vocabulary[0],
                concept_sets=vocabulary[1],
            )
            say = lambda text: progress.update(task, description=text)  # noqa: E731
            if _streamable(out, top, target):
                assert out is not None
                result, summary = prescreen_streamed(source, protocol, settings, out, say)
            else:
                result, summary = prescreen(source, protocol, settings, out, top=top, step=say)
        except (SourceError, ConceptSetError, MappingError, ValueError) as exc:
            raise _fail(str(exc)) from None
        finally:
            source.close()
    render_summary(summary, source.description, time.perf_counter() - started)
    render_funnel(summary)
    render_top(result.slice(0, TOP_SHOWN).to_pylist())
    _report_files(result, summary, protocol, out=out, top=top, funnel_png=funnel_png)
    if target is None:
        console.print(
            "[dim]Add --into-database --site CODE --user NAME to keep the candidates in the "
            "study database's screening log.[/dim]"
        )
        return
    _store_in_log(target, protocol, result, summary, source.description)


def _checked_options(
    omop: str | None, backend: str, top: int | None, lookback_days: int, index_date: str | None
) -> tuple[str, date | None]:
    """The OMOP location and the index date, once the options are checked (`_fail` names the
    option and the reason)."""
    location = omop or os.environ.get(OMOP_ENV)
    if not location:
        raise _fail(
            f"--omop: give a DuckDB file, Parquet folder or database URL (or set {OMOP_ENV})"
        )
    if backend not in BACKENDS:
        raise _fail(f"--backend: {backend!r} is not one of {', '.join(BACKENDS)}")
    if top is not None and top < 1:
        raise _fail(f"--top: {top} must be at least 1")
    if lookback_days < 1:
        raise _fail(f"--lookback-days: {lookback_days} must be at least 1")
    try:
        return location, date.fromisoformat(index_date) if index_date else None
    except ValueError:
        raise _fail(f"--index-date: {index_date!r} is not a date (YYYY-MM-DD)") from None


def _report_files(
    result: pa.Table,
    summary: Summary,
    protocol: Protocol,
    *,
    out: Path | None,
    top: int | None,
    funnel_png: Path | None,
) -> None:
    """Say which files were written, drawing the funnel plot if one was asked for."""
    if out is not None:
        written = summary.persons if top is None else result.num_rows
        console.print(f"wrote {written:,} ranked persons to [bold]{out}[/bold]")
        console.print(f"wrote the attrition funnel to [bold]{funnel_path(out)}[/bold]")
    if funnel_png is not None:
        plot_funnel(summary.funnel, funnel_png, f"Pre-screen attrition, {protocol.id}")
        console.print(f"drew the attrition funnel in [bold]{funnel_png}[/bold]")


def _store_in_log(
    target: LogTarget, protocol: Protocol, result: pa.Table, summary: Summary, description: str
) -> None:
    """Store the run and its candidates in the study database's screening log."""
    from trialdesk.console.prescreen_store import LogProblem, store_run  # the database stack

    try:
        run = store_run(target, protocol, result, summary, description)
    except LogProblem as exc:
        raise _fail(str(exc), 2 if exc.usage else 1) from None
    stored = ", ".join(f"{n:,} {s}" for s, n in _stored_by_status(result, target).items())
    console.print(
        f"stored {run.candidates_stored:,} pre-screened persons ({stored}) in the screening log "
        f"as pre-screening run {run.id} at {run.site_code}, by {run.run_by_username}; "
        f"{run.persons_assessed:,} persons assessed"
    )


def _site_vocabulary(
    concept_sets: Path | None, element_map: Path | None
) -> tuple[OmopMap | None, dict[str, ConceptSet] | None]:
    """The site's element map and concept sets, read and checked before the run starts."""
    try:
        sets = load_concept_sets(concept_sets) if concept_sets is not None else None
        omap = load_element_map(element_map) if element_map is not None else None
    except (ConceptSetError, MappingError) as exc:
        raise ValueError(str(exc)) from None
    return omap, sets


def _stored_protocol(database: str | None, path: Path | None) -> Protocol:
    """The protocol stored in the study database (a --protocol file must be registered)."""
    from sqlalchemy.exc import SQLAlchemyError

    from trialdesk.console.study_protocol import StudyProtocolError, study_protocol

    try:
        return study_protocol(database, path).protocol
    except StudyProtocolError as exc:
        raise _fail(str(exc)) from None
    except SQLAlchemyError as exc:
        first = str(exc).splitlines()[0]
        raise _fail(f"--database: cannot read the study database ({first})") from None


def _log_target(
    into_database: bool,
    database: str | None,
    site: str | None,
    user: str | None,
    log_excluded: bool,
) -> LogTarget | None:
    """The screening-log target, checked before the pre-screen runs (None: CSV/Parquet only)."""
    if not into_database:
        given = [
            name
            for name, value in (
                ("--database", database),
                ("--site", site),
                ("--user", user),
                ("--log-excluded", log_excluded),
            )
            if value
        ]
        if given:
            raise _fail(f"{given[0]}: only used with --into-database")
        return None
    # Imported here: a run without --into-database does not load the database stack.
    from trialdesk.console.prescreen_store import LogProblem, log_target

    try:
        return log_target(database, site, user, log_excluded)
    except LogProblem as exc:
        raise _fail(str(exc), 2 if exc.usage else 1) from None


def _stored_by_status(result: pa.Table, target: LogTarget) -> dict[str, int]:
    counts = pc.value_counts(result.column("status")).to_pylist()
    found = {str(c["values"]): int(c["counts"]) for c in counts}
    return {s: found.get(s, 0) for s in target.statuses}


_STYLE = {MET: "green", NOT_MET: "red", NOT_ASSESSABLE: "yellow", AT_VISIT: "dim"}


def render_summary(summary: Summary, where: str, seconds: float) -> None:
    concepts = "expanded with the vocabulary" if summary.vocabulary else "as listed, no vocabulary"
    console.print(
        f"[bold]Pre-screen[/bold] of {summary.persons:,} persons in {escape(where)} "
        f"(seen in the {summary.lookback_days} days before {summary.index_date.isoformat()}; "
        f"concept sets {concepts}) in {seconds:.1f} s"
    )
    status = Table(title="Persons by pre-screening status")
    for column in ("candidate", "incomplete", "excluded"):
        status.add_column(column, justify="right")
    status.add_row(
        *(f"{summary.by_status.get(s, 0):,}" for s in ("candidate", "incomplete", "excluded"))
    )
    console.print(status)
    table = Table(title="Criteria")
    table.add_column("Criterion", no_wrap=True)
    # The text gives way on a narrow terminal (an ellipsis), not the counts: 4 columns of 10
    # and the borders take 56 characters.
    text_width = max(16, min(40, console.width - 56))
    table.add_column("Text", width=text_width, no_wrap=True, overflow="ellipsis")
    for verdict in (MET, NOT_MET, NOT_ASSESSABLE):
        table.add_column(verdict, justify="right", style=_STYLE[verdict], min_width=10)
    for cid, counts in summary.by_criterion.items():
        if AT_VISIT in counts:
            table.add_row(cid, escape(summary.criteria_text[cid]), "[dim]at visit[/dim]", "", "")
            continue
        table.add_row(
            cid,
            escape(summary.criteria_text[cid]),
            *(f"{counts.get(v, 0):,}" for v in (MET, NOT_MET, NOT_ASSESSABLE)),
        )
    console.print(table)


def render_funnel(summary: Summary) -> None:
    """The sequential attrition (ATLAS style) and what every candidate still needs."""
    table = Table(title="Attrition, criterion by criterion (EHR-assessable part)")
    for column in ("Step", "Criterion", "Text", "Remaining", "Removed", "Not assessable"):
        table.add_column(column, justify="right" if column[0] in "SRN" else "left")
    for step in summary.funnel:
        table.add_row(
            str(step.step),
            step.criterion or "–",
            escape(step.text),
            f"{step.remaining:,}",
            f"{step.removed:,}" if step.step else "",
            f"{step.not_assessable:,}" if step.step else "",
        )
    console.print(table)
    if summary.check_at_visit:
        console.print(
            f"[bold]Still to check at the screening visit[/bold] (no EHR source): "
            f"{escape(summary.check_at_visit)}",
            soft_wrap=True,
        )


def render_top(rows: list[dict[str, object]]) -> None:
    if not rows:
        console.print("no persons in the look-back window")
        return
    table = Table(title=f"Top {len(rows)} ranked persons")
    for column in ("rank", "person", "status", "age", "HbA1c", "FPG", "BMI", "insulin since"):
        table.add_column(column, no_wrap=True)
    table.add_column("excluded by / missing")
    for row in rows:
        table.add_row(
            str(row["rank"]),
            str(row["person_id"]),
            str(row["status"]),
            _num(row.get("age"), 0),
            _recorded(row, "hba1c"),
            _recorded(row, "fasting_glucose"),
            _num(row.get("bmi"), 1),
            _day(row.get("insulin_treated_date")),
            _why(row),
        )
    console.print(table)
    console.print(
        "[dim]Dates are those of the evidence (measurement date, exposure start). Criteria "
        "marked `assessed_at: visit` are judged at the screening visit.[/dim]"
    )


def _streamable(out: Path | None, top: int | None, target: LogTarget | None) -> bool:
    """A Parquet list of everyone, not stored in the study database: the database writes it
    itself, streamed (any population size, bounded memory)."""
    return out is not None and out.suffix.lower() == ".parquet" and top is None and target is None


def _why(row: dict[str, object]) -> str:
    if row.get("failed_criteria"):
        return f"[red]{escape(str(row['failed_criteria']))}[/red]"
    if row.get("missing"):
        return f"[yellow]missing {escape(str(row['missing']))}[/yellow]"
    return ""


def _day(value: object) -> str:
    return "–" if value is None else str(value)[:10]


def _num(value: object, decimals: int) -> str:
    return "–" if value is None else f"{float(value):.{decimals}f}"  # type: ignore[arg-type]


def _recorded(row: dict[str, object], name: str) -> str:
    """The value as recorded, with the date it was measured."""
    value, unit = row.get(f"{name}_value"), row.get(f"{name}_unit")
    if value is None:
        return "–"
    return f"{float(value):g} {unit} ({_day(row.get(f'{name}_date'))})"  # type: ignore[arg-type]


@omop_app.command("synth")
def synth(
    persons: int = typer.Option(10_000, "--persons", help="Number of persons"),
    out: Path = typer.Option(..., "--out", help="Parquet folder, or FILE.duckdb"),
    seed: int = typer.Option(20100611, "--seed", help="Random seed (same seed, same data)"),
    chunk_persons: int = typer.Option(
        CHUNK_PERSONS,
        "--chunk-persons",
        help="Persons generated and written at a time (memory; the data do not depend on it)",
    ),
) -> None:
    """Write a synthetic OMOP CDM v5.4 population (see trialdesk.prescreen.synth for sources),
    generated and written in chunks so that memory stays bounded at any size."""
    if persons < 1:
        raise _fail(f"--persons: {persons} must be at least 1")
    if chunk_persons < 1:
        raise _fail(f"--chunk-persons: {chunk_persons} must be at least 1")
    started = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(f"persons → {out.name}", total=persons)
        try:
            rows = write_cdm_streaming(
                persons,
                out,
                seed,
                chunk_persons=chunk_persons,
                progress=lambda done: progress.update(task, completed=done),
            )
        except OSError as exc:
            raise _fail(f"--out: {exc}") from None
    summary = Table(title=f"Synthetic OMOP CDM v5.4 → {out}")
    summary.add_column("table")
    summary.add_column("rows", justify="right")
    for name in TABLE_ORDER:
        summary.add_row(name, f"{rows[name]:,}")
    console.print(summary)
    console.print(f"[dim]{time.perf_counter() - started:.1f} s, seed {seed}[/dim]")

"""`trialdesk screen FILE`: evaluate candidates and print why each is (in)eligible."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from trialdesk.console.protocol_cmd import resolve_protocol
from trialdesk.console.study_protocol import StudyProtocolError, study_protocol_in
from trialdesk.eligibility import (
    CandidateInputError,
    EligibilityResult,
    Evaluator,
    InputError,
    Status,
)
from trialdesk.eligibility.candidates import CandidateRow, read_candidate_rows
from trialdesk.protocol import Protocol, ProtocolError
from trialdesk.services.study import current_protocol
from trialdesk.store import make_engine, make_session_factory

console = Console()
errors = Console(stderr=True)
_MARK = {True: "[green]✓[/green]", False: "[red]✗[/red]", None: "[yellow]?[/yellow]"}
_STATUS_STYLE = {Status.ELIGIBLE: "green", Status.INELIGIBLE: "red", Status.INCOMPLETE: "yellow"}


def example_candidates() -> Path:
    """The example candidate file shipped with trialdesk."""
    return Path(str(resources.files("trialdesk.examples").joinpath("candidates.csv")))


def screen(
    file: Path | None = typer.Argument(
        None, help="Candidates (.csv or .json); default: shipped examples"
    ),
    *,
    protocol_file: Path | None = typer.Option(None, "--protocol", help="Protocol YAML"),
    database: str | None = typer.Option(
        None,
        "--database",
        help="Judge under the protocol stored in this study database (the version in force on "
        "--on, else today); a --protocol file must then be one it has registered",
    ),
    on: str | None = typer.Option(None, help="Screening date when a record has none (YYYY-MM-DD)"),
    explain: bool = typer.Option(
        False, "--explain", help="Per-criterion table for every candidate"
    ),
    as_json: bool = typer.Option(False, "--json", help="Results as JSON"),
) -> None:
    """Evaluate one or many candidates against the protocol's criteria.

    Problems go to stderr, naming the file, the row and the field; stdout holds only the
    results (with --json, only the JSON document), so that it can be piped.
    """
    screening_date = _screening_date(on)
    path = file or example_candidates()
    try:
        protocol = (
            _stored_protocol(database, protocol_file, screening_date)
            if database
            else resolve_protocol(protocol_file)
        )
        rows = read_candidate_rows(path)
    except (ProtocolError, InputError, StudyProtocolError) as exc:
        _complain(str(exc))
        raise typer.Exit(2) from None
    results, bad = _evaluate_rows(Evaluator(protocol), rows, path, screening_date)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in results], indent=2, default=str))
    else:
        render_results(results, explain or len(results) == 1)
    if bad:
        _complain(
            f"{path}: {bad} of {len(rows)} rows refused (see above); nothing was judged for them"
        )
        raise typer.Exit(1)


def _screening_date(on: str | None) -> date | None:
    try:
        return date.fromisoformat(on) if on else None
    except ValueError:
        _complain(f"--on: {on!r} is not a date (YYYY-MM-DD)")
        raise typer.Exit(2) from None


def _complain(message: str) -> None:
    errors.print(f"[red]{escape(message)}[/red]", highlight=False, soft_wrap=True)


def _evaluate_rows(
    evaluator: Evaluator, rows: list[CandidateRow], path: Path, screening_date: date | None
) -> tuple[list[EligibilityResult], int]:
    """Results of the well-formed rows, and how many rows were refused (each told on stderr)."""
    results: list[EligibilityResult] = []
    bad = 0
    for row in rows:
        where = f"{path}: row {row.row} ({row.candidate_id})"
        problems = list(row.problems)
        if not problems:
            try:
                results.append(
                    evaluator.evaluate(row.record, row.candidate_id, screening_date, row.coded)
                )
            except CandidateInputError as exc:
                problems = exc.errors
        for problem in problems:
            _complain(f"{where}: {problem}")
        bad += bool(problems)
    return results, bad


def _stored_protocol(database: str, path: Path | None, on: date | None) -> Protocol:
    """The protocol version in force on `on` in the study database at `database`."""
    engine = make_engine(database)
    try:
        with make_session_factory(engine)() as session:
            study_protocol_in(session, path)  # refuses a file the database has not registered
            return current_protocol(session, on)
    except SQLAlchemyError as exc:
        first = str(exc).splitlines()[0]
        raise StudyProtocolError(f"--database: cannot read the study database ({first})") from None
    finally:
        engine.dispose()


def render_results(results: list[EligibilityResult], explain: bool) -> None:
    if not results:
        console.print("no candidates")
        return
    criteria = results[0].criteria
    matrix = Table(title=f"Screening against {results[0].protocol_id}")
    matrix.add_column("Candidate")
    for c in criteria:
        matrix.add_column(
            f"{c.criterion.kind.value[0].upper()}{c.criterion.number}", justify="center"
        )
    matrix.add_column("Result")
    for r in results:
        style = _STATUS_STYLE[r.status]
        matrix.add_row(
            escape(r.candidate_id),
            *[_MARK[c.satisfied] for c in r.criteria],
            f"[{style}]{r.status.value}[/{style}]",
        )
    console.print(matrix)
    console.print("✓ passes  ✗ fails  ? not assessable (missing data)", style="dim")
    for r in results:
        if explain:
            render_explanation(r)
        elif r.status is not Status.ELIGIBLE:
            reasons = r.failed or r.unassessed
            for c in reasons:
                console.print(
                    f"[bold]{escape(r.candidate_id)}[/bold] {c.label}: {escape(c.explanation())}",
                    highlight=False,
                )
    for r in results:
        for name, why in r.coded.items():
            console.print(
                f"[bold]{escape(r.candidate_id)}[/bold] {escape(name)}: recorded as missing, "
                f"{escape(why)}",
                highlight=False,
            )
    counts = {s: sum(r.status is s for r in results) for s in Status}
    console.print(", ".join(f"{n} {s.value}" for s, n in counts.items()))


def render_explanation(result: EligibilityResult) -> None:
    table = Table(title=f"{result.candidate_id}: {result.status.value}", show_lines=True)
    for col in ("Criterion", "As registered", "Result", "Values used", "Why"):
        table.add_column(col)
    for c in result.criteria:
        table.add_row(
            c.label,
            escape(c.criterion.text),
            f"{_MARK[c.satisfied]} {c.truth.value}",
            escape("\n".join(v.shown for v in c.values)),
            escape(c.explanation()),
        )
    console.print(table)

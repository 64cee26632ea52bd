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
from trialdesk.eligibility.candidates import candidate_id, read_candidates
from trialdesk.protocol import Protocol, ProtocolError
from trialdesk.services.study import current_protocol
from trialdesk.store import make_engine, make_session_factory

console = Console()
_MARK = {True: "[green]✓[/green]", False: "[red]✗[/red]", None: "[yellow]?[/yellow]"}
_STATUS_STYLE = {Status.ELIGIBLE: "green", Status.INELIGIBLE: "red", Status.INCOMPLETE: "yellow"}


def example_candidates() -> Path:
    """The example candidate file shipped with trialdesk."""
    return Path(str(resources.files("trialdesk.examples").joinpath("candidates.csv")))


def screen(
    file: Path | None = typer.Argument(
        None, help="Candidates (.csv or .json); default: shipped examples"
    ),
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
    """Evaluate one or many candidates against the protocol's criteria."""
    try:
        screening_date = date.fromisoformat(on) if on else None
        protocol = (
            _stored_protocol(database, protocol_file, screening_date)
            if database
            else resolve_protocol(protocol_file)
        )
        records = read_candidates(file or example_candidates())
    except (ProtocolError, InputError, StudyProtocolError) as exc:
        console.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from None
    except ValueError:
        console.print(f"[red]--on: {on!r} is not a date (YYYY-MM-DD)[/red]")
        raise typer.Exit(2) from None
    evaluator = Evaluator(protocol)
    results: list[EligibilityResult] = []
    bad = 0
    for index, record in enumerate(records):
        cid = candidate_id(record, index)
        try:
            results.append(evaluator.evaluate(record, cid, screening_date))
        except CandidateInputError as exc:
            bad += 1
            for error in exc.errors:
                console.print(f"[red]{cid}: {error}[/red]", highlight=False)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in results], indent=2, default=str))
    else:
        render_results(results, explain or len(results) == 1)
    if bad:
        raise typer.Exit(1)


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

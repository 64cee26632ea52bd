"""`trialdesk prescreen-federated`: the same criteria at several sites' OMOP databases; only
counts leave a site, small cells suppressed (`trialdesk.prescreen.federated`)."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from trialdesk.console.protocol_cmd import resolve_protocol
from trialdesk.prescreen.concepts import ConceptSetError
from trialdesk.prescreen.federated import (
    DEFAULT_MIN_CELL,
    Released,
    federated,
    parse_site,
)
from trialdesk.prescreen.mapping import MappingError
from trialdesk.prescreen.plan import DEFAULT_LOOKBACK_DAYS, Settings
from trialdesk.prescreen.source import SourceError
from trialdesk.protocol import ProtocolError

console = Console()
err = Console(stderr=True)
STATUS_LABELS = {"candidate": "Candidates", "incomplete": "Incomplete", "excluded": "Excluded"}


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]{escape(message)}[/red]", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def federated_command(
    *,
    site: list[str] = typer.Option(
        [],
        "--site",
        help="NAME=LOCATION, repeated: a DuckDB file or Parquet folder, "
        "postgresql://…[?schema=S], or spark:FOLDER",
    ),
    min_cell: int = typer.Option(
        DEFAULT_MIN_CELL,
        "--min-cell",
        help="Counts from 1 to MIN_CELL−1 are suppressed (CMS policy: 11)",
    ),
    index_date: str | None = typer.Option(
        None,
        "--index-date",
        help="Planned screening date, YYYY-MM-DD (default: each site's extract date)",
    ),
    lookback_days: int = typer.Option(DEFAULT_LOOKBACK_DAYS, "--lookback-days"),
    protocol_file: Path | None = typer.Option(None, "--protocol", help="Protocol YAML"),
    out: Path | None = typer.Option(None, "--out", help="Write the released counts as CSV"),
) -> None:
    """Feasibility across sites: per-site and total funnel, counts only, small cells
    suppressed so that no suppressed count can be worked out from the others."""
    if min_cell < 1:
        raise _fail(f"--min-cell: {min_cell} must be at least 1")
    if lookback_days < 1:
        raise _fail(f"--lookback-days: {lookback_days} must be at least 1")
    if out is not None and out.suffix.lower() != ".csv":
        raise _fail(f"--out: {out.name} must end in .csv")
    try:
        when = date.fromisoformat(index_date) if index_date else None
    except ValueError:
        raise _fail(f"--index-date: {index_date!r} is not a date (YYYY-MM-DD)") from None
    try:
        specs = [parse_site(s) for s in site]
        protocol = resolve_protocol(protocol_file)
        settings = Settings(when, lookback_days) if when else None
        with console.status("counting") as status:
            sites, grand = federated(
                specs,
                protocol,
                settings,
                min_cell,
                step=lambda name: status.update(f"counting at site {name}"),
            )
    except (SourceError, ConceptSetError, MappingError, ProtocolError, ValueError) as exc:
        raise _fail(str(exc)) from None
    render(sites, grand, min_cell)
    if out is not None:
        write_csv([*sites, grand], out, min_cell)
        console.print(f"wrote the released counts to [bold]{out}[/bold]")


def render(sites: list[Released], grand: Released, min_cell: int) -> None:
    columns = [*sites, grand]
    status = Table(title="Persons by pre-screen status (counts only)")
    status.add_column("")
    for r in columns:
        status.add_column(r.site if r is not grand else "Total", justify="right")
    status.add_row("Persons seen", *(r.persons.text(min_cell) for r in columns))
    for key, label in STATUS_LABELS.items():
        status.add_row(label, *(r.by_status[key].text(min_cell) for r in columns))
    console.print(status)
    funnel = Table(title="Attrition funnel: persons remaining (removed)")
    funnel.add_column("step")
    funnel.add_column("criterion")
    for r in columns:
        funnel.add_column(r.site if r is not grand else "Total", justify="right")
    for i, row in enumerate(grand.funnel):
        funnel.add_row(
            str(row.step),
            escape(row.criterion or "population"),
            *(
                c.funnel[i].remaining.text(min_cell)
                + (f" ({c.funnel[i].removed.text(min_cell)})" if i else "")
                for c in columns
            ),
        )
    console.print(funnel)
    console.print(
        f"[dim]Counts from 1 to {min_cell - 1} are shown as <{min_cell}; 'suppressed' hides a "
        "count that would reveal one; ≥ marks a total over sites with suppressed parts.[/dim]"
    )


def write_csv(columns: list[Released], path: Path, min_cell: int) -> Path:
    """Long format: site, measure, step, criterion, count (as released: "<11", "suppressed",
    ">=N" for a lower bound)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["site", "measure", "step", "criterion", "count"])
        for r in columns:
            writer.writerow([r.site, "persons", "", "", _plain(r.persons.text(min_cell))])
            for key, cell in r.by_status.items():
                writer.writerow([r.site, key, "", "", _plain(cell.text(min_cell))])
            for row in r.funnel:
                for measure, cell in (
                    ("remaining", row.remaining),
                    ("removed", row.removed),
                    ("not_assessable", row.not_assessable),
                ):
                    writer.writerow(
                        [r.site, measure, row.step, row.criterion, _plain(cell.text(min_cell))]
                    )
    return path


def _plain(text: str) -> str:
    return text.replace(",", "").replace("≥", ">=")

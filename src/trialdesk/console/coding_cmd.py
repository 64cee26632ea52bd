"""`trialdesk coding load meddra|drug DIR --version X`, `trialdesk coding list`: the sponsor's
dictionary releases (issue 14). Loading a newer MedDRA release re-checks every coding in force
(recoded, flagged for review, or carried unchanged) and says how many of each."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from trialdesk import services as sv
from trialdesk.console.db_cmd import _refused, database_session
from trialdesk.console.options import URL_OPTION

coding_app = typer.Typer(
    help="Medical coding dictionaries: load a MedDRA or drug dictionary release, list them.",
    no_args_is_help=True,
)
console = Console()


@coding_app.command("load")
def coding_load(
    kind: str = typer.Argument(..., help="meddra (MedDRA ASCII files) or drug"),
    directory: Path = typer.Argument(..., help="The release's folder (MedDRA: MedAscii)"),
    version: str = typer.Option(
        ..., "--version", help="The release's version, as its release file states it"
    ),
    url: str | None = URL_OPTION,
) -> None:
    """Load a dictionary release; an upgrade re-checks the codings made with the previous one."""
    with database_session(url) as session, console.status(f"reading {directory} …"):
        try:
            loaded = sv.load_dictionary(session, sv.SYSTEM, kind, directory, version=version)
        except sv.ServiceError as exc:
            raise _refused(exc) from None
    console.print(
        f"{loaded.name} {loaded.version} ({loaded.language}) loaded: {loaded.term_count} terms, "
        f"SHA-256 {loaded.content_sha256[:16]}…",
        highlight=False,
    )
    if loaded.recoded or loaded.flagged or loaded.unchanged:
        console.print(
            f"codings re-checked: {loaded.unchanged} unchanged, {loaded.recoded} recoded "
            f"automatically, {loaded.flagged} flagged for a coder's review",
            highlight=False,
        )


@coding_app.command("list")
def coding_list(url: str | None = URL_OPTION) -> None:
    """The dictionary releases loaded, oldest first."""
    with database_session(url) as session:
        releases = sv.list_dictionaries(session, sv.SYSTEM)
    table = Table("dictionary", "version", "language", "terms", "loaded", "SHA-256")
    for r in releases:
        table.add_row(
            r.name, r.version, r.language, str(r.term_count),
            f"{r.loaded_at:%Y-%m-%d %H:%M} UTC", r.content_sha256[:16] + "…",
        )  # fmt: skip
    console.print(table)

"""`trialdesk backup FILE` / `trialdesk restore FILE`: online backup of the study database and
checked restore (see `trialdesk.store.backup`)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from trialdesk.console.options import URL_OPTION
from trialdesk.store import DatabaseConfigError, database_url
from trialdesk.store.anchor import AnchorConfig, anchor_config
from trialdesk.store.backup import BackupError
from trialdesk.store.backup import backup as run_backup
from trialdesk.store.backup import restore as run_restore

console = Console()
err = Console(stderr=True)


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]{escape(message)}[/red]", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _target(url: str | None) -> str:
    try:
        return url or database_url()
    except DatabaseConfigError as exc:
        raise _fail(str(exc), 2) from None


def _anchor() -> AnchorConfig:
    try:
        return anchor_config()
    except ValueError as exc:
        raise _fail(str(exc), 2) from None


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def backup(
    file: Path = typer.Argument(..., help="Backup file to write (e.g. backups/2024-06-01.db)"),
    url: str | None = URL_OPTION,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing backup file"),
) -> None:
    """Back the study database up while it runs (SQLite backup API, or pg_dump), with a manifest
    of row counts and the audit chain head."""
    target = _target(url)
    try:
        report = run_backup(target, file, overwrite=overwrite, anchor=_anchor())
    except (BackupError, SQLAlchemyError, OSError) as exc:
        raise _fail(f"backup of {_shown(target)} failed: {exc}") from None
    snap = report.snapshot
    if report.checkpoint is None:
        err.print(
            "[yellow]! no checkpoint signed (no audit key, see `trialdesk audit keygen`): a "
            "database later rolled back to this backup cannot be told from the original[/yellow]",
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        f"[green]✓[/green] backed up {escape(_shown(target))} to {escape(str(report.path))} "
        f"({report.size_bytes:,} bytes): {snap.counts.get('participants', 0)} participants, "
        f"{snap.rows:,} rows, audit trail to #{snap.audit_sequence}; "
        f"manifest {escape(report.manifest_path.name)}"
        + (f"; {escape(report.checkpoint)}" if report.checkpoint else ""),
        highlight=False,
        soft_wrap=True,
    )


def restore(
    file: Path = typer.Argument(..., help="Backup file made by `trialdesk backup`"),
    url: str | None = URL_OPTION,
    force: bool = typer.Option(False, "--force", help="Replace a database that already holds data"),
) -> None:
    """Restore a backup (stop the server first), then verify the audit chain and that every
    table has the row count recorded in the backup's manifest."""
    target = _target(url)
    try:
        report = run_restore(file, target, force=force, anchor=_anchor())
    except (BackupError, SQLAlchemyError, OSError) as exc:
        raise _fail(f"restore into {_shown(target)} failed: {exc}") from None
    for note in report.notes:
        err.print(f"[yellow]{escape(note)}[/yellow]", highlight=False, soft_wrap=True)
    snap = report.snapshot
    checked = "counts match the manifest; " if report.manifest_checked else ""
    console.print(
        f"[green]✓[/green] restored {escape(str(file))} into {escape(_shown(target))}: "
        f"{snap.counts.get('participants', 0)} participants, {snap.rows:,} rows; {checked}"
        f"{escape(str(report.chain))}",
        highlight=False,
        soft_wrap=True,
    )

"""`trialdesk audit keygen|checkpoint|verify`: the audit trail and its anchor outside the database
(see `trialdesk.store.anchor`).

The key and checkpoint log come from ``TRIALDESK_AUDIT_KEY_FILE`` /
``TRIALDESK_AUDIT_CHECKPOINT_LOG`` or ``TRIALDESK_AUDIT_DIR`` (default: ``trialdesk-audit``
beside the data directory); ``--dir`` overrides all three.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from trialdesk import services as sv
from trialdesk.console.db_cmd import _fail, _resolve, database_session
from trialdesk.console.options import URL_OPTION
from trialdesk.services.records import verify_audit_trail
from trialdesk.services.views import ChainReportView
from trialdesk.store.anchor import (
    AnchorConfig,
    AnchorKeyError,
    CheckpointRefused,
    anchor_config,
    generate_key,
    rotate_key,
    write_checkpoint,
)
from trialdesk.store.anchor.log import create_log
from trialdesk.store.models.audit import AuditHead

console = Console()
err = Console(stderr=True)

audit_app = typer.Typer(
    help="The hash-chained audit trail and its signed checkpoints.", no_args_is_help=True
)

DIR_OPTION = typer.Option(
    None,
    "--dir",
    help="Folder of the signing key and checkpoint log (default: TRIALDESK_AUDIT_* settings, "
    "else trialdesk-audit beside the data directory)",
)


def _config(directory: Path | None) -> AnchorConfig:
    try:
        return anchor_config(directory)
    except ValueError as exc:
        raise _fail(str(exc), 2) from None


@audit_app.command("keygen")
def audit_keygen(
    directory: Path | None = DIR_OPTION,
    rotate: bool = typer.Option(
        False, "--rotate", help="Replace the current key (the same as `audit rotate-key`)"
    ),
    url: str | None = URL_OPTION,
) -> None:
    """Create the Ed25519 key that signs checkpoints (private key 0600; never overwritten)."""
    if rotate:
        audit_rotate_key(url, directory, ROTATION_REASON)
        return
    config = _config(directory)
    try:
        key_id = generate_key(config)
        create_log(config)  # now, so that it can be made append-only before the first record
    except (AnchorKeyError, OSError) as exc:
        raise _fail(str(exc)) from None
    console.print(
        f"[green]✓[/green] checkpoint signing key {key_id}: {escape(str(config.key_file))} "
        f"(private, 0600); public key {escape(str(config.public_key_file))} (give it to "
        "monitors and inspectors). Keep the private key off the database server's backups "
        "and out of the database administrators' reach.",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"checkpoint log {escape(str(config.log_file))}: make it append-only so that not even "
        f"the server's OS user can cut or rewrite it (as root: chattr +a "
        f"{escape(str(config.log_file))}), or ship it to another host.",
        highlight=False,
        soft_wrap=True,
    )


ROTATION_REASON = "scheduled key rotation"


@audit_app.command("rotate-key")
def audit_rotate_key(
    url: str | None = URL_OPTION,
    directory: Path | None = DIR_OPTION,
    reason: str = typer.Option(
        ROTATION_REASON, "--reason", help="Why the key is replaced (kept in the signed record)"
    ),
) -> None:
    """Replace the signing key: a new key pair, a checkpoint signed by the new key and by the
    old one (the handover), the old public key kept so that older checkpoints still verify."""
    config = _config(directory)
    target = _resolve(url)
    with database_session(target) as session:
        try:
            result = rotate_key(
                session,
                config,
                reason=reason,
                database=make_url(target).render_as_string(hide_password=True),
            )
        except (CheckpointRefused, AnchorKeyError, OSError) as exc:
            raise _fail(f"✗ key not rotated: {exc}") from None
    console.print(
        f"[green]✓[/green] {escape(str(result))}. New public key "
        f"{escape(str(config.public_key_file))}: give it to monitors and inspectors with the "
        f"retired ones in {escape(str(config.retired_dir))}.",
        highlight=False,
        soft_wrap=True,
    )


@audit_app.command("checkpoint")
def audit_checkpoint(url: str | None = URL_OPTION, directory: Path | None = DIR_OPTION) -> None:
    """Sign a checkpoint of the audit entries written since the last one."""
    config = _config(directory)
    target = _resolve(url)
    with database_session(target) as session:
        try:
            result = write_checkpoint(
                session,
                config,
                reason="on demand",
                database=make_url(target).render_as_string(hide_password=True),
            )
        except (CheckpointRefused, AnchorKeyError, OSError) as exc:
            raise _fail(f"✗ no checkpoint written: {exc}") from None
    console.print(
        f"[green]✓[/green] {escape(str(result))}; log {escape(str(config.log_file))}",
        highlight=False,
        soft_wrap=True,
    )


@audit_app.command("verify")
def audit_verify(
    url: str | None = URL_OPTION,
    directory: Path | None = DIR_OPTION,
    require_anchor: bool = typer.Option(
        False, "--require-anchor", help="Fail (exit 2) when no checkpoint key is configured"
    ),
) -> None:
    """Recompute the hash chain and compare it with the signed checkpoints; exit 1 naming the
    first entry that differs (altered, removed, reordered, rewritten, rolled back)."""
    config = _config(directory)
    if not config.can_verify and require_anchor:
        raise _fail(f"no checkpoint key at {config.key_file} (or its .pub): not verified", 2)
    try:
        with database_session(url) as session:
            report = _verify_with_progress(session, config)
    except (AnchorKeyError, OSError) as exc:
        raise _fail(f"✗ cannot verify: {exc}") from None
    for note in report.notes:
        err.print(f"[yellow]! {escape(note)}[/yellow]", highlight=False, soft_wrap=True)
    if not report.ok:
        raise _fail(f"✗ {report.message}")
    console.print(f"[green]✓ {escape(report.message)}[/green]", highlight=False, soft_wrap=True)


def _verify_with_progress(session: Session, config: AnchorConfig) -> ChainReportView:
    """Both passes over the trail (chain, then checkpoints) shown on one bar on a terminal."""
    try:
        total = int(session.scalar(select(AuditHead.last_sequence)) or 0)
    except SQLAlchemyError:
        total = 0
    passes = 2 if config.can_verify else 1
    with Progress(
        TextColumn("verifying the audit trail"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as progress:
        task = progress.add_task("verify", total=total * passes)
        return verify_audit_trail(
            session,
            sv.SYSTEM,
            anchor=config,
            progress=lambda n: progress.advance(task, n),
        )

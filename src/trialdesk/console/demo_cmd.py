"""`trialdesk demo` (what `make demo` runs): the whole trial in one command.

On a fresh embedded SQLite database: simulate candidates, screen them against NCT01142050,
consent and enroll 24, record the transplantation, run 12 months of visits (all through the
services, so rules and audit trail apply), anchor the audit trail (a signing key of the demo's
own, a signed checkpoint) and verify it in full, chain and checkpoints, as `trialdesk audit
verify` does; then write the statistical report. The data are simulated and say so.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from trialdesk import services as sv
from trialdesk.console.report_cmd import load_simulated, load_source_frames, run_report
from trialdesk.console.simulate_cmd import (
    _run_in_database,
    build_effect,
    describe_effect,
    render_summary,
)
from trialdesk.protocol import builtin_protocol
from trialdesk.services.records import verify_audit_trail
from trialdesk.services.views import ChainReportView
from trialdesk.simulate.followup import FollowupParameters
from trialdesk.simulate.run import SimulationSettings
from trialdesk.store import make_engine, make_session_factory
from trialdesk.store.anchor import (
    CheckpointRefused,
    anchor_config,
    generate_key,
    write_checkpoint,
)

console = Console()


def demo(
    folder: Path = typer.Option(
        Path("data/demo"),
        "--folder",
        help="Where the demo database and report go (replaced on every run)",
    ),
    candidates: int = typer.Option(120, "--candidates", "-n", min=1),
    seed: int = typer.Option(2026, "--seed", min=0),
    effect: str = typer.Option("moderate", "--effect", help="none, moderate or strong"),
) -> None:
    """Run NCT01142050 end to end on a virtual cohort and write the report."""
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "trialdesk.sqlite"
    for stale in folder.glob("trialdesk.sqlite*"):
        stale.unlink()
    url = f"sqlite:///{database.resolve()}"
    protocol = builtin_protocol()
    chosen = build_effect(effect)
    console.rule(f"trialdesk demo: {protocol.registry.id}, {protocol.title}")
    console.print(f"SIMULATED DATA. Assumed treatment effect: {describe_effect(chosen)}")
    settings = SimulationSettings(
        n_candidates=candidates, seed=seed, effect=chosen, followup=FollowupParameters()
    )
    summary, where = _run_in_database(settings, url, quiet=False)
    render_summary(summary, settings, where, next_step=False)  # the demo reports itself
    _verify_audit(url, folder)
    frames, note = load_source_frames(None, url, protocol)
    banner = f"Simulated data (seed {seed}, effect: {describe_effect(chosen)})"
    simulated = load_simulated(None, url)  # the mark the simulator left in the database
    run_report(
        frames, protocol, folder / "report", data_note=note, banner=banner, simulated=simulated
    )
    console.print(
        f"done in {time.perf_counter() - started:.0f} s; open "
        f"{escape(str((folder / 'report' / 'report.html').resolve()))}",
        highlight=False,
    )


def _verify_audit(url: str, folder: Path) -> None:
    """The full verification (`services.verify_audit_trail` with the anchor), not the chain
    alone: a demo that skipped the checkpoints would show less than a site runs."""
    report = verify_demo_audit(url, folder / "trialdesk-audit")
    style = "green" if report.ok else "red"
    for note in report.notes:
        console.print(f"[yellow]! {escape(note)}[/yellow]", highlight=False)
    console.print(f"[{style}]{escape(report.message)}[/{style}]", highlight=False)
    if not report.ok:
        raise typer.Exit(1)
    # The demo's key and checkpoints are beside its database, not in the default folder.
    anchor_folder = folder / "trialdesk-audit"
    console.print(
        "verify again: trialdesk audit verify --database "
        + escape(f"{shlex.quote(url)} --dir {shlex.quote(str(anchor_folder.resolve()))}"),
        style="dim",
        highlight=False,
        soft_wrap=True,
    )


def verify_demo_audit(url: str, audit_folder: Path) -> ChainReportView:
    """A fresh key and checkpoint log for the fresh demo database, one checkpoint, then the
    verification of chain and checkpoints."""
    shutil.rmtree(audit_folder, ignore_errors=True)  # the previous run's key and log
    anchor = anchor_config(audit_folder)
    generate_key(anchor)
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            # A broken chain is not signed; the verification below names where it breaks.
            with contextlib.suppress(CheckpointRefused):
                write_checkpoint(session, anchor, reason="demo", database="demo")
            session.rollback()
            return verify_audit_trail(session, sv.SYSTEM, anchor=anchor)
    finally:
        engine.dispose()

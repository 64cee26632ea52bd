"""`trialdesk protocol show|validate|register|versions`."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from trialdesk.console.options import URL_OPTION
from trialdesk.console.study_protocol import StudyProtocolError
from trialdesk.protocol import BUILTIN_ID, Protocol, ProtocolError, builtin_protocol, load_protocol
from trialdesk.protocol.consistency import check_consistency
from trialdesk.services.protocol_versions import Amendment
from trialdesk.store.config import DATABASE_URL_ENV, data_dir, database_url

app = typer.Typer(
    help="The protocol as code: show it, validate a file, register an amendment, list versions.",
    no_args_is_help=True,
)
console = Console()



def resolve_protocol(path: Path | None) -> Protocol:
    """The protocol in `path`, or the built-in NCT01142050."""
    return load_protocol(path) if path else builtin_protocol(BUILTIN_ID)


@app.command("show")
def show(
    path: Path | None = typer.Argument(
        None, help="Protocol YAML (default: the study database's protocol, else the built-in)"
    ),
    url: str | None = URL_OPTION,
) -> None:
    """Print the study record, criteria, schedule of assessments and outcomes.

    Without a file: the protocol in force in the study database when one is configured
    (``--database``, ``TRIALDESK_DATABASE_URL`` or an existing default SQLite file), with its
    version and SHA-256; the built-in protocol otherwise. The first line says which.
    """
    try:
        protocol, source = _protocol_to_show(path, url)
    except (ProtocolError, StudyProtocolError) as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", highlight=False)
        raise typer.Exit(2) from None
    console.print(f"[bold]Source:[/bold] {escape(source)}", highlight=False, soft_wrap=True)
    render_protocol(protocol)


def _protocol_to_show(path: Path | None, url: str | None) -> tuple[Protocol, str]:
    if path is not None:
        return load_protocol(path), f"file {path}"
    if not database_configured(url):
        return builtin_protocol(BUILTIN_ID), (
            f"built-in {BUILTIN_ID} "
            f"(no study database configured: --database or {DATABASE_URL_ENV})"
        )
    return stored_protocol(url)


def database_configured(url: str | None) -> bool:
    """A database was named, or the default SQLite file exists (never created just to show)."""
    if url or os.environ.get(DATABASE_URL_ENV, "").strip():
        return True
    return (data_dir() / "trialdesk.sqlite").is_file()


def stored_protocol(url: str | None) -> tuple[Protocol, str]:
    """The version in force today in the study database (the built-in when none is stored)."""
    from trialdesk.console.db_cmd import _shown, database_session
    from trialdesk.services.study import current_protocol, version_in_force

    with database_session(url) as session:
        version = version_in_force(session)
        target = _shown(url or database_url())
        if version is None:
            return builtin_protocol(BUILTIN_ID), (
                f"built-in {BUILTIN_ID} (the study database {target} has no protocol "
                "registered: run `trialdesk db upgrade`)"
            )
        protocol = current_protocol(session)
    return protocol, (
        f"study database {target}: {version.protocol_id} version {version.label}, in force "
        f"from {version.effective_on.isoformat()}, SHA-256 {version.sha256}"
    )


def render_protocol(p: Protocol) -> None:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    site = "; ".join(f"{s.name}, {s.city}, {s.country}" for s in p.sites)
    for label, value in (
        ("Registry", f"{p.registry.name} {p.registry.id}"),
        ("Title", p.title),
        ("Phase", p.phase),
        ("Sponsor", p.sponsor),
        ("Status", p.status),
        ("Study type", p.study_type),
        (
            "Design",
            f"{p.design.intervention_model}, {p.design.masking} masking, "
            f"arms: {', '.join(a.name for a in p.design.arms)}",
        ),
        ("Condition", ", ".join(p.conditions)),
        ("Sex", p.sex),
        ("Target enrollment", str(p.target_enrollment)),
        ("Site", site),
        (
            "Intervention",
            f"{p.intervention.name} ({p.intervention.type}); cell source: "
            f"{p.intervention.cell_source or 'not stated'}",
        ),
    ):
        facts.add_row(label, value)
    console.print(facts)
    criteria = Table(title="Eligibility criteria", show_lines=True)
    for col in ("#", "Criterion (as registered)", "Assessed", "Computable form"):
        criteria.add_column(col)
    for c in p.criteria:
        label = f"{'I' if c.kind.value == 'inclusion' else 'E'}{c.number}"
        criteria.add_row(label, c.text, c.assessed_at.value, _expr_text(c.expr))
    console.print(criteria)
    schedule = Table(title="Schedule of assessments (days from baseline)")
    for col in ("Visit", "Day", "Window", "Assessments"):
        schedule.add_column(col)
    for v in p.schedule:
        schedule.add_row(
            f"{v.code} {v.name}",
            str(v.day),
            f"{v.earliest_day} … {v.latest_day}",
            ", ".join(v.assessments + [f for f in v.forms if f not in ("labs", "vital_signs")]),
        )
    console.print(schedule)
    outcomes = Table(title="Outcome measures")
    for col in ("", "Outcome", "Measure", "Time frame"):
        outcomes.add_column(col)
    for kind, items in (("primary", p.primary_outcomes), ("secondary", p.secondary_outcomes)):
        for o in items:
            outcomes.add_row(f"{kind} {o.number}", o.description, o.measure, o.time_frame)
    console.print(outcomes)


def _expr_text(node: object) -> str:
    from trialdesk.protocol.expr import AllOf, AnyOf, Compare, Implies, Not

    if isinstance(node, AllOf):
        return "(" + " AND ".join(_expr_text(c) for c in node.all) + ")"
    if isinstance(node, AnyOf):
        return "(" + " OR ".join(_expr_text(c) for c in node.any) + ")"
    if isinstance(node, Not):
        return f"NOT {_expr_text(node.not_)}"
    if isinstance(node, Implies):
        return f"IF {_expr_text(node.if_)} THEN {_expr_text(node.then)}"
    assert isinstance(node, Compare)
    if node.op == "between":
        return f"{node.low} ≤ {node.element} ≤ {node.high}"
    value = str(node.value).lower() if isinstance(node.value, bool) else node.value
    return f"{node.element} {node.op} {value}"


@app.command("validate")
def validate(path: Path = typer.Argument(..., help="Protocol YAML to check")) -> None:
    """Check a protocol file: schema, catalogue references, units; warn on contradictions."""
    try:
        protocol = load_protocol(path)
    except ProtocolError as exc:
        console.print(f"[red]✗ {exc.source}: {len(exc.problems)} error(s)[/red]")
        for problem in exc.problems:
            console.print(f"  [red]error[/red] {problem}", highlight=False)
        raise typer.Exit(1) from None
    warnings = check_consistency(protocol)
    for warning in warnings:
        console.print(f"  [yellow]warning[/yellow] {warning}", highlight=False)
    console.print(
        f"[green]✓ {path}: protocol {protocol.id} is valid[/green]"
        + (f" ({len(warnings)} warning(s))" if warnings else "")
    )


@app.command("register")
def register(
    path: Path = typer.Argument(..., help="The amended protocol YAML"),
    *,
    effective: datetime = typer.Option(
        ..., "--effective", formats=["%Y-%m-%d"], help="Date the amendment takes effect"
    ),
    summary: str = typer.Option(..., "--summary", help="Summary of the changes"),
    label: str | None = typer.Option(
        None, "--label", help="Version label (default: the file's `version`, else the next number)"
    ),
    consent_form: str | None = typer.Option(
        None,
        "--consent-form",
        help="Consent-form version this version requires (default: the file's "
        "`consent_form_version`, else unchanged); a new one flags participants for re-consent",
    ),
    url: str | None = URL_OPTION,
) -> None:
    """Register a protocol amendment in the study database."""
    from trialdesk import services as sv
    from trialdesk.console.db_cmd import _refused, database_session
    from trialdesk.console.study_protocol import StudyProtocolError, read_text

    try:
        text = read_text(path)
    except StudyProtocolError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", highlight=False)
        raise typer.Exit(2) from None
    with database_session(url) as session:
        try:
            version = sv.register_amendment(
                session,
                sv.SYSTEM,
                text,
                str(path),
                Amendment(
                    effective_on=effective.date(),
                    summary=summary,
                    label=label,
                    consent_form_version=consent_form,
                ),
            )
        except sv.ServiceError as exc:
            raise _refused(exc) from None
    console.print(
        f"registered {version.protocol_id} version {version.label}, in force from "
        f"{version.effective_on} (sha256 {version.sha256}); consent form "
        f"{version.consent_form_version}",
        highlight=False,
    )


@app.command("versions")
def versions(url: str | None = URL_OPTION) -> None:
    """List the protocol versions registered in the study database."""
    from trialdesk import services as sv
    from trialdesk.console.db_cmd import database_session

    table = Table("Version", "Protocol", "In force from", "Consent form", "SHA-256", "Changes")
    with database_session(url) as session:
        rows = sv.list_protocol_versions(session, sv.SYSTEM)
    for row in rows:
        table.add_row(
            row.label,
            row.protocol_id,
            row.effective_on.isoformat(),
            row.consent_form_version,
            row.sha256[:16] + "…",
            row.summary_of_changes,
        )
    console.print(table)
    if not rows:
        console.print("no protocol registered: run `trialdesk db upgrade` first")

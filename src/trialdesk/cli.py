"""The `trialdesk` command: a thin shell over the capability packages."""

from __future__ import annotations

import typer

from trialdesk.console import (
    audit_cmd,
    backup_cmd,
    coding_cmd,
    db_cmd,
    demo_cmd,
    export_cmd,
    federated_cmd,
    lock_cmd,
    prescreen_cmd,
    protocol_cmd,
    report_cmd,
    screen_cmd,
    security_cmd,
    serve_cmd,
    simulate_cmd,
)

app = typer.Typer(
    help="trialdesk: run a clinical trial end to end (built-in protocol NCT01142050).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(protocol_cmd.app, name="protocol")
app.command("screen")(screen_cmd.screen)
app.command("prescreen")(prescreen_cmd.prescreen_command)
app.command("prescreen-federated")(federated_cmd.federated_command)
app.add_typer(prescreen_cmd.omop_app, name="omop")
app.command("serve")(serve_cmd.serve)
app.command("report")(report_cmd.report)
app.command("power")(report_cmd.power)
app.command("simulate")(simulate_cmd.simulate)
app.add_typer(db_cmd.db_app, name="db")
app.add_typer(db_cmd.site_app, name="site")
app.add_typer(db_cmd.user_app, name="user")
app.add_typer(audit_cmd.audit_app, name="audit")
app.add_typer(security_cmd.security_app, name="security")
app.command("backup")(backup_cmd.backup)
app.command("restore")(backup_cmd.restore)
app.add_typer(coding_cmd.coding_app, name="coding")
app.add_typer(export_cmd.export_app, name="export")
app.add_typer(export_cmd.import_app, name="import")
app.command("demo")(demo_cmd.demo)
app.add_typer(lock_cmd.lock_app, name="lock")
app.command("unlock")(lock_cmd.unlock)


if __name__ == "__main__":
    app()

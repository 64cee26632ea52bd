"""The `trialdesk` command: a thin shell over the capability packages.

Each command's module is imported only when that command runs (or when the help lists them
all): `trialdesk prescreen` does not pay for the report's matplotlib/scipy/WeasyPrint or the
web stack (issue #16, start-up cost; click's documented lazy-loading group pattern).
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer import _click as click  # typer 0.29 vendors click: its classes, not click's
from typer.core import DEFAULT_MARKUP_MODE, TyperGroup
from typer.main import get_command_from_info, get_group
from typer.models import CommandInfo

# name → (module under trialdesk.console, attribute): a Typer (a group) or a function (a command)
COMMANDS: dict[str, tuple[str, str]] = {
    # commands first, then groups, in the order `trialdesk --help` has always listed them
    "screen": ("screen_cmd", "screen"),
    "prescreen": ("prescreen_cmd", "prescreen_command"),
    "prescreen-federated": ("federated_cmd", "federated_command"),
    "serve": ("serve_cmd", "serve"),
    "report": ("report_cmd", "report"),
    "power": ("report_cmd", "power"),
    "simulate": ("simulate_cmd", "simulate"),
    "backup": ("backup_cmd", "backup"),
    "restore": ("backup_cmd", "restore"),
    "demo": ("demo_cmd", "demo"),
    "unlock": ("lock_cmd", "unlock"),
    "protocol": ("protocol_cmd", "app"),
    "omop": ("prescreen_cmd", "omop_app"),
    "db": ("db_cmd", "db_app"),
    "site": ("db_cmd", "site_app"),
    "user": ("security_cmd", "user_app"),  # db_cmd defines it; security_cmd adds five commands
    "audit": ("audit_cmd", "audit_app"),
    "security": ("security_cmd", "security_app"),
    "coding": ("coding_cmd", "coding_app"),
    "export": ("export_cmd", "export_app"),
    "import": ("export_cmd", "import_app"),
    "lock": ("lock_cmd", "lock_app"),
}


def load_command(name: str) -> click.Command:
    """The click command `name`, importing its module now."""
    module, attribute = COMMANDS[name]
    found: Any = getattr(importlib.import_module(f"trialdesk.console.{module}"), attribute)
    command: click.Command
    if isinstance(found, typer.Typer):
        command = get_group(found)  # as add_typer(found, name=name) would
    else:
        command = get_command_from_info(
            CommandInfo(name=name, callback=found),
            pretty_exceptions_short=True,
            rich_markup_mode=DEFAULT_MARKUP_MODE,
        )
    command.name = name
    return command


class LazyGroup(TyperGroup):
    """A group whose subcommands are imported on first use, listed in `COMMANDS` order."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            # An unknown name loads everything, so that click's "did you mean" sees them all.
            for name in [cmd_name] if cmd_name in COMMANDS else list(COMMANDS):
                self.commands.setdefault(name, load_command(name))
        return self.commands.get(cmd_name)


app = typer.Typer(
    cls=LazyGroup,
    help="trialdesk: run a clinical trial end to end (built-in protocol NCT01142050).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """trialdesk: run a clinical trial end to end (built-in protocol NCT01142050)."""


if __name__ == "__main__":
    app()

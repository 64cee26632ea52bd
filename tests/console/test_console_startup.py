"""Issue #16, start-up cost: each `trialdesk` command imports only its own module, so
`trialdesk prescreen` does not load the report, web or study-database stacks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from trialdesk.cli import COMMANDS, app, load_command

# What `trialdesk prescreen` (without --into-database) must not pay for at start-up.
NOT_FOR_PRESCREEN = (
    "matplotlib",
    "scipy.stats",
    "statsmodels",
    "weasyprint",
    "sqlalchemy",
    "alembic",
    "fastapi",
    "jinja2",
    "trialdesk.analysis",
    "trialdesk.services",
    "trialdesk.store",
    "trialdesk.web",
    "trialdesk.api",
)

PROBE = """
import json, sys
import typer
from trialdesk.cli import app
try:
    typer.main.get_command(app).main(sys.argv[1:], prog_name="trialdesk", standalone_mode=False)
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after(*args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_prescreen_loads_neither_the_report_nor_the_database_stack() -> None:
    loaded = _modules_after("prescreen", "--help")
    assert "trialdesk.console.prescreen_cmd" in loaded
    assert [m for m in NOT_FOR_PRESCREEN if m in loaded] == []
    assert "trialdesk.console.report_cmd" not in loaded


def test_the_report_command_still_loads_its_stack() -> None:
    """The probe can fail: a command that needs the heavy modules does load them."""
    loaded = _modules_after("report", "--help")
    assert "trialdesk.console.report_cmd" in loaded
    assert "trialdesk.analysis" in loaded


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_loads_under_its_name(name: str) -> None:
    command = load_command(name)
    assert command.name == name
    assert CliRunner().invoke(app, [name, "--help"]).exit_code == 0


def test_the_help_lists_every_command_and_a_typo_gets_suggestions() -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["--help"]).output
    assert all(name in shown for name in COMMANDS)
    wrong = runner.invoke(app, ["prescren"])
    assert wrong.exit_code == 2 and "prescreen" in wrong.output
    assert isinstance(app, typer.Typer)


GROUP_PROBE = """
import importlib, json, sys
from trialdesk.cli import COMMANDS, load_command
names = sys.argv[1:] or list(COMMANDS)
if not sys.argv[1:]:  # every console module imported first, as before lazy loading
    for module, _ in set(COMMANDS.values()):
        importlib.import_module(f"trialdesk.console.{module}")
print(json.dumps({n: sorted(getattr(load_command(n), "commands", {})) for n in names}))
"""


def _subcommands(*names: str) -> dict[str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", GROUP_PROBE, *names], capture_output=True, text=True, check=True
    )
    loaded: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_a_lazily_loaded_group_has_every_subcommand_other_modules_add() -> None:
    """A group one module defines and another extends (`user`: db_cmd and security_cmd) must
    come out whole when it alone is loaded in a fresh process."""
    eager = _subcommands()
    assert "redcap-token" in eager["user"] and "unlock" in eager["user"]
    groups = [name for name, subcommands in eager.items() if subcommands]
    for name in groups:
        assert _subcommands(name)[name] == eager[name], name

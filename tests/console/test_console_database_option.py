"""Every command that works on the study database is told which one by `--database` (report,
export, screen, simulate and the administration commands alike); `--url`, the name the
administration commands first had, still works."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer._click.core import Command
from typer.testing import CliRunner

from trialdesk.cli import COMMANDS, app, load_command

# Options naming a database that is not the study's (the EHR extract to pre-screen).
NOT_THE_STUDY_DATABASE = {"--omop"}


def _commands() -> list[tuple[str, Command]]:
    found: list[tuple[str, Command]] = []

    def walk(path: str, command: Command) -> None:
        found.append((path, command))
        subcommands: dict[str, Command] = getattr(command, "commands", {})  # a group's
        for name, sub in subcommands.items():
            walk(f"{path} {name}", sub)

    for name in COMMANDS:
        walk(name, load_command(name))
    return found


def _database_options(command: Command) -> list[list[str]]:
    return [
        list(param.opts)
        for param in command.params
        if param.param_type_name == "option"
        and {"--url", "--database"} & set(param.opts)
        and not NOT_THE_STUDY_DATABASE & set(param.opts)
    ]


def test_every_study_database_option_is_called_database() -> None:
    checked, wrong = 0, []
    for path, command in _commands():
        for opts in _database_options(command):
            checked += 1
            if "--database" not in opts:
                wrong.append(f"trialdesk {path}: {opts}")
    assert wrong == []
    assert checked >= 20  # db, user, site, audit, protocol, backup, lock, report, export …


@pytest.mark.parametrize("name", ["--database", "--url"])
def test_audit_verify_reads_the_database_either_way(name: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.sqlite'}"
    runner = CliRunner()
    made = runner.invoke(app, ["db", "upgrade", name, url])
    assert made.exit_code == 0, made.output
    verified = runner.invoke(app, ["audit", "verify", name, url])
    assert verified.exit_code == 0, verified.output
    assert "intact" in verified.output.lower() or "verified" in verified.output.lower()

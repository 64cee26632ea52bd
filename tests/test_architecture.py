"""The layering of docs/architecture.md, checked by import-linter on the real import graph."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).parents[1]


def test_every_layering_contract_is_kept(capsys: pytest.CaptureFixture[str]) -> None:
    code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    assert code == 0, out
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["importlinter"]
    assert f"{len(contracts['contracts'])} kept, 0 broken" in out


def test_a_broken_contract_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The API calls the services: a contract forbidding it must fail, or the check is blind.
    config = tmp_path / "contracts.toml"
    config.write_text(
        '[tool.importlinter]\nroot_package = "trialdesk"\n\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "api without services"\ntype = "forbidden"\n'
        'source_modules = ["trialdesk.api"]\nforbidden_modules = ["trialdesk.services"]\n',
        "utf-8",
    )
    code = lint_imports(config_filename=str(config), no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    assert code == 1 and "api without services BROKEN" in out

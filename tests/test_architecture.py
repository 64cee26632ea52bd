"""The layering of docs/architecture.md, checked by import-linter on the real import graph.

`lint-imports` runs in a process of its own: it configures logging with dictConfig, which
would silence the loggers of every other test in this process.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(config), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_every_layering_contract_is_kept() -> None:
    result = _lint(ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["importlinter"]
    assert f"{len(contracts['contracts'])} kept, 0 broken" in result.stdout


def test_a_broken_contract_is_reported(tmp_path: Path) -> None:
    # The API calls the services: a contract forbidding it must fail, or the check is blind.
    config = tmp_path / "contracts.toml"
    config.write_text(
        '[tool.importlinter]\nroot_package = "trialdesk"\n\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "api without services"\ntype = "forbidden"\n'
        'source_modules = ["trialdesk.api"]\nforbidden_modules = ["trialdesk.services"]\n',
        "utf-8",
    )
    result = _lint(config)
    assert result.returncode == 1 and "api without services BROKEN" in result.stdout

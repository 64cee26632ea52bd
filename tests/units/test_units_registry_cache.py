"""pint's parsed definitions are cached on disk (start-up time, issue #16); a cache that is
missing, switched off or damaged never changes a conversion or stops a command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from trialdesk.units.registry import CACHE_ENV

# Conversions through pint's own definition file, the one the cache holds parsed.
PROGRAM = (
    "from trialdesk.units.registry import ureg\n"
    "Q = ureg.Quantity\n"
    "print(Q(180, 'lb').to('kg').magnitude, Q(70, 'inch').to('cm').magnitude)"
)
EXACT = (180 * 0.45359237, 70 * 2.54)  # the pound and the inch are exact by definition


def _run(cache: str) -> str:
    env = {**os.environ, CACHE_ENV: cache}
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    values = tuple(float(v) for v in done.stdout.split())
    assert values == pytest.approx(EXACT, rel=1e-12), values
    return done.stdout.strip()


def test_the_first_start_writes_the_cache_and_the_next_reads_it(tmp_path: Path) -> None:
    uncached = _run("off")
    assert _run(str(tmp_path)) == uncached
    written = sorted(p.suffix for p in tmp_path.iterdir())
    assert ".pickle" in written, written
    assert _run(str(tmp_path)) == uncached


def test_a_damaged_cache_costs_time_not_correctness(tmp_path: Path) -> None:
    uncached = _run("off")
    _run(str(tmp_path))
    damaged = list(tmp_path.glob("*.pickle"))
    assert damaged
    for pickle in damaged:
        pickle.write_bytes(pickle.read_bytes()[:20])  # as if another process were writing it
    assert _run(str(tmp_path)) == uncached


def test_the_cache_can_be_switched_off_and_an_unusable_folder_is_no_failure(
    tmp_path: Path,
) -> None:
    _run("off")
    assert not (tmp_path / "pint").exists()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    _run(str(blocker / "pint"))  # cannot be created: parsed as without a cache

"""`trialdesk omop synth` memory: streamed in chunks against building every table in memory first
(the path before issue #16), same persons, same seed, same rows written.

Each path runs as the only child of a fresh parent process, which reports the child's peak
resident memory from ``resource.getrusage(RUSAGE_CHILDREN)`` and its wall time. The in-memory
baseline is skipped above TRIALDESK_BENCH_SYNTH_IN_MEMORY_MAX persons (default 1,000,000; it
needs ~7 GB per million persons).

`python -m benchmarks.synth_bench [PERSONS]`; `make bench` runs 1,000,000 persons
(TRIALDESK_BENCH_SYNTH_PERSONS overrides).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

SEED = 20100611
DEFAULT_PERSONS = int(os.environ.get("TRIALDESK_BENCH_SYNTH_PERSONS", "1000000"))
IN_MEMORY_MAX = int(os.environ.get("TRIALDESK_BENCH_SYNTH_IN_MEMORY_MAX", "1000000"))

CHILD = {
    "streamed": (
        "import sys, json; from trialdesk.prescreen.synth import write_cdm_streaming; "
        "print(json.dumps(write_cdm_streaming(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]))))"
    ),
    "in_memory": (
        "import sys, json; from trialdesk.prescreen.synth import synthesize, write_cdm; "
        "t = synthesize(int(sys.argv[1]), int(sys.argv[3])); write_cdm(t, sys.argv[2]); "
        "print(json.dumps({n: x.num_rows for n, x in t.items()}))"
    ),
}
PARENT = (
    "import json, resource, subprocess, sys, time; t = time.perf_counter(); "
    "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
    "w = time.perf_counter() - t; u = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "print(json.dumps({'rc': r.returncode, 'wall': w, 'cpu': u.ru_utime + u.ru_stime, "
    "'peak_mib': u.ru_maxrss / 1024, 'out': r.stdout[-4000:], 'err': r.stderr[-2000:]}))"
)


def measure(mode: str, persons: int) -> dict[str, Any]:
    """Synthesize `persons` with `mode` in a child; its wall, CPU, peak memory and row counts."""
    folder = Path(tempfile.mkdtemp(prefix=f"trialdesk-synth-{mode}-"))
    try:
        child = [sys.executable, "-c", CHILD[mode], str(persons), str(folder / "cdm"), str(SEED)]
        done = subprocess.run(
            [sys.executable, "-c", PARENT, *child], capture_output=True, text=True, check=True
        )
        found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        if found["rc"] != 0:
            raise RuntimeError(f"synth ({mode}) failed: {found['err']}")
        found["rows"] = json.loads(found.pop("out").strip().splitlines()[-1])
        return found
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(persons: int = DEFAULT_PERSONS) -> dict[str, Any]:
    streamed = measure("streamed", persons)
    baseline = measure("in_memory", persons) if persons <= IN_MEMORY_MAX else None
    note = f"peak {streamed['peak_mib']:,.0f} MiB streamed (goal ≤ 1 GiB)"
    if baseline is not None:
        if baseline["rows"] != streamed["rows"]:
            raise AssertionError("streamed and in-memory synth wrote different row counts")
        note += (
            f" vs {baseline['peak_mib']:,.0f} MiB in memory "
            f"({baseline['peak_mib'] / streamed['peak_mib']:.1f}× less); same rows"
        )
    return {
        "name": f"omop synth: {persons:,} persons ({streamed['rows']['measurement']:,} "
        "measurements), in memory vs streamed",
        "baseline_seconds": baseline["wall"] if baseline else None,
        "candidate_seconds": streamed["wall"],
        "note": note,
        "streamed": streamed,
        "in_memory": baseline,
    }


if __name__ == "__main__":
    outcome = run(int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PERSONS)
    print(f"{outcome['name']}: {outcome['note']}")

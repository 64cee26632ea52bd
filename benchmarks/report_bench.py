"""The statistical report of a simulated 24-participant trial (the `make demo` cohort).

Baseline: the analysis alone (ADaM datasets, statistics, figures). Candidate: the whole
report (the same analysis plus report.html, report.pdf printed by WeasyPrint, report.rtf,
report.docx and results.json). The ratio shows what the typeset outputs cost on top of the
analysis; the note splits the time by output.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from trialdesk.analysis.datasets import derive_datasets
from trialdesk.analysis.report import ReportOptions, build_report
from trialdesk.analysis.report.figures_set import draw_figures
from trialdesk.analysis.results import analyse
from trialdesk.analysis.sources import SourceFrames
from trialdesk.protocol import builtin_protocol
from trialdesk.simulate.effect import MODERATE
from trialdesk.simulate.frames import source_frames
from trialdesk.simulate.trial import simulate_trial

CANDIDATES = 120  # as `make demo`: about 24 enrolled
SEED = 2026


def _analysis_only(frames: SourceFrames) -> float:
    protocol = builtin_protocol()
    started = time.perf_counter()
    results = analyse(derive_datasets(frames, protocol), protocol)
    for fig in draw_figures(results).values():
        _ = fig.png_bytes  # rendered, as the report renders them
    return time.perf_counter() - started


def _full_report(frames: SourceFrames, out: Path) -> tuple[float, dict[str, float]]:
    marks: list[tuple[str, float]] = []
    started = time.perf_counter()
    build_report(
        frames,
        builtin_protocol(),
        out,
        on_step=lambda step: marks.append((step, time.perf_counter())),
        options=ReportOptions(simulated="benchmark"),
    )
    total = time.perf_counter() - started
    steps, previous = {}, started
    for step, at in marks:
        steps[step] = at - previous
        previous = at
    return total, steps


def run() -> list[dict[str, Any]]:
    frames = source_frames(simulate_trial(CANDIDATES, seed=SEED, effect=MODERATE))
    baseline = _analysis_only(frames)
    with tempfile.TemporaryDirectory() as folder:
        total, steps = _full_report(frames, Path(folder))
        size_kib = (Path(folder) / "report.pdf").stat().st_size // 1024
    split = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in steps.items())
    return [
        {
            "name": f"report: {len(frames.subjects)} participants, analysis only vs all files",
            "baseline_seconds": baseline,
            "candidate_seconds": total,
            "note": f"{split}; PDF {size_kib} KiB",
        }
    ]

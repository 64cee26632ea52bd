"""Reading and writing source frames as a folder of Parquet files (one file per frame).

This lets `trialdesk report --frames DIR` analyse a data cut taken elsewhere (a database
snapshot, a simulator run) without a database connection; the frames are validated on reading.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trialdesk.analysis.errors import SourceFrameError
from trialdesk.analysis.sources import FRAME_COLUMNS, SourceFrames, empty_frame

#: Written beside the frames of a simulated data cut; its text says how they were simulated.
SIMULATED_MARK = "SIMULATED.txt"


def write_frames(frames: SourceFrames, folder: Path, simulated: str | None = None) -> list[Path]:
    """Write each frame to ``folder/<frame>.parquet`` (and `SIMULATED_MARK` when `simulated`
    says how the data were simulated); returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    mark = folder / SIMULATED_MARK
    if simulated is not None:
        mark.write_text(simulated + "\n", "utf-8")
        paths.append(mark)
    elif mark.exists():
        mark.unlink()  # a real data cut written over a simulated one is not simulated
    for name, frame in frames.as_dict().items():
        path = folder / f"{name}.parquet"
        frame.to_parquet(path, index=False)
        paths.append(path)
    return paths


def read_simulated(folder: Path) -> str | None:
    """How the frames in `folder` were simulated, or None for frames of real data."""
    mark = folder / SIMULATED_MARK
    return (mark.read_text("utf-8").strip() or "simulated data") if mark.exists() else None


def read_frames(folder: Path) -> SourceFrames:
    """Read ``folder/<frame>.parquet`` for each frame (a missing file = an empty frame)."""
    if not folder.is_dir():
        raise SourceFrameError(str(folder), None, "a folder holding <frame>.parquet files")
    found: dict[str, pd.DataFrame] = {}
    for name in FRAME_COLUMNS:
        path = folder / f"{name}.parquet"
        try:
            found[name] = pd.read_parquet(path) if path.exists() else empty_frame(name)
        except (OSError, ValueError) as exc:
            raise SourceFrameError(
                name, None, f"a readable Parquet file at {path} ({exc})"
            ) from exc
    if all(frame.empty for frame in found.values()):
        raise SourceFrameError(str(folder), None, "at least one <frame>.parquet file with rows")
    return SourceFrames(**found)

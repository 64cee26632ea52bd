"""Every output made from simulated data says so: each PDF page, the HTML, results.json.

The PDF text is read back per page by poppler's pdftotext (Debian package poppler-utils,
installed by .ci/run), as a reader printing one page would see it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trialdesk.analysis.frames_io import SIMULATED_MARK, read_simulated, write_frames
from trialdesk.analysis.report import ReportFiles, build_report
from trialdesk.analysis.sources import SourceFrames
from trialdesk.cli import app
from trialdesk.protocol import Protocol

HOW = "virtual cohort of 40 candidates, seed 5, assumed treatment effect: moderate"
runner = CliRunner()


def pdf_pages(path: Path) -> list[str]:
    """The text of each page (pdftotext separates pages by form feeds)."""
    pdftotext = shutil.which("pdftotext")
    assert pdftotext, "pdftotext missing: apt-get install -y poppler-utils (see .ci/run)"
    out = subprocess.run(
        [pdftotext, "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    return [page for page in out.split("\f") if page.strip()]


@pytest.fixture(scope="module")
def simulated(simulated_report: ReportFiles) -> ReportFiles:
    return simulated_report  # built with SIMULATED_HOW (conftest), the same words as HOW


def test_every_pdf_page_says_simulated(simulated: ReportFiles) -> None:
    pages = pdf_pages(simulated.pdf)
    assert len(pages) > 10  # title, methods, tables, figures, references
    unmarked = [i + 1 for i, page in enumerate(pages) if "SIMULATED DATA" not in page]
    assert unmarked == [], f"pages without the simulated-data stamp: {unmarked}"
    assert "seed 5" in pages[0]


def test_html_and_results_json_say_simulated(simulated: ReportFiles) -> None:
    assert "SIMULATED DATA" in simulated.html.read_text("utf-8")
    document = json.loads(simulated.json.read_text("utf-8"))
    assert document["simulated"] is True and document["hasResults"] is False
    assert (
        "SIMULATED DATA" in document["provenance"]["note"] and HOW in document["provenance"]["note"]
    )


def test_real_data_carry_no_stamp(frames: SourceFrames, protocol: Protocol, tmp_path: Path) -> None:
    files = build_report(frames, protocol, tmp_path)
    assert not any("SIMULATED" in page for page in pdf_pages(files.pdf))
    document = json.loads(files.json.read_text("utf-8"))
    assert document["simulated"] is False and document["hasResults"] is True


def test_frames_folder_keeps_the_mark(frames: SourceFrames, tmp_path: Path) -> None:
    write_frames(frames, tmp_path, simulated=HOW)
    assert read_simulated(tmp_path) == HOW
    write_frames(frames, tmp_path)  # real frames written over simulated ones
    assert not (tmp_path / SIMULATED_MARK).exists() and read_simulated(tmp_path) is None


def test_report_command_reads_the_mark_beside_the_frames(
    frames: SourceFrames, tmp_path: Path
) -> None:
    write_frames(frames, tmp_path / "frames", simulated=HOW)
    out = tmp_path / "out"
    result = runner.invoke(app, ["report", "--frames", str(tmp_path / "frames"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "results.json").read_text("utf-8"))["simulated"] is True

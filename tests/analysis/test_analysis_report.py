"""The report files (HTML, PDF, JSON) and the `trialdesk report` command."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trialdesk.analysis import AnalysisError, SourceFrames
from trialdesk.analysis.frames_io import write_frames
from trialdesk.analysis.report import REPORT_STEPS, ReportFiles, build_report
from trialdesk.cli import app
from trialdesk.protocol import Protocol

runner = CliRunner()


def test_report_files(frames: SourceFrames, protocol: Protocol, tmp_path: Path) -> None:
    """One build (the slow part), every file checked: steps, HTML, PDF and JSON."""
    steps: list[str] = []
    files = build_report(frames, protocol, tmp_path, on_step=steps.append)
    assert steps == list(REPORT_STEPS)
    _check_html(files)
    _check_pdf(files)
    doc = json.loads(files.json.read_text("utf-8"))
    assert doc["protocolSection"]["identificationModule"]["nctId"] == "NCT01142050"
    assert "outcomeMeasures" in doc["resultsSection"]["outcomeMeasuresModule"]


def _check_html(files: ReportFiles) -> None:
    html = files.html.read_text("utf-8")
    assert "<script" not in html and "<link" not in html  # self-contained
    sources = re.findall(r'src="([^"]+)"', html)
    assert len(sources) == 5 and all(s.startswith("data:image/png;base64,") for s in sources)
    for text in (
        "NCT01142050",
        "Participant flow",
        "Baseline characteristics",
        "Haemoglobin A1c (%) by visit",
        "Listing of serious adverse events",
        "Pneumonia",
        "Clopper",
        "Mixed models: fit details",
        "References",
    ):
        assert text in html, text  # fmt: skip
    paired = files.results.outcome("HBA1C").paired  # type: ignore[union-attr]
    shown = f"{paired.mean_change:.2f} [{paired.ci_low:.2f}, {paired.ci_high:.2f}]"
    text = re.sub(r"<[^>]+>", "", html)  # as a reader sees it (cells split at the decimal)
    assert shown in text  # the number in the report is the number computed


def _check_pdf(files: ReportFiles) -> None:
    data = files.pdf.read_bytes()
    assert data.startswith(b"%PDF")
    pdfinfo = shutil.which("pdfinfo")
    assert pdfinfo, "pdfinfo missing: apt-get install -y poppler-utils (see .ci/run)"
    info = subprocess.run([pdfinfo, str(files.pdf)], check=True, capture_output=True, text=True)
    pages = int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.M).group(1))  # type: ignore[union-attr]
    assert pages >= 25  # title, contents, estimands, ~25 tables, 5 figures, methods


def test_no_participant_is_an_analysis_error(protocol: Protocol, tmp_path: Path) -> None:
    empty = SourceFrames.from_mapping({})
    with pytest.raises(AnalysisError, match="no enrolled participant"):
        build_report(empty, protocol, tmp_path)


def test_report_command_on_parquet_frames(frames: SourceFrames, tmp_path: Path) -> None:
    write_frames(frames, tmp_path / "frames")
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["report", "--frames", str(tmp_path / "frames"), "--out", str(out)],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "HbA1c" in result.output and str(out / "report.html") in result.output
    assert {p.name for p in out.iterdir()} == {
        "report.html",
        "report.pdf",
        "report.rtf",
        "report.docx",
        "results.json",
    }
    assert "report.docx" in result.output and "report.rtf" in result.output


def test_report_command_explains_bad_input(frames: SourceFrames, tmp_path: Path) -> None:
    write_frames(frames, tmp_path)
    subjects = frames.subjects.drop(columns="site")
    subjects.to_parquet(tmp_path / "subjects.parquet")
    result = runner.invoke(
        app, ["report", "--frames", str(tmp_path), "--out", str(tmp_path)], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 2
    assert "subjects.site: expected this column to be present" in result.output
    missing = runner.invoke(
        app, ["report", "--frames", str(tmp_path / "nope")], env={"COLUMNS": "300"}
    )
    assert missing.exit_code == 2 and "a folder" in missing.output
    level = runner.invoke(app, ["report", "--frames", str(tmp_path), "--level", "95"])
    assert level.exit_code == 2 and "--level" in level.output

"""`build_report`: source frames in, report.html + report.pdf + results.json out."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trialdesk.analysis.datasets import derive_datasets
from trialdesk.analysis.errors import AnalysisError
from trialdesk.analysis.registry import build_results_json
from trialdesk.analysis.report.docx_out import write_docx
from trialdesk.analysis.report.figures_set import draw_figures
from trialdesk.analysis.report.html import render_html
from trialdesk.analysis.report.layout import report_layout
from trialdesk.analysis.report.pdf import write_pdf
from trialdesk.analysis.report.rtf_out import write_rtf
from trialdesk.analysis.results import StudyResults, analyse
from trialdesk.analysis.sources import SourceFrames
from trialdesk.analysis.tables import all_tables
from trialdesk.protocol import Protocol

#: The steps `build_report` reports through `on_step`, in order (for progress bars).
REPORT_STEPS: tuple[str, ...] = (
    "datasets",
    "statistics",
    "figures",
    "html",
    "pdf",
    "rtf",
    "docx",
    "json",
)


def simulated_stamp(simulated: str | None) -> str:
    """The line every page of a report on simulated data carries ("" for real data)."""
    if simulated is None:
        return ""
    return f"SIMULATED DATA, not collected from people ({simulated})"


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    pdf: Path
    json: Path
    results: StudyResults
    rtf: Path
    docx: Path


@dataclass(frozen=True, kw_only=True)
class ReportOptions:
    """How the report is written: a note on the data's source, a banner for every page,
    how the data were simulated (if they were) and the confidence level of its intervals."""

    data_note: str = ""
    banner: str = ""
    simulated: str | None = None
    level: float = 0.95


def build_report(
    frames: SourceFrames,
    protocol: Protocol,
    out_dir: Path,
    *,
    options: ReportOptions | None = None,
    on_step: Callable[[str], None] | None = None,
) -> ReportFiles:
    """Analyse `frames` and write report.html, report.pdf (printed from the HTML), the tables,
    listings and figures as report.rtf and report.docx, and results.json into `out_dir`.

    `simulated` (how the data were simulated; `trialdesk.store.provenance`) puts a
    "SIMULATED DATA" banner on the HTML page and in the head and foot of every PDF, RTF and
    DOCX page, and marks results.json.
    `on_step(name)` is called after each of `REPORT_STEPS`. Raises `AnalysisError` when there
    is no enrolled participant to analyse.
    """
    step = on_step or (lambda _name: None)
    chosen = options or ReportOptions()
    data_note, banner, simulated = chosen.data_note, chosen.banner, chosen.simulated
    if frames.subjects.empty:
        raise AnalysisError("no enrolled participant in the data: nothing to analyse")
    out_dir.mkdir(parents=True, exist_ok=True)
    datasets = derive_datasets(frames, protocol)
    step("datasets")
    results = analyse(datasets, protocol, level=chosen.level)
    tables = all_tables(results)
    step("statistics")
    figures = draw_figures(results)
    step("figures")
    stamp = simulated_stamp(simulated)
    banner = stamp if stamp and not banner else banner
    html = out_dir / "report.html"
    page = render_html(results, figures, tables, data_note, banner, stamp=stamp)
    html.write_text(page, "utf-8")
    step("html")
    title = f"{protocol.registry.id} statistical report"
    pdf = write_pdf(page, out_dir / "report.pdf", title=title)
    step("pdf")
    layout = report_layout(results, tables, figures, stamp)
    rtf = write_rtf(layout, out_dir / "report.rtf")
    step("rtf")
    docx = write_docx(layout, out_dir / "report.docx")
    step("docx")
    document = build_results_json(results, simulated=simulated)
    path = out_dir / "results.json"
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")
    step("json")
    return ReportFiles(html=html, pdf=pdf, json=path, results=results, rtf=rtf, docx=docx)

"""What the editable TLF documents (DOCX, RTF) print: the numbered outputs and page texts."""

from __future__ import annotations

from dataclasses import dataclass

from trialdesk.analysis.report import tlf
from trialdesk.analysis.report.estimands import Estimand, estimands
from trialdesk.analysis.report.figures_set import ReportFigure
from trialdesk.analysis.report.html import study_line
from trialdesk.analysis.results import StudyResults
from trialdesk.analysis.tables import ReportTable


@dataclass(frozen=True)
class ReportLayout:
    """The documents' content: title, running-head texts, the SAP estimands and the outputs."""

    title: str
    study: str  # running head: registry id, study, protocol version
    stamp: str  # "SIMULATED DATA …" or ""
    data_cut: str
    estimands: list[Estimand]
    outputs: list[tlf.Output]


def report_layout(
    results: StudyResults,
    tables: list[ReportTable],
    figures: dict[str, ReportFigure],
    stamp: str = "",
) -> ReportLayout:
    return ReportLayout(
        title=f"{results.protocol.registry.id}: tables, listings and figures",
        study=study_line(results),
        stamp=stamp,
        data_cut=tlf.data_cut(results),
        estimands=estimands(results.protocol, results.primary_visit.name, results.level),
        outputs=tlf.number_outputs(tables, figures),
    )

"""The report's figures, drawn once and used by both the HTML and the PDF report."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cached_property

from matplotlib.figure import Figure

from trialdesk.analysis import figures
from trialdesk.analysis.results import StudyResults

#: Pixels per inch of the figures' PNG: 150 keeps lines and 7 pt labels sharp in print.
PRINT_DPI = 150


@dataclass(frozen=True)
class ReportFigure:
    key: str
    title: str
    caption: str
    figure: Figure

    @cached_property
    def png_bytes(self) -> bytes:
        """The figure as PNG at print resolution, rendered once for HTML, PDF, RTF and DOCX."""
        return figures.figure_png(self.figure, dpi=PRINT_DPI)

    @property
    def png(self) -> str:
        """Base64 PNG for embedding in HTML."""
        return base64.b64encode(self.png_bytes).decode("ascii")


def draw_figures(results: StudyResults) -> dict[str, ReportFigure]:
    """Every figure of the report, by key (consort, mean_ci, spaghetti, waterfall, itt)."""
    pct = round(results.level * 100)
    visit = results.primary_visit.name
    drawn = {
        "consort": ReportFigure(
            "consort",
            "Participant flow (CONSORT)",
            "Screening to analysis; exclusion reasons name the protocol criterion not met.",
            figures.figure_consort(results.consort, visit),
        ),
    }
    if results.outcomes:
        drawn["mean_ci"] = ReportFigure(
            "mean_ci",
            f"Mean ± {pct}% CI over time",
            "Observed values of each outcome in the ITT set; n under each point.",
            figures.figure_mean_ci(results),
        )
        drawn["spaghetti"] = ReportFigure(
            "spaghetti",
            "Individual trajectories",
            "Each grey line is one participant; blue, the visit means.",
            figures.figure_spaghetti(results),
        )
    if results.outcome("HBA1C"):
        drawn["waterfall"] = ReportFigure(
            "waterfall",
            f"Waterfall of HbA1c change at {visit}",
            "One bar per participant with baseline and the primary visit, sorted.",
            figures.figure_waterfall(results, "HBA1C"),
        )
    if not results.datasets.itt.empty:
        drawn["itt"] = ReportFigure(
            "itt",
            "Insulin tolerance test before and after",
            "ln glucose after a 0.1 U/kg insulin bolus; red, the OLS fit of the mean curve over "
            "3–15 min (KITT = −slope × 100 %/min).",
            figures.figure_itt_curves(results),
        )
    return drawn

"""The PDF report: a multi-page matplotlib document (PdfPages), no external tools.

Pages: title with the key results, statistical methods, every table (long tables continue on
further pages), every figure, and the references. The tables and figures are the same objects
the HTML report renders.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from trialdesk.analysis.report.figures_set import ReportFigure
from trialdesk.analysis.report.html import key_results
from trialdesk.analysis.report.methods import REFERENCES, methods_paragraphs
from trialdesk.analysis.results import StudyResults
from trialdesk.analysis.tables import ReportTable

A4_LANDSCAPE = (11.69, 8.27)
_LISTING_WIDTH = 175  # characters of 7 pt monospace across a landscape A4 page
_LINES_PER_PAGE = 52
_LINE = 0.026  # height of one text line in page fractions at 9 pt


def _page(title: str) -> Figure:
    page = Figure(figsize=A4_LANDSCAPE)
    page.text(0.05, 0.95, title, fontsize=14, fontweight="bold", color="#1f4e79", va="top")
    return page


def _text_pages(title: str, paragraphs: list[str], width: int = 150) -> Iterator[Figure]:
    page, y = _page(title), 0.89
    for paragraph in paragraphs:
        lines = textwrap.wrap(paragraph, width) or [""]
        if y - _LINE * (len(lines) + 1) < 0.05:
            yield page
            page, y = _page(f"{title} (continued)"), 0.89
        page.text(0.05, y, "\n".join(lines), fontsize=9, va="top", linespacing=1.5)
        y -= _LINE * (len(lines) + 1)
    yield page


def _column_widths(table: ReportTable, total: int) -> list[int]:
    """Character widths: each column's longest cell, the widest shrunk until the row fits."""
    widths = [
        max([len(h), *(len(row[i]) for row in table.rows)], default=len(h))
        for i, h in enumerate(table.columns)
    ]
    gaps = 2 * (len(widths) - 1)
    while sum(widths) + gaps > total and max(widths) > 12:
        widest = widths.index(max(widths))
        widths[widest] -= 1
    return widths


def _listing_row(cells: list[str], widths: list[int], numeric: list[bool]) -> list[str]:
    wrapped = [textwrap.wrap(c, w) or [""] for c, w in zip(cells, widths, strict=True)]
    height = max(len(w) for w in wrapped)
    lines = []
    for k in range(height):
        parts = []
        for column, (cell, w) in enumerate(zip(wrapped, widths, strict=True)):
            text = cell[k] if k < len(cell) else ""
            right = numeric[column] if column < len(numeric) else False
            parts.append(text.rjust(w) if right else text.ljust(w))
        lines.append("  ".join(parts).rstrip())
    return lines


def listing_lines(table: ReportTable, total: int = _LISTING_WIDTH) -> tuple[list[str], list[str]]:
    """The table as a fixed-width listing (as statistical software prints): header, body."""
    widths = _column_widths(table, total)
    header = _listing_row(table.columns, widths, table.numeric)
    rule = ["-" * min(total, sum(widths) + 2 * (len(widths) - 1))]
    body = [line for row in table.rows for line in _listing_row(row, widths, table.numeric)]
    return header + rule, body or ["None."]


def _table_pages(table: ReportTable) -> Iterator[Figure]:
    """A monospaced listing, continued on as many pages as needed, the note at the end."""
    header, body = listing_lines(table)
    chunks = [body[i : i + _LINES_PER_PAGE] for i in range(0, len(body), _LINES_PER_PAGE)]
    for number, chunk in enumerate(chunks):
        suffix = f" (continued {number + 1}/{len(chunks)})" if number else ""
        page = _page(table.title + suffix)
        page.text(
            0.04,
            0.89,
            "\n".join(header + chunk),
            family="monospace",
            fontsize=7,
            va="top",
            linespacing=1.25,
        )
        if table.note and number == len(chunks) - 1:
            page.text(
                0.04, 0.03, "\n".join(textwrap.wrap(table.note, 170)), fontsize=7.5, color="#57606a"
            )
        yield page


def _title_page(results: StudyResults, data_note: str) -> Figure:
    p = results.protocol
    page = Figure(figsize=A4_LANDSCAPE)
    page.text(0.05, 0.88, p.title, fontsize=20, fontweight="bold", color="#1f4e79")
    page.text(
        0.05,
        0.82,
        f"{p.registry.name} {p.registry.id} · {p.phase} · "
        f"{p.design.intervention_model} · {p.sponsor} · target enrollment {p.target_enrollment}",
        fontsize=11,
    )
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page.text(
        0.05,
        0.78,
        f"Statistical report generated {generated} by trialdesk. {data_note}",
        fontsize=9,
        color="#57606a",
    )
    y = 0.66
    for key in key_results(results):
        page.text(0.07, y, key.label, fontsize=10, color="#57606a")
        page.text(0.36, y, key.line, fontsize=12, fontweight="bold")
        y -= 0.07
    return page


_STAMP_STRIP = 0.3  # inches added below each page for the stamp, so it never covers content


def _save(pdf: PdfPages, page: Figure, stamp: str) -> None:
    """Save one page, with the stamp in a strip added below it (outside the plotted area);
    the stamp is taken off again, because the figures are shared with the HTML report."""
    if not stamp:
        pdf.savefig(page)
        return
    width, height = page.get_size_inches()
    text = page.text(0.5, -_STAMP_STRIP / 2 / height, stamp, ha="center", va="center",
                     fontsize=9, color="#b00020", fontweight="bold")  # fmt: skip
    strip = Bbox.from_bounds(0, -_STAMP_STRIP, width, height + _STAMP_STRIP)
    pdf.savefig(page, bbox_inches=strip)
    text.remove()


def write_pdf(
    results: StudyResults,
    figures: dict[str, ReportFigure],
    tables: list[ReportTable],
    path: Path,
    data_note: str = "",
    stamp: str = "",
) -> Path:
    """Write the PDF report to `path` and return it; `stamp` (e.g. "SIMULATED DATA …") is
    printed at the foot of every page, figures included, so no page taken out of the report
    can pass for real results."""
    with PdfPages(
        path,
        metadata={
            "Title": f"{results.protocol.registry.id} statistical report",
            "Creator": "trialdesk",
        },
    ) as pdf:
        _save(pdf, _title_page(results, data_note), stamp)
        for page in _text_pages("Statistical methods", methods_paragraphs(results)):
            _save(pdf, page, stamp)
        for table in tables:
            for page in _table_pages(table):
                _save(pdf, page, stamp)
        for fig in figures.values():
            _save(pdf, fig.figure, stamp)  # at the figure's own size: tall grids get a tall page
        issues = results.issues or ["None."]
        for page in _text_pages("Values not derived and data-quality messages", issues):
            _save(pdf, page, stamp)
        numbered = [f"[{i}] {ref}" for i, ref in enumerate(REFERENCES, start=1)]
        for page in _text_pages("References", numbered):
            _save(pdf, page, stamp)
    return path

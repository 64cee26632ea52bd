"""The PDF report: the HTML report printed by WeasyPrint, so both show the same tables.

The HTML page's print style sheet (`report.html.j2`, CSS Paged Media [@CSS-PagedMedia])
sets the page layout: A4 portrait, landscape for tables too wide for it, running heads and
feet on every page (study, table number, population, data cut, page x of y, and the
simulated-data stamp), tables that continue over pages with their heading rows repeated.
WeasyPrint needs Pango (Debian: libpango-1.0-0, libpangoft2-1.0-0; installed by .ci/run) and
the DejaVu fonts.
"""

from __future__ import annotations

from pathlib import Path

from weasyprint import HTML


def write_pdf(html: str, path: Path, *, title: str) -> Path:
    """Print the report's HTML (`render_html`) to `path` and return it."""
    document = HTML(string=html).render()
    document.metadata.title = title
    document.metadata.generator = "trialdesk"
    document.write_pdf(path)
    return path

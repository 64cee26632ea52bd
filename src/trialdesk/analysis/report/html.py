"""The self-contained HTML report (Jinja2 template in this package; PNG figures inlined)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from trialdesk.analysis.report import tlf
from trialdesk.analysis.report.estimands import estimands
from trialdesk.analysis.report.figures_set import ReportFigure
from trialdesk.analysis.report.methods import REFERENCES, methods_paragraphs
from trialdesk.analysis.results import StudyResults, format_number
from trialdesk.analysis.tables import ReportTable, all_tables, estimate_ci, proportion_text


@dataclass(frozen=True)
class KeyResult:
    label: str
    value: str
    detail: str

    @property
    def line(self) -> str:
        """Value and detail on one line (console, PDF title page)."""
        return f"{self.value} ({self.detail})" if self.detail else self.value


def css_string(text: str) -> Markup:
    """`text` as the inside of a CSS string (CSS Syntax Level 3, 4.3.5): quotes, backslashes
    and line ends escaped, `<` and `>` as code points so that no title can close the style
    element. Marked safe: HTML entities mean nothing inside <style>."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    return Markup(escaped.replace("<", "\\3C ").replace(">", "\\3E "))


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("trialdesk.analysis.report", ""),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["css_string"] = css_string
    return env


def key_results(results: StudyResults) -> list[KeyResult]:
    """The one-line results shown at the top of the report (and in the console summary)."""
    flow = results.consort
    keys = [
        KeyResult(
            "Screened → enrolled",
            f"{flow.screened} → {flow.enrolled}",
            f"{flow.completed} completed {results.primary_visit.name}",
        ),
    ]
    visit = results.primary_visit
    for code in ("HBA1C", "KITT"):
        outcome = results.outcome(code)
        if outcome is None:
            continue
        est = outcome.mmrm.at(visit.code) if outcome.mmrm.estimable else None
        d = outcome.spec.decimals
        if est:
            value = estimate_ci(est.estimate, est.ci_low, est.ci_high, d)
            detail = f"{outcome.spec.change_unit}, mixed model, {visit.name}"
        else:
            p = outcome.paired
            value = estimate_ci(p.mean_change, p.ci_low, p.ci_high, d)
            detail = f"{outcome.spec.change_unit}, paired t, n={p.n}"
        keys.append(KeyResult(f"{outcome.spec.short} change", value, detail))
    if results.insulin:
        keys.append(
            KeyResult(
                f"Insulin ≥ {results.insulin.threshold_percent:g}% reduction",
                proportion_text(results.insulin.responders),
                "observed, exact CI",
            )
        )
    overview = results.safety.overview
    sae = overview[overview["category"].str.startswith("Any serious")].iloc[0]
    keys.append(
        KeyResult(
            "Participants with an SAE",
            f"{int(sae.n_subjects)}/{results.safety.at_risk}",
            f"{format_number(float(sae.percent), 1)}%, {int(sae.n_events)} event(s)",
        )
    )
    return keys


def study_line(results: StudyResults) -> str:
    """The running head of every page: registry id, study, protocol version."""
    p = results.protocol
    version = f" · protocol {p.version}" if p.version else ""
    return f"{p.registry.id} · {p.brief_title or p.title}{version}"


def _numeric_columns(table: ReportTable) -> dict[int, int]:
    """Numeric column -> width of its integer parts (the template aligns on the decimal)."""
    return {
        i: min(tlf.lead_width(table, i), 12)
        for i in range(len(table.columns))
        if tlf.is_numeric_column(table, i)
    }


def render_html(
    results: StudyResults,
    figures: dict[str, ReportFigure],
    tables: list[ReportTable] | None = None,
    data_note: str = "",
    banner: str = "",
    *,
    stamp: str = "",
) -> str:
    """The report as one HTML document (no external files, scripts or fonts); its print
    style sheet lays out the PDF (`trialdesk.analysis.report.pdf`). `stamp` ("SIMULATED
    DATA …") goes into the head and foot of every printed page."""
    tables = tables if tables is not None else all_tables(results)
    outputs = tlf.number_outputs(tables, figures)
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            protocol=results.protocol,
            generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            data_note=data_note,
            banner=banner,
            stamp=stamp,
            study_line=study_line(results),
            data_cut=tlf.data_cut(results),
            key_results=key_results(results),
            sections=tlf.sections(outputs),
            spans={t.key: tlf.spanners(t) for t in tables},
            wide={t.key for t in tables if tlf.is_wide(t)},
            numeric_columns={t.key: _numeric_columns(t) for t in tables},
            split=tlf.split_decimal,
            estimands=estimands(results.protocol, results.primary_visit.name, results.level),
            issues=results.issues,
            methods=methods_paragraphs(results),
            references=REFERENCES,
        )
    )

"""Report figures (matplotlib, object-oriented API: no pyplot state, Agg rendering).

Every figure is drawn from the analysis datasets or from `StudyResults`, never from raw frames,
so a figure cannot show a number the tables do not. Each function returns a
`matplotlib.figure.Figure`; `figure_png` renders one to PNG bytes for the HTML report, and the
PDF report adds the same Figure objects to its pages.
"""

from __future__ import annotations

import io
import math
import textwrap
from dataclasses import replace

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from trialdesk.analysis.consort import ConsortFlow
from trialdesk.analysis.params import PARAMS_BY_CODE
from trialdesk.analysis.power import PowerDesign, analytic_power, power_curve
from trialdesk.analysis.results import OutcomeResult, StudyResults
from trialdesk.derive import KITT_WINDOW_MIN

LANDSCAPE = (11.0, 7.5)
#: A straight line needs two points.
_MIN_FIT_POINTS = 2
_BLUE, _GREY, _RED, _GREEN = "#1f4e79", "#9aa5b1", "#b03a2e", "#2e7d32"


def figure_png(figure: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (the figures lay themselves out: no second "tight" pass)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _grid(count: int, title: str) -> tuple[Figure, list[Axes]]:
    cols = min(3, max(count, 1))
    rows = max(1, math.ceil(count / cols))
    height = max(3.2 * rows, 3.6)
    figure = Figure(figsize=(LANDSCAPE[0], height))
    # Fixed margins (in inches, converted to fractions) instead of constrained layout, which
    # measures every tick label twice per render and triples the drawing time of a grid.
    figure.subplots_adjust(
        left=0.06, right=0.985, bottom=0.55 / height, top=1 - 0.8 / height,
        hspace=0.95 / 3.2 * 1.0, wspace=0.22,
    )  # fmt: skip
    axes = figure.subplots(rows, cols, squeeze=False).ravel().tolist()
    for extra in axes[count:]:
        extra.set_visible(False)
    figure.suptitle(title, fontsize=12, fontweight="bold", y=1 - 0.2 / height)
    return figure, axes[:count]


def _month_axis(ax: Axes, days: list[float], labels: list[str]) -> None:
    ax.set_xticks([d / 30.4375 for d in days], labels, fontsize=7, rotation=0)
    ax.set_xlabel("Months from baseline", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(alpha=0.3)


def _short_visit(label: str) -> str:
    return "BL" if label == "Baseline" else label.replace("Month ", "M")


def figure_mean_ci(results: StudyResults) -> Figure:
    """Mean +- 95% CI of each outcome at baseline and every later visit (ITT, observed)."""
    outcomes = results.outcomes
    pct = round(results.level * 100)
    figure, axes = _grid(len(outcomes), f"Mean ± {pct}% CI over time (observed values)")
    for ax, outcome in zip(axes, outcomes, strict=True):
        rows = [v for v in outcome.by_visit if v.value.n > 0]
        x = np.array([v.day / 30.4375 for v in rows])
        mean = np.array([v.value.mean for v in rows])
        low = np.array([v.value.ci_low for v in rows])
        high = np.array([v.value.ci_high for v in rows])
        yerr = np.vstack([mean - low, high - mean])
        ax.errorbar(x, mean, yerr=np.nan_to_num(yerr), color=_BLUE, marker="o", ms=4, capsize=3)
        for xi, mi, v in zip(x, mean, rows, strict=True):
            ax.annotate(
                f"n={v.value.n}",
                (xi, mi),
                textcoords="offset points",
                xytext=(0, -12),
                ha="center",
                fontsize=6,
                color=_GREY,
            )
        ax.set_title(outcome.spec.param, fontsize=9)
        _month_axis(ax, [v.day for v in rows], [_short_visit(v.label) for v in rows])
    return figure


def _trajectories(adeff: pd.DataFrame, paramcd: str) -> pd.DataFrame:
    rows = adeff[
        (adeff["PARAMCD"] == paramcd)
        & (adeff["ANL01FL"] == "Y")
        & (adeff["ITTFL"] == "Y")
        & ((adeff["ABLFL"] == "Y") | (adeff["VISITNDY"] > 0))
        & adeff["AVISITN"].notna()
    ].copy()
    rows["MONTH"] = np.where(rows["ABLFL"] == "Y", 0.0, rows["AVISITN"] / 30.4375)
    return rows.sort_values(["USUBJID", "MONTH"])


def figure_spaghetti(results: StudyResults) -> Figure:
    """Individual trajectories of each outcome (grey) with the visit means (blue)."""
    outcomes = results.outcomes
    figure, axes = _grid(len(outcomes), "Individual trajectories (each line one participant)")
    adeff = results.datasets.adeff
    for ax, outcome in zip(axes, outcomes, strict=True):
        rows = _trajectories(adeff, outcome.spec.paramcd)
        for _, one in rows.groupby("USUBJID"):
            ax.plot(one["MONTH"], one["AVAL"], color=_GREY, lw=0.8, alpha=0.8, marker=".", ms=3)
        means = rows.groupby("MONTH")["AVAL"].mean()
        ax.plot(means.index, means.to_numpy(), color=_BLUE, lw=2.2, label="mean")
        ax.set_title(outcome.spec.param, fontsize=9)
        visits = [v for v in outcome.by_visit if v.value.n > 0]
        _month_axis(ax, [v.day for v in visits], [_short_visit(v.label) for v in visits])
    return figure


def figure_waterfall(results: StudyResults, paramcd: str = "HBA1C") -> Figure:
    """Change from baseline at the primary visit, one bar per participant, sorted."""
    spec = PARAMS_BY_CODE[paramcd]
    adeff = results.datasets.adeff
    visit = results.primary_visit
    rows = adeff[
        (adeff["PARAMCD"] == paramcd)
        & (adeff["VISIT"] == visit.code)
        & (adeff["ANL01FL"] == "Y")
        & (adeff["ITTFL"] == "Y")
        & adeff["CHG"].notna()
    ].sort_values("CHG", ascending=False)
    figure = Figure(figsize=LANDSCAPE, layout="constrained")
    ax = figure.subplots()
    colours = [_GREEN if c < 0 else _RED for c in rows["CHG"]]
    ax.bar(range(len(rows)), rows["CHG"], color=colours)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(len(rows)), rows["USUBJID"], rotation=90, fontsize=7)
    ax.set_ylabel(f"Change from baseline ({spec.change_unit})")
    ax.set_title(
        f"{spec.param}: change from baseline at {visit.name} (n = {len(rows)}); "
        "green = fall, red = rise",
        fontsize=11,
    )
    ax.grid(axis="y", alpha=0.3)
    if rows.empty:
        ax.text(
            0.5,
            0.5,
            "no participant with baseline and this visit",
            ha="center",
            transform=ax.transAxes,
        )
    return figure


def _itt_panel(
    ax: Axes, itt: pd.DataFrame, title: str, kitt: OutcomeResult | None, visit: str
) -> None:
    start, end = KITT_WINDOW_MIN
    for _, test in itt.groupby("USUBJID"):
        test = test.sort_values("MINUTE")
        ax.plot(test["MINUTE"], np.log(test["GLUCOSE"]), color=_GREY, lw=0.7, alpha=0.7)
    means = itt.assign(LNG=np.log(itt["GLUCOSE"])).groupby("MINUTE")["LNG"].mean()
    ax.plot(means.index, means.to_numpy(), "o", color=_BLUE, ms=5, label="mean ln glucose")
    window = means[(means.index >= start) & (means.index <= end)]
    if len(window) >= _MIN_FIT_POINTS:
        slope, intercept = np.polyfit(window.index.to_numpy(dtype=float), window.to_numpy(), 1)
        t = np.array([start, end])
        ax.plot(
            t,
            intercept + slope * t,
            color=_RED,
            lw=2,
            label=f"OLS fit {start:g}-{end:g} min: slope {slope:.4f}/min",
        )
    summary = next((v for v in kitt.by_visit if v.visit == visit), None) if kitt else None
    if summary is not None and summary.value.n:
        ax.text(
            0.02,
            0.04,
            f"mean KITT {summary.value.mean:.2f} %/min (n={summary.value.n})",
            transform=ax.transAxes,
            fontsize=8,
        )
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("Minutes after the insulin bolus (0.1 U/kg)")
    ax.set_ylabel("ln glucose (mmol/L)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")


def figure_itt_curves(results: StudyResults) -> Figure:
    """ITT glucose curves (ln scale) at baseline and at the primary visit with the fitted slope.

    KITT = -slope x 100 %/min over 3-15 min (`trialdesk.derive.compute_kitt`); the red line is
    the OLS fit to the mean curve, the per-participant KITT are in the tables.
    """
    itt = results.datasets.itt
    itt = itt[itt["USUBJID"].isin(results.datasets.adsl["USUBJID"])]
    kitt = results.outcome("KITT")
    adeff = results.datasets.adeff
    base_rows = adeff[(adeff["PARAMCD"] == "KITT") & (adeff["ABLFL"] == "Y")]
    base_keys = set(zip(base_rows["USUBJID"], base_rows["VISIT"], strict=True))
    keys = pd.Series(list(zip(itt["USUBJID"], itt["VISIT"], strict=True)), index=itt.index)
    before = itt[keys.isin(base_keys)]
    after = itt[itt["VISIT"] == results.primary_visit.code]
    figure = Figure(figsize=LANDSCAPE, layout="constrained")
    left, right = figure.subplots(1, 2, sharey=True)
    _itt_panel(left, before, "Before: baseline ITT", kitt, "BASE")
    _itt_panel(
        right, after, f"After: {results.primary_visit.name} ITT", kitt, results.primary_visit.code
    )
    figure.suptitle("Insulin tolerance test: ln glucose against time", fontweight="bold")
    return figure


def _box(
    ax: Axes,
    centre: tuple[float, float],
    size: tuple[float, float],
    text: str,
    *,
    bold: bool = False,
) -> None:
    """A flow-chart box of `size` (width, height) centred on `centre` (axes fractions)."""
    (x, y), (w, h) = centre, size
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2),
            w,
            h,
            boxstyle="round,pad=0.01",
            fc="#eef3f8" if bold else "white",
            ec=_BLUE,
            lw=1.2,
        )
    )
    if bold:
        ax.text(x, y, text, ha="center", va="center", fontsize=8.5, fontweight="bold")
    else:  # side boxes: a heading line then the reasons, left-aligned
        ax.text(x - w / 2 + 0.012, y, text, ha="left", va="center", fontsize=8, linespacing=1.4)


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float]) -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "->", "color": _BLUE})


def _reason_lines(reasons: list[tuple[str, int]], width: int = 74, most: int = 14) -> str:
    lines = []
    for label, n in reasons[:most]:
        wrapped = textwrap.wrap(label, width)
        lines.append(f"• {wrapped[0]}" + ("…" if len(wrapped) > 1 else "") + f" (n={n})")
    if len(reasons) > most:
        lines.append(f"… and {len(reasons) - most} more reasons (see the table)")
    return "\n".join(lines)


def _side_height(lines: int) -> float:
    return 0.035 + 0.0175 * lines


def figure_consort(flow: ConsortFlow, primary_visit_name: str) -> Figure:
    """CONSORT-style flow diagram (Schulz et al., BMJ 2010;340:c332), single group."""
    figure = Figure(figsize=(11.0, 8.5))
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    main_x, side_x, side_w = 0.24, 0.72, 0.50
    side_left = side_x - side_w / 2
    excluded = _reason_lines([(r.label, r.count) for r in flow.exclusion_reasons])
    untreated = _reason_lines([(r.label, r.count) for r in flow.not_transplanted_reasons])
    stopped = _reason_lines([(r.label, r.count) for r in flow.discontinuation_reasons])
    _box(
        ax,
        (main_x, 0.94),
        (0.34, 0.06),
        f"Assessed for eligibility\n(n = {flow.screened})",
        bold=True,
    )
    lines = excluded.count("\n") + 3
    _box(
        ax,
        (side_x, 0.80),
        (side_w, min(0.31, _side_height(lines))),
        f"Excluded (n = {flow.excluded})\n{excluded}\n(a candidate may fail several criteria)",
    )
    _box(ax, (main_x, 0.62), (0.34, 0.06), f"Enrolled (n = {flow.enrolled})", bold=True)
    _box(
        ax,
        (side_x, 0.52),
        (side_w, _side_height(untreated.count("\n") + 2)),
        f"Not transplanted (n = {flow.not_transplanted})\n{untreated}".rstrip(),
    )
    _box(ax, (main_x, 0.42), (0.34, 0.06), f"Transplanted (n = {flow.transplanted})", bold=True)
    _box(
        ax,
        (side_x, 0.30),
        (side_w, _side_height(stopped.count("\n") + 3)),
        f"Discontinued after transplantation (n = {flow.discontinued})\n{stopped}\n"
        f"Still in follow-up (n = {flow.ongoing})".replace("\n\n", "\n"),
    )
    _box(
        ax,
        (main_x, 0.19),
        (0.34, 0.07),
        f"Completed follow-up to {primary_visit_name}\n(n = {flow.completed})",
        bold=True,
    )
    _box(
        ax,
        (main_x, 0.06),
        (0.42, 0.08),
        f"Analysed ({flow.analysis_label}, mixed model): n = {flow.analysed}\n"
        f"with baseline and {primary_visit_name} (paired tests): "
        f"n = {flow.analysed_complete_pairs}",
        bold=True,
    )
    for y0, y1 in ((0.91, 0.65), (0.59, 0.45), (0.39, 0.225), (0.155, 0.10)):
        _arrow(ax, (main_x, y0), (main_x, y1))
    for y in (0.80, 0.52, 0.30):
        _arrow(ax, (main_x, y), (side_left, y))
    return figure


def figure_power_curve(
    design: PowerDesign, label: str, unit: str, sims: int, seed: int | None
) -> Figure:
    """Power against the true mean change: Monte Carlo points on the analytic curve."""
    top = max(abs(design.effect) * 2, 3 * design.sd_change / math.sqrt(design.n))
    sign = -1.0 if design.effect < 0 else 1.0
    effects = sign * np.linspace(0, top, 13)
    mc, _ = power_curve(design, effects, sims=sims, seed=seed)
    fine = sign * np.linspace(0, top, 121)
    analytic = [analytic_power(replace(design, effect=float(e))) for e in fine]
    figure = Figure(figsize=(8, 5), layout="constrained")
    ax = figure.subplots()
    ax.plot(fine, analytic, color=_BLUE, label="analytic (noncentral t)")
    ax.plot(effects, mc, "o", color=_RED, ms=4, label=f"Monte Carlo ({sims:,} trials/point)")
    ax.axhline(0.8, color="grey", lw=0.8, ls="--")
    ax.axvline(design.effect, color="grey", lw=0.8, ls=":")
    ax.set_xlabel(f"True mean change from baseline ({unit})")
    ax.set_ylabel("Power")
    ax.set_title(
        f"{label}: n = {design.n}, dropout {design.dropout:.0%}, "
        f"SD of change {design.sd_change:.3g}"
    )
    ax.grid(alpha=0.3)
    ax.legend()
    return figure

"""Charts as inline SVG built on the server: no JavaScript, no CDN, no inline styles.

Colours come from CSS classes in ``static/app.css`` (so the Content-Security-Policy can forbid
inline styles); every text is escaped; every chart has a <title> and <desc> for screen readers
(WAI-ARIA ``role="img"``), and the pages show the same numbers in a table next to it.
Axis ticks use Heckbert's "nice numbers" (Graphics Gems, 1990, "Nice numbers for graph labels").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    note: str = ""  # shown as the marker's tooltip, e.g. "M3 (day 97): 7.4 %"


@dataclass(frozen=True)
class Series:
    name: str
    points: tuple[Point, ...]
    css: str = "s1"  # colour class in app.css
    markers: bool = True
    step: bool = False  # draw as a step function (cumulative counts, a dose in effect)
    step_end: float | None = None  # x where the last step ends (default: the axis end)
    dashed: bool = False
    joined: bool = True  # False: markers only (measured samples beside a fitted curve)


@dataclass(frozen=True)
class Reference:
    """A horizontal reference line (a target, a threshold)."""

    y: float
    label: str
    css: str = "ref"


@dataclass(frozen=True)
class Chart:
    chart_id: str
    title: str
    description: str
    x_label: str
    y_label: str
    series: tuple[Series, ...]
    references: tuple[Reference, ...] = ()
    x_ticks: tuple[tuple[float, str], ...] = ()  # explicit (position, label); else nice ticks
    y_min: float | None = None  # force the y range to include these
    y_max: float | None = None
    width: int = 640
    height: int = 280
    margins: tuple[int, int, int, int] = field(default=(28, 20, 46, 62))  # top right bottom left


_NICE_ROUNDED: tuple[tuple[float, int], ...] = ((1.5, 1), (3.0, 2), (7.0, 5))
"""(fraction below which, nice fraction) when rounding: Heckbert 1990, "Nice numbers for graph
labels", Graphics Gems I, nicenum(round=true); anything larger becomes 10."""
_NICE_CEILING: tuple[tuple[float, int], ...] = ((1.0, 1), (2.0, 2), (5.0, 5))
"""(fraction up to which, nice fraction) for the ceiling: Heckbert 1990, nicenum(round=false)."""
_NICE_TOP = 10
_PLAIN_LABEL_LIMIT = 1e6
"""From a million on, tick labels use two significant digits (1e+06) instead of all digits."""


def _nice(value: float, round_: bool) -> float:
    exponent = math.floor(math.log10(value))
    fraction = value / 10**exponent
    if round_:
        nice = next((n for limit, n in _NICE_ROUNDED if fraction < limit), _NICE_TOP)
    else:
        nice = next((n for limit, n in _NICE_CEILING if fraction <= limit), _NICE_TOP)
    return float(nice * 10**exponent)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (Heckbert 1990)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"tick range must be finite, got {low!r}..{high!r}")
    if high < low:
        low, high = high, low
    if high == low:
        spread = abs(low) * 0.1 or 1.0
        low, high = low - spread, high + spread
    step = _nice(_nice(high - low, False) / max(count - 1, 1), True)
    start = math.floor(low / step) * step
    stop = math.ceil(high / step) * step
    n = int(round((stop - start) / step))
    return [round(start + i * step, 10) for i in range(n + 1)]


def _label(value: float) -> str:
    return f"{value:g}" if abs(value) < _PLAIN_LABEL_LIMIT else f"{value:.2g}"


class _Frame:
    def __init__(self, chart: Chart, xs: list[float], ys: list[float]) -> None:
        top, right, bottom, left = chart.margins
        self.left, self.top = left, top
        self.plot_w = chart.width - left - right
        self.plot_h = chart.height - top - bottom
        x_positions = [p for p, _ in chart.x_ticks] or xs
        self.x_ticks = (
            list(chart.x_ticks)
            if chart.x_ticks
            else [(t, _label(t)) for t in nice_ticks(min(x_positions), max(x_positions))]
        )
        self.x0 = min([t for t, _ in self.x_ticks] + xs)
        self.x1 = max([t for t, _ in self.x_ticks] + xs)
        if self.x1 == self.x0:
            self.x0, self.x1 = self.x0 - 1, self.x1 + 1
        bounds = ys + [v for v in (chart.y_min, chart.y_max) if v is not None]
        self.y_ticks = nice_ticks(min(bounds), max(bounds))
        self.y0, self.y1 = self.y_ticks[0], self.y_ticks[-1]

    def px(self, x: float) -> float:
        return round(self.left + (x - self.x0) / (self.x1 - self.x0) * self.plot_w, 1)

    def py(self, y: float) -> float:
        return round(self.top + (1 - (y - self.y0) / (self.y1 - self.y0)) * self.plot_h, 1)


def _axes(chart: Chart, f: _Frame) -> list[str]:
    bottom = f.top + f.plot_h
    right = f.left + f.plot_w
    out = ['<g class="grid">']
    for y in f.y_ticks:
        out.append(f'<line x1="{f.left}" x2="{right}" y1="{f.py(y)}" y2="{f.py(y)}"/>')
    out.append("</g>")
    out.append(f'<g class="axis"><line x1="{f.left}" x2="{right}" y1="{bottom}" y2="{bottom}"/>')
    out.append(f'<line x1="{f.left}" x2="{f.left}" y1="{f.top}" y2="{bottom}"/>')
    for y in f.y_ticks:
        out.append(
            f'<text x="{f.left - 6}" y="{f.py(y) + 4}" text-anchor="end">{escape(_label(y))}</text>'
        )
    for x, text in f.x_ticks:
        out.append(
            f'<line x1="{f.px(x)}" x2="{f.px(x)}" y1="{bottom}" y2="{bottom + 4}"/>'
            f'<text x="{f.px(x)}" y="{bottom + 17}" text-anchor="middle">{escape(text)}</text>'
        )
    out.append(
        f'<text class="axis-label" x="{f.left + f.plot_w / 2}" y="{chart.height - 6}" '
        f'text-anchor="middle">{escape(chart.x_label)}</text>'
    )
    mid = f.top + f.plot_h / 2
    out.append(
        f'<text class="axis-label" x="14" y="{mid}" text-anchor="middle" '
        f'transform="rotate(-90 14 {mid})">{escape(chart.y_label)}</text></g>'
    )
    return out


def _path(series: Series, f: _Frame) -> str:
    points = sorted(series.points, key=lambda p: p.x)
    coords: list[tuple[float, float]] = []
    for i, p in enumerate(points):
        if series.step and i:
            coords.append((f.px(p.x), f.py(points[i - 1].y)))
        coords.append((f.px(p.x), f.py(p.y)))
    if series.step and points:
        end = f.x1 if series.step_end is None else min(max(series.step_end, points[-1].x), f.x1)
        coords.append((f.px(end), f.py(points[-1].y)))
    text = " ".join(f"{x},{y}" for x, y in coords)
    dashed = " dashed" if series.dashed else ""
    return f'<polyline class="line {escape(series.css)}{dashed}" fill="none" points="{text}"/>'


def _markers(series: Series, f: _Frame) -> list[str]:
    out = [f'<g class="markers {escape(series.css)}">']
    for p in series.points:
        note = p.note or f"{_label(p.x)}: {_label(p.y)}"
        out.append(
            f'<circle cx="{f.px(p.x)}" cy="{f.py(p.y)}" r="3.5"><title>{escape(note)}</title>'
            "</circle>"
        )
    out.append("</g>")
    return out


def _legend(chart: Chart, f: _Frame) -> list[str]:
    out = ['<g class="legend">']
    x = f.left
    for s in chart.series:
        key = (
            f'<line class="line {escape(s.css)}" x1="{x}" x2="{x + 18}" y1="12" y2="12"/>'
            if s.joined
            else f'<g class="markers {escape(s.css)}"><circle cx="{x + 9}" cy="12" r="3.5"/></g>'
        )
        out.append(key + f'<text x="{x + 22}" y="16">{escape(s.name)}</text>')
        x += 30 + 7 * len(s.name)
    out.append("</g>")
    return out


def render_chart(chart: Chart) -> Markup:
    """The chart as an <svg> element (safe to insert into an autoescaped template)."""
    xs = [p.x for s in chart.series for p in s.points]
    ys = [p.y for s in chart.series for p in s.points] + [r.y for r in chart.references]
    cid = escape(chart.chart_id)
    head = (
        f'<svg class="chart" viewBox="0 0 {chart.width} {chart.height}" role="img" '
        f'aria-labelledby="{cid}-t {cid}-d" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{cid}-t">{escape(chart.title)}</title>'
        f'<desc id="{cid}-d">{escape(chart.description)}</desc>'
    )
    if not xs and not chart.x_ticks:
        empty = (
            f'<text class="empty" x="{chart.width / 2}" y="{chart.height / 2}" '
            'text-anchor="middle">No data yet</text>'
        )
        return Markup(head + empty + "</svg>")
    frame = _Frame(chart, xs, ys or [0.0, 1.0])
    parts = [head, *_axes(chart, frame)]
    for ref in chart.references:
        y = frame.py(ref.y)
        parts.append(
            f'<g class="{escape(ref.css)}"><line x1="{frame.left}" x2="{frame.left + frame.plot_w}"'
            f' y1="{y}" y2="{y}"/><text x="{frame.left + frame.plot_w - 4}" y="{y - 5}" '
            f'text-anchor="end">{escape(ref.label)}</text></g>'
        )
    for series in chart.series:
        if series.joined and (len(series.points) > 1 or series.step):
            parts.append(_path(series, frame))
        if series.markers:
            parts += _markers(series, frame)
    if len(chart.series) > 1:
        parts += _legend(chart, frame)
    if not xs:
        parts.append(
            f'<text class="empty" x="{frame.left + frame.plot_w / 2}" '
            f'y="{frame.top + frame.plot_h / 2}" text-anchor="middle">No values yet</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def points(pairs: Sequence[tuple[float, float]], notes: Sequence[str] = ()) -> tuple[Point, ...]:
    notes = list(notes) + [""] * (len(pairs) - len(notes))
    return tuple(Point(float(x), float(y), n) for (x, y), n in zip(pairs, notes, strict=True))


@dataclass(frozen=True)
class FunnelBar:
    label: str  # e.g. "I2 Type 2 diabetes" or "Seen in the look-back"
    remaining: int
    removed: int


def render_funnel(chart_id: str, title: str, bars: Sequence[FunnelBar]) -> Markup:
    """A pre-screening attrition funnel as horizontal bars (persons remaining after each
    criterion, the number removed beside it), as ATLAS draws a cohort's attrition."""
    cid = escape(chart_id)
    row, left, width = 26, 190, 640
    height = row * max(len(bars), 1) + 16
    top = max((b.remaining for b in bars), default=0) or 1
    scale = (width - left - 150) / top
    parts = [
        f'<svg class="chart funnel" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{cid}-t {cid}-d" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{cid}-t">{escape(title)}</title>'
        f'<desc id="{cid}-d">Persons remaining after each criterion, in protocol order.</desc>'
    ]
    for i, bar in enumerate(bars):
        y = 8 + i * row
        length = max(bar.remaining * scale, 1.0 if bar.remaining else 0.0)
        note = f"{bar.remaining:,}" + (f" (−{bar.removed:,})" if i else "")
        parts.append(
            f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{escape(bar.label[:28])}</text>'
            f'<rect class="bar" x="{left}" y="{y + 3}" width="{length:.1f}" height="{row - 8}"/>'
            f'<text x="{left + length + 6:.1f}" y="{y + 15}">{escape(note)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))

"""The trial's charts: enrollment against target, the ITT glucose curve with its KITT fit, and a
participant's trajectories (HbA1c, FBG, insulin dose) over study days."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from markupsafe import Markup

from trialdesk.derive.itt import KITT_WINDOW_MIN
from trialdesk.web.charts import Chart, Point, Reference, Series, nice_ticks, render_chart


def enrollment_chart(enrolled_on: Sequence[date], target: int, today: date) -> Markup:
    """Cumulative enrollment (a step line) against the protocol's target."""
    days = sorted(enrolled_on)
    start = days[0] if days else today
    end = max(today, days[-1]) if days else today + timedelta(days=30)
    if end <= start:
        end = start + timedelta(days=1)
    steps = [
        Point(float(d.toordinal()), float(i + 1), f"{d.isoformat()}: {i + 1} enrolled")
        for i, d in enumerate(days)
    ]
    series = Series(
        "Enrolled",
        (Point(float(start.toordinal()), 0.0, f"{start.isoformat()}: 0"), *steps),
        css="s1",
        step=True,
        markers=bool(days),
    )
    chart = Chart(
        chart_id="enrollment",
        title=f"Enrollment: {len(days)} of {target}",
        description=(
            f"Cumulative number of participants enrolled by date, {len(days)} so far, against "
            f"the protocol's target of {target}."
        ),
        x_label="Date of enrollment",
        y_label="Participants enrolled",
        series=(series,),
        references=(Reference(float(target), f"Target {target}"),),
        x_ticks=_date_ticks(start, end),
        y_min=0.0,
        y_max=float(target),
        margins=(28, 44, 46, 62),  # room for the last date label
    )
    return render_chart(chart)


def _date_ticks(start: date, end: date, count: int = 5) -> tuple[tuple[float, str], ...]:
    span = (end - start).days
    step = max(1, math.ceil(span / (count - 1)))
    ticks = []
    day = start
    while day <= end:
        ticks.append((float(day.toordinal()), day.strftime("%d %b %Y")))
        day += timedelta(days=step)
    if ticks[-1][0] < end.toordinal():
        ticks.append((float(end.toordinal()), end.strftime("%d %b %Y")))
    return tuple(ticks)


@dataclass(frozen=True)
class IttCurve:
    minutes: tuple[float, ...]
    glucose_mmol_l: tuple[float, ...]
    kitt_percent_per_min: float | None


def kitt_fit(minutes: Sequence[float], glucose: Sequence[float], kitt: float) -> list[Point]:
    """The fitted mono-exponential G(t) = exp(a − KITT/100 · t) over the KITT window.

    The ordinary least-squares line of ln G on t passes through the means of the fitted samples,
    so a = mean(ln G) + KITT/100 · mean(t) (the slope itself comes from `compute_kitt`).
    """
    low, high = KITT_WINDOW_MIN
    window = [(t, g) for t, g in zip(minutes, glucose, strict=True) if low <= t <= high and g > 0]
    if not window:
        return []
    slope = -kitt / 100.0
    mean_t = sum(t for t, _ in window) / len(window)
    mean_log = sum(math.log(g) for _, g in window) / len(window)
    intercept = mean_log - slope * mean_t
    grid = [low + (high - low) * i / 24 for i in range(25)]
    return [Point(t, math.exp(intercept + slope * t)) for t in grid]


def itt_chart(curve: IttCurve, chart_id: str, unit_label: str = "mmol/L") -> Markup:
    """The ITT glucose samples and, when computable, the KITT fit over 3–15 min."""
    samples = Series(
        "Glucose measured",
        tuple(
            Point(t, g, f"{t:g} min: {g:.1f} {unit_label}")
            for t, g in zip(curve.minutes, curve.glucose_mmol_l, strict=True)
        ),
        css="s1",
        joined=False,
    )
    series: tuple[Series, ...] = (samples,)
    kitt = curve.kitt_percent_per_min
    if kitt is not None:
        fit = kitt_fit(curve.minutes, curve.glucose_mmol_l, kitt)
        series += (Series(f"Fit, KITT {kitt:.2f} %/min", tuple(fit), "s2", markers=False),)
    described = f"KITT {kitt:.2f} %/min" if kitt is not None else "KITT not computable"
    chart = Chart(
        chart_id=chart_id,
        title=f"Insulin tolerance test, {described}",
        description=(
            "Plasma glucose after an intravenous insulin bolus of 0.1 U/kg, by minute; KITT is "
            "the slope of ln(glucose) between 3 and 15 minutes × 100."
        ),
        x_label="Minutes after insulin bolus",
        y_label=f"Glucose ({unit_label})",
        series=series,
        x_ticks=tuple((float(m), f"{m:g}") for m in nice_ticks(0, max(curve.minutes or (15,)))),
        y_min=0.0,
        width=520,
        height=260,
    )
    return render_chart(chart)


@dataclass(frozen=True)
class TrajectoryPoint:
    study_day: int
    visit_code: str
    value: float


def trajectory_chart(
    chart_id: str,
    label: str,
    unit: str,
    values: Sequence[TrajectoryPoint],
    reference: Reference | None = None,
    *,
    visit_ticks: Sequence[tuple[int, str]] = (),
    in_effect_until: int | None = None,
) -> Markup:
    """One measure over study days (day 0 = baseline), one marker per visit; the x axis spans
    the schedule (`visit_ticks`: (protocol day, visit code)) so charts of different participants
    and dates share one scale.

    `in_effect_until` (a study day) draws a regimen instead: each value holds until the next
    change (a step), the last one until that day — a dose is recorded when it changes and is
    in effect in between (`trialdesk.derive.regimen`), so joining the points would draw doses
    nobody took."""
    ordered = sorted(values, key=lambda v: v.study_day)
    series = Series(
        label,
        tuple(
            Point(
                float(v.study_day),
                v.value,
                f"{v.visit_code} (day {v.study_day}): {v.value:g} {unit}",
            )
            for v in ordered
        ),
        step=in_effect_until is not None,
        step_end=None if in_effect_until is None else float(in_effect_until),
    )
    shown = ", ".join(f"{v.visit_code} {v.value:g}" for v in ordered) or "no values yet"
    chart = Chart(
        chart_id=chart_id,
        title=f"{label} ({unit}) by study day",
        description=f"{label} in {unit} at each visit: {shown}.",
        x_label="Study day (0 = baseline)",
        y_label=unit,
        series=(series,),
        references=(reference,) if reference else (),
        x_ticks=tuple((float(day), code) for day, code in visit_ticks),
        y_min=0.0 if ordered else None,
        width=380,
        height=240,
        margins=(22, 14, 42, 50),
    )
    return render_chart(chart)

"""The insulin dose is a regimen: each dose holds until the next change (a step chart)."""

from __future__ import annotations

import re

from trialdesk.web.figures import TrajectoryPoint, trajectory_chart


def _polyline(svg: str) -> list[tuple[float, float]]:
    match = re.search(r'<polyline class="line[^"]*" fill="none" points="([^"]+)"', svg)
    assert match, svg
    return [tuple(map(float, pair.split(","))) for pair in match.group(1).split()]  # type: ignore[misc]


def test_a_dose_holds_until_the_next_change_and_then_until_the_day_given() -> None:
    doses = [TrajectoryPoint(0, "BL", 40.0), TrajectoryPoint(90, "M3", 30.0)]
    svg = str(
        trajectory_chart(
            "t",
            "Dose",
            "U/day",
            doses,
            None,
            visit_ticks=[(0, "BL"), (360, "M12")],
            in_effect_until=200,
        )
    )
    coords = _polyline(svg)
    # BL level, then a vertical drop at day 90 (two points with the same x), then flat to day 200
    assert len(coords) == 4
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = coords
    assert y1 == y0 and x1 == x2 and y2 == y3 and y2 != y1
    assert x0 < x1 < x3
    # day 200 lies before the axis end (day 360): the last dose is not drawn into the future
    axis_end = _polyline(
        str(
            trajectory_chart(
                "t",
                "Dose",
                "U/day",
                doses,
                None,
                visit_ticks=[(0, "BL"), (360, "M12")],
                in_effect_until=999,
            )
        )
    )[-1][0]
    assert x3 < axis_end


def test_measurements_are_still_joined_point_to_point() -> None:
    values = [TrajectoryPoint(0, "BL", 8.0), TrajectoryPoint(90, "M3", 7.0)]
    coords = _polyline(
        str(trajectory_chart("t", "HbA1c", "%", values, None, visit_ticks=[(0, "BL")]))
    )
    assert len(coords) == 2

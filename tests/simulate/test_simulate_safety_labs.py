"""The simulator records the safety laboratory (issue 13/14) at the visits whose protocol
assessments list it, plausibly, with a few abnormal values, from a stream of its own."""

from __future__ import annotations

import numpy as np
import pytest

from trialdesk.catalogue.lab_ranges import default_lab_ranges
from trialdesk.derive.ctcae import suggest_grade
from trialdesk.protocol import builtin_protocol
from trialdesk.simulate.candidates import TYPE_2, Candidate, generate_candidates
from trialdesk.simulate.followup import FollowupOptions, Participant, simulate_followup
from trialdesk.simulate.safety_labs import SAFETY_ELEMENTS, draw_baseline, draw_visit

PROTOCOL = builtin_protocol()
SEED = 7


@pytest.fixture(scope="module")
def cohort() -> list[Participant]:
    pool: list[Candidate] = [
        c for c in generate_candidates(160, seed=SEED) if c.profile.diagnosis == TYPE_2
    ][:60]
    return [
        simulate_followup(
            c, f"P{i:03d}", PROTOCOL, options=FollowupOptions(seed=SEED, index=c.index)
        )
        for i, c in enumerate(pool)
    ]


def test_safety_labs_at_exactly_the_visits_that_list_them(cohort: list[Participant]) -> None:
    listed = {v.code: set(v.assessments) & set(SAFETY_ELEMENTS) for v in PROTOCOL.schedule}
    seen = 0
    for p in cohort:
        for visit in p.visits:
            if visit.status != "done" or visit.code == "SCR":
                continue
            safety = {m.element for m in visit.measurements if m.element in SAFETY_ELEMENTS}
            assert safety == listed[visit.code], (p.usubjid, visit.code)
            seen += len(safety)
    assert seen > 0


def test_values_are_plausible_and_a_few_are_gradeable(cohort: list[Participant]) -> None:
    ranges = default_lab_ranges()
    values: dict[str, list[float]] = {e: [] for e in SAFETY_ELEMENTS}
    graded = 0
    for p in cohort:
        for visit in p.visits:
            for m in visit.measurements:
                if m.element not in SAFETY_ELEMENTS:
                    continue
                values[m.element].append(m.value)
                bounds = ranges.for_site(None, m.element)
                if bounds and suggest_grade(m.element, m.value, low=bounds.low, high=bounds.high):
                    graded += 1
    assert 15 < float(np.median(values["alt"])) < 45
    assert 40 < float(np.median(values["creatinine"])) < 110
    assert 110 < float(np.median(values["haemoglobin"])) < 160
    assert all(v > 0 for vs in values.values() for v in vs)
    total = sum(len(v) for v in values.values())
    assert 0 < graded < total * 0.25  # a few abnormal values, not a sick cohort


def test_the_safety_stream_is_reproducible_and_its_own() -> None:
    def draws(seed: int) -> dict[str, float]:
        rng = np.random.default_rng(seed)
        return draw_visit(rng, draw_baseline(rng, "F"), list(SAFETY_ELEMENTS))

    assert draws(3) == draws(3) and draws(3) != draws(4)
    rng = np.random.default_rng(3)
    only_alt = draw_visit(rng, draw_baseline(rng, "F"), ["alt"])
    assert only_alt == {"alt": draws(3)["alt"]}  # the same draws whatever is asked for

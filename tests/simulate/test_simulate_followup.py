"""Follow-up simulation: schedule windows, treatment effect, dropouts and adverse events."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats

from trialdesk.derive import compute_kitt
from trialdesk.protocol import builtin_protocol
from trialdesk.simulate.adverse import DEFAULT_EVENT_TYPES, SERIOUSNESS
from trialdesk.simulate.candidates import TYPE_2, Candidate, generate_candidates
from trialdesk.simulate.effect import MODERATE, NO_EFFECT, STRONG, Effect, effect_preset
from trialdesk.simulate.followup import (
    ADVERSE_EVENT,
    COMPLETED,
    DEATH,
    DIED,
    LOST_TO_FOLLOW_UP,
    WITHDRAWAL_BY_SUBJECT,
    WITHDRAWN,
    FollowupOptions,
    FollowupParameters,
    Participant,
    simulate_followup,
)

PROTOCOL = builtin_protocol()
SEED = 21


@pytest.fixture(scope="module")
def pool() -> list[Candidate]:
    """Insulin-treated T2DM candidates, eligibility aside (follow-up needs only the physiology)."""
    return [c for c in generate_candidates(1100, seed=SEED) if c.profile.diagnosis == TYPE_2][:900]


def _follow(
    pool: list[Candidate], effect: Effect = NO_EFFECT, params: FollowupParameters | None = None
) -> list[Participant]:
    return [
        simulate_followup(
            c,
            f"P{i:04d}",
            PROTOCOL,
            effect,
            options=FollowupOptions(seed=SEED, index=c.index, params=params),
        )
        for i, c in enumerate(pool)
    ]


@pytest.fixture(scope="module")
def null_arm(pool: list[Candidate]) -> list[Participant]:
    return _follow(pool)


@pytest.fixture(scope="module")
def moderate_arm(pool: list[Candidate]) -> list[Participant]:
    return _follow(pool, MODERATE)


def _changes(arm: list[Participant], element: str, visit: str) -> np.ndarray:
    out = []
    for p in arm:
        base, later = p.visit("BL"), p.visit(visit)
        if base is None or later is None or not later.done:
            continue
        b, v = base.value(element), later.value(element)
        if b is not None and v is not None:
            out.append(v - b)
    return np.array(out)


def _ci(x: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    half = stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return x.mean() - half, x.mean() + half


def _kitt_at(p: Participant, code: str) -> float | None:
    v = p.visit(code)
    if v is None or not v.done or v.itt is None:
        return None
    samples = v.itt.samples_mmol_l()
    return compute_kitt(list(samples), list(samples.values()))


# --- determinism --------------------------------------------------------------------------------


def test_follow_up_is_deterministic(pool: list[Candidate]) -> None:
    a = simulate_followup(
        pool[0], "P1", PROTOCOL, MODERATE, options=FollowupOptions(seed=5, index=0)
    )
    b = simulate_followup(
        pool[0], "P1", PROTOCOL, MODERATE, options=FollowupOptions(seed=5, index=0)
    )
    c = simulate_followup(
        pool[0], "P1", PROTOCOL, MODERATE, options=FollowupOptions(seed=6, index=0)
    )
    assert a == b
    assert a.visits != c.visits


def test_participant_without_insulin_is_refused() -> None:
    prediabetic = next(
        c for c in generate_candidates(300, seed=1) if c.profile.insulin_u_per_day == 0
    )
    with pytest.raises(ValueError, match="insulin-treated"):
        simulate_followup(prediabetic, "P1", PROTOCOL)


# --- schedule -----------------------------------------------------------------------------------


def test_visits_follow_the_schedule_in_order(null_arm: list[Participant]) -> None:
    codes = [v.code for v in PROTOCOL.schedule]
    for p in null_arm:
        seen = [v.code for v in p.visits]
        assert seen == codes[: len(seen)]
        dates = [v.visit_date for v in p.visits if v.done]
        assert dates == sorted(dates) and len(set(dates)) == len(dates)
        assert p.visit("BL").day == 0 and p.baseline_date == p.visit("BL").visit_date
        assert p.enrolled_on <= p.baseline_date


def test_windows_are_respected_except_deliberate_deviations(null_arm: list[Participant]) -> None:
    done = [v for p in null_arm for v in p.visits if v.done]
    for v in done:
        visit = PROTOCOL.visit(v.code)
        inside = visit.earliest_day <= v.day <= visit.latest_day
        assert v.in_window == inside
        assert inside != v.deviation, f"{v.code} day {v.day}"
    later = [v for v in done if PROTOCOL.visit(v.code).day > 0]
    share = sum(v.deviation for v in later) / len(later)
    assert 0.02 < share < 0.06  # configured 4 %


def test_only_intermediate_visits_are_missed(null_arm: list[Participant]) -> None:
    missed = [v for p in null_arm for v in p.visits if not v.done]
    assert {v.code for v in missed} <= {"M1", "M3", "M6", "M9"}
    reached = [v for p in null_arm for v in p.visits if v.code in {"M1", "M3", "M6", "M9"}]
    assert 0.02 < len(missed) / len(reached) < 0.07  # configured 4 %
    assert all(v.measurements == () and v.itt is None for v in missed)


def test_scheduled_assessments_are_recorded(null_arm: list[Participant]) -> None:
    done = [v for p in null_arm for v in p.done_visits]
    for v in done:
        scheduled = set(PROTOCOL.visit(v.code).assessments)
        if "itt_glucose" not in scheduled:
            assert v.itt is None, v.code
        assert (v.dosing is not None) == ("insulin_daily_dose" in scheduled), v.code
        if v.code != "SCR":  # the screening record also carries the screening labs
            assert {m.element for m in v.measurements} <= scheduled, v.code
    itt_due = [v for v in done if "itt_glucose" in PROTOCOL.visit(v.code).assessments]
    share_missing = sum(v.itt is None for v in itt_due) / len(itt_due)
    assert share_missing < 0.06  # declined consent never enrols; ~2 % of values missing
    hba1c_due = [v for v in done if "hba1c" in PROTOCOL.visit(v.code).assessments]
    assert sum(v.value("hba1c") is None for v in hba1c_due) / len(hba1c_due) < 0.05


def test_values_keep_their_laboratory_unit(null_arm: list[Participant]) -> None:
    for p in null_arm[:100]:
        lab = p.candidate.profile.lab
        for v in p.done_visits[1:]:
            for m in v.measurements:
                assert m.unit == lab.unit_for(m.element)


# --- treatment effect ---------------------------------------------------------------------------


def test_no_effect_means_no_systematic_change(null_arm: list[Participant]) -> None:
    hba1c = _changes(null_arm, "hba1c", "M12")
    assert len(hba1c) > 700
    low, high = _ci(hba1c)
    assert low < 0 < high, (low, high)
    fbg = _changes(null_arm, "fasting_glucose", "M12")
    assert _ci(fbg, 0.99)[0] < 0 < _ci(fbg, 0.99)[1]
    kitt = np.array(
        [k12 - k0 for p in null_arm if (k0 := _kitt_at(p, "BL")) and (k12 := _kitt_at(p, "M12"))]
    )
    assert _ci(kitt, 0.99)[0] < 0 < _ci(kitt, 0.99)[1]
    dose = np.array(
        [
            p.visit("M12").dosing.insulin_u_per_day - p.visit("BL").dosing.insulin_u_per_day
            for p in null_arm
            if p.visit("M12") is not None and p.visit("M12").done
        ]
    )
    assert _ci(dose, 0.99)[0] < 0 < _ci(dose, 0.99)[1]


@pytest.mark.parametrize("visit", ["M1", "M3", "M6", "M9", "M12"])
def test_moderate_effect_has_the_asked_size_and_time_course(
    moderate_arm: list[Participant], visit: str
) -> None:
    observed = _changes(moderate_arm, "hba1c", visit)
    expected = MODERATE.hba1c_change * MODERATE.fraction_at(PROTOCOL.visit(visit).day - 7)
    se = observed.std(ddof=1) / math.sqrt(len(observed))
    assert abs(observed.mean() - expected) < 3.5 * se + 0.03, (observed.mean(), expected)


def test_moderate_effect_on_insulin_kitt_and_c_peptide(moderate_arm: list[Participant]) -> None:
    completers = [p for p in moderate_arm if p.visit("M6") is not None and p.visit("M6").done]
    reduction = np.array(
        [1 - p.visit("M6").dosing.insulin_u_per_day / p.visit("BL").dosing.insulin_u_per_day
         for p in completers]
    )  # fmt: skip
    se = reduction.std(ddof=1) / math.sqrt(len(reduction))
    assert abs(reduction.mean() - MODERATE.insulin_dose_reduction) < 3.5 * se + 0.01
    kitt = np.array(
        [k6 - k0 for p in completers if (k0 := _kitt_at(p, "BL")) and (k6 := _kitt_at(p, "M6"))]
    )
    se = kitt.std(ddof=1) / math.sqrt(len(kitt))
    assert abs(kitt.mean() - MODERATE.kitt_change) < 3.5 * se + 0.05
    c_pep = _changes(moderate_arm, "c_peptide", "M6")
    assert c_pep.mean() > 0 and _ci(c_pep)[0] > 0


def test_explicit_effect_size_is_reproduced(pool: list[Candidate]) -> None:
    asked = Effect(hba1c_change=-1.2, insulin_dose_reduction=0.4, heterogeneity=0.0)
    arm = _follow(pool[:300], asked)
    change = _changes(arm, "hba1c", "M6")  # full effect between onset and waning
    se = change.std(ddof=1) / math.sqrt(len(change))
    assert abs(change.mean() - (-1.2)) < 3.5 * se + 0.02


def test_strong_effect_makes_some_participants_insulin_independent(
    pool: list[Candidate],
) -> None:
    arm = _follow(pool[:300], STRONG)
    off_insulin = [
        p for p in arm if p.visit("M6") is not None and p.visit("M6").done
        and p.visit("M6").dosing.insulin_u_per_day == 0
    ]  # fmt: skip
    assert 0 < len(off_insulin) < 0.3 * len(arm)
    # Responders (>= 50 % reduction) are common but not universal (Bhansali: 60-70 %).
    responders = [
        p for p in arm if p.visit("M6") is not None and p.visit("M6").done
        and p.visit("M6").dosing.insulin_u_per_day <= 0.5 * p.visit("BL").dosing.insulin_u_per_day
    ]  # fmt: skip
    assert 0.3 < len(responders) / len(arm) < 0.7


def test_effect_time_course() -> None:
    e = Effect(hba1c_change=-1.0, onset_days=90, waning_from_days=180, waning_fraction=0.5)
    assert e.fraction_at(0) == 0.0 and e.fraction_at(45) == pytest.approx(0.5)
    assert e.fraction_at(90) == e.fraction_at(180) == 1.0
    assert e.fraction_at(365) == pytest.approx(0.5) and e.fraction_at(500) == pytest.approx(0.5)
    assert NO_EFFECT.is_null and not MODERATE.is_null


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"insulin_dose_reduction": 1.5}, "insulin_dose_reduction"),
        ({"onset_days": 200, "waning_from_days": 100}, "onset_days"),
        ({"heterogeneity": -1}, "heterogeneity"),
        ({"hba1c_change": float("nan")}, "hba1c_change"),
    ],
)
def test_bad_effects_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Effect(**kwargs)


def test_presets_by_name() -> None:
    assert effect_preset("none") is NO_EFFECT
    assert effect_preset("Moderate", kitt_change=None) is MODERATE
    custom = effect_preset("strong", hba1c_change=-2.0)
    assert custom.hba1c_change == -2.0 and custom.insulin_dose_reduction == 0.5
    with pytest.raises(ValueError, match="not one of"):
        effect_preset("huge")
    with pytest.raises(ValueError, match="unknown option"):
        effect_preset("none", dose=3)


# --- dropouts -----------------------------------------------------------------------------------


def test_dropouts_happen_at_the_configured_rate(pool: list[Candidate]) -> None:
    params = FollowupParameters(dropout_rate_per_year=0.5, ae_rate_multiplier=0.0)
    arm = _follow(pool, params=params)
    dropped = [p for p in arm if p.status == WITHDRAWN]
    assert {p.end_reason for p in dropped} == {WITHDRAWAL_BY_SUBJECT, LOST_TO_FOLLOW_UP}
    # Constant hazard over the ~372 days to the month-12 visit.
    expected = 1 - math.exp(-0.5 * 372 / 365.25)
    share = len(dropped) / len(arm)
    assert abs(share - expected) < 3 * math.sqrt(expected * (1 - expected) / len(arm)), share
    for p in dropped:
        assert all(v.visit_date < p.end_on for v in p.done_visits)
    lost_share = sum(p.end_reason == LOST_TO_FOLLOW_UP for p in dropped) / len(dropped)
    assert 0.35 < lost_share < 0.55  # configured 45 %


def test_default_dropout_is_about_ten_percent(null_arm: list[Participant]) -> None:
    share = sum(p.status == WITHDRAWN for p in null_arm) / len(null_arm)
    assert 0.06 < share < 0.16
    for p in null_arm:
        if p.status == COMPLETED:
            assert p.end_on == p.visit("M12").visit_date and p.end_reason is None


def test_withdrawal_before_transplantation_means_no_transplant(pool: list[Candidate]) -> None:
    arm = _follow(pool[:200], params=FollowupParameters(dropout_rate_per_year=8.0))
    infusion_terms = {k.term for k in DEFAULT_EVENT_TYPES if k.per_infusion}
    never = [p for p in arm if p.transplanted_on is None]
    assert never
    for p in never:
        assert p.status != COMPLETED and p.visit("TX") is None
        assert not any(e.term in infusion_terms for e in p.adverse_events)
        assert all(e.action == "DOSE NOT CHANGED" for e in p.adverse_events)


# --- adverse events -----------------------------------------------------------------------------


def test_adverse_events_occur_at_the_configured_rates(pool: list[Candidate]) -> None:
    params = FollowupParameters(dropout_rate_per_year=0.0, ae_withdrawal_share=0.0)
    arm = _follow(pool, params=params)
    years = sum((p.end_on - p.baseline_date).days + 1 for p in arm) / 365.25
    transplanted = sum(p.transplanted_on is not None for p in arm)
    for kind in DEFAULT_EVENT_TYPES:
        count = sum(e.term == kind.term for p in arm for e in p.adverse_events)
        expected = (
            kind.rate_per_year * years if kind.rate_per_year else kind.per_infusion * transplanted
        )
        tolerance = 4 * math.sqrt(expected) + 2
        assert abs(count - expected) < tolerance, (kind.term, count, expected)


def test_seriousness_follows_grade_and_ich_e2a(null_arm: list[Participant]) -> None:
    events = [(p, e) for p in null_arm for e in p.adverse_events]
    assert len(events) > 500
    grades = {e.grade for _, e in events}
    assert {1, 2, 3} <= grades
    for p, e in events:
        assert set(e.seriousness) <= set(SERIOUSNESS)
        assert e.serious == bool(e.seriousness)
        assert p.baseline_date <= e.onset <= p.end_on
        if e.grade == 5:
            assert "death" in e.seriousness and e.outcome == "FATAL" and e.resolved is None
            assert p.status == DIED and p.end_reason == DEATH and p.end_on == e.onset
        if e.grade == 4:
            assert "life_threatening" in e.seriousness
        if e.resolved is not None:
            assert e.onset <= e.resolved <= p.end_on
        assert e.related in {"Definite", "Probable", "Possible", "Unlikely", "Not related"}
    serious = [e for _, e in events if e.serious]
    assert 0.02 < len(serious) / len(events) < 0.15
    # Severity is not seriousness: some grade 3 events are not serious.
    assert any(e.grade == 3 and not e.serious for _, e in events)
    infusion = [e for _, e in events if e.term == "Infusion related reaction"]
    assert infusion and all(e.related == "Definite" for e in infusion)


def test_adverse_events_can_end_participation(pool: list[Candidate]) -> None:
    params = FollowupParameters(ae_rate_multiplier=3.0, ae_withdrawal_share=0.5)
    arm = _follow(pool[:400], params=params)
    reasons = {p.end_reason for p in arm}
    assert ADVERSE_EVENT in reasons and DEATH in reasons
    for p in arm:
        if p.end_reason == ADVERSE_EVENT:
            assert any(e.grade >= 3 and e.onset < p.end_on for e in p.adverse_events)
        assert all(v.visit_date <= p.end_on for v in p.done_visits)


def test_follow_up_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="missed_visit_share"):
        FollowupParameters(missed_visit_share=2.0)
    with pytest.raises(ValueError, match="dropout_rate_per_year"):
        replace(FollowupParameters(), dropout_rate_per_year=-1.0)

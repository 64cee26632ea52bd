"""Twelve months of follow-up for one enrolled participant, along the protocol's schedule.

`simulate_followup(candidate, usubjid, protocol, effect, seed, index)` returns a `Participant`:
visit dates, the values of every scheduled assessment in the participant's laboratory units,
ITT curves, dosing, adverse events and how participation ended. Pure and deterministic: the
participant's streams come from ``(seed, index)``.

Schedule (protocol ``schedule``): the screening visit is the candidate's screening date; the
baseline visit (day 0) follows 7-28 days later (inside the screening window). Every later visit
is planned at ``baseline + day``; the actual date falls inside the visit window (normal around
the target, SD a quarter of the window width), except for a share ``out_of_window_share`` of
deliberate deviations 1-14 days outside it. Intermediate visits (after transplantation, before
the last) are missed with probability ``missed_visit_share``. The baseline and transplantation
visits are never missed; the last visit is the completion visit.

Trajectories (true values; measured values add the noise in `trialdesk.simulate.physiology`):

* HbA1c(t) = HbA1c0 + slope x t/365 + effect x f(d), slope ~ N(0, 0.3 %-points a year)
  (between-person drift with mean 0, assumption); d = days since transplantation, f the
  effect's time course. Mean glucose follows HbA1c by ADAG, fasting and post-meal glucose are
  the person's fractions of it with day-to-day CV 10 % and 12 %.
* Insulin dose(t) = dose0 x (1 - reduction x f(d)) x titration noise (mean 1, SD 6 % per
  visit; assumption), whole units; below 4 U/day the participant stops insulin.
* Oral drugs: each dose x (1 - reduction x f(d)), rounded to the drug's dose step
  (`DOSE_STEP_MG`), and their WHO DDDs summed again; unchanged without effect (background oral
  therapy is kept stable per protocol; assumption).
* KITT(t) = KITT0 + effect x f(d) (at least 0.4 %/min); each ITT samples a curve with the
  test-retest CV of 13 %, starting from the day's fasting glucose.
* C-peptide(t) = C0 x (1 + effect x f(d)); fasting insulin(t) = I0 x sqrt(dose ratio) x
  sqrt(C-peptide ratio) (measured insulin mixes exogenous and endogenous insulin; assumption).
* Weight(t) = W0 + slope x t/365 - 0.1 kg per U/day of insulin reduction (slope ~ N(0, 1.5 kg
  a year); insulin-associated weight change of about 0.1 kg per unit, order of magnitude from
  UKPDS-era insulin trials; assumption) + visit noise SD 0.4 kg.

Dropout: a constant hazard ``dropout_rate_per_year`` from baseline (withdrawal by subject or
lost to follow-up; assumption of 10 %/year, typical of one-year single-site studies). Adverse
events (`trialdesk.simulate.adverse`) can end participation: grade 5 by death, grade 3-4 by
withdrawal with probability ``ae_withdrawal_share``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import numpy as np

from trialdesk.derive import compute_ogld_ddd_total
from trialdesk.derive.ctcae import GRADE_DEATH, GRADE_SEVERE
from trialdesk.protocol import Protocol, Visit
from trialdesk.simulate import adverse
from trialdesk.simulate.adverse import DEFAULT_EVENT_TYPES, AdverseEvent, AdverseEventType
from trialdesk.simulate.candidates import Candidate
from trialdesk.simulate.effect import NO_EFFECT, Effect, IndividualEffect
from trialdesk.simulate.labs import CANONICAL_UNIT, LabProfile, as_reported, to_canonical
from trialdesk.simulate.physiology import (
    KITT_TEST_RETEST_CV,
    estimated_average_glucose_mg_dl,
    itt_curve,
    lognormal_factor,
    mean_one_factor,
    mmol_l,
)
from trialdesk.simulate.safety_labs import (
    SAFETY_ELEMENTS,
    SAFETY_UNITS,
    SafetyBaseline,
    draw_baseline,
    draw_visit,
)
from trialdesk.simulate.streams import Stream, rng_for

COMPLETED = "completed"
ONGOING = "ongoing"
WITHDRAWN = "withdrawn"
DIED = "died"
WITHDRAWAL_BY_SUBJECT = "Withdrawal by subject"
LOST_TO_FOLLOW_UP = "Lost to follow-up"
ADVERSE_EVENT = "Adverse event"
DEATH = "Death"
#: An out-of-window visit is early or late with equal chance (assumption).
_EARLY_SHARE = 0.5
#: Below a few units a day the clinician stops insulin (assumption).
_MIN_INSULIN_U_PER_DAY = 4

#: Elements the follow-up simulator knows how to generate at a visit.
SIMULATED_ELEMENTS = frozenset(
    {
        "weight",
        "fasting_glucose",
        "postmeal_glucose",
        "hba1c",
        "fasting_insulin",
        "c_peptide",
        "stimulated_c_peptide",
        "itt_glucose",
        "insulin_daily_dose",
        "ogld_ddd",
        "pregnancy_test",
    }
)
#: Screening-record quantities copied into the screening visit's measurements.
_SCREENING_QUANTITIES = (
    "weight",
    "height",
    "diabetes_duration",
    "fasting_glucose",
    "ogtt_2h_glucose",
    "hba1c",
    "fasting_insulin",
    "c_peptide",
)


@dataclass(frozen=True)
class FollowupParameters:
    """Rates of the follow-up simulation (all assumptions; see the module docstring)."""

    dropout_rate_per_year: float = 0.10
    lost_to_follow_up_share: float = 0.45
    missed_visit_share: float = 0.04
    out_of_window_share: float = 0.04
    missing_value_share: float = 0.02
    ae_rate_multiplier: float = 1.0
    ae_withdrawal_share: float = 0.15
    event_types: tuple[AdverseEventType, ...] = DEFAULT_EVENT_TYPES

    def __post_init__(self) -> None:
        for name in (
            "lost_to_follow_up_share",
            "missed_visit_share",
            "out_of_window_share",
            "missing_value_share",
            "ae_withdrawal_share",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"FollowupParameters.{name}: {value!r} is not a share in [0, 1]")
        for name in ("dropout_rate_per_year", "ae_rate_multiplier"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"FollowupParameters.{name}: {value!r} is not a rate >= 0")


@dataclass(frozen=True)
class Measurement:
    """One recorded value: as reported (value, unit) and in the catalogue's canonical unit."""

    element: str
    value: float
    unit: str
    canonical_value: float

    @property
    def canonical_unit(self) -> str:
        return CANONICAL_UNIT[self.element]


@dataclass(frozen=True)
class IttTest:
    """One insulin tolerance test: samples as reported ({minute: glucose} in `unit`)."""

    samples: dict[float, float]
    unit: str

    def samples_mmol_l(self) -> dict[float, float]:
        return {t: to_canonical("itt_glucose", g, self.unit) for t, g in self.samples.items()}


@dataclass(frozen=True)
class Dosing:
    """Glucose-lowering treatment in use at a visit."""

    insulin_u_per_day: float
    oral_drugs_mg_per_day: dict[str, float]
    ogld_ddd: float


@dataclass(frozen=True)
class SimVisit:
    """One scheduled visit: done (with its data) or missed.

    ``day`` is the actual day relative to the baseline visit; ``in_window`` compares it with the
    protocol window; ``deviation`` marks a deliberate out-of-window visit.
    """

    code: str
    planned_day: int
    status: str  # "done" | "missed"
    visit_date: date | None = None
    day: int | None = None
    in_window: bool = True
    deviation: bool = False
    measurements: tuple[Measurement, ...] = ()
    itt: IttTest | None = None
    dosing: Dosing | None = None
    findings: dict[str, str] = field(default_factory=dict)  # e.g. pregnancy_test: negative

    @property
    def done(self) -> bool:
        return self.status == "done"

    def value(self, element: str) -> float | None:
        """The canonical value of `element` at this visit, None if not recorded."""
        for m in self.measurements:
            if m.element == element:
                return m.canonical_value
        return None


@dataclass(frozen=True)
class Participant:
    """One enrolled participant's simulated trial course."""

    usubjid: str
    candidate: Candidate
    site: str
    enrolled_on: date
    baseline_date: date
    transplanted_on: date | None
    visits: tuple[SimVisit, ...]
    adverse_events: tuple[AdverseEvent, ...]
    status: str
    end_on: date | None  # None while ongoing (see `as_of`)
    end_reason: str | None
    effect: IndividualEffect

    def visit(self, code: str) -> SimVisit | None:
        for v in self.visits:
            if v.code == code:
                return v
        return None

    @property
    def done_visits(self) -> tuple[SimVisit, ...]:
        return tuple(v for v in self.visits if v.done)


@dataclass(frozen=True)
class _Roles:
    """Which schedule visits are screening, baseline, transplantation and completion."""

    screening: tuple[Visit, ...]
    baseline: Visit
    transplant: Visit | None
    later: tuple[Visit, ...]  # after baseline, in order


def schedule_roles(protocol: Protocol) -> _Roles:
    """Screening visits (day < 0), the baseline (day 0), the transplantation visit (the one with
    a ``transplantation`` form, else code TX) and the visits after baseline."""
    screening = tuple(v for v in protocol.schedule if v.day < 0)
    baseline = [v for v in protocol.schedule if v.day == 0]
    if not baseline:
        raise ValueError(f"protocol {protocol.id}: the schedule has no baseline visit (day 0)")
    later = tuple(v for v in protocol.schedule if v.day > 0)
    transplant = next((v for v in later if "transplantation" in v.forms), None)
    if transplant is None:
        transplant = next((v for v in later if v.code == "TX"), None)
    return _Roles(screening, baseline[0], transplant, later)


def _visit_day(
    rng: np.random.Generator, visit: Visit, out_share: float, after: int, before: int
) -> tuple[int, bool]:
    """(actual day, deliberate deviation?) for a visit after baseline.

    The day stays strictly between `after` (the previous visit's day) and `before` (the next
    visit's earliest day), so visits keep their order even when one is out of its window.
    """
    if rng.random() < out_share:
        beyond = int(rng.integers(1, 15))
        early = visit.earliest_day - beyond
        late = min(visit.latest_day + beyond, before - 1)
        if rng.random() < _EARLY_SHARE and early > after:
            return early, True
        if late > visit.latest_day:
            return late, True
    width = visit.window_before + visit.window_after
    offset = int(round(rng.normal(0.0, max(width, 1) / 4.0)))
    low, high = max(visit.earliest_day, after + 1), min(visit.latest_day, before - 1)
    return int(np.clip(visit.day + offset, low, max(low, high))), False


def _plan(
    rng: np.random.Generator, roles: _Roles, params: FollowupParameters
) -> list[tuple[Visit, int, bool, bool]]:
    """(visit, actual day, deviation, missed) for every visit after baseline."""
    plans = []
    last = roles.later[-1] if roles.later else None
    transplant_day = roles.transplant.day if roles.transplant else 0
    previous = 0
    for i, visit in enumerate(roles.later):
        following = roles.later[i + 1].earliest_day if i + 1 < len(roles.later) else 10**6
        day, deviation = _visit_day(rng, visit, params.out_of_window_share, previous, following)
        previous = day
        missable = visit is not last and visit is not roles.transplant
        missable = missable and visit.day > transplant_day
        missed = missable and rng.random() < params.missed_visit_share
        plans.append((visit, day, deviation, missed))
    return plans


@dataclass
class _State:
    """The participant's true values at baseline and their personal trajectories."""

    hba1c0: float
    glucose_offset: float  # mean glucose minus ADAG(HbA1c) of this person, mg/dL
    fasting_ratio: float
    postmeal_ratio: float
    kitt0: float
    c_peptide0: float
    stimulated_ratio: float
    fasting_insulin0: float
    dose0: float
    drugs0: dict[str, float]
    weight0: float
    hba1c_slope: float
    weight_slope: float


def _initial_state(candidate: Candidate, rng: np.random.Generator) -> _State:
    p = candidate.profile
    return _State(
        hba1c0=p.hba1c_percent,
        glucose_offset=p.mean_glucose_mg_dl - estimated_average_glucose_mg_dl(p.hba1c_percent),
        fasting_ratio=p.fasting_ratio,
        postmeal_ratio=p.postmeal_ratio,
        kitt0=p.kitt_percent_per_min,
        c_peptide0=p.c_peptide_ng_ml,
        stimulated_ratio=p.stimulated_c_peptide_ng_ml / p.c_peptide_ng_ml,
        fasting_insulin0=p.fasting_insulin_uiu_ml,
        dose0=p.insulin_u_per_day,
        drugs0=dict(p.oral_drugs_mg_per_day),
        weight0=p.weight_kg,
        hba1c_slope=float(rng.normal(0.0, 0.3)),
        weight_slope=float(rng.normal(0.0, 1.5)),
    )


#: Smallest dose step of each oral drug (mg/day, half or whole tablets; assumption), used when
#: a dose is reduced.
DOSE_STEP_MG: dict[str, float] = {
    "metformin": 250.0,
    "acarbose": 50.0,
    "glimepiride": 1.0,
    "gliclazide": 40.0,
    "glipizide": 2.5,
    "sitagliptin": 25.0,
    "pioglitazone": 15.0,
    "repaglinide": 0.5,
}


def _reduced_drugs(drugs: dict[str, float], share: float) -> dict[str, float]:
    """Each drug's dose x `share`, rounded to its dose step; drugs reduced to 0 are stopped."""
    out = {}
    for name, dose in drugs.items():
        step = DOSE_STEP_MG.get(name, dose)
        reduced = round(dose * share / step) * step
        if reduced > 0:
            out[name] = float(reduced)
    return out


def _dosing(state: _State, effect: IndividualEffect, f: float, rng: np.random.Generator) -> Dosing:
    dose = state.dose0 * (1.0 - effect.insulin_dose_reduction * f) * mean_one_factor(rng, 0.06)
    dose = float(round(dose))
    if dose < _MIN_INSULIN_U_PER_DAY:
        dose = 0.0  # below a few units a day the clinician stops insulin
    drugs = dict(state.drugs0)
    if effect.ogld_dose_reduction and f > 0:
        drugs = _reduced_drugs(drugs, 1.0 - effect.ogld_dose_reduction * f)
    return Dosing(dose, drugs, round(compute_ogld_ddd_total(drugs), 3))


def _true_values(
    state: _State, effect: IndividualEffect, f: float, day: int, dosing: Dosing
) -> dict[str, float]:
    years = day / 365.0
    hba1c = state.hba1c0 + state.hba1c_slope * years + effect.hba1c_change * f
    mean_glucose = estimated_average_glucose_mg_dl(hba1c) + state.glucose_offset
    c_ratio = 1.0 + effect.c_peptide_change * f
    dose_ratio = dosing.insulin_u_per_day / state.dose0 if state.dose0 else 1.0
    weight = (
        state.weight0 + state.weight_slope * years - 0.1 * (state.dose0 - dosing.insulin_u_per_day)
    )
    return {
        "hba1c": hba1c,
        "mean_glucose_mmol_l": mmol_l(max(mean_glucose, 60.0)),
        "kitt": max(0.4, state.kitt0 + effect.kitt_change * f),
        "c_peptide": state.c_peptide0 * c_ratio,
        "fasting_insulin": state.fasting_insulin0 * math.sqrt(max(dose_ratio, 0.05) * c_ratio),
        "weight": weight,
    }


#: How each simulated element is measured from the day's true values (canonical unit): the
#: within-person measurement error of each assay (see the module docstring).
_MEASURES: dict[str, Callable[[dict[str, float], _State, np.random.Generator], float]] = {
    "hba1c": lambda truth, _state, rng: truth["hba1c"] + rng.normal(0.0, 0.15),
    "fasting_glucose": lambda truth, state, rng: (
        truth["mean_glucose_mmol_l"] * state.fasting_ratio * lognormal_factor(rng, 0.10)
    ),
    "postmeal_glucose": lambda truth, state, rng: (
        truth["mean_glucose_mmol_l"] * state.postmeal_ratio * lognormal_factor(rng, 0.12)
    ),
    "fasting_insulin": lambda truth, _state, rng: (
        truth["fasting_insulin"] * lognormal_factor(rng, 0.20)
    ),
    "c_peptide": lambda truth, _state, rng: truth["c_peptide"] * lognormal_factor(rng, 0.12),
    "stimulated_c_peptide": lambda truth, state, rng: (
        truth["c_peptide"] * state.stimulated_ratio * lognormal_factor(rng, 0.15)
    ),
    "weight": lambda truth, _state, rng: truth["weight"] + rng.normal(0.0, 0.4),
}


def _measure(
    element: str, truth: dict[str, float], state: _State, rng: np.random.Generator
) -> float | None:
    """A measured value (canonical unit) of `element` from the day's true values."""
    measure = _MEASURES.get(element)
    return None if measure is None else measure(truth, state, rng)


def _visit_data(
    visit: Visit,
    day: int,
    f: float,
    course: _Course,
    rng: np.random.Generator,
) -> tuple[tuple[Measurement, ...], IttTest | None, Dosing | None, dict[str, str]]:
    """One visit's measurements, ITT, dosing and findings at effect fraction `f`."""
    candidate, state, params = course.candidate, course.state, course.params
    lab = candidate.profile.lab
    wanted = [a for a in visit.assessments if a in SIMULATED_ELEMENTS]
    safety = [a for a in visit.assessments if a in SAFETY_ELEMENTS]
    dosing = _dosing(state, course.individual, f, rng)
    truth = _true_values(state, course.individual, f, day, dosing)
    measurements: list[Measurement] = []
    itt: IttTest | None = None
    findings: dict[str, str] = {}
    fasting_today: float | None = None
    for element in wanted:
        missing = rng.random() < params.missing_value_share
        if element == "pregnancy_test":
            findings.update(_pregnancy_finding(candidate))
            continue
        if element in ("insulin_daily_dose", "ogld_ddd"):
            continue  # recorded as dosing
        if element == "itt_glucose":
            if not missing:
                itt = _itt_test(truth, state, lab, rng, fasting_today)
            continue
        value = _measure(element, truth, state, rng)
        if value is None or missing:
            continue
        if element == "fasting_glucose":
            fasting_today = value
        measurements.append(_measurement(element, value, lab))
    if safety and course.safety_labs is not None:  # their own stream: other values unchanged
        safety_rng, baseline = course.safety_labs
        for element, value in draw_visit(safety_rng, baseline, safety).items():
            measurements.append(Measurement(element, value, SAFETY_UNITS[element], value))
    has_dosing = "insulin_daily_dose" in wanted or "ogld_ddd" in wanted
    return tuple(measurements), itt, (dosing if has_dosing else None), findings


def _pregnancy_finding(candidate: Candidate) -> dict[str, str]:
    """A fertile woman's pregnancy test, recorded as negative (no pregnancy is simulated)."""
    if candidate.profile.sex == "F" and candidate.profile.fertile:
        return {"pregnancy_test": "negative"}
    return {}


def _itt_test(
    truth: dict[str, float],
    state: _State,
    lab: LabProfile,
    rng: np.random.Generator,
    fasting_today: float | None,
) -> IttTest:
    """The day's insulin tolerance test, starting from the fasting glucose measured today."""
    start = fasting_today or truth["mean_glucose_mmol_l"] * state.fasting_ratio
    kitt_today = truth["kitt"] * lognormal_factor(rng, KITT_TEST_RETEST_CV)
    curve = itt_curve(start * lognormal_factor(rng, 0.02), kitt_today, rng)
    unit = lab.unit_for("itt_glucose")
    return IttTest({t: as_reported("itt_glucose", g, unit) for t, g in curve.items()}, unit)


def _measurement(element: str, value: float, lab: LabProfile) -> Measurement:
    """`value` (canonical unit) as the participant's laboratory reports it."""
    unit = lab.unit_for(element)
    reported = as_reported(element, value, unit)
    return Measurement(element, reported, unit, to_canonical(element, reported, unit))


def _screening_visit(candidate: Candidate, visit: Visit, baseline: date) -> SimVisit:
    raw = candidate.raw
    measurements = []
    for element in _SCREENING_QUANTITIES:
        if element in raw:
            unit = str(raw[f"{element}_unit"])
            value = float(raw[element])
            measurements.append(
                Measurement(element, value, unit, to_canonical(element, value, unit))
            )
    itt = None
    if "itt_glucose" in raw:
        itt = IttTest(dict(raw["itt_glucose"]), str(raw["itt_glucose_unit"]))
    p = candidate.profile
    dosing = Dosing(p.insulin_u_per_day, dict(p.oral_drugs_mg_per_day), p.ogld_ddd)
    day = (candidate.screening_date - baseline).days
    findings = {"pregnancy_test": str(raw["pregnancy_test"])} if "pregnancy_test" in raw else {}
    return SimVisit(
        visit.code,
        visit.day,
        "done",
        candidate.screening_date,
        day,
        visit.earliest_day <= day <= visit.latest_day,
        False,
        tuple(measurements),
        itt,
        dosing,
        findings,
    )


@dataclass
class _Ending:
    end_on: date
    status: str
    reason: str | None


def _adverse_events(
    rng: np.random.Generator,
    params: FollowupParameters,
    baseline: date,
    transplant_on: date | None,
    *,
    ending: _Ending,
    usubjid: str,
) -> list[AdverseEvent]:
    """Events from baseline to the end of follow-up; deaths and AE withdrawals shorten it."""
    onsets = _onsets(rng, params, baseline, transplant_on, ending.end_on)
    events: list[AdverseEvent] = []
    for onset, kind in onsets:
        if onset > ending.end_on:
            break
        transplanted = transplant_on is not None and onset >= transplant_on
        ae_id = f"{usubjid}-AE{len(events) + 1:02d}"
        event = adverse.draw_event(rng, kind, onset, ae_id, transplanted)
        events.append(event)
        _end_after(rng, params, event, ending)
    return [adverse.censor(e, ending.end_on) for e in events if e.onset <= ending.end_on]


def _onsets(
    rng: np.random.Generator,
    params: FollowupParameters,
    baseline: date,
    transplant_on: date | None,
    end_on: date,
) -> list[tuple[date, AdverseEventType]]:
    """Onsets of every event type (infusion-related ones only if the infusion happens), sorted."""
    onsets: list[tuple[date, AdverseEventType]] = []
    for kind in params.event_types:
        if kind.per_infusion:
            if transplant_on is not None and transplant_on < end_on:
                onset = adverse.infusion_onset(rng, kind, transplant_on, params.ae_rate_multiplier)
                if onset is not None:
                    onsets.append((onset, kind))
        else:
            for onset in adverse.background_onsets(
                rng, kind, baseline, end_on, params.ae_rate_multiplier
            ):
                onsets.append((onset, kind))
    onsets.sort(key=lambda pair: (pair[0], pair[1].term))
    return onsets


def _end_after(
    rng: np.random.Generator, params: FollowupParameters, event: AdverseEvent, ending: _Ending
) -> None:
    """A fatal event (CTCAE grade 5) ends participation on its onset; a grade >= 3 event leads
    to withdrawal within two weeks in `params.ae_withdrawal_share` of cases."""
    onset = event.onset
    if event.grade == GRADE_DEATH:
        ending.end_on, ending.status, ending.reason = onset, DIED, DEATH
    elif event.grade >= GRADE_SEVERE and rng.random() < params.ae_withdrawal_share:
        stop = onset + timedelta(days=int(rng.integers(1, 15)))
        if stop < ending.end_on:
            ending.end_on, ending.status, ending.reason = stop, WITHDRAWN, ADVERSE_EVENT


def _infusion_terms(params: FollowupParameters) -> frozenset[str]:
    return frozenset(k.term for k in params.event_types if k.per_infusion)


def _dropout(
    rng: np.random.Generator, params: FollowupParameters, baseline: date, last_day: int
) -> _Ending:
    """Completion on the last visit's day, unless a constant-hazard dropout comes first."""
    ending = _Ending(baseline + timedelta(days=last_day), COMPLETED, None)
    if params.dropout_rate_per_year > 0:
        dropout_day = int(rng.exponential(365.25 / params.dropout_rate_per_year))
        if dropout_day < last_day:
            lost = rng.random() < params.lost_to_follow_up_share
            reason = LOST_TO_FOLLOW_UP if lost else WITHDRAWAL_BY_SUBJECT
            ending = _Ending(baseline + timedelta(days=dropout_day), WITHDRAWN, reason)
    return ending


@dataclass
class _Course:
    """Walks the planned visits up to the end of participation, generating each visit's data."""

    candidate: Candidate
    state: _State
    individual: IndividualEffect
    effect: Effect
    params: FollowupParameters
    baseline: date
    ending: _Ending
    transplanted: date | None = None
    safety_labs: tuple[np.random.Generator, SafetyBaseline] | None = None

    def visits(
        self,
        rng: np.random.Generator,
        plans: list[tuple[Visit, int, bool, bool]],
        transplant: Visit | None,
    ) -> list[SimVisit]:
        out: list[SimVisit] = []
        for visit, day, deviation, missed in plans:
            on = self.baseline + timedelta(days=day)
            ends_here = self.ending.status == COMPLETED and on == self.ending.end_on
            if on >= self.ending.end_on and not ends_here:
                break
            if missed:
                out.append(SimVisit(visit.code, visit.day, "missed"))
                continue
            if visit is transplant:
                self.transplanted = on
            out.append(self._done(rng, visit, day, on, deviation))
        return out

    def _done(
        self, rng: np.random.Generator, visit: Visit, day: int, on: date, deviation: bool
    ) -> SimVisit:
        f = 0.0
        if self.transplanted is not None:
            f = self.effect.fraction_at((on - self.transplanted).days)
        measurements, itt, dosing, findings = _visit_data(visit, day, f, self, rng)
        in_window = visit.earliest_day <= day <= visit.latest_day
        return SimVisit(
            visit.code, visit.day, "done", on, day, in_window, deviation, measurements, itt,
            dosing, findings,
        )  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class FollowupOptions:
    """How one participant is simulated: the trial's `seed` and the participant's `index` (its
    random streams), the follow-up `params` (default `FollowupParameters()`) and its site."""

    seed: int = 0
    index: int = 0
    params: FollowupParameters | None = None
    site: str | None = None


def simulate_followup(
    candidate: Candidate,
    usubjid: str,
    protocol: Protocol,
    effect: Effect = NO_EFFECT,
    *,
    options: FollowupOptions | None = None,
) -> Participant:
    """Simulate one enrolled participant from screening to the end of follow-up."""
    chosen = options or FollowupOptions()
    seed, index, site = chosen.seed, chosen.index, chosen.site
    params = chosen.params or FollowupParameters()
    if candidate.profile.insulin_u_per_day <= 0:
        raise ValueError(
            f"{candidate.candidate_id}: follow-up needs an insulin-treated participant "
            "(insulin_daily_dose > 0 at screening)"
        )
    rng = rng_for(seed, Stream.FOLLOWUP, index)
    ae_rng = rng_for(seed, Stream.ADVERSE_EVENTS, index)
    roles = schedule_roles(protocol)
    baseline = candidate.screening_date + timedelta(days=int(rng.integers(7, 29)))
    enrolled_on = baseline - timedelta(days=int(rng.integers(0, 4)))
    individual = effect.individual(rng)
    state = _initial_state(candidate, rng)
    plans = _plan(rng, roles, params)
    last_day = plans[-1][1] if plans else 0
    ending = _dropout(rng, params, baseline, last_day)
    transplant_plan = next((p for p in plans if p[0] is roles.transplant), None)
    transplant_on = baseline + timedelta(days=transplant_plan[1]) if transplant_plan else None
    events = _adverse_events(
        ae_rng, params, baseline, transplant_on, ending=ending, usubjid=usubjid
    )
    safety_rng = rng_for(seed, Stream.SAFETY_LABS, index)
    safety = (safety_rng, draw_baseline(safety_rng, candidate.profile.sex))
    course = _Course(candidate, state, individual, effect, params, baseline, ending, None, safety)
    visits = [_screening_visit(candidate, v, baseline) for v in roles.screening]
    visits += course.visits(rng, [(roles.baseline, 0, False, False), *plans], roles.transplant)
    transplanted = course.transplanted
    if transplanted is None:  # ended before the infusion: no infusion-related events
        infusion = _infusion_terms(params)
        events = [e for e in events if e.term not in infusion]
    return Participant(
        usubjid=usubjid,
        candidate=candidate,
        site=site or protocol.sites[0].code,
        enrolled_on=enrolled_on,
        baseline_date=baseline,
        transplanted_on=transplanted,
        visits=tuple(visits),
        adverse_events=tuple(events),
        status=ending.status,
        end_on=ending.end_on,
        end_reason=ending.reason,
        effect=individual,
    )


def as_of(participant: Participant, cut: date) -> Participant:
    """The participant as known at a data cut on `cut`: visits after it have not happened yet,
    events starting after it are unknown, events still open on it are unresolved, and a
    participation that ends later is ``ongoing``. A missed visit is known once its target day
    has passed."""
    if participant.end_on is not None and participant.end_on <= cut:
        return participant
    baseline = participant.baseline_date

    def known(v: SimVisit) -> bool:
        when = v.visit_date or baseline + timedelta(days=v.planned_day)
        return when <= cut

    events = tuple(adverse.censor(e, cut) for e in participant.adverse_events if e.onset <= cut)
    transplanted = participant.transplanted_on
    return replace(
        participant,
        visits=tuple(v for v in participant.visits if known(v)),
        adverse_events=events,
        transplanted_on=transplanted if transplanted is not None and transplanted <= cut else None,
        status=ONGOING,
        end_on=None,
        end_reason=None,
    )

"""A whole virtual trial in memory: screen candidates, enrol up to the target, follow them up.

`simulate_trial` is the pure counterpart of the driver in `trialdesk.simulate.run`: the same
candidates, the same eligibility verdicts (`trialdesk.eligibility.Evaluator`) and the same
follow-up, but no database. The analysis tests use it through `trialdesk.simulate.frames`, and
the driver replays it through the services layer so that the study database holds the same
trial with its audit trail.

Enrolment: eligible candidates, in order of screening, until the protocol's target enrolment
(24 for NCT01142050); later eligible candidates are screened but not enrolled (the target was
reached). Participant ids follow CDISC USUBJID practice, ``<study>-<site>-<number>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from trialdesk.eligibility import EligibilityResult, Evaluator, Status
from trialdesk.protocol import Protocol, builtin_protocol
from trialdesk.simulate.candidates import DEFAULT_START, Candidate, generate_candidates
from trialdesk.simulate.effect import NO_EFFECT, Effect
from trialdesk.simulate.followup import (
    COMPLETED,
    DIED,
    ONGOING,
    WITHDRAWN,
    FollowupOptions,
    FollowupParameters,
    Participant,
    simulate_followup,
)
from trialdesk.simulate.followup import as_of as cut_at
from trialdesk.simulate.population import ScreeningPopulation


@dataclass(frozen=True)
class Screened:
    """One candidate's screening: the eligibility verdict and whether they were enrolled."""

    candidate: Candidate
    result: EligibilityResult
    usubjid: str | None = None

    @property
    def enrolled(self) -> bool:
        return self.usubjid is not None


@dataclass(frozen=True)
class TrialCounts:
    """The one-screen summary of a run (participant flow and serious adverse events)."""

    screened: int
    eligible: int
    ineligible: int
    incomplete: int
    enrolled: int
    transplanted: int
    completed: int
    ongoing: int
    withdrawn: int
    died: int
    adverse_events: int
    serious_adverse_events: int


@dataclass(frozen=True)
class VirtualTrial:
    """A simulated trial: screening log, participants and the settings that produced them."""

    protocol: Protocol
    seed: int
    effect: Effect
    screening: tuple[Screened, ...]
    participants: tuple[Participant, ...]

    def counts(self) -> TrialCounts:
        statuses = [s.result.status for s in self.screening]
        events = [e for p in self.participants for e in p.adverse_events]
        return TrialCounts(
            screened=len(self.screening),
            eligible=statuses.count(Status.ELIGIBLE),
            ineligible=statuses.count(Status.INELIGIBLE),
            incomplete=statuses.count(Status.INCOMPLETE),
            enrolled=len(self.participants),
            transplanted=sum(p.transplanted_on is not None for p in self.participants),
            completed=sum(p.status == COMPLETED for p in self.participants),
            ongoing=sum(p.status == ONGOING for p in self.participants),
            withdrawn=sum(p.status == WITHDRAWN for p in self.participants),
            died=sum(p.status == DIED for p in self.participants),
            adverse_events=len(events),
            serious_adverse_events=sum(e.serious for e in events),
        )


def usubjid_for(protocol: Protocol, site: str, number: int) -> str:
    """CDISC-style unique subject id, e.g. ``NCT01142050-APGH-001``."""
    return f"{protocol.id}-{site}-{number:03d}"


def screen_candidates(
    candidates: list[Candidate], protocol: Protocol, target: int, *, stop_when_full: bool = False
) -> list[Screened]:
    """Evaluate every candidate; enrol eligible ones in screening order up to `target`.

    With `stop_when_full`, screening stops once the target is reached (as a site does when the
    study is fully enrolled); otherwise every candidate is screened."""
    evaluator = Evaluator(protocol)
    site = protocol.sites[0].code
    screened = []
    enrolled = 0
    for candidate in candidates:
        if stop_when_full and enrolled >= target:
            break
        result = evaluator.evaluate(candidate.raw, candidate.candidate_id, candidate.screening_date)
        usubjid = None
        if result.status is Status.ELIGIBLE and enrolled < target:
            enrolled += 1
            usubjid = usubjid_for(protocol, site, enrolled)
        screened.append(Screened(candidate, result, usubjid))
    return screened


@dataclass(frozen=True, kw_only=True)
class TrialOptions:
    """How a virtual trial is run: its enrolment `target` (default: the protocol's), the first
    screening date, the screened population, the follow-up parameters, a data cut (`as_of`)
    and whether screening stops once the target is reached."""

    target: int | None = None
    start: date = DEFAULT_START
    population: ScreeningPopulation | None = None
    followup: FollowupParameters | None = None
    as_of: date | None = None
    stop_when_full: bool = False


def simulate_trial(
    n_candidates: int = 120,
    seed: int = 0,
    effect: Effect = NO_EFFECT,
    protocol: Protocol | None = None,
    *,
    options: TrialOptions | None = None,
) -> VirtualTrial:
    """Screen `n_candidates`, enrol up to `target` (default: the protocol's target enrolment)
    and follow every participant for the protocol's schedule. Deterministic in `seed`.

    With `as_of`, the trial as known at a data cut on that date: candidates screened later are
    left out and participants' data end there (`trialdesk.simulate.followup.as_of`). With
    `stop_when_full`, screening stops when the target is reached."""
    protocol = protocol or builtin_protocol()
    chosen = options or TrialOptions()
    start, population, as_of = chosen.start, chosen.population, chosen.as_of
    target = protocol.target_enrollment if chosen.target is None else chosen.target
    if target < 0:
        raise ValueError(f"target: {target!r} is not a number of participants >= 0")
    candidates = generate_candidates(n_candidates, seed, start=start, population=population)
    if as_of is not None:
        candidates = [c for c in candidates if c.screening_date <= as_of]
    screened = screen_candidates(candidates, protocol, target, stop_when_full=chosen.stop_when_full)
    followed = (
        simulate_followup(
            s.candidate,
            s.usubjid,
            protocol,
            effect,
            options=FollowupOptions(seed=seed, index=s.candidate.index, params=chosen.followup),
        )
        for s in screened
        if s.usubjid is not None
    )
    participants = tuple(p if as_of is None else cut_at(p, as_of) for p in followed)
    return VirtualTrial(protocol, seed, effect, tuple(screened), participants)

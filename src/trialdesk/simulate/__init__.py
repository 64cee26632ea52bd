"""Virtual cohorts: dry-run the protocol and the analysis before the first patient.

Pure generators (numpy only, no database; deterministic in ``seed``):

* `generate_candidates` (`candidates`): screening records in the exact shape the eligibility
  evaluator and the screening forms take, with the true physiology behind each
  (`CandidateProfile`); distributions and sources in `population` and `physiology`.
* `simulate_followup` (`followup`): one enrolled participant's year along the protocol's
  schedule, with a configurable `Effect` (`effect`), dropouts and adverse events (`adverse`).
* `simulate_trial` (`trial`): the whole trial in memory; `source_frames` / `trial_frames`
  (`frames`) turn it into the analysis source frames.

The driver `trialdesk.simulate.run.run_simulation` writes the same trial into the study
database through `trialdesk.services` (import it explicitly: it needs the database layer).
"""

from trialdesk.simulate.adverse import AdverseEvent, AdverseEventType
from trialdesk.simulate.candidates import (
    DEFAULT_START,
    Candidate,
    CandidateProfile,
    generate_candidates,
)
from trialdesk.simulate.effect import (
    MODERATE,
    NO_EFFECT,
    STRONG,
    Effect,
    IndividualEffect,
    effect_preset,
)
from trialdesk.simulate.followup import (
    FollowupParameters,
    Participant,
    SimVisit,
    as_of,
    simulate_followup,
)
from trialdesk.simulate.frames import source_frames, trial_frames
from trialdesk.simulate.population import ConditionRisk, ScreeningPopulation
from trialdesk.simulate.trial import TrialCounts, VirtualTrial, simulate_trial

__all__ = [
    "DEFAULT_START",
    "MODERATE",
    "NO_EFFECT",
    "STRONG",
    "AdverseEvent",
    "AdverseEventType",
    "Candidate",
    "CandidateProfile",
    "ConditionRisk",
    "Effect",
    "FollowupParameters",
    "IndividualEffect",
    "Participant",
    "ScreeningPopulation",
    "SimVisit",
    "TrialCounts",
    "VirtualTrial",
    "as_of",
    "effect_preset",
    "generate_candidates",
    "simulate_followup",
    "simulate_trial",
    "source_frames",
    "trial_frames",
]

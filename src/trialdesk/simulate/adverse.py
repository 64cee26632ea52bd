"""Adverse events of simulated participants: CTCAE grade, ICH E2A seriousness, causality, outcome.

Two kinds of event:

* **after the infusion** (per transplantation, onset 0-3 days later): fever, infusion-related
  reaction, headache. Transient fever is the one adverse effect a meta-analysis of MSC trials
  found associated with the cells (Lalu et al., *PLoS One* 2012;7:e47559, SafeCell); the
  probabilities below are assumptions of that order.
* **background** events of insulin-treated type 2 diabetes, a Poisson process at a constant
  rate per participant-year from the baseline visit to the end of follow-up: hypoglycaemia
  (documented symptomatic events recorded as AEs; far below the 16 all-severity events and
  0.35 severe events per patient-year of insulin-treated T2DM in Donnelly et al., *Diabet Med*
  2005;22:749, because mild self-treated events are usually not recorded as AEs), infections,
  hyperglycaemia, and rare cardiovascular events. All rates are **assumptions** of plausible
  order, not estimates.

Terms are CTCAE v5.0 terms (NCI, 27 Nov 2017). Grades follow CTCAE: 1 mild ... 5 death.
Seriousness (ICH E2A, CPMP/ICH/377/95) is decided separately from severity: grade 5 -> death;
grade 4 -> life-threatening (and hospitalisation); otherwise hospitalisation (or its
prolongation) with a per-term, per-grade probability, or an important medical event.
Causality uses the WHO-UMC-style scale (Definite, Probable, Possible, Unlikely, Not related);
outcome and action taken use CDISC SDTM AEOUT and AEACN terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from trialdesk.derive.ctcae import (
    GRADE_DEATH,
    GRADE_LIFE_THREATENING,
    GRADE_MODERATE,
    GRADE_SEVERE,
)

SERIOUSNESS = (
    "death",
    "life_threatening",
    "hospitalisation",
    "disability",
    "congenital_anomaly",
    "important_medical_event",
)
RECOVERED = "RECOVERED/RESOLVED"
RECOVERING = "RECOVERING/RESOLVING"
NOT_RECOVERED = "NOT RECOVERED/NOT RESOLVED"
SEQUELAE = "RECOVERED/RESOLVED WITH SEQUELAE"
FATAL = "FATAL"

#: Grade 3-4 events that leave sequelae (assumption, see `draw_event`).
SEQUELAE_SHARE = 0.10
#: Grade >= 2 infusion reactions that interrupt the infusion (assumption, see `draw_event`).
INTERRUPTED_SHARE = 0.5
#: An event that resolves within this many days after the end of follow-up is "RECOVERING"
#: (assumption: the last contact already sees it improving).
RECOVERING_WITHIN_DAYS = 7
#: Rounding tolerance when probabilities must sum to 1.
_SUM_TOLERANCE = 1e-9


@dataclass(frozen=True)
class AdverseEventType:
    """How often one kind of event happens and how it presents.

    Exactly one of ``rate_per_year`` (background) and ``per_infusion`` (after the
    transplantation, onset ``onset_days`` after it) is > 0. ``grades`` are the probabilities of
    CTCAE grades 1-5; ``hospitalised`` the probability of (prolonged) hospitalisation at grades
    1-3 (grade 4 always, grade 5 as death); ``important_medical_event`` the probability that a
    non-hospitalised grade >= 3 event is still judged serious; ``related`` the causality terms
    with probabilities.
    """

    term: str
    grades: tuple[float, float, float, float, float]
    related: tuple[tuple[str, float], ...]
    median_duration_days: float
    rate_per_year: float = 0.0
    per_infusion: float = 0.0
    onset_days: tuple[int, int] = (0, 2)
    hospitalised: tuple[float, float, float] = (0.0, 0.0, 0.5)
    important_medical_event: float = 0.0

    def __post_init__(self) -> None:
        if abs(sum(self.grades) - 1.0) > _SUM_TOLERANCE or min(self.grades) < 0:
            raise ValueError(f"{self.term}: grade probabilities must be >= 0 and sum to 1")
        if abs(sum(p for _, p in self.related) - 1.0) > _SUM_TOLERANCE:
            raise ValueError(f"{self.term}: causality probabilities must sum to 1")
        if (self.rate_per_year > 0) == (self.per_infusion > 0):
            raise ValueError(f"{self.term}: give exactly one of rate_per_year and per_infusion")


_NOT_RELATED = (("Not related", 0.8), ("Unlikely", 0.2))

#: The default event table (see the module docstring for sources and assumptions).
DEFAULT_EVENT_TYPES: tuple[AdverseEventType, ...] = (
    AdverseEventType(
        "Fever", (0.80, 0.18, 0.02, 0.0, 0.0), (("Probable", 0.7), ("Possible", 0.3)), 2,
        per_infusion=0.12, onset_days=(0, 2), hospitalised=(0.0, 0.0, 1.0),
    ),
    AdverseEventType(
        "Infusion related reaction", (0.55, 0.38, 0.06, 0.01, 0.0), (("Definite", 1.0),), 1,
        per_infusion=0.05, onset_days=(0, 0), hospitalised=(0.0, 0.0, 0.8),
    ),
    AdverseEventType(
        "Headache", (0.85, 0.15, 0.0, 0.0, 0.0), (("Possible", 1.0),), 1,
        per_infusion=0.06, onset_days=(0, 3),
    ),
    AdverseEventType(
        "Hypoglycemia", (0.62, 0.30, 0.07, 0.01, 0.0), (("Unlikely", 0.8), ("Possible", 0.2)), 1,
        rate_per_year=0.8, hospitalised=(0.0, 0.0, 0.3), important_medical_event=0.5,
    ),
    AdverseEventType(
        "Upper respiratory infection", (0.75, 0.25, 0.0, 0.0, 0.0), _NOT_RELATED, 7,
        rate_per_year=0.45,
    ),
    AdverseEventType(
        "Urinary tract infection", (0.15, 0.70, 0.15, 0.0, 0.0), _NOT_RELATED, 10,
        rate_per_year=0.12, hospitalised=(0.0, 0.0, 0.6),
    ),
    AdverseEventType(
        "Lung infection", (0.0, 0.35, 0.55, 0.08, 0.02), (("Unlikely", 0.8), ("Possible", 0.2)),
        14, rate_per_year=0.02, hospitalised=(0.0, 0.2, 1.0),
    ),
    AdverseEventType(
        "Skin infection", (0.20, 0.60, 0.20, 0.0, 0.0), _NOT_RELATED, 10,
        rate_per_year=0.04, hospitalised=(0.0, 0.0, 0.7),
    ),
    AdverseEventType(
        "Hyperglycemia", (0.30, 0.50, 0.20, 0.0, 0.0), _NOT_RELATED, 5,
        rate_per_year=0.10, hospitalised=(0.0, 0.0, 0.5),
    ),
    AdverseEventType(
        "Diarrhea", (0.80, 0.20, 0.0, 0.0, 0.0), (("Not related", 0.6), ("Unlikely", 0.4)), 3,
        rate_per_year=0.10,
    ),
    AdverseEventType(
        "Arthralgia", (0.80, 0.20, 0.0, 0.0, 0.0), _NOT_RELATED, 14, rate_per_year=0.08,
    ),
    AdverseEventType(
        "Hypertension", (0.20, 0.60, 0.20, 0.0, 0.0), _NOT_RELATED, 30, rate_per_year=0.05,
        hospitalised=(0.0, 0.0, 0.2),
    ),
    AdverseEventType(
        "Myocardial infarction", (0.0, 0.0, 0.50, 0.35, 0.15), (("Unlikely", 1.0),), 14,
        rate_per_year=0.006, hospitalised=(0.0, 0.0, 1.0),
    ),
    AdverseEventType(
        "Stroke", (0.0, 0.10, 0.50, 0.30, 0.10), (("Unlikely", 1.0),), 30,
        rate_per_year=0.004, hospitalised=(0.0, 0.5, 1.0),
    ),
)  # fmt: skip


@dataclass(frozen=True)
class AdverseEvent:
    """One simulated adverse event (the `adverse_events` source-frame row, less the usubjid)."""

    ae_id: str
    term: str
    onset: date
    resolved: date | None
    grade: int
    serious: bool
    seriousness: tuple[str, ...]
    related: str
    outcome: str
    action: str

    @property
    def days_to_resolution(self) -> int | None:
        return None if self.resolved is None else (self.resolved - self.onset).days


def _pick(rng: np.random.Generator, options: tuple[tuple[str, float], ...]) -> str:
    index = int(rng.choice(len(options), p=[p for _, p in options]))
    return options[index][0]


def _seriousness(rng: np.random.Generator, kind: AdverseEventType, grade: int) -> tuple[str, ...]:
    if grade == GRADE_DEATH:
        return ("death",)
    if grade == GRADE_LIFE_THREATENING:
        return ("life_threatening", "hospitalisation")
    if rng.random() < kind.hospitalised[grade - 1]:
        return ("hospitalisation",)
    if grade >= GRADE_SEVERE and rng.random() < kind.important_medical_event:
        return ("important_medical_event",)
    return ()


def draw_event(
    rng: np.random.Generator, kind: AdverseEventType, onset: date, ae_id: str, transplanted: bool
) -> AdverseEvent:
    """One event of `kind` starting on `onset`; outcome as if followed to resolution.

    Durations are log-normal around the term's median (x 1.5 per grade above 1, SD of log 0.6;
    assumption).
    Grade 3-4 events leave sequelae in 10 % (assumption). Action taken with the study treatment
    (a single infusion): "DRUG INTERRUPTED" for half of grade >= 2 infusion reactions, "NOT
    APPLICABLE" after the transplantation, "DOSE NOT CHANGED" before it.
    """
    grade = int(rng.choice(5, p=kind.grades)) + 1
    seriousness = _seriousness(rng, kind, grade)
    related = _pick(rng, kind.related)
    if grade == GRADE_DEATH:
        resolved, outcome = None, FATAL
    else:
        median = kind.median_duration_days * 1.5 ** (grade - 1)
        resolved = onset + timedelta(days=int(round(median * np.exp(rng.normal(0.0, 0.6)))))
        outcome = SEQUELAE if grade >= GRADE_SEVERE and rng.random() < SEQUELAE_SHARE else RECOVERED
    if _interrupts(rng, kind, grade):
        action = "DRUG INTERRUPTED"
    elif transplanted:
        action = "NOT APPLICABLE"
    else:
        action = "DOSE NOT CHANGED"
    return AdverseEvent(
        ae_id, kind.term, onset, resolved, grade, bool(seriousness), seriousness, related,
        outcome, action,
    )  # fmt: skip


def _interrupts(rng: np.random.Generator, kind: AdverseEventType, grade: int) -> bool:
    """Half of the grade >= 2 infusion reactions interrupt the infusion (assumption)."""
    on_the_day = kind.per_infusion and kind.onset_days == (0, 0)
    return bool(on_the_day and grade >= GRADE_MODERATE and rng.random() < INTERRUPTED_SHARE)


def background_onsets(
    rng: np.random.Generator, kind: AdverseEventType, start: date, end: date, multiplier: float
) -> list[date]:
    """Onset dates of a Poisson process at ``rate_per_year x multiplier`` on [start, end]."""
    days = (end - start).days
    if days <= 0 or kind.rate_per_year <= 0:
        return []
    count = int(rng.poisson(kind.rate_per_year * multiplier * days / 365.25))
    offsets = sorted(int(x) for x in rng.integers(0, days + 1, size=count))
    return [start + timedelta(days=o) for o in offsets]


def infusion_onset(
    rng: np.random.Generator, kind: AdverseEventType, transplanted_on: date, multiplier: float
) -> date | None:
    """The onset of an infusion-related event of `kind`, or None if it does not happen."""
    if rng.random() >= min(1.0, kind.per_infusion * multiplier):
        return None
    low, high = kind.onset_days
    return transplanted_on + timedelta(days=int(rng.integers(low, high + 1)))


def censor(event: AdverseEvent, end_on: date) -> AdverseEvent:
    """The event as known at the participant's end of follow-up: unresolved if it resolves later."""
    if event.resolved is None or event.resolved <= end_on:
        return event
    outcome = (
        RECOVERING if (event.resolved - end_on).days <= RECOVERING_WITHIN_DAYS else NOT_RECOVERED
    )
    return AdverseEvent(
        event.ae_id, event.term, event.onset, None, event.grade, event.serious,
        event.seriousness, event.related, outcome, event.action,
    )  # fmt: skip

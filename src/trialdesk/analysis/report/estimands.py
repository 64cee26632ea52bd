"""The statistical analysis plan section: one estimand per outcome, generated from the protocol.

ICH E9(R1) (2019) [@ICH-E9], section A.3.2, describes an estimand by five attributes: the treatment,
the population, the variable (endpoint), the handling of intercurrent events (with the
strategy for each: treatment policy, hypothetical, composite, while on treatment, principal
stratum) and the population-level summary measure. The text below states, for each primary
outcome and each secondary outcome of the protocol, what `trialdesk.analysis` estimates; change
both together.
"""

from __future__ import annotations

from dataclasses import dataclass

from trialdesk.analysis.stats.mmrm import FALLBACK_TEXT
from trialdesk.derive import RESPONDER_THRESHOLD_PERCENT
from trialdesk.protocol import Protocol
from trialdesk.protocol.model import Outcome

#: Data elements that are themselves glucose-lowering treatment (their change is the outcome).
DOSE_ELEMENTS = frozenset({"insulin_daily_dose", "insulin_dose_per_kg", "ogld_ddd"})


@dataclass(frozen=True)
class IntercurrentEvent:
    event: str
    strategy: str  # one of ICH E9(R1)'s five strategies
    handling: str  # what that means for the analysis


@dataclass(frozen=True)
class Estimand:
    """One outcome's estimand, its five ICH E9(R1) attributes in words."""

    label: str  # "Primary 3: Hemoglobin A1c"
    treatment: str
    population: str
    variable: str
    intercurrent_events: list[IntercurrentEvent]
    summary_measure: str


def _population(protocol: Protocol, safety: bool) -> str:
    inclusion = sum(1 for c in protocol.criteria if c.kind == "inclusion")
    exclusion = len(protocol.criteria) - inclusion
    who = (
        f"{', '.join(protocol.conditions)}: participants meeting the protocol's {inclusion} "
        f"inclusion and {exclusion} exclusion criteria"
    )
    if safety:
        return f"{who} who received the transplantation (safety set)."
    return f"{who}, as enrolled (intention-to-treat set)."


_WITHDRAWAL = "Withdrawal or death before the primary visit"


def _continuous_events() -> list[IntercurrentEvent]:
    return [
        IntercurrentEvent(
            "Change of insulin or oral glucose-lowering drug dose",
            "treatment policy",
            "values are analysed whatever the dose taken (dose changes are part of the "
            "regimen being assessed).",
        ),
        IntercurrentEvent(
            _WITHDRAWAL,
            "hypothetical",
            "as if followed up: the mixed model uses every observed visit under missing at "
            "random; the paired tests use participants with both values.",
        ),
    ]


def _dose_events() -> list[IntercurrentEvent]:
    return [
        IntercurrentEvent(
            _WITHDRAWAL,
            "composite",
            "counted as not responding in the intention-to-treat responder proportion "
            "(missing = no); the observed-case proportion is reported beside it.",
        )
    ]


def _safety_events() -> list[IntercurrentEvent]:
    return [
        IntercurrentEvent(
            "Withdrawal or death during follow-up",
            "while on treatment",
            "events from the transplantation to the end of each participant's follow-up are "
            "counted; death is itself a serious adverse event (ICH E2A).",
        )
    ]


def _estimand(outcome: Outcome, kind: str, *, protocol: Protocol, visit: str, pct: int) -> Estimand:
    treatment = protocol.intervention.name
    label = f"{kind} {outcome.number}: {outcome.title}"
    variable = f"{outcome.measure}, at {visit} ({outcome.time_frame})"
    if outcome.source == "adverse_events":
        return Estimand(
            label, treatment, _population(protocol, safety=True), variable, _safety_events(),
            f"proportion of participants with at least one event, with the exact {pct}% "
            "Clopper–Pearson CI; event counts by CTCAE grade and ICH E2A criterion.",
        )  # fmt: skip
    if DOSE_ELEMENTS.intersection(outcome.elements):
        return Estimand(
            label, treatment, _population(protocol, safety=False), variable, _dose_events(),
            f"mean percent reduction of the U/kg/day dose with its {pct}% CI; proportion with "
            f"a reduction of at least {RESPONDER_THRESHOLD_PERCENT:g}% and proportion insulin "
            f"free, each with the exact {pct}% Clopper–Pearson CI.",
        )  # fmt: skip
    return Estimand(
        label, treatment, _population(protocol, safety=False), variable,
        _continuous_events(),
        f"mean change from baseline at {visit} estimated by the mixed model for repeated "
        f"measures (visit and baseline fixed effects, unstructured covariance, REML), with its "
        f"{pct}% CI by Kenward–Roger degrees of freedom; {FALLBACK_TEXT[0].lower()}"
        f"{FALLBACK_TEXT[1:]}, and the report names the structure used. Supportive: mean "
        f"paired difference ({pct}% CI, paired t-test) and the Wilcoxon signed-rank test.",
    )  # fmt: skip


def estimands(protocol: Protocol, visit: str, level: float = 0.95) -> list[Estimand]:
    """An estimand for each primary outcome, then each secondary outcome, in protocol order.

    `visit` names the primary time point (e.g. "Month 12"); `level` the confidence level.
    """
    pct = round(level * 100)
    found = [
        _estimand(o, "Primary", protocol=protocol, visit=visit, pct=pct)
        for o in sorted(protocol.primary_outcomes, key=lambda o: o.number)
    ]
    found += [
        _estimand(o, "Secondary", protocol=protocol, visit=visit, pct=pct)
        for o in sorted(protocol.secondary_outcomes, key=lambda o: o.number)
    ]
    return found

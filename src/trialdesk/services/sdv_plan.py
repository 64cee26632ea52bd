"""Which forms a monitor must verify against source: risk-based selection.

Risk-based monitoring (ICH E6(R2) 5.18.3; FDA "Oversight of Clinical Investigations - A
Risk-Based Approach to Monitoring", 2013) verifies the critical data in full and samples the
rest:

* 100 % of the eligibility data: every form of the screening visit;
* 100 % of the primary-outcome data: each form holding an element of a primary outcome (or an
  input of a derived one: KITT from the ITT glucose series);
* 100 % of serious adverse events: the AE form where a serious event is reported;
* of every other form with data, the protocol's ``sdv_sample_percent``.

The sample is drawn per form, not per list: a form is in it when the SHA-256 of
``"<sdv_sample_seed>:<study id>:<visit>:<form>"``, read as a number, falls below that share of
all numbers. The draw is deterministic (the same form is always in or out for a given seed),
needs no stored state, and does not change when other participants or visits are added; anyone
can recompute it from the protocol's parameters.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from trialdesk.catalogue import Catalogue
from trialdesk.protocol import Protocol
from trialdesk.services.crf_forms import SCREENING_VISIT, forms_of_elements

SAMPLE_PARAMETER = "sdv_sample_percent"
SEED_PARAMETER = "sdv_sample_seed"
DEFAULT_SAMPLE_PERCENT = 20.0  # used when the protocol names no share (the built-in one does)
DEFAULT_SEED = 0
HASH_SPACE = 2**256  # SHA-256 values range over [0, 2**256)
PERCENT = 100.0


class SdvReason(StrEnum):
    ELIGIBILITY = "eligibility"
    PRIMARY_OUTCOME = "primary outcome"
    SERIOUS_ADVERSE_EVENT = "serious adverse event"
    SAMPLE = "sample"


@dataclass(frozen=True)
class SdvPlan:
    sample_percent: float
    seed: int
    outcome_forms: dict[str, frozenset[str]]  # visit code → forms holding primary-outcome data


def sdv_plan(protocol: Protocol, catalogue: Catalogue) -> SdvPlan:
    params = protocol.parameters
    percent = params[SAMPLE_PARAMETER].value if SAMPLE_PARAMETER in params else None
    seed = params[SEED_PARAMETER].value if SEED_PARAMETER in params else DEFAULT_SEED
    elements = {e for o in protocol.primary_outcomes for e in o.elements}
    outcome_forms = {}
    for visit in protocol.schedule:
        measured = [a for a in visit.assessments if a in elements or _feeds(a, elements, catalogue)]
        outcome_forms[visit.code] = frozenset(forms_of_elements(measured, catalogue)) & set(
            visit.forms
        )
    return SdvPlan(DEFAULT_SAMPLE_PERCENT if percent is None else percent, int(seed), outcome_forms)


def _feeds(assessment: str, outcomes: set[str], catalogue: Catalogue) -> bool:
    """Is `assessment` an input of a derived outcome element (itt_glucose → kitt)?"""
    return any(
        name in catalogue and assessment in catalogue[name].derived_from for name in outcomes
    )


def in_sample(plan: SdvPlan, study_id: str, visit_code: str, form: str) -> bool:
    digest = hashlib.sha256(f"{plan.seed}:{study_id}:{visit_code}:{form}".encode()).digest()
    return int.from_bytes(digest, "big") < HASH_SPACE * plan.sample_percent / PERCENT


def sdv_reason(
    plan: SdvPlan, study_id: str, visit_code: str, form: str, *, serious: bool
) -> SdvReason | None:
    """Why a form with data must be verified (None: not selected)."""
    if visit_code == SCREENING_VISIT:
        return SdvReason.ELIGIBILITY
    if form in plan.outcome_forms.get(visit_code, frozenset()):
        return SdvReason.PRIMARY_OUTCOME
    if serious:
        return SdvReason.SERIOUS_ADVERSE_EVENT
    return SdvReason.SAMPLE if in_sample(plan, study_id, visit_code, form) else None

"""Eligibility: the protocol's criteria evaluated per candidate, three-valued and explained."""

from trialdesk.eligibility.evaluate import Evaluator, evaluate
from trialdesk.eligibility.result import (
    CriterionResult,
    EligibilityResult,
    Status,
    Truth,
    ValueUsed,
)
from trialdesk.eligibility.values import (
    CandidateInputError,
    InputError,
    Series,
    coerce,
    coerce_record,
)

__all__ = [
    "CandidateInputError",
    "CriterionResult",
    "EligibilityResult",
    "Evaluator",
    "InputError",
    "Series",
    "Status",
    "Truth",
    "ValueUsed",
    "coerce",
    "coerce_record",
    "evaluate",
]

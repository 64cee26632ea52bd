"""Statistics on the analysis datasets (pure: arrays and DataFrames in, results out).

Every function is a thin, documented layer over scipy or statsmodels (the MMRM's REML fit
is our own, checked against R's nlme in the tests), so an independent
calculation with those libraries on the same numbers gives the same result (the tests do this).
"""

from trialdesk.analysis.stats.descriptive import Summary, compute_mean_ci, compute_summary
from trialdesk.analysis.stats.mmrm import (
    LikelihoodRatio,
    MmrmResult,
    VisitEstimate,
    compare_covariances,
    fit_mmrm,
)
from trialdesk.analysis.stats.paired import PairedResult, compute_paired_tests
from trialdesk.analysis.stats.proportions import Proportion, compute_proportion

__all__ = [
    "LikelihoodRatio",
    "MmrmResult",
    "PairedResult",
    "Proportion",
    "Summary",
    "VisitEstimate",
    "compare_covariances",
    "compute_mean_ci",
    "compute_paired_tests",
    "compute_proportion",
    "compute_summary",
    "fit_mmrm",
]

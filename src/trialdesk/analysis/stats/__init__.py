"""Statistics on the analysis datasets (pure: arrays and DataFrames in, results out).

Every function is a thin, documented layer over scipy or statsmodels, so an independent
calculation with those libraries on the same numbers gives the same result (the tests do this).
"""

from trialdesk.analysis.stats.descriptive import Summary, compute_mean_ci, compute_summary
from trialdesk.analysis.stats.mmrm import MmrmResult, VisitEstimate, fit_mmrm
from trialdesk.analysis.stats.paired import PairedResult, compute_paired_tests
from trialdesk.analysis.stats.proportions import Proportion, compute_proportion

__all__ = [
    "MmrmResult",
    "PairedResult",
    "Proportion",
    "Summary",
    "VisitEstimate",
    "compute_mean_ci",
    "compute_paired_tests",
    "compute_proportion",
    "compute_summary",
    "fit_mmrm",
]

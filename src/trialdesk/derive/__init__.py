"""Pure clinical derivations (no I/O): KITT, HOMA, BMI, age, insulin and OGLD doses, the dose in
effect on a date from a regimen of dated dose records.

Every function validates its inputs and raises `DerivationError` (a `ValueError`) naming the
offending argument and value. Formulas, units and sources are in each function's docstring and
in docs/references.md (ITT/KITT, HOMA, insulin dose). Names follow pharmaverse
admiral (``compute_<concept>``).
"""

from trialdesk.derive.anthropometry import compute_bmi
from trialdesk.derive.demography import compute_age
from trialdesk.derive.dosing import (
    RESPONDER_THRESHOLD_PERCENT,
    WHO_DDD_MG,
    DoseReduction,
    compute_daily_insulin_dose_per_kg,
    compute_dose_reduction,
    compute_ogld_ddd_total,
    compute_percent_change,
    compute_percent_reduction,
)
from trialdesk.derive.errors import DerivationError
from trialdesk.derive.homa import compute_homa_b, compute_homa_ir
from trialdesk.derive.itt import (
    KITT_WINDOW_MIN,
    compute_itt_half_life,
    compute_kitt,
    is_insulin_resistant,
)
from trialdesk.derive.regimen import (
    DoseRecord,
    compute_dose_in_effect,
    compute_total_dose_in_effect,
)

__all__ = [
    "KITT_WINDOW_MIN",
    "RESPONDER_THRESHOLD_PERCENT",
    "WHO_DDD_MG",
    "DerivationError",
    "DoseRecord",
    "DoseReduction",
    "compute_age",
    "compute_bmi",
    "compute_daily_insulin_dose_per_kg",
    "compute_dose_in_effect",
    "compute_dose_reduction",
    "compute_homa_b",
    "compute_homa_ir",
    "compute_itt_half_life",
    "compute_kitt",
    "compute_ogld_ddd_total",
    "compute_percent_change",
    "compute_percent_reduction",
    "compute_total_dose_in_effect",
    "is_insulin_resistant",
]

"""One rounding rule for every reported result: the catalogue's reporting precision.

A value converted between units (176.6 mg/dL → 9.80199… mmol/L) or computed in floating point
(4.832479999999999) is reported to the decimal places of its element
(`DataElement.reported_decimals`), rounding half away from zero as printed laboratory reports
do (Python's round-half-even would report 0.125 as 0.12, not 0.13). Stored values keep their
full precision; only exports round.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

# Numbers without a catalogue precision (ratios, doses in derived units) are reported with at
# most this many decimals: enough for any quantity the trial records, never a float artefact.
DEFAULT_DECIMALS = 4


def round_reported(value: float, decimals: int | None) -> float:
    """`value` rounded half away from zero to `decimals` places (DEFAULT_DECIMALS when None)."""
    if not math.isfinite(value):
        return value
    places = DEFAULT_DECIMALS if decimals is None else decimals
    exact = Decimal(repr(float(value)))
    return float(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))

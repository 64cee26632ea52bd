"""The catalogue's hard limits as one check, shared by every entry path.

A value outside a hard limit is physiologically impossible (range checks at data collection,
[@CDASHIG], as REDCap's validation min/max; EU GMP Annex 11 §6 asks for built-in checks of data
entered manually): it is most
often a unit mistake (a glucose of 100 "mmol/L" that is really 100 mg/dL, an HbA1c of 53 "%"
that is really 53 mmol/mol) and is refused wherever it enters — the `trialdesk screen` command,
the web form, the API and file imports — with the same message.
"""

from __future__ import annotations

from trialdesk.catalogue.model import DataElement


def hard_limit_reason(element: DataElement, canonical: float, shown: str) -> str | None:
    """Why `canonical` (in the element's canonical unit) is impossible, or None when it is not.

    `shown` is the value as entered ("100 mmol/L"); the canonical value is added when the unit
    differs, so that the site sees what was compared.
    """
    limits, unit = element.limits, element.canonical_unit or ""
    too_low = limits.hard_low is not None and canonical < limits.hard_low
    too_high = limits.hard_high is not None and canonical > limits.hard_high
    if not (too_low or too_high):
        return None
    in_canonical = f" (= {canonical:.4g} {unit})" if not shown.endswith(f" {unit}") else ""
    low = "" if limits.hard_low is None else f"{limits.hard_low:g}"
    high = "" if limits.hard_high is None else f"{limits.hard_high:g}"
    return (
        f"{shown}{in_canonical} is {'below' if too_low else 'above'} the physiologically "
        f"possible range {low}–{high} {unit} (hard limit): check the value and its unit"
    )

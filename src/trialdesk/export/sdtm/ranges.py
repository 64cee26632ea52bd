"""LB normal ranges from the site's laboratory range table (`catalogue.lab_ranges`):
LBORNRLO/LBORNRHI in the original unit (as text), LBSTNRLO/LBSTNRHI in the standard unit and
LBNRIND (CDISC CT "Reference Range Indicator": LOW, NORMAL, HIGH) from the standard result
(SDTMIG v3.4 §6.3.5.3 LB Assumptions 6-7). A range converts between units like a result
(`trialdesk.units.convert`), bounds rounded to the unit's reporting precision."""

from __future__ import annotations

from typing import Any

from trialdesk.catalogue import DataElement
from trialdesk.catalogue.lab_ranges import LabRange
from trialdesk.catalogue.precision import round_reported
from trialdesk.export.values import format_number
from trialdesk.units.convert import UnitError, convert, quantity, reporting_decimals


def range_fields(
    element: DataElement, lab: LabRange | None, *, orresu: str | None, stres: float | None
) -> dict[str, Any]:
    """The LB range variables of one result; empty without a range or a standard unit."""
    unit = element.canonical_unit
    if lab is None or unit is None:
        return {}
    low, high = (_in_unit(element, b, lab.unit, unit) for b in (lab.low, lab.high))
    original = orresu or unit
    out: dict[str, Any] = {
        "LBSTNRLO": low,
        "LBSTNRHI": high,
        "LBORNRLO": _text(_in_unit(element, low, unit, original)),
        "LBORNRHI": _text(_in_unit(element, high, unit, original)),
    }
    if stres is not None:
        out["LBNRIND"] = indicator(stres, low, high)
    return out


def indicator(value: float, low: float | None, high: float | None) -> str:
    if low is not None and value < low:
        return "LOW"
    if high is not None and value > high:
        return "HIGH"
    return "NORMAL"


def _in_unit(element: DataElement, value: float | None, source: str, target: str) -> float | None:
    if value is None:
        return None
    if source == target:
        return value
    try:
        converted = convert(
            quantity(value, source, analyte=element.analyte), target, analyte=element.analyte
        )
    except UnitError:
        return None  # the original unit cannot express the range: left empty, never guessed
    return round_reported(float(converted.magnitude), reporting_decimals(converted.units))


def _text(value: float | None) -> str | None:
    return None if value is None else format_number(value)

"""Edit checks from the catalogue: every entered quantity is converted to the element's
canonical unit (`trialdesk.units.convert`) and compared with `DataElement.limits`.

* outside a **hard** limit (physiologically impossible) → refused (`ValidationProblem`,
  rule ``hard_limit``), nothing is stored;
* outside a **soft** limit (possible but unusual) → accepted, and the service raises a data
  query automatically so that the site confirms or corrects the value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from trialdesk.catalogue import DataElement, ElementKind, hard_limit_reason
from trialdesk.eligibility import InputError, coerce
from trialdesk.services.errors import ValidationProblem
from trialdesk.services.study import current_catalogue
from trialdesk.units.convert import UnitError, convert, format_unit, quantity
from trialdesk.units.numbers import AmbiguousNumber, NumberError, parse_number


@dataclass(frozen=True)
class CheckedValue:
    element: DataElement
    value_as_entered: str
    unit_as_entered: str | None
    value: float | None  # canonical
    unit: str | None  # canonical
    text_value: str | None
    flag: str | None  # "low" / "high" outside a soft limit
    query_text: str | None


def element_for_entry(
    name: str, *, allow: tuple[ElementKind, ...], session: Session | None = None
) -> DataElement:
    """The catalogue element `name` (with the stored protocol's own elements, given a session)."""
    catalogue = current_catalogue(session)
    if name not in catalogue:
        raise ValidationProblem("element", f"{name!r} is not a data element of the catalogue")
    element = catalogue[name]
    if element.is_derived:
        raise ValidationProblem(
            "element",
            f"{name} is derived from {', '.join(element.derived_from)}; record those instead",
        )
    if element.kind not in allow:
        kinds = " or ".join(k.value for k in allow)
        raise ValidationProblem("element", f"{name} is a {element.kind.value}, not a {kinds}")
    return element


def _number_text(raw: Any) -> str:
    if isinstance(raw, str):
        text = raw.strip()
        try:
            parse_number(text)  # "1 000 000" is one number: keep it whole
            return text
        except NumberError:
            return text.split()[0] if text else raw
    return repr(float(raw)) if isinstance(raw, float) else str(raw)


def possible(element: DataElement, unit: str | None) -> Callable[[float], bool] | None:
    """Whether a number typed in `unit` is within the element's hard limits (None when the
    unit is not known: no reading can then be preferred)."""
    unit = unit or (element.units[0] if len(element.units) == 1 else None)
    if unit is None or element.canonical_unit is None:
        return None
    low, high = element.limits.hard_low, element.limits.hard_high

    def within(value: float) -> bool:
        try:
            q = quantity(value, unit, analyte=element.analyte)
            canonical = float(convert(q, element.canonical_unit or "", analyte=element.analyte).m)
        except UnitError:
            return False
        return (low is None or canonical >= low) and (high is None or canonical <= high)

    return within


def unambiguous(element: DataElement, raw: Any, unit: str | None) -> Any:
    """`raw`, or the one possible reading of an ambiguous "5,500" (`units.numbers`): the same
    rule for every path a value comes in by (web page, API, imports)."""
    if not isinstance(raw, str) or element.kind is not ElementKind.QUANTITY:
        return raw
    try:
        parse_number(raw)
        return raw
    except AmbiguousNumber:
        plausible = possible(element, unit)
    except NumberError:
        return raw  # e.g. "8.1 %", a number with its unit: coerce reads it
    try:
        return repr(parse_number(raw, plausible=plausible)) if plausible else raw
    except NumberError:
        return raw  # both readings possible (or neither): coerce refuses, naming both


def check_value(element: DataElement, raw: Any, unit: str | None) -> CheckedValue:
    """Parse, convert and limit-check one entered value of `element`."""
    try:
        parsed = coerce(element, unambiguous(element, raw, unit), unit)
    except InputError as exc:
        raise ValidationProblem(element.name, exc.reason, rule=exc.rule) from None
    if parsed is None:
        raise ValidationProblem(element.name, "a value is required")
    if element.kind is ElementKind.CATEGORY:
        return CheckedValue(element, str(parsed), None, None, None, str(parsed), None, None)
    canonical_unit = element.canonical_unit or ""
    try:
        canonical = float(
            convert(parsed, canonical_unit, analyte=element.analyte, field=element.name).magnitude
        )
    except UnitError as exc:
        raise ValidationProblem(element.name, str(exc).removeprefix(f"{element.name}: ")) from None
    entered_unit = format_unit(parsed.units)
    shown = f"{_number_text(raw)} {entered_unit}"
    flag, query = limit_check(element, canonical, shown)
    return CheckedValue(
        element, _number_text(raw), entered_unit, canonical, canonical_unit, None, flag, query
    )


def limit_check(
    element: DataElement, canonical: float, shown: str
) -> tuple[str | None, str | None]:
    """Hard limits raise; soft limits return ("low"|"high", query text) or (None, None)."""
    limits, unit = element.limits, element.canonical_unit or ""
    in_canonical = f" (= {canonical:.4g} {unit})" if not shown.endswith(f" {unit}") else ""
    impossible = hard_limit_reason(element, canonical, shown)
    if impossible is not None:
        raise ValidationProblem(element.name, impossible, rule="hard_limit")
    if limits.soft_low is not None and canonical < limits.soft_low:
        return "low", (
            f"{element.label}: {shown}{in_canonical} is below the expected range (soft limit "
            f"{limits.soft_low:g} {unit}); please confirm or correct"
        )
    if limits.soft_high is not None and canonical > limits.soft_high:
        return "high", (
            f"{element.label}: {shown}{in_canonical} is above the expected range (soft limit "
            f"{limits.soft_high:g} {unit}); please confirm or correct"
        )
    return None, None


def soft_flag(element_name: str, canonical: float | None) -> str | None:
    """'low'/'high' for a stored canonical value outside the soft limits (for views)."""
    catalogue = current_catalogue()
    if canonical is None or element_name not in catalogue:
        return None
    limits = catalogue[element_name].limits
    if limits.soft_low is not None and canonical < limits.soft_low:
        return "low"
    if limits.soft_high is not None and canonical > limits.soft_high:
        return "high"
    return None

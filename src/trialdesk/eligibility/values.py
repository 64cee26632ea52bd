"""Turning raw candidate input (CSV cells, JSON values, form fields) into typed values.

Quantities keep the unit they were entered in; a number without a unit is refused (no silent
assumption), except for elements whose only accepted unit is unambiguous (e.g. year).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np

from trialdesk.catalogue import Catalogue, DataElement, ElementKind, hard_limit_reason
from trialdesk.units import Quantity
from trialdesk.units.convert import UnitError, convert, format_unit, parse_quantity, quantity


class InputError(ValueError):
    """One bad input value: names the field and the reason; `rule` is the services' code."""

    def __init__(self, field: str, reason: str, rule: str = "invalid_value") -> None:
        self.field = field
        self.reason = reason
        self.rule = rule
        super().__init__(f"{field}: {reason}")


HARD_LIMIT_RULE = "hard_limit"
#: Diabetes types that are not type 2 (catalogue `diabetes_type`, WHO 1999 classification).
OTHER_DIABETES_TYPES = frozenset({"type_1", "other_specified"})
TYPE_2 = "type_2"


class CandidateInputError(ValueError):
    """All bad values of one candidate, so that a form can show every error at once."""

    def __init__(self, errors: list[InputError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


@dataclass(frozen=True)
class Series:
    """Timed samples (e.g. ITT glucose): times in minutes, values as one pint quantity array."""

    times: tuple[float, ...]
    values: Any  # pint Quantity wrapping a tuple of magnitudes

    def __str__(self) -> str:
        unit = format_unit(self.values.units)
        pairs = ", ".join(
            f"{t:g}′ {v:g}" for t, v in zip(self.times, self.values.magnitude, strict=True)
        )
        return f"[{pairs}] {unit}"


_TRUE = {"true", "yes", "y", "1", "t"}
_FALSE = {"false", "no", "n", "0", "f"}


def _boolean(element: DataElement, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InputError(element.name, f"{raw!r} is not yes/no (use true/false, yes/no or 1/0)")


def _date(element: DataElement, raw: Any) -> date:
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw).strip())
    except ValueError:
        raise InputError(element.name, f"{raw!r} is not an ISO 8601 date (YYYY-MM-DD)") from None


def _category(element: DataElement, raw: Any) -> str:
    """One of the element's choices; case, and spaces or hyphens for underscores, do not
    matter ("Type 1" is type_1), since choice codes cannot hold spaces (CRF exports)."""
    text = _choice_key(str(raw))
    for choice in element.choices:
        if text == _choice_key(choice):
            return choice
    raise InputError(element.name, f"{raw!r} is not one of {', '.join(element.choices)}")


def _choice_key(text: str) -> str:
    return "_".join(text.strip().lower().replace("-", " ").split())


def _quantity(element: DataElement, raw: Any, unit: str | None) -> Any:
    default = element.units[0] if len(element.units) == 1 else None
    try:
        if hasattr(raw, "units"):
            q = raw
        elif unit:
            q = quantity(raw, unit, analyte=element.analyte, field=element.name)
        elif isinstance(raw, int | float):
            if default is None:
                raise InputError(
                    element.name, f"{raw!r} has no unit (use one of {', '.join(element.units)})"
                )
            q = quantity(raw, default, analyte=element.analyte, field=element.name)
        else:
            q = parse_quantity(
                str(raw), analyte=element.analyte, field=element.name, default_unit=default
            )
        canonical = convert(
            q, element.canonical_unit or "", analyte=element.analyte, field=element.name
        )
    except UnitError as exc:
        raise InputError(element.name, str(exc).removeprefix(f"{element.name}: ")) from None
    _within_hard_limits(element, float(canonical.magnitude), _shown(q))
    return q


def _shown(q: Any) -> str:
    return f"{float(q.magnitude):g} {format_unit(q.units)}"


def _within_hard_limits(
    element: DataElement, canonical: float, shown: str, where: str = ""
) -> None:
    """The catalogue's hard limits (`trialdesk.catalogue.limits`): one check for every path."""
    reason = hard_limit_reason(element, canonical, shown)
    if reason is not None:
        raise InputError(element.name, where + reason, HARD_LIMIT_RULE)


#: A sample is a (minute, value) pair.
_PAIR = 2


def _series(element: DataElement, raw: Any, unit: str | None) -> Series:
    """Samples as {"0": 9.9, "3": 9.7} or [[0, 9.9], ...] or "0:9.9; 3:9.7" (minutes:value)."""
    if isinstance(raw, Series):
        return raw
    pairs = _sample_pairs(raw)
    if not unit:
        raise InputError(element.name, f"samples need a unit (one of {', '.join(element.units)})")
    times, values = _sample_numbers(element, pairs)
    units = _unit_of(element, unit)
    for t, v in zip(times, values, strict=True):
        sample = Quantity(v, units)
        canonical = convert(sample, element.canonical_unit or "", analyte=element.analyte)
        _within_hard_limits(
            element, float(canonical.magnitude), _shown(sample), f"sample at {t:g} min: "
        )
    return Series(tuple(times), Quantity(np.asarray(values, dtype=float), units))


def _sample_pairs(raw: Any) -> list[tuple[Any, ...]]:
    """The raw samples as a list of tuples, from a mapping, a "minute:value; …" text or pairs."""
    if isinstance(raw, Mapping):
        return list(raw.items())
    if isinstance(raw, str):
        return [tuple(p.split(":", 1)) for p in raw.replace(",", ";").split(";") if p.strip()]
    return [tuple(p) for p in raw]


def _sample_numbers(
    element: DataElement, pairs: list[tuple[Any, ...]]
) -> tuple[list[float], list[float]]:
    """Times and values as finite floats; a bad sample is refused by its number."""
    times, values = [], []
    for i, pair in enumerate(pairs):
        if len(pair) != _PAIR:
            raise InputError(element.name, f"sample {i + 1} is not a (minute, value) pair")
        try:
            t, v = float(pair[0]), float(pair[1])
        except (TypeError, ValueError):
            raise InputError(element.name, f"sample {i + 1} {pair!r} is not numeric") from None
        if not (math.isfinite(t) and math.isfinite(v)):
            raise InputError(element.name, f"sample {i + 1} {pair!r} is not finite")
        times.append(t)
        values.append(v)
    return times, values


def _unit_of(element: DataElement, unit: str) -> Any:
    """The pint unit of `unit`, refused (naming the element) when it does not fit it."""
    try:
        q = quantity(1.0, unit, analyte=element.analyte, field=element.name)
        convert(q, element.canonical_unit or "", analyte=element.analyte, field=element.name)
    except UnitError as exc:
        raise InputError(element.name, str(exc).removeprefix(f"{element.name}: ")) from None
    return q.units


def coerce(element: DataElement, raw: Any, unit: str | None = None) -> Any:
    """One raw value as the element's type; `None`/"" means not recorded."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    kind = element.kind
    if kind is ElementKind.BOOLEAN:
        return _boolean(element, raw)
    if kind is ElementKind.DATE:
        return _date(element, raw)
    if kind is ElementKind.CATEGORY:
        return _category(element, raw)
    if kind is ElementKind.SERIES:
        return _series(element, raw, unit)
    return _quantity(element, raw, unit)


def coerce_record(catalogue: Catalogue, raw: Mapping[str, Any]) -> dict[str, Any]:
    """A candidate's raw fields as typed values. `<name>_unit` keys carry units.

    Unknown fields are refused (a misspelt column must not silently become "missing").
    """
    errors: list[InputError] = []
    values: dict[str, Any] = {}
    for key, raw_value in raw.items():
        if key.endswith("_unit") and key.removesuffix("_unit") in catalogue:
            continue
        if key in ("id", "candidate_id", "subject_id"):
            continue
        if key not in catalogue:
            errors.append(InputError(key, "unknown data element"))
            continue
        unit = raw.get(f"{key}_unit") or None
        try:
            value = coerce(catalogue[key], raw_value, str(unit) if unit else None)
        except InputError as exc:
            errors.append(exc)
            continue
        if value is not None:
            values[key] = value
    if errors:
        raise CandidateInputError(errors)
    return values


def check_record(values: Mapping[str, Any], today: date) -> None:
    """Contradictions within one record are input errors, not "incomplete": the record is
    wrong and must be corrected. Checked: a date of birth after the screening date (or,
    without one, after today); a recorded type 2 diagnosis with another diabetes type."""
    errors = [e for e in (_birth_after(values, today), _type_contradiction(values)) if e]
    if errors:
        raise CandidateInputError(errors)


def _birth_after(values: Mapping[str, Any], today: date) -> InputError | None:
    born = values.get("date_of_birth")
    if not isinstance(born, date):
        return None
    screened = values.get("screening_date")
    limit, what = (
        (screened, "the screening date") if isinstance(screened, date) else (today, "today")
    )
    if born > limit:
        return InputError("date_of_birth", f"{born.isoformat()} is after {what} ({limit})")
    return None


def _type_contradiction(values: Mapping[str, Any]) -> InputError | None:
    kind = values.get("diabetes_type")
    if values.get("t2dm_diagnosis") is True and kind in OTHER_DIABETES_TYPES:
        return InputError(
            "diabetes_type",
            f"{kind!r} contradicts the recorded type 2 diabetes diagnosis (t2dm_diagnosis: yes)",
        )
    return None


def with_implied_diabetes_type(values: Mapping[str, Any]) -> dict[str, Any]:
    """A recorded type 2 diagnosis is a recorded diabetes type: `diabetes_type` is type 2 when
    `t2dm_diagnosis` is yes and no type was entered (never stored, only used to judge)."""
    out = dict(values)
    if out.get("t2dm_diagnosis") is True and "diabetes_type" not in out:
        out["diabetes_type"] = TYPE_2
    return out

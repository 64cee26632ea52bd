"""Small input checks shared by the services; each failure names the field."""

from __future__ import annotations

import math
from datetime import date
from enum import Enum
from typing import TypeVar

from trialdesk.services.errors import ValidationProblem
from trialdesk.store.types import utcnow

FREE_TEXT_MAX_CHARS = 4000
"""Longest free text (descriptions, reasons, comments) a record keeps; the web forms use the
same limit."""

E = TypeVar("E", bound=Enum)


def today() -> date:
    """Today's date in UTC (the reference for "not in the future")."""
    return utcnow().date()


def not_after_today(value: date, field: str) -> date:
    if not isinstance(value, date):
        raise ValidationProblem(field, f"{value!r} is not a date (YYYY-MM-DD)")
    # One day of slack: a site east of UTC may already be on the next calendar day.
    if (value - today()).days > 1:
        raise ValidationProblem(field, f"{value.isoformat()} is in the future")
    return value


def required_text(value: str | None, field: str, max_length: int = 200) -> str:
    text = (value or "").strip()
    if not text:
        raise ValidationProblem(field, "is required")
    if len(text) > max_length:
        raise ValidationProblem(field, f"must be at most {max_length} characters")
    return text


def choice(cls: type[E], value: object, field: str) -> E:
    try:
        return cls(value)
    except ValueError:
        choices = ", ".join(str(m.value) for m in cls)
        raise ValidationProblem(field, f"{value!r} is not one of: {choices}") from None


def finite_number(value: object, field: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValidationProblem(field, f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValidationProblem(field, f"{value!r} is not a finite number")
    return number

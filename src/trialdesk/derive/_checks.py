"""Input guards shared by the derivations; each raises `DerivationError` naming the value."""

from __future__ import annotations

import math
import numbers

from trialdesk.derive.errors import DerivationError


def finite(argument: str, value: object, what: str) -> float:
    """Return `value` as a float if it is a finite real number (not a bool), else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DerivationError(argument, value, f"{what} as a real number")
    number = float(value)
    if not math.isfinite(number):
        raise DerivationError(argument, value, f"a finite {what}")
    return number


def positive(argument: str, value: object, what: str) -> float:
    """Return `value` as a float if it is finite and > 0, else raise."""
    number = finite(argument, value, what)
    if number <= 0:
        raise DerivationError(argument, value, f"a positive {what}")
    return number


def non_negative(argument: str, value: object, what: str) -> float:
    """Return `value` as a float if it is finite and >= 0, else raise."""
    number = finite(argument, value, what)
    if number < 0:
        raise DerivationError(argument, value, f"a non-negative {what}")
    return number

"""Numbers as site staff type them.

- a decimal comma, as in most of Europe, Latin America and Indonesia ("8,1" → 8.1), whatever
  the browser's locale, where it cannot be read two ways: "1,000" (a thousands group in
  English, 1.000 with a decimal comma) is refused with the two readings named, never guessed
  (BIPM SI Brochure 9th ed., 5.4.4: the decimal marker is a point or a comma; digits may be
  grouped in threes by a thin space, never by a point or comma); except when the caller knows
  which values are possible for the quantity (`plausible`, e.g. within an element's hard
  limits) and exactly one reading is: "5,500" as a fasting glucose in mmol/L is 5.5 (5500 is
  impossible); "1,000" as a body weight in kg (1000 kg or 1 kg) and "1,500" as a fasting insulin
  in µIU/mL (1500 and 1.5 both possible) are refused;
- digit groups separated by spaces or thin/no-break spaces ("1 000 000");
- cell counts in scientific notation: "1e6", "1.0x10^6", "1.0×10^6", "1.0 x 10⁶", "10^6".
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_SUPERSCRIPT_RUN = re.compile(r"[⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺]+")
_SPACES = re.compile(r"[\u00a0\u2009\u202f]")
_GROUPED = re.compile(r"[-+]?\d{1,3}(?: \d{3})+(?:[.,]\d+)?")
_TIMES_TEN = re.compile(r"(?:([-+]?(?:\d+(?:\.\d*)?|\.\d+))[x×X*·])?10(?:\^|\*\*)([-+]?\d+)")
_COMMA_GROUPS = re.compile(r"[-+]?[1-9]\d{0,2}(?:,\d{3}){2,}")
_AMBIGUOUS = re.compile(r"[-+]?[1-9]\d{0,2},\d{3}")


class NumberError(ValueError):
    """Text that is not a number, or one that can be read two ways (the reason says which)."""


class AmbiguousNumber(NumberError):
    """Text such as "1,000": a thousands group or a decimal comma; `readings` holds both."""

    def __init__(self, message: str, readings: tuple[float, float]) -> None:
        super().__init__(message)
        self.readings = readings


def parse_number(
    text: str | float | int, *, plausible: Callable[[float], bool] | None = None
) -> float:
    """A finite float from what was typed (see module docstring); `NumberError` otherwise.

    `plausible`: which values the quantity can take; an ambiguous "1,000" is read the one way
    that is plausible when the other is not (otherwise refused, both readings named)."""
    try:
        return _parse_number(text)
    except AmbiguousNumber as exc:
        if plausible is None:
            raise
        kept = [r for r in exc.readings if plausible(r)]
        if len(kept) != 1:
            raise
        return kept[0]


#: Largest power of ten a float can hold (IEEE 754 double: about 1.8 × 10³⁰⁸); beyond it
#: "× 10^n" overflows, so it is refused as not finite.
_MAX_DECIMAL_EXPONENT = 300


def _parse_number(text: str | float | int) -> float:
    if isinstance(text, bool):
        raise NumberError(f"{text!r} is not a number")
    if isinstance(text, int | float):
        return _finite(float(text), str(text))
    raw = str(text)
    # "10⁶" is "10^6": a superscript is an exponent.
    s = _SUPERSCRIPT_RUN.sub(lambda m: "^" + m.group().translate(_SUPERSCRIPTS), raw.strip())
    s = _SPACES.sub(" ", s)
    if _GROUPED.fullmatch(s):
        s = s.replace(" ", "")
    s = _decimal_point(s, raw)
    match = _TIMES_TEN.fullmatch(s.replace(" ", ""))
    if match:
        exponent = int(match.group(2))
        if abs(exponent) > _MAX_DECIMAL_EXPONENT:
            raise NumberError(f"{raw!r} is not a finite number")
        return _finite(float(match.group(1) or "1") * 10.0**exponent, raw)
    if not re.fullmatch(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?", s):
        raise NumberError(f"{raw!r} is not a number")
    return _finite(float(s), raw)


def _decimal_point(s: str, raw: str) -> str:
    if "," not in s:
        return s
    if "." in s:
        raise NumberError(
            f"{raw!r} has both a point and a comma: write the number with one decimal marker "
            "and no thousands separator (e.g. 1000.5)"
        )
    if _COMMA_GROUPS.fullmatch(s):
        return s.replace(",", "")  # 1,000,000: only thousands groups can repeat
    if _AMBIGUOUS.fullmatch(s):
        whole, part = s.split(",")
        raise AmbiguousNumber(
            f"{raw!r} can be read as {whole}{part} or as {whole}.{part}: write it without the "
            "comma, or with a point for decimals",
            (float(whole + part), float(f"{whole}.{part}")),
        )
    if s.count(",") == 1:
        return s.replace(",", ".")
    raise NumberError(f"{raw!r} is not a number")


def _finite(value: float, raw: str) -> float:
    if not math.isfinite(value):
        raise NumberError(f"{raw!r} is not a finite number")
    return value


#: From 100 000 up a count is written in scientific notation (as on a cell-product label).
_SCIENTIFIC_FROM = 1e5

_SUPERSCRIPT_DIGITS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def format_count(value: float | int) -> str:
    """A count or cell dose as a product label writes it: 1.0 × 10⁶ from 100 000 up, otherwise
    up to 4 significant digits (never 1e+06 or 8.880994671403197)."""
    if abs(value) >= _SCIENTIFIC_FROM:
        mantissa, exponent = f"{value:.1e}".split("e")
        return f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPT_DIGITS)}"
    return f"{value:.4g}" if isinstance(value, float) else str(value)

"""Typed item values and their text forms, shared by the REDCap, ODM and SDTM adapters.

Values in a `FormRecord` are Python objects by item type: float/int for numbers (in the item's
canonical unit), `date`/`datetime`, bool, a choice code (str), a tuple of codes for multichoice,
or free text. Text forms are ISO 8601 for dates (CDISC SDTMIG §4.4 "--DTC"; ODM 1.3.2 §2.8).
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from trialdesk.catalogue.precision import round_reported
from trialdesk.export.crf.model import DataType, Item

if TYPE_CHECKING:
    from collections.abc import Callable

Value = float | int | date | datetime | bool | str | tuple[str, ...]


def format_number(value: float | int) -> str:
    """Shortest plain decimal text for a number: 7.0 → "7", 0.1 → "0.1", 1e6 → "1000000"."""
    if isinstance(value, bool) or not math.isfinite(float(value)):
        raise ValueError(f"{value!r} is not a finite number")
    text = format(Decimal(repr(float(value))).normalize(), "f")
    return "0" if text in ("-0", "") else text


def parse_value(item: Item, text: str) -> Value:
    """Parse the text of one value of `item`; raise ValueError saying what was expected."""
    parser = _PARSERS.get(item.data_type)
    return text if parser is None else parser(item, text)


def _parse_float(_item: Item, text: str) -> float:
    return _float(text)


def _parse_integer(_item: Item, text: str) -> int:
    number = _float(text)
    if not number.is_integer():
        raise ValueError(f"{text!r} is not a whole number")
    return int(number)


def _parse_date(_item: Item, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _parse_datetime(_item: Item, text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date and time (YYYY-MM-DD HH:MM)") from None


def _parse_boolean(_item: Item, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "y"):
        return True
    if lowered in ("0", "false", "no", "n"):
        return False
    raise ValueError(f"{text!r} is not yes/no (1 or 0)")


def _parse_multichoice(item: Item, text: str) -> tuple[str, ...]:
    codes = {_code(item, part) for part in text.split(",") if part.strip()}
    return tuple(c.code for c in item.choices if c.code in codes)


def _float(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{text!r} is not a finite number")
    return number


def _code(item: Item, text: str) -> str:
    codes = [c.code for c in item.choices]
    code = text.strip()
    if code not in codes:
        raise ValueError(f"{text!r} is not one of the codes {', '.join(codes)}")
    return code


_PARSERS: dict[DataType, Callable[[Item, str], Value]] = {
    DataType.FLOAT: _parse_float,
    DataType.INTEGER: _parse_integer,
    DataType.DATE: _parse_date,
    DataType.DATETIME: _parse_datetime,
    DataType.BOOLEAN: _parse_boolean,
    DataType.CHOICE: _code,
    DataType.MULTICHOICE: _parse_multichoice,
}
"""The parser of each data type; any other type (free text) is kept as written."""


def reported_value(item: Item, value: Value) -> Value:
    """A number as reported: rounded to the item's reporting precision (the catalogue's), so
    exports never carry conversion artefacts (9.80199… mmol/L is reported as 9.8)."""
    if isinstance(value, float):
        return round_reported(value, item.decimals)
    return value


def format_value(item: Item, value: Value) -> str:
    """The text form of a typed value (the inverse of `parse_value`)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, date):  # a datetime is a date too
        return _format_date(value)
    if isinstance(value, float | int):
        return format_number(
            round_reported(value, item.decimals) if isinstance(value, float) else value
        )
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def _format_date(value: date) -> str:
    """ISO 8601: a date as YYYY-MM-DD, a date and time to the second."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return value.isoformat()


def check_limits(item: Item, value: Value) -> str | None:
    """Why a number breaks the item's hard (physiologically impossible) limits, or None."""
    if not item.is_numeric or not isinstance(value, int | float) or isinstance(value, bool):
        return None
    unit = f" {item.unit}" if item.unit else ""
    shown = f"{format_number(value)}{unit}"
    if item.hard_low is not None and value < item.hard_low:
        return f"{shown} is below the lowest possible value {format_number(item.hard_low)}{unit}"
    if item.hard_high is not None and value > item.hard_high:
        return f"{shown} is above the highest possible value {format_number(item.hard_high)}{unit}"
    return None

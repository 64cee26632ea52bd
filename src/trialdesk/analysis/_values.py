"""Scalar conversions from pandas cells (typed loosely by pandas-stubs) to Python numbers."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def as_float(value: Any) -> float:
    """A pandas cell as a float; missing values (None, NaN, NaT, NA) become NaN."""
    if value is None or value is pd.NaT or value is pd.NA:
        return math.nan
    return float(value)


def as_int(value: Any) -> int:
    """A pandas cell holding a whole number as an int."""
    return int(value)


def is_missing(value: Any) -> bool:
    """True for None, NaN, NaT and pandas NA."""
    return bool(pd.isna(value)) if not isinstance(value, list | tuple) else False


def as_timestamp(value: Any) -> pd.Timestamp:
    """A pandas cell holding a date as a Timestamp."""
    return pd.Timestamp(value)

"""Source frames: the contract between the study database (or the simulator) and the analysis.

The six frames and their columns are specified in docs/architecture.md ("Source frames").
`SourceFrames` checks every column on construction and normalises the types (dates become
``datetime64``, list columns become Python lists, flags become ``bool``), so every derivation
downstream can rely on them. A broken frame raises `SourceFrameError` naming the frame, the
column and the reason, with a few offending values.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from trialdesk.analysis.errors import SourceFrameError
from trialdesk.catalogue import Catalogue, default_catalogue
from trialdesk.catalogue.missing import MISSING_CODES


@dataclass(frozen=True)
class Column:
    """One column of a source frame: its kind, whether it may be empty, its permitted values."""

    name: str
    kind: str  # str | date | float | int | bool | list
    nullable: bool = False
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None


# "declined" / "not_consented": approached, logged on the screening log, never screened
# (CONSORT 2010 "excluded: declined to participate"; `trialdesk.services.screening_declines`).
SCREENING_STATUSES = ("eligible", "ineligible", "incomplete", "declined", "not_consented")
MISSING_CODE_VALUES = tuple(m.code for m in MISSING_CODES)
SUBJECT_STATUSES = ("ongoing", "completed", "withdrawn", "died")

FRAME_COLUMNS: dict[str, tuple[Column, ...]] = {
    "screening": (
        Column("candidate_id", "str"),
        Column("screened_on", "date"),
        Column("status", "str", choices=SCREENING_STATUSES),
        Column("failed", "list"),
        Column("enrolled", "bool"),
        Column("usubjid", "str", nullable=True),
    ),
    "subjects": (
        Column("usubjid", "str"),
        Column("site", "str"),
        Column("sex", "str", choices=("F", "M")),
        Column("birth_date", "date", nullable=True),
        Column("age", "float", nullable=True, low=0, high=120),
        Column("height_cm", "float", nullable=True, low=50, high=250),
        Column("enrolled_on", "date"),
        Column("transplanted_on", "date", nullable=True),
        Column("status", "str", choices=SUBJECT_STATUSES),
        Column("end_on", "date", nullable=True),
        Column("end_reason", "str", nullable=True),
    ),
    "measurements": (
        Column("usubjid", "str"),
        Column("visit", "str"),
        Column("visit_day", "int"),
        Column("date", "date"),
        Column("element", "str"),
        Column("value", "float"),
        Column("unit", "str"),
        Column("value_as_entered", "str", nullable=True),
        Column("unit_as_entered", "str", nullable=True),
    ),
    "itt": (
        Column("usubjid", "str"),
        Column("visit", "str"),
        Column("date", "date"),
        Column("minute", "float", low=-60, high=240),
        Column("glucose_mmol_l", "float", low=0, high=60),
    ),
    "dosing": (
        Column("usubjid", "str"),
        Column("visit", "str"),
        Column("visit_day", "int"),
        Column("date", "date"),
        Column("insulin_u_per_day", "float", low=0, high=1000),
        Column("ogld_ddd", "float", low=0, high=20),
        Column("weight_kg", "float", nullable=True, low=20, high=350),
    ),
    "adverse_events": (
        Column("usubjid", "str"),
        Column("ae_id", "str"),
        Column("term", "str"),
        Column("onset", "date"),
        Column("resolved", "date", nullable=True),
        Column("grade", "int", low=1, high=5),
        Column("serious", "bool"),
        Column("seriousness", "list"),
        Column("related", "str"),
        Column("outcome", "str", nullable=True),
        Column("action", "str", nullable=True),
    ),
    # Values recorded as missing, with their missing-data code (`trialdesk.catalogue.missing`):
    # never analysed, counted per outcome and visit in the report.
    "missing": (
        Column("usubjid", "str"),
        Column("visit", "str"),
        Column("visit_day", "int"),
        Column("date", "date"),
        Column("element", "str"),
        Column("code", "str", choices=MISSING_CODE_VALUES),
        Column("reason", "str", nullable=True),
    ),
}

#: Frames whose rows belong to an enrolled participant (usubjid must be in `subjects`).
_SUBJECT_FRAMES = ("measurements", "itt", "dosing", "adverse_events", "missing")


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return bool(isinstance(value, np.floating) and np.isnan(value))


def _fail(frame: str, column: Column, reason: str, bad: pd.Series) -> SourceFrameError:
    return SourceFrameError(frame, column.name, reason, bad.head(5).tolist())


def _as_str(frame: str, column: Column, series: pd.Series) -> pd.Series:
    # Built as an object Series so that pandas keeps None (it would infer a str dtype with NaN).
    values = pd.Series(
        [None if _is_missing(v) else v for v in series.astype(object)],
        index=series.index,
        dtype=object,
    )
    bad = values[[v is not None and not isinstance(v, str) for v in values]]
    if len(bad):
        raise _fail(frame, column, "text", bad)
    return values


def _one_date(value: object) -> pd.Timestamp | None:
    """A date, datetime or ISO 8601 text as a Timestamp; None when it is none of these.

    Text must be ISO 8601: "31/12/2024" or "12/31/2024" are refused rather than guessed.
    """
    if isinstance(value, str):
        try:
            return pd.Timestamp(datetime.fromisoformat(value.strip()))
        except ValueError:
            return None
    if isinstance(value, date | np.datetime64):
        return pd.Timestamp(value)
    return None


def _as_date(frame: str, column: Column, series: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        converted = pd.to_datetime(series)
    else:
        values = [None if _is_missing(v) else _one_date(v) for v in series.astype(object)]
        bad = series[
            [v is None and not _is_missing(s) for v, s in zip(values, series, strict=True)]
        ]
        if len(bad):
            raise _fail(frame, column, "a date (a date object or YYYY-MM-DD text)", bad)
        converted = pd.to_datetime(pd.Series(values, index=series.index, dtype=object))
    if getattr(converted.dt, "tz", None) is not None:
        converted = converted.dt.tz_localize(None)
    return converted.dt.normalize().astype("datetime64[ns]")


def _as_number(frame: str, column: Column, series: pd.Series) -> pd.Series:
    raw = series.astype(object)
    is_bool = raw.map(lambda v: isinstance(v, bool | np.bool_))
    converted = pd.to_numeric(raw.where(~is_bool, None), errors="coerce").astype(float)
    bad = raw[(converted.isna() & ~raw.map(_is_missing)) | is_bool]
    if len(bad) or not np.isfinite(converted.dropna()).all():
        bad = bad if len(bad) else raw[np.isinf(converted)]
        raise _fail(frame, column, "a finite number", bad)
    low, high = column.low, column.high
    if low is not None and high is not None:
        outside = converted[(converted < low) | (converted > high)]
        if len(outside):
            raise _fail(frame, column, f"a number between {low:g} and {high:g}", outside)
    if column.kind == "int":
        fractional = converted[converted.notna() & (converted != converted.round())]
        if len(fractional):
            raise _fail(frame, column, "a whole number", fractional)
        return converted.astype("Int64")
    return converted


def _as_bool(frame: str, column: Column, series: pd.Series) -> pd.Series:
    raw = series.astype(object)
    bad = raw[~raw.map(lambda v: isinstance(v, bool | np.bool_))]
    if len(bad):
        raise _fail(frame, column, "True or False", bad)
    return raw.astype(bool)


def _as_list(frame: str, column: Column, series: pd.Series) -> pd.Series:
    def convert(value: object) -> list[str] | None:
        if isinstance(value, list | tuple | np.ndarray):
            items = list(value)
            return [str(i) for i in items] if all(isinstance(i, str) for i in items) else None
        return [] if _is_missing(value) else None

    converted = pd.Series(
        [convert(v) for v in series.astype(object)], index=series.index, dtype=object
    )
    bad = series[[v is None for v in converted]]
    if len(bad):
        raise _fail(frame, column, "a list of text codes (or an empty list)", bad)
    return converted


_CONVERTERS: dict[str, Callable[[str, Column, pd.Series], pd.Series]] = {
    "str": _as_str,
    "date": _as_date,
    "float": _as_number,
    "int": _as_number,
    "bool": _as_bool,
    "list": _as_list,
}


def _normalise_column(frame: str, column: Column, series: pd.Series) -> pd.Series:
    converted = _CONVERTERS[column.kind](frame, column, series)
    missing = converted.isna() if column.kind != "list" else pd.Series(False, index=series.index)
    if not column.nullable and missing.any():
        raise SourceFrameError(
            frame,
            column.name,
            "a value in every row",
            [f"row {i}" for i in converted.index[missing][:5]],
        )
    if column.choices:
        present = converted.dropna()
        bad = present[~present.isin(column.choices)]
        if len(bad):
            raise _fail(frame, column, f"one of {', '.join(column.choices)}", bad)
    return converted


def normalise_frame(frame: str, data: pd.DataFrame) -> pd.DataFrame:
    """Check one frame against the contract; return a copy with columns in contract order."""
    if frame not in FRAME_COLUMNS:
        raise SourceFrameError(frame, None, f"one of the frames {', '.join(FRAME_COLUMNS)}")
    if not isinstance(data, pd.DataFrame):
        raise SourceFrameError(frame, None, f"a pandas DataFrame, not {type(data).__name__}")
    spec = FRAME_COLUMNS[frame]
    wanted = [c.name for c in spec]
    missing = [c for c in wanted if c not in data.columns]
    if missing:
        raise SourceFrameError(frame, missing[0], "this column to be present", missing)
    extra = [str(c) for c in data.columns if c not in wanted]
    if extra:
        raise SourceFrameError(frame, extra[0], f"only the columns {', '.join(wanted)}", extra)
    data = data.reset_index(drop=True)
    out = {c.name: _normalise_column(frame, c, data[c.name]) for c in spec}
    return pd.DataFrame(out, index=data.index)


def _unit_key(unit: str) -> str:
    # NFKC folds the micro sign (U+00B5) into the Greek mu, so µIU/mL matches however typed.
    return unicodedata.normalize("NFKC", unit).replace(" ", "")


def _check_units(measurements: pd.DataFrame, catalogue: Catalogue) -> None:
    for (element, unit), rows in measurements.groupby(["element", "unit"], sort=False):
        if element not in catalogue:
            continue  # protocol-specific elements the analysis does not use
        canonical = catalogue[str(element)].canonical_unit
        if canonical and _unit_key(str(unit)) != _unit_key(canonical):
            raise SourceFrameError(
                "measurements",
                "unit",
                f"the canonical unit {canonical!r} for {element}",
                [f"{unit} (usubjid {rows['usubjid'].iloc[0]})"],
            )


def _check_references(frames: Mapping[str, pd.DataFrame]) -> None:
    subjects = frames["subjects"]
    duplicated = subjects["usubjid"][subjects["usubjid"].duplicated()]
    if len(duplicated):
        raise SourceFrameError("subjects", "usubjid", "one row per participant", duplicated)
    known = set(subjects["usubjid"])
    for name in (*_SUBJECT_FRAMES, "screening"):
        ids = frames[name]["usubjid"].dropna()
        unknown = ids[~ids.isin(known)]
        if len(unknown):
            raise SourceFrameError(name, "usubjid", "a participant listed in subjects", unknown)
    screening = frames["screening"]
    mismatch = screening[screening["enrolled"] != screening["usubjid"].notna()]
    if len(mismatch):
        raise SourceFrameError(
            "screening", "usubjid", "a usubjid exactly when enrolled is True", mismatch.candidate_id
        )
    ae_ids = frames["adverse_events"]["ae_id"]
    if ae_ids.duplicated().any():
        raise SourceFrameError(
            "adverse_events", "ae_id", "unique event ids", ae_ids[ae_ids.duplicated()]
        )


def empty_frame(frame: str) -> pd.DataFrame:
    """An empty frame with the contract's columns (e.g. a study with no adverse events yet)."""
    return pd.DataFrame({c.name: pd.Series([], dtype=object) for c in FRAME_COLUMNS[frame]})


@dataclass(frozen=True)
class SourceFrames:
    """The source frames (six, plus the coded-missing values), validated and normalised.

    Build it from the study database (`trialdesk.analysis.from_store`), from the simulator, or
    in tests from plain records. Every frame must have exactly the contract's columns; values are
    checked (dates parse, numbers are finite and in range, codes are in their vocabularies,
    every usubjid refers to a row of ``subjects``, measurements are in the catalogue's canonical
    unit). The frames are copies: changing the caller's DataFrames later does not affect them.
    """

    screening: pd.DataFrame
    subjects: pd.DataFrame
    measurements: pd.DataFrame
    itt: pd.DataFrame
    dosing: pd.DataFrame
    adverse_events: pd.DataFrame
    missing: pd.DataFrame = field(default_factory=lambda: empty_frame("missing"))

    def __post_init__(self) -> None:
        normalised = {f.name: normalise_frame(f.name, getattr(self, f.name)) for f in fields(self)}
        _check_references(normalised)
        _check_units(normalised["measurements"], default_catalogue())
        for name, frame in normalised.items():
            object.__setattr__(self, name, frame)

    @classmethod
    def from_mapping(cls, frames: Mapping[str, Any]) -> SourceFrames:
        """Build from a mapping of frame name to DataFrame; absent frames are taken as empty."""
        unknown = sorted(set(frames) - set(FRAME_COLUMNS))
        if unknown:
            raise SourceFrameError(unknown[0], None, f"one of {', '.join(FRAME_COLUMNS)}")
        return cls(**{name: frames.get(name, empty_frame(name)) for name in FRAME_COLUMNS})

    def as_dict(self) -> dict[str, pd.DataFrame]:
        """The frames by name (the same DataFrames, not copies)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

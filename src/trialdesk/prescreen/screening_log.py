"""From the ranked list to the study database's screening log (issue 7).

`log_rows` turns the rows of a pre-screen result into the rows the pre-screening service
stores (`trialdesk.services.record_prescreen_run`): the person's pseudonymous EHR key (OMOP
``person_id`` as text), the rank, the status and, per criterion, the verdict with the values it
was judged on (the element's recorded value, unit, canonical value and date; for derived
elements such as BMI also their sources). Nothing identifying is copied: ``birth_year`` is
left out (age is kept), and the OMOP ``person_source_value`` (often the hospital's record
number) is never part of the result.

Kept free of the database layer: the rows are plain dictionaries.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

import pyarrow as pa

from trialdesk.catalogue import Catalogue
from trialdesk.prescreen.mapping import prescreen_protocol
from trialdesk.prescreen.query import CANDIDATE, INCOMPLETE, STATUSES, _slug
from trialdesk.protocol import Protocol, catalogue_for

DEFAULT_LOG_STATUSES = (CANDIDATE, INCOMPLETE)
"""Stored by default: the persons worth approaching. Excluded persons are counted by the run,
not listed (the CONSORT flow needs their number, not their keys)."""

STORED_STATUS: dict[str, str] = {}
"""Verdicts stored under another name: none since migration 0021_prescreen_verdicts renamed the
stored "possible" to "incomplete" (the study database now uses the pre-screen's own verdicts)."""

NOT_COPIED = frozenset({"birth_year"})
"""Result columns never copied into the log (part of the date of birth)."""

Scalar = str | int | float | bool | None


def element_columns(catalogue: Catalogue, element: str) -> list[str]:
    """The result columns holding `element`'s value (see `prescreen.query._value_columns`)."""
    columns = [element, f"{element}_value", f"{element}_unit", f"{element}_date"]
    if element in catalogue:
        unit = catalogue[element].canonical_unit
        if unit:
            columns.append(f"{element}_{_slug(unit)}")
    return columns


def _elements(catalogue: Catalogue, names: Iterable[str]) -> list[str]:
    """The elements and, for derived ones, their sources (depth-first, without repeats)."""
    seen: list[str] = []

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.append(name)
        if name in catalogue:
            for source in catalogue[name].derived_from:
                visit(source)

    for name in names:
        visit(name)
    return seen


def criterion_columns(protocol: Protocol) -> dict[str, list[str]]:
    """Per criterion of the pre-screening protocol (P1 included), the value columns it uses."""
    full = prescreen_protocol(protocol)
    catalogue = catalogue_for(full)
    out: dict[str, list[str]] = {}
    for criterion in full.criteria:
        columns: list[str] = []
        for element in _elements(catalogue, criterion.expr.elements()):
            columns += [c for c in element_columns(catalogue, element) if c not in columns]
        out[criterion.id] = [c for c in columns if c not in NOT_COPIED]
    return out


def _plain(value: Any) -> Scalar:
    """A JSON-safe scalar: dates ISO 8601, NaN as missing."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def log_row(row: dict[str, Any], columns: dict[str, list[str]]) -> dict[str, Any]:
    """One result row as a screening-log row."""
    criteria = {
        cid: {
            "verdict": row[cid],
            "values": {c: _plain(row[c]) for c in used if c in row and row[c] is not None},
        }
        for cid, used in columns.items()
        if cid in row
    }
    return {
        "ehr_person_key": str(row["person_id"]),
        "rank": int(row["rank"]),
        "prescreen_status": stored_status(str(row["status"])),
        "criteria": criteria,
    }


def stored_status(status: str) -> str:
    """The status as the study database's screening log stores it."""
    return STORED_STATUS.get(status, status)


def stored_counts(counts: dict[str, int]) -> dict[str, int]:
    return {stored_status(status): n for status, n in counts.items()}


def log_rows(
    result: pa.Table,
    protocol: Protocol,
    statuses: Iterable[str] = DEFAULT_LOG_STATUSES,
) -> Iterator[dict[str, Any]]:
    """The persons of `result` with one of `statuses`, in rank order, as screening-log rows."""
    wanted = set(statuses)
    unknown = wanted - set(STATUSES)
    if unknown:
        raise ValueError(f"statuses: {sorted(unknown)[0]!r} is not one of {', '.join(STATUSES)}")
    columns = criterion_columns(protocol)
    for batch in result.to_batches(max_chunksize=10_000):
        for row in batch.to_pylist():
            if row["status"] in wanted:
                yield log_row(row, columns)

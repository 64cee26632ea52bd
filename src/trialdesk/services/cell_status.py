"""The status of one cell of the record status grid (one form of one visit of one
participant), as REDCap's record status dashboard and OpenClinica's subject matrix show it.

The status is computed from facts gathered for the cell (`CellFacts`), never stored: a new
kind of fact (a lock, once data locking exists) is a new field and a new rule here, and every
page and count follows. One icon per cell, so the states are ranked: a lock or a signature
freezes the form and outranks everything; then what needs someone's action (an open query,
a protocol deviation); then the monitor's verification; then the site's own progress.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class CellStatus(StrEnum):
    NOT_STARTED = "not_started"
    INCOMPLETE = "incomplete"
    COMPLETE = "complete"
    OPEN_QUERY = "open_query"
    DEVIATION = "deviation"
    VERIFIED = "verified"
    SIGNED = "signed"
    LOCKED = "locked"


@dataclass(frozen=True)
class LegendEntry:
    status: CellStatus
    icon: str  # a glyph, shown with its text alternative (WCAG 2.1 SC 1.1.1)
    label: str
    meaning: str


LEGEND: tuple[LegendEntry, ...] = (
    LegendEntry(CellStatus.NOT_STARTED, "○", "Not started", "no data entered yet"),
    LegendEntry(CellStatus.INCOMPLETE, "◐", "Incomplete", "data entered, form not marked complete"),
    LegendEntry(CellStatus.COMPLETE, "●", "Complete", "the site marked the form complete"),
    LegendEntry(
        CellStatus.OPEN_QUERY, "?", "Open query", "a data query on this form is not closed yet"
    ),
    LegendEntry(CellStatus.DEVIATION, "!", "Deviation", "a protocol deviation at this visit"),
    LegendEntry(CellStatus.VERIFIED, "✓", "Verified", "the monitor verified it against source"),
    LegendEntry(CellStatus.SIGNED, "✍", "Signed", "the investigator signed the casebook since"),
    LegendEntry(CellStatus.LOCKED, "▣", "Locked", "data locked: no further change"),
)
LEGEND_BY_STATUS = {entry.status: entry for entry in LEGEND}


@dataclass(frozen=True)
class CellFacts:
    """What is known about one form of one visit of one participant."""

    has_data: bool = False
    form_complete: bool = False
    open_queries: int = 0
    deviation: bool = False
    verified: bool = False
    signed: bool = False
    locked: bool = False  # an active form, participant or study lock (`services.locks`)


_RANKING: tuple[tuple[Callable[[CellFacts], bool], CellStatus], ...] = (
    (lambda f: f.locked, CellStatus.LOCKED),
    (lambda f: f.signed and (f.has_data or f.form_complete), CellStatus.SIGNED),
    (lambda f: bool(f.open_queries), CellStatus.OPEN_QUERY),
    (lambda f: f.deviation, CellStatus.DEVIATION),
    (lambda f: f.verified, CellStatus.VERIFIED),
    (lambda f: f.form_complete, CellStatus.COMPLETE),
    (lambda f: f.has_data, CellStatus.INCOMPLETE),
)
"""The statuses in rank order (module docstring), each with the facts that make it apply."""


def cell_status(facts: CellFacts) -> CellStatus:
    """The one status shown for a cell (ranking in the module docstring)."""
    for applies, status in _RANKING:
        if applies(facts):
            return status
    return CellStatus.NOT_STARTED

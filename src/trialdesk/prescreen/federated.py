"""Federated feasibility: the same criteria at several sites' OMOP databases; only counts leave
a site, small cells are suppressed, and the total cannot reveal a suppressed cell.

Each site runs `site_counts`, whose result is a `SiteCounts`: a pydantic model holding counts
only (persons, persons by status, the attrition funnel). It has no field that could carry a
person id, and it forbids extra fields, so no row-level data can leave through it; the query
runs as aggregates inside the site's database (`run.summarise` without a fetched result).

Small-cell suppression, before anything is shown or written (`release`):

1. Primary: a count from 1 to ``min_cell − 1`` is shown as "<min_cell" (zero is shown). This is
   the CMS cell size suppression policy with min_cell = 11 ([@CMS-CellSuppression]: no cell of
   1 to 10, zero allowed) and OHDSI's ``minCellCount`` ([@OHDSI-CohortGenerator]).
2. No small cell may be derived from shown ones ([@CMS-CellSuppression]):
   * statuses add up to the persons: when exactly one status cell is suppressed, the smallest
     other non-zero one is suppressed too (complementary suppression, shown as "suppressed");
   * candidates + incomplete = the funnel's last step: when exactly one of them is suppressed,
     that step is suppressed too;
   * the funnel: walking down the steps, a step whose removal from the last *shown* step is 1
     to min_cell − 1 persons is suppressed, so no difference of two shown steps is a small cell;
     "removed" is shown only between two shown steps.
3. Totals over sites: the exact sum when no site's cell is suppressed; otherwise a lower bound
   "≥ sum of the shown cells", so the total minus the shown cells never gives a suppressed one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from trialdesk.prescreen.plan import Settings
from trialdesk.prescreen.query import STATUSES, build_query
from trialdesk.prescreen.run import default_index_date, plan_for, summarise
from trialdesk.prescreen.source import OmopSource, SourceError, open_source
from trialdesk.protocol import Protocol

DEFAULT_MIN_CELL = 11  # CMS: cells of 1 to 10 are not shown


class FunnelCounts(BaseModel):
    """One funnel step at one site: counts only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    step: int = Field(ge=0)
    criterion: str
    text: str
    remaining: int = Field(ge=0)
    not_assessable: int = Field(ge=0)


class SiteCounts(BaseModel):
    """What leaves a site: aggregate counts, no person-level field (extra fields refused)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    site: str
    persons: int = Field(ge=0)
    by_status: dict[str, int]
    funnel: list[FunnelCounts]


def site_counts(
    site: str, source: OmopSource, protocol: Protocol, settings: Settings | None = None
) -> SiteCounts:
    """Run the pre-screen inside the site's database and return its counts only."""
    settings = settings or Settings(default_index_date(source))
    query = build_query(source, plan_for(source, protocol, settings))
    summary = summarise(source, query)  # aggregate queries only: no row is fetched
    return SiteCounts(
        site=site,
        persons=summary.persons,
        by_status={s: summary.by_status.get(s, 0) for s in STATUSES},
        funnel=[
            FunnelCounts(
                step=f.step,
                criterion=f.criterion,
                text=f.text,
                remaining=f.remaining,
                not_assessable=f.not_assessable,
            )
            for f in summary.funnel
        ],
    )


@dataclass(frozen=True)
class Cell:
    """A released count: `value` when shown; `small` = primary suppression (1 … min−1),
    `hidden` = complementary suppression; `lower_bound` = a total with suppressed parts."""

    value: int | None
    small: bool = False
    hidden: bool = False
    lower_bound: bool = False

    def text(self, min_cell: int) -> str:
        if self.small:
            return f"<{min_cell}"
        if self.hidden:
            return "suppressed"
        assert self.value is not None
        return f"≥{self.value:,}" if self.lower_bound else f"{self.value:,}"

    @property
    def shown(self) -> bool:
        return self.value is not None and not self.lower_bound


def _primary(n: int, min_cell: int) -> Cell:
    return Cell(None, small=True) if 0 < n < min_cell else Cell(n)


@dataclass(frozen=True)
class FunnelRow:
    step: int
    criterion: str
    text: str
    remaining: Cell
    removed: Cell
    not_assessable: Cell


@dataclass(frozen=True)
class Released:
    """A site's (or the total's) counts after suppression: what may be shown and written."""

    site: str
    persons: Cell
    by_status: dict[str, Cell]
    funnel: list[FunnelRow]


def release(counts: SiteCounts, min_cell: int = DEFAULT_MIN_CELL) -> Released:
    """Apply the suppression rules of the module docstring to one site's counts."""
    if min_cell < 1:
        raise ValueError(f"min_cell: {min_cell} must be at least 1")
    status = _complementary(counts.by_status, min_cell)
    remaining = _funnel_cells([f.remaining for f in counts.funnel], min_cell)
    last = len(remaining) - 1
    pair = [status[s] for s in ("candidate", "incomplete") if s in status]
    if last >= 0 and sum(not c.shown for c in pair) == 1 and remaining[last].shown:
        remaining[last] = Cell(None, hidden=True)
    rows = [
        FunnelRow(
            f.step,
            f.criterion,
            f.text,
            remaining[i],
            _removed(remaining[i - 1], remaining[i]) if i else Cell(0),
            _primary(f.not_assessable, min_cell),
        )
        for i, f in enumerate(counts.funnel)
    ]
    return Released(counts.site, _primary(counts.persons, min_cell), status, rows)


def _complementary(by_status: Mapping[str, int], min_cell: int) -> dict[str, Cell]:
    cells = {s: _primary(n, min_cell) for s, n in by_status.items()}
    if sum(c.small for c in cells.values()) == 1:
        others = [(n, s) for s, n in by_status.items() if not cells[s].small and n > 0]
        if others:
            _n, smallest = min(others)
            cells[smallest] = Cell(None, hidden=True)
    return cells


def _funnel_cells(remaining: list[int], min_cell: int) -> list[Cell]:
    cells: list[Cell] = []
    last_shown: int | None = None
    for n in remaining:
        cell = _primary(n, min_cell)
        if cell.shown and last_shown is not None and 0 < last_shown - n < min_cell:
            cell = Cell(None, hidden=True)
        if cell.shown:
            last_shown = n
        cells.append(cell)
    return cells


def _removed(before: Cell, after: Cell) -> Cell:
    if before.shown and after.shown:
        assert before.value is not None and after.value is not None
        return Cell(before.value - after.value)
    return Cell(None, hidden=True)


def _total(cells: Iterable[Cell]) -> Cell:
    parts = list(cells)
    shown = sum(c.value or 0 for c in parts if c.value is not None)
    return Cell(shown, lower_bound=not all(c.shown for c in parts))


def total(sites: list[Released]) -> Released:
    """Sums of the released site cells: exact, or "≥" when some site cell is suppressed."""
    first = sites[0]
    rows = []
    for i, step in enumerate(first.funnel):
        remaining = _total(s.funnel[i].remaining for s in sites)
        removed = _total(s.funnel[i].removed for s in sites) if i else Cell(0)
        rows.append(
            FunnelRow(
                step.step,
                step.criterion,
                step.text,
                remaining,
                removed,
                _total(s.funnel[i].not_assessable for s in sites),
            )
        )
    return Released(
        "total",
        _total(s.persons for s in sites),
        {k: _total(s.by_status[k] for s in sites) for k in first.by_status},
        rows,
    )


@dataclass(frozen=True)
class SiteSpec:
    name: str
    location: str
    backend: str  # duckdb | postgres | spark
    schema: str | None = None


def parse_site(text: str) -> SiteSpec:
    """``NAME=LOCATION``: a DuckDB file or Parquet folder, ``postgresql://…[?schema=S]``, or
    ``spark:FOLDER``. Names the part that is wrong."""
    name, sep, location = text.partition("=")
    name, location = name.strip(), location.strip()
    if not sep or not name or not location:
        raise ValueError(f"--site: {text!r} must be NAME=LOCATION (e.g. A=site_a.duckdb)")
    if location.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        from sqlalchemy.engine import make_url

        try:
            url = make_url(location.replace("postgres://", "postgresql://", 1))
        except Exception:
            raise ValueError(f"--site {name}: {location!r} is not a database URL") from None
        schema = url.query.get("schema")
        plain = url.difference_update_query(["schema"])
        return SiteSpec(
            name,
            plain.render_as_string(hide_password=False),
            "postgres",
            schema if isinstance(schema, str) else None,
        )
    if location.startswith("spark:"):
        return SiteSpec(name, location.removeprefix("spark:"), "spark")
    if not Path(location).exists():
        raise ValueError(f"--site {name}: {location} is no DuckDB file or Parquet folder")
    return SiteSpec(name, location, "duckdb")


def run_site(spec: SiteSpec, protocol: Protocol, settings: Settings | None) -> SiteCounts:
    """Open the site's database, count, close: the only thing returned is `SiteCounts`."""
    source = open_source(spec.location, spec.backend, spec.schema)
    try:
        return site_counts(spec.name, source, protocol, settings)
    finally:
        source.close()


def federated(
    specs: list[SiteSpec],
    protocol: Protocol,
    settings: Settings | None = None,
    min_cell: int = DEFAULT_MIN_CELL,
    step: Callable[[str], None] | None = None,
) -> tuple[list[Released], Released]:
    """Each site's released counts and the released total."""
    if not specs:
        raise ValueError("--site: give at least one site")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"--site: site names must differ ({', '.join(names)})")
    released = []
    for spec in specs:
        if step is not None:
            step(spec.name)
        try:
            counts = run_site(spec, protocol, settings)
        except SourceError as exc:
            raise SourceError(f"site {spec.name}: {exc}") from None
        released.append(release(counts, min_cell))
    return released, total(released)

"""Running a pre-screen end to end: open the OMOP source, plan, query, write, summarise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from trialdesk.prescreen.funnel import (
    FunnelStep,
    database_groups,
    funnel_of_groups,
    funnel_path,
    verdict_groups,
    write_funnel,
)
from trialdesk.prescreen.plan import Plan, Settings, build_plan
from trialdesk.prescreen.query import (
    AT_VISIT,
    MET,
    NOT_ASSESSABLE,
    NOT_MET,
    STATUSES,
    PrescreenQuery,
    build_query,
    check_at_visit,
)
from trialdesk.prescreen.source import OmopSource, SourceError
from trialdesk.protocol import Protocol

OUTPUT_SUFFIXES = (".csv", ".parquet")


@dataclass
class Summary:
    persons: int
    by_status: dict[str, int]
    by_criterion: dict[str, dict[str, int]]  # criterion id → verdict → persons
    vocabulary: bool
    index_date: date
    lookback_days: int
    criteria_text: dict[str, str] = field(default_factory=dict)
    funnel: list[FunnelStep] = field(default_factory=list)
    check_at_visit: str = ""  # what every person still needs at the screening visit


def default_index_date(source: OmopSource) -> date:
    """The latest observation_period_end_date: the date of the EHR extract."""
    op = source.table("observation_period")
    latest = source.to_pyarrow(op.observation_period_end_date.max()).as_py()
    if latest is None:
        raise SourceError(f"{source.description}: observation_period is empty")
    return latest if isinstance(latest, date) else latest.date()


def plan_for(source: OmopSource, protocol: Protocol, settings: Settings) -> Plan:
    return build_plan(protocol, settings, source.descendants)


def _counts(groups: pa.Table) -> dict[str, int]:
    """ "persons", "status:<s>" and "<criterion>:<verdict>" counts from verdict groups."""
    row: dict[str, int] = {"persons": 0}
    for group in groups.to_pylist():
        persons = int(group.pop("persons"))
        row["persons"] += persons
        for column, value in group.items():
            key = f"status:{value}" if column == "status" else f"{column}:{value}"
            row[key] = row.get(key, 0) + persons
    return row


def summarise(source: OmopSource, query: PrescreenQuery, result: pa.Table | None = None) -> Summary:
    """Counts by status and, per criterion, by verdict, and the funnel: from `result` when it
    holds every person, else by one grouping query in the database."""
    groups = database_groups(source, query) if result is None else verdict_groups(result, query)
    row = _counts(groups)
    persons = int(row["persons"] or 0)
    by_criterion: dict[str, dict[str, int]] = {}
    for criterion in query.criteria:
        counts = {v: row.get(f"{criterion.id}:{v}", 0) for v in (MET, NOT_MET, NOT_ASSESSABLE)}
        if sum(counts.values()) == 0 and persons:
            counts = {AT_VISIT: persons}
        by_criterion[criterion.id] = counts
    plan = query.plan
    return Summary(
        persons=persons,
        by_status={s: row.get(f"status:{s}", 0) for s in STATUSES},
        by_criterion=by_criterion,
        vocabulary=plan.vocabulary,
        index_date=plan.settings.index_date,
        lookback_days=plan.settings.lookback_days,
        criteria_text={c.id: c.text for c in query.criteria},
        funnel=funnel_of_groups(groups, query),
        check_at_visit=check_at_visit(plan),
    )


def check_output(path: Path) -> None:
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(f"--out: {path.name} must end in .csv or .parquet")


def fetch(source: OmopSource, query: PrescreenQuery, top: int | None = None) -> pa.Table:
    table = query.table if top is None else query.table.limit(top)
    return source.to_pyarrow(table)


def write_candidates(result: pa.Table, path: Path) -> Path:
    """The ranked list as CSV (dates ISO 8601, empty = not recorded) or Parquet."""
    check_output(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        pq.write_table(result, path)
    else:
        pacsv.write_csv(result, path)
    return path


HEAD_ROWS = 10


def prescreen_streamed(
    source: OmopSource,
    protocol: Protocol,
    settings: Settings,
    out: Path,
    step: Callable[[str], None] | None = None,
) -> tuple[pa.Table, Summary]:
    """As `prescreen` with a Parquet output, for any population size: the database writes the
    ranked list itself (DuckDB: ``COPY … TO``, streamed, never held in Python or Arrow), then the
    counts and the funnel are read back from that file (only the status and verdict columns);
    the query runs once. Returns the best-ranked rows (`HEAD_ROWS`) and the summary."""
    if out.suffix.lower() != ".parquet":
        raise ValueError(f"--out: {out.name} must end in .parquet for a streamed run")
    say = step or (lambda _: None)
    say("expanding concept sets")
    plan = plan_for(source, protocol, settings)
    query = build_query(source, plan)
    say(f"evaluating criteria into {out.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    source.to_parquet(query.table, out)
    say("summarising")
    written = source.read_parquet(out)
    stored = replace(query, table=written)
    summary = summarise(source, stored)
    # the first rows of the file (insertion order is kept): the best-ranked, as written
    head = source.to_pyarrow(written.limit(HEAD_ROWS))
    write_funnel(summary.funnel, funnel_path(out))
    return head, summary


def prescreen(
    source: OmopSource,
    protocol: Protocol,
    settings: Settings,
    out: Path | None = None,
    *,
    top: int | None = None,
    step: Callable[[str], None] | None = None,
) -> tuple[pa.Table, Summary]:
    """Plan, run and (optionally) write the pre-screen; `step` reports progress by stage."""
    say = step or (lambda _: None)
    say("expanding concept sets")
    plan = plan_for(source, protocol, settings)
    query = build_query(source, plan)
    say("evaluating criteria")
    result = fetch(source, query, top)
    say("summarising")
    summary = summarise(source, query, result if top is None else None)
    if out is not None:
        say(f"writing {out.name}")
        write_candidates(result, out)
        write_funnel(summary.funnel, funnel_path(out))
    return result, summary

"""The sequential attrition funnel: criterion by criterion, how many persons remain.

As ATLAS shows a cohort's attrition (OHDSI Circe "inclusion rule" report, [@OHDSI-Circe]): the
population seen in the look-back window, then after each EHR criterion in protocol order the
persons no criterion so far excludes. A person whose criterion cannot be judged (data missing)
stays in the funnel and is counted as "not assessable" at that step, so the last row is
candidates + incomplete. Criteria judged only at the visit are not steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import ibis
import pyarrow as pa

from trialdesk.prescreen.duckdb_engine import sql_string, values_sql
from trialdesk.prescreen.query import MET, NOT_ASSESSABLE, NOT_MET, PrescreenQuery
from trialdesk.prescreen.source import OmopSource
from trialdesk.protocol import CriterionKind

FIGURE_DPI = 150  # print quality for a report page
FUNNEL_COLUMNS = ("step", "criterion", "text", "remaining", "removed", "not_assessable")


@dataclass(frozen=True)
class FunnelStep:
    step: int
    criterion: str  # "" for the starting population
    text: str
    remaining: int
    removed: int
    not_assessable: int  # among the remaining, this criterion could not be judged


def verdict_groups(result: pa.Table, query: PrescreenQuery) -> pa.Table:
    """A fetched result holding every person as `database_groups` gives it (no second pass
    over the database: the query is not run again)."""
    keys = group_keys(query)
    grouped = result.group_by(keys, use_threads=False).aggregate([([], "count_all")])
    return grouped.rename_columns(
        ["persons" if name == "count_all" else name for name in grouped.column_names]
    )


def database_groups(source: OmopSource, query: PrescreenQuery) -> pa.Table:
    """One row per combination of status and EHR verdicts with its number of persons
    (`persons`), computed in the database: at most 3 × 3^k rows, one pass over the list,
    and every count and the funnel follow from it. No person-level field leaves the query."""
    t = query.table
    return source.to_pyarrow(t.group_by(group_keys(query)).aggregate(persons=t.count()))


def group_keys(query: PrescreenQuery) -> list[str]:
    return ["status", *(c.id for c in query.plan.ehr_criteria)]


def funnel_of_groups(groups: pa.Table, query: PrescreenQuery) -> list[FunnelStep]:
    """The funnel from `verdict_groups` / `database_groups`: walking the EHR criteria in
    protocol order, a group leaves at its first failing criterion."""
    still_in = groups.to_pylist()
    persons = sum(int(g["persons"]) for g in still_in)
    out = [FunnelStep(0, "", "Persons seen in the look-back window", persons, 0, 0)]
    for number, criterion in enumerate(query.plan.ehr_criteria, start=1):
        failing = NOT_MET if criterion.kind is CriterionKind.INCLUSION else MET
        unknown = sum(int(g["persons"]) for g in still_in if g[criterion.id] == NOT_ASSESSABLE)
        still_in = [g for g in still_in if g[criterion.id] != failing]
        left = sum(int(g["persons"]) for g in still_in)
        step = FunnelStep(
            number, criterion.id, criterion.text, left, out[-1].remaining - left, unknown
        )
        out.append(step)
    return out


def funnel(source: OmopSource, query: PrescreenQuery) -> list[FunnelStep]:
    """The funnel of the whole population (one aggregate query, whatever --top kept)."""
    return funnel_of_groups(database_groups(source, query), query)


FUNNEL_SCHEMA = ibis.schema(
    {
        "step": "int64",
        "criterion": "string",
        "text": "string",
        "remaining": "int64",
        "removed": "int64",
        "not_assessable": "int64",
    }
)


def funnel_path(out: Path) -> Path:
    """Next to the candidate list: candidates.csv → candidates.funnel.csv."""
    return out.with_name(f"{out.stem}.funnel{out.suffix}")


def write_funnel(steps: list[FunnelStep], path: Path) -> Path:
    """The funnel as Parquet or CSV (with a header), written by DuckDB (a few rows: no
    Arrow arrays are built from Python objects, which would import pandas)."""
    rows = [{name: getattr(step, name) for name in FUNNEL_COLUMNS} for step in steps]
    path.parent.mkdir(parents=True, exist_ok=True)
    options = "FORMAT 'parquet'" if path.suffix.lower() == ".parquet" else "FORMAT 'csv', HEADER"
    with duckdb.connect() as con:
        con.execute(
            f"COPY ({values_sql(rows, FUNNEL_SCHEMA)}) TO {sql_string(str(path))} ({options})"
        )
    return path


def plot_funnel(steps: list[FunnelStep], path: Path, title: str) -> Path:
    """A horizontal bar per step (persons remaining), labelled with the count and the removed."""
    from matplotlib.figure import Figure

    labels = [s.criterion or "population" for s in steps]
    figure = Figure(figsize=(7.5, 0.45 * len(steps) + 1.4))
    axes = figure.add_subplot()
    positions = list(range(len(steps)))[::-1]
    axes.barh(positions, [s.remaining for s in steps], color="#4c72b0")
    axes.set_yticks(positions, labels)
    top = max((s.remaining for s in steps), default=0) or 1
    for y, s in zip(positions, steps, strict=True):
        note = f"{s.remaining:,}" + (f"  (−{s.removed:,})" if s.step else "")
        axes.text(s.remaining + top * 0.01, y, note, va="center", fontsize=8)
    axes.set_xlim(0, top * 1.25)
    axes.set_xlabel("persons remaining")
    axes.set_title(title, fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=FIGURE_DPI)
    return path

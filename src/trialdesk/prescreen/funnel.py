"""The sequential attrition funnel: criterion by criterion, how many persons remain.

As ATLAS shows a cohort's attrition (OHDSI Circe "inclusion rule" report, [@OHDSI-Circe]): the
population seen in the look-back window, then after each EHR criterion in protocol order the
persons no criterion so far excludes. A person whose criterion cannot be judged (data missing)
stays in the funnel and is counted as "not assessable" at that step, so the last row is
candidates + incomplete. Criteria judged only at the visit are not steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from trialdesk.prescreen.query import MET, NOT_ASSESSABLE, NOT_MET, PrescreenQuery
from trialdesk.prescreen.source import OmopSource
from trialdesk.protocol import Criterion, CriterionKind

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


def _fails(criterion: Criterion, verdict: ir.StringValue) -> ir.BooleanValue:
    failing = NOT_MET if criterion.kind is CriterionKind.INCLUSION else MET
    return verdict == failing


def funnel_of_result(result: pa.Table, query: PrescreenQuery) -> list[FunnelStep]:
    """The same funnel counted from a fetched result holding every person (no second pass over
    the database: the query is not run again)."""
    import pyarrow.compute as pc

    steps = list(query.plan.ehr_criteria)
    persons = result.num_rows
    out = [FunnelStep(0, "", "Persons seen in the look-back window", persons, 0, 0)]
    excluded = pa.array([False] * persons, pa.bool_())
    for number, criterion in enumerate(steps, start=1):
        verdict = result.column(criterion.id)
        failing = NOT_MET if criterion.kind is CriterionKind.INCLUSION else MET
        unknown = pc.and_(pc.invert(excluded), pc.equal(verdict, NOT_ASSESSABLE))
        excluded = pc.or_(excluded, pc.fill_null(pc.equal(verdict, failing), False))
        left = persons - int(pc.sum(excluded).as_py() or 0)
        out.append(
            FunnelStep(
                number,
                criterion.id,
                criterion.text,
                left,
                out[-1].remaining - left,
                int(pc.sum(unknown).as_py() or 0),
            )
        )
    return out


def funnel_metrics(query: PrescreenQuery) -> dict[str, ir.Value]:
    """The funnel as aggregate metrics over `query.table` ("persons", "left_<n>",
    "unknown_<n>"), to be computed alone or with other counts in one pass."""
    t = query.table
    metrics: dict[str, ir.Value] = {"persons": t.count()}
    excluded: ir.BooleanValue = ibis.literal(False)
    for number, criterion in enumerate(query.plan.ehr_criteria, start=1):
        still_in = ~excluded
        metrics[f"unknown_{number}"] = (still_in & (t[criterion.id] == NOT_ASSESSABLE)).sum()
        excluded = excluded | _fails(criterion, t[criterion.id])
        metrics[f"left_{number}"] = (~excluded).sum()
    return metrics


def funnel_of_counts(row: Mapping[str, int | None], query: PrescreenQuery) -> list[FunnelStep]:
    """The steps from the values of `funnel_metrics`."""
    persons = int(row["persons"] or 0)
    out = [FunnelStep(0, "", "Persons seen in the look-back window", persons, 0, 0)]
    for number, criterion in enumerate(query.plan.ehr_criteria, start=1):
        left = int(row[f"left_{number}"] or 0)
        out.append(
            FunnelStep(
                number,
                criterion.id,
                criterion.text,
                left,
                out[-1].remaining - left,
                int(row[f"unknown_{number}"] or 0),
            )
        )
    return out


def funnel(source: OmopSource, query: PrescreenQuery) -> list[FunnelStep]:
    """The funnel of the whole population (one aggregate query, whatever --top kept)."""
    row = source.backend.to_pyarrow(query.table.aggregate(**funnel_metrics(query))).to_pylist()
    return funnel_of_counts(row[0], query)


def funnel_table(steps: list[FunnelStep]) -> pa.Table:
    return pa.table(
        {
            "step": [s.step for s in steps],
            "criterion": [s.criterion for s in steps],
            "text": [s.text for s in steps],
            "remaining": [s.remaining for s in steps],
            "removed": [s.removed for s in steps],
            "not_assessable": [s.not_assessable for s in steps],
        }
    )


def funnel_path(out: Path) -> Path:
    """Next to the candidate list: candidates.csv → candidates.funnel.csv."""
    return out.with_name(f"{out.stem}.funnel{out.suffix}")


def write_funnel(steps: list[FunnelStep], path: Path) -> Path:
    table = funnel_table(steps)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        pq.write_table(table, path)
    else:
        pacsv.write_csv(table, path)
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

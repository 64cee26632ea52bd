"""The ranked candidate list as one Ibis expression (the query plan, not per-backend code).

Per person and criterion: ``met`` / ``not met`` / ``not assessable`` (from EHR data), or
``assessed at visit`` for criteria the protocol marks `assessed_at: visit` (consent, ITT,
pregnancy test, contraception …). A criterion *passes* when an inclusion is met or an exclusion
is not met. Ranking: fewest failed criteria first, then most assessable, then person_id.
Status: ``excluded`` (a criterion fails), ``candidate`` (all EHR criteria pass), ``possible``
(none fails but some cannot be judged from EHR).
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from trialdesk.prescreen.compile import CriteriaCompiler
from trialdesk.prescreen.features import person_elements
from trialdesk.prescreen.plan import Plan
from trialdesk.prescreen.source import OmopSource
from trialdesk.protocol import AssessedAt, Criterion, CriterionKind

MET, NOT_MET, NOT_ASSESSABLE, AT_VISIT = "met", "not met", "not assessable", "assessed at visit"
EXCLUDED, CANDIDATE, POSSIBLE = "excluded", "candidate", "possible"
STATUSES = (CANDIDATE, POSSIBLE, EXCLUDED)


@dataclass
class PrescreenQuery:
    plan: Plan
    table: ir.Table  # one row per person, ranked
    criteria: list[Criterion]  # every criterion, in protocol order (visit ones included)

    @property
    def value_columns(self) -> list[str]:
        return [c for c in self.table.columns if c not in _fixed_columns(self.criteria)]


def _fixed_columns(criteria: list[Criterion]) -> set[str]:
    return {"rank", "person_id", "status", "failed", "assessable", "not_assessable"} | {
        c.id for c in criteria
    }


def truth_columns(plan: Plan, wide: ir.Table) -> dict[str, ir.BooleanValue]:
    """Each EHR criterion as a nullable boolean (NULL = not assessable)."""
    compiler = CriteriaCompiler(plan, wide)
    return {c.id: compiler.truth(c.expr) for c in plan.ehr_criteria}


def passes(criterion: Criterion, truth: ir.BooleanValue) -> ir.BooleanValue:
    return truth if criterion.kind is CriterionKind.INCLUSION else ~truth


def build_query(source: OmopSource, plan: Plan) -> PrescreenQuery:
    wide = person_elements(source, plan)
    ehr = plan.ehr_criteria
    # Materialise each criterion once (as a column) before counting and labelling it; using
    # the expressions directly would make the SQL repeat every criterion four times.
    wide = wide.mutate(
        **{_truth(c.id): t for c, t in zip(ehr, truth_columns(plan, wide).values(), strict=True)}
    )
    truths = {c.id: wide[_truth(c.id)] for c in ehr}
    failed = _count([passes(c, truths[c.id]) == ibis.literal(False) for c in ehr])
    assessable = _count([truths[c.id].notnull() for c in ehr])
    verdicts = {c.id: _verdict(c, truths.get(c.id)) for c in plan.protocol.criteria}
    scored = wide.mutate(failed=failed, assessable=assessable)
    scored = scored.mutate(
        not_assessable=len(ehr) - scored.assessable,
        status=ibis.cases(
            (scored.failed > 0, EXCLUDED),
            (scored.assessable == len(ehr), CANDIDATE),
            else_=POSSIBLE,
        ),
        rank=ibis.row_number().over(
            order_by=[scored.failed, ibis.desc(scored.assessable), scored.person_id]
        )
        + 1,
        **verdicts,
    )
    front = ["rank", "person_id", "status", "failed", "assessable", "not_assessable"]
    front += [c.id for c in plan.protocol.criteria]
    table = scored.select(*front, *_value_columns(plan, scored)).order_by("rank")
    return PrescreenQuery(plan, table, list(plan.protocol.criteria))


def _truth(criterion_id: str) -> str:
    return f"{criterion_id}__truth"


def _count(flags: list[ir.BooleanValue]) -> ir.IntegerValue:
    total: ir.IntegerValue = ibis.literal(0, "int32")
    for flag in flags:
        total = total + flag.fill_null(False).cast("int32")
    return total


def _verdict(criterion: Criterion, truth: ir.BooleanValue | None) -> ir.StringValue:
    if criterion.assessed_at is AssessedAt.VISIT or truth is None:
        return ibis.literal(AT_VISIT)
    return ibis.cases((truth, MET), (~truth, NOT_MET), else_=NOT_ASSESSABLE)


def _value_columns(plan: Plan, table: ir.Table) -> list[ir.Value]:
    """The values used: recorded value, unit, canonical value and date of each element."""
    out: list[ir.Value] = [table.sex, table.age, table.birth_year]
    for name, element in plan.measured.items():
        unit = ibis.cases(
            *[(table[f"{name}_unit_id"] == u.unit_concept_id, u.unit) for u in element.units],
            else_=ibis.null("string"),
        )
        canonical_unit = plan.catalogue[name].canonical_unit or ""
        out += [
            table[f"{name}_value"],
            unit.name(f"{name}_unit"),
            table[f"{name}_canonical"].name(f"{name}_{_slug(canonical_unit)}"),
            table[f"{name}_date"],
        ]
    if "bmi" in table.columns:
        out.append(table.bmi)
    for name in plan.coded:
        out += [table[name], table[f"{name}_date"]]
    return out


def _slug(unit: str) -> str:
    return {"%": "percent", "mmol/L": "mmol_l", "kg": "kg", "cm": "cm"}.get(
        unit, unit.replace("/", "_per_").lower()
    )

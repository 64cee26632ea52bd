"""Helpers shared by the pre-screening tests (plan and compiled truths)."""

from __future__ import annotations

from datetime import date

from trialdesk.prescreen.plan import Plan, Settings, build_plan
from trialdesk.prescreen.query import MET, NOT_MET, build_query
from trialdesk.prescreen.source import OmopSource
from trialdesk.protocol import builtin_protocol

INDEX = date(2025, 6, 30)
PERSONS = 500


def plan_for(source: OmopSource, index: date = INDEX, lookback: int = 365) -> Plan:
    return build_plan(builtin_protocol(), Settings(index, lookback), source.descendants)


def ibis_truths(source: OmopSource, plan: Plan) -> dict[int, dict[str, bool | None]]:
    """Per person, per EHR criterion: True / False / None, from the compiled query."""
    rows = source.backend.to_pyarrow(build_query(source, plan).table).to_pylist()
    return {
        int(r["person_id"]): {
            c.id: {MET: True, NOT_MET: False}.get(r[c.id]) for c in plan.ehr_criteria
        }
        for r in rows
    }

"""The OHDSI Circe path as a benchmark baseline: a Circe cohort definition (JSON) turned into OHDSI
SQL by duckcdm's port of circe-be, translated to DuckDB by its port of SqlRender, and run on the
same OMOP CDM ([@duckcdm], [@OHDSI-Circe]).

The cohort is one both paths express with the same meaning: "type 2 diabetes coded, no severe
organ disease coded, no HIV / hepatitis B / hepatitis C coded" (trialdesk: C1 t2dm_diagnosis is
true, E1 and the EHR part of E4; the map's P1 is left out):

* index event: the person's observation period overlapping the look-back window
  (start ≤ index date, end ≥ window start), as `prescreen.features.population`;
* each condition rule reads its concept sets (descendants and exclusions as in the YAML files)
  at any time on or before the index date (the elements' ``history: true``): T2DM at least once,
  the others exactly 0 times (Circe's reading of "absent", as trialdesk's closed world).

Circe cannot express two other rules of trialdesk, so cohorts using them would not be the same
person set: the most recent measurement (e.g. the latest HbA1c ≥ 7 %, not any), and a drug
exposure *overlapping* the look-back (circe-be applies OccurrenceEndDate to the start date, a
behaviour duckcdm keeps "as in the Java original").
"""

from __future__ import annotations

from datetime import date
from typing import Any

from trialdesk.prescreen.concepts import ConceptSet, builtin_concept_sets

COHORT_ID = 1


def _concept_set(number: int, concept_set: ConceptSet) -> dict[str, Any]:
    return {
        "id": number,
        "name": concept_set.name,
        "expression": {
            "items": [
                {
                    "concept": {"CONCEPT_ID": item.concept_id, "CONCEPT_NAME": item.name},
                    "includeDescendants": item.include_descendants,
                    "isExcluded": item.exclude,
                    "includeMapped": False,
                }
                for item in concept_set.items
            ]
        },
    }


def _any_time(criteria: dict[str, Any]) -> dict[str, Any]:
    """At least one such event, at any time relative to the index event."""
    return {
        "Criteria": criteria,
        "StartWindow": {
            "Start": {"Coeff": -1},
            "End": {"Coeff": 1},
            "UseIndexEnd": False,
            "UseEventEnd": False,
        },
        "IgnoreObservationPeriod": True,
        "RestrictVisit": False,
        "Occurrence": {"Type": 2, "Count": 1},
    }


ORGAN_SETS = (
    "severe_heart_disease",
    "severe_lung_disease",
    "haematopoietic_dysfunction",
    "liver_dysfunction",
    "kidney_dysfunction",
)
VIRAL_SETS = ("hiv", "hepatitis_b", "hepatitis_c")


def _merged(name: str, names: tuple[str, ...]) -> ConceptSet:
    sets = builtin_concept_sets()
    items = tuple(item for n in names for item in sets[n].items)
    return sets[names[0]].model_copy(update={"name": name, "items": items})


def _rule(name: str, codeset: int, index: date, count: tuple[int, int]) -> dict[str, Any]:
    """Occurrence type 0 = exactly, 2 = at least (circe-be)."""
    condition = {
        "ConditionOccurrence": {
            "CodesetId": codeset,
            "OccurrenceStartDate": {"Value": index.isoformat(), "Op": "lte"},
        }
    }
    criteria = _any_time(condition)
    criteria["Occurrence"] = {"Type": count[0], "Count": count[1]}
    return {
        "name": name,
        "expression": {
            "Type": "ALL",
            "CriteriaList": [criteria],
            "DemographicCriteriaList": [],
            "Groups": [],
        },
    }


def cohort_definition(index: date, window_start: date) -> dict[str, Any]:
    """The cohort as Circe JSON."""
    sets = builtin_concept_sets()
    return {
        "ConceptSets": [
            _concept_set(0, sets["t2dm"]),
            _concept_set(1, _merged("severe organ disease", ORGAN_SETS)),
            _concept_set(2, _merged("HIV, hepatitis B or C", VIRAL_SETS)),
        ],
        "PrimaryCriteria": {
            "CriteriaList": [
                {
                    "ObservationPeriod": {
                        "PeriodStartDate": {"Value": index.isoformat(), "Op": "lte"},
                        "PeriodEndDate": {"Value": window_start.isoformat(), "Op": "gte"},
                    }
                }
            ],
            "ObservationWindow": {"PriorDays": 0, "PostDays": 0},
            "PrimaryCriteriaLimit": {"Type": "First"},
        },
        "QualifiedLimit": {"Type": "First"},
        "ExpressionLimit": {"Type": "First"},
        "InclusionRules": [
            _rule("T2DM coded", 0, index, (2, 1)),
            _rule("no severe organ disease coded", 1, index, (0, 0)),
            _rule("no HIV, hepatitis B or C coded", 2, index, (0, 0)),
        ],
        "CensoringCriteria": [],
        "CollapseSettings": {"CollapseType": "ERA", "EraPad": 0},
        "CensorWindow": {},
    }


def trialdesk_protocol() -> Any:
    """The same cohort for trialdesk: C1 (T2DM coded), E1, E4 of the built-in protocol."""
    from trialdesk.protocol import Protocol, builtin_protocol

    data = builtin_protocol().model_dump(by_alias=True)
    c1 = {
        "id": "C1",
        "kind": "inclusion",
        "number": 1,
        "text": "Type 2 diabetes coded",
        "expr": {"element": "t2dm_diagnosis", "op": "is", "value": True},
    }
    data["criteria"] = [c1] + [c for c in data["criteria"] if c["id"] in ("E1", "E4")]
    return Protocol.model_validate(data)


def trialdesk_map() -> Any:
    """The built-in element map without the pre-screen's own P1 (not part of this cohort)."""
    from trialdesk.prescreen.mapping import builtin_map

    return builtin_map().model_copy(update={"extra_criteria": ()})


def circe_sql(index: date, window_start: date) -> list[str]:
    """The cohort's SQL statements in DuckDB's dialect (duckcdm: circe-be → SqlRender)."""
    from duckcdm.circe import build_cohort_query
    from duckcdm.sqlrender import render, split_sql, translate

    ohdsi = build_cohort_query(
        cohort_definition(index, window_start),
        cdm_schema="main",
        vocabulary_schema="main",
        target_table="main.cohort",
        result_schema="main",
        cohort_id=COHORT_ID,
        generate_stats=False,
    )
    sql = translate(render(ohdsi), "duckdb")
    return [s for s in split_sql(sql) if s.strip()]


COHORT_TABLE = """CREATE TABLE IF NOT EXISTS cohort (cohort_definition_id BIGINT,
  subject_id BIGINT, cohort_start_date DATE, cohort_end_date DATE)"""


def run_circe(con: Any, index: date, window_start: date) -> list[int]:
    """Run the Circe SQL on a DuckDB connection holding the CDM; the cohort's person ids."""
    con.execute(COHORT_TABLE)
    for statement in circe_sql(index, window_start):
        con.execute(statement)
    rows = con.execute(
        "SELECT DISTINCT subject_id FROM cohort WHERE cohort_definition_id = ? ORDER BY 1",
        [COHORT_ID],
    ).fetchall()
    return [int(r[0]) for r in rows]

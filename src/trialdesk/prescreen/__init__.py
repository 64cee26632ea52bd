"""EHR pre-screening over an OMOP CDM v5.4 database: the protocol's criterion trees compiled by
Ibis to one query plan for DuckDB (embedded default: a DuckDB file or a Parquet folder),
PostgreSQL and Spark.

* `concepts` — concept sets as data files (`concept_sets/*.yaml`), expanded via concept_ancestor;
* `mapping` — where each data element comes from (`omop_map.yaml`), unit_concept_id → unit,
  and the pre-screening additions (P1: insulin-treated, an EHR proxy);
* `plan` — a run's resolved choices (concepts, windows, units, hard limits);
* `features` — one row per person (latest values, coded conditions/drugs, age, BMI) in Ibis;
* `compile` — criterion expression trees → nullable boolean Ibis columns (Kleene logic);
* `query` — verdicts, counts, status and ranking; `run` — end to end, output, summary;
* `screening_log` — ranked rows → rows of the study database's pre-screening log
  (stored by `trialdesk.services.record_prescreen_run`; ``trialdesk prescreen --into-database``);
* `records` — the per-person path (raw records → `trialdesk.eligibility.Evaluator`);
* `handsql` — the same criteria hand-written in DuckDB SQL (performance reference);
* `synth` — a synthetic OMOP CDM population; `source` — opening DuckDB / PostgreSQL / Spark.
"""

from trialdesk.prescreen.plan import DEFAULT_LOOKBACK_DAYS, Plan, Settings, build_plan
from trialdesk.prescreen.query import PrescreenQuery, build_query
from trialdesk.prescreen.run import Summary, default_index_date, prescreen, write_candidates
from trialdesk.prescreen.source import (
    OmopSource,
    SourceError,
    open_duckdb,
    open_postgres,
    open_source,
    open_spark,
)
from trialdesk.prescreen.synth import SynthParameters, synthesize, write_cdm

__all__ = [
    "DEFAULT_LOOKBACK_DAYS",
    "OmopSource",
    "Plan",
    "PrescreenQuery",
    "Settings",
    "SourceError",
    "Summary",
    "SynthParameters",
    "build_plan",
    "build_query",
    "default_index_date",
    "open_duckdb",
    "open_postgres",
    "open_source",
    "open_spark",
    "prescreen",
    "synthesize",
    "write_candidates",
    "write_cdm",
]

"""Shared fixtures: a small synthetic OMOP CDM (DuckDB file and Parquet folder) and helpers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from trialdesk.prescreen.plan import Plan, Settings, build_plan
from trialdesk.prescreen.query import MET, NOT_MET, build_query
from trialdesk.prescreen.source import OmopSource, open_duckdb
from trialdesk.prescreen.synth import synthesize, write_cdm
from trialdesk.protocol import builtin_protocol

INDEX = date(2025, 6, 30)
PERSONS = 700


@pytest.fixture(scope="session")
def cdm_tables() -> dict[str, pa.Table]:
    return synthesize(PERSONS, seed=7)


@pytest.fixture(scope="session")
def cdm_file(cdm_tables: dict[str, pa.Table], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cdm(cdm_tables, tmp_path_factory.mktemp("omop") / "cdm.duckdb")


@pytest.fixture(scope="session")
def cdm_folder(cdm_tables: dict[str, pa.Table], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cdm(cdm_tables, tmp_path_factory.mktemp("omop") / "parquet")


@pytest.fixture()
def duck(cdm_file: Path) -> Iterator[OmopSource]:
    source = open_duckdb(cdm_file)
    yield source
    source.close()


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

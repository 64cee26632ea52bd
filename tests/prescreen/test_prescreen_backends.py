"""The same compiled query on PostgreSQL and on a local Spark session gives the same candidates
as on DuckDB (small synthetic data)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from prescreen_helpers import drop_postgres, load_postgres, plan_for

from trialdesk.prescreen.query import build_query
from trialdesk.prescreen.source import OmopSource, open_postgres, open_spark

PG_URL = os.environ.get("TRIALDESK_TEST_POSTGRES_URL")


def _comparable(table: pa.Table) -> list[dict[str, Any]]:
    rows = table.to_pylist()
    for row in rows:
        for key, value in row.items():
            if isinstance(value, float):
                row[key] = round(value, 9)
            elif hasattr(value, "date") and not isinstance(value, str) and key.endswith("_date"):
                row[key] = value.date() if callable(value.date) else value
    return rows


def _duckdb_rows(duck: OmopSource) -> list[dict[str, Any]]:
    return _comparable(duck.to_pyarrow(build_query(duck, plan_for(duck)).table))


@pytest.fixture()
def postgres(cdm_tables: dict[str, pa.Table]) -> Iterator[OmopSource]:
    if not PG_URL:
        pytest.skip("TRIALDESK_TEST_POSTGRES_URL is not set")
    schema = f"omop_{uuid.uuid4().hex[:8]}"
    load_postgres(cdm_tables, schema)
    source = open_postgres(PG_URL, schema)
    try:
        yield source
    finally:
        source.close()
        drop_postgres(schema)


@pytest.mark.postgres
def test_postgres_gives_the_same_candidates(duck: OmopSource, postgres: OmopSource) -> None:
    plan = plan_for(postgres)
    assert plan.vocabulary
    ours = _comparable(postgres.to_pyarrow(build_query(postgres, plan).table))
    assert ours == _duckdb_rows(duck)


def _java() -> bool:
    if not shutil.which("java"):
        return False
    return subprocess.run(["java", "-version"], capture_output=True).returncode == 0


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The copy keyword:Warning")
@pytest.mark.filterwarnings("ignore:The 'future.infer_string' option:Warning")
def test_spark_gives_the_same_candidates(duck: OmopSource, cdm_folder: Path) -> None:
    pytest.importorskip("pyspark", reason="install the spark extra: pip install 'trialdesk[spark]'")
    if not _java():
        pytest.skip("no Java runtime (apt-get install openjdk-17-jre-headless)")
    spark = open_spark(cdm_folder)
    try:
        plan = plan_for(spark)
        assert plan.vocabulary
        ours = _comparable(spark.to_pyarrow(build_query(spark, plan).table))
    finally:
        spark.close()
    theirs = _duckdb_rows(duck)
    assert [r["person_id"] for r in ours] == [r["person_id"] for r in theirs]
    assert ours == theirs

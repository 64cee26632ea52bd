"""Shared fixtures: a small synthetic OMOP CDM (DuckDB file and Parquet folder) and helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from prescreen_helpers import PERSONS

from trialdesk.prescreen.source import OmopSource, open_duckdb
from trialdesk.prescreen.synth import synthesize, write_cdm


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

"""The embedded default runs Ibis-compiled SQL through the duckdb module (issue #16, start-up
cost): the same rows, types and order as Ibis's own DuckDB backend, small tables made without
pandas, and a whole pre-screen that loads neither pandas nor Ibis's DuckDB backend."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import ibis
from prescreen_helpers import INDEX, plan_for

from trialdesk.prescreen.duckdb_engine import values_sql
from trialdesk.prescreen.query import build_query
from trialdesk.prescreen.source import IbisEngine, OmopSource, open_duckdb

SCHEMA = ibis.schema({"id": "int64", "factor": "float64", "name": "string", "start": "date"})


def test_the_engine_gives_what_ibis_duckdb_backend_gives(duck: OmopSource, cdm_file: Path) -> None:
    con = ibis.duckdb.connect(str(cdm_file), read_only=True)
    try:
        tables = {n.lower(): con.table(n) for n in con.list_tables()}
        through_ibis = OmopSource(IbisEngine(con), "duckdb", tables, "Ibis's DuckDB backend")
        expected = through_ibis.to_pyarrow(build_query(through_ibis, plan_for(through_ibis)).table)
    finally:
        con.disconnect()
    ours = duck.to_pyarrow(build_query(duck, plan_for(duck)).table)
    assert ours.schema == expected.schema
    assert ours.num_rows == expected.num_rows > 0
    assert ours.equals(expected)  # the same rows in the same (ranked) order


def test_small_tables_keep_every_value_exactly() -> None:
    # The first three come back one ulp off when written as decimal literals (DuckDB reads
    # them as DECIMAL, then converts): found by trying random floats.
    awkward = [0.45913173191066836, 0.0034693088456262166, 0.0016655255042752459]
    awkward += [0.1 + 0.2, 1 / 3, 18.0156, 1e300, -1e-300, math.pi]
    rows = [
        {"id": i, "factor": f, "name": f"it's {i}", "start": date(2025, 6, i + 1)}
        for i, f in enumerate(awkward)
    ]
    rows.append({"id": 99, "factor": None, "name": None, "start": None})
    back = duckdb.sql(values_sql(rows, SCHEMA)).to_arrow_table()
    assert back.to_pylist() == rows
    assert back.schema == SCHEMA.to_pyarrow()


def test_an_empty_small_table_has_its_columns_and_no_row() -> None:
    back = duckdb.sql(values_sql([], SCHEMA)).to_arrow_table()
    assert back.num_rows == 0
    assert back.schema == SCHEMA.to_pyarrow()


PROGRAM = """
import sys
from pathlib import Path
from datetime import date
from trialdesk.prescreen.plan import Settings
from trialdesk.prescreen.run import prescreen_streamed
from trialdesk.prescreen.source import open_source
from trialdesk.protocol import builtin_protocol
source = open_source(sys.argv[1])
head, summary = prescreen_streamed(
    source, builtin_protocol(), Settings(date.fromisoformat(sys.argv[2])), Path(sys.argv[3])
)
source.close()
loaded = [m for m in ("pandas", "ibis.backends.duckdb") if m in sys.modules]
print(summary.persons, head.num_rows, ",".join(loaded) or "neither")
"""


def test_a_streamed_prescreen_loads_neither_pandas_nor_ibis_duckdb_backend(
    cdm_folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ranked.parquet"
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(cdm_folder), INDEX.isoformat(), str(out)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ},
    )
    assert done.returncode == 0, done.stderr
    persons, head, loaded = done.stdout.split()
    assert int(persons) > 0 and int(head) > 0
    assert loaded == "neither"
    assert out.exists() and out.with_name("ranked.funnel.parquet").exists()


def test_a_parquet_folder_and_a_duckdb_file_open_alike(cdm_file: Path, cdm_folder: Path) -> None:
    a, b = open_duckdb(cdm_file), open_duckdb(cdm_folder)
    try:
        assert set(a.tables) == set(b.tables)
        for name in a.tables:
            assert a.table(name).schema().names == b.table(name).schema().names, name
    finally:
        a.close()
        b.close()

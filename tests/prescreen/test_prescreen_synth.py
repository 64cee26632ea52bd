"""Issue #16: the synthetic CDM is generated and written in chunks; the data do not depend on the
chunk size (randomness is drawn per seeded block of persons, row ids continue across chunks)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trialdesk.prescreen.synth import (
    CLINICAL,
    TABLE_ORDER,
    synthesize,
    synthesize_chunks,
    write_cdm,
    write_cdm_streaming,
)

PERSONS, BLOCK = 2_300, 500


def joined(chunk_persons: int) -> tuple[dict[str, pa.Table], int]:
    chunks = list(synthesize_chunks(PERSONS, 5, None, chunk_persons, BLOCK))
    return {n: pa.concat_tables([c[n] for c in chunks]) for n in CLINICAL}, len(chunks)


def test_chunked_generation_equals_one_chunk() -> None:
    one, count = joined(PERSONS)
    assert count == 1
    for chunk_persons, expected in ((500, 5), (1_000, 3), (700, 3)):  # 700 → whole blocks
        chunked, count = joined(chunk_persons)
        assert count == expected
        for name in CLINICAL:
            assert chunked[name].equals(one[name]), name
    person = one["person"].column("person_id").to_pylist()
    assert person == list(range(1, PERSONS + 1))
    for name, column in (("measurement", "measurement_id"), ("drug_exposure", "drug_exposure_id")):
        ids = one[name].column(column).to_pylist()
        assert ids == list(range(1, len(ids) + 1))  # continue across blocks, no gaps
    visits = one["visit_occurrence"].num_rows
    assert max(one["measurement"].column("visit_occurrence_id").to_pylist()) <= visits
    assert not joined(PERSONS)[0]["measurement"].equals(
        pa.concat_tables(
            [c["measurement"] for c in synthesize_chunks(PERSONS, 6, None, PERSONS, BLOCK)]
        )
    )  # another seed, other data


def test_streamed_files_hold_the_same_rows_as_the_in_memory_tables(tmp_path: Path) -> None:
    tables = synthesize(PERSONS, seed=5)
    whole = write_cdm(tables, tmp_path / "whole")
    seen: list[int] = []
    rows = write_cdm_streaming(
        PERSONS, tmp_path / "chunked", 5, chunk_persons=1, progress=seen.append
    )
    assert seen[-1] == PERSONS and seen == sorted(seen)
    file = tmp_path / "chunked.duckdb"
    write_cdm_streaming(PERSONS, file, 5, chunk_persons=10_000)
    with duckdb.connect(str(file), read_only=True) as db:
        for name in TABLE_ORDER:
            expected = tables[name]
            assert rows[name] == expected.num_rows
            for folder in (whole, tmp_path / "chunked"):  # Parquet keeps seconds as ms: cast back
                read = pq.read_table(folder / f"{name}.parquet").cast(expected.schema)
                assert read.equals(expected), (folder.name, name)
            stored = db.sql(f'SELECT * FROM "{name}"').to_arrow_table()
            assert stored.num_rows == expected.num_rows
            assert stored.column(0).to_pylist() == expected.column(0).to_pylist()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: list(synthesize_chunks(10, chunk_persons=0)), "chunk_persons: 0"),
        (lambda: list(synthesize_chunks(0)), "persons: 0 must be at least 1"),
        (lambda: synthesize(10, block_persons=0), "block_persons: 0"),
    ],
)
def test_bad_sizes_are_named(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]

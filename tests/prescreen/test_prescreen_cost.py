"""Issue #16, cost: only the data elements the protocol's criteria reference are computed."""

from __future__ import annotations

from pathlib import Path

import ibis
import pytest
from prescreen_helpers import INDEX

from trialdesk.prescreen.plan import Settings, build_plan, needed_elements, with_criteria
from trialdesk.prescreen.query import build_query
from trialdesk.prescreen.source import OmopSource
from trialdesk.protocol import builtin_protocol


def test_a_one_criterion_plan_reads_only_what_that_criterion_needs(duck: OmopSource) -> None:
    one = build_plan(with_criteria(builtin_protocol(), ["I5"]), Settings(INDEX), duck.descendants)
    full = build_plan(builtin_protocol(), Settings(INDEX), duck.descendants)
    # I5 (HbA1c) and the pre-screen's own P1 (insulin-treated, added by the element map)
    assert [c.id for c in one.ehr_criteria] == ["I5", "P1"]
    assert set(one.measured) == {"hba1c", "fasting_glucose"} < set(full.measured)
    assert set(one.coded) == {"insulin_treated"} and not one.categories
    assert {"weight", "height", "diabetes_type"} <= needed_elements(full)
    sql = str(ibis.to_sql(build_query(duck, one).table, dialect="duckdb"))
    assert "condition_occurrence" not in sql  # no condition is scanned at all
    assert "condition_occurrence" in str(ibis.to_sql(build_query(duck, full).table, "duckdb"))


def test_the_pruned_query_gives_the_same_verdicts_as_the_full_one(duck: OmopSource) -> None:
    one = build_plan(with_criteria(builtin_protocol(), ["I5"]), Settings(INDEX), duck.descendants)
    full = build_plan(builtin_protocol(), Settings(INDEX), duck.descendants)
    small = duck.to_pyarrow(build_query(duck, one).table).select(["person_id", "I5"])
    large = duck.to_pyarrow(build_query(duck, full).table).select(["person_id", "I5"])
    assert small.num_rows == large.num_rows > 0
    assert sorted(small.to_pylist(), key=str) == sorted(large.to_pylist(), key=str)
    assert {"hba1c_value", "bmi"} & set(large.column_names) == set()  # selected above
    assert "weight_value" not in build_query(duck, one).table.columns


def test_an_unknown_criterion_is_named() -> None:
    with pytest.raises(ValueError, match="criteria: 'I99' is not one of I1, I2"):
        with_criteria(builtin_protocol(), ["I5", "I99"])


def test_the_funnel_counted_from_the_result_equals_the_aggregate_query(duck: OmopSource) -> None:
    """The run counts its funnel from verdict groups (fetched rows or one grouping query in
    the database); both equal a person-by-person walk down the criteria."""
    from trialdesk.prescreen.funnel import funnel, funnel_of_groups, verdict_groups
    from trialdesk.protocol import CriterionKind

    query = build_query(duck, build_plan(builtin_protocol(), Settings(INDEX), duck.descendants))
    result = duck.to_pyarrow(query.table)
    steps = funnel_of_groups(verdict_groups(result, query), query)
    assert steps == funnel(duck, query)
    people = result.to_pylist()
    left = list(people)
    for step, criterion in zip(steps[1:], query.plan.ehr_criteria, strict=True):
        failing = "not met" if criterion.kind is CriterionKind.INCLUSION else "met"
        unknown = sum(p[criterion.id] == "not assessable" for p in left)
        left = [p for p in left if p[criterion.id] != failing]
        assert (step.remaining, step.not_assessable) == (len(left), unknown), criterion.id
    assert steps[0].remaining == len(people) and steps[-1].remaining > 0
    assert any(s.removed for s in steps) and any(s.not_assessable for s in steps)


def test_a_streamed_run_writes_the_same_ranked_list_and_counts(
    duck: OmopSource, tmp_path: Path
) -> None:
    """The database writes the list itself (no Arrow copy of every person) and the counts are
    read back from the file: the same as the in-memory run."""
    import pyarrow.parquet as pq

    from trialdesk.prescreen.run import prescreen, prescreen_streamed

    settings = Settings(INDEX)
    result, summary = prescreen(duck, builtin_protocol(), settings)
    out = tmp_path / "ranked.parquet"
    head, streamed = prescreen_streamed(duck, builtin_protocol(), settings, out)
    written = pq.read_table(out)  # in rank order as written: the head is its first rows
    assert written.column("rank").to_pylist() == list(range(1, result.num_rows + 1))
    assert (
        written.select(["person_id", "rank", "status"]).to_pylist()
        == result.select(["person_id", "rank", "status"]).to_pylist()
    )
    assert (
        head.select(["person_id", "rank"]).to_pylist()
        == result.slice(0, 10).select(["person_id", "rank"]).to_pylist()
    )
    assert streamed.by_status == summary.by_status and streamed.funnel == summary.funnel
    assert streamed.by_criterion == summary.by_criterion
    assert (tmp_path / "ranked.funnel.parquet").exists()
    with pytest.raises(ValueError, match="must end in .parquet"):
        prescreen_streamed(duck, builtin_protocol(), settings, tmp_path / "ranked.csv")


def test_rows_labelled_after_the_sort_stay_in_rank_order_at_scale(tmp_path: Path) -> None:
    """The labels are computed over the sorted subquery with no second ORDER BY on DuckDB: on
    600,000 persons (several row groups, two threads) the fetched result and the Parquet file
    DuckDB writes are still in rank order, 1…n by failed, assessable desc, person_id."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from trialdesk.prescreen.query import _ranked

    con = ibis.duckdb.connect(threads=2)
    scored = con.sql(
        "SELECT i AS person_id, CAST(hash(i, 1) % 4 AS INT) AS failed,"
        " CAST(hash(i, 2) % 9 AS INT) AS assessable FROM range(600000) t(i)"
    )
    ranked = _ranked(scored)
    labelled = ranked.select(
        ranked.rank,
        ranked.person_id,
        ranked.failed,
        ranked.assessable,
        ibis.ifelse(ranked.failed > 0, "excluded", "candidate").name("status"),
    )
    assert "ORDER BY" not in str(ibis.to_sql(labelled, dialect="duckdb")).rsplit(")", 1)[-1]
    out = tmp_path / "ranked.parquet"
    con.to_parquet(labelled, out)
    keys = [("failed", "ascending"), ("assessable", "descending"), ("person_id", "ascending")]
    for table in (con.to_pyarrow(labelled), pq.read_table(out)):
        assert table.column("rank").to_pylist() == list(range(1, 600_001))
        assert pc.sort_indices(table, sort_keys=keys).to_pylist() == list(range(600_000))
    con.disconnect()


def test_duckdb_memory_is_bounded_by_default_and_can_be_set(
    cdm_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue #16: ≤ 4 GB at 10M persons. DuckDB's own default would be 80 % of the machine."""
    from trialdesk.prescreen.source import MEMORY_LIMIT_ENV, SourceError, open_duckdb

    def limit() -> str:
        source = open_duckdb(cdm_folder)
        try:
            return str(source.connection.sql("SELECT current_setting('memory_limit')").fetchone())
        finally:
            source.close()

    monkeypatch.delenv(MEMORY_LIMIT_ENV, raising=False)
    assert "2.7 GiB" in limit()  # 3 GB as DuckDB shows it (3·10⁹ bytes)
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "1GB")
    assert "953.6 MiB" in limit()
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "lots")
    with pytest.raises(SourceError, match="TRIALDESK_DUCKDB_MEMORY_LIMIT: 'lots' is not a memory"):
        open_duckdb(cdm_folder)

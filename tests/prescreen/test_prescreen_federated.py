"""Issue #16, federated feasibility: the same criteria at several sites (two DuckDB files and a
PostgreSQL OMOP schema), only counts leave a site, small cells suppressed without leaks."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from pathlib import Path

import pydantic
import pytest
from prescreen_helpers import INDEX, PG_URL, drop_postgres, load_postgres
from typer.testing import CliRunner

from trialdesk.cli import app
from trialdesk.prescreen.federated import (
    FunnelCounts,
    SiteCounts,
    parse_site,
    release,
    site_counts,
    total,
)
from trialdesk.prescreen.plan import Settings
from trialdesk.prescreen.run import prescreen
from trialdesk.prescreen.source import open_duckdb
from trialdesk.prescreen.synth import synthesize, write_cdm
from trialdesk.protocol import builtin_protocol

runner = CliRunner()


def counts(
    site: str, by_status: dict[str, int], remaining: list[int], unknown: list[int] | None = None
) -> SiteCounts:
    unknown = unknown or [0] * len(remaining)
    return SiteCounts(
        site=site,
        persons=remaining[0],
        by_status=by_status,
        funnel=[
            FunnelCounts(
                step=i, criterion=f"C{i}" if i else "", text="", remaining=r, not_assessable=u
            )
            for i, (r, u) in enumerate(zip(remaining, unknown, strict=True))
        ],  # fmt: skip
    )


def test_only_counts_can_leave_a_site() -> None:
    assert set(SiteCounts.model_fields) == {"site", "persons", "by_status", "funnel"}
    with pytest.raises(pydantic.ValidationError, match="person_ids"):
        SiteCounts.model_validate(
            {"site": "A", "persons": 3, "by_status": {}, "funnel": [], "person_ids": [1, 2, 3]}
        )


def test_small_cells_are_suppressed_and_cannot_be_worked_out() -> None:
    site = counts(
        "A",
        {"candidate": 4, "incomplete": 30, "excluded": 466},
        [500, 480, 475, 40, 34],
        [0, 0, 3, 12, 0],
    )
    released = release(site, min_cell=11)
    shown = {k: c.text(11) for k, c in released.by_status.items()}
    # 4 is small; the next smallest (30) is hidden too, else 500 − 466 − 30 = 4
    assert shown == {"candidate": "<11", "incomplete": "suppressed", "excluded": "466"}
    steps = [(r.remaining.text(11), r.removed.text(11)) for r in released.funnel]
    # 480 → 475 removes 5: step 2 is hidden; 480 → 40 removes 440 (shown against 480)
    assert steps == [
        ("500", "0"),
        ("480", "20"),
        ("suppressed", "suppressed"),
        ("40", "suppressed"),
        ("suppressed", "suppressed"),  # candidate + incomplete = 34 with one of them small
    ]
    assert [r.not_assessable.text(11) for r in released.funnel] == ["0", "0", "<11", "12", "0"]
    assert release(site, min_cell=3).by_status["candidate"].text(3) == "4"  # configurable
    with pytest.raises(ValueError, match="min_cell: 0"):
        release(site, min_cell=0)


def test_totals_are_exact_only_when_nothing_is_suppressed() -> None:
    a = release(counts("A", {"candidate": 20, "incomplete": 30, "excluded": 450}, [500, 50]), 11)
    b = release(counts("B", {"candidate": 5, "incomplete": 45, "excluded": 250}, [300, 50]), 11)
    both = total([a, b])
    assert both.persons.text(11) == "800"
    assert both.by_status["excluded"].text(11) == "700"
    assert both.by_status["candidate"].text(11) == "≥20"  # not 25: would give B's 5 away
    assert both.by_status["incomplete"].text(11) == "≥30"  # B's 45 is hidden (complementary)
    assert [r.remaining.text(11) for r in both.funnel] == ["800", "100"]  # 5 + 45 both hidden
    assert total([a, a]).by_status["candidate"].text(11) == "40"


def test_site_locations_are_checked(tmp_path: Path) -> None:
    spec = parse_site("C=postgresql+psycopg://u:p@localhost:5432/db?schema=omop")
    assert (spec.backend, spec.schema) == ("postgres", "omop")
    assert "schema" not in spec.location
    assert parse_site(f"A={tmp_path}").backend == "duckdb"
    with pytest.raises(ValueError, match="NAME=LOCATION"):
        parse_site("site.duckdb")
    with pytest.raises(ValueError, match="--site B: .* is no DuckDB file"):
        parse_site(f"B={tmp_path / 'missing.duckdb'}")


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    if not PG_URL:
        pytest.skip("TRIALDESK_TEST_POSTGRES_URL is not set")
    folder = tmp_path_factory.mktemp("sites")
    a = write_cdm(synthesize(400, seed=1), folder / "a.duckdb")
    b = write_cdm(synthesize(250, seed=2), folder / "b.duckdb")
    schema = f"omop_{uuid.uuid4().hex[:8]}"
    load_postgres(synthesize(300, seed=3), schema)
    try:
        yield {"A": str(a), "B": str(b), "C": f"{PG_URL}?schema={schema}"}
    finally:
        drop_postgres(schema)


def test_one_command_prints_per_site_and_total_funnels(
    sites: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "feasibility.csv"
    args = ["prescreen-federated", "--index-date", INDEX.isoformat(), "--out", str(out)]
    for name, location in sites.items():
        args += ["--site", f"{name}={location}"]
    run = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert run.exit_code == 0, run.output
    assert "Attrition funnel" in run.output and "Total" in run.output
    released = {
        (r["site"], r["measure"], r["step"]): r["count"] for r in csv.DictReader(out.open())
    }
    expected = {}
    for name in ("A", "B"):
        source = open_duckdb(sites[name])
        try:
            _, summary = prescreen(source, builtin_protocol(), Settings(INDEX))
        finally:
            source.close()
        expected[name] = summary
        assert released[(name, "persons", "")] == str(summary.persons)
        for status, n in summary.by_status.items():
            got = released[(name, status, "")]
            assert got == ("<11" if 0 < n < 11 else str(n)) or got == "suppressed"
        for step in summary.funnel:
            got = released[(name, "remaining", str(step.step))]
            assert got in (str(step.remaining), "<11", "suppressed")
    persons = [released[(s, "persons", "")] for s in "ABC"]
    assert released[("total", "persons", "")] == str(sum(int(p) for p in persons))
    for status in ("candidate", "incomplete", "excluded"):
        parts = [released[(s, status, "")] for s in "ABC"]
        grand = released[("total", status, "")]
        if all(p.isdigit() for p in parts):
            assert grand == str(sum(int(p) for p in parts))
        else:  # a lower bound: the sum of the shown parts only
            assert grand == ">=" + str(sum(int(p) for p in parts if p.isdigit()))


def test_the_postgresql_site_counts_like_the_same_data_in_duckdb(
    sites: dict[str, str], tmp_path: Path
) -> None:
    from trialdesk.prescreen.federated import run_site

    pg = run_site(parse_site(f"C={sites['C']}"), builtin_protocol(), Settings(INDEX))
    duck = site_counts(
        "C", open_duckdb(write_cdm(synthesize(300, seed=3), tmp_path / "c.duckdb")),
        builtin_protocol(), Settings(INDEX),
    )  # fmt: skip
    assert pg == duck
    assert pg.persons > 0 and sum(pg.by_status.values()) == pg.persons

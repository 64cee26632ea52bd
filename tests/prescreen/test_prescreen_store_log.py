"""Pre-screening output into the study database's screening log (issue 7): the rows kept from a
ranked list, migration 0002, and ``trialdesk prescreen --into-database`` end to end on a
synthetic OMOP CDM (`trialdesk omop synth --persons 300`), on SQLite and, when
TRIALDESK_TEST_POSTGRES_URL is set, on PostgreSQL."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from alembic import command
from prescreen_helpers import INDEX, PERSONS
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import make_url
from tools.harness.database import (
    DemoSeed,
    TestDatabase,
    available_backends,
    backend_url,
    fresh_database,
    seed_demo_site_and_users,
)
from typer.testing import CliRunner

from trialdesk import services as sv
from trialdesk.cli import app
from trialdesk.prescreen.plan import Settings
from trialdesk.prescreen.query import STATUSES
from trialdesk.prescreen.run import prescreen
from trialdesk.prescreen.screening_log import (
    criterion_columns,
    log_rows,
    stored_counts,
    stored_status,
)
from trialdesk.prescreen.source import OmopSource
from trialdesk.protocol import builtin_protocol
from trialdesk.services.paging import Page as Paging
from trialdesk.services.prescreening import CandidateFilter, PrescreenProvenance
from trialdesk.services.prescreening_entries import IDENTIFYING_VALUES
from trialdesk.services.validate import today
from trialdesk.store import current_revision, head_revision
from trialdesk.store.migrate import alembic_config
from trialdesk.store.models import AuditEntry, PrescreenCandidate, PrescreenRun, PrescreenStatus

runner = CliRunner()
PRESCREEN_TABLES = ("prescreen_runs", "prescreen_candidates")


# --- the rows kept from a ranked list ------------------------------------------------------------


@pytest.fixture(scope="module")
def ranked(cdm_file: Path) -> pa.Table:
    from trialdesk.prescreen.source import open_duckdb

    source = open_duckdb(cdm_file)
    try:
        result, _ = prescreen(source, builtin_protocol(), Settings(INDEX, 365))
    finally:
        source.close()
    return result


def test_log_rows_keep_the_persons_to_approach_with_the_values_used(ranked: pa.Table) -> None:
    result = {r["person_id"]: r for r in ranked.to_pylist()}
    rows = list(log_rows(ranked, builtin_protocol()))
    wanted = [r for r in ranked.to_pylist() if r["status"] in ("candidate", "incomplete")]
    assert 0 < len(rows) == len(wanted) < len(result) <= PERSONS
    assert [r["ehr_person_key"] for r in rows] == [str(r["person_id"]) for r in wanted]
    assert [r["rank"] for r in rows] == sorted(r["rank"] for r in rows)
    for row in rows:
        source = result[int(row["ehr_person_key"])]
        assert row["prescreen_status"] == stored_status(source["status"])
        assert set(row["criteria"]) == set(criterion_columns(builtin_protocol()))
        for cid, outcome in row["criteria"].items():
            assert outcome["verdict"] == source[cid]
        i5 = row["criteria"]["I5"]["values"]
        if source["hba1c_value"] is not None:
            assert i5["hba1c_percent"] == pytest.approx(source["hba1c_percent"])
            assert i5["hba1c_unit"] == source["hba1c_unit"]
            assert i5["hba1c_date"] == source["hba1c_date"].isoformat()
        assert row["criteria"]["I3"]["values"] == {"age": source["age"]}
        # BMI comes with the weight and height it was derived from.
        if source["bmi"] is not None:
            assert {"bmi", "weight_kg", "height_cm"} <= set(row["criteria"]["I4"]["values"])
        names = {n for o in row["criteria"].values() for n in o["values"]}
        assert not names & IDENTIFYING_VALUES
        assert not any("birth" in n for n in names)


def test_log_rows_can_list_the_excluded_and_refuse_unknown_statuses(ranked: pa.Table) -> None:
    excluded = list(log_rows(ranked, builtin_protocol(), statuses=("excluded",)))
    assert excluded and {r["prescreen_status"] for r in excluded} == {"excluded"}
    assert all(
        any(
            (o["verdict"] == "not met" and cid[0] in "IP")
            or (o["verdict"] == "met" and cid[0] == "E")
            for cid, o in r["criteria"].items()
        )
        for r in excluded
    )
    with pytest.raises(ValueError, match="'eligible' is not one of candidate, incomplete"):
        list(log_rows(ranked, builtin_protocol(), statuses=("eligible",)))


def test_logged_rows_are_accepted_by_the_service_as_they_are(
    ranked: pa.Table, database: TestDatabase, seed: DemoSeed
) -> None:
    rows = list(
        log_rows(ranked, builtin_protocol(), statuses=("candidate", "incomplete", "excluded"))
    )
    with database.session() as session:
        actor = sv.actor_for(session, seed.users["investigator"])
        run = sv.record_prescreen_run(
            session,
            actor,
            site_code="APGH",
            rows=rows[:40],
            provenance=PrescreenProvenance(
                protocol_id="NCT01142050",
                index_date=INDEX,
                lookback_days=365,
                source_description="DuckDB file cdm.duckdb",
                persons_assessed=len(rows),
                status_counts={
                    s: sum(r["prescreen_status"] == s for r in rows)
                    for s in ("candidate", "incomplete", "excluded")  # the stored enum (0021)
                },
            ),
        )
        assert run.candidates_stored == 40 and run.persons_assessed == ranked.num_rows
        stored = sv.list_prescreen_candidates(session, actor, page=Paging(limit=40)).items
        assert [c.criteria for c in stored] == [r["criteria"] for r in rows[:40]]


def test_a_funnel_that_does_not_add_up_is_refused_naming_the_step(
    ranked: pa.Table, database: TestDatabase, seed: DemoSeed
) -> None:
    rows = list(log_rows(ranked, builtin_protocol()))
    persons = ranked.num_rows
    steps = [
        {
            "step": 0,
            "criterion": "",
            "text": "population",
            "remaining": persons,
            "removed": 0,
            "not_assessable": 0,
        },
        {
            "step": 1,
            "criterion": "I2",
            "text": "T2DM",
            "remaining": persons - 10,
            "removed": 9,
            "not_assessable": 0,
        },
    ]
    with database.session() as session:
        actor = sv.actor_for(session, seed.users["investigator"])
        with pytest.raises(sv.ValidationProblem) as caught:
            sv.record_prescreen_run(
                session,
                actor,
                site_code="APGH",
                rows=rows[:5],
                provenance=PrescreenProvenance(
                    protocol_id="NCT01142050",
                    index_date=INDEX,
                    lookback_days=365,
                    source_description="DuckDB file cdm.duckdb",
                    persons_assessed=persons,
                    status_counts=stored_counts(
                        {
                            s: int(pc.sum(pc.equal(ranked["status"], s)).as_py() or 0)
                            for s in ("candidate", "incomplete", "excluded")
                        }
                    ),
                    attrition=steps,
                ),
            )
    assert caught.value.field == "attrition.1"
    assert f"differs from the {persons} persons before it" in caught.value.reason


# --- databases ----------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=available_backends())
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestDatabase]:
    db = fresh_database(backend_url(request.param), directory=tmp_path_factory.mktemp("log"))
    yield db
    db.dispose()


@pytest.fixture
def seed(database: TestDatabase) -> DemoSeed:
    return database.reset_seeded()


def cli_url(db: TestDatabase) -> str:
    """The URL the command line uses for this test database (its private PostgreSQL schema)."""
    url = make_url(db.engine.url.render_as_string(hide_password=False))
    if db.backend == "postgresql":
        url = url.update_query_dict({"options": f"-csearch_path={db.schema}"})
    return url.render_as_string(hide_password=False)


def test_migration_0002_adds_the_log_to_a_database_holding_data(database: TestDatabase) -> None:
    database.reset()
    config = alembic_config(database.engine)
    with database.session() as session:
        seed_demo_site_and_users(session)
    command.downgrade(config, "0001")
    assert current_revision(database.engine) == "0001"
    assert not set(PRESCREEN_TABLES) & set(inspect(database.engine).get_table_names())
    command.upgrade(config, "head")
    assert current_revision(database.engine) == head_revision()
    assert set(PRESCREEN_TABLES) <= set(inspect(database.engine).get_table_names())
    with database.session() as session:  # the data of 0001 is untouched and the chain holds
        assert {s.code for s in sv.list_sites(session, sv.SYSTEM)} == {"APGH", "PUMC"}
        assert sv.verify_audit_trail(session, sv.SYSTEM).ok


def test_stored_statuses_are_the_verdicts_and_log_rows_store_them_as_they_are(
    ranked: pa.Table,
) -> None:
    assert {s.value for s in PrescreenStatus} == {"candidate", "incomplete", "excluded"}
    rows = list(log_rows(ranked, builtin_protocol(), statuses=("incomplete",)))
    assert rows and {r["prescreen_status"] for r in rows} == {"incomplete"}
    assert stored_counts({"incomplete": 3}) == {"incomplete": 3}


def test_migration_0021_renames_possible_to_incomplete_and_back(
    ranked: pa.Table, database: TestDatabase, seed: DemoSeed
) -> None:
    """0021 on a database holding a run: downgrading to 0017_coding stores the old "possible"
    (rows and counts), upgrading again stores "incomplete"; the old value is then refused."""
    rows = list(log_rows(ranked, builtin_protocol(), statuses=STATUSES))[:30]
    counts = {s: sum(r["prescreen_status"] == s for r in rows) for s in STATUSES}
    assert counts["incomplete"] > 0
    with database.session() as session:
        actor = sv.actor_for(session, seed.users["investigator"])
        sv.record_prescreen_run(
            session,
            actor,
            site_code="APGH",
            rows=rows,
            provenance=PrescreenProvenance(
                protocol_id="NCT01142050",
                index_date=INDEX,
                lookback_days=365,
                source_description="DuckDB file cdm.duckdb",
                persons_assessed=len(rows),
                status_counts=counts,
            ),
        )
    config = alembic_config(database.engine)

    def stored() -> tuple[dict[str, int], dict[str, int]]:
        with database.engine.connect() as connection:
            found = connection.execute(
                text(
                    "SELECT prescreen_status, count(*) FROM prescreen_candidates "
                    "GROUP BY prescreen_status"
                )
            ).all()
            raw = connection.execute(text("SELECT status_counts FROM prescreen_runs")).scalar()
        return dict((str(k), int(n)) for k, n in found), (
            raw if isinstance(raw, dict) else json.loads(raw)
        )

    command.downgrade(config, "0017_coding")
    by_status, run_counts = stored()
    assert by_status.get("possible") == counts["incomplete"] and "incomplete" not in by_status
    assert run_counts["possible"] == counts["incomplete"] and "incomplete" not in run_counts
    command.upgrade(config, "head")
    assert current_revision(database.engine) == head_revision()
    by_status, run_counts = stored()
    assert by_status == {s: n for s, n in counts.items() if n}
    assert run_counts == counts
    with database.session() as session:
        assert sv.verify_audit_trail(session, sv.SYSTEM).ok
        reader = sv.actor_for(session, seed.users["investigator"])
        listed = sv.list_prescreen_candidates(
            session, reader, where=CandidateFilter(prescreen_status="incomplete")
        )
        assert listed.total == counts["incomplete"]
    with pytest.raises(Exception, match="(?i)check"), database.engine.begin() as connection:
        connection.execute(text("UPDATE prescreen_candidates SET prescreen_status = 'possible'"))


# --- trialdesk prescreen --into-database --------------------------------------------------------


@pytest.fixture(scope="module")
def synth_cdm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cdm = tmp_path_factory.mktemp("synth") / "cdm.duckdb"
    made = runner.invoke(app, ["omop", "synth", "--persons", "300", "--out", str(cdm)])
    assert made.exit_code == 0, made.output
    return cdm


def prescreen_cli(cdm: Path, *extra: str) -> Any:
    args = ["prescreen", "--omop", str(cdm), "--index-date", "2025-06-30", *extra]
    return runner.invoke(app, args, env={"COLUMNS": "200"})


def test_cli_stores_the_run_through_the_service(
    synth_cdm: Path, database: TestDatabase, seed: DemoSeed, tmp_path: Path
) -> None:
    out = tmp_path / "candidates.csv"
    url = cli_url(database)
    args = ["--out", str(out), "--into-database", "--database", url, "--site", "APGH"]
    run = prescreen_cli(synth_cdm, *args, "--user", "coordinator")
    assert run.exit_code == 0, run.output
    ranked = list(csv.DictReader(out.open()))  # the CSV is still written
    kept = [r for r in ranked if r["status"] in ("candidate", "incomplete")]
    assert kept, "the synthetic population has persons worth approaching"
    assert f"stored {len(kept)} pre-screened persons" in " ".join(run.output.split())
    assert f"{len(ranked)} persons assessed" in " ".join(run.output.split())

    with database.session() as session:
        runs = list(session.scalars(select(PrescreenRun)))
        assert len(runs) == 1
        stored_run = runs[0]
        assert stored_run.run_by == seed.users["coordinator"]
        assert stored_run.site_id == seed.sites["APGH"]
        assert stored_run.source_description.startswith("DuckDB file")
        assert stored_run.persons_assessed == len(ranked)
        assert stored_run.status_counts == {
            stored_status(s): sum(r["status"] == s for r in ranked)
            for s in ("candidate", "incomplete", "excluded")
        }
        # issue #16: the screening log keeps the run's attrition funnel, as written next to it
        funnel = list(csv.DictReader(out.with_name(f"{out.stem}.funnel.csv").open()))
        assert [(a["criterion"], a["remaining"], a["removed"]) for a in stored_run.attrition] == [
            (f["criterion"], int(f["remaining"]), int(f["removed"])) for f in funnel
        ]
        assert stored_run.attrition[0]["remaining"] == len(ranked)
        rows = list(session.scalars(select(PrescreenCandidate).order_by(PrescreenCandidate.rank)))
        assert [(r.ehr_person_key, r.rank, r.prescreen_status.value) for r in rows] == [
            (k["person_id"], int(k["rank"]), stored_status(k["status"])) for k in kept
        ]
        for row, source in zip(rows, kept, strict=True):
            assert {cid: o["verdict"] for cid, o in row.criteria.items()} == {
                cid: source[cid] for cid in row.criteria
            }
            assert row.workflow_status.value == "new"
        entries = list(
            session.scalars(select(AuditEntry).where(AuditEntry.table_name.in_(PRESCREEN_TABLES)))
        )
        assert len(entries) == 1 + len(rows)
        assert {(e.user_id, e.site_id, e.action) for e in entries} == {
            (seed.users["coordinator"], seed.sites["APGH"], "create")
        }
        assert sv.verify_audit_trail(session, sv.SYSTEM).ok
        assert_nothing_identifying(database)


def assert_nothing_identifying(database: TestDatabase) -> None:
    """No identifying column, no identifying value name, and no participant registered."""
    inspector = inspect(database.engine)
    for table in PRESCREEN_TABLES:
        columns = {c["name"] for c in inspector.get_columns(table)}
        assert not columns & IDENTIFYING_VALUES
        assert not any("birth" in c or "name" in c for c in columns)
    with database.engine.connect() as connection:
        texts = connection.execute(text("SELECT criteria FROM prescreen_candidates")).scalars()
        for document in texts:
            data = document if isinstance(document, dict) else json.loads(document)
            names = {n for outcome in data.values() for n in outcome["values"]}
            assert not names & IDENTIFYING_VALUES and not any("birth" in n for n in names)
        assert connection.execute(text("SELECT count(*) FROM participant_identities")).scalar() == 0


def test_cli_can_log_the_excluded_too_and_a_stored_candidate_reaches_screening(
    synth_cdm: Path, database: TestDatabase, seed: DemoSeed
) -> None:
    url = cli_url(database)
    run = prescreen_cli(
        synth_cdm,
        *("--top", "30", "--log-excluded", "--into-database", "--database", url),
        *("--site", "APGH", "--user", "investigator"),
    )
    assert run.exit_code == 0, run.output
    with database.session() as session:
        investigator = sv.actor_for(session, seed.users["investigator"])
        listed = sv.list_prescreen_candidates(session, investigator, page=Paging(limit=100))
        assert listed.total == 30
        assert "excluded" in {c.prescreen_status for c in listed.items}
        assert sv.list_prescreen_runs(session, investigator).items[0].persons_assessed > 30
        # candidate → screening visit, for the best-ranked one
        best = listed.items[0]
        participant = sv.register_participant(
            session,
            investigator,
            sv.Registration(
                site_code="APGH",
                registered_on=today(),
                full_name="Li Na",
                date_of_birth=INDEX.replace(year=1969),
            ),
        )
        sv.record_consent(
            session,
            investigator,
            participant.id,
            form_version="ICF v2.0",
            consented_on=today(),
        )
        screening = sv.screen_participant(
            session, investigator, participant.id, screened_on=today(), findings={}
        )
        linked = sv.link_candidate_to_participant(
            session, investigator, best.id, participant_id=participant.id, expected_version=1
        )
        assert (linked.workflow_status, linked.screening_id) == ("screened", screening.id)
        assert linked.study_id == participant.study_id
        assert sv.verify_audit_trail(session, investigator).ok
        # The EHR key stays in the log; the identity lives only in the participant's record.
        assert session.scalar(select(func.count()).select_from(PrescreenCandidate)) == 30


def test_cli_refuses_before_running_the_prescreen(
    synth_cdm: Path, database: TestDatabase, seed: DemoSeed, tmp_path: Path
) -> None:
    url = cli_url(database)
    into = ("--into-database", "--database", url)
    cases: list[tuple[tuple[str, ...], int, str]] = [
        ((*into, "--site", "APGH", "--user", "statistician"), 1, "write_clinical_not_allowed"),
        ((*into, "--site", "PUMC", "--user", "coordinator"), 1, "site_not_assigned"),
        ((*into, "--site", "APGH", "--user", "nobody"), 2, "--user: no user 'nobody'"),
        ((*into, "--site", "XYZ", "--user", "coordinator"), 2, "--site: no site 'XYZ'"),
        ((*into, "--user", "coordinator"), 2, "--site"),
        ((*into, "--site", "APGH"), 2, "--user"),
        (("--site", "APGH", "--user", "coordinator"), 2, "--site: only used with --into-database"),
        (("--database", url), 2, "--database: only used with --into-database"),
    ]
    for args, code, words in cases:
        result = prescreen_cli(synth_cdm, *args)
        flat = " ".join(result.output.split())
        assert result.exit_code == code, (args, result.output)
        assert words in flat, (args, result.output)
        assert "Pre-screen of" not in flat, "refused before the query ran"
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(PrescreenRun)) == 0
        refusals = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "refuse", AuditEntry.table_name == "prescreen_runs"
            )
        ).all()
        assert {json.loads(e.changes)["rule"] for e in refusals} == {
            "write_clinical_not_allowed",
            "site_not_assigned",
        }
    empty = tmp_path / "empty.sqlite"
    unmigrated = prescreen_cli(
        synth_cdm,
        *("--into-database", "--database", f"sqlite:///{empty}", "--site", "APGH"),
        *("--user", "coordinator"),
    )
    assert unmigrated.exit_code == 1
    assert "trialdesk db upgrade" in " ".join(unmigrated.output.split())


def test_the_source_is_described_without_credentials(duck: OmopSource) -> None:
    assert "@" not in duck.description and duck.description.startswith("DuckDB file")

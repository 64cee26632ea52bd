"""Source frames read from a study database filled through the services (the simulator driver).

Runs on SQLite, and on PostgreSQL when TRIALDESK_TEST_POSTGRES_URL is set. A copy of the
built-in protocol with a target enrolment of 4 keeps the run short.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from tools.harness.database import TestDatabase, available_backends, backend_url, fresh_database
from typer.testing import CliRunner

from trialdesk import services as sv
from trialdesk.analysis import SourceFrames, analyse, derive_datasets
from trialdesk.analysis.from_store import load_source_frames, source_frames
from trialdesk.cli import app
from trialdesk.protocol import Protocol, load_protocol
from trialdesk.protocol.load import BUILTIN_ID
from trialdesk.services.passwords import use_fast_hashing
from trialdesk.services.study import PROTOCOL_ENV
from trialdesk.simulate.effect import MODERATE
from trialdesk.simulate.run import RunSummary, SimulationSettings, run_simulation
from trialdesk.store.models import AdverseEvent, Measurement, Participant

TARGET = 4
SETTINGS = SimulationSettings(n_candidates=24, seed=5, effect=MODERATE)


@pytest.fixture(scope="module")
def small_protocol_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = Path(__file__).parents[2] / "src/trialdesk/protocol/builtin" / f"{BUILTIN_ID}.yaml"
    document = yaml.safe_load(source.read_text("utf-8"))
    document["target_enrollment"] = TARGET
    path = tmp_path_factory.mktemp("protocol") / "small.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), "utf-8")
    return path


@pytest.fixture(scope="module", params=available_backends())
def filled(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    small_protocol_path: Path,
) -> Iterator[tuple[TestDatabase, RunSummary]]:
    use_fast_hashing()
    db = fresh_database(backend_url(request.param), directory=tmp_path_factory.mktemp("db"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(PROTOCOL_ENV, str(small_protocol_path))
        with db.session() as session:
            summary = run_simulation(session, SETTINGS)
        yield db, summary
    db.dispose()


@pytest.fixture(scope="module")
def small_protocol(small_protocol_path: Path) -> Protocol:
    return load_protocol(small_protocol_path)


@pytest.fixture(scope="module")
def frames(filled: tuple[TestDatabase, RunSummary], small_protocol: Protocol) -> SourceFrames:
    with filled[0].session() as session:
        return source_frames(session, small_protocol)


def test_frames_count_what_the_run_wrote(
    filled: tuple[TestDatabase, RunSummary], frames: SourceFrames
) -> None:
    summary = filled[1]
    assert summary.enrolled == TARGET == len(frames.subjects)
    assert frames.screening["candidate_id"].nunique() == summary.screened
    assert set(frames.screening["status"]) <= {"eligible", "ineligible", "incomplete"}
    assert int(frames.screening["enrolled"].sum()) >= TARGET
    assert len(frames.adverse_events) == summary.adverse_events
    assert int(frames.adverse_events["serious"].sum()) == summary.serious_adverse_events
    assert frames.subjects["transplanted_on"].notna().sum() == summary.transplanted


def test_values_are_the_stored_canonical_values(
    filled: tuple[TestDatabase, RunSummary], frames: SourceFrames
) -> None:
    enrolled = list(frames.subjects["usubjid"])
    with filled[0].session() as session:
        stored = session.execute(
            select(Participant.study_id, Measurement.value)
            .join(Participant, Measurement.participant_id == Participant.id)
            .where(
                Measurement.element == "hba1c",
                Measurement.voided.is_(False),
                Participant.study_id.in_(enrolled),
            )
        ).all()
    hba1c = frames.measurements[frames.measurements["element"] == "hba1c"]
    assert sorted(zip(hba1c["usubjid"], hba1c["value"], strict=True)) == sorted(
        (study_id, value) for study_id, value in stored
    )
    assert set(hba1c["unit"]) == {"%"}
    assert (frames.measurements.loc[frames.measurements["visit"] == "BL", "visit_day"] == 0).all()


def test_the_analysis_runs_on_database_frames(
    frames: SourceFrames, small_protocol: Protocol
) -> None:
    results = analyse(derive_datasets(frames, small_protocol), small_protocol)
    assert results.consort.enrolled == TARGET
    assert results.consort.screened == frames.screening["candidate_id"].nunique()
    hba1c = results.outcome("HBA1C")
    assert hba1c is not None and hba1c.by_visit[0].value.n == TARGET


def test_voided_records_are_left_out(
    filled: tuple[TestDatabase, RunSummary], small_protocol: Protocol, frames: SourceFrames
) -> None:
    db = filled[0]
    with db.session() as session:
        event = session.scalars(select(AdverseEvent).where(AdverseEvent.voided.is_(False))).first()
        if event is None:
            pytest.skip("the simulated run recorded no adverse event")
        user_id = event.created_by
        assert user_id is not None
        actor = sv.actor_for(session, user_id)
        sv.void_clinical_record(
            session, actor, "adverse_events", event.id, expected_version=event.version,
            reason="entered for the wrong participant",
        )  # fmt: skip
        after = source_frames(session, small_protocol)
    assert len(after.adverse_events) == len(frames.adverse_events) - 1
    assert f"AE{event.id}" not in set(after.adverse_events["ae_id"])


def test_load_source_frames_and_report_command_on_a_database_file(
    filled: tuple[TestDatabase, RunSummary], small_protocol_path: Path, tmp_path: Path
) -> None:
    db = filled[0]
    url = db.url  # PostgreSQL: the test schema in the URL
    frames = load_source_frames(url, load_protocol(small_protocol_path))
    assert len(frames.subjects) == TARGET
    empty = tmp_path / "empty.sqlite"
    result = CliRunner().invoke(
        app, ["report", "--database", f"sqlite:///{empty}", "--out", str(tmp_path / "r")],
        env={"COLUMNS": "300"},
    )  # fmt: skip
    assert result.exit_code == 2
    assert "cannot read the study database" in result.output and "db upgrade" in result.output

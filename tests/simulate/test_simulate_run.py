"""The driver writes the virtual cohort through the services: rules, snapshots and audit apply.

Runs on SQLite, and on PostgreSQL when TRIALDESK_TEST_POSTGRES_URL is set. A copy of the built-in
protocol with a target enrolment of 4 keeps the run short while still reaching the target.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy.orm import Session
from tools.harness.database import TestDatabase, available_backends, backend_url, fresh_database

from trialdesk import services as sv
from trialdesk.protocol import load_protocol
from trialdesk.protocol.load import BUILTIN_ID
from trialdesk.services.passwords import use_fast_hashing
from trialdesk.services.study import PROTOCOL_ENV
from trialdesk.services.validate import today
from trialdesk.simulate.adverse import AdverseEventType
from trialdesk.simulate.effect import MODERATE
from trialdesk.simulate.followup import FollowupParameters
from trialdesk.simulate.run import (
    FOLLOW_UP,
    SCREENING,
    RunSummary,
    SimulationError,
    SimulationSettings,
    run_simulation,
)
from trialdesk.simulate.trial import TrialOptions, VirtualTrial, simulate_trial

TARGET = 4
SETTINGS = SimulationSettings(n_candidates=24, seed=5, effect=MODERATE)


@pytest.fixture(scope="module")
def small_protocol(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = Path(__file__).parents[2] / "src/trialdesk/protocol/builtin" / f"{BUILTIN_ID}.yaml"
    document = yaml.safe_load(source.read_text("utf-8"))
    document["target_enrollment"] = TARGET
    path = tmp_path_factory.mktemp("protocol") / "small.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), "utf-8")
    return path


@pytest.fixture(scope="module", params=available_backends())
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestDatabase]:
    db = fresh_database(backend_url(request.param), directory=tmp_path_factory.mktemp("simdb"))
    yield db
    db.dispose()


@pytest.fixture(scope="module")
def run(
    database: TestDatabase, small_protocol: Path
) -> Iterator[tuple[TestDatabase, RunSummary, list[tuple[str, int, int]]]]:
    use_fast_hashing()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(PROTOCOL_ENV, str(small_protocol))
        database.reset()
        calls: list[tuple[str, int, int]] = []
        with database.session() as session:
            summary = run_simulation(session, SETTINGS, progress=lambda *args: calls.append(args))
        yield database, summary, calls


@pytest.fixture
def session_and_actor(
    run: tuple[TestDatabase, RunSummary, list], small_protocol: Path
) -> Iterator[tuple[object, sv.Actor]]:
    database = run[0]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(PROTOCOL_ENV, str(small_protocol))
        with database.session() as session:
            user = next(
                u for u in sv.list_users(session, sv.SYSTEM).items if u.username == "simulator"
            )
            yield session, sv.actor_for(session, user.id)


def _simulator(session: Session) -> sv.Actor:
    users = sv.list_users(session, sv.SYSTEM).items
    return sv.actor_for(session, next(u.id for u in users if u.username == "simulator"))


def _pure(small_protocol: Path) -> VirtualTrial:
    return simulate_trial(
        SETTINGS.n_candidates, SETTINGS.seed, SETTINGS.effect, load_protocol(small_protocol)
    )


def test_the_flow_matches_the_in_memory_trial(run: tuple, small_protocol: Path) -> None:
    _, summary, _ = run
    counts = _pure(small_protocol).counts()
    assert summary.candidates == counts.screened
    assert summary.screened + summary.declined_consent == counts.screened
    assert summary.eligible == counts.eligible
    assert summary.ineligible + summary.declined_consent == counts.ineligible
    assert summary.incomplete == counts.incomplete
    assert summary.enrolled == counts.enrolled == TARGET
    assert summary.transplanted == counts.transplanted
    assert (summary.completed, summary.withdrawn, summary.died) == (
        counts.completed,
        counts.withdrawn,
        counts.died,
    )
    assert summary.adverse_events == counts.adverse_events
    assert summary.serious_adverse_events == counts.serious_adverse_events


def test_progress_is_reported_for_both_stages(run: tuple) -> None:
    _, summary, calls = run
    screening = [c for c in calls if c[0] == SCREENING]
    follow_up = [c for c in calls if c[0] == FOLLOW_UP]
    assert screening[-1] == (SCREENING, SETTINGS.n_candidates, SETTINGS.n_candidates)
    assert follow_up[-1] == (FOLLOW_UP, TARGET, TARGET)


def test_every_consenting_candidate_has_an_eligibility_snapshot(
    session_and_actor: tuple, small_protocol: Path
) -> None:
    session, actor = session_and_actor
    pure = {s.candidate.candidate_id: s for s in _pure(small_protocol).screening}
    participants = sv.list_participants(session, actor, limit=100).items
    assert len(participants) == SETTINGS.n_candidates
    for p in participants:
        screenings = sv.list_screenings(session, actor, p.id)
        candidate_id = sv.get_identity(session, actor, p.id).full_name.removeprefix("Simulated ")
        expected = pure[candidate_id]
        if not expected.candidate.raw["informed_consent"]:
            assert screenings == [] and p.status.value == "screen_failed"
            continue
        assert len(screenings) == 1
        snapshot = screenings[0].result
        assert snapshot["status"] == expected.result.status.value
        assert snapshot["failed"] == [c.criterion.id for c in expected.result.failed]


def test_enrolment_stops_at_the_target(session_and_actor: tuple) -> None:
    session, actor = session_and_actor
    summary = sv.enrollment_summary(session, actor)
    assert (summary.enrolled, summary.target, summary.remaining) == (TARGET, TARGET, 0)
    eligible = [
        p
        for p in sv.list_participants(session, actor, limit=100).items
        if (s := sv.list_screenings(session, actor, p.id)) and s[-1].status.value == "eligible"
    ]
    assert len(eligible) > TARGET  # eligible candidates screened after the target stay out
    enrolled = [
        p
        for p in sv.list_participants(session, actor, limit=100).items
        if sv.get_enrollment(session, actor, p.id) is not None
    ]
    assert len(enrolled) == TARGET
    assert all(p.status.value != "screening" for p in enrolled)


def test_follow_up_is_recorded_visit_by_visit(
    session_and_actor: tuple, small_protocol: Path
) -> None:
    session, actor = session_and_actor
    trial = _pure(small_protocol)
    by_candidate = {p.candidate.candidate_id: p for p in trial.participants}
    for view in sv.list_participants(session, actor, limit=100).items:
        if sv.get_enrollment(session, actor, view.id) is None:
            continue
        candidate_id = sv.get_identity(session, actor, view.id).full_name.removeprefix("Simulated ")
        expected = by_candidate[candidate_id]
        visits = {v.code: v for v in sv.list_visits(session, actor, view.id)}
        assert set(visits) == {v.code for v in expected.visits}
        for v in expected.visits:
            assert visits[v.code].status.value == v.status
            if v.done:
                assert visits[v.code].visit_date == v.visit_date
        transplants = sv.list_transplantations(session, actor, view.id)
        assert [t.performed_on for t in transplants] == (
            [expected.transplanted_on] if expected.transplanted_on else []
        )
        itts = sv.list_itt_tests(session, actor, view.id)
        assert len(itts) == sum(v.itt is not None for v in expected.done_visits)
        events = sv.list_adverse_events(session, actor, participant_id=view.id).items
        assert sorted((e.term, e.grade) for e in events) == sorted(
            (e.term, e.grade) for e in expected.adverse_events
        )
        assert all(not e.expedited_report_overdue for e in events)
        assert view.ended_on == expected.end_on


def test_visit_window_deviations_are_raised_by_the_services(
    run: tuple, small_protocol: Path
) -> None:
    _, summary, _ = run
    expected = sum(
        not v.in_window for p in _pure(small_protocol).participants for v in p.done_visits
    )
    assert summary.deviations == expected


def test_the_audit_trail_is_intact_and_attributed(session_and_actor: tuple) -> None:
    session, actor = session_and_actor
    report = sv.verify_audit_trail(session, actor)
    assert report.ok, report.message
    assert report.checked > 500
    first = sv.list_participants(session, actor, limit=1).items[0]
    history = sv.participant_history(session, actor, first.id).items
    assert history and all(entry.user_id == actor.user_id for entry in history)


def test_a_second_run_into_the_same_database_is_refused(
    session_and_actor: tuple, small_protocol: Path
) -> None:
    session, _ = session_and_actor
    with pytest.raises(SimulationError, match="already holds"):
        run_simulation(session, SimulationSettings(n_candidates=3, seed=1))


def test_dates_after_today_are_not_entered(database: TestDatabase, small_protocol: Path) -> None:
    """A study started 80 days ago: later candidates are not yet screened, participants are
    ongoing, and nothing dated after today reaches the database; screening stops when full."""
    use_fast_hashing()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(PROTOCOL_ENV, str(small_protocol))
        database.reset()
        settings = SimulationSettings(
            n_candidates=70, seed=5, start=today() - timedelta(days=80), stop_when_full=True
        )
        with database.session() as session:
            summary = run_simulation(session, settings)
            assert summary.not_yet_screened > 0
            # Screening stopped when the 4th participant was enrolled.
            assert summary.enrolled == TARGET and summary.not_screened_target_reached > 0
            screened = summary.screened + summary.declined_consent
            assert screened + summary.not_screened_target_reached + summary.not_yet_screened == 70
            assert summary.enrolled > 0 and summary.ongoing == summary.enrolled
            assert summary.completed == 0
            actor = sv.actor_for(
                session,
                next(
                    u for u in sv.list_users(session, sv.SYSTEM).items if u.username == "simulator"
                ).id,
            )
            for p in sv.list_participants(session, actor, limit=100).items:
                for v in sv.list_visits(session, actor, p.id):
                    assert v.visit_date is None or v.visit_date <= today()
        database.reset()


def test_every_way_of_ending_goes_through_the_services(
    database: TestDatabase, small_protocol: Path
) -> None:
    """Deaths, AE withdrawals, consent withdrawals and losses to follow-up are all accepted by
    the services' rules (grade 5 = fatal = death criterion; no data after a withdrawal)."""
    fatal = AdverseEventType(
        "Myocardial infarction", (0.0, 0.0, 0.0, 0.0, 1.0), (("Unlikely", 1.0),), 14,
        rate_per_year=1.5,
    )  # fmt: skip
    severe = AdverseEventType(
        "Lung infection", (0.0, 0.0, 0.5, 0.5, 0.0), (("Possible", 1.0),), 14, rate_per_year=2.0
    )
    params = FollowupParameters(
        dropout_rate_per_year=1.5, ae_withdrawal_share=0.6, event_types=(fatal, severe)
    )
    use_fast_hashing()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(PROTOCOL_ENV, str(small_protocol))
        database.reset()
        settings = SimulationSettings(n_candidates=60, seed=3, followup=params, stop_when_full=True)
        with database.session() as session:
            summary = run_simulation(session, settings)
            actor = _simulator(session)
            reasons = {
                p.end_reason.value
                for p in sv.list_participants(session, actor, limit=100).items
                if p.end_reason is not None and p.status.value != "screen_failed"
            }
            pure = simulate_trial(
                60,
                3,
                protocol=load_protocol(small_protocol),
                options=TrialOptions(followup=params, stop_when_full=True),
            ).counts()
            assert (summary.died, summary.withdrawn) == (pure.died, pure.withdrawn)
            assert summary.died > 0 and "death" in reasons
            assert sv.verify_audit_trail(session, actor).ok
        database.reset()

"""Data queries (raise → answer → close) and the investigator's electronic signature."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session
from tools.harness.database import DEMO_PASSWORD

from trialdesk import services as sv
from trialdesk.services.queries import QueryFilter


@pytest.fixture
def measured(clinic) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    pid = clinic.eligible()
    weight = sv.list_measurements(
        clinic.session,
        clinic.coordinator,
        sv.MeasurementFilter(participant_id=pid, element="weight"),
    ).items[0]
    return pid, weight.id


def test_query_lifecycle(measured, session: Session, actors) -> None:  # type: ignore[no-untyped-def]
    pid, mid = measured
    query = sv.raise_query(
        session,
        actors["monitor"],
        target_table="measurements",
        target_id=mid,
        field="value",
        text="Source shows 87 kg, please verify",
    )
    assert query.status.value == "open" and query.raised_by == actors["monitor"].user_id
    answered = sv.answer_query(
        session,
        actors["coordinator"],
        query.id,
        expected_version=query.version,
        answer="Transcription error; corrected to 87 kg",
    )
    assert answered.status.value == "answered" and answered.answered_at is not None
    closed = sv.close_query(
        session,
        actors["monitor"],
        query.id,
        expected_version=answered.version,
        resolution="Verified against source",
    )
    assert closed.status.value == "closed" and closed.closed_by == actors["monitor"].user_id
    history = sv.record_history(session, actors["monitor"], "data_queries", query.id)
    assert [h.action for h in history] == ["create", "update", "update"]
    assert history[1].username == "coordinator" and history[2].username == "monitor"
    assert (
        sv.list_queries(session, actors["monitor"], where=QueryFilter(status="closed")).total == 1
    )


def test_query_roles(measured, session: Session, actors) -> None:  # type: ignore[no-untyped-def]
    _pid, mid = measured
    with pytest.raises(sv.Forbidden):
        sv.raise_query(
            session,
            actors["coordinator"],
            target_table="measurements",
            target_id=mid,
            field="value",
            text="?",
        )
    query = sv.raise_query(
        session,
        actors["investigator"],
        target_table="measurements",
        target_id=mid,
        field="value",
        text="Please check",
    )
    with pytest.raises(sv.Forbidden):
        sv.answer_query(session, actors["monitor"], query.id, expected_version=1, answer="ok")
    with pytest.raises(sv.Forbidden):
        sv.close_query(session, actors["coordinator"], query.id, expected_version=1, resolution="x")
    with pytest.raises(sv.NotFound):
        sv.get_query(session, actors["coordinator2"], query.id)


def test_query_state_machine(measured, session: Session, actors) -> None:  # type: ignore[no-untyped-def]
    _pid, mid = measured
    query = sv.raise_query(
        session,
        actors["monitor"],
        target_table="measurements",
        target_id=mid,
        field="value",
        text="Please check",
    )
    closed = sv.close_query(
        session, actors["monitor"], query.id, expected_version=1, resolution="withdrawn by monitor"
    )
    with pytest.raises(sv.RuleViolation) as caught:
        sv.answer_query(
            session, actors["coordinator"], query.id, expected_version=closed.version, answer="x"
        )
    assert caught.value.rule == "query_state" and caught.value.status == 409


def test_an_unsatisfactory_answer_is_sent_back(measured, session: Session, actors) -> None:  # type: ignore[no-untyped-def]
    _pid, mid = measured
    query = sv.raise_query(
        session,
        actors["monitor"],
        target_table="measurements",
        target_id=mid,
        field="value",
        text="Please check",
    )
    answered = sv.answer_query(
        session, actors["coordinator"], query.id, expected_version=1, answer="fine"
    )
    reopened = sv.reopen_query(
        session,
        actors["monitor"],
        query.id,
        expected_version=answered.version,
        text="Please quote the source document",
    )
    assert reopened.status.value == "open"


@pytest.mark.parametrize(
    ("table", "field", "problem"),
    [("measurements", "colour", "no field"), ("audit_entries", "hash", "cannot be queried")],
)
def test_queries_name_an_existing_field(
    measured, session, actors, table, field, *, problem
) -> None:  # type: ignore[no-untyped-def]
    _pid, mid = measured
    with pytest.raises(sv.ValidationProblem, match=problem):
        sv.raise_query(
            session, actors["monitor"], target_table=table, target_id=mid, field=field, text="?"
        )


def test_sign_off_needs_the_investigator_and_the_password(clinic, session, actors) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.eligible()
    with pytest.raises(sv.Unauthenticated) as caught:
        sv.sign_casebook(session, actors["investigator"], pid, password="wrong password")
    assert caught.value.status == 401
    with pytest.raises(sv.Forbidden):
        sv.sign_casebook(session, actors["coordinator"], pid, password=DEMO_PASSWORD)
    signature = sv.sign_casebook(session, actors["investigator"], pid, password=DEMO_PASSWORD)
    assert signature.signer_name == "Investigator" and "reviewed" in signature.meaning
    from trialdesk.services.signoff import changed_since_signature

    assert not changed_since_signature(session, signature)
    weight = sv.list_measurements(
        session, actors["coordinator"], sv.MeasurementFilter(participant_id=pid)
    ).items[0]
    sv.update_measurement(
        session,
        actors["coordinator"],
        weight.id,
        sv.MeasurementChanges(expected_version=weight.version, reason="re-weighed", value=77),
    )
    assert changed_since_signature(session, signature)
    assert len(sv.list_signatures(session, actors["monitor"], pid)) == 1

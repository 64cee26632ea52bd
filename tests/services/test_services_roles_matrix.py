"""Role × operation × site matrix: who may do what, and every refusal is audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tools.harness.database import DEMO_PASSWORD

from trialdesk import services as sv
from trialdesk.services.accounts import NewUserAccount
from trialdesk.store.models import AuditEntry

Op = Callable[[Session, sv.Actor, int], Any]

OPERATIONS: dict[str, Op] = {
    "read_participant": lambda s, a, pid: sv.get_participant(s, a, pid),
    "read_identity": lambda s, a, pid: sv.get_identity(s, a, pid),
    "read_measurements": lambda s, a, pid: sv.list_measurements(
        s, a, sv.MeasurementFilter(participant_id=pid)
    ),
    "write_measurement": lambda s, a, pid: sv.record_measurement(
        s, a, pid, sv.VisitMeasurement(visit_code="SCR", element="weight", value=79, unit="kg")
    ),
    "correct_participant": lambda s, a, pid: sv.update_participant(
        s,
        a,
        pid,
        expected_version=sv.get_participant(s, sv.SYSTEM_READER, pid).version,
        reason="sex was mistyped",
        sex="F",
    ),
    "raise_query": lambda s, a, pid: sv.raise_query(
        s, a, target_table="participants", target_id=pid, field="sex", text="please verify"
    ),
    "sign_casebook": lambda s, a, pid: sv.sign_casebook(s, a, pid, password=DEMO_PASSWORD),
    "audit_history": lambda s, a, pid: sv.record_history(s, a, "participants", pid),
    "evaluate_eligibility": lambda s, a, pid: sv.evaluate_eligibility(s, a, pid),
}

OK, FORBIDDEN, NOT_FOUND = "ok", "forbidden", "not_found"
ALL_OK = dict.fromkeys(OPERATIONS, OK)
EXPECTED: dict[str, dict[str, str]] = {
    "investigator": ALL_OK,
    "coordinator": {**ALL_OK, "raise_query": FORBIDDEN, "sign_casebook": FORBIDDEN},
    "monitor": {
        **ALL_OK,
        "write_measurement": FORBIDDEN,
        "correct_participant": FORBIDDEN,
        "sign_casebook": FORBIDDEN,
    },
    "statistician": {
        **dict.fromkeys(OPERATIONS, FORBIDDEN),
        "read_participant": OK,
        "read_measurements": OK,
        "evaluate_eligibility": OK,
    },
    # Issue 14: codes AE terms and medications, reads clinical data (not identity), raises
    # queries about unclear verbatims, changes no clinical data.
    "coder": {
        **ALL_OK,
        "read_identity": FORBIDDEN,
        "write_measurement": FORBIDDEN,
        "correct_participant": FORBIDDEN,
        "sign_casebook": FORBIDDEN,
    },
    # No site at all, or another site: the participant does not exist for them.
    "admin": dict.fromkeys(OPERATIONS, NOT_FOUND),
    "investigator2": dict.fromkeys(OPERATIONS, NOT_FOUND),
    "coordinator2": dict.fromkeys(OPERATIONS, NOT_FOUND),
}


@pytest.fixture(autouse=True)
def _system_reader(monkeypatch: pytest.MonkeyPatch, actors: dict[str, sv.Actor]) -> None:
    # The version to send back is read by someone allowed to read it.
    monkeypatch.setattr(sv, "SYSTEM_READER", actors["investigator"], raising=False)


@pytest.mark.parametrize("role", list(EXPECTED))
def test_role_operation_site_matrix(  # type: ignore[no-untyped-def]
    clinic, session: Session, actors: dict[str, sv.Actor], role: str
) -> None:
    """One participant at APGH; every operation tried by `role`; outcomes as in EXPECTED."""
    pid = clinic.eligible()
    actor = actors[role] if role != "coder" else _coder(session)
    outcomes: dict[str, str] = {}
    for operation, call in OPERATIONS.items():
        before = len(_refusals(session))
        try:
            call(session, actor, pid)
        except sv.Forbidden as exc:
            outcomes[operation] = FORBIDDEN
            assert exc.status == 403
        except sv.NotFound as exc:
            outcomes[operation] = NOT_FOUND
            assert exc.status == 404
        else:
            outcomes[operation] = OK
        refusals = _refusals(session)
        if outcomes[operation] == OK:
            assert len(refusals) == before, operation
        else:
            assert len(refusals) == before + 1, f"{operation}: the refusal is audited"
            assert refusals[-1].user_id == actor.user_id
            assert '"operation":"' in refusals[-1].changes
    assert outcomes == EXPECTED[role]
    assert sv.verify_audit_trail(session, sv.SYSTEM).ok


def _coder(session: Session) -> sv.Actor:
    """A coder at APGH (not one of the demo users every suite shares)."""
    user = sv.create_user(
        session,
        sv.SYSTEM,
        NewUserAccount(
            username="coder",
            full_name="Cora Coder",
            password=DEMO_PASSWORD,
            roles=["coder"],
            site_codes=["APGH"],
            must_change_password=False,
        ),
    )
    return sv.actor_for(session, user.id)


def _refusals(session: Session) -> list[AuditEntry]:
    session.expire_all()
    return list(
        session.scalars(
            select(AuditEntry).where(AuditEntry.action == "refuse").order_by(AuditEntry.sequence)
        )
    )


def test_not_found_does_not_reveal_existence(clinic, session: Session, actors) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.eligible()
    with pytest.raises(sv.NotFound) as other_site:
        sv.get_participant(session, actors["coordinator2"], pid)
    with pytest.raises(sv.NotFound) as missing:
        sv.get_participant(session, actors["coordinator2"], 999_999)
    assert other_site.value.message.replace(str(pid), "N") == missing.value.message.replace(
        "999999", "N"
    )


def test_lists_show_only_the_actors_sites(clinic, session: Session, actors) -> None:  # type: ignore[no-untyped-def]
    clinic.register("APGH")
    clinic.register("APGH")
    clinic.register("PUMC", actor="coordinator2")
    apgh = sv.list_participants(session, actors["coordinator"])
    pumc = sv.list_participants(session, actors["coordinator2"])
    assert [p.study_id for p in apgh.items] == ["APGH-001", "APGH-002"] and apgh.total == 2
    assert [p.study_id for p in pumc.items] == ["PUMC-001"]
    with pytest.raises(sv.Forbidden):
        sv.list_participants(session, actors["admin"])


def test_registration_at_a_site_the_user_does_not_belong_to_is_refused(clinic) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(sv.Forbidden, match="does not belong to site PUMC"):
        clinic.register("PUMC", actor="coordinator")


def test_statistician_sees_no_date_of_birth(clinic, session: Session, actors) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.eligible()
    for_statistician = sv.evaluate_eligibility(session, actors["statistician"], pid)
    for_investigator = sv.evaluate_eligibility(session, actors["investigator"], pid)
    assert "1968-04-02" in str(for_investigator.model_dump())
    assert "1968-04-02" not in str(for_statistician.model_dump())
    assert for_statistician.status == for_investigator.status
    screenings = sv.list_screenings(session, actors["statistician"], pid)
    assert "1968-04-02" not in str(screenings[0].model_dump())

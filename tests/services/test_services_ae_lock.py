"""A lock of the adverse-event form (issue 14), on SQLite and PostgreSQL: the adverse-event form
is a log over the whole participation (CDASHIG v2.3), so its lock, chosen from any visit or from
none, refuses every new adverse event of the participant and every change to an existing one,
from whichever entry point (AE service, visit page save, correction, void); the pages' question
(`write_block`) gives the same answer; the investigator's safety judgements and the reports
sent still go through (ICH E2A); other forms stay open; an administrator unlocks."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from trialdesk import services as sv
from trialdesk.services.cell_status import CellStatus
from trialdesk.services.locks import write_block
from trialdesk.services.visit_forms import VisitFormProblems, VisitFormsEntry

LOCKED = r"^The adverse events of APGH-001 are locked by Investigator on .* \(AE log reviewed\)"


def _ae(clinic: Any, **extra: Any) -> dict[str, Any]:
    return {
        "term": "Dizziness", "onset_date": clinic.day(95), "grade": 1,
        "relatedness": "unlikely", "action_taken": "dose not changed",
        "outcome": "recovering/resolving", **extra,
    }  # fmt: skip


def test_a_locked_adverse_event_form_refuses_every_ae_write(  # type: ignore[no-untyped-def]
    clinic, session: Session, actors: dict[str, sv.Actor]
) -> None:
    pid = clinic.enrolled()
    clinic.baseline(pid)
    who = actors["coordinator"]
    serious = sv.report_adverse_event(
        session, who, pid,
        sv.AdverseEventReport(
            **_ae(clinic, term="Pneumonia", grade=3, seriousness=["hospitalisation"])
        ),
    )  # fmt: skip
    lock = sv.lock_form(
        session, actors["investigator"], pid, visit_code="M3", form="adverse_events",
        reason="AE log reviewed",
    )  # fmt: skip
    assert lock.visit_code is None and lock.what == "the adverse events of APGH-001"
    with pytest.raises(sv.DataLocked, match=LOCKED):
        sv.report_adverse_event(session, who, pid, sv.AdverseEventReport(**_ae(clinic)))
    with pytest.raises(VisitFormProblems, match="ae_term: The adverse events of APGH-001 are"):
        sv.save_visit_forms(session, who, pid, "BL", VisitFormsEntry(adverse_event=_ae(clinic)))
    with pytest.raises(sv.DataLocked, match=LOCKED):
        sv.update_adverse_event(
            session,
            who,
            serious.id,
            expected_version=serious.version,
            reason="typo",
            changes=sv.AdverseEventChanges(grade=2),
        )
    with pytest.raises(sv.DataLocked, match=LOCKED):
        sv.void_clinical_record(
            session, who, "adverse_events", serious.id, reason="entered twice",
            expected_version=serious.version,
        )  # fmt: skip
    assert len(sv.list_adverse_events(session, who, participant_id=pid).items) == 1
    # The pages ask the same question and get the same sentence, from any visit or none.
    for visit in (None, "BL", "M6"):
        assert write_block(session, pid, visit, "adverse_events").startswith(
            "The adverse events of APGH-001 are locked by Investigator"
        )
    assert write_block(session, pid, "BL", "labs") == ""
    assert write_block(session, pid, "BL", None) == ""  # the visit's date stays correctable
    # The record status grid shows the AE cell of every visit locked, and nothing else.
    grid = sv.record_status_grid(session, actors["monitor"])
    cells = dict(
        zip([(c.visit_code, c.form) for c in grid.columns], grid.rows[0].cells, strict=True)
    )
    locked = {k for k, v in cells.items() if v == CellStatus.LOCKED}
    assert locked and locked == {k for k in cells if k[1] == "adverse_events"}
    # Other forms of the participant are still open.
    sv.record_measurement(
        session,
        who,
        pid,
        sv.VisitMeasurement(visit_code="BL", element="weight", value=80, unit="kg"),
    )
    with pytest.raises(sv.RuleViolation, match="already locked"):
        sv.lock_form(
            session, actors["admin"], pid, visit_code="", form="adverse_events", reason="again"
        )
    done = sv.unlock(session, actors["admin"], lock.id, reason="late AE reported by the GP")
    assert not done.active
    sv.report_adverse_event(session, who, pid, sv.AdverseEventReport(**_ae(clinic)))


def test_safety_judgements_and_reports_go_through_an_ae_lock(  # type: ignore[no-untyped-def]
    clinic, session: Session, actors: dict[str, sv.Actor]
) -> None:
    pid = clinic.enrolled()
    who, investigator = actors["coordinator"], actors["investigator"]
    serious = sv.report_adverse_event(
        session, who, pid,
        sv.AdverseEventReport(
            **_ae(clinic, term="Pneumonia", grade=3, seriousness=["hospitalisation"])
        ),
    )  # fmt: skip
    sv.lock_participant(session, investigator, pid, reason="casebook reviewed")
    sv.record_safety_report(session, who, serious.id, note="initial report")
    confirmed = sv.confirm_causality(
        session, investigator, serious.id, relatedness="probable", expected=False,
        expected_version=serious.version,
    )  # fmt: skip
    assert confirmed.causality_confirmed_by == investigator.user_id
    sv.record_safety_report(session, who, serious.id, note="follow-up: SUSAR")
    (event,) = sv.list_adverse_events(session, who, participant_id=pid).items
    assert event.expedited_report_due is not None  # a SUSAR now: the sponsor clock runs
    graded = sv.confirm_grade(
        session, investigator, serious.id, grade=3, expected_version=event.version
    )
    assert graded.grade_confirmed_by == investigator.user_id
    # Everything else on the event stays frozen.
    with pytest.raises(sv.DataLocked, match="casebook of APGH-001 is locked"):
        sv.update_adverse_event(
            session,
            who,
            serious.id,
            expected_version=graded.version,
            reason="x",
            changes=sv.AdverseEventChanges(term="Flu"),
        )

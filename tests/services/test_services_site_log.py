"""Issue 13 part 3: candidates who decline on the screening log and in CONSORT, deviations
classified, explained and reviewed, the site's time zone, and the visit-window check."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk import services as sv
from trialdesk.analysis.consort import derive_consort
from trialdesk.analysis.from_store import source_frames
from trialdesk.services.study import current_protocol
from trialdesk.services.validate import today
from trialdesk.store.models import AuditEntry, Site


def _audit(session: Session, table: str) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry).where(AuditEntry.table_name == table).order_by(AuditEntry.sequence)
        )
    )


def test_a_candidate_who_declines_is_logged_audited_and_counted_in_consort(
    clinic,
    session: Session,  # type: ignore[no-untyped-def]
) -> None:
    clinic.eligible()
    entry = sv.log_screening_decline(
        session,
        clinic.coordinator,
        sv.ScreeningLogEntry(
            site_code="APGH",
            approached_on=today(),
            candidate_label="W.L.",
            outcome="declined",
            reason_category="procedure_concerns",
            reason="worried about the bone-marrow harvest",
        ),
    )
    assert entry.outcome.value == "declined" and entry.candidate_label == "W.L."
    (created,) = _audit(session, "screening_declines")
    assert created.site_id in clinic.coordinator.site_ids and created.participant_id is None
    assert '"procedure_concerns"' in created.changes
    frames = source_frames(session, current_protocol())
    assert "declined" in set(frames.screening["status"])
    # No one is enrolled yet: empty ADSL/ADEFF with the columns the flow reads.
    adsl = pd.DataFrame(columns=["USUBJID", "ITTFL", "SAFFL", "EOSSTT", "DCSREAS", "COMPLFL"])
    adeff = pd.DataFrame(columns=["USUBJID", "PARAMCD", "ANL01FL", "VISITNDY", "CHG", "VISIT"])
    flow = derive_consort(
        frames.screening,
        adsl,
        adeff,
        current_protocol(),
        analysed_paramcd="HBA1C",
        primary_visit="M12",
    )
    reasons = {r.label: r.count for r in flow.exclusion_reasons}
    assert reasons["Declined to participate"] == 1
    assert flow.screened == 2 and flow.excluded == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"reason_category": "other", "reason": " "}, "reason"),
        ({"reason_category": "bored"}, "reason_category"),
        ({"outcome": "maybe"}, "outcome"),
        ({"candidate_label": ""}, "candidate_label"),
        ({"approached_on": today() + timedelta(days=5)}, "approached_on"),
        ({"site_code": "NOPE"}, "site_code"),
    ],
)
def test_a_decline_entry_names_the_field_it_refuses(
    clinic,
    session: Session,
    change: dict,
    field: str,  # type: ignore[no-untyped-def, type-arg]
) -> None:
    values = {
        "site_code": "APGH",
        "approached_on": today(),
        "candidate_label": "A.B.",
        "outcome": "not_consented",
        "reason_category": "unable_to_consent",
        "reason": None,
        **change,
    }
    with pytest.raises(sv.ValidationProblem) as caught:
        sv.log_screening_decline(session, clinic.coordinator, sv.ScreeningLogEntry(**values))
    assert caught.value.field == field
    assert sv.list_screening_declines(session, clinic.coordinator) == []


def test_declines_are_site_scoped(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(sv.Forbidden):
        sv.log_screening_decline(
            session,
            clinic.actors["coordinator2"],
            sv.ScreeningLogEntry(
                site_code="APGH",
                approached_on=today(),
                candidate_label="X",
                outcome="declined",
                reason_category="no_reason_given",
            ),
        )
    sv.log_screening_decline(
        session,
        clinic.coordinator,
        sv.ScreeningLogEntry(
            site_code="APGH",
            approached_on=today(),
            candidate_label="X",
            outcome="declined",
            reason_category="no_reason_given",
        ),
    )
    assert sv.list_screening_declines(session, clinic.actors["coordinator2"]) == []
    assert len(sv.list_screening_declines(session, clinic.actors["monitor"])) == 1


def test_deviation_classified_explained_then_reviewed_by_the_investigator(
    clinic,
    session: Session,  # type: ignore[no-untyped-def]
) -> None:
    pid = clinic.enrolled()
    clinic.baseline(pid, day=28)
    sv.record_visit(session, clinic.coordinator, pid, code="M3", visit_date=clinic.day(28 + 112))
    (dev,) = sv.list_deviations(
        session, clinic.coordinator, sv.DeviationFilter(participant_id=pid)
    ).items
    dev = sv.update_deviation(
        session,
        clinic.coordinator,
        dev.id,
        sv.DeviationChanges(
            expected_version=dev.version,
            reason="classified at the monthly review",
            severity="major",
            explanation="participant was in hospital for a fracture",
        ),
    )
    assert dev.severity.value == "major" and dev.explanation.startswith("participant")
    with pytest.raises(sv.Forbidden):
        sv.review_deviation(
            session, clinic.coordinator, dev.id, expected_version=dev.version, comment="ok"
        )
    investigator = clinic.actors["investigator"]
    with pytest.raises(sv.ValidationProblem) as caught:
        sv.review_deviation(session, investigator, dev.id, expected_version=dev.version, comment="")
    assert caught.value.field == "review_comment"
    reviewed = sv.review_deviation(
        session, investigator, dev.id, expected_version=dev.version, comment="no safety impact"
    )
    assert reviewed.reviewed_by == investigator.user_id and reviewed.reviewed_at is not None
    page = sv.list_deviations(
        session, investigator, sv.DeviationFilter(status="reviewed", severity="major")
    )
    assert [d.id for d in page.items] == [dev.id]
    assert (
        sv.list_deviations(
            session, investigator, sv.DeviationFilter(status="awaiting_review")
        ).items
        == []
    )
    # A later change undoes the sign-off: the review no longer covers the record.
    changed = sv.update_deviation(
        session,
        clinic.coordinator,
        dev.id,
        sv.DeviationChanges(
            expected_version=reviewed.version, reason="category corrected", category="procedure"
        ),
    )
    assert changed.reviewed_at is None and changed.category.value == "procedure"
    history = [e for e in _audit(session, "protocol_deviations") if e.record_id == str(dev.id)]
    assert any("no safety impact" in e.changes for e in history)


def test_out_of_window_visit_needs_a_reason_when_the_caller_asks_for_one(
    clinic,
    session: Session,  # type: ignore[no-untyped-def]
) -> None:
    pid = clinic.enrolled()
    clinic.baseline(pid, day=28)
    check = sv.check_visit_window(
        session, clinic.coordinator, pid, code="M3", visit_date=clinic.day(28 + 112)
    )
    assert check.inside is False and check.study_day == 112
    assert "outside the window" in check.message and "day 83 to 111" in check.message
    inside = sv.check_visit_window(
        session, clinic.coordinator, pid, code="M3", visit_date=clinic.day(28 + 100)
    )
    assert inside.inside is True
    with pytest.raises(sv.ValidationProblem) as caught:
        sv.record_visit(
            session,
            clinic.coordinator,
            pid,
            code="M3",
            visit_date=clinic.day(28 + 112),
            deviation_reason=" ",
        )
    assert caught.value.field == "deviation_reason"
    assert sv.list_visits(session, clinic.coordinator, pid)[-1].code == "BL"  # nothing saved
    sv.record_visit(
        session,
        clinic.coordinator,
        pid,
        code="M3",
        visit_date=clinic.day(28 + 112),
        deviation_reason="participant travelling",
    )
    (dev,) = sv.list_deviations(
        session, clinic.coordinator, sv.DeviationFilter(participant_id=pid)
    ).items
    assert dev.explanation == "participant travelling"


def test_site_time_zone_is_an_iana_zone_and_audited(
    clinic,
    session: Session,  # type: ignore[no-untyped-def]
) -> None:
    admin = clinic.actors["admin"]
    site = session.scalars(select(Site).where(Site.code == "APGH")).one()
    assert site.time_zone == "UTC"
    with pytest.raises(sv.ValidationProblem) as caught:
        sv.set_site_time_zone(
            session, admin, site.id, time_zone="Mars/Olympus", expected_version=1, reason="x"
        )
    assert caught.value.field == "time_zone" and "Asia/Jakarta" in caught.value.message
    with pytest.raises(sv.Forbidden):
        sv.set_site_time_zone(
            session,
            clinic.coordinator,
            site.id,
            time_zone="Asia/Shanghai",
            expected_version=site.version,
            reason="x",
        )
    view = sv.set_site_time_zone(
        session,
        admin,
        site.id,
        time_zone="Asia/Shanghai",
        expected_version=site.version,
        reason="site is in Beijing",
    )
    assert view.time_zone == "Asia/Shanghai"
    last = _audit(session, "sites")[-1]
    assert "Asia/Shanghai" in last.changes and last.reason == "site is in Beijing"

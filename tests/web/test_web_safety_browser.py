"""Issue 14, safety reporting, in Debian's chromium (SQLite, and PostgreSQL when configured):
a coordinator proposes causality and an investigator confirms it, and only then does the
SUSAR clock appear; the dashboard's 24-hour clock goes once the report is marked sent; a low
glucose suggests a CTCAE grade that the investigator confirms."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect
from tools.harness.database import DemoSeed, TestDatabase
from web_helpers import actor_of, enrolled_participant

from trialdesk import services as sv
from trialdesk.store.types import utcnow

pytestmark = [pytest.mark.browser]


def _sae(db: TestDatabase, term: str = "Hepatitis") -> tuple[int, str, int]:
    with db.session() as session:
        pid = enrolled_participant(session)
        coordinator = actor_of(session, "coordinator")
        ae = sv.report_adverse_event(
            session,
            coordinator,
            pid,
            sv.AdverseEventReport(
                term=term,
                # the day before: awareness two hours ago falls on yesterday just after midnight
                onset_date=date.today() - timedelta(days=1),
                grade=3,
                relatedness="unlikely",
                action_taken="not applicable",
                outcome="not recovered/not resolved",
                seriousness=["hospitalisation"],
                aware_at=utcnow() - timedelta(hours=2),
            ),
        )
        return pid, sv.get_participant(session, coordinator, pid).study_id, ae.id


@pytest.fixture()
def sae(web_database: TestDatabase, seeded: DemoSeed) -> tuple[int, str, int]:
    return _sae(web_database)


def _site_today(db: TestDatabase, pid: int) -> date:
    """Today at the participant's site: day 0 of the sponsor's clock is the site's date."""
    from trialdesk.services.safety import site_zone
    from trialdesk.store.models import Participant

    with db.session() as session:
        participant = session.get(Participant, pid)
        assert participant is not None
        return datetime.now(site_zone(session, participant)).date()


def test_coordinator_proposes_investigator_confirms_then_the_susar_clock(
    open_page: Any, sae: tuple[int, str, int], web_database: TestDatabase
) -> None:
    pid, _study_id, ae_id = sae
    url = f"/participants/{pid}/records/adverse_events/{ae_id}"
    coordinator = open_page("coordinator")
    coordinator.goto(url)
    expect(coordinator.locator("#causality-state")).to_contain_text("not yet confirmed")
    expect(coordinator.locator("#susar-clock")).to_have_count(0)
    expect(coordinator.locator("#confirm-form")).to_have_count(0)  # not the coordinator's
    form = coordinator.locator("#propose-form")
    form.get_by_label("Causality (relatedness)").select_option("probable")
    form.get_by_label("No", exact=True).check()
    form.get_by_role("button", name="Propose causality and expectedness").click()
    expect(coordinator.get_by_role("status")).to_contain_text("an investigator confirms them")
    expect(coordinator.locator("#causality-state")).to_contain_text("probable")
    expect(coordinator.locator("#susar-clock")).to_have_count(0)  # proposed is not confirmed

    investigator = open_page("investigator")
    investigator.goto(url)
    confirm = investigator.locator("#confirm-form")
    expect(confirm.get_by_label("Causality (relatedness)")).to_have_value("probable")
    confirm.get_by_role("button", name="Confirm causality and expectedness").click()
    expect(investigator.get_by_role("status")).to_contain_text("confirmed")
    expect(investigator.locator("#causality-state")).to_contain_text("confirmed by Investigator")
    clock = investigator.locator("#susar-clock")
    expect(clock).to_contain_text("record that report above")
    before = _site_today(web_database, pid)
    investigator.get_by_role("button", name="Record initial report sent").click()
    expect(clock).to_contain_text("Expedited report due")
    # The site's date when the report was sent (the click may straddle its midnight).
    days = (before, _site_today(web_database, pid))
    dues = {(day + timedelta(days=15)).isoformat() for day in days}
    assert any(f"Expedited report due {due}" in (clock.text_content() or "") for due in dues), dues
    expect(clock).to_contain_text("15 calendar days")
    history = investigator.locator("#assessment-history")
    expect(history).to_contain_text("Coordinator")
    expect(history.get_by_role("row").filter(has_text="Confirmed")).to_contain_text("Investigator")


def test_the_dashboard_clock_runs_until_the_report_is_sent(
    open_page: Any, sae: tuple[int, str, int]
) -> None:
    _pid, study_id, _ae_id = sae
    page = open_page("coordinator")
    page.goto("/dashboard")
    row = page.locator("#sae-clocks").get_by_role("row").filter(has_text=study_id)
    expect(row).to_contain_text("Initial report")
    expect(row).to_contain_text("21 h")  # aware two hours ago: 21 h 59 min … 22 h left
    row.get_by_role("link", name=study_id).click()
    expect(page.locator("#site-clock")).to_contain_text("Initial report due")
    page.get_by_role("button", name="Record initial report sent").click()
    expect(page.get_by_role("status")).to_contain_text("initial report to the sponsor")
    expect(page.locator("#site-clock")).to_contain_text("within 24 hours")
    expect(page.get_by_role("table", name="Reports sent")).to_contain_text("Coordinator")
    page.goto("/dashboard")
    expect(page.locator("#sae-clocks")).to_have_count(0)
    expect(page.get_by_role("heading", name="reports to send to the sponsor")).to_be_visible()


def test_a_low_glucose_suggests_a_ctcae_grade_the_investigator_confirms(
    open_page: Any, web_database: TestDatabase, seeded: DemoSeed
) -> None:
    with web_database.session() as session:
        pid = enrolled_participant(session)
        coordinator = actor_of(session, "coordinator")
        sv.record_measurement(
            session,
            coordinator,
            pid,
            sv.VisitMeasurement(
                visit_code="BL",
                element="fasting_glucose",
                value=2.5,
                unit="mmol/L",
                collected_on=date.today(),
            ),
        )
        ae = sv.report_adverse_event(
            session,
            coordinator,
            pid,
            sv.AdverseEventReport(
                term="Hypoglycaemia",
                # the day before: awareness two hours ago falls on yesterday just after midnight
                onset_date=date.today() - timedelta(days=1),
                grade=1,
                relatedness="unlikely",
                action_taken="not applicable",
                outcome="recovered/resolved",
                resolution_date=date.today(),
            ),
        )
    page = open_page("investigator")
    page.goto(f"/participants/{pid}/visits/BL")  # the visit page suggests it too
    suggestion = page.locator("#lab-grades")
    expect(suggestion).to_contain_text("CTCAE grade 2 (Hypoglycemia")
    suggestion.get_by_role("link", name="Report as an adverse event").click()
    expect(page.get_by_label("Adverse event term")).to_have_value("Hypoglycemia")
    page.goto(f"/participants/{pid}/records/adverse_events/{ae.id}")
    expect(page.locator("#grade-suggestions")).to_contain_text(
        "CTCAE grade 2 (Hypoglycemia: glucose 2.5 mmol/L, below 3.0 mmol/L)"
    )
    expect(page.locator("#grade-state")).to_contain_text("not yet confirmed")
    form = page.locator("#grade-form")
    expect(form.get_by_label("CTCAE grade")).to_have_value("2")
    form.get_by_role("button", name="Confirm grade").click()
    expect(page.get_by_role("status")).to_contain_text("CTCAE grade 2 confirmed")
    expect(page.locator("#grade-state")).to_contain_text("Grade 2")
    expect(page.locator("#grade-state")).to_contain_text("confirmed by Investigator")
    history = page.locator("#assessment-history")
    expect(history).to_contain_text("Confirmed: CTCAE grade")
    expect(history).to_contain_text("below 3.0 mmol/L")

"""Issue 14 in Debian's chromium (SQLite, and PostgreSQL when configured): the monitor and the
coordinator in two browser contexts. The monitor verifies a value on the SDV page and finds it
in the record status grid; the coordinator corrects it; the monitor's page then shows the mark
cleared with the coordinator's reason. A monitor opening an entry form sees it read-only."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect
from tools.harness.database import DemoSeed, TestDatabase
from web_helpers import actor_of, enrolled_participant

from trialdesk import services as sv

pytestmark = [pytest.mark.browser]


@pytest.fixture()
def enrolled(web_database: TestDatabase, seeded: DemoSeed) -> tuple[int, str, int]:
    with web_database.session() as session:
        pid = enrolled_participant(session)
        monitor = actor_of(session, "monitor")
        study_id = sv.get_participant(session, monitor, pid).study_id
        weight = sv.list_measurements(
            session, monitor, sv.MeasurementFilter(participant_id=pid, element="weight")
        )
        return pid, study_id, weight.items[0].id


def test_coordinator_changes_a_verified_value_and_the_monitor_sees_why_the_mark_went(
    open_page: Any, enrolled: tuple[int, str, int]
) -> None:
    pid, study_id, weight_id = enrolled
    monitor, coordinator = open_page("monitor"), open_page("coordinator")

    monitor.goto("/monitoring")
    grid = monitor.get_by_role("table")
    expect(grid.get_by_role("link", name=f"{study_id} SCR Vital signs: Incomplete")).to_be_visible()
    monitor.get_by_role("link", name=f"SDV of {study_id}").click()
    expect(monitor.get_by_role("heading", level=1)).to_have_text(
        f"Source-data verification · {study_id}"
    )
    values = monitor.locator("#sdv-values")
    values.locator(f"#m-{weight_id}").get_by_role("button", name="Verified").click()
    expect(monitor.get_by_role("status")).to_contain_text("Marked verified: Vital signs at SCR.")
    expect(monitor.locator(f"#m-{weight_id}")).to_contain_text("verified by Monitor")
    monitor.locator("#v-SCR-vital_signs").get_by_role("button", name="Verified").click()
    expect(monitor.locator("#v-SCR-vital_signs")).to_contain_text("verified by Monitor")
    monitor.goto("/monitoring?status=verified")
    expect(
        monitor.get_by_role("link", name=f"{study_id} SCR Vital signs: Verified")
    ).to_be_visible()

    coordinator.goto(f"/participants/{pid}/measurements/{weight_id}")
    coordinator.locator("#f-value").fill("72")
    coordinator.get_by_label("Reason for the change").fill("scale read wrongly; source says 72")
    coordinator.get_by_role("button", name="Save correction").click()
    expect(coordinator.get_by_role("status")).to_contain_text("Change saved")

    monitor.goto(f"/participants/{pid}/sdv")
    row = monitor.locator(f"#m-{weight_id}")
    expect(row).to_contain_text("cleared")
    expect(row).to_contain_text("scale read wrongly; source says 72")
    expect(row).to_contain_text("by Coordinator")
    expect(row.get_by_role("button", name="Verified")).to_be_visible()  # can verify again
    expect(monitor.locator("#v-SCR-vital_signs")).to_contain_text("70 → 72")
    expect(monitor.get_by_role("heading", name="Marks cleared by a later change")).to_be_visible()
    monitor.goto("/monitoring")
    expect(
        monitor.get_by_role("link", name=f"{study_id} SCR Vital signs: Incomplete")
    ).to_be_visible()


def test_a_monitor_opening_an_entry_form_sees_it_read_only(
    open_page: Any, enrolled: tuple[int, str, int]
) -> None:
    pid = enrolled[0]
    page = open_page("monitor")
    for table in ("adverse_events", "insulin_doses"):
        page.goto(f"/participants/{pid}/records/{table}/new")
        expect(page.get_by_role("heading", name="Read only")).to_be_visible()
        expect(page.get_by_role("note")).to_contain_text("may not enter or change clinical data")
        expect(page.get_by_role("textbox")).to_have_count(0)
        expect(page.get_by_role("button", name="Save")).to_have_count(0)


def test_the_investigator_filters_the_grid_and_a_cell_opens_its_form(
    open_page: Any, enrolled: tuple[int, str, int]
) -> None:
    """The record status grid as the investigator (issue 14): filter by site and by status,
    counts per status, and a cell opens its form on the visit page."""
    pid, study_id, _weight = enrolled
    page = open_page("investigator")
    page.goto("/monitoring")
    page.get_by_label("Site").select_option("APGH")
    page.get_by_label("Rows with a form that is").select_option("incomplete")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"/monitoring\?site=APGH&status=incomplete"))
    expect(page.locator("#h-counts")).to_be_visible()
    cell = page.get_by_role("link", name=f"{study_id} SCR Vital signs: Incomplete")
    expect(cell).to_be_visible()
    cell.click()
    expect(page).to_have_url(re.compile(rf"/participants/{pid}/visits/SCR#sec-"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Screening")

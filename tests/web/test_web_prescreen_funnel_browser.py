"""Issue #16: the screening log page shows the stored EHR pre-screening runs with their attrition
funnel, as a table and as a picture (inline SVG), in Debian's chromium."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from playwright.sync_api import expect
from tools.harness.database import DemoSeed, TestDatabase

from trialdesk import services as sv
from trialdesk.services.prescreening import PrescreenProvenance

pytestmark = [pytest.mark.browser]

STEPS = [
    ("", "Persons seen in the look-back window", 1204, 0, 0),
    ("I2", "Type 2 diabetes", 310, 894, 0),
    ("I5", "FBG and HbA1c", 152, 158, 21),
    ("P1", "Insulin-treated", 40, 112, 0),
]


@pytest.fixture()
def stored_run(web_database: TestDatabase, seeded: DemoSeed) -> None:
    attrition = [
        {"step": i, "criterion": c, "text": t, "remaining": r, "removed": m, "not_assessable": u}
        for i, (c, t, r, m, u) in enumerate(STEPS)
    ]
    row = {
        "ehr_person_key": "88", "rank": 1, "prescreen_status": "candidate",
        "criteria": {"I2": {"verdict": "met", "values": {}}},
    }  # fmt: skip
    with web_database.session() as session:
        actor = sv.actor_for(session, seeded.users["coordinator"])
        sv.record_prescreen_run(
            session,
            actor,
            site_code="APGH",
            rows=[row],
            provenance=PrescreenProvenance(
                protocol_id="NCT01142050",
                index_date=date(2025, 6, 30),
                lookback_days=365,
                source_description="DuckDB file cdm.duckdb",
                persons_assessed=1204,
                status_counts={"candidate": 19, "incomplete": 21, "excluded": 1164},
                attrition=attrition,
            ),
        )


def test_the_screening_log_shows_the_prescreening_funnel(open_page: Any, stored_run: None) -> None:
    page = open_page("coordinator")
    page.goto("/screening/log")
    section = page.get_by_role("region", name="Pre-screening of hospital records")
    expect(section).to_contain_text("APGH, planned screening date")
    expect(section).to_contain_text("1,204 persons seen in the 365 days before")
    expect(section).to_contain_text("Candidates 19, Incomplete 21, Excluded 1,164")
    rows = section.locator("table tbody tr")
    expect(rows).to_have_count(len(STEPS))
    expect(rows.nth(2)).to_contain_text("I5: FBG and HbA1c")
    expect(rows.nth(2)).to_contain_text("152")
    expect(rows.nth(2)).to_contain_text("158")
    expect(rows.nth(2)).to_contain_text("21")
    picture = section.get_by_role("img", name="Pre-screening attrition at APGH")
    expect(picture).to_be_visible()
    expect(picture.locator("rect")).to_have_count(len(STEPS))
    widths = [float(w) for w in picture.locator("rect").evaluate_all(
        "rects => rects.map(r => r.getAttribute('width'))"
    )]  # fmt: skip
    assert widths == sorted(widths, reverse=True) and widths[-1] > 0
    expect(picture).to_contain_text("40 (−112)")
    refused = [m for m in page.console_messages if "Content Security Policy" in m]
    assert not refused, refused


def test_without_a_run_the_log_says_so(open_page: Any, seeded: DemoSeed) -> None:
    page = open_page("coordinator")
    page.goto("/screening/log")
    section = page.get_by_role("region", name="Pre-screening of hospital records")
    expect(section).to_contain_text("No pre-screening run stored yet.")

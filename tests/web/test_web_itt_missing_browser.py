"""An ITT sample not taken, on the visit page in Debian's chromium (issue #13): its code and
reason beside the sample; KITT computed from the samples taken and the sample shown as not
taken with its reason after saving."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import text
from tools.harness.database import DemoSeed, TestDatabase
from web_helpers import enrolled_participant

pytestmark = [pytest.mark.browser]


@pytest.fixture()
def enrolled(web_database: TestDatabase, seeded: DemoSeed) -> int:
    with web_database.session() as session:
        return enrolled_participant(session)


def test_a_sample_not_taken_is_coded_and_kitt_uses_the_others(
    open_page: Any, enrolled: int
) -> None:
    page = open_page("coordinator")
    page.goto(f"/participants/{enrolled}/visits/BL")
    for minute, value in ((0, 10), (3, 9.8), (6, 9.5), (12, 8.9), (15, 8.5)):
        page.get_by_label(f"{minute} min", exact=True).fill(str(value))
    page.get_by_text("A sample not taken? Record why").click()
    page.locator("#f-itt_glucose_9_missing").select_option("ND")
    page.locator("#f-itt_glucose_9_missing_reason").fill("line blocked")
    page.get_by_role("button", name="Save & stay").click()
    section = page.locator("#sec-itt")
    expect(section).to_contain_text("KITT")
    expect(section).not_to_contain_text("not computable")
    expect(section.locator("p.missing")).to_contain_text("9 min not taken")
    expect(section.locator("p.missing")).to_contain_text("ND · Not done")
    expect(section.locator("p.missing")).to_contain_text("line blocked")


def test_a_safety_lab_unscheduled_visit_takes_the_panel_in_conventional_units(
    open_page: Any, enrolled: int
) -> None:
    page = open_page("coordinator")
    page.goto(f"/participants/{enrolled}")
    page.get_by_text("Add unscheduled visit", exact=True).first.click()
    page.get_by_label("Reason (e.g. repeat ITT, safety laboratory)").fill(
        "safety laboratory: fever after the infusion"
    )
    page.get_by_role("button", name="Add unscheduled visit").click()
    section = page.locator("#sec-safety_labs")
    expect(section.get_by_role("heading")).to_contain_text(
        "Safety panel (liver, kidney, blood count)"
    )
    page.locator("#f-creatinine_unit").select_option("mg/dL")
    page.get_by_label("Serum creatinine", exact=True).fill("1.1")
    page.locator("#f-alt_unit").select_option("µkat/L")
    page.get_by_label("Alanine aminotransferase (ALT)", exact=True).fill("3.0")  # 180 U/L
    page.get_by_label("Platelet count", exact=True).fill("250")
    page.locator("#f-haemoglobin_missing").select_option("ND")
    page.locator("#f-haemoglobin_missing_reason").fill("sample clotted")
    page.get_by_role("button", name="Save & stay").click()
    creatinine = section.locator("tr", has_text="Serum creatinine")
    expect(creatinine).to_contain_text("1.1 mg/dL")
    expect(creatinine).to_contain_text("97")  # µmol/L, the canonical unit
    alt = section.locator("tr", has_text="Alanine aminotransferase (ALT)")
    expect(alt).to_contain_text("3.0 µkat/L")
    expect(alt).to_contain_text("high (soft limit)")  # 180 U/L > 3 × ULN: a query is raised
    expect(section.locator("tr", has_text="Haemoglobin")).to_contain_text("sample clotted")


def test_the_standalone_itt_page_takes_and_shows_missing_codes(
    open_page: Any, enrolled: int, web_database: TestDatabase
) -> None:
    """The ITT correction page has the visit page's per-sample codes: the saved code shows,
    another sample can be coded instead of a glucose, and the correction stores both."""
    page = open_page("coordinator")
    page.goto(f"/participants/{enrolled}/visits/BL")
    for minute, value in ((0, 10), (3, 9.8), (6, 9.5), (12, 8.9), (15, 8.5)):
        page.get_by_label(f"{minute} min", exact=True).fill(str(value))
    page.get_by_text("A sample not taken? Record why").click()
    page.locator("#f-itt_glucose_9_missing").select_option("ND")
    page.locator("#f-itt_glucose_9_missing_reason").fill("line blocked")
    page.get_by_role("button", name="Save & stay").click()
    page.get_by_role("link", name="Correct this ITT").click()
    expect(page.locator("details.missing-code")).to_have_attribute("open", "")
    expect(page.locator("#f-itt_glucose_9_missing")).to_have_value("ND")
    expect(page.locator("#f-itt_glucose_9_missing_reason")).to_have_value("line blocked")
    page.get_by_label("12 min", exact=True).fill("")
    page.locator("#f-itt_glucose_12_missing").select_option("NAV")
    page.locator("#f-itt_glucose_12_missing_reason").fill("analyser down")
    page.get_by_label("Reason for the change").fill("12-min sample was never analysed")
    page.get_by_role("button", name="Save correction").click()
    expect(page.locator(".flash, [role=status]").first).to_contain_text("Change saved")
    expect(page.locator("#f-itt_glucose_12_missing")).to_have_value("NAV")
    expect(page.locator("#f-itt_glucose_9_missing")).to_have_value("ND")
    expect(page.get_by_label("12 min", exact=True)).to_have_value("")
    with web_database.session() as session:
        coded = {
            (m, c, r)
            for m, c, r in session.execute(
                text(
                    "SELECT s.minute, s.missing_code, s.missing_reason FROM itt_samples s "
                    "JOIN itt_tests t ON t.id = s.itt_test_id WHERE t.participant_id = :p "
                    "AND NOT s.voided AND s.missing_code IS NOT NULL"
                ),
                {"p": enrolled},
            )
        }
    assert coded == {(9.0, "ND", "line blocked"), (12.0, "NAV", "analyser down")}

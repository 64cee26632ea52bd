"""The web pages in a real browser: Debian's chromium driven by Playwright against the real app
served by uvicorn (SQLite, and PostgreSQL when TRIALDESK_TEST_POSTGRES_URL is set).

Set TRIALDESK_SCREENSHOT_DIR to keep a PNG of each main page (``python -m
tools.screenshots`` makes the README's screenshots from a simulated study).
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from tools.harness.database import DEMO_PASSWORD, DemoSeed, TestDatabase
from tools.harness.live import CHROMIUM
from web_helpers import actor_of, enrolled_participant

from trialdesk import services as sv
from trialdesk.export.from_store import clinical_data, sdtm_sources
from trialdesk.export.odm.write import odm_document, to_bytes
from trialdesk.export.sdtm.findings import laboratory
from trialdesk.protocol import builtin_protocol

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"Debian's chromium is not installed ({CHROMIUM}): apt-get install -y chromium",
    ),
]

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
TODAY = date.today().isoformat()
TABLET = {"width": 768, "height": 1024}


def snap(page: Any, name: str) -> None:
    folder = os.environ.get("TRIALDESK_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def no_csp_violation(page: Any) -> None:
    refused = [m for m in page.console_messages if "Content Security Policy" in m]
    assert not refused, refused


def fits_width(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


# --- login ---------------------------------------------------------------------------------------


def test_log_in_with_the_keyboard_only_then_log_out(open_page: Any) -> None:
    page = open_page(None)
    page.goto("/participants")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    snap(page, "login")
    page.keyboard.type("coordinator")  # the user name field has the focus
    page.keyboard.press("Tab")
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/participants$"))
    expect(page.get_by_role("heading", name="Participants")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_have_text("You have logged out.")
    page.goto("/dashboard")
    expect(page).to_have_url(re.compile(r"/login"))


# --- screening -----------------------------------------------------------------------------------


def fill_candidate(page: Any, *, weight_kg: str = "70") -> None:
    page.get_by_label("Site").select_option("APGH")
    page.get_by_label("Full name (kept apart from the study data)").fill("Li Wei")
    page.get_by_label("Consent form version").fill("1.0")
    page.get_by_label("Date consent signed").fill(TODAY)
    page.get_by_label("Date of birth").fill("1970-05-01")
    page.locator("#f-fasting_glucose_unit").select_option("mg/dL")
    page.get_by_label("Fasting plasma glucose (FBG)", exact=True).press_sequentially("160")
    page.get_by_label("Body weight", exact=True).fill(weight_kg)
    page.get_by_label("Body height", exact=True).fill("170")
    page.get_by_label("Haemoglobin A1c", exact=True).fill("8.1")
    for minute, value in zip((0, 3, 6, 9, 12, 15), (10, 9.8, 9.5, 9.1, 8.9, 8.5), strict=True):
        page.get_by_label(f"{minute} min", exact=True).fill(str(value))
    page.get_by_label("Sex").select_option("M")
    # A man is not asked about pregnancy or nursing (those questions are hidden).
    no = [
        "fertile", "effective_contraception", "severe_heart_disease",
        "severe_lung_disease", "haematopoietic_dysfunction", "liver_dysfunction",
        "kidney_dysfunction", "active_infection_requiring_treatment", "unexplained_fever",
        "hiv_infection", "hepatitis_b_infection", "hepatitis_c_infection",
        "other_immunosuppressive_disease",
    ]  # fmt: skip
    page.locator('input[name="t2dm_diagnosis"][value="yes"]').check()
    for name in no:
        page.locator(f'input[name="{name}"][value="no"]').check()


def test_screen_an_eligible_candidate_live_then_enroll(open_page: Any) -> None:
    page = open_page("coordinator")
    page.get_by_role("link", name="Screening").click()
    expect(page.locator("#verdict")).to_contain_text("Incomplete")
    fill_candidate(page)
    # A typing slip: the reason appears next to the field, what was typed stays.
    hba1c = page.get_by_label("Haemoglobin A1c", exact=True)
    hba1c.fill("")
    hba1c.press_sequentially("8..1")
    expect(page.locator("#err-hba1c")).to_have_text("'8..1' is not a number")
    expect(hba1c).to_have_value("8..1")
    expect(page.locator("#crit-I5 .badge")).to_have_text("missing")
    hba1c.fill("8.1")
    expect(page.locator("#err-hba1c")).to_have_text("")
    expect(page.locator("#verdict")).to_contain_text("Eligible")
    expect(page.locator("#crit-I2 .why")).to_contain_text("160 mg/dL (= 8.9 mmol/L)")
    for criterion in ("I1", "I2", "I3", "I4", "I5", "I6", "I7", "I8", "I9"):
        expect(page.locator(f"#crit-{criterion} .badge")).to_have_text("met")
    for criterion in ("E1", "E2", "E3", "E4"):
        expect(page.locator(f"#crit-{criterion} .badge")).to_have_text("absent")
    expect(page).to_have_url(re.compile(r"/screening/new$"))  # judged in place, not reloaded
    snap(page, "screening-live")
    no_csp_violation(page)
    page.get_by_role("button", name="Save screening").click()
    expect(page.get_by_role("status")).to_have_text("Screening saved.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("APGH-001")
    page.get_by_role("button", name="Enroll APGH-001").click()
    expect(page.get_by_role("status")).to_have_text("Participant enrolled.")
    expect(page.locator("h1 .badge")).to_have_text("enrolled")
    no_csp_violation(page)


def test_screen_an_ineligible_candidate(open_page: Any) -> None:
    page = open_page("coordinator")
    page.goto("/screening/new")
    fill_candidate(page, weight_kg="120")
    expect(page.locator("#crit-I4 .badge")).to_have_text("not met")
    expect(page.locator("#crit-I4 .why")).to_contain_text("Body mass index: 41.5 kg/m²")
    expect(page.locator("#verdict")).to_contain_text("Ineligible")
    page.get_by_role("button", name="Save screening").click()
    expect(page.get_by_text("Enrollment is not possible yet")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Enroll"))).to_have_count(0)
    page.get_by_role("link", name="Dashboard").click()
    log = page.locator("section", has=page.get_by_role("heading", name="Screening log"))
    expect(log).to_contain_text("Inclusion 4")


# --- visits, corrections and the audit history -------------------------------------------------


@pytest.fixture()
def enrolled(web_database: TestDatabase, seeded: DemoSeed) -> int:
    with web_database.session() as session:
        return enrolled_participant(session)


def test_enter_glucose_in_mg_dl_then_correct_it_with_a_reason(
    open_page: Any, enrolled: int
) -> None:
    page = open_page("coordinator")
    page.goto(f"/participants/{enrolled}")
    page.get_by_role("link", name="BL · Baseline").click()
    page.locator("#f-fasting_glucose_unit").select_option("mg/dL")
    page.get_by_label("Fasting plasma glucose (FBG)", exact=True).fill("162")
    page.get_by_role("button", name="Save & stay").click()
    row = page.locator("tr", has_text="Fasting plasma glucose (FBG)")
    expect(row).to_contain_text("162 mg/dL")
    expect(row).to_contain_text("9.0 mmol/L")
    snap(page, "visit")
    row.get_by_role("link", name=re.compile("Correct")).click()
    page.get_by_label("Fasting plasma glucose (FBG)", exact=True).fill("171")
    page.get_by_role("button", name="Save correction").click()
    expect(page.locator("#err-reason")).to_have_text("is required")
    expect(page.get_by_label("Fasting plasma glucose (FBG)", exact=True)).to_have_value("171")
    page.get_by_label("Reason for the change").fill("transcription error; lab report says 171")
    page.get_by_role("button", name="Save correction").click()
    expect(page.get_by_role("status")).to_contain_text("Change saved")
    expect(page.locator("#saved-value")).to_have_text("171 mg/dL")
    page.get_by_role("link", name="Audit history").click()
    history = page.locator("table.history")
    expect(history).to_contain_text("transcription error; lab report says 171")
    expect(history).to_contain_text("value as entered: 162 mg/dL → 171 mg/dL")
    snap(page, "audit-history")


# --- queries -------------------------------------------------------------------------------------


def test_monitor_raises_a_query_coordinator_answers_monitor_closes(
    open_page: Any, enrolled: int, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        m = sv.record_measurement(
            session,
            actor_of(session, "coordinator"),
            enrolled,
            sv.VisitMeasurement(visit_code="BL", element="hba1c", value="9.4", unit="%"),
        )
    monitor = open_page("monitor")
    monitor.goto(f"/participants/{enrolled}/measurements/{m.id}")
    expect(monitor.get_by_role("heading", name="Correct the value")).to_have_count(0)
    monitor.get_by_role("link", name="Raise a query on this value").click()
    expect(monitor.get_by_label("Field")).to_have_value("value")
    monitor.get_by_label("Query to the site").fill("HbA1c 9.4 % differs from the lab print-out")
    monitor.get_by_role("button", name="Raise query").click()
    expect(monitor.get_by_role("status")).to_have_text("Query raised.")
    expect(monitor.locator(".query-flag")).to_contain_text("HbA1c 9.4 % differs")

    coordinator = open_page("coordinator")
    coordinator.goto(f"/participants/{enrolled}/visits/BL")
    flag = coordinator.locator("tr", has_text="Haemoglobin A1c").locator(".query-flag")
    expect(flag).to_contain_text("Open query: HbA1c 9.4 % differs")
    flag.click()
    coordinator.get_by_role("textbox", name="Answer", exact=True).fill(
        "Print-out says 9.4 %: value confirmed"
    )
    coordinator.get_by_role("button", name="Send answer").click()
    expect(coordinator.locator("h1 .badge")).to_have_text("answered")

    monitor.goto("/queries?status=answered")
    monitor.get_by_role("link", name=re.compile(r"^\d+$")).first.click()
    snap(monitor, "query")
    monitor.get_by_role("textbox", name="Resolution", exact=True).fill("Confirmed against source")
    monitor.get_by_role("button", name="Close query").click()
    expect(monitor.locator("h1 .badge")).to_have_text("closed")


# --- role limits and layout ----------------------------------------------------------------------


def test_role_limits_in_the_browser(open_page: Any, enrolled: int) -> None:
    monitor = open_page("monitor")
    nav = monitor.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Screening")).to_have_count(0)
    monitor.goto(f"/participants/{enrolled}/visits/BL")
    expect(monitor.get_by_role("button", name=re.compile("^Save"))).to_have_count(0)
    monitor.goto("/screening/new")  # read-only with the reason (issue 14), not refused
    expect(monitor.get_by_role("heading", name="Read only")).to_be_visible()
    expect(monitor.get_by_role("note")).to_contain_text("may not enter or change clinical data")
    expect(monitor.get_by_role("button", name=re.compile("^Save"))).to_have_count(0)

    statistician = open_page("statistician")
    statistician.goto(f"/participants/{enrolled}")
    expect(statistician.get_by_text("De-identified view")).to_be_visible()
    expect(statistician.get_by_text("Wang Fang")).to_have_count(0)
    expect(statistician.get_by_text("1968-03-14")).to_have_count(0)
    expect(statistician.get_by_role("link", name=re.compile("Audit history"))).to_have_count(0)
    snap(statistician, "casebook-statistician")


def test_pages_work_at_tablet_width(open_page: Any, enrolled: int) -> None:
    page = open_page("coordinator", TABLET)
    for path in (
        f"/participants/{enrolled}",
        f"/participants/{enrolled}/visits/BL",
        "/screening/new",
        "/dashboard",
    ):
        page.goto(path)
        assert fits_width(page), f"{path} scrolls sideways at 768 px"
    page.goto(f"/participants/{enrolled}")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    snap(page, "casebook-tablet")
    no_csp_violation(page)


def test_casebook_shows_calendar_and_trajectories(open_page: Any, enrolled: int) -> None:
    page = open_page("investigator")
    page.goto(f"/participants/{enrolled}")
    calendar = page.locator(".calendar")
    expect(calendar.locator("li")).to_have_count(8)
    expect(calendar.locator("li", has_text="BL · Baseline")).to_contain_text("done")
    expect(page.locator("svg.chart[aria-labelledby='traj-hba1c-t traj-hba1c-d']")).to_be_visible()
    expect(page.locator("#traj-hba1c-d")).to_contain_text("SCR 8.2")
    snap(page, "casebook")


UNLABELLED_CONTROLS = """
() => Array.from(document.querySelectorAll('input, select, textarea, button'))
  .filter(el => el.type !== 'hidden' && el.offsetParent !== null)
  .filter(el => {
    const named = (el.labels && el.labels.length > 0) || el.getAttribute('aria-label')
      || (el.tagName === 'BUTTON' && el.textContent.trim());
    return !named;
  })
  .map(el => el.outerHTML.slice(0, 120))
"""


def test_every_control_has_a_label_and_the_skip_link_works(open_page: Any, enrolled: int) -> None:
    page = open_page("coordinator")
    for path in (
        "/screening/new",
        f"/participants/{enrolled}",
        f"/participants/{enrolled}/visits/BL",
        f"/participants/{enrolled}/records/adverse_events/new",
        "/participants",
        "/queries",
    ):
        page.goto(path)
        assert page.evaluate(UNLABELLED_CONTROLS) == [], path
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


# --- missing-data codes and unscheduled visits (issue #13) --------------------------------------


def test_a_value_recorded_as_not_done_shows_in_casebook_and_exports(
    open_page: Any, enrolled: int, web_database: TestDatabase
) -> None:
    page = open_page("coordinator")
    page.goto(f"/participants/{enrolled}/visits/BL")
    labs = page.locator("#sec-labs")
    labs.locator("#f-c_peptide_missing").select_option("ND")
    labs.locator("#f-c_peptide_missing_reason").fill("sample haemolysed")
    page.get_by_role("button", name="Save & stay").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Fasting C-peptide recorded as missing (ND: sample haemolysed)"
    )
    row = page.locator("tr", has_text="Fasting C-peptide")
    expect(row).to_contain_text("ND · Not done")
    expect(row).to_contain_text("sample haemolysed")

    page.goto(f"/participants/{enrolled}")
    missing = page.locator(
        "section", has=page.get_by_role("heading", name="Values recorded as missing")
    )
    expect(missing).to_contain_text("Fasting C-peptide")
    expect(missing).to_contain_text("ND · Not done")

    protocol = builtin_protocol()
    with web_database.session() as session:
        lb = laboratory(protocol, sdtm_sources(session, protocol))
        odm = to_bytes(
            odm_document(clinical_data(session, protocol).design, clinical_data(session, protocol))
        )
    done = lb[(lb["LBTESTCD"] == "CPEPTIDE") & (lb["LBSTAT"] == "NOT DONE")]
    assert len(done) == 1
    assert done.iloc[0]["LBREASND"] == "NOT DONE: sample haemolysed"
    assert pd.isna(done.iloc[0]["LBORRES"]) and done.iloc[0]["VISIT"] == "Baseline"
    assert b'IsNull="Yes"' in odm and b">ND</FlagValue>" in odm


def test_a_missing_code_is_corrected_to_a_value_with_a_reason(
    open_page: Any, enrolled: int
) -> None:
    page = open_page("coordinator")
    page.goto(f"/participants/{enrolled}/visits/BL")
    labs = page.locator("#sec-labs")
    labs.locator("#f-hba1c_missing").select_option("NAV")
    page.get_by_role("button", name="Save & stay").click()
    expect(page.locator("#err-hba1c_missing_reason")).to_have_text("is required")
    expect(labs.locator("#f-hba1c_missing")).to_have_value("NAV")
    labs.locator("#f-hba1c_missing_reason").fill("central lab result pending")
    page.get_by_role("button", name="Save & stay").click()
    row = page.locator("tr", has_text="Haemoglobin A1c")
    expect(row).to_contain_text("NAV · Temporarily unavailable")
    row.get_by_role("link", name=re.compile("Correct")).click()
    page.get_by_label("Missing-data code").select_option("")
    page.get_by_label("Haemoglobin A1c", exact=True).fill("8.1")
    page.get_by_label("Reason for the change").fill("central lab result received")
    page.get_by_role("button", name="Save correction").click()
    expect(page.get_by_role("status")).to_contain_text("Change saved")
    expect(page.locator("#saved-value")).to_have_text("8.1 %")


def test_add_an_unscheduled_visit_and_record_an_extra_itt(open_page: Any, enrolled: int) -> None:
    page = open_page("coordinator")
    page.goto(f"/participants/{enrolled}")
    page.get_by_text("Add unscheduled visit", exact=True).first.click()
    page.get_by_label("Reason (e.g. repeat ITT, safety laboratory)").fill(
        "repeat ITT: baseline samples haemolysed"
    )
    page.get_by_role("button", name="Add unscheduled visit").click()
    expect(page).to_have_url(re.compile(r"/visits/BL\.U01\?done=saved$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Unscheduled visit 2.01")
    expect(page.locator("p.lead")).to_contain_text("no window applies")
    for minute, glucose in (
        (0, "10.2"),
        (3, "9.9"),
        (6, "9.1"),
        (9, "8.4"),
        (12, "7.8"),
        (15, "7.2"),
    ):
        page.locator(f"#f-itt_glucose_{minute}").fill(glucose)
    page.get_by_role("button", name="Save & stay").click()
    expect(page.locator("#sec-itt")).to_contain_text("KITT")
    expect(page.locator("#sec-itt")).not_to_contain_text("not computable")

    page.goto(f"/participants/{enrolled}")
    calendar = page.locator("ul.calendar > li")
    codes = [text.split(" · ")[0].strip() for text in calendar.locator("a").all_inner_texts()]
    assert codes.index("BL") < codes.index("BL.U01") < codes.index("TX")
    expect(page.locator("li.unscheduled")).to_contain_text(
        "repeat ITT: baseline samples haemolysed"
    )


def test_an_itt_not_done_is_recorded_with_its_reason(open_page: Any, enrolled: int) -> None:
    page = open_page("coordinator")
    page.goto(f"/participants/{enrolled}/visits/BL")
    itt = page.locator("#sec-not-done")
    itt.get_by_text("ITT not done? Record why").click()
    itt.locator("#f-itt_glucose_missing").select_option("ND")
    itt.get_by_role("button", name="Record ITT as not done").click()
    expect(page.locator("#err-itt_glucose_missing_reason")).to_have_text("is required")
    page.locator("#f-itt_glucose_missing_reason").fill("no venous access")
    page.get_by_role("button", name="Record ITT as not done").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(page.locator("#absent-itt_glucose")).to_contain_text("ND · Not done")
    expect(page.locator("#absent-itt_glucose")).to_contain_text("no venous access")
    expect(page.locator("#f-itt_glucose_0")).to_have_count(0)  # no ITT offered any more

"""Issue 13 part 3 in Debian's chromium (SQLite, and PostgreSQL when configured): a candidate
who declines on the screening log, the live out-of-window warning and its reason, the deviation
log (filter, classify, investigator review) and the site's time zone on the pages."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect
from tools.harness.database import DEMO_PASSWORD, DemoSeed, TestDatabase
from web_helpers import actor_of, enrolled_participant

from trialdesk import services as sv

pytestmark = [pytest.mark.browser]

DESKTOP = {"width": 1280, "height": 900}


def no_csp_violation(page: Any) -> None:
    refused = [m for m in page.console_messages if "Content Security Policy" in m]
    assert not refused, refused


@pytest.fixture()
def enrolled(web_database: TestDatabase, seeded: DemoSeed) -> int:
    with web_database.session() as session:
        return enrolled_participant(session)


def test_a_candidate_who_declines_is_logged_on_the_screening_log(open_page: Any) -> None:
    page = open_page("coordinator")
    page.goto("/screening/log")
    page.get_by_role("link", name="Log a candidate who declined or was not consented").click()
    page.get_by_label("Screening number or initials").fill("S-017")
    page.get_by_label("Outcome").select_option("declined")
    page.get_by_role("button", name="Log on the screening log").click()
    expect(page.locator("#err-reason_category")).to_have_text("is required")
    expect(page.get_by_label("Screening number or initials")).to_have_value("S-017")
    page.get_by_label("Reason category").select_option("other")
    page.get_by_role("button", name="Log on the screening log").click()
    expect(page.locator("#err-reason")).to_contain_text(
        "required when the reason category is other"
    )
    page.get_by_label("Reason, in the candidate's or your words").fill("moving to another city")
    page.get_by_role("button", name="Log on the screening log").click()
    expect(page.get_by_role("status")).to_contain_text("declined or not consented")
    row = page.locator("tr", has_text="S-017")
    expect(row).to_contain_text("Declined")
    expect(row).to_contain_text("Other: moving to another city")
    no_csp_violation(page)


def test_out_of_window_visit_warns_live_and_needs_the_reason(open_page: Any, enrolled: int) -> None:
    page = open_page("coordinator")
    page.goto(f"/participants/{enrolled}/visits/M1")
    date_input = page.get_by_label("Visit date")
    # Baseline was today, so today is day 0: far before month 1's window.
    expect(page.locator("#window-check")).to_contain_text("Outside the visit window")
    expect(page.locator("#window-check")).to_contain_text("study day 0")
    page.get_by_role("button", name="Record visit").click()
    # The browser keeps the form until the reason is given (the service refuses it as well).
    reason = page.get_by_label("Reason the visit is outside its window")
    assert reason.evaluate("el => el.validity.valueMissing")
    expect(page).to_have_url(re.compile(r"/visits/M1$"))
    reason.fill("participant came early for a wound check")
    # A date inside no window still asks; the warning follows the date as it is typed.
    date_input.fill((date.today() - timedelta(days=1)).isoformat())
    expect(page.locator("#window-check")).to_contain_text("study day -1")
    date_input.fill(date.today().isoformat())
    expect(page.locator("#window-check")).to_contain_text("study day 0")
    page.get_by_label("Reason the visit is outside its window").fill("came early for a wound check")
    page.get_by_role("button", name="Record visit").click()
    expect(page.get_by_role("status").first).to_contain_text("Visit saved")
    page.goto(f"/deviations?participant={enrolled}")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody tr")).to_contain_text("came early for a wound check")
    no_csp_violation(page)


def test_deviation_log_filter_classify_and_investigator_sign_off(
    open_page: Any, enrolled: int, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        coordinator = actor_of(session, "coordinator")
        sv.record_visit(session, coordinator, enrolled, code="M1", visit_date=date.today())
        study_id = sv.get_participant(session, coordinator, enrolled).study_id
    page = open_page("coordinator")
    page.get_by_role("link", name="Deviations").click()
    page.get_by_label("Category").select_option("consent")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tbody")).to_contain_text("No deviation matches")
    page.get_by_label("Category").select_option("visit_window")
    page.get_by_label("Participant").select_option(label=study_id)
    page.get_by_role("button", name="Filter").click()
    row = page.locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(study_id)
    expect(row).to_contain_text("Awaiting review")
    row.get_by_role("link", name=re.compile("Open")).click()
    page.get_by_label("Classification").select_option("major")
    page.get_by_label("Explanation").fill("baseline date typed as the visit date")
    page.get_by_role("button", name="Save classification").click()
    expect(page.locator("#err-reason")).to_contain_text("reason is required")
    page.get_by_label("Reason for the change").fill("monthly deviation review")
    page.get_by_role("button", name="Save classification").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    expect(page.locator("dl.facts")).to_contain_text("Major")
    expect(page.get_by_role("button", name="Sign off the review")).to_have_count(0)

    investigator = open_page("investigator")
    investigator.goto("/deviations?status=awaiting_review&severity=major")
    investigator.get_by_role("link", name=re.compile("Open")).click()
    investigator.get_by_label("Review comment").fill("no impact on safety; data kept")
    investigator.get_by_role("button", name="Sign off the review").click()
    expect(investigator.locator("dl.facts")).to_contain_text("Signed off by Investigator")
    investigator.goto("/deviations?status=reviewed")
    expect(investigator.locator("tbody tr")).to_contain_text("Reviewed by Investigator")
    no_csp_violation(investigator)


def test_site_time_zone_is_set_by_the_admin_and_shown_on_the_pages(
    open_page: Any, enrolled: int, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        coordinator = actor_of(session, "coordinator")
        sv.record_visit(session, coordinator, enrolled, code="M1", visit_date=date.today())
        (dev,) = sv.list_deviations(
            session, coordinator, sv.DeviationFilter(participant_id=enrolled)
        ).items
        sv.review_deviation(
            session,
            actor_of(session, "investigator"),
            dev.id,
            expected_version=dev.version,
            comment="reviewed",
        )
    admin = open_page("admin")
    admin.get_by_role("link", name="Sites").click()
    admin.get_by_label("Time zone of APGH").fill("Mars/Olympus")
    admin.get_by_label("Reason for the change").first.fill("site is in Beijing")
    admin.get_by_role("button", name="Save time zone of APGH").click()
    expect(admin.locator("#err-time_zone-1, [id^=err-time_zone-]").first).to_contain_text(
        "not an IANA time zone"
    )
    admin.get_by_label("Time zone of APGH").fill("Asia/Shanghai")
    admin.get_by_label("Reason for the change").first.fill("site is in Beijing")
    admin.get_by_role("button", name="Save time zone of APGH").click()
    expect(admin.get_by_role("status")).to_contain_text("Saved")
    expect(admin.get_by_label("Time zone of APGH")).to_have_value("Asia/Shanghai")
    page = open_page("coordinator")
    page.goto(f"/deviations/{dev.id}")
    expect(page.locator("dl.facts")).to_contain_text("Asia/Shanghai")
    expect(page.locator("dl.facts")).not_to_contain_text("UTC")


# --- the screening form -------------------------------------------------------------------------

TODAY = date.today().isoformat()


def fill_eligible_man(page: Any) -> None:
    page.get_by_label("Site").select_option("APGH")
    page.get_by_label("Full name (kept apart from the study data)").fill("Li Wei")
    page.get_by_label("Consent form version").fill("1.0")
    page.get_by_label("Date consent signed").fill(TODAY)
    page.get_by_label("Date of birth").fill("1970-05-01")
    page.get_by_label("Sex").select_option("M")
    page.get_by_label("Fasting plasma glucose (FBG) unit").select_option("mg/dL")
    page.get_by_label("Fasting plasma glucose (FBG)", exact=True).fill("160")
    page.get_by_label("Body weight", exact=True).fill("70")
    page.get_by_label("Body height", exact=True).fill("170")
    page.get_by_label("Haemoglobin A1c", exact=True).fill("8,1")  # a decimal comma
    for minute, value in zip((0, 3, 6, 9, 12, 15), (10, 9.8, 9.5, 9.1, 8.9, 8.5), strict=True):
        page.get_by_label(f"{minute} min", exact=True).fill(str(value))
    page.locator('input[name="t2dm_diagnosis"][value="yes"]').check()
    for name in (
        "fertile", "effective_contraception", "severe_heart_disease", "severe_lung_disease",
        "haematopoietic_dysfunction", "liver_dysfunction", "kidney_dysfunction",
        "active_infection_requiring_treatment", "unexplained_fever", "hiv_infection",
        "hepatitis_b_infection", "hepatitis_c_infection", "other_immunosuppressive_disease",
    ):  # fmt: skip
        page.locator(f'input[name="{name}"][value="no"]').check()


def test_no_pregnancy_questions_for_a_man_and_unit_selects_name_their_measure(
    open_page: Any,
) -> None:
    page = open_page("coordinator")
    page.goto("/screening/new")
    pregnancy_test = page.get_by_label("Pregnancy test (urine or serum hCG)")
    expect(pregnancy_test).to_be_visible()
    expect(page.get_by_role("group", name=re.compile("Currently pregnant"))).to_be_visible()
    page.get_by_label("Sex").select_option("M")
    expect(pregnancy_test).to_be_hidden()
    expect(page.get_by_role("group", name=re.compile("Currently pregnant"))).to_be_hidden()
    expect(page.get_by_role("group", name=re.compile("^Inclusion 8"))).to_be_visible()  # fertile
    page.get_by_label("Sex").select_option("F")
    expect(pregnancy_test).to_be_visible()
    for measure in ("Haemoglobin A1c unit", "Fasting plasma glucose (FBG) unit"):
        expect(page.get_by_label(measure)).to_be_visible()
    no_csp_violation(page)


def test_enter_does_not_submit_and_a_future_date_is_refused_live_as_on_save(
    open_page: Any,
) -> None:
    page = open_page("coordinator")
    page.goto("/screening/new")
    fill_eligible_man(page)
    expect(page.locator("#verdict")).to_contain_text("Eligible")
    page.get_by_label("Body height", exact=True).press("Enter")
    page.wait_for_timeout(500)
    expect(page).to_have_url(re.compile(r"/screening/new$"))
    expect(page.get_by_role("status")).to_have_count(0)
    future = (date.today() + timedelta(days=5)).isoformat()
    page.get_by_label("Date of screening").fill(future)
    live_error = page.locator("#err-screening_date")
    expect(live_error).to_have_text(f"{future} is in the future")
    expect(page.locator("#crit-I3 .badge")).to_have_text("missing")
    page.get_by_role("button", name="Save screening").click()
    expect(page.locator("#error-summary")).to_contain_text(
        f"Date of screening: {future} is in the future"
    )
    expect(page.locator("#err-screening_date")).to_have_text(f"{future} is in the future")
    expect(page.get_by_label("Haemoglobin A1c", exact=True)).to_have_value("8,1")
    no_csp_violation(page)


def test_the_live_region_announces_only_the_criteria_whose_verdict_changed(
    open_page: Any,
) -> None:
    page = open_page("coordinator")
    page.goto("/screening/new")
    fill_eligible_man(page)
    expect(page.locator("#verdict")).to_contain_text("Eligible")
    announce = page.locator("#live-changes")
    expect(announce).to_have_attribute("aria-live", "polite")
    assert page.locator("#live-result").get_attribute("aria-live") is None
    page.get_by_label("Haemoglobin A1c", exact=True).fill("6.1")
    expect(announce).to_have_text("Inclusion 5: now not met.")
    page.get_by_label("Haemoglobin A1c", exact=True).fill("6.2")  # still not met: nothing new
    expect(page.locator("#crit-I5 .why")).to_contain_text("6.2")
    expect(announce).to_have_text("")
    page.get_by_label("Haemoglobin A1c", exact=True).fill("8.1")
    expect(announce).to_have_text("Inclusion 5: now met.")


# --- narrow screens -----------------------------------------------------------------------------

PHONE = {"width": 390, "height": 844}


def test_visit_table_is_usable_at_390_px(chromium: Any, live_url: str, enrolled: int) -> None:
    context = chromium.new_context(base_url=live_url, viewport=PHONE)
    try:
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("User name").fill("coordinator")
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        for path in (
            f"/participants/{enrolled}",
            f"/participants/{enrolled}/visits/SCR",
            f"/participants/{enrolled}/visits/BL",
            f"/participants/{enrolled}/audit",
            "/deviations",
            "/screening/new",
        ):
            page.goto(path)
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
                f"{path} scrolls sideways at 390 px"
            )
            for table in page.locator("table").all():
                # Every column reachable: the cells are on screen or in a scrollable wrapper.
                reachable = table.evaluate(
                    """t => { const wrap = t.closest('.table-wrap');
                              const box = (wrap || t).getBoundingClientRect();
                              return box.right <= window.innerWidth + 1 &&
                                (t.scrollWidth <= (wrap || t).clientWidth + 1 ||
                                 (wrap && getComputedStyle(wrap).overflowX !== 'visible')); }"""
                )
                assert reachable, f"a table on {path} has columns out of reach at 390 px"
    finally:
        context.close()


# --- quantities as typed ------------------------------------------------------------------------


def test_transplantation_takes_weight_in_lb_and_a_cell_count_as_typed(
    open_page: Any, enrolled: int, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        sv.record_visit(
            session, actor_of(session, "coordinator"), enrolled, code="TX", visit_date=date.today()
        )
    page = open_page("coordinator")
    page.goto(f"/participants/{enrolled}/visits/TX")  # a block of the visit page (issue 13)
    page.get_by_label("Date of infusion").fill(date.today().isoformat())
    page.get_by_role("textbox", name="Product", exact=True).fill("umbilical cord MSC")
    page.get_by_role("textbox", name="Lot number", exact=True).fill("LOT-7")
    page.get_by_role("combobox", name="Cell source", exact=True).select_option("umbilical_cord")
    page.get_by_role("textbox", name="Dose (cells/kg)", exact=True).fill("1,0x10^6")
    # The weight of the day is typed once, with the vital signs, and used by the transplantation.
    page.get_by_label("Body weight", exact=True).fill("154,5")
    page.get_by_label("Body weight unit", exact=True).select_option("lb")
    page.get_by_role("combobox", name="Route", exact=True).select_option("intravenous")
    page.get_by_role("textbox", name="Operator", exact=True).fill("Dr Zhao")
    page.get_by_role("button", name="Save & stay").click()
    section = page.locator("#h-tx").locator("..")
    expect(section).to_contain_text("1.0 × 10⁶ cells/kg")
    expect(section).to_contain_text("body weight 70.1 kg")  # 154.5 lb
    section.get_by_role("link", name="Correct").click()
    expect(page.locator("h1")).not_to_contain_text(re.compile(r"\d{1,3} ·"))
    saved = page.locator("table").first
    expect(saved).to_contain_text("70.1 kg")
    expect(saved).to_contain_text("1.0 × 10⁶")
    page.get_by_role("link", name="Audit history of this record").click()
    history = page.locator("table.history")
    expect(history).to_contain_text("weight (kg): 70.1 kg")
    expect(history).to_contain_text("cell dose (cells/kg): 1.0 × 10⁶")
    expect(history).to_contain_text("entered by: Coordinator")
    expect(history).not_to_contain_text("created by")
    no_csp_violation(page)


# --- the audit history and error pages in the site's words -------------------------------------


def test_audit_history_filters_and_reads_old_to_new_with_units(
    open_page: Any, enrolled: int, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        coordinator = actor_of(session, "coordinator")
        (fbg,) = sv.list_measurements(
            session,
            coordinator,
            sv.MeasurementFilter(
                participant_id=enrolled, visit_code="SCR", element="fasting_glucose"
            ),
        ).items
        sv.update_measurement(
            session, coordinator, fbg.id, sv.MeasurementChanges(expected_version=fbg.version,
            reason="lab report in mg/dL", value="162", unit="mg/dL"),
        )  # fmt: skip
    page = open_page("monitor")
    page.goto(f"/participants/{enrolled}/audit")
    expect(page.locator(".lead")).to_contain_text("Times in UTC")
    page.get_by_label("Form").select_option("measurements")
    page.get_by_label("Field").select_option("value_as_entered")
    page.get_by_label("User").select_option(label="Coordinator")
    page.get_by_label("From (date)").fill(date.today().isoformat())
    page.get_by_label("To (date)").fill(date.today().isoformat())
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.history tbody tr")
    # The first entry of each of the four screening measurements and the correction.
    expect(rows).to_have_count(5)
    correction = rows.filter(has_text="lab report in mg/dL")
    expect(correction).to_contain_text("Fasting plasma glucose (FBG) · SCR (Screening)")
    expect(correction).to_contain_text("value as entered: 8.9 mmol/L → 162 mg/dL")
    expect(correction).to_contain_text("value: 8.9 mmol/L → 9.0 mmol/L")
    expect(correction).to_contain_text("Coordinator")
    expect(page.locator("table.history")).not_to_contain_text("measurements")
    expect(page.locator("table.history")).not_to_contain_text("version")
    page.get_by_label("From (date)").fill((date.today() + timedelta(days=1)).isoformat())
    page.get_by_label("To (date)").fill((date.today() + timedelta(days=2)).isoformat())
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_text(["No entries."])
    page.get_by_role("link", name="Clear").click()
    page.get_by_label("User").select_option(label="Investigator")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_text(["No entries."])
    no_csp_violation(page)


def test_error_pages_name_the_kind_of_record_never_a_table_or_id(
    open_page: Any, enrolled: int
) -> None:
    page = open_page("coordinator")
    page.goto("/queries/999999")
    alert = page.get_by_role("alert")
    expect(alert).to_have_text(
        "This data query does not exist, or it is at a site you do not work at."
    )
    page.goto("/audit/measurements/999999")
    expect(alert).to_contain_text("This measurement does not exist")
    page.goto("/participants/abc")
    expect(alert).to_have_text("the participant in the address must be a whole number")
    for text in ("querie", "999999", "path.", "not_found", "Rule:"):
        expect(page.locator("main")).not_to_contain_text(text)


def test_query_lists_name_the_record_not_its_table_and_id(
    open_page: Any, enrolled: int, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        monitor = actor_of(session, "monitor")
        (hba1c,) = sv.list_measurements(
            session,
            monitor,
            sv.MeasurementFilter(participant_id=enrolled, visit_code="SCR", element="hba1c"),
        ).items
        sv.raise_query(
            session, monitor, target_table="measurements", target_id=hba1c.id, field="value",
            text="please check against the lab report",
        )  # fmt: skip
    page = open_page("coordinator")
    for path in ("/queries", "/dashboard", f"/participants/{enrolled}"):
        page.goto(path)
        row = page.locator("tr", has_text="please check against the lab report")
        expect(row).to_contain_text("Haemoglobin A1c · SCR (Screening)")
        expect(row).not_to_contain_text("measurements")
    page.goto("/dashboard")
    page.locator("tr", has_text="please check").get_by_role("link", name="open").click()
    expect(page.locator("dl.facts")).to_contain_text("by Monitor")


UNLABELLED_CONTROLS = """
() => Array.from(document.querySelectorAll('input, select, textarea, button'))
  .filter(el => el.type !== 'hidden' && el.offsetParent !== null)
  .filter(el => !((el.labels && el.labels.length > 0) || el.getAttribute('aria-label')
                  || (el.tagName === 'BUTTON' && el.textContent.trim())))
  .map(el => el.outerHTML.slice(0, 120))
"""


def test_every_control_of_the_new_pages_has_a_label(
    open_page: Any, enrolled: int, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        coordinator = actor_of(session, "coordinator")
        sv.record_visit(session, coordinator, enrolled, code="M1", visit_date=date.today())
        (dev,) = sv.list_deviations(
            session, coordinator, sv.DeviationFilter(participant_id=enrolled)
        ).items
    investigator = open_page("investigator")
    for path in (
        "/deviations",
        f"/deviations/{dev.id}",
        "/screening/declined",
        "/screening/log",
        f"/participants/{enrolled}/audit",
        f"/participants/{enrolled}/visits/M3",
    ):
        investigator.goto(path)
        assert investigator.evaluate(UNLABELLED_CONTROLS) == [], path
    admin = open_page("admin")
    admin.goto("/sites")
    assert admin.evaluate(UNLABELLED_CONTROLS) == []

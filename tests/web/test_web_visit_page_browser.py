"""Issue 13 in a real browser, the visit page and its dates: every refusal at once, the
transplantation and a new adverse event saved with the page, a corrected visit date warned about
live and its deviation recorded with the reason, numbers typed with a decimal comma whatever the
browser's locale.

Debian's chromium driven by Playwright against the real app (SQLite, and PostgreSQL when
TRIALDESK_TEST_POSTGRES_URL is set).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from browser_fixtures import DESKTOP, log_in
from test_web_browser import expect, no_csp_violation
from tools.harness.database import DemoSeed, TestDatabase
from web_helpers import actor_of, enrolled_participant, screened_candidate

from trialdesk import services as sv

pytestmark = [pytest.mark.browser]
TODAY = date.today()


@pytest.fixture()
def enrolled(web_database: TestDatabase, seeded: DemoSeed) -> int:
    with web_database.session() as session:
        return enrolled_participant(session)


def _baseline_days_ago(web_database: TestDatabase, days: int) -> int:
    """A participant screened, enrolled and seen at baseline `days` days ago."""
    with web_database.session() as session:
        pid = screened_candidate(session, on=TODAY - timedelta(days=days + 12))
        who = actor_of(session, "coordinator")
        sv.enroll_participant(session, who, pid, enrolled_on=TODAY - timedelta(days=days + 2))
        sv.record_visit(session, who, pid, code="BL", visit_date=TODAY - timedelta(days=days))
        return pid


def _values(web_database: TestDatabase, pid: int, code: str) -> dict[str, tuple[str, float]]:
    with web_database.session() as session:
        rows = sv.list_measurements(
            session,
            actor_of(session, "coordinator"),
            sv.MeasurementFilter(participant_id=pid, visit_code=code),
        ).items
        return {m.element: (m.value_as_entered, m.value or 0.0) for m in rows}


# --- 1. every refusal at once ----------------------------------------------------------------


def test_a_typing_slip_and_a_refused_value_in_other_blocks_are_shown_together(
    open_page: Any, enrolled: int, web_database: TestDatabase
) -> None:
    page = open_page("coordinator")
    page.goto(f"/participants/{enrolled}/visits/BL")
    page.get_by_label("Body weight", exact=True).fill("71.5")
    page.get_by_label("Haemoglobin A1c", exact=True).fill("80")  # above the hard limit (25 %)
    page.get_by_label("Total daily insulin (U/day)").fill("4x")  # a typing slip
    page.get_by_role("button", name="Save & stay").click()
    summary = page.locator("#error-summary")
    expect(summary).to_contain_text("Not saved: 2 problems")
    expect(page.locator("#err-hba1c")).to_contain_text("hard limit")
    expect(page.locator("#err-insulin_total_units_per_day")).to_contain_text("not a number")
    expect(page.get_by_label("Total daily insulin (U/day)")).to_have_value("4x")
    expect(page.get_by_label("Body weight", exact=True)).to_have_value("71.5")
    assert _values(web_database, enrolled, "BL") == {}
    with web_database.session() as session:
        assert sv.list_insulin_doses(session, actor_of(session, "coordinator"), enrolled) == []
    page.get_by_label("Haemoglobin A1c", exact=True).fill("8.0")
    page.get_by_label("Total daily insulin (U/day)").fill("40")
    page.get_by_role("button", name="Save & stay").click()
    expect(page.get_by_role("status").first).to_contain_text("insulin 40 U/day")
    assert set(_values(web_database, enrolled, "BL")) == {"weight", "hba1c"}
    no_csp_violation(page)


# --- 2. the transplantation and a new adverse event on the visit page -------------------------


def _fill_transplantation(page: Any, dose: str) -> None:
    page.get_by_role("textbox", name="Product", exact=True).fill("umbilical cord MSC")
    page.get_by_role("textbox", name="Lot number", exact=True).fill("L-0042")
    page.get_by_role("combobox", name="Cell source", exact=True).select_option("umbilical_cord")
    page.get_by_role("textbox", name="Dose (cells/kg)", exact=True).fill(dose)
    page.get_by_role("combobox", name="Route", exact=True).select_option("intravenous")
    page.get_by_role("textbox", name="Operator", exact=True).fill("Dr Li")


def _fill_adverse_event(page: Any) -> None:
    page.get_by_text("New adverse event").click()
    page.get_by_label("Adverse event term").fill("Infusion-site pain")
    page.get_by_label("Onset date").fill(TODAY.isoformat())
    page.get_by_label("Severity: CTCAE v5.0 grade").select_option("1")
    page.get_by_label("Relationship to the cell product").select_option("probable")
    page.get_by_label("Action taken with the study treatment").select_option("dose not changed")
    page.get_by_role("combobox", name="Outcome", exact=True).select_option("recovering/resolving")


def test_the_transplantation_and_an_adverse_event_are_saved_with_the_visit_page(
    open_page: Any, web_database: TestDatabase, seeded: DemoSeed
) -> None:
    pid = _baseline_days_ago(web_database, 7)
    with web_database.session() as session:
        sv.record_visit(session, actor_of(session, "coordinator"), pid, code="TX", visit_date=TODAY)
    page = open_page("coordinator")
    page.goto(f"/participants/{pid}/visits/TX")
    _fill_transplantation(page, "1.0y10^6")
    page.get_by_label("Body weight", exact=True).fill("70")
    _fill_adverse_event(page)
    page.get_by_role("button", name="Save & stay").click()
    expect(page.locator("#err-tx_dose_cells_per_kg")).to_contain_text("'1.0y10^6' is not a number")
    expect(page.get_by_label("Adverse event term")).to_have_value("Infusion-site pain")
    # The weight of the day is typed once, with the vital signs (issue #13), not again here.
    expect(page.get_by_label("Body weight on the day", exact=True)).to_have_count(0)
    expect(page.locator("#f-tx_weight_kg")).to_contain_text("vital signs")
    with web_database.session() as session:
        who = actor_of(session, "coordinator")
        assert sv.list_transplantations(session, who, pid) == []
        assert sv.list_adverse_events(session, who, participant_id=pid).items == []
    for typed in ("1,000,000", "1e6", "1.0x10^6"):
        page.get_by_role("textbox", name="Dose (cells/kg)", exact=True).fill(
            typed
        )  # each accepted; the last is saved
    page.get_by_role("button", name="Save & stay").click()
    flash = page.get_by_role("status").first
    expect(flash).to_contain_text("cell transplantation on " + TODAY.isoformat())
    expect(flash).to_contain_text("lot L-0042")
    expect(flash).to_contain_text(re.compile(r"adverse event \d+ \(Infusion-site pain, grade 1\)"))
    expect(page.locator("#sec-tx")).to_contain_text("1.0 × 10⁶ cells/kg")
    expect(page.locator("#sec-tx")).to_contain_text(f"(from vital signs on {TODAY.isoformat()})")
    with web_database.session() as session:
        who = actor_of(session, "coordinator")
        (tx,) = sv.list_transplantations(session, who, pid)
        assert tx.dose_cells_per_kg == 1e6 and tx.weight_kg == 70.0
        assert tx.total_cells == pytest.approx(7.0e7)
        (ae,) = sv.list_adverse_events(session, who, participant_id=pid).items
        assert (ae.term, ae.grade) == ("Infusion-site pain", 1)
        audited = sv.record_history(session, who, "transplantations", tx.id)
        assert [e.action for e in audited][:1] == ["create"]


def test_a_transplantation_dose_that_is_no_count_is_refused_by_name(
    open_page: Any, web_database: TestDatabase, seeded: DemoSeed
) -> None:
    pid = _baseline_days_ago(web_database, 7)
    with web_database.session() as session:
        sv.record_visit(session, actor_of(session, "coordinator"), pid, code="TX", visit_date=TODAY)
    page = open_page("coordinator")
    page.goto(f"/participants/{pid}/visits/TX")
    _fill_transplantation(page, "1,000")  # 1000 or 1.000 cells/kg: never guessed
    page.get_by_role("button", name="Save & stay").click()
    expect(page.locator("#error-summary")).to_contain_text("Dose (cells/kg)")
    expect(page.locator("#err-tx_dose_cells_per_kg")).to_contain_text(
        "can be read as 1000 or as 1.000"
    )


# --- 3. a value entered meanwhile, refused by the service ------------------------------------


@pytest.mark.both_backends
def test_a_value_entered_meanwhile_names_the_value_saved_now(
    open_page: Any, enrolled: int, web_database: TestDatabase
) -> None:
    a, b = open_page("coordinator"), open_page("investigator")
    a.goto(f"/participants/{enrolled}/visits/BL")
    b.goto(f"/participants/{enrolled}/visits/BL")
    a.get_by_label("Fasting plasma glucose (FBG)", exact=True).fill("9,2")
    a.get_by_role("button", name="Save & stay").click()
    expect(a.get_by_role("status").first).to_contain_text("9,2 mmol/L")
    b.get_by_label("Fasting plasma glucose (FBG)", exact=True).fill("9.8")
    b.get_by_label("Haemoglobin A1c", exact=True).fill("8.x")
    b.get_by_role("button", name="Save & stay").click()
    summary = b.locator("#error-summary")  # the field is now filled: its value shows instead
    expect(summary).to_contain_text("it is now 9,2 mmol/L")
    expect(summary).to_contain_text("yours, 9.8 mmol/L, was not saved")
    expect(b.locator("tr", has_text="Fasting plasma glucose")).to_contain_text("9,2 mmol/L")
    expect(b.locator("#err-hba1c")).to_contain_text("not a number")  # reported at once
    assert _values(web_database, enrolled, "BL") == {"fasting_glucose": ("9,2", 9.2)}


# --- 4. a corrected visit date: live window warning, reason, deviation ------------------------


def test_a_corrected_visit_date_outside_its_window_asks_why_and_records_the_deviation(
    open_page: Any, web_database: TestDatabase, seeded: DemoSeed
) -> None:
    pid = _baseline_days_ago(web_database, 40)
    with web_database.session() as session:
        who = actor_of(session, "coordinator")
        visit = sv.record_visit(session, who, pid, code="M1", visit_date=TODAY)  # day 40: inside
    page = open_page("coordinator")
    page.goto(f"/participants/{pid}/records/visits/{visit.id}")
    date_input = page.get_by_label("Visit date")
    date_input.fill((TODAY - timedelta(days=5)).isoformat())  # day 35: still inside
    expect(page.locator("#window-check")).to_contain_text("inside the window of Month 1")
    date_input.fill((TODAY - timedelta(days=20)).isoformat())  # day 20: outside (30 to 44)
    warning = page.locator("#window-check [role=alert]")
    expect(warning).to_contain_text("study day 20, outside the window of Month 1")
    page.get_by_label("Reason for the change").fill("date copied from the wrong page")
    page.get_by_role("button", name="Save correction").click()
    expect(page.locator("#err-deviation_reason")).to_contain_text("is required")
    expect(page.get_by_label("Visit date")).to_have_value((TODAY - timedelta(days=20)).isoformat())
    page.get_by_label("Reason the visit is outside its window").fill("participant was in hospital")
    page.get_by_role("button", name="Save correction").click()
    expect(page.get_by_role("status").first).to_contain_text(
        re.compile(r"Correction of Visit date saved\. Raised: protocol deviation #\d+")
    )
    with web_database.session() as session:
        deviations = sv.list_deviations(
            session, actor_of(session, "coordinator"), sv.DeviationFilter(participant_id=pid)
        ).items
    assert [(d.visit_id, d.explanation) for d in deviations if d.automatic] == [
        (visit.id, "participant was in hospital")
    ]


# --- 5. a decimal comma whatever the browser's locale ----------------------------------------


@pytest.fixture()
def page_in_locale(
    chromium: Any, live_url: str, seeded: DemoSeed, request: pytest.FixtureRequest
) -> Iterator[Any]:
    context = chromium.new_context(base_url=live_url, viewport=DESKTOP, locale=request.param)
    context.set_default_timeout(10_000)
    page = context.new_page()
    log_in(page, "coordinator")
    yield page
    context.close()


@pytest.mark.parametrize("page_in_locale", ["en-US", "de-DE"], indirect=True)
def test_a_decimal_comma_is_read_in_any_locale_and_an_ambiguous_one_is_refused_by_name(
    page_in_locale: Any, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        pid = enrolled_participant(session)
    page = page_in_locale
    page.goto(f"/participants/{pid}/visits/BL")
    page.get_by_label("Haemoglobin A1c", exact=True).fill("8,1")
    page.get_by_label("Fasting plasma glucose (FBG)", exact=True).fill("5,500")  # 5500 impossible
    page.get_by_label("Fasting serum insulin", exact=True).fill("1,500")  # 1500 and 1.5 possible
    page.get_by_role("button", name="Save & stay").click()
    expect(page.locator("#error-summary")).to_contain_text("Fasting serum insulin")
    expect(page.locator("#err-fasting_insulin")).to_contain_text("can be read as 1500 or as 1.500")
    assert _values(web_database, pid, "BL") == {}
    page.get_by_label("Fasting serum insulin", exact=True).fill("15")
    page.get_by_role("button", name="Save & stay").click()
    expect(page.get_by_role("status").first).to_contain_text("Haemoglobin A1c 8,1 %")
    saved = _values(web_database, pid, "BL")
    assert saved["hba1c"] == ("8,1", pytest.approx(8.1))
    assert saved["fasting_glucose"] == ("5,500", pytest.approx(5.5))

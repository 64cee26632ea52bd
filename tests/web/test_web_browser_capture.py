"""Issue 13 in a real browser: site data capture that never loses, reverts or hides a value.

Debian's chromium driven by Playwright against the real app (SQLite, and PostgreSQL when
TRIALDESK_TEST_POSTGRES_URL is set). Two users are two browser contexts (two logins).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from browser_fixtures import log_in
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


def _dose(web_database: TestDatabase, pid: int) -> int:
    with web_database.session() as session:
        dose = sv.record_insulin_dose(
            session, actor_of(session, "coordinator"), pid, sv.InsulinDoseEntry(start_date=TODAY,
            total_units_per_day=40, regimen="glargine", visit_code="BL"),
        )  # fmt: skip
        return dose.id


def _measurements(web_database: TestDatabase, pid: int) -> dict[str, str]:
    with web_database.session() as session:
        rows = sv.list_measurements(
            session,
            actor_of(session, "coordinator"),
            sv.MeasurementFilter(participant_id=pid, visit_code="BL"),
        ).items
        return {m.element: f"{m.value_as_entered} {m.unit_as_entered}" for m in rows}


# --- one Save for the whole visit page -------------------------------------------------------


def test_one_save_keeps_every_block_and_says_what_it_saved_and_raised(
    open_page: Any, enrolled: int, web_database: TestDatabase
) -> None:
    page = open_page("coordinator")
    page.goto(f"/participants/{enrolled}/visits/BL")
    page.get_by_label("Body weight", exact=True).fill("71.5")
    page.get_by_label("Haemoglobin A1c", exact=True).fill(
        "17"
    )  # above the soft limit of 16 %: a query
    page.get_by_label("Fasting plasma glucose (FBG)", exact=True).fill("9.2")
    page.get_by_label("Total daily insulin (U/day)").fill("42")
    page.get_by_label("Laboratory: form status").select_option("complete")
    expect(page.locator(".unsaved-note")).to_be_visible()
    page.get_by_role("button", name="Save & stay").click()
    flash = page.get_by_role("status").first
    expect(flash).to_contain_text("Body weight 71.5 kg")
    expect(flash).to_contain_text("Haemoglobin A1c 17 %")
    expect(flash).to_contain_text("Fasting plasma glucose (FBG) 9.2 mmol/L")
    expect(flash).to_contain_text("insulin 42 U/day")
    expect(flash).to_contain_text("saved for visit Baseline (BL)")
    expect(flash).to_contain_text(re.compile(r"Raised: query #\d+ on value: .*16"))
    assert _measurements(web_database, enrolled) == {
        "weight": "71.5 kg", "hba1c": "17 %", "fasting_glucose": "9.2 mmol/L",
    }  # fmt: skip
    expect(page.locator("#h-labs .badge")).to_have_text("complete")
    expect(page.locator("#h-vital_signs .badge")).to_have_text("incomplete")
    expect(page.locator("#sec-dosing tbody")).to_contain_text("42")
    page.get_by_role("link", name=re.compile("casebook")).click()
    calendar = page.locator(".calendar li", has_text="BL · Baseline")
    expect(calendar).to_contain_text("labs: complete")
    no_csp_violation(page)


def test_one_refused_value_saves_nothing_and_keeps_every_typed_value(
    open_page: Any, enrolled: int, web_database: TestDatabase
) -> None:
    page = open_page("coordinator")
    page.goto(f"/participants/{enrolled}/visits/BL")
    page.get_by_label("Body weight", exact=True).fill("71.5")
    page.get_by_label("Haemoglobin A1c", exact=True).fill("80")  # above the hard limit of 25 %
    page.get_by_label("Total daily insulin (U/day)").fill("42")
    page.get_by_role("button", name="Save & go to next form (TX)").click()
    expect(page).to_have_url(re.compile(r"/visits/BL/forms$"))
    expect(page.locator("#err-hba1c")).to_contain_text("hard limit")
    expect(page.locator("#error-summary")).to_contain_text("Everything you typed is kept")
    expect(page.get_by_label("Body weight", exact=True)).to_have_value("71.5")
    expect(page.get_by_label("Haemoglobin A1c", exact=True)).to_have_value("80")
    expect(page.get_by_label("Total daily insulin (U/day)")).to_have_value("42")
    assert _measurements(web_database, enrolled) == {}
    page.get_by_label("Haemoglobin A1c", exact=True).fill("8.0")
    page.get_by_role("button", name="Save & go to next form (TX)").click()
    expect(page).to_have_url(re.compile(r"/visits/TX\?note="))
    expect(page.get_by_role("status").first).to_contain_text("Haemoglobin A1c 8.0 %")
    assert _measurements(web_database, enrolled) == {"weight": "71.5 kg", "hba1c": "8.0 %"}


def test_leaving_with_unsaved_values_asks_first(open_page: Any, enrolled: int) -> None:
    page = open_page("coordinator")
    page.goto(f"/participants/{enrolled}/visits/BL")
    page.get_by_label("Body weight", exact=True).click()
    page.keyboard.type("71.5")
    dialogs: list[str] = []

    def dismiss(dialog: Any) -> None:
        dialogs.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.get_by_role("link", name=re.compile("casebook")).click()
    page.wait_for_timeout(300)
    assert dialogs == ["beforeunload"]
    expect(page).to_have_url(re.compile(r"/visits/BL$"))
    expect(page.get_by_label("Body weight", exact=True)).to_have_value("71.5")


def test_submitting_another_form_with_unsaved_values_asks_first(
    open_page: Any, enrolled: int, web_database: TestDatabase
) -> None:
    dose = _dose(web_database, enrolled)
    page = open_page("coordinator")
    page.goto(f"/participants/{enrolled}/records/insulin_doses/{dose}")
    page.get_by_label("Total daily insulin (U/day)").fill("44")
    page.get_by_label("Reason for voiding").fill("entered twice")
    asked: list[str] = []

    def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.get_by_role("button", name="Void record").click()
    page.wait_for_timeout(300)
    assert asked and "not saved" in asked[0]
    expect(page.get_by_label("Total daily insulin (U/day)")).to_have_value("44")
    with web_database.session() as session:
        doses = sv.list_insulin_doses(session, actor_of(session, "coordinator"), enrolled)
        assert [d.id for d in doses] == [dose]


# --- two users on one record -------------------------------------------------------------------


@pytest.mark.both_backends
def test_a_conflict_shows_both_and_the_second_save_never_reverts_the_other_user(
    open_page: Any, enrolled: int, web_database: TestDatabase
) -> None:
    dose = _dose(web_database, enrolled)
    path = f"/participants/{enrolled}/records/insulin_doses/{dose}"
    a, b = open_page("coordinator"), open_page("investigator")
    a.goto(path)
    b.goto(path)
    a.get_by_label("Total daily insulin (U/day)").fill("44")
    a.get_by_label("Reason for the change").fill("dose increased per diary")
    a.get_by_role("button", name="Save correction").click()
    expect(a.get_by_role("status").first).to_contain_text("Correction of Total daily insulin")

    b.get_by_label("Regimen").fill("glargine + aspart")
    b.get_by_label("Reason for the change").fill("regimen from the chart")
    b.get_by_role("button", name="Save correction").click()
    conflict = b.locator("#conflict")
    expect(conflict).to_contain_text("changed by someone else")
    expect(b.locator("#conflict-total_units_per_day .theirs")).to_have_text("44")
    expect(b.locator("#conflict-regimen .yours")).to_have_text("glargine + aspart")
    expect(b.locator("tr.clash")).to_have_count(0)
    # Pre-merged: A's total, B's regimen, at the new version.
    expect(b.get_by_label("Total daily insulin (U/day)")).to_have_value("44")
    expect(b.get_by_label("Regimen")).to_have_value("glargine + aspart")
    expect(b.get_by_label("Reason for the change")).to_have_value("regimen from the chart")
    b.get_by_role("button", name="Save correction").click()
    expect(b.get_by_role("status").first).to_contain_text("Correction of Regimen")
    with web_database.session() as session:
        now = sv.list_insulin_doses(session, actor_of(session, "coordinator"), enrolled)[0]
    assert (now.total_units_per_day, now.regimen) == (44, "glargine + aspart")  # A kept


@pytest.mark.both_backends
def test_both_changed_the_same_value_is_highlighted_for_a_deliberate_choice(
    open_page: Any, enrolled: int, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        m = sv.record_measurement(
            session,
            actor_of(session, "coordinator"),
            enrolled,
            sv.VisitMeasurement(visit_code="BL", element="hba1c", value="8.0", unit="%"),
        )
    path = f"/participants/{enrolled}/measurements/{m.id}"
    a, b = open_page("coordinator"), open_page("investigator")
    a.goto(path)
    b.goto(path)
    a.get_by_label("Haemoglobin A1c", exact=True).fill("8.1")
    a.get_by_label("Reason for the change").fill("lab print-out says 8.1")
    a.get_by_role("button", name="Save correction").click()
    expect(a.locator("#saved-value")).to_have_text("8.1 %")
    b.get_by_label("Haemoglobin A1c", exact=True).fill("8.3")
    b.get_by_label("Reason for the change").fill("re-measured")
    b.get_by_role("button", name="Save correction").click()
    expect(b.locator("#conflict-value")).to_have_class("clash")
    expect(b.locator("#conflict-value .theirs")).to_have_text("8.1")
    expect(b.locator("#err-value")).to_contain_text("changed meanwhile by someone else to '8.1'")
    expect(b.locator("#saved-value")).to_have_text("8.1 %")
    # B looks at both and decides A was right: nothing is changed by saving A's value back.
    b.get_by_label("Haemoglobin A1c", exact=True).fill("8.1")
    b.get_by_role("button", name="Save correction").click()
    expect(b.locator("#err-value")).to_contain_text("is unchanged")
    with web_database.session() as session:
        now = sv.get_measurement(session, actor_of(session, "coordinator"), m.id)
    assert (now.value_as_entered, now.version) == ("8.1", 2)


# --- an expired or foreign form token ------------------------------------------------------------


def test_a_form_from_an_earlier_login_comes_back_with_its_values_and_a_fresh_token(
    open_page: Any, enrolled: int, web_database: TestDatabase
) -> None:
    page = open_page("coordinator")
    page.goto(f"/participants/{enrolled}/visits/BL")
    page.get_by_label("Body weight", exact=True).fill("71.5")
    page.get_by_label("Haemoglobin A1c", exact=True).fill("8.1")
    # Meanwhile, in another tab, the session ends and the user logs in again: the form's token
    # belongs to the old login.
    other = page.context.new_page()
    other.goto("/dashboard")
    other.get_by_role("button", name="Log out").click()
    log_in(other, "coordinator")
    other.close()
    page.get_by_role("button", name="Save & stay").click()
    expect(page.locator("#csrf-refused")).to_contain_text("session form expired")
    expect(page.get_by_label("Body weight", exact=True)).to_have_value("71.5")
    expect(page.get_by_label("Haemoglobin A1c", exact=True)).to_have_value("8.1")
    assert _measurements(web_database, enrolled) == {}
    page.get_by_role("button", name="Save & stay").click()
    expect(page.get_by_role("status").first).to_contain_text("Body weight 71.5 kg")
    assert _measurements(web_database, enrolled) == {"weight": "71.5 kg", "hba1c": "8.1 %"}


def test_a_forged_token_on_a_correction_keeps_the_typed_values(
    open_page: Any, enrolled: int, web_database: TestDatabase
) -> None:
    dose = _dose(web_database, enrolled)
    page = open_page("coordinator")
    page.goto(f"/participants/{enrolled}/records/insulin_doses/{dose}")
    page.get_by_label("Total daily insulin (U/day)").fill("44")
    page.get_by_label("Reason for the change").fill("diary")
    page.evaluate(
        "document.querySelectorAll('input[name=csrf_token]').forEach(i => i.value = 'expired')"
    )
    page.get_by_role("button", name="Save correction").click()
    expect(page.locator("#csrf-refused")).to_be_visible()
    expect(page.get_by_label("Total daily insulin (U/day)")).to_have_value("44")
    expect(page.get_by_label("Reason for the change")).to_have_value("diary")
    page.get_by_role("button", name="Save correction").click()
    expect(page.get_by_role("status").first).to_contain_text("Correction of Total daily insulin")


# --- void with a reason ----------------------------------------------------------------------


def test_void_a_wrong_record_with_a_reason_shown_struck_through(
    open_page: Any, enrolled: int, web_database: TestDatabase
) -> None:
    dose = _dose(web_database, enrolled)
    page = open_page("coordinator")
    page.goto(f"/participants/{enrolled}/visits/BL")
    page.locator("#sec-dosing").get_by_role("link", name="open").click()
    page.get_by_role("button", name="Void record").click()
    expect(page.locator("#err-void_reason")).to_have_text("is required")
    page.get_by_label("Reason for voiding").fill("entered for the wrong participant")
    page.get_by_role("button", name="Void record").click()
    expect(page.get_by_role("status").first).to_contain_text(
        "voided: entered for the wrong participant"
    )
    note = page.locator("#void-note")
    expect(note).to_contain_text("entered for the wrong participant")
    expect(note).to_contain_text("by coordinator")
    expect(note).to_contain_text(TODAY.isoformat())
    expect(page.get_by_role("heading", name="Correct this record")).to_have_count(0)
    page.goto(f"/participants/{enrolled}/visits/BL")
    row = page.locator("#sec-dosing tr.voided")
    expect(row).to_contain_text("entered for the wrong participant")
    assert "line-through" in row.locator("td").first.evaluate(
        "el => getComputedStyle(el).textDecorationLine"
    )
    with web_database.session() as session:
        actor = actor_of(session, "coordinator")
        assert sv.list_insulin_doses(session, actor, enrolled) == []  # out of analysis
        assert [
            d.id for d in sv.list_insulin_doses(session, actor, enrolled, include_voided=True)
        ] == [dose]


def test_a_serious_adverse_event_says_when_its_report_is_due(open_page: Any, enrolled: int) -> None:
    page = open_page("investigator")
    page.goto(f"/participants/{enrolled}/records/adverse_events/new")
    page.get_by_label("Adverse event term").fill("Hypoglycaemia")
    page.get_by_label("Onset date").fill((TODAY - timedelta(days=1)).isoformat())
    page.get_by_label("Severity: CTCAE v5.0 grade").select_option("3")
    page.get_by_label("Requires or prolongs inpatient hospitalisation").check()
    page.get_by_label("Relationship to the cell product").select_option("possible")
    page.get_by_label("Action taken with the study treatment").select_option(index=1)
    page.get_by_label("Outcome").select_option("not recovered/not resolved")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status").first).to_contain_text(
        re.compile(
            r"Adverse event \d+ saved\. Raised: serious adverse event #\d+ \(Hypoglycaemia\): "
            r"report to the sponsor due by \d{4}-\d\d-\d\d \d\d:\d\d UTC"
        )
    )


@pytest.mark.both_backends
def test_a_value_entered_meanwhile_by_another_user_is_never_doubled_silently(
    open_page: Any, enrolled: int, web_database: TestDatabase
) -> None:
    a, b = open_page("coordinator"), open_page("investigator")
    a.goto(f"/participants/{enrolled}/visits/BL")
    b.goto(f"/participants/{enrolled}/visits/BL")
    a.get_by_label("Haemoglobin A1c", exact=True).fill("8.1")
    a.get_by_role("button", name="Save & stay").click()
    expect(a.get_by_role("status").first).to_contain_text("Haemoglobin A1c 8.1 %")
    b.get_by_label("Haemoglobin A1c", exact=True).fill("8.3")
    b.get_by_label("Body weight", exact=True).fill("70")
    b.get_by_role("button", name="Save & stay").click()
    expect(b.locator("#error-summary")).to_contain_text("yours, 8.3 %, was not saved")
    expect(b.locator("tr", has_text="Haemoglobin A1c")).to_contain_text("8.1 %")
    expect(b.get_by_label("Body weight", exact=True)).to_have_value("70")
    assert _measurements(web_database, enrolled) == {"hba1c": "8.1 %"}
    b.get_by_role("button", name="Save & stay").click()
    expect(b.get_by_role("status").first).to_contain_text("Body weight 70 kg")
    assert _measurements(web_database, enrolled) == {"hba1c": "8.1 %", "weight": "70 kg"}


def test_a_visit_outside_its_window_says_it_raised_a_deviation(
    open_page: Any, enrolled: int
) -> None:
    page = open_page("coordinator")
    page.goto(f"/participants/{enrolled}/visits/M1")
    page.get_by_label("Visit date").fill(TODAY.isoformat())  # day 0: M1 is due around day 30
    page.get_by_label("Reason the visit is outside its window").fill("travel for a funeral")
    page.get_by_role("button", name="Record visit").click()
    expect(page.get_by_role("status").first).to_contain_text(
        re.compile(r"Visit saved for Month 1 \(M1\)\. Raised: protocol deviation #\d+")
    )


def test_a_correction_says_what_changed_and_the_query_it_raised(
    open_page: Any, enrolled: int, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        m = sv.record_measurement(
            session,
            actor_of(session, "coordinator"),
            enrolled,
            sv.VisitMeasurement(visit_code="BL", element="hba1c", value="8.0", unit="%"),
        )
    page = open_page("coordinator")
    page.goto(f"/participants/{enrolled}/measurements/{m.id}")
    page.get_by_label("Haemoglobin A1c", exact=True).fill("17")
    page.get_by_label("Reason for the change").fill("lab report re-read")
    page.get_by_role("button", name="Save correction").click()
    expect(page.get_by_role("status").first).to_contain_text(
        re.compile(r"Change saved: Haemoglobin A1c 8\.0 % → 17 %\. Raised: query #\d+ on value")
    )
    expect(page.locator(".query-flag")).to_contain_text("Open query")


@pytest.mark.both_backends
def test_two_users_correct_one_screening_and_both_corrections_stand(
    open_page: Any, web_database: TestDatabase, seeded: DemoSeed
) -> None:
    with web_database.session() as session:
        pid = screened_candidate(session)
        sid = sv.list_screenings(session, actor_of(session, "coordinator"), pid)[0].id
    path = f"/participants/{pid}/records/screenings/{sid}"
    a, b = open_page("coordinator"), open_page("investigator")
    a.goto(path)
    b.goto(path)
    a.locator('input[name="hiv_infection"][value="yes"]').check()
    a.get_by_label("Reason for the change").fill("lab report: HIV positive")
    a.get_by_role("button", name="Save correction").click()
    expect(a.get_by_role("status").first).to_contain_text("Correction of")
    b.locator('input[name="unexplained_fever"][value="yes"]').check()
    b.get_by_label("Reason for the change").fill("fever noted in the chart")
    b.get_by_role("button", name="Save correction").click()
    expect(b.locator("#conflict-hiv_infection .theirs")).to_have_text("yes")
    expect(b.locator('input[name="hiv_infection"][value="yes"]')).to_be_checked()
    expect(b.locator('input[name="unexplained_fever"][value="yes"]')).to_be_checked()
    b.get_by_role("button", name="Save correction").click()
    expect(b.get_by_role("status").first).to_contain_text("Correction of")
    with web_database.session() as session:
        now = sv.list_screenings(session, actor_of(session, "coordinator"), pid)[0]
    assert now.findings["hiv_infection"] is True and now.findings["unexplained_fever"] is True
    assert now.status.value == "ineligible"


def test_a_consent_date_is_corrected_from_the_casebook(open_page: Any, enrolled: int) -> None:
    page = open_page("coordinator")
    page.goto(f"/participants/{enrolled}")
    page.get_by_role("link", name="correct or void the consent record").click()
    page.get_by_label("Consent form version").fill("1.1")
    page.get_by_label("Reason for the change").fill("version misread from the form footer")
    page.get_by_role("button", name="Save correction").click()
    expect(page.get_by_role("status").first).to_contain_text("Correction of Consent form version")
    expect(page.locator("table").first).to_contain_text("1.1")

"""Missing-data codes on the screening form, in Debian's chromium (issue #13): a field coded
instead of typed makes its criterion "not assessable" live, quoting the code and reason; a value
and a code together, an unknown reason or none are refused beside the field with everything
typed kept; the saved screening shows the code on the casebook and the screening log."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from test_web_site_log_browser import fill_eligible_man, no_csp_violation

pytestmark = [pytest.mark.browser]


def test_a_coded_screening_field_is_not_assessable_and_shown_after_saving(
    open_page: Any,
) -> None:
    page = open_page("coordinator")
    page.goto("/screening/new")
    fill_eligible_man(page)
    expect(page.locator("#verdict")).to_contain_text("Eligible")
    hba1c = page.get_by_label("Haemoglobin A1c", exact=True)
    hba1c.fill("")
    page.get_by_text("No value for haemoglobin a1c? Record why").click()
    page.locator("#f-hba1c_missing").select_option("ND")
    # The reason is required: until it is given the code does not count.
    expect(page.locator("#err-hba1c_missing_reason")).to_contain_text("say why there is no value")
    page.locator("#f-hba1c_missing_reason").fill("analyser down")
    expect(page.locator("#err-hba1c_missing_reason")).to_have_text("")
    expect(page.locator("#crit-I5 .badge")).to_have_text("missing")
    expect(page.locator("#crit-I5 .why")).to_contain_text("not done (ND): analyser down")
    expect(page.locator("#verdict")).to_contain_text("Incomplete")
    # A value and a code for one field: refused next to the code, nothing dropped.
    hba1c.fill("8.1")
    expect(page.locator("#err-hba1c_missing")).to_contain_text("not both")
    page.get_by_role("button", name="Save screening").click()
    expect(page.locator("#err-hba1c_missing")).to_contain_text("not both")
    expect(page.get_by_label("Haemoglobin A1c", exact=True)).to_have_value("8.1")
    expect(page.locator("#f-hba1c_missing")).to_have_value("ND")
    expect(page.locator("#f-hba1c_missing_reason")).to_have_value("analyser down")
    page.get_by_label("Haemoglobin A1c", exact=True).fill("")
    page.get_by_role("button", name="Save screening").click()
    expect(page.get_by_role("status")).to_have_text("Screening saved.")
    expect(page.locator("ul.missing")).to_contain_text(
        "Haemoglobin A1c: not done (ND): analyser down"
    )
    expect(page.get_by_text("Enrollment is not possible yet")).to_be_visible()
    page.goto("/screening/log")
    row = page.locator("tr", has_text="Haemoglobin A1c: not done (ND): analyser down")
    expect(row).to_have_count(1)
    no_csp_violation(page)


def test_a_finding_asked_but_unknown_is_coded_on_the_form(open_page: Any) -> None:
    page = open_page("coordinator")
    page.goto("/screening/new")
    fill_eligible_man(page)
    page.locator('input[name="hepatitis_b_infection"][value=""]').check()
    page.get_by_text("No value for hepatitis b infection? Record why").click()
    page.locator("#f-hepatitis_b_infection_missing").select_option("ASKU")
    page.locator("#f-hepatitis_b_infection_missing_reason").fill(
        "no records from the referring clinic"
    )
    expect(page.locator("#crit-E4 .why")).to_contain_text(
        "asked but unknown (ASKU): no records from the referring clinic"
    )
    page.get_by_role("button", name="Save screening").click()
    expect(page.get_by_role("status")).to_have_text("Screening saved.")
    expect(page.locator("ul.missing")).to_contain_text(
        "Hepatitis B infection: asked but unknown (ASKU)"
    )

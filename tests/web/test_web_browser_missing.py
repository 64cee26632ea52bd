"""Missing-data codes and unscheduled visits in a real browser (Debian's chromium, Playwright),
on SQLite and PostgreSQL: what the site enters is what the casebook shows and the exports carry.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import pytest
import test_web_browser as browser

from trialdesk.export.from_store import clinical_data, sdtm_sources
from trialdesk.export.odm.write import odm_document, to_bytes
from trialdesk.export.sdtm.findings import laboratory
from trialdesk.protocol import builtin_protocol
from trialdesk.store.testing import TestDatabase
from trialdesk.web.live import CHROMIUM

# The browser, the live server and the logged-in pages of the main browser tests.
chromium = browser.chromium
live_url = browser.live_url
open_page = browser.open_page
enrolled = browser.enrolled
expect = browser.expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"Debian's chromium is not installed ({CHROMIUM}): apt-get install -y chromium",
    ),
]


def test_a_value_recorded_as_not_done_shows_in_casebook_and_exports(
    open_page: Any, enrolled: int, web_database: TestDatabase
) -> None:
    page = open_page("coordinator")
    page.goto(f"/participants/{enrolled}/visits/BL")
    labs = page.locator("#sec-labs")
    labs.locator("#f-c_peptide_missing").select_option("ND")
    labs.locator("#f-c_peptide_missing_reason").fill("sample haemolysed")
    labs.get_by_role("button", name="Save laboratory").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
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
    labs.get_by_role("button", name="Save laboratory").click()
    expect(page.locator("#err-hba1c_missing_reason")).to_have_text("is required")
    expect(labs.locator("#f-hba1c_missing")).to_have_value("NAV")
    labs.locator("#f-hba1c_missing_reason").fill("central lab result pending")
    labs.get_by_role("button", name="Save laboratory").click()
    row = page.locator("tr", has_text="Haemoglobin A1c")
    expect(row).to_contain_text("NAV · Temporarily unavailable")
    row.get_by_role("link", name=re.compile("Correct")).click()
    page.get_by_label("Missing-data code").select_option("")
    page.get_by_label("Haemoglobin A1c").fill("8.1")
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
    page.get_by_role("button", name="Save ITT").click()
    expect(page.locator("#sec-itt")).to_contain_text("KITT")
    expect(page.locator("#sec-itt")).not_to_contain_text("not computable")

    page.goto(f"/participants/{enrolled}")
    calendar = page.locator("ul.calendar > li")
    codes = [text.split(" · ")[0].strip() for text in calendar.locator("a").all_inner_texts()]
    assert codes.index("BL") < codes.index("BL.U01") < codes.index("TX")
    expect(page.locator("li.unscheduled")).to_contain_text(
        "repeat ITT: baseline samples haemolysed"
    )

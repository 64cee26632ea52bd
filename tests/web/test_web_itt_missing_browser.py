"""An ITT sample not taken, on the visit page in Debian's chromium (issue #13): its code and
reason beside the sample; KITT computed from the samples taken and the sample shown as not
taken with its reason after saving."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from web_helpers import enrolled_participant

from trialdesk.store.testing import DemoSeed, TestDatabase

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

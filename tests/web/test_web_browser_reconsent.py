"""Re-consent in a real browser (issues 13 and 18): after an amendment requiring a new consent
form, the coordinator follows the dashboard's flag to the casebook, records the re-consent, and
the flag is gone; the casebook names the protocol version of each record."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect
from tools.harness.database import DemoSeed, TestDatabase
from web_helpers import screened_candidate

from trialdesk import services as sv
from trialdesk.protocol.load import builtin_protocol_text
from trialdesk.services.protocol_versions import Amendment

pytestmark = [pytest.mark.browser]
TODAY = date.today()


@pytest.fixture()
def flagged(web_database: TestDatabase, seeded: DemoSeed) -> int:
    text = builtin_protocol_text()
    with web_database.session() as session:
        sv.set_up_protocol(
            session, sv.SYSTEM, text, "builtin", effective_on=TODAY - timedelta(days=60)
        )
        pid = screened_candidate(session, on=TODAY - timedelta(days=20))
        sv.register_amendment(
            session,
            sv.SYSTEM,
            text + "consent_form_version: ICF 2.0\n",
            "amendment.yaml",
            Amendment(effective_on=TODAY - timedelta(days=5), summary="Consent form ICF 2.0"),
        )
    return pid


def test_re_consent_from_the_dashboard_flag(open_page: Any, flagged: int) -> None:
    page = open_page("coordinator")
    section = page.locator("section", has=page.locator("#h-reconsent"))
    expect(section).to_contain_text("APGH-001")
    expect(section).to_contain_text("form ICF 2.0 (protocol version 2)")
    section.get_by_role("link", name="APGH-001").click()
    expect(page).to_have_url(re.compile(rf"/participants/{flagged}$"))
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("re-consent needed")
    expect(page.get_by_label("Consent form version signed")).to_have_value("ICF 2.0")
    page.get_by_label("Date signed").fill(TODAY.isoformat())
    page.get_by_role("button", name="Record re-consent").click()
    expect(page.get_by_text("re-consent needed")).to_have_count(0)
    expect(page.locator("body")).to_contain_text("Form version ICF 2.0")
    expect(page.locator("body")).to_contain_text("under protocol version 1")
    page.get_by_text("Consent history (2 forms signed)").click()
    expect(page.locator("body")).to_contain_text("Form 1.0")
    page.goto("/dashboard")
    expect(page.locator("#h-reconsent")).to_have_count(0)

"""Issue 14 in Debian's chromium (SQLite, and PostgreSQL when configured): a coder codes one
adverse event by hand from the dictionary search, autocodes the rest, and the coordinator's
adverse event page then shows the coded term and its path."""

from __future__ import annotations

from typing import Any

import pytest
from coding_helpers import coder_with_events
from playwright.sync_api import expect
from tools.harness.database import DemoSeed, TestDatabase

pytestmark = [pytest.mark.browser]


@pytest.fixture()
def events(web_database: TestDatabase, seeded: DemoSeed) -> tuple[int, str, list[int]]:
    with web_database.session() as session:
        return coder_with_events(session, ("Sugar low", "Headache", "  FEVER "))


def test_coder_codes_one_by_hand_and_autocodes_the_rest(
    open_page: Any, events: tuple[int, str, list[int]]
) -> None:
    pid, study_id, (sugar, _headache, fever) = events
    coder = open_page("coder")
    coder.get_by_role("link", name="Coding").click()
    expect(coder.get_by_role("heading", level=1)).to_have_text("Medical coding · MedDRA")
    queue = coder.locator("#coding-queue")
    expect(queue.get_by_role("row")).to_have_count(4)  # header + three verbatims

    queue.get_by_role("link", name=f"Code Sugar low of {study_id}").click()
    expect(coder.locator("#verbatim")).to_have_text("Sugar low")
    coder.get_by_label("Term contains").fill("blood sug")
    coder.get_by_role("button", name="Search").click()
    results = coder.locator("#coding-results")
    expect(results).to_contain_text("Hypoglycaemia › TEST low glucose terms")
    results.get_by_role("button", name="Choose Low blood sugar").click()
    expect(coder.get_by_role("status")).to_contain_text("Coded “Sugar low” to Low blood sugar.")
    expect(coder.locator("#coding-queue").get_by_role("row")).to_have_count(3)

    coder.get_by_role("button", name="Autocode exact matches").click()
    expect(coder.get_by_role("status")).to_contain_text(
        "Autocoded 2 term(s) with MedDRA TEST 0.1; 0 left for coding by hand."
    )
    expect(coder.locator("#coding-queue")).to_contain_text("Every verbatim is coded.")

    coordinator = open_page("coordinator")
    coordinator.goto(f"/participants/{pid}/records/adverse_events/{fever}")
    card = coordinator.locator("#coding")
    expect(card).to_contain_text("Pyrexia")
    expect(card).to_contain_text("TEST general class")
    expect(card).to_contain_text("Autocoded by Cora Coder")
    coordinator.goto(f"/participants/{pid}/records/adverse_events/{sugar}")
    expect(coordinator.locator("#coding")).to_contain_text("Coded by hand by Cora Coder")
    expect(coordinator.locator("#coding").get_by_role("link")).to_have_count(0)

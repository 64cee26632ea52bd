"""Issue 14 in Debian's chromium (SQLite, and PostgreSQL when configured): a coder codes one
adverse event by hand from the dictionary search, autocodes the rest, and the coordinator's
adverse event page then shows the coded term and its path."""

from __future__ import annotations

from typing import Any

import pytest
from coding_helpers import DATA, coder_with_events
from playwright.sync_api import expect
from tools.harness.database import DemoSeed, TestDatabase
from web_helpers import actor_of

from trialdesk import services as sv

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


def test_after_a_dictionary_upgrade_the_coder_recodes_what_it_flagged(
    open_page: Any, web_database: TestDatabase, seeded: DemoSeed
) -> None:
    """Recoding on a dictionary upgrade (issue 14): TEST 0.2 makes "Head pain"'s LLT
    non-current; the coder finds it under "To review", recodes it by hand, and the list empties;
    the audit trail keeps both codings."""
    with web_database.session() as session:
        pid, study_id, (head_pain,) = coder_with_events(session, ("Head pain",))
        coder_actor = actor_of(session, "coder")
        assert sv.autocode(session, coder_actor).coded == 1
        sv.load_dictionary(session, coder_actor, "meddra", DATA / "meddra_test_0_2",
                           version="TEST 0.2")  # fmt: skip
    coder = open_page("coder")
    coder.goto("/coding")
    review = coder.locator("#coding-review")
    expect(review).to_contain_text("Head pain")
    expect(review).to_contain_text("non-current")
    review.get_by_role("link", name=f"Recode Head pain of {study_id}").click()
    coder.get_by_label("Term contains").fill("Cephal")
    coder.get_by_role("button", name="Search").click()
    results = coder.locator("#coding-results")
    results.get_by_label("Reason for recoding").fill("LLT non-current in TEST 0.2")
    results.get_by_role("button", name="Choose Cephalalgia").click()
    expect(coder.get_by_role("status")).to_contain_text("“Head pain”")
    expect(coder.get_by_role("status")).to_contain_text("Cephalalgia")
    coder.goto("/coding")
    expect(coder.locator("#coding-review")).to_contain_text("Nothing to review.")
    investigator = open_page("investigator")
    investigator.goto(f"/participants/{pid}/records/adverse_events/{head_pain}")
    expect(investigator.locator("#coding")).to_contain_text("Cephalalgia")

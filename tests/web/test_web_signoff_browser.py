"""Issue 14 sign-off and data lock in Debian's chromium (SQLite, and PostgreSQL when
configured): the investigator signs the casebook (a wrong password is refused with a clear
message), the coordinator then corrects a value, the casebook shows the signature broken with
what changed, by whom and when, and re-signing works; the administrator locks a casebook and
the coordinator's entry form opens read-only naming the lock; the administrator unlocks with a
reason; a study lock makes screening read-only."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from tools.harness.database import DEMO_PASSWORD, DemoSeed, TestDatabase
from web_helpers import actor_of, enrolled_participant

from trialdesk import services as sv
from trialdesk.services.validate import today

pytestmark = [pytest.mark.browser]


@pytest.fixture()
def enrolled(web_database: TestDatabase, seeded: DemoSeed) -> tuple[int, str, int]:
    with web_database.session() as session:
        pid = enrolled_participant(session)
        who = actor_of(session, "coordinator")
        study_id = sv.get_participant(session, who, pid).study_id
        weight = sv.list_measurements(
            session, who, sv.MeasurementFilter(participant_id=pid, element="weight")
        )
        return pid, study_id, weight.items[0].id


def test_investigator_signs_a_change_breaks_it_and_re_signing_works(
    open_page: Any, enrolled: tuple[int, str, int]
) -> None:
    pid, study_id, weight_id = enrolled
    investigator, coordinator = open_page("investigator"), open_page("coordinator")

    investigator.goto(f"/participants/{pid}")
    investigator.get_by_role("link", name="Sign this casebook").click()
    expect(investigator.get_by_role("heading", level=1)).to_have_text(
        f"Sign the casebook of {study_id}"
    )
    expect(investigator.locator("#printed-name")).to_have_text("Investigator")
    expect(investigator.locator("#meaning")).to_contain_text("I have reviewed the data")
    investigator.get_by_label("Password").fill("not my password")
    investigator.get_by_role("button", name="Sign").click()
    expect(investigator.locator("#err-password")).to_contain_text(
        "the password is wrong: not signed"
    )
    expect(investigator.locator("#current-signature")).to_have_text("Not signed")
    investigator.get_by_label("Password").fill(DEMO_PASSWORD)
    investigator.get_by_role("button", name="Sign").click()
    expect(investigator.get_by_role("status")).to_contain_text("Casebook signed.")
    line = investigator.locator("#signature-line")
    expect(line).to_contain_text("Signed by Investigator, ")
    expect(line).to_contain_text("meaning: I have reviewed the data in this casebook")

    coordinator.goto(f"/participants/{pid}/measurements/{weight_id}")
    coordinator.locator("#f-value").fill("72")
    coordinator.get_by_label("Reason for the change").fill("scale read wrongly; source says 72")
    coordinator.get_by_role("button", name="Save correction").click()
    expect(coordinator.get_by_role("status")).to_contain_text("Change saved")

    investigator.goto(f"/participants/{pid}")
    line = investigator.locator("#signature-line")
    expect(line).to_contain_text("Signature broken — data changed after signing.")
    expect(line).to_contain_text("measurement changed")
    expect(line).to_contain_text("by Coordinator")
    expect(line).to_contain_text("scale read wrongly; source says 72")
    investigator.get_by_role("link", name="Sign again").click()
    investigator.get_by_label("Password").fill(DEMO_PASSWORD)
    investigator.get_by_role("button", name="Sign").click()
    expect(investigator.locator("#signature-line")).to_contain_text("Signed by Investigator, ")
    expect(investigator.locator("#signature-line")).not_to_contain_text("broken")
    expect(investigator.get_by_text("Earlier signatures (1)")).to_be_visible()


def test_admin_locks_a_casebook_the_form_is_read_only_and_unlock_needs_a_reason(
    open_page: Any, enrolled: tuple[int, str, int]
) -> None:
    pid, study_id, _weight = enrolled
    admin, coordinator = open_page("admin"), open_page("coordinator")

    admin.goto("/locks")
    admin.get_by_label("Participant (study id)").fill(study_id)
    admin.locator("form[action='/locks/participant']").get_by_label("Reason").fill(
        "data cleaning complete"
    )
    admin.get_by_role("button", name="Lock", exact=True).click()
    expect(admin.get_by_role("status")).to_contain_text("Locked.")
    expect(admin.get_by_role("table")).to_contain_text(f"The casebook of {study_id}")

    coordinator.goto(f"/participants/{pid}/records/adverse_events/new")
    expect(coordinator.get_by_role("heading", name="Read only")).to_be_visible()
    note = coordinator.get_by_role("note").first
    expect(note).to_contain_text(f"The casebook of {study_id} is locked by Admin on ")
    expect(note).to_contain_text("(data cleaning complete): ask an administrator to unlock")
    expect(coordinator.get_by_role("button", name="Save")).to_have_count(0)
    coordinator.goto("/monitoring")
    expect(coordinator.get_by_role("link", name=f"{study_id} SCR Consent: Locked")).to_be_visible()

    admin.get_by_role("button", name=f"Unlock the casebook of {study_id}").click()
    expect(admin.locator("#error-summary")).to_contain_text("Reason for unlocking")
    admin.locator("input[name='unlock_reason']").fill("query 4 needs a correction")
    admin.get_by_role("button", name=f"Unlock the casebook of {study_id}").click()
    expect(admin.get_by_role("status")).to_contain_text("Unlocked.")
    expect(admin.get_by_role("table")).to_contain_text("(query 4 needs a correction)")

    coordinator.goto(f"/participants/{pid}/records/adverse_events/new")
    expect(coordinator.get_by_role("button", name="Save")).to_be_visible()


def test_a_study_lock_blocks_entry_until_unlocked(
    open_page: Any, enrolled: tuple[int, str, int]
) -> None:
    pid = enrolled[0]
    investigator, coordinator = open_page("investigator"), open_page("coordinator")
    investigator.goto("/locks")
    investigator.locator("form[action='/locks/study']").get_by_label("Reason").fill(
        "database lock for the final analysis"
    )
    investigator.get_by_role("button", name="Lock the study").click()
    expect(investigator.get_by_role("table")).to_contain_text("The study database")
    expect(investigator.get_by_role("button", name="Unlock")).to_have_count(0)  # admins only

    coordinator.goto("/screening/new")
    expect(coordinator.get_by_role("note").first).to_contain_text(
        "The study database is locked for analysis by Investigator"
    )
    expect(coordinator.locator("main input:not([type=hidden])")).to_have_count(0)
    coordinator.goto(f"/participants/{pid}/visits/BL")
    expect(coordinator.locator("#lock-notice")).to_contain_text("The study database is locked")
    expect(coordinator.get_by_role("button", name="Save")).to_have_count(0)


def test_a_locked_adverse_event_form_is_read_only_everywhere_with_its_reason(
    open_page: Any, web_database: TestDatabase, enrolled: tuple[int, str, int]
) -> None:
    """The AE form is a log over the participation: locked from the lock page without a visit,
    it makes the visit page's "New adverse event" block, the new-AE page and an existing AE's
    page read-only with the lock's reason (the rest of the visit stays open), and the service
    refuses a new AE sent anyway."""
    pid, study_id, _weight = enrolled
    with web_database.session() as session:
        who = actor_of(session, "coordinator")
        ae = sv.report_adverse_event(
            session, who, pid, sv.AdverseEventReport(
                term="Headache", onset_date=today(), grade=1, relatedness="unlikely",
                action_taken="not applicable", outcome="recovering/resolving",
            ),
        )  # fmt: skip
    investigator, coordinator = open_page("investigator"), open_page("coordinator")
    investigator.goto("/locks")
    investigator.get_by_label("Participant (study id)").fill(study_id)
    investigator.get_by_label("Form (only to lock one form)").select_option(label="Adverse events")
    investigator.locator("form[action='/locks/participant']").get_by_label("Reason").fill(
        "AE log reviewed"
    )
    investigator.get_by_role("button", name="Lock", exact=True).click()
    expect(investigator.get_by_role("status")).to_contain_text("Locked.")
    expect(investigator.get_by_role("table")).to_contain_text(f"The adverse events of {study_id}")

    sentence = f"The adverse events of {study_id} are locked by Investigator on "
    coordinator.goto(f"/participants/{pid}/visits/BL")
    expect(coordinator.locator("#ae-lock-notice")).to_contain_text(sentence)
    expect(coordinator.locator("#ae-lock-notice")).to_contain_text("(AE log reviewed)")
    expect(coordinator.locator("#f-ae_term")).to_have_count(0)
    expect(coordinator.get_by_role("button", name="Save & stay")).to_be_visible()  # others open
    coordinator.goto(f"/participants/{pid}/records/adverse_events/new?visit=BL")
    expect(coordinator.get_by_role("heading", name="Read only")).to_be_visible()
    expect(coordinator.get_by_role("note").first).to_contain_text(sentence)
    expect(coordinator.get_by_role("button", name="Save")).to_have_count(0)
    coordinator.goto(f"/participants/{pid}/records/adverse_events/{ae.id}")
    expect(coordinator.locator("#lock-notice")).to_contain_text(sentence)
    expect(coordinator.get_by_role("button", name="Save correction")).to_have_count(0)
    with web_database.session() as session, pytest.raises(sv.DataLocked, match=sentence):
        sv.report_adverse_event(
            session, actor_of(session, "coordinator"), pid, sv.AdverseEventReport(
                term="Nausea", onset_date=today(), grade=1, relatedness="unlikely",
                action_taken="not applicable", outcome="recovering/resolving",
            ),
        )  # fmt: skip

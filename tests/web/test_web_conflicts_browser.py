"""Issue 13, edit conflicts "for every corrected record type": two users (two browser contexts,
two logins) open the same adverse event, visit, consent or oral-drug dose; A saves a change of
one field, B saves a change of another. B gets A's values beside B's, with only B's change
re-applied at A's version; B's second click saves the merge and A's change stands (no silent
revert). Measurement, insulin dose and screening: tests/web/test_web_browser_capture.py.
Runs on SQLite, and PostgreSQL when TRIALDESK_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy.orm import Session
from tools.harness.database import DemoSeed, TestDatabase
from web_helpers import actor_of, enrolled_participant

from trialdesk import services as sv

pytestmark = [pytest.mark.browser, pytest.mark.both_backends]  # two users race for a row
TODAY = date.today()


@dataclass(frozen=True)
class Edit:
    """One user's change: a field (by its label) and the value typed or chosen."""

    label: str
    value: str
    select: bool = False

    def apply(self, page: Any) -> None:
        control = page.get_by_label(self.label)
        if self.select:
            control.select_option(self.value)
        else:
            control.fill(self.value)


@dataclass(frozen=True)
class Case:
    table: str
    make: Callable[[Session, int], int]  # → the record's id
    a: Edit  # saved first
    a_name: str  # the form field A changed (its row in the conflict table)
    b: Edit  # saved second, after the conflict page
    b_name: str
    now: Callable[[Session, int, int], tuple[Any, Any]]  # (A's field, B's field) as saved


def _adverse_event(session: Session, pid: int) -> int:
    return sv.report_adverse_event(
        session, actor_of(session, "coordinator"), pid, sv.AdverseEventReport(
            term="Headache", onset_date=TODAY - timedelta(days=1), grade=1,
            relatedness="unlikely", action_taken="dose not changed",
            outcome="not recovered/not resolved",
        ),
    ).id  # fmt: skip


def _ae_now(session: Session, pid: int, rid: int) -> tuple[Any, Any]:
    ae = sv.get_adverse_event(session, actor_of(session, "coordinator"), rid)
    return ae.term, ae.grade


def _visit(session: Session, pid: int) -> int:
    visits = sv.list_visits(session, actor_of(session, "coordinator"), pid)
    return next(v.id for v in visits if v.code == "BL")


def _visit_now(session: Session, pid: int, rid: int) -> tuple[Any, Any]:
    visits = sv.list_visits(session, actor_of(session, "coordinator"), pid)
    bl = next(v for v in visits if v.id == rid)
    return bl.notes, bl.visit_date.isoformat()


def _consent(session: Session, pid: int) -> int:
    return sv.list_consents(session, actor_of(session, "coordinator"), pid)[0].id


def _consent_now(session: Session, pid: int, rid: int) -> tuple[Any, Any]:
    consent = sv.list_consents(session, actor_of(session, "coordinator"), pid)[0]
    return consent.form_version, consent.consented_on.isoformat()


def _ogld(session: Session, pid: int) -> int:
    return sv.record_ogld_dose(
        session,
        actor_of(session, "coordinator"),
        pid,
        sv.OgldDoseEntry(start_date=TODAY, drug="metformin", daily_dose_mg=1000, visit_code="BL"),
    ).id


def _ogld_now(session: Session, pid: int, rid: int) -> tuple[Any, Any]:
    (dose,) = sv.list_ogld_doses(session, actor_of(session, "coordinator"), pid)
    return dose.daily_dose_mg, dose.start_date.isoformat()


YESTERDAY = (TODAY - timedelta(days=1)).isoformat()
EARLIER = (TODAY - timedelta(days=21)).isoformat()
CASES = {
    "adverse event": Case(
        "adverse_events", _adverse_event,
        Edit("Adverse event term", "Tension headache"), "term",
        Edit("Severity: CTCAE v5.0 grade", "2", select=True), "grade",
        _ae_now,
    ),
    "visit": Case(
        "visits", _visit,
        Edit("Notes", "came fasting"), "notes",
        Edit("Visit date", YESTERDAY), "visit_date",
        _visit_now,
    ),
    "consent": Case(
        "consents", _consent,
        Edit("Consent form version", "1.1"), "form_version",
        Edit("Date signed", EARLIER), "consented_on",
        _consent_now,
    ),
    "oral drug dose": Case(
        "ogld_doses", _ogld,
        Edit("Daily dose (mg/day)", "1500"), "daily_dose_mg",
        Edit("In force from", YESTERDAY), "start_date",
        _ogld_now,
    ),
}  # fmt: skip
EXPECTED = {
    "adverse event": ("Tension headache", 2),
    "visit": ("came fasting", YESTERDAY),
    "consent": ("1.1", EARLIER),
    "oral drug dose": (1500, YESTERDAY),
}


@pytest.fixture()
def enrolled(web_database: TestDatabase, seeded: DemoSeed) -> int:
    with web_database.session() as session:
        return enrolled_participant(session)


@pytest.mark.parametrize("name", list(CASES))
def test_the_second_save_after_a_conflict_never_reverts_the_other_user(
    open_page: Any, enrolled: int, web_database: TestDatabase, name: str
) -> None:
    case = CASES[name]
    with web_database.session() as session:
        rid = case.make(session, enrolled)
    path = f"/participants/{enrolled}/records/{case.table}/{rid}"
    a, b = open_page("coordinator"), open_page("investigator")
    a.goto(path)
    b.goto(path)
    case.a.apply(a)
    a.get_by_label("Reason for the change").fill("source document re-read")
    a.get_by_role("button", name="Save correction").click()
    expect(a.get_by_role("status").first).to_contain_text(
        f"Correction of {case.a.label.split(':')[0]}"
    )

    case.b.apply(b)
    b.get_by_label("Reason for the change").fill("chart says so")
    b.get_by_role("button", name="Save correction").click()
    expect(b.locator("#conflict")).to_contain_text("changed by someone else")
    # Only the two fields someone changed are compared, and nobody's change clashes.
    expect(b.locator("table.conflict tbody tr")).to_have_count(2)
    expect(b.locator("tr.clash")).to_have_count(0)
    expect(b.locator(f"#conflict-{case.b_name} .yours")).to_contain_text(case.b.value)
    a_control = b.get_by_label(case.a.label)
    expect(a_control).to_have_value(case.a.value)  # A's value, not B's stale copy
    b.get_by_role("button", name="Save correction").click()
    expect(b.get_by_role("status").first).to_contain_text(
        f"Correction of {case.b.label.split(':')[0]}"
    )
    expect(b.get_by_role("status").first).not_to_contain_text(case.a.label)
    with web_database.session() as session:
        assert case.now(session, enrolled, rid) == EXPECTED[name]


def test_an_unchanged_adverse_event_form_saves_nothing_but_the_field_typed(
    open_page: Any, enrolled: int, web_database: TestDatabase
) -> None:
    """The time of awareness is shown in the site's zone: saving another field must not send it
    back as a change (nor would a conflict count it as the user's)."""
    with web_database.session() as session:
        rid = _adverse_event(session, enrolled)
    page = open_page("coordinator")
    page.goto(f"/participants/{enrolled}/records/adverse_events/{rid}")
    page.get_by_label("Outcome").select_option("recovering/resolving")
    page.get_by_label("Reason for the change").fill("follow-up call")
    page.get_by_role("button", name="Save correction").click()
    expect(page.get_by_role("status").first).to_have_text(
        "Correction of Outcome saved. The reason is in the audit history."
    )


def test_one_save_of_the_visit_page_audits_each_block_on_its_own(
    open_page: Any, enrolled: int, web_database: TestDatabase
) -> None:
    """Issue 13: one Save for the whole visit page, each block still audited on its own: one
    entry per record written, each by the user who saved, in the order of the blocks."""
    from sqlalchemy import select

    from trialdesk.store.models import AuditEntry

    with web_database.session() as session:
        before = session.scalar(select(AuditEntry.sequence).order_by(AuditEntry.sequence.desc()))
    page = open_page("coordinator")
    page.goto(f"/participants/{enrolled}/visits/BL")
    page.get_by_label("Body weight", exact=True).fill("71.5")
    page.get_by_label("Haemoglobin A1c", exact=True).fill("8.2")
    page.get_by_label("Total daily insulin (U/day)").fill("42")
    page.get_by_label("Laboratory: form status").select_option("complete")
    page.get_by_role("button", name="Save & stay").click()
    expect(page.get_by_role("status").first).to_contain_text("saved for visit Baseline (BL)")
    with web_database.session() as session:
        entries = session.execute(
            select(AuditEntry.table_name, AuditEntry.action, AuditEntry.user_id)
            .where(AuditEntry.sequence > (before or 0))
            .order_by(AuditEntry.sequence)
        ).all()
        coordinator = actor_of(session, "coordinator").user_id
    created = [(t, a) for t, a, _u in entries if a == "create"]
    assert created.count(("measurements", "create")) == 2  # weight and HbA1c, one entry each
    assert ("insulin_doses", "create") in created
    assert any(t == "form_statuses" for t, _a, _u in entries)
    assert {u for _t, _a, u in entries} == {coordinator}

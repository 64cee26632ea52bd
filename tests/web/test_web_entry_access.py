"""Issue 14: no role reaches an entry form it cannot save. Every page a user can open, for every
role: each form on it that posts is one the role's permissions allow (a page never offers a
form that is refused after it was filled in); forms a role may not write are shown read-only
with the reason; the roles that may write get the form. Pages answer 200, 403 or 404, never
5xx. An action this file cannot classify fails the test until it is added to `ACTIONS`."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tools.harness.database import DEMO_PASSWORD, TestDatabase
from web_helpers import actor_of, enrolled_participant

from trialdesk import services as sv
from trialdesk.services.accounts import NewUserAccount
from trialdesk.services.actor import ROLE_PERMISSIONS, Permission
from trialdesk.store.enums import Role

Client = Callable[[str], TestClient]
MEDDRA_TEST = Path(__file__).parents[1] / "coding" / "data" / "meddra_test_0_1"
ROLES = ("admin", "investigator", "coordinator", "monitor", "statistician", "coder")
TODAY = date.today()

# The permission a form's action needs (first match wins); None: reads or checks, saves nothing.
ACTIONS: list[tuple[str, Permission | None]] = [
    (r"^/logout$", None),
    (r"^/audit/verify$", Permission.READ_AUDIT),
    (r"^/screening/evaluate$", None),
    (r"^/participants/\d+/visits/[^/]+/window$", None),
    (r"^/participants/\d+/sdv$", Permission.VERIFY_SOURCE),
    (r"^/queries/new\b", Permission.RAISE_QUERY),
    (r"^/queries/\d+/answer$", Permission.ANSWER_QUERY),
    (r"^/queries/\d+/(close|reopen)$", Permission.CLOSE_QUERY),
    (r"^/deviations/\d+/review$", Permission.SIGN),
    (r"^/participants/\d+/sign\b", Permission.SIGN),
    (r"^/adverse-events/\d+/safety/confirm", Permission.CONFIRM_SAFETY),
    (r"^/locks/\d+/unlock$", Permission.UNLOCK_DATA),
    (r"^/locks/(study|participant)$", Permission.LOCK_DATA),
    (r"^/sites/", Permission.MANAGE_USERS),
    (r"^/coding/", Permission.CODE_TERMS),
    (r"^/(participants|screening|deviations|adverse-events)\b", Permission.WRITE_CLINICAL),
]
FORM = re.compile(r"<form\b([^>]*)>", re.I)
ATTR = re.compile(r'([\w-]+)="([^"]*)"')


@dataclass(frozen=True)
class Records:
    pid: int
    measurement: int
    itt: int
    insulin: int
    ogld: int
    transplantation: int
    ae: int
    sae: int
    deviation: int
    query: int
    visit: int
    consent: int
    screening: int


def _records(db: TestDatabase) -> Records:
    with db.session() as s:
        pid = enrolled_participant(s)
        who = actor_of(s, "coordinator")
        m = sv.list_measurements(
            s, who, sv.MeasurementFilter(participant_id=pid, element="weight")
        ).items[0]
        return Records(
            pid=pid,
            measurement=m.id,
            itt=sv.list_itt_tests(s, who, pid)[0].id,
            insulin=sv.record_insulin_dose(
                s,
                who,
                pid,
                sv.InsulinDoseEntry(start_date=TODAY, total_units_per_day=48, visit_code="BL"),
            ).id,
            ogld=sv.record_ogld_dose(
                s,
                who,
                pid,
                sv.OgldDoseEntry(
                    start_date=TODAY, drug="metformin", daily_dose_mg=1500, visit_code="BL"
                ),
            ).id,  # fmt: skip
            transplantation=sv.record_transplantation(
                s,
                who,
                pid,
                sv.TransplantationEntry(
                    performed_on=TODAY,
                    product="UC-MSC suspension",
                    lot_number="LOT-1",
                    cell_source="umbilical_cord",
                    dose_cells_per_kg=1e6,
                    route="intravenous",
                    operator="Dr Li Na",
                    weight_kg=70,
                    visit_code="BL",
                ),
            ).id,  # fmt: skip
            ae=sv.report_adverse_event(
                s,
                who,
                pid,
                sv.AdverseEventReport(
                    term="Headache",
                    onset_date=TODAY - timedelta(days=1),
                    grade=1,
                    relatedness="unlikely",
                    action_taken="not applicable",
                    outcome="recovered/resolved",
                    resolution_date=TODAY,
                ),
            ).id,  # fmt: skip
            sae=sv.report_adverse_event(
                s,
                who,
                pid,
                sv.AdverseEventReport(
                    term="Pneumonia",
                    onset_date=TODAY - timedelta(days=1),
                    grade=3,
                    relatedness="possible",
                    action_taken="not applicable",
                    outcome="recovering/resolving",
                    seriousness=["hospitalisation"],
                ),
            ).id,  # fmt: skip
            deviation=sv.record_deviation(
                s,
                who,
                pid,
                sv.DeviationEntry(
                    category="procedure",
                    severity="minor",
                    description="ITT sample late",
                    detected_on=TODAY,
                ),
            ).id,  # fmt: skip
            query=sv.raise_query(
                s,
                actor_of(s, "monitor"),
                target_table="measurements",
                target_id=m.id,
                field="value",
                text="Please confirm against the source",
            ).id,  # fmt: skip
            visit=sv.list_visits(s, who, pid)[0].id,
            consent=sv.list_consents(s, who, pid)[0].id,
            screening=sv.list_screenings(s, who, pid)[0].id,
        )


def _pages(r: Records) -> list[str]:
    p = f"/participants/{r.pid}"
    return [
        "/dashboard", "/participants", "/queries", "/deviations", "/monitoring",
        "/screening/new", "/screening/declined", "/screening/log", "/sites",
        "/locks", "/coding", f"/coding/adverse_events/{r.ae}",
        p, f"{p}/audit", f"{p}/sdv", f"{p}/sign",
        f"{p}/visits/SCR", f"{p}/visits/BL", f"{p}/visits/M1",
        f"{p}/adverse-events/new",
        *(f"{p}/records/{t}/new" for t in
          ("adverse_events", "insulin_doses", "ogld_doses", "transplantations")),
        f"{p}/records/adverse_events/{r.ae}", f"{p}/records/adverse_events/{r.sae}",
        f"{p}/records/insulin_doses/{r.insulin}",
        f"{p}/records/ogld_doses/{r.ogld}", f"{p}/records/transplantations/{r.transplantation}",
        f"{p}/records/visits/{r.visit}", f"{p}/records/consents/{r.consent}",
        f"{p}/records/screenings/{r.screening}", f"/adverse-events/{r.ae}",
        f"{p}/measurements/{r.measurement}", f"{p}/itt/{r.itt}",
        f"/queries/new?table=measurements&id={r.measurement}&field=value",
        f"/queries/{r.query}", f"/deviations/{r.deviation}",
        f"/audit/measurements/{r.measurement}",
    ]  # fmt: skip


def _needed(action: str) -> Permission | None:
    for pattern, permission in ACTIONS:
        if re.search(pattern, action):
            return permission
    raise AssertionError(f"form action {action!r}: add the permission it needs to ACTIONS")


def _post_actions(html: str, path: str) -> list[str]:
    actions = []
    for match in FORM.finditer(html):
        attrs = dict(ATTR.findall(match.group(1)))
        if attrs.get("method", "get").lower() == "post":
            actions.append(unescape(attrs.get("action") or path).split("#")[0])
    return actions


@pytest.fixture()
def records(web_database: TestDatabase, seeded: object) -> Records:
    with web_database.session() as s:
        user = sv.create_user(
            s,
            sv.SYSTEM,
            NewUserAccount(
                username="coder",
                full_name="Cora Coder",
                password=DEMO_PASSWORD,
                roles=["coder"],
                site_codes=["APGH"],
                must_change_password=False,
            ),
        )
        sv.load_dictionary(s, sv.actor_for(s, user.id), "meddra", MEDDRA_TEST)
    return _records(web_database)


@pytest.mark.parametrize("role", ROLES)
def test_every_form_a_page_offers_is_one_the_role_may_save(
    client_for: Client, records: Records, role: str
) -> None:
    client = client_for(role)
    allowed = ROLE_PERMISSIONS[Role(role)]
    offered: list[str] = []
    for path in _pages(records):
        page = client.get(path)
        assert page.status_code in (200, 403, 404), f"{role} {path}: {page.status_code}"
        if page.status_code != 200:
            continue
        for action in _post_actions(page.text, page.url.path):
            needed = _needed(
                action.split("?")[0] if not action.startswith("/queries/new") else action
            )
            assert needed is None or needed in allowed, (
                f"{role} is offered a form on {path} posting to {action}, which needs {needed}"
            )
            offered.append(action.split("?")[0])
    # not vacuous: the roles that write are offered the entry forms themselves
    new_ae = f"/participants/{records.pid}/records/adverse_events/new"
    assert (new_ae in offered) == (Permission.WRITE_CLINICAL in allowed)


@pytest.mark.parametrize("role", ("monitor", "statistician", "coder"))
def test_entry_forms_a_role_cannot_save_are_read_only_with_the_reason(
    client_for: Client, records: Records, role: str
) -> None:
    client = client_for(role)
    p = f"/participants/{records.pid}"
    for table in ("adverse_events", "insulin_doses", "ogld_doses", "transplantations"):
        html = unescape(client.get(f"{p}/records/{table}/new").text)
        assert "Read only" in html, table
        assert "may not enter or change clinical data" in html, table
        assert "<input" not in html.split("<main")[1].replace('type="hidden"', ""), table
        assert "Save</button>" not in html, table
    visit = client.get(f"{p}/visits/BL").text
    assert 'id="visit-form"' not in visit and "Save</button>" not in visit


@pytest.mark.parametrize("role", ("coordinator", "investigator"))
def test_roles_that_write_get_the_entry_forms(
    client_for: Client, records: Records, role: str
) -> None:
    client = client_for(role)
    p = f"/participants/{records.pid}"
    for table in ("adverse_events", "insulin_doses", "ogld_doses", "transplantations"):
        html = client.get(f"{p}/records/{table}/new").text
        assert "Read only" not in html and '<button type="submit">Save</button>' in html, table


def test_a_coordinator_is_not_offered_a_query_form_it_cannot_raise(
    client_for: Client, records: Records
) -> None:
    path = f"/queries/new?table=measurements&id={records.measurement}&field=value"
    html = unescape(client_for("coordinator").get(path).text)
    assert "Read only" in html and "may not raise data queries" in html
    assert "Raise query</button>" not in html
    monitor = client_for("monitor").get(path).text
    assert "Raise query</button>" in monitor


@pytest.mark.parametrize("role", ("monitor", "statistician", "admin", "coder"))
def test_screening_entry_pages_are_read_only_for_roles_that_may_not_write(
    client_for: Client, records: Records, role: str
) -> None:
    """Item 5 of the sign-off task: /screening/new and /screening/declined read-only."""
    for path in ("/screening/new", "/screening/declined"):
        page = client_for(role).get(path)
        html = unescape(page.text)
        assert page.status_code == 200, (path, page.status_code)
        assert "Read only" in html and "may not enter or change clinical data" in html, path
        main = html.split("<main")[1]
        assert "<input" not in main.replace('type="hidden"', "") and "<select" not in main, path
        assert 'method="post" action="/screening' not in main, path


def test_a_locked_casebook_opens_read_only_with_the_lock_named(
    client_for: Client, records: Records, web_database: TestDatabase
) -> None:
    with web_database.session() as s:
        sv.lock_participant(s, actor_of(s, "investigator"), records.pid, reason="data clean")
    client = client_for("coordinator")
    p = f"/participants/{records.pid}"
    for path in (f"{p}/records/adverse_events/new", f"{p}/records/insulin_doses/new"):
        html = unescape(client.get(path).text)
        assert "Read only" in html and "is locked by Investigator on" in html, path
        assert "ask an administrator to unlock" in html and "Save</button>" not in html, path
    for path in (p, f"{p}/visits/BL", f"{p}/measurements/{records.measurement}"):
        html = unescape(client.get(path).text)
        assert "Read only: locked." in html and "(data clean)" in html, path
        assert 'id="visit-form"' not in html and "Record re-consent" not in html, path
        for action in _post_actions(html, path):
            assert _needed(action) is not Permission.WRITE_CLINICAL, (path, action)


def test_what_a_coder_sees_and_cannot(
    client_for: Client, records: Records, web_database: TestDatabase
) -> None:
    """A coder (issue 14) codes terms and reads the clinical record and its audit trail, but
    never identifying data (the date of birth is masked in the audit trail too), never the
    entry forms, the sign-off or lock actions, and never the coding of another role."""
    coder = client_for("coder")
    p = f"/participants/{records.pid}"
    coding = unescape(coder.get("/coding").text)
    assert "Headache" in coding and "Autocode" in coding
    term = unescape(coder.get(f"/coding/adverse_events/{records.ae}").text)
    assert 'method="get"' in term and "Headache" in term
    audit = coder.get(f"{p}/audit")
    assert audit.status_code == 200
    with web_database.session() as s:
        birth = sv.get_identity(s, actor_of(s, "investigator"), records.pid).date_of_birth
    with_birth = unescape(client_for("investigator").get(f"{p}/audit").text)
    assert birth.isoformat() in with_birth  # the investigator's trail quotes it …
    assert birth.isoformat() not in unescape(audit.text)  # … the coder's does not
    assert coder.get(f"{p}/identity").status_code in (403, 404)
    for path in (f"{p}/sign", "/locks", f"{p}/sdv"):
        html = unescape(coder.get(path).text)
        for action in _post_actions(html, path):
            assert _needed(action) in (None, Permission.RAISE_QUERY), (path, action)
    for role in ("investigator", "coordinator", "monitor"):
        assert client_for(role).get("/coding").status_code == 403, role

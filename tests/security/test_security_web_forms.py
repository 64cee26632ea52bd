"""Hostile input on the web pages: script in every free-text field is shown as text, never run;
a form without its CSRF token (or with another browser's) is refused before anything happens."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from security_helpers import ELIGIBLE_FINDINGS, ITT_MG_DL, World, day, web_routes
from sqlalchemy import func, select
from tools.harness.database import DEMO_PASSWORD

from trialdesk import services as sv
from trialdesk.services.accounts import NewUserAccount
from trialdesk.store.models import AuditEntry

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_serial = itertools.count(1)


def payload(field: str) -> str:
    """Breaks out of an attribute and opens a script, with the field's name to trace it back."""
    return f"\"'><script>xss_{field}()</script>"


def escaped(field: str) -> str:
    return f"&lt;script&gt;xss_{field}()&lt;/script&gt;"


def _hostile_participant(session: Any, world: World) -> dict[str, int]:
    """A participant at APGH whose every free-text field (and the user's name) is a payload."""
    n = next(_serial)
    clerk = sv.create_user(
        session,
        sv.SYSTEM,
        NewUserAccount(
            username=f"clerk{n}",
            full_name=payload("user_full_name"),
            password=DEMO_PASSWORD,
            roles=["investigator"],
            site_codes=["APGH"],
        ),
    )
    who = sv.actor_for(session, clerk.id)
    p = sv.register_participant(
        session,
        who,
        sv.Registration(
            site_code="APGH",
            registered_on=day(0),
            sex="F",
            full_name=payload("full_name"),
            date_of_birth=date(1966, 1, 9),
            medical_record_number=payload("mrn"),
            phone=payload("phone"),
            address=payload("address"),
        ),
    )
    pid = p.id
    sv.record_consent(session, who, pid, form_version=payload("form_version"), consented_on=day(0))
    visit = sv.record_visit(
        session, who, pid, code="SCR", visit_date=day(0), notes=payload("notes")
    )
    for element, value, unit in (("weight", 70, "kg"), ("height", 165, "cm")):
        sv.record_measurement(
            session,
            who,
            pid,
            sv.VisitMeasurement(visit_code="SCR", element=element, value=value, unit=unit),
        )
    measurement = sv.record_measurement(
        session,
        who,
        pid,
        sv.VisitMeasurement(visit_code="SCR", element="fasting_glucose", value=9.1, unit="mmol/L"),
    )
    sv.record_measurement(
        session,
        who,
        pid,
        sv.VisitMeasurement(visit_code="SCR", element="hba1c", value=8.2, unit="%"),
    )
    itt = sv.record_itt_test(
        session,
        who,
        pid,
        sv.IttTestEntry(
            visit_code="SCR", samples=ITT_MG_DL, glucose_unit="mg/dL", insulin_dose_u_per_kg=0.1
        ),
    )
    findings = {**ELIGIBLE_FINDINGS, "pregnant": False, "nursing": False}
    sv.screen_participant(session, who, pid, screened_on=day(0), findings=findings)
    sv.enroll_participant(session, who, pid, enrolled_on=day(1))
    sv.record_visit(session, who, pid, code="BL", visit_date=day(28))
    sv.record_missed_visit(session, who, pid, code="M12", reason=payload("missed_reason"))
    tx = sv.record_transplantation(
        session,
        who,
        pid,
        sv.TransplantationEntry(
            performed_on=day(30),
            product=payload("product"),
            lot_number=payload("lot_number"),
            cell_source="umbilical_cord",
            dose_cells_per_kg=1e6,
            route="intravenous",
            operator=payload("operator"),
            weight_kg=70,
            visit_code="BL",
            notes=payload("tx_notes"),
        ),
    )
    ae = sv.report_adverse_event(
        session,
        who,
        pid,
        sv.AdverseEventReport(
            term=payload("ae_term"),
            onset_date=day(40),
            grade=1,
            relatedness="unlikely",
            action_taken="not applicable",
            outcome="recovered/resolved",
            resolution_date=day(41),
        ),
    )
    sv.record_deviation(
        session,
        who,
        pid,
        sv.DeviationEntry(
            category="procedure",
            severity="minor",
            description=payload("deviation"),
            detected_on=day(0),
        ),
    )
    query = sv.raise_query(
        session,
        who,
        target_table="measurements",
        target_id=measurement.id,
        field="value",
        text=payload("query_text"),
    )
    sv.answer_query(
        session, who, query.id, expected_version=query.version, answer=payload("query_answer")
    )
    sv.update_visit(
        session,
        who,
        visit.id,
        sv.VisitChanges(
            expected_version=visit.version, reason=payload("reason"), notes="fasting confirmed"
        ),
    )
    return {
        "pid": pid,
        "mid": measurement.id,
        "tid": itt.id,
        "ae": ae.id,
        "tx": tx.id,
        "query": query.id,
        "visit": visit.id,
    }


FIELDS = (
    "user_full_name",
    "full_name",
    "mrn",
    "phone",
    "address",
    "form_version",
    "notes",
    "missed_reason",
    "product",
    "lot_number",
    "operator",
    "tx_notes",
    "ae_term",
    "deviation",
    "query_text",
    "query_answer",
    "reason",
)


def _signed_in(world: World, user: str) -> Iterator[tuple[TestClient, str]]:
    with TestClient(world.app, raise_server_exceptions=False) as client:
        token = CSRF.search(client.get("/login").text)
        assert token is not None
        answer = client.post(
            "/login",
            data={"username": user, "password": DEMO_PASSWORD, "csrf_token": token[1]},
            follow_redirects=False,
        )
        assert answer.status_code == 303
        form = CSRF.search(client.get("/dashboard").text)
        assert form is not None
        yield client, form[1]


@pytest.fixture()
def investigator(world: World) -> Iterator[tuple[TestClient, str]]:
    yield from _signed_in(world, "investigator")


def _pages(world: World, ids: dict[str, int]) -> list[str]:
    values = {
        "participant_id": ids["pid"],
        "pid": ids["pid"],
        "mid": ids["mid"],
        "tid": ids["tid"],
        "rid": ids["ae"],
        "query_id": ids["query"],
        "record_id": ids["visit"],
        "code": "SCR",
        "table": "visits",
    }
    pages = {
        f"/participants/{ids['pid']}/records/transplantations/{ids['tx']}",
        f"/participants/{ids['pid']}/records/adverse_events/{ids['ae']}",
        f"/participants/{ids['pid']}/visits/M12",
        f"/audit/participant_identities/{ids['pid']}",
        f"/audit/visits/{ids['visit']}",
        "/queries?status=answered",
    }
    for route in web_routes(world.app):
        if route.method != "GET" or "{action}" in route.path:
            continue
        path = route.path
        for name, value in values.items():
            path = path.replace("{" + name + "}", str(value))
        if "/records/" in path and "{" not in path:
            path = re.sub(r"/records/[^/]+/", "/records/adverse_events/", path)
        pages.add(path)
    return sorted(pages)


def test_script_in_every_text_field_is_shown_escaped(
    world: World, investigator: tuple[TestClient, str]
) -> None:
    with world.db.session() as session:
        ids = _hostile_participant(session, world)
    client, _ = investigator
    shown: set[str] = set()
    for path in _pages(world, ids):
        answer = client.get(path)
        assert answer.status_code < 500, f"{path}: {answer.status_code}"
        for raw in ("<script>xss_", "\"'><"):
            assert raw not in answer.text, f"{path} renders {raw!r} unescaped"
        shown |= {f for f in FIELDS if escaped(f) in answer.text}
    # The test proves something only if the fields are shown somewhere at all.
    # (User names are shown, not users' full names.)
    assert set(FIELDS) - shown <= {"user_full_name"}, f"never shown: {set(FIELDS) - shown}"


def _post_routes(world: World) -> list[str]:
    ids = world.records["APGH"].ids
    values = {
        "participant_id": ids["participant"],
        "pid": ids["participant"],
        "consent_id": ids["consent"],
        "mid": ids["measurement"],
        "tid": ids["itt"],
        "rid": ids["ae"],
        "query_id": ids["query"],
        "did": ids["deviation"],
        "site_id": world.seed.sites["APGH"],
        "user_id": world.seed.users["coordinator"],
        "lock_id": 1,  # refused before it is looked up: no lock needs to exist
        "code": "SCR",
        "table": "adverse_events",
        "action": "answer",
    }
    paths = []
    for route in web_routes(world.app):
        if route.method != "POST":
            continue
        path = route.path
        for name, value in values.items():
            path = path.replace("{" + name + "}", str(value))
        assert "{" not in path, f"{route.path}: add its parameter to the CSRF test"
        paths.append(path)
    return paths


def _last(world: World) -> int:
    with world.db.session() as session:
        return int(session.scalar(select(func.max(AuditEntry.sequence))) or 0)


@pytest.mark.parametrize("variant", ["missing", "forged", "other_browser"])
def test_every_form_without_a_valid_token_is_refused(
    world: World, investigator: tuple[TestClient, str], variant: str
) -> None:
    client, good = investigator
    other = next(_signed_in(world, "coordinator"))[1]
    token = {"missing": None, "forged": good[:-4] + "AAAA", "other_browser": other}[variant]
    before = _last(world)
    for path in _post_routes(world):
        data = {"reason": "x", "answer": "x", "value": "1"}
        if token is not None:
            data["csrf_token"] = token
        answer = client.post(path, data=data, follow_redirects=False)
        assert answer.status_code == 403, f"{variant} {path}: {answer.status_code}"
        assert "csrf" in answer.text.lower()
    assert _last(world) == before, "a refused form changed something"
    # The same token in a header (htmx) is refused as well.
    answer = client.post(_post_routes(world)[0], headers={"X-CSRF-Token": token or ""})
    assert answer.status_code == 403


def test_login_form_needs_its_token(world: World) -> None:
    with TestClient(world.app) as client:
        client.get("/login")
        answer = client.post(
            "/login",
            data={"username": "investigator", "password": DEMO_PASSWORD},
            follow_redirects=False,
        )
        assert answer.status_code == 403
        assert "trialdesk_session" not in answer.headers.get("set-cookie", "")

"""Helpers of the web tests: logging in through the login form, and study data written
through the services (what the pages then show)."""

from __future__ import annotations

import re
from datetime import date, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from tools.harness.database import DEMO_PASSWORD

from trialdesk import services as sv
from trialdesk.services import Actor, actor_for
from trialdesk.store.models import User

SECRET = "web-test-secret-" + "x" * 40
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no form with a CSRF token"
    return match.group(1)


def login(client: TestClient, username: str, password: str = DEMO_PASSWORD) -> TestClient:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


# --- study data written through the services (what the pages then show) ----------------------

ELIGIBLE_FINDINGS = {
    "t2dm_diagnosis": True,
    "pregnant": False,
    "nursing": False,
    "fertile": False,
    "effective_contraception": False,
    "severe_heart_disease": False,
    "severe_lung_disease": False,
    "haematopoietic_dysfunction": False,
    "liver_dysfunction": False,
    "kidney_dysfunction": False,
    "active_infection_requiring_treatment": False,
    "unexplained_fever": False,
    "hiv_infection": False,
    "hepatitis_b_infection": False,
    "hepatitis_c_infection": False,
    "other_immunosuppressive_disease": False,
}
ITT_SAMPLES = {0: 10.0, 3: 9.8, 6: 9.5, 9: 9.1, 12: 8.9, 15: 8.5}  # KITT 1.17 %/min


def actor_of(session: Session, username: str) -> Actor:
    user_id = session.scalars(select(User.id).where(User.username == username)).one()
    return actor_for(session, user_id)


def screened_candidate(
    session: Session,
    *,
    name: str = "Wang Fang",
    weight_kg: str = "70",
    on: date | None = None,
) -> int:
    """A consented, screened candidate at APGH (eligible with the defaults); returns the id."""
    coordinator = actor_of(session, "coordinator")
    day = on or date.today() - timedelta(days=20)
    p = sv.register_participant(
        session,
        coordinator,
        sv.Registration(
            site_code="APGH",
            registered_on=day,
            full_name=name,
            date_of_birth=date(1968, 3, 14),
            sex="M",
            medical_record_number="MRN-4411",
        ),
    )
    sv.record_consent(session, coordinator, p.id, form_version="1.0", consented_on=day)
    sv.record_visit(session, coordinator, p.id, code="SCR", visit_date=day)
    for element, value, unit in (
        ("fasting_glucose", "8.9", "mmol/L"),
        ("hba1c", "8.2", "%"),
        ("weight", weight_kg, "kg"),
        ("height", "170", "cm"),
    ):
        sv.record_measurement(
            session,
            coordinator,
            p.id,
            sv.VisitMeasurement(visit_code="SCR", element=element, value=value, unit=unit),
        )
    sv.record_itt_test(
        session,
        coordinator,
        p.id,
        sv.IttTestEntry(
            visit_code="SCR", samples=ITT_SAMPLES, glucose_unit="mmol/L", insulin_dose_u_per_kg=0.1
        ),
    )
    sv.screen_participant(session, coordinator, p.id, screened_on=day, findings=ELIGIBLE_FINDINGS)
    return p.id


def enrolled_participant(session: Session, **kwargs: object) -> int:
    """An eligible candidate, enrolled, with the baseline visit recorded today."""
    pid = screened_candidate(session, **kwargs)  # type: ignore[arg-type]
    coordinator = actor_of(session, "coordinator")
    sv.enroll_participant(session, coordinator, pid, enrolled_on=date.today() - timedelta(days=2))
    sv.record_visit(session, coordinator, pid, code="BL", visit_date=date.today())
    return pid

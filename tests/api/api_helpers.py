"""Helpers of the API tests: a signed-in HTTP client, a builder of clinical data (through the
services), the identifying strings a statistician must never see, and the error-body check."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tools.harness.database import (
    DEMO_PASSWORD,
    DemoSeed,
    TestDatabase,
)

from trialdesk import services as sv
from trialdesk.services.accounts import NewUserAccount
from trialdesk.services.validate import today

API = "/api/v1"

# Day 0 of the timeline: far enough back that a whole year of visits lies in the past.
START = today() - timedelta(days=430)

ELIGIBLE_FINDINGS: dict[str, Any] = {
    "t2dm_diagnosis": True,
    "fertile": False,
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
SCREENING_VALUES: dict[str, tuple[float, str]] = {
    "weight": (78, "kg"),
    "height": (172, "cm"),
    "fasting_glucose": (9.4, "mmol/L"),
    "hba1c": (8.6, "%"),
}
# [@KITT-examples] case B: KITT 2.271 %/min, below the protocol's 2.5 cut-off (insulin resistant).
ITT_MG_DL = {0: 180, 3: 176, 6: 165, 9: 153, 12: 144, 15: 134}

# Identifying data of every participant the builder registers (must never reach a statistician).
IDENTITY = {
    "full_name": "Wang Wei",
    "date_of_birth": date(1968, 4, 2),
    "medical_record_number": "MRN-4471-0925",
    "phone": "+86 10 5555 0101",
    "email": "wang.wei@example.cn",
    "address": "12 Fuxing Road, Haidian, Beijing",
}
IDENTIFYING_STRINGS = (
    "Wang Wei",
    "1968-04-02",
    "MRN-4471-0925",
    "5555 0101",
    "wang.wei@example.cn",
    "Fuxing Road",
)
SITE_ACTOR = {"APGH": "investigator", "PUMC": "investigator2"}


def day(n: int) -> date:
    return START + timedelta(days=n)


class Api:
    """A TestClient that signs each demo user in once and sends their bearer token."""

    def __init__(self, app: FastAPI) -> None:
        # raise_server_exceptions=False: a 500 must show up as a response the tests can see.
        self.client = TestClient(app, raise_server_exceptions=False)
        # Entered once: one event-loop thread for all requests instead of one per request.
        self.client.__enter__()
        self.tokens: dict[str, str] = {}

    def close(self) -> None:
        self.client.__exit__(None, None, None)

    def token(self, user: str, password: str = DEMO_PASSWORD) -> str:
        if user not in self.tokens:
            response = self.client.post(
                f"{API}/auth/token", json={"username": user, "password": password}
            )
            assert response.status_code == 200, response.text
            self.tokens[user] = response.json()["access_token"]
        return self.tokens[user]

    def request(
        self,
        user: str | None,
        method: str,
        path: str,
        *,
        json: Any = None,
        if_match: int | str | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if user is not None:
            sent["Authorization"] = f"Bearer {self.token(user)}"
        if if_match is not None:
            sent["If-Match"] = f'"{if_match}"' if isinstance(if_match, int) else if_match
        return self.client.request(method, f"{API}{path}", json=json, params=params, headers=sent)

    def get(self, user: str | None, path: str, **kw: Any) -> httpx.Response:
        return self.request(user, "GET", path, **kw)

    def post(self, user: str | None, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.request(user, "POST", path, json=json, **kw)

    def patch(self, user: str | None, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.request(user, "PATCH", path, json=json, **kw)


@dataclass
class Builder:
    """Prepares clinical data through the services (fast, audited, same rules as the API)."""

    session: Session
    actors: dict[str, sv.Actor]
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def who(self, site: str) -> sv.Actor:
        return self.actors[SITE_ACTOR[site]]

    def register(self, site: str = "APGH", sex: str = "M") -> sv.views.ParticipantView:
        return sv.register_participant(
            self.session,
            self.who(site),
            sv.Registration(site_code=site, registered_on=day(0), sex=sex, **IDENTITY),
        )

    def consent(self, pid: int, site: str = "APGH") -> sv.views.ConsentView:
        return sv.record_consent(
            self.session, self.who(site), pid, form_version="ICF v2.0", consented_on=day(0)
        )

    def consented(self, site: str = "APGH") -> int:
        pid = self.register(site).id
        self.consent(pid, site)
        return pid

    def screening_visit(self, pid: int, site: str = "APGH") -> sv.views.VisitView:
        return sv.record_visit(self.session, self.who(site), pid, code="SCR", visit_date=day(0))

    def screening_data(self, pid: int, site: str = "APGH") -> None:
        who = self.who(site)
        self.screening_visit(pid, site)
        for element, (value, unit) in SCREENING_VALUES.items():
            sv.record_measurement(
                self.session,
                who,
                pid,
                sv.VisitMeasurement(visit_code="SCR", element=element, value=value, unit=unit),
            )
        sv.record_itt_test(
            self.session,
            who,
            pid,
            sv.IttTestEntry(
                visit_code="SCR", samples=ITT_MG_DL, glucose_unit="mg/dL", insulin_dose_u_per_kg=0.1
            ),
        )

    def screen(self, pid: int, site: str = "APGH") -> sv.views.ScreeningView:
        return sv.screen_participant(
            self.session, self.who(site), pid, screened_on=day(0), findings=ELIGIBLE_FINDINGS
        )

    def eligible(self, site: str = "APGH") -> int:
        pid = self.consented(site)
        self.screening_data(pid, site)
        self.screen(pid, site)
        return pid

    def enrolled(self, site: str = "APGH") -> int:
        pid = self.eligible(site)
        sv.enroll_participant(self.session, self.who(site), pid, enrolled_on=day(1))
        return pid

    def baseline(self, pid: int, site: str = "APGH") -> sv.views.VisitView:
        return sv.record_visit(self.session, self.who(site), pid, code="BL", visit_date=day(28))

    def measurement(self, pid: int, site: str = "APGH") -> sv.views.MeasurementView:
        return sv.record_measurement(
            self.session,
            self.who(site),
            pid,
            sv.VisitMeasurement(
                visit_code="SCR", element="fasting_glucose", value=150, unit="mg/dL"
            ),
        )

    def itt(self, pid: int, site: str = "APGH") -> sv.views.IttTestView:
        return sv.record_itt_test(
            self.session,
            self.who(site),
            pid,
            sv.IttTestEntry(visit_code="SCR", samples=ITT_MG_DL, glucose_unit="mg/dL"),
        )

    def insulin(self, pid: int, site: str = "APGH") -> sv.views.InsulinDoseView:
        return sv.record_insulin_dose(
            self.session,
            self.who(site),
            pid,
            sv.InsulinDoseEntry(start_date=day(0), total_units_per_day=48),
        )

    def ogld(self, pid: int, site: str = "APGH") -> sv.views.OgldDoseView:
        return sv.record_ogld_dose(
            self.session,
            self.who(site),
            pid,
            sv.OgldDoseEntry(start_date=day(0), drug="metformin", daily_dose_mg=1500),
        )

    def transplantation(self, pid: int, site: str = "APGH") -> sv.views.TransplantationView:
        return sv.record_transplantation(
            self.session, self.who(site), pid, sv.TransplantationEntry(**TRANSPLANTATION)
        )

    def adverse_event(self, pid: int, site: str = "APGH") -> sv.views.AdverseEventView:
        return sv.report_adverse_event(
            self.session,
            self.who(site),
            pid,
            sv.AdverseEventReport(
                term="Hypoglycaemia",
                onset_date=day(40),
                grade=3,
                relatedness="possible",
                action_taken="not applicable",
                outcome="recovered/resolved",
                seriousness=["hospitalisation"],
                resolution_date=day(42),
                awareness_date=day(40),
            ),
        )

    def deviation(self, pid: int, site: str = "APGH") -> sv.views.DeviationView:
        return sv.record_deviation(
            self.session,
            self.who(site),
            pid,
            sv.DeviationEntry(
                category="procedure",
                severity="minor",
                description="ITT sample at 9 min drawn at 10 min",
                detected_on=day(0),
            ),
        )

    def query(self, target_id: int, site: str = "APGH") -> sv.views.QueryView:
        return sv.raise_query(
            self.session,
            self.who(site),
            target_table="measurements",
            target_id=target_id,
            field="value",
            text="Please confirm against the lab report",
        )

    def answered_query(self, target_id: int, site: str = "APGH") -> sv.views.QueryView:
        query = self.query(target_id, site)
        coordinator = self.actors["coordinator" if site == "APGH" else "coordinator2"]
        return sv.answer_query(
            self.session,
            coordinator,
            query.id,
            expected_version=query.version,
            answer="Confirmed against the lab report",
        )

    def user(self) -> sv.views.UserView:
        n = next(self.counter)
        return sv.create_user(
            self.session,
            sv.SYSTEM,
            NewUserAccount(
                username=f"extra{n}",
                full_name=f"Extra User {n}",
                password=DEMO_PASSWORD,
                roles=["coordinator"],
                site_codes=["APGH"],
            ),
        )


TRANSPLANTATION: dict[str, Any] = {
    "performed_on": day(30),
    "product": "UC-MSC suspension",
    "lot_number": "LOT-2024-117",
    "cell_source": "umbilical_cord",
    "dose_cells_per_kg": 1e6,
    "route": "intravenous",
    "operator": "Dr Li Na",
    "weight_kg": 78,
    "visit_code": "BL",
}


def make_builder(database: TestDatabase, seed: DemoSeed) -> tuple[Builder, Session]:
    session = database.session()
    actors = {name: sv.actor_for(session, uid) for name, uid in seed.users.items()}
    return Builder(session, actors), session


@dataclass
class Env:
    """One test's world: a freshly reset database, the demo users, a client and a builder."""

    api: Api
    build: Builder
    seed: DemoSeed
    database: TestDatabase


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The `error` object of an error response (asserting the shape of the body)."""
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "field", "details"}, error
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    return dict(error)

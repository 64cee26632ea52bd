"""Fixtures for the service tests: a migrated database per backend (SQLite always, PostgreSQL
when TRIALDESK_TEST_POSTGRES_URL is set), demo sites and users, and a `Clinic` helper that walks
a participant through the trial with realistic data (candidate C01 of the shipped examples)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session
from tools.harness.database import (
    DemoSeed,
    TestDatabase,
    available_backends,
    backend_url,
    fresh_database,
)

from trialdesk import services as sv
from trialdesk.services.validate import today


@pytest.fixture(scope="session", params=available_backends())
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestDatabase]:
    db = fresh_database(backend_url(request.param), directory=tmp_path_factory.mktemp("services"))
    yield db
    db.dispose()


@pytest.fixture
def db(database: TestDatabase, request: pytest.FixtureRequest) -> TestDatabase:
    # A test that asks for the demo seed gets the seeded state restored by `seed` (one reset).
    if "seed" not in request.fixturenames:
        database.reset()
    return database


@pytest.fixture
def session(db: TestDatabase) -> Iterator[Session]:
    with db.session() as s:
        yield s


@pytest.fixture
def seed(db: TestDatabase, session: Session) -> DemoSeed:
    return db.reset_seeded()  # before `session` has touched the database


@pytest.fixture
def actors(session: Session, seed: DemoSeed) -> dict[str, sv.Actor]:
    return {name: sv.actor_for(session, uid) for name, uid in seed.users.items()}


# Day 0 of the helper's timeline: far enough back that a whole year of visits is in the past.
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
ITT_MG_DL = {0: 180, 3: 176, 6: 165, 9: 153, 12: 144, 15: 134}  # KITT 2.27 %/min [@KITT-examples]


@dataclass
class Clinic:
    """Walks participants through the trial as the APGH coordinator / investigator."""

    session: Session
    actors: dict[str, sv.Actor]

    @property
    def coordinator(self) -> sv.Actor:
        return self.actors["coordinator"]

    def day(self, n: int) -> date:
        return START + timedelta(days=n)

    def register(self, site: str = "APGH", actor: str = "coordinator", sex: str = "M") -> int:
        return sv.register_participant(
            self.session,
            self.actors[actor],
            sv.Registration(
                site_code=site,
                registered_on=self.day(0),
                full_name="Wang Wei",
                date_of_birth=date(1968, 4, 2),
                sex=sex,
                phone="+86 10 5555 0101",
            ),
        ).id

    def consent(self, pid: int, actor: str = "coordinator") -> int:
        return sv.record_consent(
            self.session, self.actors[actor], pid, form_version="ICF v2.0", consented_on=self.day(0)
        ).id

    def screening_data(self, pid: int, actor: str = "coordinator", **overrides: Any) -> None:
        who = self.actors[actor]
        sv.record_visit(self.session, who, pid, code="SCR", visit_date=self.day(0))
        values = {
            "weight": (78, "kg"),
            "height": (172, "cm"),
            "fasting_glucose": (9.4, "mmol/L"),
            "hba1c": (8.6, "%"),
            **overrides,
        }
        for element, (value, unit) in values.items():
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

    def screen(
        self, pid: int, actor: str = "coordinator", **findings: Any
    ) -> sv.views.ScreeningView:
        return sv.screen_participant(
            self.session,
            self.actors[actor],
            pid,
            screened_on=self.day(0),
            findings={**ELIGIBLE_FINDINGS, **findings},
        )

    def eligible(self, site: str = "APGH", actor: str = "coordinator") -> int:
        pid = self.register(site, actor)
        self.consent(pid, actor)
        self.screening_data(pid, actor)
        self.screen(pid, actor)
        return pid

    def enrolled(self, site: str = "APGH", actor: str = "coordinator") -> int:
        pid = self.eligible(site, actor)
        sv.enroll_participant(self.session, self.actors[actor], pid, enrolled_on=self.day(1))
        return pid

    def baseline(self, pid: int, day: int = 28, actor: str = "coordinator") -> int:
        return sv.record_visit(
            self.session, self.actors[actor], pid, code="BL", visit_date=self.day(day)
        ).id


@pytest.fixture
def clinic(session: Session, actors: dict[str, sv.Actor]) -> Clinic:
    return Clinic(session, actors)

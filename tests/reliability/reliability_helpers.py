"""Helpers of the reliability tests: a small study written through the services, the URL a
separate process uses to reach a test database, and row/audit consistency checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from tools.harness.database import TestDatabase, seed_demo_site_and_users

from trialdesk import services as sv
from trialdesk.store.models import AuditEntry

SCREENING_DAY = date.today() - timedelta(days=60)
ITT_MMOL_L = {0: 10.0, 3: 9.8, 6: 9.2, 9: 8.5, 12: 8.0, 15: 7.4}


@dataclass(frozen=True)
class Study:
    """Ids of what `populate` made: participants (with a done SCR visit) per site code."""

    participants: dict[str, list[int]]
    users: dict[str, int]


def server_url(db: TestDatabase) -> str:
    """The URL another process (the server under test, the CLI) uses for this database."""
    url = db.engine.url
    if db.backend == "sqlite":
        return url.render_as_string(hide_password=False)
    return (
        make_url(url.render_as_string(hide_password=False))
        .update_query_dict({"options": f"-csearch_path={db.schema}"})
        .render_as_string(hide_password=False)
    )


def consented_with_visit(session: Session, actor: sv.Actor, site: str) -> int:
    participant = sv.register_participant(
        session,
        actor,
        sv.Registration(
            site_code=site,
            registered_on=SCREENING_DAY,
            sex="F",
            full_name="Li Hua",
            date_of_birth=date(1970, 5, 17),
        ),
    )
    sv.record_consent(
        session, actor, participant.id, form_version="ICF v2.0", consented_on=SCREENING_DAY
    )
    sv.record_visit(session, actor, participant.id, code="SCR", visit_date=SCREENING_DAY)
    return participant.id


def populate(db: TestDatabase, per_site: int = 2) -> Study:
    """Demo sites and users, then `per_site` participants per site with measurements and an
    ITT each (one value outside the soft limits, so a data query is raised too)."""
    with db.session() as session:
        seed = seed_demo_site_and_users(session)
        actors = {name: sv.actor_for(session, uid) for name, uid in seed.users.items()}
        made: dict[str, list[int]] = {}
        for site, who in (("APGH", "coordinator"), ("PUMC", "coordinator2")):
            actor = actors[who]
            made[site] = []
            for n in range(per_site):
                pid = consented_with_visit(session, actor, site)
                for element, value, unit in (
                    ("fasting_glucose", 9.4 + n, "mmol/L"),
                    ("hba1c", 8.6, "%"),
                    ("fasting_glucose", 40.0, "mmol/L"),  # above the soft limit: a query
                ):
                    sv.record_measurement(
                        session,
                        actor,
                        pid,
                        sv.VisitMeasurement(
                            visit_code="SCR", element=element, value=value, unit=unit
                        ),
                    )
                sv.record_itt_test(
                    session,
                    actor,
                    pid,
                    sv.IttTestEntry(
                        visit_code="SCR",
                        samples=ITT_MMOL_L,
                        glucose_unit="mmol/L",
                        insulin_dose_u_per_kg=0.1,
                    ),
                )
                made[site].append(pid)
    return Study(made, dict(seed.users))


def audited_ids(session: Session, table: str, action: str = "create") -> set[int]:
    """Record ids of `table` that have an audit entry with `action`."""
    rows = session.scalars(
        select(AuditEntry.record_id).where(
            AuditEntry.table_name == table, AuditEntry.action == action
        )
    )
    return {int(r) for r in rows if r is not None}


def count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)

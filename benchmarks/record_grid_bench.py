"""The record status grid (issue 14): the page against a per-cell reference, at 24
participants (the protocol's target) and at 2,000 (simulated rows).

The database (SQLite, in a temporary directory) holds a simulated cohort written in bulk:
per participant a consent, a screening, the visits SCR to M3 with six measurements each, an
ITT at screening, some forms marked complete, an open query on one in ten, an SDV mark on one
in five. The candidate is the page itself (``GET /monitoring`` as the monitor, through the
app: every participant's facts for the counts, then the first page of 50 rows). The reference
computes only those 50 rows, the way a page that asks the database cell by cell would: four
statements per cell (visit, data, form status, verification mark). The ratio is reference /
candidate; the note gives statements per page of each.

    python -m benchmarks.run record_grid_bench
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from http import HTTPStatus
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, func, insert, select
from sqlalchemy.orm import Session
from tools.harness.database import (
    DEMO_PASSWORD,
    TestDatabase,
    fresh_database,
    seed_demo_site_and_users,
)

from trialdesk.api import ApiSettings, create_app
from trialdesk.catalogue import default_catalogue
from trialdesk.protocol import builtin_protocol
from trialdesk.services.crf_forms import form_of_element
from trialdesk.store.enums import SdvKind
from trialdesk.store.models import (
    Consent,
    DataQuery,
    FormStatusRecord,
    IttTest,
    Measurement,
    Participant,
    Screening,
    SdvMark,
    Site,
    User,
    Visit,
)
from trialdesk.web import WebSettings, mount

SIZES = (24, 2_000)
VISITS = ("SCR", "BL", "TX", "M1", "M3")
ELEMENTS = ("weight", "height", "fasting_glucose", "hba1c", "c_peptide", "fasting_insulin")
PAGE_ROWS = 50
REPEATS = 3
START = date(2025, 1, 6)
NOW = datetime(2025, 1, 6, tzinfo=UTC)
SECRET = "benchmark-secret-key-of-sufficient-length-0123456789"


def _record(**values: Any) -> dict[str, Any]:
    return {"version": 1, "voided": False, "created_at": NOW, **values}


def _insert(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(model), rows)


def _cohort(session: Session, n: int, site_id: int, user_id: int) -> None:
    """`n` participants written in bulk (no audit trail: these rows only feed the grid)."""
    people = [
        _record(
            study_id=f"APGH-{i:04d}",
            site_id=site_id,
            sex="F" if i % 2 else "M",
            status="enrolled",
            registered_on=START,
        )
        for i in range(1, n + 1)
    ]
    _insert(session, Participant, people)
    pids = list(session.scalars(select(Participant.id).order_by(Participant.id)))
    _insert(
        session,
        Consent,
        [
            _record(participant_id=p, form_version="1.0", consented_on=START, obtained_by=user_id)
            for p in pids
        ],
    )
    _insert(
        session,
        Screening,
        [
            _record(
                participant_id=p,
                screened_on=START,
                protocol_id="NCT01142050",
                status="eligible",
                findings={},
                result={},
            )
            for p in pids
        ],
    )
    _insert(
        session,
        Visit,
        [
            _record(
                participant_id=p, code=c, status="done", visit_date=START + timedelta(days=30 * k)
            )
            for p in pids
            for k, c in enumerate(VISITS)
        ],
    )
    visits = session.execute(select(Visit.id, Visit.participant_id, Visit.code)).all()
    _insert(
        session,
        Measurement,
        [
            _record(
                participant_id=p,
                visit_id=v,
                element=e,
                value_as_entered="1",
                value=1.0,
                collected_on=START,
            )
            for v, p, _c in visits
            for e in ELEMENTS
        ],
    )
    _insert(
        session,
        IttTest,
        [
            _record(
                participant_id=p, visit_id=v, performed_on=START, glucose_unit_as_entered="mmol/L"
            )
            for v, p, c in visits
            if c == "SCR"
        ],
    )
    _insert(
        session,
        FormStatusRecord,
        [
            _record(participant_id=p, visit_code=c, form="labs", status="complete")
            for _v, p, c in visits
            if p % 3 == 0
        ],
    )
    first = session.execute(select(Measurement.id, Measurement.participant_id)).all()
    _insert(
        session,
        DataQuery,
        [
            _record(
                participant_id=p,
                target_table="measurements",
                target_id=m,
                field="value",
                origin="manual",
                status="open",
                text="Please check",
                raised_at=NOW,
            )
            for m, p in first[:: len(VISITS) * len(ELEMENTS) * 10]
        ],
    )
    _insert(
        session,
        SdvMark,
        [
            _record(
                participant_id=p,
                visit_code="SCR",
                form="vital_signs",
                kind=SdvKind.VERIFIED.value,
                marked_by=user_id,
                marked_at=NOW,
            )
            for p in pids[::5]
        ],
    )
    session.commit()


def _per_cell(session: Session, rows: int) -> int:
    """The reference: the first `rows` participants' cells, four statements each."""
    protocol, catalogue = builtin_protocol(), default_catalogue()
    forms = {e.name: form_of_element(e, catalogue) for e in catalogue}
    pids = session.scalars(select(Participant.id).order_by(Participant.study_id).limit(rows))
    shown = 0
    for pid in pids:
        for visit in protocol.schedule:
            for form in visit.forms:
                vid = session.scalar(
                    select(Visit.id).where(
                        Visit.participant_id == pid,
                        Visit.code == visit.code,
                        Visit.voided.is_(False),
                    )
                )
                elements = [e for e, f in forms.items() if f == form]
                session.scalar(
                    select(func.count())
                    .select_from(Measurement)
                    .where(Measurement.visit_id == (vid or -1), Measurement.element.in_(elements))
                )
                session.scalar(
                    select(FormStatusRecord.status).where(
                        FormStatusRecord.participant_id == pid,
                        FormStatusRecord.visit_code == visit.code,
                        FormStatusRecord.form == form,
                    )
                )
                session.scalar(
                    select(SdvMark.id).where(
                        SdvMark.participant_id == pid,
                        SdvMark.visit_code == visit.code,
                        SdvMark.form == form,
                        SdvMark.cleared_at.is_(None),
                    )
                )
                shown += 1
    return shown


def _timed(work: Callable[[], Any]) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def _statements(db: TestDatabase, work: Callable[[], Any]) -> int:
    count = [0]

    def tick(*_args: Any) -> None:
        count[0] += 1

    event.listen(db.engine, "before_cursor_execute", tick)
    try:
        work()
    finally:
        event.remove(db.engine, "before_cursor_execute", tick)
    return count[0]


def _measure(n: int) -> dict[str, Any]:
    db = fresh_database()
    try:
        with db.session() as session:
            seed_demo_site_and_users(session)
            site_id = session.scalar(select(Site.id).where(Site.code == "APGH"))
            user_id = session.scalar(select(User.id).where(User.username == "monitor"))
            assert site_id is not None and user_id is not None
            _cohort(session, n, site_id, user_id)
        app = mount(
            create_app(ApiSettings(database_url=str(db.engine.url)), engine=db.engine),
            WebSettings(secret_key=SECRET),
        )
        with TestClient(app, base_url="http://testserver") as client:
            _log_in(client)

            def page() -> None:
                answer = client.get("/monitoring")
                assert answer.status_code == HTTPStatus.OK and "status-grid" in answer.text

            page()  # warm: routing and templates built once per app
            candidate = _timed(page)
            page_statements = _statements(db, page)
            with db.session() as session:
                baseline = _timed(lambda: _per_cell(session, PAGE_ROWS))
                cell_statements = _statements(db, lambda: _per_cell(session, PAGE_ROWS))
        return {
            "name": f"record status grid page, {n:,} participants",
            "candidate_seconds": candidate,
            "baseline_seconds": baseline,
            "note": f"reference asks cell by cell for the {min(n, PAGE_ROWS)} rows shown "
            f"({cell_statements:,} statements) and counts nothing; the page counts all {n:,} "
            f"participants in {page_statements} statements",
        }
    finally:
        db.dispose()


def _log_in(client: TestClient) -> None:
    import re

    form = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    client.post(
        "/login",
        data={"username": "monitor", "password": DEMO_PASSWORD, "csrf_token": token.group(1)},
    )


def run() -> list[dict[str, Any]]:
    return [_measure(n) for n in SIZES]


if __name__ == "__main__":
    for row in run():
        print(row)

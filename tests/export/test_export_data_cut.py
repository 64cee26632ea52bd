"""The data cut in the exports (issue 15): once the study database is locked (`trialdesk lock
study`), SDTM TS states it — DCUTDTC the lock date, DCUTDESC the lock (who, when, why) — and the
ODM file too — ODM/@AsOfDateTime the lock time, ODM/@Description the lock in words, after the
simulated-data note, which still reads back as before. Before the lock, TS says the cut is the
last date with data and the database is not locked, and ODM has no AsOfDateTime. On SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lxml import etree
from sqlalchemy import select
from tools.harness.database import (
    TestDatabase,
    available_backends,
    backend_url,
    fresh_database,
    seed_demo_site_and_users,
)

from trialdesk import services as sv
from trialdesk.export.from_store import clinical_data, sdtm_sources
from trialdesk.export.odm import names as n
from trialdesk.export.odm.read import read_odm
from trialdesk.export.odm.validate import schema_errors
from trialdesk.export.odm.write import odm_document, to_bytes
from trialdesk.export.sdtm.build import sdtm_datasets
from trialdesk.export.sdtm.trial_design import UNLOCKED_CUT
from trialdesk.protocol import builtin_protocol
from trialdesk.simulate.run import SimulationSettings, run_simulation
from trialdesk.store.models import User

REASON = "final analysis of the 12-month data"


@pytest.fixture(scope="module", params=available_backends())
def study(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestDatabase]:
    db = fresh_database(backend_url(request.param), directory=tmp_path_factory.mktemp("cut"))
    with db.session() as session:
        seed_demo_site_and_users(session)
        run_simulation(session, SimulationSettings(n_candidates=12, seed=5))
    yield db
    db.dispose()


def _ts(db: TestDatabase) -> dict[str, tuple[object, object]]:
    protocol = builtin_protocol()
    with db.session() as session:
        ts = sdtm_datasets(protocol, sdtm_sources(session, protocol))["TS"]
    ts = ts.astype(object).where(ts.notna(), None)
    return {r.TSPARMCD: (r.TSVAL, r.TSVALNF) for r in ts.itertuples()}


def _odm(db: TestDatabase) -> etree._Element:
    protocol = builtin_protocol()
    with db.session() as session:
        data = clinical_data(session, protocol)
    return odm_document(data.design, data)


def test_the_data_cut_before_and_after_the_study_lock(study: TestDatabase) -> None:
    before, odm_before = _ts(study), _odm(study)
    assert before["DCUTDESC"] == (UNLOCKED_CUT, None)
    assert before["DCUTDTC"][0]  # the last date with data
    assert odm_before.get("AsOfDateTime") is None
    assert n.DATA_CUT_PREFIX not in (odm_before.get("Description") or "")

    with study.session() as session:
        admin = session.scalars(select(User.id).where(User.username == "admin")).one()
        lock = sv.lock_study(session, sv.actor_for(session, admin), reason=REASON)
        locked_at = lock.locked_at
    after = _ts(study)
    assert after["DCUTDTC"] == (locked_at.date().isoformat(), None)
    description = str(after["DCUTDESC"][0])
    assert "study database lock" in description and REASON in description
    assert locked_at.strftime("%Y-%m-%d %H:%M") in description

    odm = _odm(study)
    assert schema_errors(odm, "odm") == []
    assert odm.get("AsOfDateTime", "").startswith(locked_at.strftime("%Y-%m-%dT%H:%M"))
    note = odm.get("Description") or ""
    assert n.DATA_CUT_PREFIX in note and REASON in note
    assert note.startswith(n.SIMULATED_PREFIX)  # the simulated-data note stays first
    read_back = read_odm(to_bytes(odm)).data
    assert read_back is not None
    simulated = (odm_before.get("Description") or "").removeprefix(n.SIMULATED_PREFIX)
    assert read_back.simulated == simulated.strip()

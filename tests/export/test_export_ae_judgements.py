"""SDTM AE and FHIR AdverseEvent carry only the investigator's confirmed judgements (issue 14;
ICH E2A III.A.1: causality is the investigator's assessment): a coordinator's proposal leaves
AEREL / AETOXGR blank (define.xml says why) and the FHIR causality / severity out; once the
investigator confirms, the confirmed values are exported. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
from lxml import etree
from tools.harness.database import (
    TestDatabase,
    available_backends,
    backend_url,
    fresh_database,
    seed_demo_site_and_users,
)

from trialdesk import services as sv
from trialdesk.export.fhir.bundle import study_bundle
from trialdesk.export.from_store import sdtm_sources
from trialdesk.export.sdtm.build import sdtm_datasets
from trialdesk.export.sdtm.define import define_xml
from trialdesk.protocol import builtin_protocol
from trialdesk.services.validate import today
from trialdesk.simulate.run import SimulationSettings, run_simulation


@pytest.fixture(scope="module", params=available_backends())
def judged(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestDatabase, dict[str, int]]]:
    """A simulated cohort and three adverse events entered by the coordinator: one left as
    proposed, one with causality confirmed (as probable), one with both confirmed (grade 3
    overriding the proposed 2)."""
    db = fresh_database(backend_url(request.param), directory=tmp_path_factory.mktemp("aej"))
    with db.session() as session:
        seed = seed_demo_site_and_users(session)
        run_simulation(session, SimulationSettings(n_candidates=20, seed=3))
        coordinator = sv.actor_for(session, seed.users["coordinator"])
        investigator = sv.actor_for(session, seed.users["investigator"])
        pid = next(
            p.id
            for p in sv.list_participants(session, investigator, limit=500).items
            if p.status.value in ("enrolled", "completed")
        )
        onset = today() - timedelta(days=3)
        ids = {
            term: sv.report_adverse_event(
                session, coordinator, pid, sv.AdverseEventReport(
                    term=term, onset_date=onset, grade=2, relatedness="unlikely",
                    action_taken="not applicable", outcome="recovering/resolving",
                    awareness_date=onset,
                ),
            )
            for term in ("Proposed only", "Causality confirmed", "Both confirmed")
        }  # fmt: skip
        for term in ("Causality confirmed", "Both confirmed"):
            view = sv.confirm_causality(
                session, investigator, ids[term].id, relatedness="probable", expected=True,
                expected_version=ids[term].version,
            )  # fmt: skip
            ids[term] = view
        sv.confirm_grade(
            session, investigator, ids["Both confirmed"].id, grade=3,
            expected_version=ids["Both confirmed"].version,
        )  # fmt: skip
        yield db, {term: view.id for term, view in ids.items()}
    db.dispose()


def _sources(db: TestDatabase) -> Any:
    with db.session() as session:
        return sdtm_sources(session, builtin_protocol())


def test_sdtm_aerel_and_aetoxgr_only_when_the_investigator_confirmed(
    judged: tuple[TestDatabase, dict[str, int]],
) -> None:
    db, ids = judged
    src = _sources(db)
    datasets = sdtm_datasets(builtin_protocol(), src)
    ae = datasets["AE"].set_index("AESPID")
    proposed = ae.loc[f"AE{ids['Proposed only']}"]
    assert pd.isna(proposed["AEREL"]) and pd.isna(proposed["AETOXGR"])
    assert proposed["AESER"] == "N"  # seriousness: the recorded ICH E2A criteria, not a judgement
    causality = ae.loc[f"AE{ids['Causality confirmed']}"]
    assert causality["AEREL"] == "PROBABLY RELATED" and pd.isna(causality["AETOXGR"])
    both = ae.loc[f"AE{ids['Both confirmed']}"]
    assert (both["AEREL"], both["AETOXGR"]) == ("PROBABLY RELATED", "3")
    define = etree.tostring(
        define_xml(datasets, study_id="NCT01142050", title="MSC in T2DM"), encoding="unicode"
    )
    assert "blank while the investigator has not confirmed it" in define


def test_fhir_adverse_event_leaves_out_what_is_only_proposed(
    judged: tuple[TestDatabase, dict[str, int]],
) -> None:
    db, ids = judged
    bundle = study_bundle(builtin_protocol(), _sources(db)).model_dump(mode="json")
    events = {
        e["resource"]["identifier"]["value"]: e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "AdverseEvent"
    }
    proposed = events[f"AE{ids['Proposed only']}"]
    assert "severity" not in proposed
    assert all("causality" not in s for s in proposed.get("suspectEntity", []))
    causality = events[f"AE{ids['Causality confirmed']}"]
    assert "severity" not in causality
    assessment = causality["suspectEntity"][0]["causality"][0]["assessment"]["text"]
    assert assessment == "probable"
    both = events[f"AE{ids['Both confirmed']}"]
    assert both["severity"]["text"] == "CTCAE v5.0 grade 3"

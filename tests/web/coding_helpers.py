"""A coder, the made-up MedDRA release and adverse events to code (web tests of issue 14)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from sqlalchemy.orm import Session
from tools.harness.database import DEMO_PASSWORD
from web_helpers import actor_of, enrolled_participant

from trialdesk import services as sv
from trialdesk.services.accounts import NewUserAccount

DATA = Path(__file__).parents[1] / "coding" / "data"


def coder_with_events(session: Session, terms: tuple[str, ...]) -> tuple[int, str, list[int]]:
    """A coder at APGH, MedDRA "TEST 0.1" loaded, an enrolled participant with one adverse
    event per verbatim in `terms`: (participant id, study id, adverse event ids)."""
    user = sv.create_user(
        session,
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
    sv.load_dictionary(session, sv.actor_for(session, user.id), "meddra", DATA / "meddra_test_0_1")
    pid = enrolled_participant(session)
    coordinator = actor_of(session, "coordinator")
    onset = date.today() - timedelta(days=1)
    ids = [
        sv.report_adverse_event(
            session,
            coordinator,
            pid,
            sv.AdverseEventReport(
                term=term,
                onset_date=onset,
                grade=1,
                relatedness="possible",
                action_taken="not applicable",
                outcome="recovering/resolving",
                awareness_date=onset,
            ),
        ).id
        for term in terms
    ]
    return pid, sv.get_participant(session, coordinator, pid).study_id, ids

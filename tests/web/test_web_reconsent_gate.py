"""The web side of the re-consent gate (issue 18): a visit saved for a participant who owes a
signature on the consent form an amendment introduced is refused with the services' sentence,
what was typed comes back, and nothing is stored; after the re-consent the gate is lifted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from fastapi.testclient import TestClient
from tools.harness.database import DemoSeed, TestDatabase
from web_helpers import csrf_of, screened_candidate

from trialdesk import services as sv
from trialdesk.protocol.load import builtin_protocol_text
from trialdesk.services.protocol_versions import Amendment

TODAY = date.today()


def test_a_visit_is_refused_until_the_re_consent(
    client_for: Callable[[str], TestClient], web_database: TestDatabase, seeded: DemoSeed
) -> None:
    text = builtin_protocol_text()
    with web_database.session() as session:
        sv.set_up_protocol(session, sv.SYSTEM, text, "builtin", effective_on=TODAY - timedelta(60))
        pid = screened_candidate(session, on=TODAY - timedelta(days=20))
        sv.register_amendment(
            session,
            sv.SYSTEM,
            text + "consent_form_version: ICF 2.0\n",
            "amendment.yaml",
            Amendment(effective_on=TODAY - timedelta(days=5), summary="Consent form ICF 2.0"),
        )
    coordinator = client_for("coordinator")
    page = coordinator.get(f"/participants/{pid}/visits/BL")
    data = {
        "visit_date": TODAY.isoformat(),
        "notes": "came in for the baseline",
        "csrf_token": csrf_of(page.text),
    }
    refused = coordinator.post(f"/participants/{pid}/visits/BL/record", data=data)
    assert refused.status_code in (409, 422)
    assert "must re-consent to ICF 2.0 before new data are entered" in refused.text
    assert "came in for the baseline" in refused.text  # what was typed is kept
    with web_database.session() as session:
        coordinator_actor = sv.actor_for(session, seeded.users["coordinator"])
        assert "BL" not in {v.code for v in sv.list_visits(session, coordinator_actor, pid)}
        sv.record_consent(
            session, coordinator_actor, pid, form_version="ICF 2.0",
            consented_on=TODAY - timedelta(days=1),
        )  # fmt: skip
    page = coordinator.get(f"/participants/{pid}/visits/BL")
    again = coordinator.post(
        f"/participants/{pid}/visits/BL/record",
        data={**data, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    # The gate is lifted: the next rule speaks (a baseline needs an enrolled participant).
    assert "must re-consent" not in again.text and "is not enrolled" in again.text

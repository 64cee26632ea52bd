"""The casebook and dashboard show the protocol version each record was made under and the
participants who must re-consent on a new consent form (issues 13 and 18); re-consent from the
casebook clears the flag and keeps both forms in the consent history."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from tools.harness.database import TestDatabase
from web_helpers import csrf_of, screened_candidate

from trialdesk import services as sv
from trialdesk.protocol.load import builtin_protocol_text
from trialdesk.services.protocol_versions import Amendment

Client = Callable[[str], TestClient]
TODAY = date.today()
ORIGINAL = builtin_protocol_text()
AMENDED = ORIGINAL + "consent_form_version: ICF 2.0\n"


def _study_with_amendment(db: TestDatabase) -> int:
    """A candidate screened and consented (form 1.0) under version 1, then an amendment in
    force from 10 days ago that requires consent form ICF 2.0."""
    with db.session() as session:
        sv.set_up_protocol(
            session, sv.SYSTEM, ORIGINAL, "builtin", effective_on=TODAY - timedelta(days=60)
        )
        pid = screened_candidate(session, on=TODAY - timedelta(days=20))
        sv.register_amendment(
            session,
            sv.SYSTEM,
            AMENDED,
            "amendment.yaml",
            Amendment(
                effective_on=TODAY - timedelta(days=10),
                summary="Consent form ICF 2.0 (new risk information)",
            ),
        )
    return pid


def _flat(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_casebook_shows_versions_and_the_re_consent_flag_until_re_consent(
    client_for: Client, web_database: TestDatabase
) -> None:
    pid = _study_with_amendment(web_database)
    coordinator = client_for("coordinator")
    page = coordinator.get(f"/participants/{pid}")
    text = _flat(page.text)
    assert "under protocol version 1" in text  # the screening
    assert "signed" in text and "(protocol version 1)" in text  # the consent
    assert "protocol version 1" in text.split("Visit calendar")[1]  # the screening visit
    assert "re-consent needed" in text and "requires consent form ICF 2.0" in text
    assert 'value="ICF 2.0"' in page.text  # the form offers the required version
    dashboard = _flat(coordinator.get("/dashboard").text)
    assert "Re-consent needed: new consent form" in dashboard and "APGH-001" in dashboard
    assert "protocol NCT01142050 version 2, in force from" in dashboard

    empty = coordinator.post(
        f"/participants/{pid}/consent",
        data={"csrf_token": csrf_of(page.text), "form_version": "ICF 2.0", "consented_on": ""},
    )
    assert empty.status_code == 422 and "re-consent needed" in _flat(empty.text)

    done = coordinator.post(
        f"/participants/{pid}/consent",
        data={
            "csrf_token": csrf_of(page.text),
            "form_version": "ICF 2.0",
            "consented_on": TODAY.isoformat(),
        },
        follow_redirects=True,
    )
    assert done.status_code == 200, done.text
    after = _flat(done.text)
    assert "re-consent needed" not in after
    assert "Form version ICF 2.0" in after and "(protocol version 2)" in after
    assert "Consent history (2 forms signed)" in after
    assert "Form 1.0" in after and "Form ICF 2.0" in after
    assert "Re-consent needed" not in _flat(coordinator.get("/dashboard").text)


def test_a_monitor_sees_the_flag_but_is_not_offered_the_re_consent_form(
    client_for: Client, web_database: TestDatabase
) -> None:
    pid = _study_with_amendment(web_database)
    page = client_for("monitor").get(f"/participants/{pid}").text
    assert "re-consent needed" in _flat(page)
    assert "Record re-consent" not in page


def test_the_pages_follow_the_stored_protocol_not_the_built_in(
    client_for: Client, web_database: TestDatabase
) -> None:
    second = Path(__file__).parents[1] / "protocol" / "data" / "second_protocol.yaml"
    with web_database.session() as session:
        sv.set_up_protocol(
            session,
            sv.SYSTEM,
            second.read_text("utf-8"),
            str(second),
            effective_on=TODAY - timedelta(days=60),
        )
        pid = screened_candidate(session, on=TODAY - timedelta(days=20))
    coordinator = client_for("coordinator")
    form = _flat(coordinator.get("/screening/new").text)
    assert "Age 30-70 years old" in form and "Age 18-75" not in form
    # Visible words only: a random CSRF token in an attribute may contain "M9" (it did once).
    casebook = _flat(coordinator.get(f"/participants/{pid}").text).split()
    assert "M9" not in casebook and "M12" in casebook
    assert coordinator.get(f"/participants/{pid}/visits/M9").status_code == 404
    assert "NCT99000018 version 1.0" in _flat(coordinator.get("/dashboard").text)

"""Re-consent through the API (issue 13): after an amendment requiring a new consent form, the
participants who signed an earlier one are listed; posting a consent on the new form clears it."""

from __future__ import annotations

from api_helpers import Env, day

from trialdesk import services as sv
from trialdesk.protocol.load import builtin_protocol_text
from trialdesk.services.protocol_versions import Amendment

ORIGINAL = builtin_protocol_text()


def test_reconsent_is_listed_then_cleared_by_a_consent_on_the_new_form(env: Env) -> None:
    session = env.build.session
    sv.set_up_protocol(session, sv.SYSTEM, ORIGINAL, "builtin", effective_on=day(-5))
    pid = env.build.consented()
    other_site = env.build.consented("PUMC")
    assert env.api.get("coordinator", "/reconsent-due").json() == []
    sv.register_amendment(
        session,
        sv.SYSTEM,
        ORIGINAL + "consent_form_version: ICF v3.0\n",
        "amendment.yaml",
        Amendment(effective_on=day(30), summary="new consent form"),
    )
    due = env.api.get("coordinator", "/reconsent-due")
    assert due.status_code == 200
    assert [(d["participant_id"], d["required_form_version"]) for d in due.json()] == [
        (pid, "ICF v3.0")
    ]  # only the coordinator's own site
    assert [d["participant_id"] for d in env.api.get("coordinator2", "/reconsent-due").json()] == [
        other_site
    ]
    one = env.api.get("coordinator", f"/participants/{pid}/reconsent").json()
    assert one["signed_form_version"] == "ICF v2.0" and one["protocol_version"] == "2"
    assert env.api.get("coordinator", f"/participants/{other_site}/reconsent").status_code == 404
    signed = env.api.post(
        "coordinator",
        f"/participants/{pid}/consents",
        {"form_version": "ICF v3.0", "consented_on": day(40).isoformat()},
    )
    assert signed.status_code == 201 and signed.json()["protocol_version"] == "2"
    assert env.api.get("coordinator", f"/participants/{pid}/reconsent").json() is None
    assert env.api.get("coordinator", "/reconsent-due").json() == []
    versions = env.api.get("monitor", "/protocol-versions")
    assert versions.status_code == 200
    assert [(v["label"], v["consent_form_version"]) for v in versions.json()] == [
        ("1", "1.0"),
        ("2", "ICF v3.0"),
    ]
    assert "yaml_text" not in versions.json()[0]
    history = env.api.get("coordinator", f"/participants/{pid}/consents").json()["items"]
    assert [c["form_version"] for c in history] == ["ICF v2.0", "ICF v3.0"]

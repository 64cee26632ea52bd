"""Issue 14 over HTTP: data locks answer 423 with the lock named in the error body; only an
administrator unlocks, with a reason; the casebook signature and its broken state."""

from __future__ import annotations

from api_helpers import Env, error_of
from tools.harness.database import DEMO_PASSWORD


def _measurement(pid: int) -> dict[str, object]:
    return {"visit_code": "SCR", "element": "weight", "value": 79, "unit": "kg"}


def test_a_locked_casebook_answers_423_naming_the_lock_until_an_admin_unlocks(env: Env) -> None:
    pid = env.build.enrolled()
    locked = env.api.post("investigator", f"/participants/{pid}/locks", {"reason": "clean"})
    assert locked.status_code == 201, locked.text
    lock = locked.json()
    assert lock["scope"] == "participant" and lock["what"] == "the casebook of APGH-001"
    again = env.api.post("admin", f"/participants/{pid}/locks", {"reason": "clean"})
    assert again.status_code == 409 and error_of(again)["code"] == "already_locked"
    refused = env.api.post("coordinator", f"/participants/{pid}/measurements", _measurement(pid))
    assert refused.status_code == 423, refused.text
    error = error_of(refused)
    assert error["code"] == "data_locked" and error["field"] == "participant"
    assert error["message"].startswith("The casebook of APGH-001 is locked by Investigator on ")
    assert error["message"].endswith("(clean): ask an administrator to unlock")
    no_reason = env.api.post("admin", f"/locks/{lock['id']}/unlock", {"reason": " "})
    assert no_reason.status_code == 422 and error_of(no_reason)["field"] == "reason"
    assert (
        env.api.post("investigator", f"/locks/{lock['id']}/unlock", {"reason": "x"}).status_code
        == 403
    )
    lifted = env.api.post("admin", f"/locks/{lock['id']}/unlock", {"reason": "query 3"})
    assert lifted.status_code == 200 and lifted.json()["unlock_reason"] == "query 3"
    created = env.api.post("coordinator", f"/participants/{pid}/measurements", _measurement(pid))
    assert created.status_code == 201, created.text
    listed = env.api.get("monitor", "/locks", params={"participant_id": pid}).json()
    assert [(x["scope"], x["unlocked_by_name"]) for x in listed] == [("participant", "Admin")]


def test_form_and_study_locks_over_http(env: Env) -> None:
    pid = env.build.enrolled()
    bad = env.api.post(
        "investigator", f"/participants/{pid}/locks",
        {"reason": "ok", "visit_code": "SCR", "form": "itt_curve"},
    )  # fmt: skip
    assert bad.status_code == 422 and error_of(bad)["field"] == "form"
    form = env.api.post(
        "investigator", f"/participants/{pid}/locks",
        {"reason": "ok", "visit_code": "SCR", "form": "vital_signs"},
    )  # fmt: skip
    assert form.status_code == 201 and form.json()["what"] == "Screening vital signs for APGH-001"
    refused = env.api.post("coordinator", f"/participants/{pid}/measurements", _measurement(pid))
    assert refused.status_code == 423 and error_of(refused)["field"] == "vital_signs"
    study = env.api.post("admin", "/locks/study", {"reason": "final analysis"})
    assert study.status_code == 201
    registration = env.api.post(
        "coordinator", "/participants",
        {"site_code": "APGH", "registered_on": "2026-01-05", "full_name": "Li Na",
         "date_of_birth": "1970-01-01", "sex": "F"},
    )  # fmt: skip
    assert registration.status_code == 423
    assert error_of(registration)["message"].startswith("The study database is locked for analysis")


def test_signing_over_http_and_the_broken_signature(env: Env) -> None:
    pid = env.build.enrolled()
    wrong = env.api.post("investigator", f"/participants/{pid}/signatures", {"password": "nope"})
    assert wrong.status_code == 401 and error_of(wrong)["field"] == "password"
    state = env.api.get("monitor", f"/participants/{pid}/signature-state").json()
    assert state["state"] == "unsigned"
    signed = env.api.post(
        "investigator", f"/participants/{pid}/signatures", {"password": DEMO_PASSWORD}
    )
    assert signed.status_code == 201 and signed.json()["signature_hash"]
    state = env.api.get("monitor", f"/participants/{pid}/signature-state").json()
    assert state["state"] == "valid" and "meaning: I have reviewed" in state["summary"]
    env.api.post("coordinator", f"/participants/{pid}/measurements", _measurement(pid))
    state = env.api.get("monitor", f"/participants/{pid}/signature-state").json()
    assert state["state"] == "broken"
    assert state["changes_after_signing"][0]["who"] == "Coordinator"


def test_a_locked_adverse_event_form_refuses_new_and_changed_aes_over_http(env: Env) -> None:
    """The AE form lock (a log over the participation, issue 14): locked without a visit, it
    answers 423 to a new AE, by the AE endpoint and by the visit-forms endpoint, and to a
    change of an existing one; the investigator's confirmation still goes through."""
    pid = env.build.enrolled()
    env.build.baseline(pid)
    ae = env.build.adverse_event(pid)
    lock = env.api.post(
        "investigator", f"/participants/{pid}/locks",
        {"reason": "AE log reviewed", "form": "adverse_events"},
    )  # fmt: skip
    assert lock.status_code == 201, lock.text
    assert lock.json()["what"] == "the adverse events of APGH-001"
    body = {
        "term": "Headache", "onset_date": "2026-01-05", "grade": 1, "relatedness": "unlikely",
        "action_taken": "not applicable", "outcome": "recovered/resolved",
        "resolution_date": "2026-01-06",
    }  # fmt: skip
    new = env.api.post("coordinator", f"/participants/{pid}/adverse-events", body)
    assert new.status_code == 423, new.text
    assert error_of(new)["message"].startswith("The adverse events of APGH-001 are locked by")
    via_visit = env.api.post(
        "coordinator", f"/participants/{pid}/visit-forms",
        {"visit_code": "BL", "adverse_event": body},
    )  # fmt: skip
    assert via_visit.status_code in (422, 423), via_visit.text
    assert "adverse events of APGH-001 are locked" in via_visit.text
    change = env.api.patch(
        "coordinator", f"/adverse-events/{ae.id}",
        {"reason": "typo", "term": "Hypoglycemia"}, if_match=ae.version,
    )  # fmt: skip
    assert change.status_code == 423, change.text
    confirmed = env.api.post(
        "investigator", f"/adverse-events/{ae.id}/causality/confirmation",
        {"relatedness": "possible", "expected": True}, if_match=ae.version,
    )  # fmt: skip
    assert confirmed.status_code == 200, confirmed.text

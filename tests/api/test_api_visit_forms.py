"""Issue 13 through the API: a visit's forms saved at once (all or nothing, every refusal in
the error's details), form statuses, consent corrections with If-Match."""

from __future__ import annotations

from api_helpers import Env, day, error_of

from trialdesk import services as sv


def _at_baseline(env: Env) -> int:
    pid = env.build.enrolled()
    sv.record_visit(env.build.session, env.build.who("APGH"), pid, code="BL", visit_date=day(28))
    return pid


def test_a_visit_page_through_the_api_is_all_or_nothing(env: Env) -> None:
    pid = _at_baseline(env)
    path = f"/participants/{pid}/visit-forms"
    body = {
        "visit_code": "BL",
        "measurements": [
            {"element": "weight", "value": "80", "unit": "kg"},
            {"element": "hba1c", "value": "80", "unit": "%"},
        ],
        "insulin": {"start_date": day(28).isoformat(), "total_units_per_day": 40},
        "statuses": {"labs": "complete"},
    }
    refused = env.api.post("coordinator", path, body)
    assert refused.status_code == 422, refused.text
    assert [d["field"] for d in error_of(refused)["details"]] == ["hba1c"]
    listed = env.api.request("coordinator", "GET", f"/participants/{pid}/form-statuses")
    assert listed.json() == []
    body["measurements"][1]["value"] = "17"  # type: ignore[index]
    saved = env.api.post("coordinator", path, body)
    assert saved.status_code == 201, saved.text
    assert saved.json()["saved"][:2] == ["Body weight 80 kg", "Haemoglobin A1c 17 %"]
    assert saved.json()["raised"][0].startswith("query #")
    statuses = env.api.request("coordinator", "GET", f"/participants/{pid}/form-statuses").json()
    assert [(s["form"], s["status"]) for s in statuses] == [("labs", "complete")]
    status = env.api.request(
        "monitor", "PUT", f"/participants/{pid}/form-statuses",
        json={"visit_code": "BL", "form": "labs", "status": "unverified"},
    )  # fmt: skip
    assert status.status_code == 403


def test_a_consent_is_corrected_with_if_match(env: Env) -> None:
    pid = _at_baseline(env)
    consent = sv.list_consents(env.build.session, env.build.who("APGH"), pid)[0]
    change = {"form_version": "ICF v2.1", "reason": "version misread"}
    answer = env.api.patch("coordinator", f"/consents/{consent.id}", change, if_match=1)
    assert answer.status_code == 200, answer.text
    assert answer.json()["form_version"] == "ICF v2.1" and answer.headers["ETag"] == '"2"'
    stale = env.api.patch("coordinator", f"/consents/{consent.id}", change, if_match=1)
    assert stale.status_code == 409

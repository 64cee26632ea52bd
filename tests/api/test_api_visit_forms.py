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


def test_a_value_entered_meanwhile_is_a_409_naming_the_fields_and_their_values_now(
    env: Env,
) -> None:
    pid = _at_baseline(env)
    path = f"/participants/{pid}/visit-forms"
    read = env.api.request(
        "coordinator", "GET", f"/measurements?participant_id={pid}&visit_code=BL"
    )
    opened_with = [m["element"] for m in read.json()["items"]]
    assert opened_with == []
    first = {
        "visit_code": "BL",
        "measurements": [{"element": "hba1c", "value": "8,1", "unit": "%"}],
    }
    assert env.api.post("investigator", path, first).status_code == 201
    stale = {
        "visit_code": "BL",
        "opened_with": opened_with,
        "measurements": [
            {"element": "hba1c", "value": "8.3", "unit": "%"},
            {"element": "weight", "value": "80", "unit": "kg"},
        ],
    }
    refused = env.api.post("coordinator", path, stale)
    assert refused.status_code == 409, refused.text
    error = error_of(refused)
    assert error["code"] == "entered_meanwhile"
    assert [(d["field"], d["current"]) for d in error["details"]] == [("hba1c", "8,1 %")]
    assert "yours, 8.3 %, was not saved" in error["details"][0]["message"]
    after = env.api.request(
        "coordinator", "GET", f"/measurements?participant_id={pid}&visit_code=BL"
    )
    assert [m["element"] for m in after.json()["items"]] == ["hba1c"]
    stale["opened_with"] = ["hba1c"]
    stale["measurements"] = stale["measurements"][1:]  # type: ignore[index]
    assert env.api.post("coordinator", path, stale).status_code == 201


def test_a_visit_date_corrected_out_of_its_window_through_the_api_needs_its_reason(
    env: Env,
) -> None:
    pid = _at_baseline(env)
    visit = sv.record_visit(
        env.build.session, env.build.who("APGH"), pid, code="M1", visit_date=day(65)
    )
    change = {"visit_date": day(40).isoformat(), "reason": "typo", "deviation_reason": ""}
    refused = env.api.patch("coordinator", f"/visits/{visit.id}", change, if_match=visit.version)
    assert refused.status_code == 422 and error_of(refused)["field"] == "deviation_reason"
    change["deviation_reason"] = "the clinic was closed by flooding"
    saved = env.api.patch("coordinator", f"/visits/{visit.id}", change, if_match=visit.version)
    assert saved.status_code == 200, saved.text
    deviations = env.api.request("coordinator", "GET", f"/deviations?participant_id={pid}").json()
    assert [d["explanation"] for d in deviations["items"]] == ["the clinic was closed by flooding"]


def test_the_transplantation_and_an_adverse_event_are_blocks_of_the_api_visit_save(
    env: Env,
) -> None:
    pid = _at_baseline(env)
    tx = {
        "performed_on": day(35).isoformat(), "product": "UC-MSC", "lot_number": "L-9",
        "cell_source": "umbilical_cord", "dose_cells_per_kg": 1e6, "route": "intravenous",
        "operator": "Dr Li", "weight_kg": 70,
    }  # fmt: skip
    ae = {
        "term": "Headache", "onset_date": day(35).isoformat(), "grade": 1,
        "relatedness": "unlikely", "action_taken": "dose not changed",
        "outcome": "recovering/resolving",
    }  # fmt: skip
    path = f"/participants/{pid}/visit-forms"
    at_baseline = env.api.post("coordinator", path, {"visit_code": "BL", "transplantation": tx})
    assert at_baseline.status_code == 422, at_baseline.text  # BL has no transplantation form
    assert "no form for a transplantation" in error_of(at_baseline)["details"][0]["message"]
    sv.record_visit(env.build.session, env.build.who("APGH"), pid, code="TX", visit_date=day(35))
    body = {"visit_code": "TX", "transplantation": tx, "adverse_event": ae}
    saved = env.api.post("coordinator", path, body)
    assert saved.status_code == 201, saved.text
    assert saved.json()["saved"][0].startswith("cell transplantation on")
    listed = env.api.request("coordinator", "GET", f"/participants/{pid}/transplantations")
    assert [t["lot_number"] for t in listed.json()["items"]] == ["L-9"]

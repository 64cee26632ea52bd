"""Missing-data codes and unscheduled visits over HTTP (the same services as the web pages)."""

from __future__ import annotations

from api_helpers import Env, day, error_of


def test_record_a_value_as_not_done_then_correct_it(env: Env) -> None:
    pid = env.build.enrolled()
    env.build.baseline(pid)
    created = env.api.post(
        "coordinator",
        f"/participants/{pid}/measurements",
        {
            "visit_code": "BL",
            "element": "c_peptide",
            "missing_code": "ND",
            "missing_reason": "sample lost in transport",
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["missing_code"], body["missing_label"], body["value"]) == ("ND", "Not done", None)
    fixed = env.api.patch(
        "coordinator",
        f"/measurements/{body['id']}",
        {"reason": "sample found, analysed", "value": 0.8, "unit": "nmol/L"},
        if_match=body["version"],
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["missing_code"] is None and fixed.json()["value_as_entered"] == "0.8"


def test_a_missing_code_without_a_reason_names_the_field(env: Env) -> None:
    pid = env.build.enrolled()
    env.build.baseline(pid)
    response = env.api.post(
        "coordinator",
        f"/participants/{pid}/measurements",
        {"visit_code": "BL", "element": "c_peptide", "missing_code": "UNK"},
    )
    assert response.status_code == 422
    assert error_of(response)["field"] == "missing_reason"
    response = env.api.post(
        "coordinator",
        f"/participants/{pid}/measurements",
        {"visit_code": "BL", "element": "c_peptide", "missing_code": "LOST", "missing_reason": "x"},
    )
    assert response.status_code == 422 and error_of(response)["field"] == "missing_code"


def test_add_an_unscheduled_visit_and_record_an_itt_at_it(env: Env) -> None:
    pid = env.build.enrolled()
    env.build.baseline(pid)
    created = env.api.post(
        "coordinator",
        f"/participants/{pid}/unscheduled-visits",
        {"visit_date": day(40).isoformat(), "reason": "repeat ITT: samples haemolysed"},
    )
    assert created.status_code == 201, created.text
    visit = created.json()
    assert visit["code"] == "BL.U01" and visit["unscheduled"] is True
    itt = env.api.post(
        "coordinator",
        f"/participants/{pid}/itt-tests",
        {
            "visit_code": visit["code"],
            "glucose_unit": "mmol/L",
            "samples": [
                {"minute": m, "glucose": g}
                for m, g in ((0, 10.0), (3, 9.8), (6, 9.2), (9, 8.5), (12, 7.9), (15, 7.4))
            ],
        },
    )
    assert itt.status_code == 201, itt.text
    assert itt.json()["visit_code"] == "BL.U01"
    calendar = env.api.get("coordinator", f"/participants/{pid}/calendar").json()
    codes = [v["code"] for v in calendar["visits"]]
    assert codes.index("BL") < codes.index("BL.U01") < codes.index("TX")


def test_an_unscheduled_visit_needs_a_reason(env: Env) -> None:
    pid = env.build.enrolled()
    response = env.api.post(
        "coordinator",
        f"/participants/{pid}/unscheduled-visits",
        {"visit_date": day(10).isoformat(), "reason": ""},
    )
    assert response.status_code == 422 and error_of(response)["field"] == "reason"


def test_the_reason_of_an_unscheduled_visit_is_corrected_with_a_reason(env: Env) -> None:
    pid = env.build.enrolled()
    env.build.baseline(pid)
    visit = env.api.post(
        "coordinator",
        f"/participants/{pid}/unscheduled-visits",
        {"visit_date": day(40).isoformat(), "reason": "safety lab"},
    ).json()
    fixed = env.api.patch(
        "coordinator",
        f"/visits/{visit['id']}",
        {"reason": "wrong reason typed", "unscheduled_reason": "repeat ITT"},
        if_match=visit["version"],
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["unscheduled_reason"] == "repeat ITT"
    scheduled = env.api.get("coordinator", f"/participants/{pid}/visits").json()["items"][0]
    refused = env.api.patch(
        "coordinator",
        f"/visits/{scheduled['id']}",
        {"reason": "x", "unscheduled_reason": "repeat ITT"},
        if_match=scheduled["version"],
    )
    assert refused.status_code == 422 and error_of(refused)["field"] == "unscheduled_reason"

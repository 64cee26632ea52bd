"""Missing-data codes over HTTP (issue #13): a screening field coded instead of given, and an
ITT sample not taken; the same services, rules and refusals as the web pages."""

from __future__ import annotations

from api_helpers import Env, day, error_of

FINDINGS = {
    "t2dm_diagnosis": True,
    "fertile": False,
    **dict.fromkeys(
        (
            "severe_heart_disease", "severe_lung_disease", "haematopoietic_dysfunction",
            "liver_dysfunction", "kidney_dysfunction", "active_infection_requiring_treatment",
            "unexplained_fever", "hiv_infection", "hepatitis_b_infection",
            "hepatitis_c_infection", "other_immunosuppressive_disease",
        ),
        False,
    ),
}  # fmt: skip


def test_a_screening_with_a_coded_field_is_not_assessable(env: Env) -> None:
    pid = env.build.consented()
    env.build.screening_visit(pid)
    body = {
        "screened_on": day(0).isoformat(),
        "findings": FINDINGS,
        "measurements": [
            {"element": "weight", "value": 78, "unit": "kg"},
            {"element": "height", "value": 172, "unit": "cm"},
            {"element": "fasting_glucose", "value": 9.4, "unit": "mmol/L"},
        ],
        "missing": [{"element": "hba1c", "code": "NAV", "reason": "analyser under repair"}],
    }
    created = env.api.post("coordinator", f"/participants/{pid}/screenings", body)
    assert created.status_code == 201, created.text
    result = created.json()["result"]
    assert result["status"] == "incomplete"
    assert result["coded"] == {"hba1c": "temporarily unavailable (NAV): analyser under repair"}
    body["missing"] = [{"element": "hba1c", "code": "NAV"}]
    refused = env.api.post("coordinator", f"/participants/{pid}/screenings", body)
    assert refused.status_code == 422 and error_of(refused)["field"] == "body.missing.0.reason"


def test_an_itt_with_a_sample_not_taken(env: Env) -> None:
    pid = env.build.enrolled()
    env.build.baseline(pid)
    samples = [
        {"minute": m, "glucose": g} for m, g in ((0, 10), (3, 9.8), (6, 9.5), (12, 8.9), (15, 8.5))
    ]
    created = env.api.post(
        "coordinator",
        f"/participants/{pid}/itt-tests",
        {
            "visit_code": "BL",
            "glucose_unit": "mmol/L",
            "samples": samples,
            "missing_samples": [{"minute": 9, "code": "ND", "reason": "line blocked"}],
        },
    )
    assert created.status_code == 201, created.text
    test = created.json()
    assert test["kitt_percent_per_min"] is not None
    assert test["coded_samples"] == [
        {"minute": 9.0, "missing_code": "ND", "missing_label": "Not done",
         "missing_reason": "line blocked"}
    ]  # fmt: skip
    both = env.api.post(
        "coordinator",
        f"/participants/{pid}/itt-tests",
        {
            "visit_code": "BL",
            "glucose_unit": "mmol/L",
            "samples": samples,
            "missing_samples": [{"minute": 3, "code": "ND", "reason": "x"}],
        },
    )
    assert both.status_code == 422 and error_of(both)["field"] == "missing_samples"

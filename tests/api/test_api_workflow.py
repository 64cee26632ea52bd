"""A participant's path through the trial, entirely over HTTP as the site would use it:
register → consent → screening visit → screening with raw values → enrollment → baseline →
measurements, ITT, dosing, transplantation → serious AE → query → audit trail → calendar."""

from __future__ import annotations

from api_helpers import ELIGIBLE_FINDINGS, ITT_MG_DL, Api, Env, day, error_of


def _register(env: Env, user: str = "coordinator") -> dict:
    response = env.api.post(
        user,
        "/participants",
        {
            "site_code": "APGH",
            "registered_on": day(0).isoformat(),
            "full_name": "Li Na",
            "date_of_birth": "1970-06-15",
            "sex": "F",
            "phone": "+86 10 5555 0199",
        },
    )
    assert response.status_code == 201, response.text
    assert response.headers["ETag"] == '"1"'
    return dict(response.json())


def _screen(api: Api, pid: int) -> None:
    """Screening with units as entered; the snapshot keeps them and the canonical values."""
    screening = api.post(
        "coordinator",
        f"/participants/{pid}/screenings",
        {
            "screened_on": day(0).isoformat(),
            "findings": {
                **ELIGIBLE_FINDINGS,
                "fertile": False,
                "pregnant": False,
                "nursing": False,
            },
            "measurements": [
                {"element": "weight", "value": 70, "unit": "kg"},
                {"element": "height", "value": 165, "unit": "cm"},
                {"element": "fasting_glucose", "value": 169, "unit": "mg/dL"},
                {"element": "hba1c", "value": 69, "unit": "mmol/mol"},
            ],
            "itt": {
                "glucose_unit": "mg/dL",
                "samples": [{"minute": m, "glucose": g} for m, g in ITT_MG_DL.items()],
                "insulin_dose_u_per_kg": 0.1,
            },
        },
    )
    assert screening.status_code == 201, screening.text
    snapshot = screening.json()
    assert snapshot["status"] == "eligible", snapshot["result"]
    assert snapshot["protocol_id"] == "NCT01142050"
    # The snapshot keeps the values used, as entered and canonical (69 mmol/mol HbA1c ≈ 8.5 %).
    used = {v["element"]: v for c in snapshot["result"]["criteria"] for v in c["values"]}
    assert used["hba1c"]["canonical_unit"] == "%"
    assert abs(float(used["hba1c"]["canonical"]) - (0.0915 * 69 + 2.15)) < 0.05


def _report_a_serious_fever(api: Api, pid: int) -> None:
    ae = api.post(
        "investigator",
        f"/participants/{pid}/adverse-events",
        {
            "term": "Fever",
            "onset_date": day(31).isoformat(),
            "grade": 3,
            "relatedness": "probable",
            "action_taken": "not applicable",
            "outcome": "recovered/resolved",
            "resolution_date": day(33).isoformat(),
            "seriousness": ["hospitalisation"],
            "awareness_date": day(31).isoformat(),
        },
    )
    assert ae.status_code == 201, ae.text
    event = ae.json()
    assert event["serious"] is True
    # The site reports it to the sponsor within 24 hours (ICH E6(R3)); no sponsor clock: it is
    # not a SUSAR confirmed by the investigator (issue 14).
    assert event["expedited_report_due"] is None
    clock = api.get("coordinator", f"/adverse-events/{event['id']}/safety").json()
    assert clock["site_report_due_at"].startswith(day(32).isoformat())


def _query_answered_and_closed(api: Api, measurement_id: int) -> None:
    query = api.post(
        "monitor",
        "/queries",
        {
            "target_table": "measurements",
            "target_id": measurement_id,
            "field": "value",
            "text": "Fasting? Please confirm.",
        },
    )
    assert query.status_code == 201, query.text
    qid = query.json()["id"]
    answer = api.post(
        "coordinator",
        f"/queries/{qid}/answer",
        {"answer": "Confirmed fasting sample"},
        if_match=query.json()["version"],
    )
    assert answer.status_code == 200, answer.text
    closed = api.post(
        "monitor",
        f"/queries/{qid}/close",
        {"resolution": "Source verified"},
        if_match=answer.json()["version"],
    )
    assert closed.status_code == 200 and closed.json()["status"] == "closed"


def test_a_participant_goes_from_registration_to_follow_up(env: Env) -> None:
    api = env.api
    participant = _register(env)
    pid = participant["id"]
    assert participant["study_id"] == "APGH-001"
    assert "full_name" not in participant and "date_of_birth" not in participant

    consent = api.post(
        "coordinator",
        f"/participants/{pid}/consents",
        {"form_version": "ICF v2.0", "consented_on": day(0).isoformat()},
    )
    assert consent.status_code == 201, consent.text
    visit = api.post(
        "coordinator",
        f"/participants/{pid}/visits",
        {"code": "SCR", "visit_date": day(0).isoformat()},
    )
    assert visit.status_code == 201, visit.text

    _screen(api, pid)

    eligibility = api.get("investigator", f"/participants/{pid}/eligibility")
    assert eligibility.status_code == 200
    assert eligibility.json()["status"] == "eligible"

    enrollment = api.post(
        "investigator", f"/participants/{pid}/enrollment", {"enrolled_on": day(1).isoformat()}
    )
    assert enrollment.status_code == 201, enrollment.text
    assert enrollment.json()["over_target"] is False
    assert api.get("monitor", f"/participants/{pid}").json()["status"] == "enrolled"

    baseline = api.post(
        "coordinator",
        f"/participants/{pid}/visits",
        {"code": "BL", "visit_date": day(28).isoformat()},
    )
    assert baseline.status_code == 201, baseline.text

    glucose = api.post(
        "coordinator",
        f"/participants/{pid}/measurements",
        {"visit_code": "BL", "element": "fasting_glucose", "value": 126, "unit": "mg/dL"},
    )
    assert glucose.status_code == 201, glucose.text
    value = glucose.json()
    # As entered is kept; canonical value in mmol/L (÷ 18.016) with its LOINC code.
    assert (value["value_as_entered"], value["unit_as_entered"]) == ("126", "mg/dL")
    assert value["unit"] == "mmol/L" and abs(value["value"] - 126 / 18.016) < 0.01
    assert value["loinc"] == "1558-6"

    transplant = api.post(
        "investigator",
        f"/participants/{pid}/transplantations",
        {
            "performed_on": day(30).isoformat(),
            "product": "UC-MSC suspension",
            "lot_number": "LOT-2024-117",
            "cell_source": "umbilical_cord",
            "dose_cells_per_kg": 1e6,
            "route": "intravenous",
            "operator": "Dr Zhang",
            "weight_kg": 70,
        },
    )
    assert transplant.status_code == 201, transplant.text
    assert transplant.json()["total_cells"] == 7e7

    dose = api.post(
        "coordinator",
        f"/participants/{pid}/insulin-doses",
        {"start_date": day(28).isoformat(), "total_units_per_day": 40, "visit_code": "BL"},
    )
    assert dose.status_code == 201, dose.text

    _report_a_serious_fever(api, pid)

    _query_answered_and_closed(api, value["id"])

    history = api.get("monitor", f"/audit/measurements/{value['id']}")
    assert history.status_code == 200
    entries = history.json()["items"]
    assert entries[0]["action"] == "create" and entries[0]["username"] == "coordinator"

    calendar = api.get(
        "coordinator", f"/participants/{pid}/calendar", params={"as_of": day(29).isoformat()}
    )
    assert calendar.status_code == 200, calendar.text
    statuses = {v["code"]: v["status"] for v in calendar.json()["visits"]}
    assert statuses["SCR"] == "done" and statuses["BL"] == "done"

    assert api.get("admin", "/audit/verify").json()["ok"] is True


def test_screening_with_an_impossible_value_saves_nothing(env: Env) -> None:
    pid = env.build.consented()
    env.build.screening_visit(pid)
    response = env.api.post(
        "coordinator",
        f"/participants/{pid}/screenings",
        {
            "screened_on": day(0).isoformat(),
            "findings": ELIGIBLE_FINDINGS,
            "measurements": [
                {"element": "weight", "value": 70, "unit": "kg"},
                {"element": "fasting_glucose", "value": 900, "unit": "mmol/L"},
            ],
        },
    )
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "hard_limit"
    assert error["field"] == "measurements[1].fasting_glucose"
    # All or nothing: the weight before the refused glucose was not kept either.
    listed = env.api.get("coordinator", "/measurements", params={"participant_id": pid})
    assert listed.json()["total"] == 0
    assert env.api.get("coordinator", f"/participants/{pid}/screenings").json()["total"] == 0

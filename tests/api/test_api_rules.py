"""Every trial rule surfaces over HTTP as the right 4xx with an error body naming the rule and,
where there is one, the field."""

from __future__ import annotations

from datetime import date, timedelta

from api_helpers import ELIGIBLE_FINDINGS, Env, day, error_of
from sqlalchemy import text

from trialdesk import services as sv


def _enroll(env: Env, user: str, pid: int, **extra: object) -> object:
    return env.api.post(
        user, f"/participants/{pid}/enrollment", {"enrolled_on": day(1).isoformat(), **extra}
    )


# --- enrollment ---------------------------------------------------------------------------------


def test_no_enrollment_without_consent(env: Env) -> None:
    pid = env.build.register().id
    response = _enroll(env, "investigator", pid)
    assert response.status_code == 422
    assert error_of(response)["code"] == "enrollment_requires_consent"


def test_no_enrollment_without_a_screening(env: Env) -> None:
    pid = env.build.consented()
    response = _enroll(env, "investigator", pid)
    assert response.status_code == 422
    assert error_of(response)["code"] == "enrollment_requires_eligible_screening"


def test_no_enrollment_after_an_ineligible_screening(env: Env) -> None:
    pid = env.build.consented()
    env.build.screening_data(pid)
    screening = env.api.post(
        "coordinator",
        f"/participants/{pid}/screenings",
        {
            "screened_on": day(0).isoformat(),
            "findings": {**ELIGIBLE_FINDINGS, "hiv_infection": True},
        },
    )
    assert screening.status_code == 201
    assert screening.json()["status"] == "ineligible"
    assert "E4" in screening.json()["result"]["failed"]
    response = _enroll(env, "investigator", pid)
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "enrollment_requires_eligible_screening"
    assert "E4" in error["message"]


def test_the_25th_enrollment_needs_an_investigator_and_a_reason(env: Env) -> None:
    for _ in range(24):
        pid = env.build.eligible()
        sv.enroll_participant(env.build.session, env.build.who("APGH"), pid, enrolled_on=day(1))
    summary = env.api.get("coordinator", "/enrollment/summary").json()
    assert summary == {"enrolled": 24, "target": 24, "remaining": 0}
    pid = env.build.eligible()

    refused = _enroll(env, "coordinator", pid)
    assert refused.status_code == 409
    assert error_of(refused)["code"] == "enrollment_target_reached"

    not_investigator = _enroll(env, "coordinator", pid, override_reason="sponsor agreed")
    assert not_investigator.status_code == 403
    assert error_of(not_investigator)["code"] == "override_enrollment_target_not_allowed"

    overridden = _enroll(env, "investigator", pid, override_reason="replaces a dropout")
    assert overridden.status_code == 201, overridden.text
    assert overridden.json()["over_target"] is True
    assert overridden.json()["override_reason"] == "replaces a dropout"
    history = env.api.get("investigator", f"/audit/enrollments/{overridden.json()['id']}")
    assert history.json()["items"][0]["changes"]["override_reason"] == [None, "replaces a dropout"]


# --- consent ------------------------------------------------------------------------------------


def test_withdrawn_consent_stops_new_data_but_keeps_the_old(env: Env) -> None:
    pid = env.build.enrolled()
    env.build.baseline(pid)
    consent = env.api.get("coordinator", f"/participants/{pid}/consents").json()["items"][0]
    withdrawn = env.api.post(
        "coordinator",
        f"/consents/{consent['id']}/withdrawal",
        {"withdrawn_on": day(30).isoformat()},
        if_match=consent["version"],
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert env.api.get("coordinator", f"/participants/{pid}").json()["status"] == "withdrawn"

    later = env.api.post(
        "coordinator",
        f"/participants/{pid}/insulin-doses",
        {"start_date": day(31).isoformat(), "total_units_per_day": 20},
    )
    assert later.status_code == 409
    assert error_of(later)["code"] == "consent_withdrawn"
    # Data collected before the withdrawal stay, and can still be entered.
    kept = env.api.get("coordinator", "/measurements", params={"participant_id": pid})
    assert kept.json()["total"] == 4
    earlier = env.api.post(
        "coordinator",
        f"/participants/{pid}/insulin-doses",
        {"start_date": day(29).isoformat(), "total_units_per_day": 20},
    )
    assert earlier.status_code == 201


def test_no_trial_data_before_consent(env: Env) -> None:
    pid = env.build.register().id
    response = env.api.post(
        "coordinator",
        f"/participants/{pid}/visits",
        {"code": "SCR", "visit_date": day(0).isoformat()},
    )
    assert response.status_code == 422
    assert error_of(response)["code"] == "consent_required"


# --- edit checks and windows ----------------------------------------------------------------


def test_a_physiologically_impossible_value_is_refused(env: Env) -> None:
    pid = env.build.consented()
    env.build.screening_visit(pid)
    response = env.api.post(
        "coordinator",
        f"/participants/{pid}/measurements",
        {"visit_code": "SCR", "element": "fasting_glucose", "value": 1260, "unit": "mg/dL"},
    )
    assert response.status_code == 422
    error = error_of(response)
    assert (error["code"], error["field"]) == ("hard_limit", "fasting_glucose")
    assert "1260 mg/dL" in error["message"]
    assert (
        env.api.get("coordinator", "/measurements", params={"participant_id": pid}).json()["total"]
        == 0
    )


def test_an_unusual_value_is_kept_and_raises_a_query(env: Env) -> None:
    pid = env.build.consented()
    env.build.screening_visit(pid)
    response = env.api.post(
        "coordinator",
        f"/participants/{pid}/measurements",
        {"visit_code": "SCR", "element": "fasting_glucose", "value": 2.5, "unit": "mmol/L"},
    )
    assert response.status_code == 201
    assert response.json()["limit_flag"] == "low"
    queries = env.api.get("monitor", "/queries", params={"participant_id": pid}).json()
    assert queries["total"] == 1
    query = queries["items"][0]
    assert (query["origin"], query["status"], query["target_id"]) == (
        "edit_check",
        "open",
        response.json()["id"],
    )


def test_a_unit_that_does_not_fit_the_element_is_refused(env: Env) -> None:
    pid = env.build.consented()
    env.build.screening_visit(pid)
    response = env.api.post(
        "coordinator",
        f"/participants/{pid}/measurements",
        {"visit_code": "SCR", "element": "hba1c", "value": 7.1, "unit": "kg"},
    )
    assert response.status_code == 422
    assert error_of(response)["field"] == "hba1c"


def test_a_visit_outside_its_window_becomes_a_deviation(env: Env) -> None:
    pid = env.build.enrolled()
    env.build.baseline(pid)  # day 0 of the schedule = day(28)
    late = env.api.post(
        "coordinator",
        f"/participants/{pid}/visits",
        {"code": "M1", "visit_date": day(28 + 37 + 20).isoformat()},
    )
    assert late.status_code == 201
    deviations = env.api.get(
        "monitor", "/deviations", params={"participant_id": pid, "category": "visit_window"}
    ).json()
    assert deviations["total"] == 1
    assert deviations["items"][0]["automatic"] is True
    # Correcting the date back into the window clears the automatic deviation.
    corrected = env.api.patch(
        "coordinator",
        f"/visits/{late.json()['id']}",
        {"visit_date": day(28 + 37).isoformat(), "reason": "date mistyped"},
        if_match=late.json()["version"],
    )
    assert corrected.status_code == 200, corrected.text
    again = env.api.get(
        "monitor", "/deviations", params={"participant_id": pid, "category": "visit_window"}
    ).json()
    assert again["total"] == 0


def test_calendar_shows_due_and_overdue(env: Env) -> None:
    pid = env.build.enrolled()
    env.build.baseline(pid)
    due = env.api.get(
        "coordinator", f"/participants/{pid}/calendar", params={"as_of": day(28 + 37).isoformat()}
    ).json()
    overdue = env.api.get(
        "coordinator", f"/participants/{pid}/calendar", params={"as_of": day(28 + 50).isoformat()}
    ).json()
    m1 = {v["code"]: v for v in due["visits"]}["M1"]
    assert m1["status"] == "due" and m1["planned_date"] == day(28 + 37).isoformat()
    assert {v["code"]: v for v in overdue["visits"]}["M1"]["status"] == "overdue"
    assert due["anchor"] == "baseline"


# --- safety -------------------------------------------------------------------------------------


def test_a_life_threatening_susar_is_due_in_7_days_only_once_confirmed(env: Env) -> None:
    """ICH E2A III.A.1 through the API (issue 14): no sponsor clock for the SAE as reported;
    the investigator confirms it unexpected and related; the next report sent is day 0."""
    pid = env.build.enrolled()
    body = {
        "term": "Anaphylaxis",
        "onset_date": day(30).isoformat(),
        "grade": 4,
        "relatedness": "probable",
        "action_taken": "not applicable",
        "outcome": "recovering/resolving",
        "seriousness": ["life_threatening"],
        "awareness_date": day(31).isoformat(),
    }
    response = env.api.post("coordinator", f"/participants/{pid}/adverse-events", body)
    assert response.status_code == 201, response.text
    ae = response.json()
    assert ae["expedited_report_due"] is None
    aid = ae["id"]
    status = env.api.get("coordinator", f"/adverse-events/{aid}/safety").json()
    assert status["site_report_due_at"].startswith(day(32).isoformat())
    sent = env.api.post("coordinator", f"/adverse-events/{aid}/reports", {"note": "CIOMS I"})
    assert sent.status_code == 201 and sent.json()["kind"] == "initial", sent.text
    confirm = {"relatedness": "probable", "expected": False}
    refused = env.api.post(
        "coordinator", f"/adverse-events/{aid}/causality/confirmation", confirm,
        if_match=ae["version"],
    )  # fmt: skip
    assert refused.status_code == 403
    confirmed = env.api.post(
        "investigator", f"/adverse-events/{aid}/causality/confirmation", confirm,
        if_match=ae["version"],
    )  # fmt: skip
    assert confirmed.status_code == 200, confirmed.text
    no_expectedness = env.api.post(
        "investigator", f"/adverse-events/{aid}/causality/confirmation",
        {"relatedness": "probable"}, if_match=confirmed.json()["version"],
    )  # fmt: skip
    assert error_of(no_expectedness)["field"] == "expected"
    follow_up = env.api.post("coordinator", f"/adverse-events/{aid}/reports", {})
    assert follow_up.json()["sequence"] == 1
    status = env.api.get("investigator", f"/adverse-events/{aid}/safety").json()
    today = date.fromisoformat(follow_up.json()["sent_at"][:10])
    assert status["susar"] and status["sponsor_day0"] == today.isoformat()
    assert status["sponsor_due"] == (today + timedelta(days=7)).isoformat()
    assert status["sponsor_complete_due"] == (today + timedelta(days=15)).isoformat()


def test_a_non_serious_event_has_no_expedited_report(env: Env) -> None:
    pid = env.build.enrolled()
    body = {
        "term": "Nausea",
        "onset_date": day(30).isoformat(),
        "grade": 1,
        "relatedness": "unlikely",
        "action_taken": "not applicable",
        "outcome": "recovered/resolved",
        "resolution_date": day(31).isoformat(),
    }
    response = env.api.post("investigator", f"/participants/{pid}/adverse-events", body)
    assert response.status_code == 201
    assert response.json()["serious"] is False
    assert response.json()["expedited_report_due"] is None


def test_an_unknown_seriousness_criterion_is_named(env: Env) -> None:
    pid = env.build.enrolled()
    body = {
        "term": "Nausea",
        "onset_date": day(30).isoformat(),
        "grade": 2,
        "relatedness": "unlikely",
        "action_taken": "not applicable",
        "outcome": "recovering/resolving",
        "seriousness": ["very_bad"],
    }
    response = env.api.post("investigator", f"/participants/{pid}/adverse-events", body)
    assert response.status_code == 422
    error = error_of(response)
    assert error["field"] == "seriousness" and "very_bad" in error["message"]


def test_a_ctcae_grade_above_5_is_refused(env: Env) -> None:
    pid = env.build.enrolled()
    body = {
        "term": "Nausea",
        "onset_date": day(30).isoformat(),
        "grade": 6,
        "relatedness": "unlikely",
        "action_taken": "not applicable",
        "outcome": "recovered/resolved",
        "resolution_date": day(31).isoformat(),
    }
    response = env.api.post("investigator", f"/participants/{pid}/adverse-events", body)
    assert response.status_code == 422
    assert error_of(response)["field"] == "grade"


# --- changes: reason, version, void -----------------------------------------------------------


def test_a_change_after_first_entry_needs_a_reason(env: Env) -> None:
    pid = env.build.consented()
    env.build.screening_visit(pid)
    m = env.build.measurement(pid)
    response = env.api.patch(
        "coordinator", f"/measurements/{m.id}", {"value": 152, "unit": "mg/dL"}, if_match=1
    )
    assert response.status_code == 422
    error = error_of(response)
    assert (error["code"], error["field"]) == ("reason_required", "reason")
    fixed = env.api.patch(
        "coordinator",
        f"/measurements/{m.id}",
        {"value": 152, "unit": "mg/dL", "reason": "transcription error"},
        if_match=1,
    )
    assert fixed.status_code == 200
    assert fixed.headers["ETag"] == '"2"'
    history = env.api.get("coordinator", f"/audit/measurements/{m.id}").json()["items"]
    assert [e["action"] for e in history] == ["create", "update"]
    assert history[1]["reason"] == "transcription error"
    assert history[1]["changes"]["value_as_entered"] == ["150", "152"]


def test_a_stale_version_is_refused_and_changes_nothing(env: Env) -> None:
    pid = env.build.consented()
    env.build.screening_visit(pid)
    m = env.build.measurement(pid)
    first = env.api.patch(
        "coordinator",
        f"/measurements/{m.id}",
        {"value": 152, "unit": "mg/dL", "reason": "lab report"},
        if_match=1,
    )
    assert first.status_code == 200
    stale = env.api.patch(
        "investigator",
        f"/measurements/{m.id}",
        {"value": 160, "unit": "mg/dL", "reason": "lab report"},
        if_match=1,
    )
    assert stale.status_code == 409
    assert error_of(stale)["code"] == "stale_version"
    now = env.api.get("coordinator", f"/measurements/{m.id}")
    assert now.json()["value_as_entered"] == "152" and now.headers["ETag"] == '"2"'


def test_changes_need_if_match(env: Env) -> None:
    pid = env.build.register().id
    missing = env.api.patch("coordinator", f"/participants/{pid}", {"sex": "F", "reason": "x"})
    assert missing.status_code == 428
    assert error_of(missing) | {} == {
        "code": "if_match_required",
        "message": error_of(missing)["message"],
        "field": "If-Match",
        "details": [],
    }
    bad = env.api.patch(
        "coordinator", f"/participants/{pid}", {"sex": "F", "reason": "x"}, if_match="latest"
    )
    assert bad.status_code == 400
    assert error_of(bad)["code"] == "invalid_if_match"
    weak = env.api.patch(
        "coordinator",
        f"/participants/{pid}",
        {"sex": "F", "reason": "sex mis-entered"},
        if_match='W/"1"',
    )
    assert weak.status_code == 200 and weak.json()["sex"] == "F"


def test_records_are_voided_not_deleted(env: Env) -> None:
    pid = env.build.consented()
    env.build.screening_visit(pid)
    m = env.build.measurement(pid)
    deleted = env.api.request("coordinator", "DELETE", f"/measurements/{m.id}")
    assert deleted.status_code == 405
    assert error_of(deleted)["code"] == "method_not_allowed"
    no_reason = env.api.post("coordinator", f"/measurements/{m.id}/void", {}, if_match=1)
    assert no_reason.status_code == 422
    assert error_of(no_reason)["code"] == "reason_required"
    voided = env.api.post(
        "coordinator", f"/measurements/{m.id}/void", {"reason": "wrong participant"}, if_match=1
    )
    assert voided.status_code == 204
    listed = env.api.get("coordinator", "/measurements", params={"participant_id": pid})
    assert listed.json()["total"] == 0
    kept = env.api.get(
        "coordinator", "/measurements", params={"participant_id": pid, "include_voided": True}
    ).json()
    assert kept["total"] == 1 and kept["items"][0]["void_reason"] == "wrong participant"
    again = env.api.post(
        "coordinator", f"/measurements/{m.id}/void", {"reason": "again"}, if_match=2
    )
    assert again.status_code == 409
    assert error_of(again)["code"] == "already_voided"


# --- roles, sites, refusals -----------------------------------------------------------------


def _refusals(env: Env, user_id: int) -> int:
    with env.database.engine.connect() as connection:
        return int(
            connection.execute(
                text("SELECT count(*) FROM audit_entries WHERE action = 'refuse' AND user_id = :u"),
                {"u": user_id},
            ).scalar_one()
        )


def test_refusals_are_audited(env: Env) -> None:
    own = env.build.register("APGH").id
    other = env.build.register("PUMC").id
    statistician = env.seed.users["statistician"]
    before = _refusals(env, statistician)
    forbidden = env.api.get("statistician", f"/participants/{own}/identity")
    assert forbidden.status_code == 403
    assert error_of(forbidden)["code"] == "read_identity_not_allowed"
    hidden = env.api.get("statistician", f"/participants/{other}")
    assert hidden.status_code == 404
    assert error_of(hidden)["code"] == "not_found"
    assert _refusals(env, statistician) == before + 2


def test_other_sites_records_look_like_missing_ones(env: Env) -> None:
    other = env.build.register("PUMC").id
    missing = env.api.get("coordinator", "/participants/999999")
    hidden = env.api.get("coordinator", f"/participants/{other}")
    assert hidden.status_code == missing.status_code == 404
    assert error_of(hidden)["code"] == error_of(missing)["code"] == "not_found"


def test_lists_show_only_the_users_sites(env: Env) -> None:
    env.build.register("APGH")
    env.build.register("PUMC")
    apgh = env.api.get("coordinator", "/participants").json()
    assert [p["site_code"] for p in apgh["items"]] == ["APGH"]
    assert (
        env.api.get("coordinator", "/participants", params={"site_code": "PUMC"}).json()["total"]
        == 0
    )
    pumc = env.api.get("coordinator2", "/participants").json()
    assert [p["site_code"] for p in pumc["items"]] == ["PUMC"]


def test_statistician_reads_de_identified_data(env: Env) -> None:
    pid = env.build.eligible()
    eligibility = env.api.get("statistician", f"/participants/{pid}/eligibility")
    screenings = env.api.get("statistician", f"/participants/{pid}/screenings")
    assert eligibility.status_code == screenings.status_code == 200
    for response in (eligibility, screenings):
        assert "1968-04-02" not in response.text and "Wang Wei" not in response.text
    assert "date_of_birth" not in eligibility.json()["record"]
    # The investigator sees the same evaluation with the date of birth it used.
    assert (
        env.api.get("investigator", f"/participants/{pid}/eligibility").json()["record"][
            "date_of_birth"
        ]
        == "1968-04-02"
    )


def test_pagination(env: Env) -> None:
    for _ in range(3):
        env.build.register()
    first = env.api.get("coordinator", "/participants", params={"limit": 2}).json()
    rest = env.api.get("coordinator", "/participants", params={"limit": 2, "offset": 2}).json()
    assert (first["total"], first["limit"], first["offset"], len(first["items"])) == (3, 2, 0, 2)
    assert (rest["total"], len(rest["items"])) == (3, 1)
    ids = [p["study_id"] for p in first["items"] + rest["items"]]
    assert ids == ["APGH-001", "APGH-002", "APGH-003"]
    too_big = env.api.get("coordinator", "/participants", params={"limit": 501})
    assert too_big.status_code == 422
    assert error_of(too_big)["field"] == "query.limit"

"""Issue 13 part 3 over HTTP: screening-log declines, deviation classification and investigator
review, the site time zone; the same services and rules as the web pages."""

from __future__ import annotations

from datetime import timedelta

from api_helpers import Env, error_of

from trialdesk import services as sv
from trialdesk.services.validate import today


def test_a_decline_is_logged_and_listed_and_bad_input_names_the_field(env: Env) -> None:
    body = {
        "site_code": "APGH",
        "approached_on": today().isoformat(),
        "candidate_label": "S-021",
        "outcome": "declined",
        "reason_category": "visit_burden",
        "reason": "lives four hours away",
    }
    created = env.api.post("coordinator", "/screening-declines", body)
    assert created.status_code == 201, created.text
    assert created.json()["reason_category"] == "visit_burden"
    listed = env.api.get("monitor", "/screening-declines").json()
    assert [d["candidate_label"] for d in listed["items"]] == ["S-021"]
    refused = env.api.post(
        "coordinator", "/screening-declines", {**body, "reason_category": "other", "reason": ""}
    )
    assert refused.status_code == 422 and error_of(refused)["field"] == "reason"
    future = {**body, "approached_on": (today() + timedelta(days=9)).isoformat()}
    assert (
        error_of(env.api.post("coordinator", "/screening-declines", future))["field"]
        == "approached_on"
    )
    assert env.api.post("coordinator2", "/screening-declines", body).status_code == 403
    assert len(env.api.get("monitor", "/screening-declines").json()["items"]) == 1


def test_deviation_is_classified_then_reviewed_by_an_investigator_only(env: Env) -> None:
    pid = env.build.enrolled()
    deviation = env.api.post(
        "coordinator",
        f"/participants/{pid}/deviations",
        {
            "category": "procedure",
            "severity": "minor",
            "description": "fasting sample drawn after breakfast",
            "detected_on": today().isoformat(),
        },
    ).json()
    did = deviation["id"]
    changed = env.api.patch(
        "coordinator",
        f"/deviations/{did}",
        {"severity": "major", "explanation": "patient not told to fast", "reason": "reclassified"},
        if_match=deviation["version"],
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["severity"] == "major"
    version = changed.json()["version"]
    path = f"/deviations/{did}/review"
    assert env.api.post("coordinator", path, {"comment": "ok"}, if_match=version).status_code == 403
    blank = env.api.post("investigator", path, {"comment": " "}, if_match=version)
    assert error_of(blank)["field"] == "review_comment"
    stale = env.api.post("investigator", path, {"comment": "ok"}, if_match=version - 1)
    assert stale.status_code == 409
    reviewed = env.api.post("investigator", path, {"comment": "repeat sample"}, if_match=version)
    assert reviewed.status_code == 200, reviewed.text
    investigator = env.build.who("APGH")
    assert reviewed.json()["review_comment"] == "repeat sample"
    assert reviewed.json()["reviewed_at"] is not None and investigator is not None
    page = env.api.get("monitor", "/deviations", params={"status": "reviewed", "severity": "major"})
    assert [d["id"] for d in page.json()["items"]] == [did]
    assert (
        env.api.get("monitor", "/deviations", params={"status": "awaiting_review"}).json()["items"]
        == []
    )
    bad = env.api.get("monitor", "/deviations", params={"status": "done"})
    assert bad.status_code == 422


def test_the_admin_sets_a_site_time_zone_with_if_match_and_reason(env: Env) -> None:
    site = next(s for s in env.api.get("admin", "/sites").json()["items"] if s["code"] == "APGH")
    assert site["time_zone"] == "UTC"
    path = f"/sites/{site['id']}/time-zone"
    unknown = env.api.patch(
        "admin", path, {"time_zone": "Asia/Atlantis", "reason": "x"}, if_match=site["version"]
    )
    assert unknown.status_code == 422 and error_of(unknown)["field"] == "time_zone"
    no_reason = env.api.patch(
        "admin", path, {"time_zone": "Asia/Shanghai"}, if_match=site["version"]
    )
    assert error_of(no_reason)["code"] == "reason_required"
    forbidden = env.api.patch(
        "investigator",
        path,
        {"time_zone": "Asia/Shanghai", "reason": "x"},
        if_match=site["version"],
    )
    assert forbidden.status_code == 403
    done = env.api.patch(
        "admin",
        path,
        {"time_zone": "Asia/Shanghai", "reason": "Beijing site"},
        if_match=site["version"],
    )
    assert done.status_code == 200 and done.json()["time_zone"] == "Asia/Shanghai"
    with env.database.session() as session:
        history = sv.record_history(session, sv.SYSTEM, "sites", site["id"])
    assert history[-1].changes["time_zone"] == ["UTC", "Asia/Shanghai"]
    assert history[-1].reason == "Beijing site"

"""The API's side of the access controls (issue #18): the token only after the second factor,
403 password_change_required for initial passwords, enrolment, admin unlock, policy endpoints,
and no user enumeration in login errors."""

from __future__ import annotations

from datetime import timedelta

import pyotp
from api_helpers import API, Env, error_of
from sqlalchemy import update
from tools.harness.database import DEMO_PASSWORD

from trialdesk import services as sv
from trialdesk.store.models import ApiToken
from trialdesk.store.types import utcnow

TOKEN = f"{API}/auth/token"


def _policy(env: Env, **settings: object) -> None:
    with env.database.session() as session:
        sv.set_security_policy(
            session, sv.SYSTEM, reason="test", settings=sv.PolicySettings(**settings)
        )  # type: ignore[arg-type]


def _enrol(env: Env, username: str) -> str:
    first = env.api.client.post(TOKEN, json={"username": username, "password": DEMO_PASSWORD})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["access_token"] is None and body["next_step"] == "enrol_totp"
    enrolment = env.api.client.post(
        f"{API}/auth/totp/enrolment", json={"challenge": body["challenge"]}
    ).json()
    assert enrolment["otpauth_uri"].startswith("otpauth://totp/")
    code = pyotp.TOTP(enrolment["secret"]).now()
    done = env.api.client.post(
        f"{API}/auth/totp/enrolment/confirm", json={"challenge": body["challenge"], "code": code}
    )
    assert done.status_code == 200, done.text
    assert done.json()["access_token"] and len(done.json()["recovery_codes"]) == 10
    return str(enrolment["secret"])


def test_with_totp_the_token_is_issued_only_after_the_code(env: Env) -> None:
    _policy(env, totp_roles=["coordinator"])
    secret = _enrol(env, "coordinator")
    first = env.api.client.post(TOKEN, json={"username": "coordinator", "password": DEMO_PASSWORD})
    body = first.json()
    assert first.status_code == 200 and body["access_token"] is None
    assert body["next_step"] == "totp" and body["challenge"]
    wrong = env.api.client.post(
        f"{API}/auth/token/code", json={"challenge": body["challenge"], "code": "12345x"}
    )
    assert wrong.status_code == 401 and error_of(wrong)["code"] == "invalid_code"
    # the enrolment used this time step's code: the next step's one (within the ±1 window)
    code = pyotp.TOTP(secret).at(utcnow() + timedelta(seconds=30))
    done = env.api.client.post(
        f"{API}/auth/token/code", json={"challenge": body["challenge"], "code": code}
    )
    assert done.status_code == 200, done.text
    token = done.json()["access_token"]
    me = env.api.client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["totp_enrolled"] is True


def test_an_initial_password_gets_403_until_changed(env: Env) -> None:
    created = env.api.post(
        "admin",
        "/users",
        json={
            "username": "jwang",
            "full_name": "Jing Wang",
            "password": "temporary river stone",
            "roles": ["statistician"],
            "site_codes": ["APGH"],
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["must_change_password"] is True
    refused = env.api.client.post(
        TOKEN, json={"username": "jwang", "password": "temporary river stone"}
    )
    assert refused.status_code == 403
    assert error_of(refused)["code"] == "password_change_required"
    change = {
        "username": "jwang",
        "current_password": "temporary river stone",
        "new_password": "password1234",
    }
    weak = env.api.client.post(f"{API}/auth/password-change", json=change)
    assert weak.status_code == 422 and error_of(weak)["field"] == "new_password"
    change["new_password"] = "plum orchard by the river"
    changed = env.api.client.post(f"{API}/auth/password-change", json=change)
    assert changed.status_code == 200, changed.text
    assert changed.json()["access_token"]
    again = env.api.client.post(
        TOKEN, json={"username": "jwang", "password": "plum orchard by the river"}
    )
    assert again.status_code == 200 and again.json()["access_token"]
    change["current_password"] = change["new_password"]
    change["new_password"] = "granite lantern meadow"
    not_pending = env.api.client.post(f"{API}/auth/password-change", json=change)
    assert not_pending.status_code == 409
    assert error_of(not_pending)["code"] == "password_change_not_pending"


def test_login_errors_do_not_tell_which_names_exist(env: Env) -> None:
    unknown = env.api.client.post(TOKEN, json={"username": "nobody", "password": "x" * 12})
    wrong = env.api.client.post(TOKEN, json={"username": "monitor", "password": "x" * 12})
    assert unknown.status_code == wrong.status_code == 401
    assert error_of(unknown) == error_of(wrong)


def test_lockout_and_unlock_through_the_api(env: Env) -> None:
    _policy(env, lockout_threshold=2)
    for _ in range(2):
        env.api.client.post(TOKEN, json={"username": "monitor", "password": "x" * 12})
    locked = env.api.client.post(TOKEN, json={"username": "monitor", "password": DEMO_PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    uid = env.seed.users["monitor"]
    no_reason = env.api.post("admin", f"/users/{uid}/unlock", json={"reason": ""})
    assert no_reason.status_code == 422
    refused = env.api.post("investigator", f"/users/{uid}/unlock", json={"reason": "x"})
    assert refused.status_code == 403
    unlocked = env.api.post("admin", f"/users/{uid}/unlock", json={"reason": "called the site"})
    assert unlocked.status_code == 200 and unlocked.json()["locked_until"] is None
    ok = env.api.client.post(TOKEN, json={"username": "monitor", "password": DEMO_PASSWORD})
    assert ok.status_code == 200 and ok.json()["access_token"]


def test_the_policy_endpoints_are_for_administrators(env: Env) -> None:
    assert env.api.get("coordinator", "/auth/security-policy").status_code == 403
    shown = env.api.get("admin", "/auth/security-policy")
    assert shown.status_code == 200 and shown.json()["stored"] is True
    bad = env.api.request(
        "admin", "PUT", "/auth/security-policy", json={"reason": "x", "idle_timeout_minutes": 0}
    )
    assert bad.status_code == 422 and error_of(bad)["field"] == "idle_timeout_minutes"
    changed = env.api.request(
        "admin",
        "PUT",
        "/auth/security-policy",
        json={"reason": "site audit", "site_code": "PUMC", "totp_roles": ["investigator"]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["site_code"] == "PUMC" and changed.json()["totp_roles"] == [
        "investigator"
    ]


def test_an_idle_token_is_refused_with_the_reason(env: Env) -> None:
    _policy(env, idle_timeout_minutes=10)
    token = env.api.token("statistician")
    me = {"Authorization": f"Bearer {token}"}
    assert env.api.client.get(f"{API}/auth/me", headers=me).status_code == 200
    with env.database.engine.begin() as connection:  # 11 minutes without a request
        connection.execute(
            update(ApiToken).values(
                created_at=utcnow() - timedelta(minutes=11),
                last_used_at=utcnow() - timedelta(minutes=11),
            )
        )
    idle = env.api.client.get(f"{API}/auth/me", headers=me)
    assert idle.status_code == 401
    assert error_of(idle)["code"] == "session_idle_timeout"
    assert "10 minutes without activity" in error_of(idle)["message"]

"""Authentication: bearer tokens with expiry, logout revokes, lockout; every 401 has the error
body and a WWW-Authenticate challenge."""

from __future__ import annotations

from datetime import timedelta

from api_helpers import API, Env, error_of
from sqlalchemy import text
from tools.harness.database import DEMO_PASSWORD

from trialdesk.store.types import utcnow


def _token(env: Env, username: str, password: str = DEMO_PASSWORD, **extra: object):
    return env.api.client.post(
        f"{API}/auth/token", json={"username": username, "password": password, **extra}
    )


def _me(env: Env, token: str):
    return env.api.client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {token}"})


def test_sign_in_gives_a_bearer_token_that_expires(env: Env) -> None:
    response = _token(env, "coordinator")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert 23 * 3600 < body["expires_in"] <= 24 * 3600
    me = _me(env, body["access_token"])
    assert me.status_code == 200
    assert me.json()["username"] == "coordinator"
    assert me.json()["roles"] == ["coordinator"] and me.json()["site_codes"] == ["APGH"]


def test_a_shorter_lifetime_can_be_asked_for(env: Env) -> None:
    body = _token(env, "monitor", lifetime_minutes=15).json()
    assert 14 * 60 < body["expires_in"] <= 15 * 60


def test_wrong_password_and_unknown_user_get_the_same_answer(env: Env) -> None:
    wrong = _token(env, "coordinator", "not the password")
    unknown = _token(env, "nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert error_of(wrong) == error_of(unknown)
    assert error_of(wrong)["code"] == "invalid_credentials"
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")


def test_five_failures_lock_the_account(env: Env) -> None:
    for _ in range(5):
        assert _token(env, "monitor", "guess").status_code == 401
    locked = _token(env, "monitor")  # even the right password
    assert locked.status_code == 429  # throttled (issue 8): Too Many Requests + Retry-After
    assert error_of(locked)["code"] == "account_locked"
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60


def test_requests_without_a_valid_token_are_refused(env: Env) -> None:
    client = env.api.client
    none = client.get(f"{API}/participants")
    basic = client.get(f"{API}/participants", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    garbage = client.get(f"{API}/participants", headers={"Authorization": "Bearer nonsense"})
    for response, code in (
        (none, "not_authenticated"),
        (basic, "not_authenticated"),
        (garbage, "invalid_token"),
    ):
        assert response.status_code == 401, response.text
        assert error_of(response)["code"] == code
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_expired_token_is_refused(env: Env) -> None:
    token = _token(env, "coordinator").json()["access_token"]
    assert _me(env, token).status_code == 200
    # Time passes: the token's expiry is now in the past.
    with env.database.engine.begin() as connection:
        connection.execute(
            text("UPDATE api_tokens SET expires_at = :t"), {"t": utcnow() - timedelta(seconds=1)}
        )
    expired = _me(env, token)
    assert expired.status_code == 401
    assert error_of(expired)["code"] == "token_expired"


def test_logout_revokes_the_token(env: Env) -> None:
    token = _token(env, "investigator").json()["access_token"]
    other = _token(env, "investigator").json()["access_token"]
    out = env.api.client.post(f"{API}/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert out.status_code == 204
    revoked = _me(env, token)
    assert revoked.status_code == 401
    assert error_of(revoked)["code"] == "invalid_token"
    assert _me(env, other).status_code == 200  # only that session ended


def test_deactivating_a_user_ends_their_sessions(env: Env) -> None:
    token = _token(env, "coordinator").json()["access_token"]
    uid = env.seed.users["coordinator"]
    version = env.api.get("admin", f"/users/{uid}").headers["ETag"]
    response = env.api.patch(
        "admin",
        f"/users/{uid}",
        {"active": False, "reason": "left the study team"},
        if_match=version,
    )
    assert response.status_code == 200, response.text
    assert _me(env, token).status_code == 401
    assert _token(env, "coordinator").status_code == 401


def test_users_change_their_own_password_with_the_current_one(env: Env) -> None:
    uid = env.seed.users["monitor"]
    wrong = env.api.post(
        "monitor",
        f"/users/{uid}/password",
        {"new_password": "a brand new passphrase 7", "current_password": "wrong"},
    )
    assert wrong.status_code == 401
    ok = env.api.post(
        "monitor",
        f"/users/{uid}/password",
        {"new_password": "a brand new passphrase 7", "current_password": DEMO_PASSWORD},
    )
    assert ok.status_code == 204
    assert _token(env, "monitor").status_code == 401
    assert _token(env, "monitor", "a brand new passphrase 7").status_code == 200


def test_sign_in_input_is_validated(env: Env) -> None:
    response = env.api.client.post(f"{API}/auth/token", json={"username": "coordinator"})
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_request" and error["field"] == "body.password"

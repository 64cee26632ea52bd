"""Signing in: throttling (429 + Retry-After, audited, the same for unknown names), passwords
never logged or echoed, sessions and tokens that expire, security headers and cookies."""

from __future__ import annotations

import itertools
import logging
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from security_helpers import World, web_routes
from sqlalchemy import select, update
from tools.harness.database import DEMO_PASSWORD

from trialdesk import services as sv
from trialdesk.services.accounts import LOCKOUT, MAX_FAILED_LOGINS, NewUserAccount
from trialdesk.store.models import ApiToken, AuditEntry
from trialdesk.store.types import utcnow
from trialdesk.web.routing import SESSION_COOKIE

TOKEN = "/api/v1/auth/token"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_names = itertools.count(1)


def _new_user(world: World, password: str = DEMO_PASSWORD) -> str:
    name = f"throttle{next(_names)}"
    with world.db.session() as session:
        sv.create_user(
            session,
            sv.SYSTEM,
            NewUserAccount(
                username=name,
                full_name="Throttle Test",
                password=password,
                roles=["monitor"],
                site_codes=["APGH"],
            ),
        )
    return name


def _sign_in(world: World, user: str, password: str) -> tuple[int, dict[str, str], str]:
    answer = world.client.post(TOKEN, json={"username": user, "password": password})
    return (
        answer.status_code,
        dict(answer.headers),
        answer.json()["error"]["code"] if (answer.status_code >= 400) else "",
    )


def test_repeated_failures_are_throttled_with_429_and_retry_after(world: World) -> None:
    user = _new_user(world)
    for _ in range(MAX_FAILED_LOGINS):
        status, _, code = _sign_in(world, user, "wrong guess")
        assert (status, code) == (401, "invalid_credentials")
    status, headers, code = _sign_in(world, user, DEMO_PASSWORD)  # even the right password
    assert (status, code) == (429, "account_locked")
    assert 0 < int(headers["retry-after"]) <= LOCKOUT.total_seconds()
    with world.db.session() as session:
        failures = session.scalars(
            select(AuditEntry.changes)
            .where(AuditEntry.action == "login_failed", AuditEntry.changes.contains(f'"{user}"'))
            .order_by(AuditEntry.sequence)  # PostgreSQL returns rows in no promised order
        ).all()
    assert len(failures) == MAX_FAILED_LOGINS + 1
    assert '"why":"account locked"' in failures[-1]


def test_unknown_names_are_throttled_the_same_way(world: World) -> None:
    """Otherwise a 429 would tell an attacker which user names exist."""
    known, unknown = _new_user(world), f"nobody{next(_names)}"
    answers = {
        name: [_sign_in(world, name, "wrong guess") for _ in range(MAX_FAILED_LOGINS + 1)]
        for name in (known, unknown)
    }
    assert [(s, c) for s, _, c in answers[known]] == [(s, c) for s, _, c in answers[unknown]]
    assert answers[unknown][-1][0] == 429 and "retry-after" in answers[unknown][-1][1]


def test_the_lock_runs_out(world: World) -> None:
    user = _new_user(world)
    for _ in range(MAX_FAILED_LOGINS):
        _sign_in(world, user, "wrong guess")
    assert _sign_in(world, user, DEMO_PASSWORD)[0] == 429
    with world.db.session() as session:
        from trialdesk.store.models import User

        session.execute(update(User).where(User.username == user).values(locked_until=utcnow()))
        session.commit()
    assert _sign_in(world, user, DEMO_PASSWORD)[0] == 200


def test_the_login_page_is_throttled_too(world: World) -> None:
    user = _new_user(world)
    with TestClient(world.app) as client:
        for expected in [401] * MAX_FAILED_LOGINS + [429]:
            token = CSRF.search(client.get("/login").text)
            assert token is not None
            answer = client.post(
                "/login",
                data={"username": user, "password": "wrong guess", "csrf_token": token.group(1)},
            )
            assert answer.status_code == expected
        assert int(answer.headers["retry-after"]) > 0
        assert "locked" in answer.text


@pytest.mark.parametrize("where", ["api", "web"])
def test_passwords_are_never_logged_echoed_or_audited(
    world: World, where: str, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    secret = "Tr0ub4dor&3-never-log-me"
    wrong = "Wr0ng-passw0rd-never-log-me"
    user = _new_user(world, password=secret)
    caplog.set_level(logging.DEBUG)  # the strictest level: nothing may log a password
    seen: list[str] = []
    with TestClient(world.app, raise_server_exceptions=False) as client:
        if where == "api":
            for password in (secret, wrong):
                seen.append(client.post(TOKEN, json={"username": user, "password": password}).text)
            # A refused body (username too long) must not echo the password back either.
            seen.append(client.post(TOKEN, json={"username": "u" * 65, "password": secret}).text)
            token = client.post(TOKEN, json={"username": user, "password": secret}).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            seen.append(
                client.post(
                    "/api/v1/participants/1/signatures", json={"password": wrong}, headers=headers
                ).text
            )
        else:
            for password in (wrong, secret):
                csrf = CSRF.search(client.get("/login").text)
                assert csrf is not None
                answer = client.post(
                    "/login",
                    data={"username": user, "password": password, "csrf_token": csrf.group(1)},
                )
                seen.append(answer.text)
    out, err = capfd.readouterr()
    for text in (caplog.text, out, err, *seen):
        assert secret not in text and wrong not in text
    assert caplog.records, "nothing was logged at all: the capture is not working"
    with world.db.session() as session:
        for changes, reason in session.execute(select(AuditEntry.changes, AuditEntry.reason)):
            assert secret not in changes and secret not in (reason or "")
            assert wrong not in changes and wrong not in (reason or "")


def test_expired_and_revoked_tokens_are_refused(world: World) -> None:
    answer = world.client.post(TOKEN, json={"username": "monitor", "password": DEMO_PASSWORD})
    token = answer.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert world.client.get("/api/v1/auth/me", headers=headers).status_code == 200
    with world.db.session() as session:
        session.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == sv.accounts.token_digest(token))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    expired = world.client.get("/api/v1/auth/me", headers=headers)
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "token_expired"
    fresh = world.client.post(TOKEN, json={"username": "monitor", "password": DEMO_PASSWORD})
    headers = {"Authorization": f"Bearer {fresh.json()['access_token']}"}
    assert world.client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert world.client.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_a_short_lived_token_is_issued_on_request(world: World) -> None:
    answer = world.client.post(
        TOKEN, json={"username": "monitor", "password": DEMO_PASSWORD, "lifetime_minutes": 5}
    )
    assert answer.status_code == 200
    assert 240 < answer.json()["expires_in"] <= 300


def test_an_expired_browser_session_goes_back_to_the_login_page(world: World) -> None:
    with TestClient(world.app) as client:
        csrf = CSRF.search(client.get("/login").text)
        assert csrf is not None
        client.post(
            "/login",
            data={"username": "coordinator", "password": DEMO_PASSWORD, "csrf_token": csrf[1]},
        )
        assert client.get("/dashboard", follow_redirects=False).status_code == 200
        session_token = client.cookies[SESSION_COOKIE]
        with world.db.session() as session:
            session.execute(
                update(ApiToken)
                .where(ApiToken.token_hash == sv.accounts.token_digest(session_token))
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
            session.commit()
        answer = client.get("/dashboard", follow_redirects=False)
        assert answer.status_code == 303
        assert (
            answer.headers["location"].startswith("/login")
            and "expired=1" in answer.headers["location"]
        )


HTML_HEADERS = {
    "content-security-policy": "default-src 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "",
    "cache-control": "no-store",
}


def test_every_page_has_the_security_headers(world: World) -> None:
    apgh = world.records["APGH"].ids
    values = {
        "participant_id": apgh["participant"],
        "pid": apgh["participant"],
        "mid": apgh["measurement"],
        "tid": apgh["itt"],
        "rid": apgh["ae"],
        "query_id": apgh["query"],
        "record_id": apgh["measurement"],
        "code": "SCR",
        "table": "measurements",
    }
    with TestClient(world.app, raise_server_exceptions=False) as client:
        pages = ["/login", "/static/app.css", "/no-such-page"]
        csrf = CSRF.search(client.get("/login").text)
        assert csrf is not None
        client.post(
            "/login",
            data={"username": "investigator", "password": DEMO_PASSWORD, "csrf_token": csrf[1]},
        )
        for route in web_routes(world.app):
            if route.method != "GET" or "{action}" in route.path:
                continue
            path = route.path
            for name, value in values.items():
                path = path.replace("{" + name + "}", str(value))
            if "/records/" in path:
                path = re.sub(r"/records/[^/]+/", "/records/adverse_events/", path)
            pages.append(path)
        for path in pages:
            answer = client.get(path, follow_redirects=False)
            assert answer.status_code < 500, f"{path}: {answer.status_code}"
            for name, must_contain in HTML_HEADERS.items():
                assert must_contain in answer.headers.get(name, "-"), f"{path}: {name}"
            csp = answer.headers["content-security-policy"]
            assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp, path
        cookie = answer.headers.get("set-cookie", "")
        assert all(
            "httponly" in c.lower() and "samesite=lax" in c.lower()
            for c in answer.headers.get_list("set-cookie")
        ), cookie

"""Login, sessions, CSRF, security headers and escaping of the web pages (HTTP level)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tools.harness.database import TestDatabase
from web_helpers import SECRET, actor_of, csrf_of, enrolled_participant

from trialdesk.web.csrf import CSRF_COOKIE, CsrfSigner, session_binding
from trialdesk.web.routing import SESSION_COOKIE

Client = Callable[[str], TestClient]


def test_pages_need_a_login_and_come_back_after_it(web_app: FastAPI) -> None:
    with TestClient(web_app) as client:
        response = client.get("/participants?status=enrolled", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/login?next=%2Fparticipants%3Fstatus%3Denrolled"
        page = client.get(response.headers["location"])
        answer = client.post(
            "/login",
            data={
                "username": "coordinator",
                "password": "correct horse battery staple",
                "next": "/participants?status=enrolled",
                "csrf_token": csrf_of(page.text),
            },
            follow_redirects=False,
        )
        assert answer.headers["location"] == "/participants?status=enrolled"


def test_session_cookie_is_httponly_lax_and_expires(web_app: FastAPI) -> None:
    with TestClient(web_app) as client:
        page = client.get("/login")
        answer = client.post(
            "/login",
            data={
                "username": "monitor",
                "password": "correct horse battery staple",
                "csrf_token": csrf_of(page.text),
            },
            follow_redirects=False,
        )
        cookie = next(
            c for c in answer.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
        )
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "expires=" in cookie.lower()
        assert "Path=/" in cookie


def test_wrong_password_keeps_the_username_and_says_why(web_app: FastAPI) -> None:
    with TestClient(web_app) as client:
        page = client.get("/login")
        answer = client.post(
            "/login",
            data={"username": "monitor", "password": "nope-nope", "csrf_token": csrf_of(page.text)},
        )
        assert answer.status_code == 401
        assert "Unknown user name or wrong password." in answer.text
        assert 'value="monitor"' in answer.text


def test_login_never_redirects_off_site(web_app: FastAPI) -> None:
    with TestClient(web_app) as client:
        page = client.get("/login?next=https://evil.example/")
        assert 'name="next" value="/dashboard"' in page.text
        for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
            answer = client.post(
                "/login",
                data={
                    "username": "monitor",
                    "password": "correct horse battery staple",
                    "next": target,
                    "csrf_token": csrf_of(client.get("/login").text),
                },
                follow_redirects=False,
            )
            assert answer.headers["location"] == "/dashboard", target


def test_logout_revokes_the_session(client_for: Client) -> None:
    client = client_for("coordinator")
    token = csrf_of(client.get("/dashboard").text)
    old_cookie = client.cookies.get(SESSION_COOKIE)
    answer = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert answer.headers["location"] == "/login?done=logged-out"
    client.cookies.set(SESSION_COOKIE, old_cookie or "")
    again = client.get("/dashboard", follow_redirects=False)
    assert again.status_code == 303 and "expired=1" in again.headers["location"]


def test_forms_without_a_valid_csrf_token_are_refused(client_for: Client) -> None:
    client = client_for("coordinator")
    good = csrf_of(client.get("/screening/new").text)
    cases = {
        "missing": {},
        "forged": {"csrf_token": good[:-4] + "AAAA"},
        "other browser": {"csrf_token": CsrfSigner(SECRET).token("n", "")},
    }
    for label, data in cases.items():
        answer = client.post("/screening/evaluate", data={**data, "weight": "70"})
        assert answer.status_code == 403, label
        assert "CSRF" in answer.text
    assert client.post("/screening/evaluate", data={"csrf_token": good}).status_code == 200


def test_a_token_from_another_login_session_is_refused(client_for: Client) -> None:
    first = client_for("coordinator")
    nonce = first.cookies.get(CSRF_COOKIE) or ""
    other_session_token = CsrfSigner(SECRET).token(nonce, session_binding("someone else's session"))
    answer = first.post("/screening/evaluate", data={"csrf_token": other_session_token})
    assert answer.status_code == 403
    assert "another login session" in answer.text


def test_tokens_older_than_twelve_hours_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    signer = CsrfSigner("k" * 40)
    token = signer.token("nonce", "")
    assert signer.check("nonce", token, "") is None
    later = time.time() + 12 * 3600 + 5
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: later)
    failure = signer.check("nonce", token, "")
    assert failure is not None and "too old" in failure.reason


def test_html_pages_carry_the_security_headers(client_for: Client) -> None:
    client = client_for("coordinator")
    headers = client.get("/dashboard").headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and "style-src 'self'" in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"


def test_pages_have_no_inline_script_or_style(client_for: Client) -> None:
    client = client_for("coordinator")
    for path in ("/dashboard", "/screening/new", "/participants", "/queries"):
        html = client.get(path).text
        assert "<script>" not in html and " style=" not in html and "<style" not in html, path
        assert 'src="/static/htmx.min.js"' in html


def test_htmx_is_served_locally_with_its_licence(client_for: Client) -> None:
    client = client_for("monitor")
    js = client.get("/static/htmx.min.js")
    assert js.status_code == 200 and js.text.startswith("/*! htmx 2.0.11")
    assert "Zero-Clause BSD" in client.get("/static/htmx.LICENSE.txt").text


def test_user_text_is_escaped(web_database: TestDatabase, client_for: Client) -> None:
    with web_database.session() as session:
        from trialdesk import services as sv

        pid = enrolled_participant(session)
        sv.report_adverse_event(
            session,
            actor_of(session, "coordinator"),
            pid,
            sv.AdverseEventReport(
                term='<script>alert("x")</script> rash',
                onset_date=date.today(),
                grade=1,
                relatedness="possible",
                action_taken="not applicable",
                outcome="recovering/resolving",
            ),
        )
    html = client_for("coordinator").get(f"/participants/{pid}").text
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; rash" in html


def test_a_malformed_address_gets_an_html_page_naming_the_part(client_for: Client) -> None:
    page = client_for("coordinator").get("/participants/abc")
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert "the participant in the address must be a whole number" in page.text
    assert "path." not in page.text and "participant_id" not in page.text

"""The login steps in the web pages (issue #18): the forced change of an initial password, TOTP
enrolment (QR code as inline SVG, recovery codes) and the two-step login, refusals, the idle
timeout — with the test client, and the two-step login in a real browser (Debian's chromium,
Playwright) with codes computed by pyotp. SQLite, and PostgreSQL when configured."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import expect
from sqlalchemy import update
from tools.harness.database import DEMO_PASSWORD, DemoSeed, TestDatabase
from web_helpers import csrf_of

from trialdesk import services as sv
from trialdesk.store.models import ApiToken
from trialdesk.store.types import utcnow


def _policy(db: TestDatabase, **settings: Any) -> None:
    with db.session() as session:
        sv.set_security_policy(
            session, sv.SYSTEM, reason="test", settings=sv.PolicySettings(**settings)
        )


@pytest.fixture()
def client(web_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(web_app, base_url="http://testserver") as test_client:
        yield test_client


def _password(client: TestClient, username: str, password: str = DEMO_PASSWORD) -> Any:
    page = client.get("/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )


def _post(client: TestClient, path: str, page_html: str, **fields: str) -> Any:
    data = {"csrf_token": csrf_of(page_html), "next": "/dashboard", **fields}
    return client.post(path, data=data, follow_redirects=False)


def test_an_initial_password_is_changed_before_any_page(
    client: TestClient, web_database: TestDatabase, seeded: DemoSeed
) -> None:
    with web_database.session() as session:
        sv.set_password(
            session,
            sv.SYSTEM,
            seeded.users["monitor"],
            "temporary river stone",
            reason="new starter",
            temporary=True,
        )
    first = _password(client, "monitor", "temporary river stone")
    assert first.status_code == 303 and first.headers["location"].startswith("/login/step")
    assert "trialdesk_session" not in first.cookies
    page = client.get(first.headers["location"])
    assert "Choose your password" in page.text
    differ = _post(
        client,
        "/login/password",
        page.text,
        new_password="plum orchard by the river",
        confirm_password="plum orchard",
    )
    assert differ.status_code == 422 and "The two new passwords differ." in differ.text
    weak = _post(
        client,
        "/login/password",
        page.text,
        new_password="monitor password",
        confirm_password="monitor password",
    )
    assert weak.status_code == 422 and "must not contain the user name" in weak.text
    done = _post(
        client,
        "/login/password",
        page.text,
        new_password="plum orchard by the river",
        confirm_password="plum orchard by the river",
    )
    assert done.status_code == 303 and done.headers["location"] == "/dashboard"
    assert client.get("/dashboard").status_code == 200


def test_enrolment_page_shows_a_qr_code_and_refuses_a_wrong_code(
    client: TestClient, web_database: TestDatabase, seeded: DemoSeed
) -> None:
    _policy(web_database, totp_roles=["coordinator"])
    first = _password(client, "coordinator")
    page = client.get(first.headers["location"])
    assert "Set up your authenticator" in page.text and "<svg" in page.text
    assert "<script" not in page.text.split("<main", 1)[-1]
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.text)
    assert secret
    wrong = _post(client, "/login/enrol", page.text, code="12345")
    assert wrong.status_code == 401 and "wrong or has expired" in wrong.text
    assert secret.group(1) in wrong.text  # the same key again, not a new one
    assert client.get("/dashboard", follow_redirects=False).status_code == 303
    done = _post(client, "/login/enrol", page.text, code=pyotp.TOTP(secret.group(1)).now())
    assert done.status_code == 200 and done.text.count("<li><code>") == 10
    assert client.get("/dashboard").status_code == 200


def test_unknown_names_and_wrong_passwords_get_one_message(
    client: TestClient, seeded: DemoSeed
) -> None:
    unknown = _password(client, "nobody", "some long password")
    wrong = _password(client, "coordinator", "some long password")
    assert unknown.status_code == wrong.status_code == 401
    assert "Unknown user name or wrong password." in unknown.text
    assert "Unknown user name or wrong password." in wrong.text


def test_an_idle_session_goes_back_to_the_login_page(
    client: TestClient, web_database: TestDatabase, seeded: DemoSeed
) -> None:
    _policy(web_database, idle_timeout_minutes=10)
    assert _password(client, "coordinator").status_code == 303
    assert client.get("/dashboard").status_code == 200
    with web_database.engine.begin() as connection:  # 11 minutes without a request
        connection.execute(
            update(ApiToken).values(
                created_at=utcnow() - timedelta(minutes=11),
                last_used_at=utcnow() - timedelta(minutes=11),
            )
        )
    idle = client.get("/dashboard", follow_redirects=False)
    assert idle.status_code == 303 and "expired=1" in idle.headers["location"]


# --- in a real browser -------------------------------------------------------------------------


@pytest.fixture()
def live_login_url(live_url: str) -> str:
    return live_url  # the one live server of the browser tests (browser_fixtures)


@pytest.fixture()
def browser(chromium: Any) -> Any:
    return chromium  # Playwright's sync API allows one instance per process: the shared one


@pytest.mark.browser
def test_two_step_login_in_the_browser_with_a_totp_code(
    browser: Any, live_login_url: str, web_database: TestDatabase, seeded: DemoSeed
) -> None:
    _policy(web_database, totp_roles=["investigator"])
    context = browser.new_context(base_url=live_login_url)
    context.set_default_timeout(10_000)
    refused: list[str] = []
    page = context.new_page()
    page.on("console", lambda msg: refused.append(msg.text))
    try:
        page.goto("/login")
        page.get_by_label("User name").fill("investigator")
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Set up your authenticator")).to_be_visible()
        expect(page.get_by_role("img", name="QR code of the authenticator key")).to_be_visible()
        secret = page.locator("#totp-secret").inner_text().strip()
        totp = pyotp.TOTP(secret)
        page.get_by_label("Authentication code").fill(totp.now())
        page.get_by_role("button", name="Confirm").click()
        expect(page.locator("#recovery-codes li")).to_have_count(10)
        page.get_by_role("link", name="Continue").click()
        expect(page).to_have_url(re.compile(r"/dashboard$"))
        page.get_by_role("button", name="Log out").click()

        page.get_by_label("User name").fill("investigator")
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Authentication code")).to_be_visible()
        page.get_by_label("Authentication code").fill(
            "000000" if totp.now() != "000000" else "111111"
        )
        page.get_by_role("button", name="Verify").click()
        expect(page.get_by_role("alert")).to_contain_text("wrong or has expired")
        # the enrolment used this time step: the next one's code, inside the ±1 step window
        page.get_by_label("Authentication code").fill(totp.at(utcnow() + timedelta(seconds=30)))
        page.get_by_role("button", name="Verify").click()
        expect(page).to_have_url(re.compile(r"/dashboard$"))
        assert not [m for m in refused if "Content Security Policy" in m], refused
    finally:
        context.close()

"""The browser fixtures shared by the browser test modules (registered once, by conftest, so
that one Playwright and one live server serve every module): the app served by uvicorn, Debian's
chromium, and ``open_page(username)`` giving a logged-in page in a browser context of its own
(two users = two contexts, two logins)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from playwright.sync_api import expect, sync_playwright
from tools.harness.database import DEMO_PASSWORD, DemoSeed
from tools.harness.live import LiveServer, launch_chromium
from web_helpers import csrf_of

DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="session")
def live_url(shared_app: FastAPI) -> Iterator[str]:
    with LiveServer(shared_app) as server:
        yield server.url


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture()
def open_page(chromium: Any, live_url: str, seeded: DemoSeed) -> Iterator[Any]:
    """``open_page(username, viewport)`` → a logged-in page in its own browser context."""
    contexts: list[Any] = []

    def make(username: str | None, viewport: dict[str, int] = DESKTOP) -> Any:
        context = chromium.new_context(base_url=live_url, viewport=viewport)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.console_messages = []
        page.on("console", lambda msg: page.console_messages.append(msg.text))
        if username:
            log_in(page, username)
        return page

    yield make
    for context in contexts:
        context.close()


def log_in(page: Any, username: str) -> None:
    """Log `username` in through the login form's own requests, sent by the page's browser
    context (its cookie jar), then open the dashboard.

    The form is posted as the browser would post it (its CSRF token, the double-submit
    cookie), but without chromium drawing the login page: every browser test logs in, and
    chromium's drawing is most of their time. Typing into the form is tested where the login
    is the subject (test_web_browser, test_web_login_steps)."""
    request = page.context.request
    form = request.get("/login")
    assert form.ok, f"GET /login: {form.status}"
    answer = request.post(
        "/login",
        form={"csrf_token": csrf_of(form.text()), "next": "", "username": username,
              "password": DEMO_PASSWORD},
        max_redirects=0,
    )  # fmt: skip
    assert answer.status == 303 and answer.headers["location"].endswith("/dashboard"), (
        f"logging in as {username}: {answer.status} {answer.headers.get('location')}"
    )
    page.goto("/dashboard")
    expect(page).to_have_url(re.compile(r"/dashboard$"))

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
    page.goto("/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))

"""Issue 18 in a real browser (Chromium): the administrator follows the "Users" link, unlocks a
locked coordinator with a reason and resets a password; a coordinator sees no such link; a
failed audit verification is shown in red at the top of the dashboard."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from playwright.sync_api import expect
from sqlalchemy import update
from tools.harness.database import DemoSeed, TestDatabase, execute_as_dba

from trialdesk.store.anchor import AnchorConfig, anchor_config, generate_key, write_checkpoint
from trialdesk.store.models import User
from trialdesk.store.types import utcnow

pytestmark = [pytest.mark.browser]
BAD_RED = "rgb(163, 34, 27)"  # --bad in app.css


def _use_anchor(app: FastAPI, config: AnchorConfig, request: pytest.FixtureRequest) -> None:
    """The app's audit anchor replaced for one test (pytest's monkeypatch would delete the
    attribute of Starlette's `State` on undo instead of restoring it)."""
    before = app.state.anchor
    app.state.anchor = config

    def restore() -> None:
        app.state.anchor = before

    request.addfinalizer(restore)


def test_the_administrator_unlocks_and_resets_from_the_user_list(
    open_page: Any, web_database: TestDatabase, seeded: DemoSeed
) -> None:
    with web_database.session() as session:
        session.execute(
            update(User)
            .where(User.id == seeded.users["coordinator"])
            .values(failed_logins=5, locked_until=utcnow() + timedelta(minutes=15))
        )
        session.commit()
    coordinator = open_page("coordinator2")
    expect(coordinator.get_by_role("link", name="Users")).to_have_count(0)
    page = open_page("admin")
    page.get_by_role("link", name="Users").click()
    expect(page).to_have_url(re.compile(r"/admin/users$"))
    row = page.locator("#user-coordinator")
    expect(row).to_contain_text("locked")
    row.get_by_role("button", name="Unlock coordinator").click()
    expect(page.locator(".error[role=alert]")).to_contain_text("reason")  # none given
    row = page.locator("#user-coordinator")
    row.get_by_label("Reason for unlocking coordinator").fill("identity checked by phone")
    row.get_by_role("button", name="Unlock coordinator").click()
    expect(page.locator(".flash")).to_have_text("coordinator unlocked.")
    expect(page.locator("#user-coordinator")).not_to_contain_text("locked")
    monitor = page.locator("#user-monitor")
    monitor.get_by_label("Reason for resetting the password of monitor").fill("forgotten")
    monitor.get_by_role("button", name="Reset password of monitor").click()
    shown = page.locator("#temporary-password")
    expect(shown).to_contain_text("Temporary password for monitor")
    assert len(shown.locator("code.secret").inner_text()) >= 20
    expect(page.locator("#user-monitor")).to_contain_text("must change password")


def test_a_failed_verification_is_red_on_the_dashboard(
    open_page: Any,
    shared_app: FastAPI,
    web_database: TestDatabase,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    config = anchor_config(tmp_path / "anchor")
    generate_key(config)
    _use_anchor(shared_app, config, request)
    with web_database.session() as session:
        write_checkpoint(session, config, reason="test", database="test")
        session.rollback()
    execute_as_dba(web_database, "UPDATE audit_entries SET reason = 'edited' WHERE sequence = 2")
    page = open_page("investigator")
    expect(page.locator("#audit-anchored")).to_contain_text("anchored")
    page.get_by_role("button", name="Verify the audit trail now").click()
    alert = page.locator("#audit-failure")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("The last verification FAILED")
    expect(alert).to_contain_text("first differing entry #2")
    assert alert.evaluate("e => getComputedStyle(e).borderTopColor") == BAD_RED
    top = page.locator("main h1").bounding_box()
    box = alert.bounding_box()
    assert top is not None and box is not None and box["y"] < 400  # at the top, not below

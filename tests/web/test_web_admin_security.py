"""Issue 18 in the browser's words, over HTTP (SQLite and PostgreSQL): the administrator's user
list (unlock with a reason, reset a password, disable and enable), the security policy pages,
the audit trail's state on the dashboard with its failure in red, password ageing at sign-in,
and the access matrix: non-administrators get 403 and never see the links."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select, update
from tools.harness.database import DEMO_PASSWORD, DemoSeed, TestDatabase, execute_as_dba
from web_helpers import csrf_of

from trialdesk import services as sv
from trialdesk.store.anchor import AnchorConfig, anchor_config, generate_key, write_checkpoint
from trialdesk.store.models import AuditEntry, User
from trialdesk.store.types import utcnow

Client = Callable[[str], TestClient]
ADMIN_PAGES = ("/admin/users", "/admin/security-policy")
NON_ADMINS = ("investigator", "coordinator", "monitor", "statistician")


def _post(
    client: TestClient, path: str, data: dict[str, str], page: str = "/admin/users"
) -> Response:
    token = csrf_of(client.get(page).text)
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)


def _fail_logins(web_app: FastAPI, username: str, times: int) -> None:
    with TestClient(web_app) as client:
        for _ in range(times):
            page = client.get("/login")
            client.post(
                "/login",
                data={"username": username, "password": "wrong", "csrf_token": csrf_of(page.text)},
            )


def _sign_in(web_app: FastAPI, username: str, password: str) -> tuple[TestClient, str]:
    client = TestClient(web_app)
    page = client.get("/login")
    answer = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    return client, answer.headers.get("location", f"status {answer.status_code}")


def _use_anchor(app: FastAPI, config: AnchorConfig, request: pytest.FixtureRequest) -> None:
    """The app's audit anchor replaced for one test (pytest's monkeypatch would delete the
    attribute of Starlette's `State` on undo instead of restoring it)."""
    before = app.state.anchor
    app.state.anchor = config

    def restore() -> None:
        app.state.anchor = before

    request.addfinalizer(restore)


@pytest.mark.parametrize("username", NON_ADMINS)
def test_non_administrators_get_403_and_no_links(
    client_for: Client, seeded: DemoSeed, username: str
) -> None:
    client = client_for(username)
    dashboard = client.get("/dashboard").text
    for path in ADMIN_PAGES:
        assert client.get(path).status_code == 403
        assert f'href="{path}"' not in dashboard
    token = csrf_of(dashboard)
    target = seeded.users["coordinator2"]
    for path, data in (
        (f"/admin/users/{target}/unlock", {"reason": "x"}),
        (f"/admin/users/{target}/reset-password", {"reason": "x"}),
        (f"/admin/users/{target}/active", {"reason": "x", "version": "1", "active": "no"}),
        ("/admin/security-policy", {"reason": "x", "lockout_threshold": "1"}),
    ):
        refused = client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
        assert refused.status_code == 403, (path, refused.status_code)


def test_an_administrator_sees_the_links_and_pages(client_for: Client) -> None:
    admin = client_for("admin")
    dashboard = admin.get("/dashboard").text
    for path in ADMIN_PAGES:
        assert f'href="{path}"' in dashboard
        assert admin.get(path).status_code == 200


def test_unlock_needs_a_reason_and_is_audited(
    web_app: FastAPI, client_for: Client, seeded: DemoSeed, web_database: TestDatabase
) -> None:
    _fail_logins(web_app, "coordinator", 5)
    admin = client_for("admin")
    listing = admin.get("/admin/users").text
    row = listing[listing.index('id="user-coordinator"') :].split("</tr>")[0]
    assert "locked" in row and "Unlock coordinator" in row
    uid = seeded.users["coordinator"]
    blank = _post(admin, f"/admin/users/{uid}/unlock", {"reason": "  "})
    assert blank.status_code == 422 and "reason" in blank.text.lower()
    done = _post(admin, f"/admin/users/{uid}/unlock", {"reason": "identity checked by phone"})
    assert done.status_code == 303
    assert "coordinator unlocked." in admin.get(done.headers["location"]).text
    with web_database.session() as session:
        reasons = session.scalars(
            select(AuditEntry.reason).where(
                AuditEntry.table_name == "users", AuditEntry.record_id == str(uid)
            )
        ).all()
    assert "unlock: identity checked by phone" in reasons
    assert _sign_in(web_app, "coordinator", DEMO_PASSWORD)[1] == "/dashboard"


def test_a_reset_password_is_shown_once_and_must_be_changed(
    web_app: FastAPI, client_for: Client, seeded: DemoSeed
) -> None:
    admin = client_for("admin")
    uid = seeded.users["monitor"]
    answer = _post(admin, f"/admin/users/{uid}/reset-password", {"reason": "forgotten"})
    assert answer.status_code == 200
    match = re.search(r'<code class="secret">([^<]+)</code>', answer.text)
    assert match and "Temporary password for monitor" in answer.text
    assert match.group(1) not in admin.get("/admin/users").text  # shown that once only
    assert _sign_in(web_app, "monitor", DEMO_PASSWORD)[1] == "status 401"  # the old one is gone
    client, where = _sign_in(web_app, "monitor", match.group(1))
    assert where.startswith("/login/step")
    step = client.get(where).text
    assert "set by an administrator" in step and "Choose your password" in step


def test_disable_and_enable_with_a_reason_but_never_oneself(
    web_app: FastAPI, client_for: Client, seeded: DemoSeed
) -> None:
    admin = client_for("admin")
    uid = seeded.users["statistician"]
    off = _post(
        admin, f"/admin/users/{uid}/active", {"reason": "left", "version": "1", "active": "no"}
    )
    assert off.status_code == 303
    client, where = _sign_in(web_app, "statistician", DEMO_PASSWORD)
    assert where == "status 401"
    listing = admin.get("/admin/users").text
    version = re.search(
        rf'action="/admin/users/{uid}/active".*?name="version" value="(\d+)"', listing, re.S
    )
    assert version and "Enable statistician" in listing
    on = _post(
        admin,
        f"/admin/users/{uid}/active",
        {"reason": "back from leave", "version": version.group(1), "active": "yes"},
    )
    assert on.status_code == 303
    assert _sign_in(web_app, "statistician", DEMO_PASSWORD)[1] == "/dashboard"
    assert "Disable admin" not in listing  # no button to disable oneself …
    me = seeded.users["admin"]
    own = _post(admin, f"/admin/users/{me}/active", {"reason": "x", "version": "1", "active": "no"})
    assert own.status_code == 422 and "cannot disable your own account" in own.text  # … nor a way


def test_the_security_policy_is_edited_study_wide_and_per_site(
    client_for: Client, web_database: TestDatabase
) -> None:
    admin = client_for("admin")
    page = admin.get("/admin/security-policy").text
    assert "Study-wide" in page and "Site PUMC" in page and "Maximum password age" in page
    form = {
        "site_code": "",
        "totp_roles": "admin",
        "lockout_threshold": "5",
        "lockout_minutes": "15",
        "idle_timeout_minutes": "30",
        "min_password_length": "12",
        "password_history": "5",
        "max_password_age_days": "90",
        "password_expiry_warning_days": "14",
        "reason": "SOP-IT-07 v3",
    }
    saved = _post(admin, "/admin/security-policy", form, "/admin/security-policy")
    assert saved.status_code == 303
    bad = _post(
        admin,
        "/admin/security-policy",
        {**form, "site_code": "PUMC", "max_password_age_days": "9999", "reason": "site SOP"},
        "/admin/security-policy",
    )
    assert bad.status_code == 422
    assert "Maximum password age (days; 0 = no ageing): must be a whole number from 0 to 1095" in (
        bad.text
    )
    assert 'value="9999"' in bad.text  # what was typed comes back
    site = _post(
        admin,
        "/admin/security-policy",
        {**form, "site_code": "PUMC", "max_password_age_days": "60", "reason": "site SOP"},
        "/admin/security-policy",
    )
    assert site.status_code == 303
    with web_database.session() as session:
        study = sv.get_security_policy(session, sv.SYSTEM)
        pumc = sv.get_security_policy(session, sv.SYSTEM, "PUMC")
    assert (study.max_password_age_days, study.totp_roles) == (90, ["admin"])
    assert pumc.max_password_age_days == 60 and pumc.stored


def test_an_expired_password_is_changed_at_sign_in_and_a_warning_precedes_it(
    web_app: FastAPI, seeded: DemoSeed, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        sv.set_security_policy(
            session,
            sv.SYSTEM,
            reason="SOP",
            settings=sv.PolicySettings(max_password_age_days=30, password_expiry_warning_days=7),
        )
        for name, days in (("coordinator", 31), ("monitor", 25)):
            session.execute(
                update(User)
                .where(User.id == seeded.users[name])
                .values(password_changed_at=utcnow() - timedelta(days=days))
            )
        session.commit()
    client, where = _sign_in(web_app, "coordinator", DEMO_PASSWORD)
    assert where.startswith("/login/step")
    step = client.get(where).text
    assert "more than 30 days old" in step
    changed = client.post(
        "/login/password",
        data={
            "new_password": "granite lantern orchard seven",
            "confirm_password": "granite lantern orchard seven",
            "csrf_token": csrf_of(step),
        },
        follow_redirects=False,
    )
    assert changed.headers["location"] == "/dashboard"
    warned, where = _sign_in(web_app, "monitor", DEMO_PASSWORD)
    assert where.startswith("/dashboard?note=")
    assert "Your password expires in 4 days" in warned.get(where).text


def test_the_dashboard_shows_the_audit_state_and_a_failure_in_red(
    client_for: Client, web_app: FastAPI, web_database: TestDatabase, tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    admin = client_for("admin")
    assert "NOT anchored" in admin.get("/dashboard").text  # no key configured
    assert "audit-state" not in client_for("coordinator").get("/dashboard").text
    config = anchor_config(tmp_path / "anchor")
    generate_key(config)
    _use_anchor(web_app, config, request)
    with web_database.session() as session:
        write_checkpoint(session, config, reason="test", database="test")
        session.rollback()
    verified = _post(admin, "/audit/verify", {}, "/dashboard")
    page = admin.get(verified.headers["location"]).text
    assert "Audit trail verified" in page and 'id="audit-failure"' not in page
    assert "anchored" in page and "never recorded" not in page
    with web_database.session() as session:
        last = session.scalars(select(AuditEntry).order_by(AuditEntry.sequence.desc())).first()
        assert last is not None
        sequence = last.sequence
    execute_as_dba(
        web_database, f"UPDATE audit_entries SET reason = 'edited' WHERE sequence = {sequence}"
    )
    investigator = client_for("investigator")
    failed = _post(investigator, "/audit/verify", {}, "/dashboard")
    assert failed.headers["location"] == "/dashboard#audit-failure"
    for client in (investigator, admin):
        shown = client.get("/dashboard").text
        alert = shown[shown.index('id="audit-failure"') :].split("</div>")[0]
        assert "The last verification FAILED" in alert and "by investigator" in alert
        assert f"first differing entry #{sequence}" in alert

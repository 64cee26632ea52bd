"""Access control over every route the app answers (read from the app, so a new endpoint is
covered without touching this file; an endpoint with a path parameter this file cannot place
makes the test fail until it is described in `SEGMENT_RECORD`).

* no token → 401 on every API endpoint but sign-in; no session → the login page on every page;
* every role × another site's record id → 404, exactly as for an id that does not exist
  (existence is not revealed), and the attempt is in the audit trail;
* every role × every GET endpoint of its own site → 200, 403 or (an administrator, who belongs to
  no site) 404, never 5xx, and no answer carries the other site's participant;
* the web pages: another site's record → 404, audited.

The expected status of each role on each endpoint of its own site is spelled out case by case in
``tests/api/test_api_access_matrix.py``; this file guarantees the properties that must hold for
all endpoints, present and future.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from security_helpers import (
    ROLES,
    SEGMENT_RECORD,
    SITE_MARKER,
    RouteInfo,
    World,
    api_routes,
    fhir_routes,
    request_body,
    web_routes,
)
from sqlalchemy import func, select

from trialdesk.store.models import AuditEntry

PARAM = re.compile(r"\{([^}]+)\}")
# Accounts, site settings and data locks (study-wide, lifted by administrators only).
NOT_SITE_DATA = {"user_id", "site_id", "lock_id"}
MISSING_ID = 987_654_321
# Data management is study-wide: the administrator (who belongs to no site) locks any site's
# casebook and lists the locks by study id (services/actor.py, ROLE_PERMISSIONS). Names and
# clinical data stay out of reach: the marker name must still never appear.
ADMIN_STUDY_WIDE = {
    ("POST", "/api/v1/participants/{participant_id}/locks"),
    ("GET", "/api/v1/locks"),
}


def _target(world: World, route: RouteInfo, site: str, missing: bool = False) -> Any:
    """(path, If-Match version, the record id the refusal is about) for a site's record, or
    None when the route is not about a site's record."""
    records = world.records[site]
    segments = route.path.split("/")
    path, about, version = route.path, None, None
    for name in PARAM.findall(route.path):
        index = segments.index("{" + name + "}")
        before = segments[index - 1]
        if name in NOT_SITE_DATA:
            return None
        if name == "study_id":
            value: Any = "APGH-999" if missing else records.study_id
            record = "participant"
        elif name == "table":
            value, record = "measurements", None
        elif before in SEGMENT_RECORD or (name == "record_id" and segments[index - 2] == "audit"):
            record = SEGMENT_RECORD.get(before, "measurement")
            value = MISSING_ID if missing else records.ids[record]
        else:
            raise AssertionError(
                f"{route.method} {route.path}: cannot tell which record {{{name}}} names; add "
                "its path segment to SEGMENT_RECORD in security_helpers.py"
            )
        if record is not None:
            about, version = value, records.versions[record]
        path = path.replace("{" + name + "}", str(value))
    return path, version, about


def _site_routes(world: World) -> list[RouteInfo]:
    return [r for r in api_routes(world.app) if PARAM.search(r.path) and _target(world, r, "PUMC")]


# The steps of signing in: they take a password or a login challenge instead of a token.
SIGN_IN_STEPS = {
    "/api/v1/auth/token",
    "/api/v1/auth/token/code",
    "/api/v1/auth/totp/enrolment",
    "/api/v1/auth/totp/enrolment/confirm",
    "/api/v1/auth/password-change",
}


def test_every_api_endpoint_needs_a_token(world: World) -> None:
    checked = 0
    for route in api_routes(world.app):
        if route.path in SIGN_IN_STEPS:
            continue
        path = PARAM.sub("1", route.path)
        answer = world.client.request(route.method, path, json={})
        assert answer.status_code == 401, f"{route.method} {route.path}: {answer.status_code}"
        assert answer.json()["error"]["code"] == "not_authenticated"
        checked += 1
    assert checked >= 60, "fewer endpoints than the API has: route discovery is broken"


# The CapabilityStatement holds no study data; FHIR servers publish it without a token
# (FHIR R4B RESTful API, "capabilities"), so that a client can discover how to sign in.
FHIR_PUBLIC = {"/fhir/R4B/metadata"}


def test_every_fhir_endpoint_but_the_capability_statement_needs_a_token(world: World) -> None:
    routes = fhir_routes(world.app)
    assert {r.path for r in routes} >= FHIR_PUBLIC, "FHIR route discovery is broken"
    for route in routes:
        path = PARAM.sub("Patient", route.path, count=1)
        path = PARAM.sub("1", path)
        answer = world.client.request(route.method, path)
        where = f"{route.method} {route.path}"
        if route.path in FHIR_PUBLIC:
            assert answer.status_code == 200, where
            assert answer.json()["resourceType"] == "CapabilityStatement", where
            continue
        if route.method != "GET":  # a read-only server: no create, update or delete
            assert answer.status_code in (401, 405), f"{where}: {answer.status_code}"
            continue
        assert answer.status_code == 401, f"{where}: {answer.status_code}"
        assert answer.json()["resourceType"] == "OperationOutcome", where
        assert answer.headers["www-authenticate"].startswith("Bearer"), where


def test_the_redcap_api_needs_a_redcap_token(world: World) -> None:
    """REDCap answers a missing or unknown token with 403 and its error text ([@REDCap] API)."""
    for data in ({"content": "record", "format": "json"},
                 {"token": "0" * 32, "content": "record", "format": "json"},
                 {"token": world.auth("investigator")["Authorization"].split()[1],
                  "content": "record", "format": "json"}):  # fmt: skip
        answer = world.client.post("/redcap/api/", data=data)
        assert answer.status_code == 403, f"{sorted(data)}: {answer.status_code}"
        assert "token" in answer.json()["error"].lower()


def test_sign_in_steps_need_a_live_challenge(world: World) -> None:
    for path in sorted(SIGN_IN_STEPS - {"/api/v1/auth/token", "/api/v1/auth/password-change"}):
        answer = world.client.post(path, json={"challenge": "made-up", "code": "123456"})
        if path.endswith("/enrolment"):
            answer = world.client.post(path, json={"challenge": "made-up"})
        assert answer.status_code == 401, f"{path}: {answer.status_code}"
        assert answer.json()["error"]["code"] == "login_step_unknown"


def test_every_page_needs_a_session(world: World) -> None:
    from fastapi.testclient import TestClient

    with TestClient(world.app, raise_server_exceptions=False) as client:
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        for route in web_routes(world.app):
            if route.path in ("/", "/login"):
                continue
            path = PARAM.sub("1", route.path)
            data = {"csrf_token": token.group(1)} if route.method == "POST" else None
            answer = client.request(route.method, path, data=data, follow_redirects=False)
            where = f"{route.method} {route.path}"
            assert answer.status_code == 303, f"{where}: {answer.status_code}"
            location = answer.headers["location"]
            if not location.startswith("/login"):  # an alias of another page: that one asks
                location = client.get(location, follow_redirects=False).headers["location"]
            assert location.startswith("/login"), where


def _refusals(world: World, user_id: int, after: int) -> list[AuditEntry]:
    with world.db.session() as session:
        return list(
            session.scalars(
                select(AuditEntry).where(
                    AuditEntry.sequence > after,
                    AuditEntry.user_id == user_id,
                    AuditEntry.action == "refuse",
                )
            )
        )


def _last_sequence(world: World) -> int:
    with world.db.session() as session:
        return int(session.scalar(select(func.max(AuditEntry.sequence))) or 0)


@pytest.mark.parametrize("role", ROLES)
def test_another_sites_records_are_not_found_and_the_attempt_is_audited(
    world: World, role: str
) -> None:
    user_id = world.seed.users[role]
    routes = _site_routes(world)
    assert len(routes) >= 50, "fewer site-bound endpoints than the API has"
    for route in routes:
        path, version, about = _target(world, route, "PUMC")
        body = request_body(world.spec, route.path, route.method)
        headers = {**world.auth(role), **({"If-Match": f'"{version}"'} if version else {})}
        before = _last_sequence(world)
        answer = world.client.request(route.method, path, json=body, headers=headers)
        where = f"{role}: {route.method} {path}"
        if role == "admin" and (route.method, route.path) in ADMIN_STUDY_WIDE:
            assert answer.status_code == 201, f"{where}: {answer.status_code} {answer.text[:300]}"
            assert SITE_MARKER["PUMC"] not in answer.text, where
            continue
        assert answer.status_code in (403, 404), (
            f"{where}: {answer.status_code} {answer.text[:300]}"
        )
        if answer.status_code == 403:
            # Refused for the role before the record is even looked at: the same at the own site.
            own_path, own_version, _ = _target(world, route, "APGH")
            own = world.client.request(
                route.method,
                own_path,
                json=body,
                headers={**headers, **({"If-Match": f'"{own_version}"'} if own_version else {})},
            )
            assert own.status_code == 403, f"{where}: 403 here but {own.status_code} at own site"
        refused = _refusals(world, user_id, before)
        assert refused, f"{where}: the refused attempt is not in the audit trail"
        assert any(e.record_id == str(about) or e.participant_id for e in refused), where
        # A record that does not exist at all gets the same answer: nothing tells them apart.
        missing_path, _, _ = _target(world, route, "PUMC", missing=True)
        missing = world.client.request(route.method, missing_path, json=body, headers=headers)
        assert missing.status_code == answer.status_code, f"{where} (missing id): {missing}"
        assert missing.json()["error"]["code"] == answer.json()["error"]["code"], where
        assert SITE_MARKER["PUMC"] not in answer.text


@pytest.mark.parametrize("role", ROLES)
def test_reads_at_the_own_site_never_fail_and_never_show_the_other_site(
    world: World, role: str
) -> None:
    other = world.records["PUMC"]
    allowed = {200, 403} | ({404} if role == "admin" else set())
    for route in api_routes(world.app):
        if route.method != "GET":
            continue
        target = _target(world, route, "APGH") if PARAM.search(route.path) else (route.path,)
        if target is None:  # accounts: the user's own account id
            target = (route.path.replace("{user_id}", str(world.seed.users[role])),)
        answer = world.client.get(target[0], headers=world.auth(role))
        where = f"{role}: GET {target[0]}"
        assert answer.status_code in allowed, f"{where}: {answer.status_code} {answer.text[:300]}"
        assert SITE_MARKER["PUMC"] not in answer.text, f"{where} shows the other site"
        if role == "admin" and ("GET", route.path) in ADMIN_STUDY_WIDE:
            continue
        assert other.study_id not in answer.text, f"{where} shows the other site"
    # Filtering a list by the other site's participant is refused like reading it.
    for path in ("/measurements", "/adverse-events", "/deviations", "/queries"):
        answer = world.client.get(
            f"/api/v1{path}",
            params={"participant_id": other.ids["participant"]},
            headers=world.auth(role),
        )
        expected = {404} if role != "admin" else {403, 404}
        assert answer.status_code in expected, f"{role}: {path}: {answer.status_code}"


def _web_target(world: World, route: RouteInfo) -> str | None:
    records = world.records["PUMC"]
    path = route.path
    substitutes = {
        "participant_id": records.ids["participant"],
        "pid": records.ids["participant"],
        "mid": records.ids["measurement"],
        "tid": records.ids["itt"],
        "rid": records.ids["ae"],
        "query_id": records.ids["query"],
        "consent_id": records.ids["consent"],
        "did": records.ids["deviation"],
        "code": "SCR",
        "table": "adverse_events",
        "record_id": records.ids["measurement"],
        "action": "answer",
    }
    if set(PARAM.findall(path)) & NOT_SITE_DATA:
        return None  # site settings: administrators only (tests/web/test_web_site_log_browser.py)
    for name in PARAM.findall(path):
        if name not in substitutes:
            raise AssertionError(f"{route.path}: add {{{name}}} to the web substitutes")
        path = path.replace("{" + name + "}", str(substitutes[name]))
    if path.startswith("/audit/"):
        path = f"/audit/measurements/{records.ids['measurement']}"
    if "/records/" in path:
        path = re.sub(r"/records/[^/]+/", "/records/adverse_events/", path)
    return path if PARAM.search(route.path) else None


@pytest.mark.parametrize("role", ["investigator", "coordinator", "monitor"])
def test_web_pages_of_another_site_are_not_found(world: World, role: str) -> None:
    from fastapi.testclient import TestClient

    with TestClient(world.app, raise_server_exceptions=False) as client:
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        signed = client.post(
            "/login",
            data={
                "username": role,
                "password": "correct horse battery staple",
                "csrf_token": token.group(1),
            },
            follow_redirects=False,
        )
        assert signed.status_code == 303
        form_token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/dashboard").text)
        assert form_token is not None
        for route in web_routes(world.app):
            path = _web_target(world, route)
            if path is None:
                continue
            before = _last_sequence(world)
            data = {"csrf_token": form_token.group(1)} if route.method == "POST" else None
            answer = client.request(route.method, path, data=data, follow_redirects=False)
            if answer.status_code == 303 and route.method == "GET":  # an alias of another page
                answer = client.get(answer.headers["location"], follow_redirects=False)
            where = f"{role}: {route.method} {path}"
            assert answer.status_code == 404, f"{where}: {answer.status_code}"
            assert SITE_MARKER["PUMC"] not in answer.text, where
            assert _refusals(world, world.seed.users[role], before), f"{where}: not audited"

"""Inputs the database cannot hold are refused as bad requests (422), never a 500: NUL characters
(PostgreSQL refuses them in text) and numbers beyond the database's integers (ids, offsets).
Both were found by the schemathesis fuzz test."""

from __future__ import annotations

import pytest
from security_helpers import World

TOKEN = "/api/v1/auth/token"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "field"),
    [
        ("POST", TOKEN, {"json": {"username": "a\x00b", "password": "x"}}, "body.username"),
        ("GET", "/api/v1/participants", {"params": {"site_code": "AP\x00GH"}}, "query.site_code"),
        ("GET", "/api/v1/participants/by-study-id/APGH%00-001", {}, "path"),
        ("POST", "/login", {"data": {"username": "x\x00", "password": "y"}}, "form.username"),
    ],
)
def test_nul_characters_are_refused_before_the_database(
    world: World, method: str, path: str, kwargs: dict[str, object], field: str
) -> None:
    """PostgreSQL cannot store U+0000 (it was a 500); it is refused on every backend alike."""
    answer = world.client.request(method, path, headers=world.auth("coordinator"), **kwargs)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == {
        "code": "nul_character",
        "field": field,
        "message": f"{field}: contains a NUL character (U+0000), which no value may contain",
        "details": [],
    }
    assert answer.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/users/2147483648",
        "/api/v1/measurements/99999999999999999999",
        "/api/v1/participants/9223372036854775808",
    ],
)
def test_ids_beyond_the_database_integers_are_not_a_server_error(world: World, path: str) -> None:
    role = "admin" if "/users/" in path else "coordinator"
    answer = world.client.get(path, headers=world.auth(role))
    assert answer.status_code in (404, 422), answer.text
    assert answer.json()["error"]["code"] in ("not_found", "out_of_range", "invalid_request")


def test_an_offset_beyond_the_database_integers_is_refused(world: World) -> None:
    answer = world.client.get(
        "/api/v1/users", params={"offset": 2**63}, headers=world.auth("admin")
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "query.offset"

"""One error body for every refusal; bad input never causes a 5xx; security headers on every
answer."""

from __future__ import annotations

from typing import Any

import pytest
from api_helpers import API, Env, day, error_of
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tools.harness.database import TestDatabase

from trialdesk.api import ApiSettings, create_app


def test_request_validation_errors_use_the_error_body(env: Env) -> None:
    pid = env.build.register().id
    missing = env.api.post(
        "coordinator", f"/participants/{pid}/consents", {"form_version": "ICF v2.0"}
    )
    assert missing.status_code == 422
    error = error_of(missing)
    assert (error["code"], error["field"]) == ("invalid_request", "body.consented_on")
    assert error["details"][0] == {
        "field": "body.consented_on",
        "message": "Field required",
        "code": "missing",
    }

    bad_date = env.api.post(
        "coordinator",
        f"/participants/{pid}/consents",
        {"form_version": "ICF v2.0", "consented_on": "31/02/2024"},
    )
    assert error_of(bad_date)["field"] == "body.consented_on"

    typo = env.api.post(
        "coordinator",
        f"/participants/{pid}/consents",
        {"form_version": "x", "consented_on": "2024-01-01", "consnted_by": 3},
    )
    assert typo.status_code == 422
    assert error_of(typo)["details"][0]["code"] == "extra_forbidden"

    not_an_id = env.api.get("coordinator", "/participants/APGH-001")
    assert not_an_id.status_code == 422
    assert error_of(not_an_id)["field"] == "path.participant_id"


def test_malformed_json_is_a_422_not_a_500(env: Env) -> None:
    response = env.api.client.post(
        f"{API}/auth/token",
        content=b'{"username": "coordinator", "pass',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert error_of(response)["details"][0]["code"] == "json_invalid"


def test_unknown_paths_and_methods_use_the_error_body(env: Env) -> None:
    unknown = env.api.get("coordinator", "/no-such-thing")
    assert unknown.status_code == 404 and error_of(unknown)["code"] == "not_found"
    wrong_method = env.api.request("coordinator", "PUT", "/participants")
    assert wrong_method.status_code == 405
    assert error_of(wrong_method)["code"] == "method_not_allowed"


def test_security_headers_on_every_answer(env: Env) -> None:
    for response in (
        env.api.get("coordinator", "/participants"),
        env.api.get(None, "/participants"),
        env.api.get("coordinator", "/no-such-thing"),
    ):
        headers = response.headers
        assert headers["Cache-Control"] == "no-store"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_an_unexpected_error_is_a_generic_500_without_internals(database: TestDatabase) -> None:
    app = create_app(ApiSettings(database_url="sqlite://"), engine=database.engine)

    @app.get("/api/v1/boom", include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("secret detail: SELECT * FROM participant_identities")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/boom")
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "internal_error" and "reference" in error["message"]
    assert "secret" not in response.text and "SELECT" not in response.text
    assert response.headers["Cache-Control"] == "no-store"


def test_non_finite_numbers_are_refused_by_name(env: Env) -> None:
    # Python's JSON parser accepts NaN and Infinity although JSON has no such numbers.
    pid = env.build.enrolled()
    env.build.baseline(pid)
    headers = {
        "Authorization": f"Bearer {env.api.token('coordinator')}",
        "Content-Type": "application/json",
    }
    cases = [
        (
            "measurements",
            '{"visit_code": "BL", "element": "fasting_glucose", "value": Infinity,'
            ' "unit": "mmol/L"}',
            "fasting_glucose",
        ),
        (
            "insulin-doses",
            f'{{"start_date": "{day(30)}", "total_units_per_day": NaN}}',
            "total_units_per_day",
        ),
        (
            "adverse-events",
            f'{{"term": "x", "onset_date": "{day(30)}", "grade": NaN, '
            '"relatedness": "unlikely", "action_taken": "not applicable", '
            '"outcome": "unknown"}',
            "body.grade",
        ),
    ]
    for path, raw, field in cases:
        response = env.api.client.post(
            f"{API}/participants/{pid}/{path}", content=raw.encode(), headers=headers
        )
        assert response.status_code == 422, response.text
        assert error_of(response)["field"] == field


# --- fuzzing: whatever the body, the answer is a 2xx or a 4xx with the error body --------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
MEASUREMENT_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "visit_code": st.sampled_from(["SCR", "BL", "M99", ""]) | st.text(max_size=5),
        "element": st.sampled_from(["fasting_glucose", "hba1c", "sex", "kitt", "bmi", "nope"]),
        "value": st.floats(allow_nan=False, allow_infinity=False)
        | st.integers()
        | st.text(max_size=8)
        | st.booleans(),
        "unit": st.sampled_from(["mg/dL", "mmol/L", "%", "mmol/mol", "kg", "", "furlong"])
        | st.text(max_size=8),
        "collected_on": st.dates().map(str) | st.text(max_size=10),
    },
)


@pytest.fixture(scope="module")
def fuzz_target(database: TestDatabase, app: FastAPI) -> Any:
    from api_helpers import Api, make_builder

    seed = database.reset_seeded()
    build, session = make_builder(database, seed)
    pid = build.consented()
    build.screening_visit(pid)
    api = Api(app)
    yield api, pid
    api.close()
    session.close()


def _assert_no_server_error(response: Any) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error_of(response)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=MEASUREMENT_FIELDS)
def test_fuzzed_measurements_never_cause_a_server_error(
    fuzz_target: Any, body: dict[str, Any]
) -> None:
    api, pid = fuzz_target
    _assert_no_server_error(api.post("coordinator", f"/participants/{pid}/measurements", body))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=JSON,
    path=st.sampled_from(
        [
            "/participants",
            "/participants/{pid}/adverse-events",
            "/participants/{pid}/screenings",
            "/participants/{pid}/itt-tests",
            "/participants/{pid}/transplantations",
            "/queries",
            "/participants/{pid}/insulin-doses",
            "/participants/{pid}/visits",
        ]
    ),
)
def test_fuzzed_bodies_never_cause_a_server_error(fuzz_target: Any, body: Any, path: str) -> None:
    api, pid = fuzz_target
    _assert_no_server_error(api.post("coordinator", path.format(pid=pid), body))

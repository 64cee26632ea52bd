"""The OpenAPI document is complete and consistent, and the docs page is self-contained.

(openapi-spec-validator is not installed: the document is checked structurally here.)"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tools.harness.database import TestDatabase

from trialdesk.api import ApiSettings, create_app
from trialdesk.api.openapi import TAGS

METHODS = ("get", "post", "put", "patch", "delete")
# Signing in: a password, or a login challenge from the first step, instead of a token.
PUBLIC = {
    ("post", f"/api/v1/auth/{step}")
    for step in (
        "token",
        "token/code",
        "totp/enrolment",
        "totp/enrolment/confirm",
        "password-change",
    )
}


@pytest.fixture(scope="module")
def spec(app: FastAPI) -> dict[str, Any]:
    with TestClient(app) as client:
        response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    return dict(response.json())


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_document_metadata(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1")
    assert spec["info"]["title"] == "trialdesk API"
    assert {t["name"] for t in spec["tags"]} == {t["name"] for t in TAGS}
    assert spec["components"]["securitySchemes"]["bearerToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["bearerToken"]["description"],
    }


def test_every_path_is_versioned_and_every_operation_documented(spec: dict[str, Any]) -> None:
    operations = _operations(spec)
    assert len(operations) >= 70
    ids = [op["operationId"] for _, _, op in operations]
    assert len(ids) == len(set(ids)), "operationIds must be unique"
    for method, path, op in operations:
        where = f"{method.upper()} {path}"
        assert path.startswith("/api/v1/"), where
        assert op.get("summary"), where
        assert op.get("tags") and op["tags"][0] in {t["name"] for t in TAGS}, where
        assert op.get("responses"), where
        assert any(code.startswith("2") for code in op["responses"]), where
        assert method != "delete", f"{where}: records are voided, never deleted"


def test_every_error_response_uses_the_error_schema(spec: dict[str, Any]) -> None:
    for method, path, op in _operations(spec):
        errors = {c: r for c, r in op["responses"].items() if c[0] in "45"}
        assert errors, f"{method.upper()} {path} documents no error response"
        for code, response in errors.items():
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, code)
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert set(schemas["ErrorInfo"]["properties"]) == {"code", "message", "field", "details"}


def test_authentication_is_declared_where_it_is_required(spec: dict[str, Any]) -> None:
    for method, path, op in _operations(spec):
        secured = any("bearerToken" in s for s in op.get("security", []))
        assert secured == ((method, path) not in PUBLIC), f"{method.upper()} {path}"
        if secured:
            assert "401" in op["responses"], f"{method.upper()} {path}"


def test_changes_declare_if_match(spec: dict[str, Any]) -> None:
    for method, path, op in _operations(spec):
        headers = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
        changes_a_record = method == "patch" or path.endswith(
            ("/void", "/withdrawal", "/answer", "/close", "/reopen", "/end", "/review")
            + ("/causality/proposal", "/causality/confirmation", "/grade/confirmation")
        )
        if changes_a_record:
            assert "If-Match" in headers, f"{method.upper()} {path}"
            assert "428" in op["responses"] and "409" in op["responses"], path
        else:
            assert "If-Match" not in headers, f"{method.upper()} {path}"


def test_lists_are_paged(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    for method, path, op in _operations(spec):
        ok = op["responses"].get("200", {}).get("content", {}).get("application/json", {})
        ref = ok.get("schema", {}).get("$ref", "")
        if ref.startswith("#/components/schemas/Page_"):
            params = {p["name"] for p in op.get("parameters", [])}
            assert {"limit", "offset"} <= params, f"{method.upper()} {path}"
            page = schemas[ref.rsplit("/", 1)[-1]]
            assert set(page["required"]) == {"items", "total", "limit", "offset"}


def test_every_reference_resolves(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    for ref in _refs(spec):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[-1] in schemas, ref


def test_docs_page_is_served_locally_without_scripts(app: FastAPI) -> None:
    with TestClient(app) as client:
        page = client.get("/api/v1/docs")
        redoc = client.get("/api/v1/redoc")
        root_docs = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<script" not in html.lower()
    assert "https://" not in html and "http://" not in html  # nothing fetched from elsewhere
    assert "/api/v1/participants/{participant_id}/calendar" in html
    assert "script-src" not in page.headers["content-security-policy"]
    assert redoc.status_code == root_docs.status_code == 404


def test_docs_page_can_be_turned_off(database: TestDatabase) -> None:
    app = create_app(
        ApiSettings(database_url="sqlite://", docs_enabled=False), engine=database.engine
    )
    with TestClient(app) as client:
        assert client.get("/api/v1/docs").status_code == 404
        assert client.get("/api/v1/openapi.json").status_code == 200

"""Helpers of the security tests: the app's routes (read from the app itself, so a new endpoint
is covered without editing a list), a participant with one record of every kind per site, a
minimal body that satisfies a JSON schema, and the marker text that must never cross sites."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from starlette.routing import BaseRoute, Mount, Route
from tools.harness.database import DEMO_PASSWORD, DemoSeed, TestDatabase

from trialdesk import services as sv
from trialdesk.api import ApiSettings, create_app
from trialdesk.services.validate import today
from trialdesk.web import WebSettings, mount

START = today() - timedelta(days=430)
SITE_WRITER = {"APGH": "investigator", "PUMC": "investigator2"}
# Names given to each site's participant: text that must never appear in another site's answers.
SITE_MARKER = {"APGH": "Apgh Marker-Zhang", "PUMC": "Pumc Marker-Zhao"}
ROLES = ("admin", "investigator", "coordinator", "monitor", "statistician")
ELIGIBLE_FINDINGS: dict[str, Any] = {
    "t2dm_diagnosis": True,
    "fertile": False,
    "severe_heart_disease": False,
    "severe_lung_disease": False,
    "haematopoietic_dysfunction": False,
    "liver_dysfunction": False,
    "kidney_dysfunction": False,
    "active_infection_requiring_treatment": False,
    "unexplained_fever": False,
    "hiv_infection": False,
    "hepatitis_b_infection": False,
    "hepatitis_c_infection": False,
    "other_immunosuppressive_disease": False,
}
ITT_MG_DL = {0: 180, 3: 176, 6: 165, 9: 153, 12: 144, 15: 134}


def day(n: int) -> date:
    return START + timedelta(days=n)


# --- the app's routes ------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteInfo:
    path: str
    method: str
    in_schema: bool


def iter_routes(app: FastAPI) -> list[RouteInfo]:
    """Every (path, method) the app answers, including routers included into routers.

    Works with FastAPI versions that keep `APIRoute`s in ``app.routes`` and with those that
    wrap included routers (``effective_route_contexts``).
    """
    found: list[RouteInfo] = []

    def visit(routes: list[BaseRoute]) -> None:
        for route in routes:
            contexts = getattr(route, "effective_route_contexts", None)
            if contexts is not None:
                for ctx in contexts():
                    original = getattr(ctx, "original_route", ctx)
                    add(ctx.path, getattr(original, "methods", None), ctx.include_in_schema)
            elif isinstance(route, APIRoute | Route):
                add(route.path, route.methods, route.include_in_schema)
            elif isinstance(route, Mount) and route.routes:
                visit(list(route.routes))

    def add(path: str, methods: set[str] | None, in_schema: bool | None) -> None:
        for method in sorted((methods or set()) - {"HEAD"}):
            found.append(RouteInfo(path, method, bool(in_schema)))

    visit(list(app.routes))
    return found


def api_routes(app: FastAPI) -> list[RouteInfo]:
    return [r for r in iter_routes(app) if r.path.startswith("/api/v1/") and r.in_schema]


def web_routes(app: FastAPI) -> list[RouteInfo]:
    token_endpoints = ("/api/", "/static", "/fhir/", "/redcap/api/")
    return [r for r in iter_routes(app) if not r.path.startswith(token_endpoints)]


def fhir_routes(app: FastAPI) -> list[RouteInfo]:
    """The read-only FHIR endpoint: bearer tokens as /api/v1, answers as OperationOutcomes."""
    return [r for r in iter_routes(app) if r.path.startswith("/fhir/")]


# --- one participant with a record of every kind, per site -------------------------------------


@dataclass(frozen=True)
class Records:
    """Ids (and versions) of one site's records, by the name used in the routes."""

    ids: dict[str, int]
    versions: dict[str, int]
    study_id: str


def build_site(session: Session, actors: dict[str, sv.Actor], site: str) -> Records:
    """An enrolled, transplanted participant with data of every kind, entered at `site`."""
    who = actors[SITE_WRITER[site]]
    p = sv.register_participant(
        session,
        who,
        sv.Registration(
            site_code=site,
            registered_on=day(0),
            sex="M",
            full_name=SITE_MARKER[site],
            date_of_birth=date(1968, 4, 2),
            medical_record_number=f"MRN-{site}-77",
        ),
    )
    pid = p.id
    consent = sv.record_consent(session, who, pid, form_version="ICF v2.0", consented_on=day(0))
    visit = sv.record_visit(session, who, pid, code="SCR", visit_date=day(0))
    for element, value, unit in (
        ("weight", 78, "kg"),
        ("height", 172, "cm"),
        ("fasting_glucose", 9.4, "mmol/L"),
        ("hba1c", 8.6, "%"),
    ):
        measurement = sv.record_measurement(
            session,
            who,
            pid,
            sv.VisitMeasurement(visit_code="SCR", element=element, value=value, unit=unit),
        )
    itt = sv.record_itt_test(
        session,
        who,
        pid,
        sv.IttTestEntry(
            visit_code="SCR", samples=ITT_MG_DL, glucose_unit="mg/dL", insulin_dose_u_per_kg=0.1
        ),
    )
    screening = sv.screen_participant(
        session, who, pid, screened_on=day(0), findings=ELIGIBLE_FINDINGS
    )
    enrollment = sv.enroll_participant(session, who, pid, enrolled_on=day(1))
    sv.record_visit(session, who, pid, code="BL", visit_date=day(28))
    insulin = sv.record_insulin_dose(
        session, who, pid, sv.InsulinDoseEntry(start_date=day(0), total_units_per_day=48)
    )
    ogld = sv.record_ogld_dose(
        session, who, pid, sv.OgldDoseEntry(start_date=day(0), drug="metformin", daily_dose_mg=1500)
    )
    transplantation = sv.record_transplantation(
        session,
        who,
        pid,
        sv.TransplantationEntry(
            performed_on=day(30),
            product="UC-MSC suspension",
            lot_number="LOT-2024-117",
            cell_source="umbilical_cord",
            dose_cells_per_kg=1e6,
            route="intravenous",
            operator="Dr Li Na",
            weight_kg=78,
            visit_code="BL",
        ),
    )
    ae = sv.report_adverse_event(
        session,
        who,
        pid,
        sv.AdverseEventReport(
            term="Headache",
            onset_date=day(40),
            grade=1,
            relatedness="unlikely",
            action_taken="not applicable",
            outcome="recovered/resolved",
            resolution_date=day(41),
        ),
    )
    deviation = sv.record_deviation(
        session,
        who,
        pid,
        sv.DeviationEntry(
            category="procedure",
            severity="minor",
            description="ITT sample at 9 min drawn at 10 min",
            detected_on=day(0),
        ),
    )
    query = sv.raise_query(
        session,
        who,
        target_table="measurements",
        target_id=measurement.id,
        field="value",
        text="Please confirm against the lab report",
    )
    views: dict[str, Any] = {
        "participant": p,
        "consent": consent,
        "visit": visit,
        "measurement": measurement,
        "itt": itt,
        "screening": screening,
        "enrollment": enrollment,
        "insulin": insulin,
        "ogld": ogld,
        "transplantation": transplantation,
        "ae": ae,
        "deviation": deviation,
        "query": query,
    }
    return Records(
        {k: int(v.id) for k, v in views.items()},
        {k: int(v.version) for k, v in views.items()},
        p.study_id,
    )


# Which record a path parameter names, from the path segment before it (``/consents/{id}``).
SEGMENT_RECORD = {
    "participants": "participant",
    "consents": "consent",
    "screenings": "screening",
    "enrollments": "enrollment",
    "visits": "visit",
    "measurements": "measurement",
    "itt-tests": "itt",
    "itt": "itt",
    "insulin-doses": "insulin",
    "ogld-doses": "ogld",
    "transplantations": "transplantation",
    "adverse-events": "ae",
    "deviations": "deviation",
    "queries": "query",
}


# --- a body that passes the schema (so that a refusal is about access, not about input) -------


def resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


_NOT_COMPOSITE = object()


def _minimal_composite(schema: dict[str, Any], spec: dict[str, Any]) -> Any:
    """The first choice of a union, enum or const; `_NOT_COMPOSITE` for a plain type."""
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if resolve(o, spec).get("type") != "null"]
            return minimal_instance(options[0] if options else schema[key][0], spec)
    if "allOf" in schema:
        return minimal_instance(schema["allOf"][0], spec)
    if "enum" in schema:
        return schema["enum"][0]
    return schema.get("const", _NOT_COMPOSITE)


def _minimal_string(schema: dict[str, Any]) -> str:
    if schema.get("format") == "date":
        return day(2).isoformat()
    if schema.get("format") == "date-time":
        return f"{day(2).isoformat()}T08:00:00Z"
    return "x" * max(1, int(schema.get("minLength", 1)))


def _lower_bound(schema: dict[str, Any]) -> Any:
    return schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)


_MINIMAL_BY_TYPE: dict[str, Callable[[dict[str, Any], dict[str, Any]], Any]] = {
    "object": lambda schema, spec: {
        k: minimal_instance(schema.get("properties", {})[k], spec)
        for k in schema.get("required", [])
    },
    "array": lambda schema, spec: (
        [minimal_instance(schema.get("items", {}), spec)] * int(schema.get("minItems", 0))
    ),
    "integer": lambda schema, _spec: int(_lower_bound(schema)),
    "number": lambda schema, _spec: float(_lower_bound(schema)),
    "boolean": lambda _schema, _spec: False,
    "string": lambda schema, _spec: _minimal_string(schema),
}


def minimal_instance(schema: dict[str, Any], spec: dict[str, Any]) -> Any:
    """The smallest value valid against `schema`: required properties only, the first choice
    of an enum or a union, the lower bound of a number, today's date for a date."""
    schema = resolve(schema, spec)
    composite = _minimal_composite(schema, spec)
    if composite is not _NOT_COMPOSITE:
        return composite
    kind = "object" if "properties" in schema else schema.get("type")
    build = _MINIMAL_BY_TYPE.get(kind) if isinstance(kind, str) else None
    return build(schema, spec) if build is not None else "x"


def request_body(spec: dict[str, Any], path: str, method: str) -> Any:
    operation = spec["paths"][path][method.lower()]
    body = operation.get("requestBody")
    if body is None:
        return None
    schema = body["content"]["application/json"]["schema"]
    return minimal_instance(schema, spec)


def sign_in_all(client: Any, users: list[str]) -> dict[str, str]:
    tokens = {}
    for user in users:
        answer = client.post(
            "/api/v1/auth/token", json={"username": user, "password": DEMO_PASSWORD}
        )
        assert answer.status_code == 200, answer.text
        tokens[user] = answer.json()["access_token"]
    return tokens


# --- the world the security tests share (built in conftest.py) -----------------------------

SECRET = "security-test-secret-" + "s" * 40


@dataclass
class World:
    db: TestDatabase
    app: FastAPI
    client: TestClient
    seed: DemoSeed
    records: dict[str, Records]  # by site code
    tokens: dict[str, str]  # by username
    spec: dict[str, Any]

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}


def make_app(db: TestDatabase) -> FastAPI:
    app = create_app(ApiSettings(database_url="sqlite://"), engine=db.engine)
    return mount(app, WebSettings(secret_key=SECRET))

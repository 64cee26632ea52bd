"""Role × endpoint × site matrix: the status each role gets on each endpoint, for a record of
its own site (APGH) and of another site (PUMC).

Expected statuses are written out per role, in the order admin, investigator, coordinator,
monitor, statistician, coder. Every endpoint the app answers (/api/v1, the FHIR endpoint and the
REDCap API, read from the app's routes) must have a row: a new endpoint without expected
statuses fails `test_every_endpoint_has_a_row_in_the_matrix`. A refused request must be refused
for its role or site, not for any other reason, so every request is otherwise valid; a request
that is expected to succeed gets fresh records of its own (so that, e.g., an enrollment or a
void can only happen once), while refused ones reuse the shared records (a refusal changes
nothing). Every statistician and coder answer is scanned for the participant's identifying data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from api_helpers import (
    ELIGIBLE_FINDINGS,
    IDENTIFYING_STRINGS,
    TRANSPLANTATION,
    Api,
    Builder,
    day,
    error_of,
    make_builder,
)
from fastapi import FastAPI
from sqlalchemy.orm import Session
from tools.harness.database import DEMO_PASSWORD, TestDatabase

from trialdesk import services as sv
from trialdesk.services.accounts import NewUserAccount
from trialdesk.services.redcap_tokens import issue_redcap_token

MEDDRA_TEST = Path(__file__).parents[1] / "coding" / "data" / "meddra_test_0_1"

ROLES = ("admin", "investigator", "coordinator", "monitor", "statistician", "coder")
SITES = ("own", "other")
SITE_CODE = {"own": "APGH", "other": "PUMC"}
ALL_404 = "404 404 404 404 404 404"


# --- the shared records (one set per site) -----------------------------------------------------


def _enrolled_with_data(b: Builder, site: str) -> SimpleNamespace:
    pid = b.enrolled(site)
    sv.record_visit(b.session, b.who(site), pid, code="BL", visit_date=day(28))
    measurement = b.measurement(pid, site)
    # Refused requests may act on the shared enrolled participant wherever a fresh request
    # needs a participant in a particular state.
    aliases = dict.fromkeys(
        ("screening_participant", "eligible", "consented", "enrolled", "enrolled_at_baseline"), pid
    )
    return SimpleNamespace(
        pid=pid,
        **aliases,
        participant=sv.get_participant(b.session, b.who(site), pid),
        consent=sv.list_consents(b.session, b.who(site), pid)[0],
        screening=sv.list_screenings(b.session, b.who(site), pid)[0],
        enrollment=sv.get_enrollment(b.session, b.who(site), pid),
        visit=sv.list_visits(b.session, b.who(site), pid)[0],
        measurement=measurement,
        itt=b.itt(pid, site),
        insulin=b.insulin(pid, site),
        ogld=b.ogld(pid, site),
        transplantation=b.transplantation(pid, site),
        ae=b.adverse_event(pid, site),
        deviation=b.deviation(pid, site),
        query=b.query(measurement.id, site),
        answered_query=b.answered_query(measurement.id, site),
        user=b.user(),
        # A form lock nobody else writes (Month 12 labs): the unlock cases' shared record.
        lock=sv.lock_form(
            b.session, sv.SYSTEM, pid, visit_code="M12", form="labs", reason="reviewed"
        ),
    )


def _form_lock(b: Builder, site: str) -> sv.views.LockView:
    pid = b.register(site).id
    return sv.lock_form(b.session, sv.SYSTEM, pid, visit_code="SCR", form="consent", reason="ok")


def _lift_study_lock(ctx: Any, response: Any) -> None:
    """The study lock freezes every later case: lift it once it was made."""
    if response.status_code == 201:
        session = ctx.world.build.session
        sv.unlock(session, sv.SYSTEM, response.json()["id"], reason="access matrix: lifted")


@dataclass
class World:
    api: Api
    build: Builder
    records: dict[str, SimpleNamespace]
    redcap_tokens: dict[str, str]
    app: FastAPI


def _coder(session: Session) -> int:
    """A coder at APGH (issue 14) with the made-up MedDRA release loaded."""
    user = sv.create_user(
        session,
        sv.SYSTEM,
        NewUserAccount(
            username="coder",
            full_name="Cora Coder",
            password=DEMO_PASSWORD,
            roles=["coder"],
            site_codes=["APGH"],
            must_change_password=False,
        ),
    )
    sv.load_dictionary(session, sv.actor_for(session, user.id), "meddra", MEDDRA_TEST)
    return user.id


@pytest.fixture(scope="module")
def world(database: TestDatabase, app: FastAPI) -> Iterator[World]:
    seed = database.reset_seeded()
    build, session = make_builder(database, seed)
    users = {**seed.users, "coder": _coder(session)}
    records = {site: _enrolled_with_data(build, code) for site, code in SITE_CODE.items()}
    tokens = {r: issue_redcap_token(session, sv.SYSTEM, users[r]).token for r in ROLES}
    api = Api(app)
    try:
        yield World(api, build, records, tokens, app)
    finally:
        api.close()
        session.close()


# --- how each case finds or makes the records it acts on ---------------------------------------


@dataclass
class Ctx:
    """What a case's request is built from: the site's shared records, or fresh ones."""

    world: World
    site: str
    fresh: bool
    made: dict[str, Any] = field(default_factory=dict)

    @property
    def code(self) -> str:
        return SITE_CODE[self.site]

    @property
    def shared(self) -> SimpleNamespace:
        return self.world.records[self.site]

    def get(self, name: str) -> Any:
        """The shared record `name`, or (for a request expected to succeed) a fresh one."""
        if not self.fresh or name == "pid":
            return getattr(self.shared, name)
        if name not in self.made:
            self.made[name] = MAKERS[name](self.world.build, self.code, self.shared)
        return self.made[name]


def _consented_visit(b: Builder, site: str) -> sv.views.VisitView:
    pid = b.consented(site)
    return b.screening_visit(pid, site)


def _screening(b: Builder, site: str) -> sv.views.ScreeningView:
    pid = b.consented(site)
    b.screening_visit(pid, site)
    return sv.screen_participant(
        b.session, b.who(site), pid, screened_on=day(0), findings=ELIGIBLE_FINDINGS
    )


def _transplanted(b: Builder, site: str) -> sv.views.TransplantationView:
    pid = b.enrolled(site)
    b.baseline(pid, site)
    return b.transplantation(pid, site)


def _enrollment(b: Builder, site: str) -> sv.views.EnrollmentView:
    pid = b.enrolled(site)
    view = sv.get_enrollment(b.session, b.who(site), pid)
    assert view is not None
    return view


MAKERS: dict[str, Callable[[Builder, str, SimpleNamespace], Any]] = {
    "participant": lambda b, site, s: b.register(site),
    "consent": lambda b, site, s: b.consent(b.register(site).id, site),
    "screening_participant": lambda b, site, s: _consented_visit(b, site).participant_id,
    "screening": lambda b, site, s: _screening(b, site),
    "eligible": lambda b, site, s: b.eligible(site),
    "enrollment": lambda b, site, s: _enrollment(b, site),
    "consented": lambda b, site, s: b.consented(site),
    "enrolled": lambda b, site, s: b.enrolled(site),
    "enrolled_at_baseline": lambda b, site, s: _enrolled_at_baseline(b, site),
    "visit": lambda b, site, s: _consented_visit(b, site),
    "measurement": lambda b, site, s: b.measurement(s.pid, site),
    "itt": lambda b, site, s: b.itt(s.pid, site),
    "insulin": lambda b, site, s: b.insulin(s.pid, site),
    "ogld": lambda b, site, s: b.ogld(s.pid, site),
    "transplantation": lambda b, site, s: _transplanted(b, site),
    "ae": lambda b, site, s: b.adverse_event(s.pid, site),
    "deviation": lambda b, site, s: b.deviation(s.pid, site),
    "query": lambda b, site, s: b.query(s.measurement.id, site),
    "answered_query": lambda b, site, s: b.answered_query(s.measurement.id, site),
    "user": lambda b, site, s: b.user(),
    "lock": lambda b, site, s: _form_lock(b, site),
}


def _enrolled_at_baseline(b: Builder, site: str) -> int:
    pid = b.enrolled(site)
    b.baseline(pid, site)
    return pid


# --- the matrix ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Req:
    path: str
    json: Any = None
    version: int | None = None
    params: dict[str, Any] | None = None


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    own: str
    other: str | None  # None: not about one site's records (asked once)
    build: Callable[[Ctx], Req]
    after: Callable[[Ctx, Any], None] | None = None  # undo what a success changed study-wide
    via: str = "api"  # api: /api/v1; fhir: /fhir/R4B (bearer token); redcap: a REDCap token


def _pid(c: Ctx, name: str = "participant") -> int:
    record = c.get(name)
    return record if isinstance(record, int) else int(record.id)


def _path(template: str, name: str) -> Callable[[Ctx], Req]:
    """A request on the record `name`: `{id}` in the template is its id; If-Match its version."""

    def build(c: Ctx) -> Req:
        record = c.get(name)
        return Req(template.format(id=record.id), version=record.version)

    return build


def _on(template: str, name: str, body: Any = None, **params: Any) -> Callable[[Ctx], Req]:
    def build(c: Ctx) -> Req:
        record = c.get(name)
        pid = record if isinstance(record, int) else record.id
        return Req(template.format(id=pid), json=body, params=params or None)

    return build


def _change(template: str, name: str, body: dict[str, Any]) -> Callable[[Ctx], Req]:
    def build(c: Ctx) -> Req:
        record = c.get(name)
        return Req(template.format(id=record.id), json=body, version=record.version)

    return build


def _participant_list(path: str, **extra: Any) -> Callable[[Ctx], Req]:
    def build(c: Ctx) -> Req:
        return Req(path, params={"participant_id": c.shared.pid, **extra})

    return build


VOID = {"reason": "entered in error"}
FIX = {"reason": "transcription error corrected"}
ITT_BODY = {
    "visit_code": "SCR",
    "glucose_unit": "mmol/L",
    "samples": [
        {"minute": m, "glucose": g}
        for m, g in ((0, 10.0), (3, 9.8), (6, 9.2), (9, 8.5), (12, 8.0), (15, 7.4))
    ],
}
AE_BODY = {
    "term": "Headache",
    "onset_date": day(35).isoformat(),
    "grade": 1,
    "relatedness": "unlikely",
    "action_taken": "not applicable",
    "outcome": "recovered/resolved",
    "resolution_date": day(36).isoformat(),
}
TX_BODY = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in TRANSPLANTATION.items()}
REGISTRATION = {
    "registered_on": day(0).isoformat(),
    "full_name": "Wang Wei",
    "date_of_birth": "1968-04-02",
    "sex": "M",
}


def _register(c: Ctx) -> Req:
    return Req("/participants", json={**REGISTRATION, "site_code": c.code})


def _new_site(c: Ctx) -> Req:
    n = next(c.world.build.counter)
    return Req("/sites", json={"code": f"S{n:03d}", "name": f"Site {n}"})


def _new_user(c: Ctx) -> Req:
    n = next(c.world.build.counter)
    return Req(
        "/users",
        json={
            "username": f"newuser{n}",
            "full_name": f"New User {n}",
            "password": DEMO_PASSWORD,
            "roles": ["monitor"],
            "site_codes": ["APGH"],
        },
    )


def _raise_query(c: Ctx) -> Req:
    body = {
        "target_table": "measurements",
        "target_id": c.shared.measurement.id,
        "field": "value",
        "text": "Please confirm the unit",
    }
    return Req("/queries", json=body)


def _fixed(path: str, body: Any = None) -> Callable[[Ctx], Req]:
    return lambda c: Req(path, json=body)


P = "/participants/{id}"
M3 = {"visit_code": "M3", "form": "labs"}
DECLINE = {
    "approached_on": day(0).isoformat(),
    "candidate_label": "S-12",
    "outcome": "declined",
    "reason_category": "visit_burden",
}
# Endpoints added since the first matrix (issues 12 to 14): accounts, site log, visit forms,
# deviation review, medical coding, the FHIR endpoint and the REDCap API.
MORE_CASES: list[Case] = [
    Case(
        "sign out",
        "POST",
        "204 204 204 204 204 204",
        None,
        _fixed("/auth/logout"),
        via="own token",
    ),
    Case(
        "read security policy",
        "GET",
        "200 403 403 403 403 403",
        None,
        _fixed("/auth/security-policy"),
    ),
    Case(
        "change security policy",
        "PUT",
        "200 403 403 403 403 403",
        None,
        _fixed("/auth/security-policy", {"reason": "review", "lockout_minutes": 30}),
    ),
    Case(
        "set site time zone",
        "PATCH",
        "200 403 403 403 403 403",
        None,
        lambda c: _site_zone(c),
    ),
    Case("protocol versions", "GET", "200 200 200 200 200 200", None, _fixed("/protocol-versions")),
    Case(
        "unlock account",
        "POST",
        "200 403 403 403 403 403",
        None,
        _on("/users/{id}/unlock", "user", {"reason": "locked out"}),
    ),
    Case(
        "reset authenticator",
        "POST",
        "200 403 403 403 403 403",
        None,
        _on("/users/{id}/totp-reset", "user", {"reason": "phone lost"}),
    ),
    Case(
        "issue REDCap token",
        "POST",
        "201 403 403 403 403 403",
        None,
        _on("/users/{id}/redcap-token", "user", {"days": 30}),
    ),
    Case(
        "correct consent",
        "PATCH",
        "404 200 200 403 403 403",
        ALL_404,
        _change("/consents/{id}", "consent", {"consented_on": day(1).isoformat(), **FIX}),
    ),
    Case("re-consent due", "GET", "403 200 200 200 200 200", None, _fixed("/reconsent-due")),
    Case(
        "participant re-consent",
        "GET",
        "404 200 200 200 200 200",
        ALL_404,
        _on(P + "/reconsent", "pid"),
    ),
    Case(
        "correct screening",
        "PATCH",
        "404 200 200 403 403 403",
        ALL_404,
        _change("/screenings/{id}", "screening", {"findings": {"hiv_infection": False}, **FIX}),
    ),
    Case("screening log", "GET", "403 200 200 200 200 200", None, _fixed("/screening-declines")),
    Case(
        "log screening decline",
        "POST",
        "403 201 201 403 403 403",
        "403 403 403 403 403 403",
        lambda c: Req("/screening-declines", json={**DECLINE, "site_code": c.code}),
    ),
    Case(
        "record unscheduled visit",
        "POST",
        "404 201 201 403 403 403",
        ALL_404,
        _on(
            P + "/unscheduled-visits",
            "pid",
            {"visit_date": day(40).isoformat(), "reason": "safety lab"},
        ),
    ),
    Case(
        "save visit forms",
        "POST",
        "404 201 201 403 403 403",
        ALL_404,
        _on(
            P + "/visit-forms",
            "pid",
            {
                "visit_code": "BL",
                "measurements": [{"element": "hba1c", "value": "8.0", "unit": "%"}],
            },
        ),
    ),
    Case(
        "form statuses", "GET", "404 200 200 200 200 200", ALL_404, _on(P + "/form-statuses", "pid")
    ),
    Case(
        "set form status",
        "PUT",
        "404 200 200 403 403 403",
        ALL_404,
        _on(P + "/form-statuses", "pid", {**M3, "status": "incomplete"}),
    ),
    Case(
        "review deviation",
        "POST",
        "404 200 403 403 403 403",
        ALL_404,
        _change("/deviations/{id}/review", "deviation", {"comment": "minor, no impact"}),
    ),
    # medical coding (issue 14): the coder codes, a sponsor's administrator loads dictionaries
    Case(
        "coding dictionaries",
        "GET",
        "200 200 200 200 200 200",
        None,
        _fixed("/coding/dictionaries"),
    ),
    Case("coding queue", "GET", "403 403 403 403 403 200", None, _fixed("/coding/queue")),
    Case("codings to review", "GET", "403 403 403 403 403 200", None, _fixed("/coding/to-review")),
    Case(
        "search dictionary",
        "GET",
        "403 403 403 403 403 200",
        None,
        lambda c: Req("/coding/terms", params={"text": "blood"}),
    ),
    Case(
        "autocode",
        "POST",
        "403 403 403 403 403 200",
        None,
        _fixed("/coding/autocode", {"kind": "meddra"}),
    ),
    Case(
        "code a term",
        "POST",
        "404 403 403 403 403 201",
        ALL_404,
        lambda c: Req(
            "/coding/assignments",
            json={
                "target_table": "adverse_events",
                "target_id": c.get("ae").id,
                "code": "90000404",
            },
        ),
    ),
    Case(
        "adverse event coding",
        "GET",
        "404 200 200 200 200 200",
        ALL_404,
        _path("/adverse-events/{id}/coding", "ae"),
    ),
    Case(
        "drug coding",
        "GET",
        "404 200 200 200 200 200",
        ALL_404,
        _path("/ogld-doses/{id}/coding", "ogld"),
    ),
    # FHIR R4B (read-only; the API's bearer tokens) and the REDCap API (REDCap tokens)
    Case(
        "FHIR capabilities", "GET", "200 200 200 200 200 200", None, _fixed("/metadata"), via="fhir"
    ),
    Case("FHIR search", "GET", "403 200 200 200 200 200", None, _fixed("/Patient"), via="fhir"),
    Case(
        "FHIR read",
        "GET",
        "403 200 200 200 200 200",
        "403 404 404 404 404 404",
        lambda c: Req(f"/Patient/{_fhir_patient(c)}"),
        via="fhir",
    ),
    *[
        Case(
            f"FHIR {method}",
            method,
            "405 405 405 405 405 405",
            None,
            _fixed("/Patient"),
            via="fhir",
        )
        for method in ("POST", "PUT", "PATCH", "DELETE")
    ],
    Case(
        "REDCap export records",
        "POST",
        "403 200 200 200 200 200",
        None,
        _fixed("/", {"content": "record", "format": "json"}),
        via="redcap",
    ),
]
CASES: list[Case] = [
    # accounts and sites
    Case("me", "GET", "200 200 200 200 200 200", None, _fixed("/auth/me")),
    Case("list sites", "GET", "200 200 200 200 200 200", None, _fixed("/sites")),
    Case("create site", "POST", "201 403 403 403 403 403", None, _new_site),
    Case("list users", "GET", "200 403 403 403 403 403", None, _fixed("/users")),
    Case("create user", "POST", "201 403 403 403 403 403", None, _new_user),
    Case("read user", "GET", "200 403 403 403 403 403", None, _path("/users/{id}", "user")),
    Case(
        "change user",
        "PATCH",
        "200 403 403 403 403 403",
        None,
        _change("/users/{id}", "user", {"full_name": "Renamed", **FIX}),
    ),
    Case(
        "set password",
        "POST",
        "204 403 403 403 403 403",
        None,
        _on("/users/{id}/password", "user", {"new_password": "another long passphrase 42"}),
    ),
    Case(
        "enrollment summary", "GET", "403 200 200 200 200 200", None, _fixed("/enrollment/summary")
    ),
    Case("verify audit chain", "GET", "200 200 200 200 403 200", None, _fixed("/audit/verify")),
    # participants and identifying data
    Case("list participants", "GET", "403 200 200 200 200 200", None, _fixed("/participants")),
    Case(
        "register participant",
        "POST",
        "403 201 201 403 403 403",
        "403 403 403 403 403 403",
        _register,
    ),
    Case("read participant", "GET", "404 200 200 200 200 200", ALL_404, _path(P, "participant")),
    Case(
        "find by study id",
        "GET",
        "404 200 200 200 200 200",
        ALL_404,
        lambda c: Req(f"/participants/by-study-id/{c.shared.participant.study_id}"),
    ),
    Case(
        "correct participant",
        "PATCH",
        "404 200 200 403 403 403",
        ALL_404,
        _change(P, "participant", {"sex": "F", **FIX}),
    ),
    Case(
        "end participation",
        "POST",
        "404 200 200 403 403 403",
        ALL_404,
        _change(
            P + "/end",
            "participant",
            {"ended_on": day(2).isoformat(), "end_reason": "lost_to_follow_up"},
        ),
    ),
    Case(
        "void participant",
        "POST",
        "404 204 204 403 403 403",
        ALL_404,
        _change(P + "/void", "participant", VOID),
    ),
    Case("read identity", "GET", "404 200 200 200 403 403", ALL_404, _on(P + "/identity", "pid")),
    Case(
        "correct identity",
        "PATCH",
        "404 200 200 403 403 403",
        ALL_404,
        lambda c: Req(
            f"/participants/{_pid(c)}/identity",
            json={"phone": "+86 10 5555 0102", **FIX},
            version=1,
        ),
    ),
    Case(
        "evaluate eligibility",
        "GET",
        "404 200 200 200 200 200",
        ALL_404,
        _on(P + "/eligibility", "pid"),
    ),
    Case("visit calendar", "GET", "404 200 200 200 200 200", ALL_404, _on(P + "/calendar", "pid")),
    Case(
        "participant audit trail",
        "GET",
        "404 200 200 200 403 200",
        ALL_404,
        _on(P + "/history", "pid"),
    ),
    Case(
        "list signatures",
        "GET",
        "404 200 200 200 200 200",
        ALL_404,
        _on(P + "/signatures", "pid"),
    ),
    Case(
        "sign casebook",
        "POST",
        "404 201 403 403 403 403",
        ALL_404,
        _on(P + "/signatures", "pid", {"password": DEMO_PASSWORD}),
    ),
    # consent
    Case("list consents", "GET", "404 200 200 200 200 200", ALL_404, _on(P + "/consents", "pid")),
    Case(
        "record consent",
        "POST",
        "404 201 201 403 403 403",
        ALL_404,
        _on(
            P + "/consents",
            "participant",
            {"form_version": "ICF v2.0", "consented_on": day(0).isoformat()},
        ),
    ),
    Case(
        "withdraw consent",
        "POST",
        "404 200 200 403 403 403",
        ALL_404,
        _change("/consents/{id}/withdrawal", "consent", {"withdrawn_on": day(3).isoformat()}),
    ),
    Case(
        "void consent",
        "POST",
        "404 204 204 403 403 403",
        ALL_404,
        _change("/consents/{id}/void", "consent", VOID),
    ),
    # screening and enrollment
    Case(
        "list screenings",
        "GET",
        "404 200 200 200 200 200",
        ALL_404,
        _on(P + "/screenings", "pid"),
    ),
    Case(
        "screen",
        "POST",
        "404 201 201 403 403 403",
        ALL_404,
        _on(
            P + "/screenings",
            "screening_participant",
            {"screened_on": day(0).isoformat(), "findings": ELIGIBLE_FINDINGS},
        ),
    ),
    Case(
        "void screening",
        "POST",
        "404 204 204 403 403 403",
        ALL_404,
        _change("/screenings/{id}/void", "screening", VOID),
    ),
    Case(
        "read enrollment",
        "GET",
        "404 200 200 200 200 200",
        ALL_404,
        _on(P + "/enrollment", "pid"),
    ),
    Case(
        "enroll",
        "POST",
        "404 201 201 403 403 403",
        ALL_404,
        _on(P + "/enrollment", "eligible", {"enrolled_on": day(1).isoformat()}),
    ),
    Case(
        "void enrollment",
        "POST",
        "404 204 204 403 403 403",
        ALL_404,
        _change("/enrollments/{id}/void", "enrollment", VOID),
    ),
    # visits
    Case("list visits", "GET", "404 200 200 200 200 200", ALL_404, _on(P + "/visits", "pid")),
    Case(
        "record visit",
        "POST",
        "404 201 201 403 403 403",
        ALL_404,
        _on(P + "/visits", "consented", {"code": "SCR", "visit_date": day(0).isoformat()}),
    ),
    Case(
        "record missed visit",
        "POST",
        "404 201 201 403 403 403",
        ALL_404,
        _on(P + "/missed-visits", "enrolled", {"code": "M12", "reason": "moved away"}),
    ),
    Case(
        "correct visit",
        "PATCH",
        "404 200 200 403 403 403",
        ALL_404,
        _change("/visits/{id}", "visit", {"notes": "fasting confirmed", **FIX}),
    ),
    Case(
        "void visit",
        "POST",
        "404 204 204 403 403 403",
        ALL_404,
        _change("/visits/{id}/void", "visit", VOID),
    ),
    # measurements
    Case(
        "list measurements",
        "GET",
        "404 200 200 200 200 200",
        ALL_404,
        _participant_list("/measurements"),
    ),
    Case(
        "record measurement",
        "POST",
        "404 201 201 403 403 403",
        ALL_404,
        _on(
            P + "/measurements",
            "pid",
            {"visit_code": "SCR", "element": "hba1c", "value": 8.1, "unit": "%"},
        ),
    ),
    Case(
        "read measurement",
        "GET",
        "404 200 200 200 200 200",
        ALL_404,
        _path("/measurements/{id}", "measurement"),
    ),
    Case(
        "correct measurement",
        "PATCH",
        "404 200 200 403 403 403",
        ALL_404,
        _change("/measurements/{id}", "measurement", {"value": 151, "unit": "mg/dL", **FIX}),
    ),
    Case(
        "void measurement",
        "POST",
        "404 204 204 403 403 403",
        ALL_404,
        _change("/measurements/{id}/void", "measurement", VOID),
    ),
    # ITT
    Case("list ITTs", "GET", "404 200 200 200 200 200", ALL_404, _on(P + "/itt-tests", "pid")),
    Case(
        "record ITT",
        "POST",
        "404 201 201 403 403 403",
        ALL_404,
        _on(P + "/itt-tests", "pid", ITT_BODY),
    ),
    Case(
        "correct ITT",
        "PATCH",
        "404 200 200 403 403 403",
        ALL_404,
        _change("/itt-tests/{id}", "itt", {"insulin_dose_u_per_kg": 0.1, **FIX}),
    ),
    Case(
        "void ITT",
        "POST",
        "404 204 204 403 403 403",
        ALL_404,
        _change("/itt-tests/{id}/void", "itt", VOID),
    ),
    # dosing
    Case(
        "list insulin doses",
        "GET",
        "404 200 200 200 200 200",
        ALL_404,
        _on(P + "/insulin-doses", "pid"),
    ),
    Case(
        "record insulin dose",
        "POST",
        "404 201 201 403 403 403",
        ALL_404,
        _on(
            P + "/insulin-doses",
            "pid",
            {"start_date": day(60).isoformat(), "total_units_per_day": 30},
        ),
    ),
    Case(
        "correct insulin dose",
        "PATCH",
        "404 200 200 403 403 403",
        ALL_404,
        _change("/insulin-doses/{id}", "insulin", {"total_units_per_day": 46, **FIX}),
    ),
    Case(
        "void insulin dose",
        "POST",
        "404 204 204 403 403 403",
        ALL_404,
        _change("/insulin-doses/{id}/void", "insulin", VOID),
    ),
    Case(
        "list OGLD doses",
        "GET",
        "404 200 200 200 200 200",
        ALL_404,
        _on(P + "/ogld-doses", "pid"),
    ),
    Case(
        "record OGLD dose",
        "POST",
        "404 201 201 403 403 403",
        ALL_404,
        _on(
            P + "/ogld-doses",
            "pid",
            {"start_date": day(60).isoformat(), "drug": "metformin", "daily_dose_mg": 1000},
        ),
    ),
    Case(
        "correct OGLD dose",
        "PATCH",
        "404 200 200 403 403 403",
        ALL_404,
        _change("/ogld-doses/{id}", "ogld", {"daily_dose_mg": 2000, **FIX}),
    ),
    Case(
        "void OGLD dose",
        "POST",
        "404 204 204 403 403 403",
        ALL_404,
        _change("/ogld-doses/{id}/void", "ogld", VOID),
    ),
    # transplantation
    Case(
        "list transplantations",
        "GET",
        "404 200 200 200 200 200",
        ALL_404,
        _on(P + "/transplantations", "pid"),
    ),
    Case(
        "record transplantation",
        "POST",
        "404 201 201 403 403 403",
        ALL_404,
        _on(P + "/transplantations", "enrolled_at_baseline", TX_BODY),
    ),
    Case(
        "correct transplantation",
        "PATCH",
        "404 200 200 403 403 403",
        ALL_404,
        _change("/transplantations/{id}", "transplantation", {"lot_number": "LOT-2024-118", **FIX}),
    ),
    Case(
        "void transplantation",
        "POST",
        "404 204 204 403 403 403",
        ALL_404,
        _change("/transplantations/{id}/void", "transplantation", VOID),
    ),
    # adverse events and deviations
    Case(
        "list adverse events",
        "GET",
        "404 200 200 200 200 200",
        ALL_404,
        _participant_list("/adverse-events"),
    ),
    Case(
        "report adverse event",
        "POST",
        "404 201 201 403 403 403",
        ALL_404,
        _on(P + "/adverse-events", "pid", AE_BODY),
    ),
    Case(
        "read adverse event",
        "GET",
        "404 200 200 200 200 200",
        ALL_404,
        _path("/adverse-events/{id}", "ae"),
    ),
    Case(
        "follow up adverse event",
        "PATCH",
        "404 200 200 403 403 403",
        ALL_404,
        _change(
            "/adverse-events/{id}", "ae", {"expedited_reported_on": day(44).isoformat(), **FIX}
        ),
    ),
    Case(
        "void adverse event",
        "POST",
        "404 204 204 403 403 403",
        ALL_404,
        _change("/adverse-events/{id}/void", "ae", VOID),
    ),
    # safety reporting (issue 14)
    Case(
        "safety status of adverse event",
        "GET",
        "404 200 200 200 200 200",
        ALL_404,
        _path("/adverse-events/{id}/safety", "ae"),
    ),
    Case(
        "record safety report sent",
        "POST",
        "404 201 201 403 403 403",
        ALL_404,
        _change("/adverse-events/{id}/reports", "ae", {"note": "CIOMS form"}),
    ),
    Case(
        "propose causality",
        "POST",
        "404 200 200 403 403 403",
        ALL_404,
        _change(
            "/adverse-events/{id}/causality/proposal",
            "ae",
            {"relatedness": "probable", "expected": False},
        ),
    ),
    Case(
        "confirm causality",
        "POST",
        "404 200 403 403 403 403",
        ALL_404,
        _change(
            "/adverse-events/{id}/causality/confirmation",
            "ae",
            {"relatedness": "possible", "expected": True},
        ),
    ),
    Case(
        "confirm grade",
        "POST",
        "404 200 403 403 403 403",
        ALL_404,
        _change("/adverse-events/{id}/grade/confirmation", "ae", {"grade": 3}),
    ),
    Case("safety clocks", "GET", "403 200 200 200 200 200", None, _fixed("/safety/clocks")),
    Case(
        "laboratory grade suggestions",
        "GET",
        "404 200 200 200 200 200",
        ALL_404,
        _on(P + "/lab-grade-suggestions", "pid"),
    ),
    Case(
        "list deviations",
        "GET",
        "404 200 200 200 200 200",
        ALL_404,
        _participant_list("/deviations"),
    ),
    Case(
        "record deviation",
        "POST",
        "404 201 201 403 403 403",
        ALL_404,
        _on(
            P + "/deviations",
            "pid",
            {
                "category": "procedure",
                "severity": "minor",
                "description": "late sample",
                "detected_on": day(1).isoformat(),
            },
        ),
    ),
    Case(
        "correct deviation",
        "PATCH",
        "404 200 200 403 403 403",
        ALL_404,
        _change("/deviations/{id}", "deviation", {"severity": "major", **FIX}),
    ),
    Case(
        "void deviation",
        "POST",
        "404 204 204 403 403 403",
        ALL_404,
        _change("/deviations/{id}/void", "deviation", VOID),
    ),
    # queries
    Case("list queries", "GET", "404 200 200 200 200 200", ALL_404, _participant_list("/queries")),
    Case("raise query", "POST", "404 201 403 201 403 201", ALL_404, _raise_query),
    Case("read query", "GET", "404 200 200 200 200 200", ALL_404, _path("/queries/{id}", "query")),
    Case(
        "answer query",
        "POST",
        "404 200 200 403 403 403",
        ALL_404,
        _change("/queries/{id}/answer", "query", {"answer": "Value confirmed"}),
    ),
    Case(
        "close query",
        "POST",
        "404 200 403 200 403 403",
        ALL_404,
        _change("/queries/{id}/close", "query", {"resolution": "Verified at source"}),
    ),
    Case(
        "reopen query",
        "POST",
        "404 200 403 200 403 403",
        ALL_404,
        _change("/queries/{id}/reopen", "answered_query", {"text": "Unit still unclear"}),
    ),
    # monitoring (issue 14): the grid, SDV progress and marks (a monitor's alone)
    Case(
        "record status grid",
        "GET",
        "403 200 200 200 200 200",
        None,
        _fixed("/monitoring/record-status"),
    ),
    Case(
        "SDV progress", "GET", "403 200 200 200 200 200", None, _fixed("/monitoring/sdv-progress")
    ),
    Case("participant SDV", "GET", "404 200 200 200 200 200", ALL_404, _on(P + "/sdv", "pid")),
    Case(
        "mark SDV",
        "POST",
        "404 403 403 201 403 403",
        ALL_404,
        _on(P + "/sdv", "pid", {"visit_code": "BL", "form": "vital_signs"}),
    ),
    # data locks and signature state (issue 14): investigators and administrators lock
    # (administrators at every site), only administrators unlock
    Case("list locks", "GET", "200 200 200 200 200 200", None, _fixed("/locks")),
    Case(
        "lock participant",
        "POST",
        "201 201 403 403 403 403",
        "201 404 404 404 404 404",
        _on(P + "/locks", "participant", {"reason": "data cleaning complete"}),
    ),
    Case(
        "lock form",
        "POST",
        "201 201 403 403 403 403",
        "201 404 404 404 404 404",
        _on(P + "/locks", "participant", {"reason": "ok", "visit_code": "SCR", "form": "consent"}),
    ),
    Case(
        "unlock",
        "POST",
        "200 403 403 403 403 403",
        "200 403 403 403 403 403",
        _change("/locks/{id}/unlock", "lock", {"reason": "correction requested"}),
    ),
    Case(
        "lock study",
        "POST",
        "201 201 403 403 403 403",
        None,
        _fixed("/locks/study", {"reason": "database lock"}),
        after=_lift_study_lock,
    ),
    Case(
        "signature state",
        "GET",
        "404 200 200 200 200 200",
        ALL_404,
        _on(P + "/signature-state", "pid"),
    ),
    # any clinical record by id (with its ETag)
    *[
        Case(f"read {name}", "GET", "404 200 200 200 200 200", ALL_404, _path(path, record))
        for name, path, record in (
            ("consent", "/consents/{id}", "consent"),
            ("screening", "/screenings/{id}", "screening"),
            ("enrollment record", "/enrollments/{id}", "enrollment"),
            ("visit", "/visits/{id}", "visit"),
            ("ITT", "/itt-tests/{id}", "itt"),
            ("insulin dose", "/insulin-doses/{id}", "insulin"),
            ("OGLD dose", "/ogld-doses/{id}", "ogld"),
            ("transplantation", "/transplantations/{id}", "transplantation"),
            ("deviation", "/deviations/{id}", "deviation"),
        )
    ],
    *MORE_CASES,
    # audit trail of one record
    Case(
        "record audit trail",
        "GET",
        "404 200 200 200 403 200",
        "404 404 404 404 403 404",
        lambda c: Req(f"/audit/measurements/{c.shared.measurement.id}"),
    ),
]


def _params() -> Iterator[Any]:
    for case in CASES:
        for site in SITES if case.other is not None else ("own",):
            expected = (case.own if site == "own" else case.other or "").split()
            for role, status in zip(ROLES, expected, strict=True):
                yield pytest.param(case, site, role, int(status), id=f"{case.name}-{site}-{role}")


@pytest.mark.parametrize(("case", "site", "role", "expected"), list(_params()))
def test_role_site_matrix(world: World, case: Case, site: str, role: str, expected: int) -> None:
    ctx = Ctx(world, site, fresh=200 <= expected < 300)
    req = case.build(ctx)
    response = _send(world, case, role, req)
    if case.after is not None:
        case.after(ctx, response)
    assert response.status_code == expected, f"{case.method} {req.path}: {response.text}"
    if expected >= 400 and case.via in ("api", "own token"):
        error = error_of(response)
        assert error["code"] != "invalid_request", error  # refused for role/site, not input
    body = response.json() if case.via == "api" and response.status_code == 200 else None
    if case.method == "GET" and isinstance(body, dict) and "version" in body:
        assert response.headers["ETag"] == f'"{body["version"]}"'
    if role in ("statistician", "coder") and response.status_code == 200:
        for secret in IDENTIFYING_STRINGS:
            assert secret not in response.text, f"{secret!r} shown to a statistician"


def _send(world: World, case: Case, role: str, req: Req) -> Any:
    """The request of a case, through the API, the FHIR endpoint or the REDCap API."""
    if case.via == "api":
        return world.api.request(
            role, case.method, req.path, json=req.json, if_match=req.version, params=req.params
        )
    if case.via == "own token":  # e.g. signing out: a token of its own, not the shared one
        token = world.api.client.post(
            "/api/v1/auth/token", json={"username": role, "password": DEMO_PASSWORD}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        return world.api.client.request(case.method, f"/api/v1{req.path}", headers=headers)
    if case.via == "fhir":
        headers = {"Authorization": f"Bearer {world.api.token(role)}"}
        return world.api.client.request(case.method, f"{FHIR}{req.path}", headers=headers)
    form = {"token": world.redcap_tokens[role], **(req.json or {})}
    return world.api.client.post(f"{REDCAP}{req.path}", data=form)


FHIR = "/fhir/R4B"
REDCAP = "/redcap/api"


def _site_zone(c: Ctx) -> Req:
    site = next(s for s in sv.list_sites(c.world.build.session, sv.SYSTEM) if s.code == c.code)
    return Req(
        f"/sites/{site.id}/time-zone",
        json={"time_zone": "Asia/Shanghai", "reason": "site's local time"},
        version=site.version,
    )


def _fhir_patient(c: Ctx) -> str:
    """The FHIR id of the site's shared participant (searched by its own site's investigator)."""
    reader = {"own": "investigator", "other": "investigator2"}[c.site]
    headers = {"Authorization": f"Bearer {c.world.api.token(reader)}"}
    found = c.world.api.client.get(f"{FHIR}/Patient", headers=headers).json()
    study_id = c.shared.participant.study_id
    for entry in found.get("entry", []):
        resource = entry["resource"]
        if resource["identifier"][0]["value"] == study_id:
            return str(resource["id"])
    raise AssertionError(f"no FHIR Patient for {study_id}")


# --- every endpoint has its row -----------------------------------------------------------------

# Sign-in steps take a password or a login challenge, not a token: no role to vary
# (tests/api/test_api_auth.py and tests/security cover them).
SIGN_IN = {
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/auth/token/code"),
    ("POST", "/api/v1/auth/totp/enrolment"),
    ("POST", "/api/v1/auth/totp/enrolment/confirm"),
    ("POST", "/api/v1/auth/password-change"),
}


def _app_endpoints(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every API, FHIR and REDCap endpoint the app answers, read
    from the app itself (included routers too), the documentation pages left out."""
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        pairs = (
            [(ctx.path, getattr(ctx, "original_route", ctx)) for ctx in contexts()]
            if contexts is not None
            else [(getattr(route, "path", ""), route)]
        )
        for path, original in pairs:
            if not path.startswith(("/api/v1/", FHIR, REDCAP)) or path.endswith(("/docs", ".json")):
                continue
            found |= {(m, path) for m in getattr(original, "methods", set()) - {"HEAD"}}
    return found


def _template(path: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{[^}]+:path\\\}", ".+", re.escape(path))
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", pattern) + "$")


def _endpoint_of(endpoints: set[tuple[str, str]], method: str, url: str) -> tuple[str, str]:
    """The endpoint a request reaches: of the templates that match, the most literal one."""
    matches = [e for e in endpoints if e[0] == method and _template(e[1]).match(url)]
    assert matches, f"{method} {url}: no endpoint answers it"
    return max(matches, key=lambda e: len(re.sub(r"\{[^}]+\}", "", e[1])))


def test_every_endpoint_has_a_row_in_the_matrix(world: World) -> None:
    """A new endpoint without its expected statuses per role fails here (and an endpoint gone
    from the app fails its case)."""
    endpoints = _app_endpoints(world.app)
    assert len(endpoints) > 100, "route discovery is broken"
    prefix = {"api": "/api/v1", "own token": "/api/v1", "fhir": FHIR, "redcap": REDCAP}
    covered = set()
    for case in CASES:
        req = case.build(Ctx(world, "own", fresh=False))
        covered.add(_endpoint_of(endpoints, case.method, prefix[case.via] + req.path))
    missing = sorted(endpoints - covered - SIGN_IN, key=lambda e: (e[1], e[0]))
    assert not missing, f"endpoints without a row in CASES: {missing}"

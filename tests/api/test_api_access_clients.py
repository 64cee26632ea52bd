"""Role × endpoint × site matrix of the client endpoints (issue 15): the FHIR R4B endpoint and
the REDCap-compatible API, for a participant of the user's own site (APGH) and of another
(PUMC). Expected statuses per role, in the order admin, investigator, coordinator, monitor,
statistician; every statistician answer is scanned for the participant's identifying data."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from api_helpers import IDENTIFYING_STRINGS, Api, make_builder
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tools.harness.database import TestDatabase

from trialdesk import services as sv
from trialdesk.services.redcap_tokens import issue_redcap_token

ROLES = ("admin", "investigator", "coordinator", "monitor", "statistician")
SITE_CODE = {"own": "APGH", "other": "PUMC"}


@dataclass
class World:
    api: Api
    client: TestClient
    study_ids: dict[str, str]
    patients: dict[str, str]
    redcap: dict[str, str]
    users: dict[str, int]


@pytest.fixture(scope="module")
def world(database: TestDatabase, app: FastAPI) -> Iterator[World]:
    seed = database.reset_seeded()
    build, session = make_builder(database, seed)
    study_ids = {}
    for site, code in SITE_CODE.items():
        pid = build.enrolled(code)
        build.baseline(pid, code)
        study_ids[site] = sv.get_participant(session, build.who(code), pid).study_id
    redcap = {r: issue_redcap_token(session, sv.SYSTEM, seed.users[r]).token for r in ROLES}
    api = Api(app)
    try:
        patients = _patients(api, "investigator") | _patients(api, "investigator2")
        ids = {site: patients[study_id] for site, study_id in study_ids.items()}
        yield World(api, api.client, study_ids, ids, redcap, seed.users)
    finally:
        api.close()
        session.close()


def _patients(api: Api, user: str) -> dict[str, str]:
    answer = api.client.get(
        "/fhir/R4B/Patient", headers={"Authorization": f"Bearer {api.token(user)}"}
    )
    return {
        e["resource"]["identifier"][0]["value"]: e["resource"]["id"] for e in answer.json()["entry"]
    }


@dataclass(frozen=True)
class Case:
    name: str
    own: str
    other: str | None
    send: Callable[[World, str, str], object]  # (world, role, site) -> response


def _fhir(path: Callable[[World, str], str]) -> Callable[[World, str, str], object]:
    def send(w: World, role: str, site: str) -> object:
        return w.client.get(path(w, site), headers={"Authorization": f"Bearer {w.api.token(role)}"})

    return send


def _redcap(**data: str) -> Callable[[World, str, str], object]:
    def send(w: World, role: str, site: str) -> object:
        form = {"token": w.redcap[role], "format": "json", "returnFormat": "json", **data}
        form = {k: v.replace("{record}", w.study_ids[site]) for k, v in form.items()}
        return w.client.post("/redcap/api/", data=form)

    return send


def _token_for(w: World, role: str, site: str) -> object:
    user = w.users["coordinator"]
    return w.api.post(role, f"/users/{user}/redcap-token", json={"days": 30})


IMPORT = '[{"record_id":"{record}","redcap_event_name":"bl_arm_1","hba1c":"8.3"}]'
CASES = [
    Case("REDCap token for a user", "201 403 403 403 403", None, _token_for),
    Case("FHIR metadata", "200 200 200 200 200", None, _fhir(lambda w, s: "/fhir/R4B/metadata")),
    Case("FHIR search", "403 200 200 200 200", None, _fhir(lambda w, s: "/fhir/R4B/Observation")),
    Case(
        "FHIR read patient",
        "403 200 200 200 200",
        "403 404 404 404 404",
        _fhir(lambda w, s: f"/fhir/R4B/Patient/{w.patients[s]}"),
    ),
    Case("REDCap metadata", "200 200 200 200 200", None, _redcap(content="metadata")),
    Case(
        "REDCap export record",
        "403 200 200 200 200",
        "403 200 200 200 200",  # another site's record is not in the answer (below)
        _redcap(content="record", **{"records[0]": "{record}"}),
    ),
    Case(
        "REDCap import record",
        "403 200 200 403 403",
        "403 400 400 403 403",  # "no such participant"
        _redcap(content="record", action="import", data=IMPORT),
    ),
]


def _params() -> Iterator[object]:
    for case in CASES:
        for site in ("own", "other") if case.other is not None else ("own",):
            expected = (case.own if site == "own" else case.other or "").split()
            for role, status in zip(ROLES, expected, strict=True):
                yield pytest.param(case, site, role, int(status), id=f"{case.name}-{site}-{role}")


@pytest.mark.parametrize(("case", "site", "role", "expected"), list(_params()))
def test_client_endpoints_matrix(
    world: World, case: Case, site: str, role: str, expected: int
) -> None:
    response = case.send(world, role, site)
    status = getattr(response, "status_code")  # noqa: B009
    text = str(getattr(response, "text"))  # noqa: B009
    assert status == expected, f"{case.name} ({site}, {role}): {text}"
    if case.name == "REDCap export record" and status == 200:
        records = {r["record_id"] for r in getattr(response, "json")()}  # noqa: B009
        assert records == ({world.study_ids["own"]} if site == "own" else set())
    if role == "statistician" and status == 200:
        for secret in IDENTIFYING_STRINGS:
            assert secret not in text, f"{secret!r} shown to a statistician"

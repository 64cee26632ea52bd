"""The read-only FHIR R4B endpoint (/fhir/R4B) served by uvicorn and used through fhirpy, a
FHIR client from PyPI: read, search by subject and code, paging; refusals as OperationOutcome."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from api_helpers import Env, day
from fastapi import FastAPI
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound
from tools.harness.live import LiveServer

from trialdesk import services as sv

LOINC = "http://loinc.org"
HBA1C_PERCENT = "4548-4"  # LOINC Hemoglobin A1c/Hemoglobin.total in Blood (%)


@pytest.fixture(scope="module")
def base(app: FastAPI) -> Iterator[str]:
    with LiveServer(app) as server:
        yield f"{server.url}/fhir/R4B"


def _client(env: Env, base: str, user: str = "investigator") -> SyncFHIRClient:
    return SyncFHIRClient(base, authorization=f"Bearer {env.api.token(user)}")


def _study(env: Env) -> tuple[str, str]:
    """An enrolled participant at each site with screening data, and an HbA1c at baseline of
    the APGH one; their study ids."""
    b = env.build
    own, other = b.enrolled("APGH"), b.enrolled("PUMC")
    b.baseline(own)
    sv.record_measurement(
        b.session,
        b.who("APGH"),
        own,
        sv.VisitMeasurement(visit_code="BL", element="hba1c", value=8.1, unit="%"),
    )
    sv.record_visit(b.session, b.who("PUMC"), other, code="BL", visit_date=day(28))
    return (
        sv.get_participant(b.session, b.who("APGH"), own).study_id,
        sv.get_participant(b.session, b.who("PUMC"), other).study_id,
    )


def _patient_id(client: SyncFHIRClient, study_id: str) -> str:
    patients = client.resources("Patient").fetch_all()
    by_subject = {p["identifier"][0]["value"]: p["id"] for p in patients}
    return str(by_subject[study_id])


def test_read_and_search_by_subject_and_code_with_fhirpy(env: Env, base: str) -> None:
    own, other = _study(env)
    client = _client(env, base)
    patients = client.resources("Patient").fetch_all()
    assert [p["identifier"][0]["value"] for p in patients] == [own]  # not the PUMC one
    patient = _patient_id(client, own)
    read = client.resources("Patient").search(_id=patient).get()
    assert read["id"] == patient and read["gender"] == "male"
    hba1c = (
        client.resources("Observation")
        .search(subject=f"Patient/{patient}", code=f"{LOINC}|{HBA1C_PERCENT}")
        .fetch_all()
    )
    assert sorted(o["valueQuantity"]["value"] for o in hba1c) == [8.1, 8.6]  # SCR and BL
    assert {o["subject"]["reference"] for o in hba1c} == {f"Patient/{patient}"}
    assert all(o["valueQuantity"]["code"] == "%" for o in hba1c)
    # the same search by `patient=` and by a bare code
    same = client.resources("Observation").search(patient=patient, code=HBA1C_PERCENT).fetch()
    assert {o["id"] for o in same} == {o["id"] for o in hba1c}
    # every reference resolves on the server: the ResearchSubject points to the Patient
    subject = client.resources("ResearchSubject").search(patient=f"Patient/{patient}").get()
    assert subject["individual"]["reference"] == f"Patient/{patient}"
    assert subject["study"]["reference"].startswith("ResearchStudy/")
    assert client.get("Patient", patient)["id"] == patient
    encounter = client.get(*hba1c[0]["encounter"]["reference"].split("/"))
    assert encounter["subject"]["reference"] == f"Patient/{patient}"
    at_visit = client.resources("Observation").search(encounter=encounter["id"]).fetch_all()
    assert hba1c[0]["id"] in {o["id"] for o in at_visit}
    (group,) = client.resources("Group").fetch_all()  # the enrolled: only this site's members
    assert [m["entity"]["reference"] for m in group["member"]] == [f"Patient/{patient}"]


def test_paging_follows_next_links(env: Env, base: str) -> None:
    own, _ = _study(env)
    client = _client(env, base)
    everything = client.resources("Observation").search(_count=500).fetch()
    assert len(everything) > 5
    paged = client.resources("Observation").limit(2).fetch_all()  # 2 a page, follows `next`
    assert [o["id"] for o in paged] == [o["id"] for o in everything]
    first_page = httpx.get(
        f"{base}/Observation",
        params={"_count": 2},
        headers={"Authorization": f"Bearer {env.api.token('investigator')}"},
    )
    bundle = Bundle.model_validate(first_page.json())  # a valid R4B searchset
    assert bundle.type == "searchset" and bundle.total == len(everything)
    relations = {link.relation for link in bundle.link or []}
    assert relations == {"self", "next"}
    assert first_page.headers["content-type"].startswith("application/fhir+json")


def test_other_site_unknown_type_and_bad_search_are_operation_outcomes(env: Env, base: str) -> None:
    _, other = _study(env)
    pumc = _client(env, base, "investigator2")
    other_patient = _patient_id(pumc, other)
    client = _client(env, base)
    with pytest.raises(ResourceNotFound):
        client.get("Patient", other_patient)  # another site's participant does not exist
    with pytest.raises(OperationOutcome) as refused:
        client.resources("Observation").search(colour="blue").fetch()
    assert "colour" in str(refused.value)
    answer = httpx.get(f"{base}/Encounterz/1", headers=_bearer(env))
    assert answer.status_code == 404
    assert _issue(answer)["code"] == "not-supported"


def _bearer(env: Env, user: str = "investigator") -> dict[str, str]:
    return {"Authorization": f"Bearer {env.api.token(user)}"}


def _issue(answer: httpx.Response) -> dict[str, Any]:
    body = answer.json()
    assert body["resourceType"] == "OperationOutcome", body
    return dict(body["issue"][0])


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_read_only(env: Env, base: str, method: str) -> None:
    answer = httpx.request(method, f"{base}/Patient/x", headers=_bearer(env), json={})
    assert answer.status_code == 405
    assert "read-only" in _issue(answer)["diagnostics"]


def test_tokens_and_permissions(env: Env, base: str) -> None:
    assert httpx.get(f"{base}/Patient").status_code == 401
    bad = httpx.get(f"{base}/Patient", headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401 and _issue(bad)["code"] == "login"
    admin = httpx.get(f"{base}/Patient", headers=_bearer(env, "admin"))
    assert admin.status_code == 403  # an administrator reads no clinical data
    stats = httpx.get(f"{base}/Patient", headers=_bearer(env, "statistician"))
    assert stats.status_code == 200


def test_capability_statement(base: str) -> None:
    answer = httpx.get(f"{base}/metadata")
    assert answer.status_code == 200
    statement = CapabilityStatement.model_validate(answer.json())
    assert statement.fhirVersion == "4.3.0"
    observation = next(r for r in statement.rest[0].resource if r.type == "Observation")
    assert {p.name for p in observation.searchParam} >= {"subject", "patient", "code", "_id"}


def test_index_follows_changes(env: Env, base: str) -> None:
    """The server caches the resources, keyed on the audit trail: a new value shows at once."""
    own, _ = _study(env)
    client = _client(env, base)
    patient = _patient_id(client, own)
    search = {"subject": f"Patient/{patient}", "code": f"{LOINC}|{HBA1C_PERCENT}"}
    assert len(client.resources("Observation").search(**search).fetch()) == 2
    b = env.build
    pid = sv.find_participant(b.session, b.who("APGH"), own).id
    sv.record_visit(b.session, b.who("APGH"), pid, code="M1", visit_date=day(58))
    sv.record_measurement(
        b.session,
        b.who("APGH"),
        pid,
        sv.VisitMeasurement(visit_code="M1", element="hba1c", value=7.7, unit="%"),
    )
    values = [
        o["valueQuantity"]["value"]
        for o in client.resources("Observation").search(**search).fetch()
    ]
    assert sorted(values) == [7.7, 8.1, 8.6]

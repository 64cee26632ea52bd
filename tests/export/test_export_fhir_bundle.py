"""FHIR R4B Bundle of the study data: every resource re-validated by its R4B model, codes and
units from the catalogue, references resolvable inside the Bundle, nothing identifying."""

from __future__ import annotations

import json
from typing import Any

import pytest
from export_samples import sdtm_sources
from fhir.resources.R4B.bundle import Bundle

from trialdesk.export.fhir.bundle import MODELS, study_bundle
from trialdesk.protocol import builtin_protocol

Json = dict[str, Any]


@pytest.fixture(scope="module")
def bundle() -> Json:
    return json.loads(
        study_bundle(builtin_protocol(), sdtm_sources()).model_dump_json(exclude_none=True)
    )


def _resources(bundle: Json, kind: str) -> list[Json]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_every_resource_validates_against_its_r4b_model(bundle: Json) -> None:
    Bundle.model_validate(bundle)
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    # Provenance comes with casebook signatures only (tests/export/test_export_signatures.py).
    assert kinds == set(MODELS) - {"Provenance"}
    for entry in bundle["entry"]:
        MODELS[entry["resource"]["resourceType"]].model_validate(entry["resource"])


def test_references_resolve_inside_the_bundle(bundle: Json) -> None:
    urls = {e["fullUrl"] for e in bundle["entry"]}
    text = json.dumps(bundle)
    references = {part.split('"')[0] for part in text.split('"reference": "')[1:]}
    contained = {r for r in references if r.startswith("#")}  # inside ResearchStudy
    assert contained == {"#enrollment", "#site-APGH", "#sponsor"}
    assert references - contained and references - contained <= urls


def test_patients_are_pseudonymous(bundle: Json) -> None:
    for patient in _resources(bundle, "Patient"):
        assert "name" not in patient and "address" not in patient
        assert len(patient.get("birthDate", "")) in (0, 4)  # year only
    first = next(
        p for p in _resources(bundle, "Patient") if p["identifier"][0]["value"] == "APGH-001"
    )
    assert (first["gender"], first["birthDate"]) == ("female", "1961")


def test_observations_are_loinc_coded_with_ucum_units(bundle: Json) -> None:
    observations = _resources(bundle, "Observation")
    hba1c = [o for o in observations if o["code"]["coding"][0]["code"] == "4548-4"]
    assert hba1c and all(o["valueQuantity"]["code"] == "%" for o in hba1c)
    assert all(o["valueQuantity"]["system"] == "http://unitsofmeasure.org" for o in hba1c)
    weight = next(o for o in observations if o["code"]["coding"][0]["code"] == "29463-7")
    assert weight["category"][0]["coding"][0]["code"] == "vital-signs"
    hcg = next(o for o in observations if o["code"]["coding"][0]["code"] == "2106-3")
    assert hcg["valueCodeableConcept"]["coding"][0]["code"] == "260385009"
    itt = [o for o in observations if o["code"]["coding"][0]["code"] == "14749-6"]
    assert len(itt) == 6


def test_transplantation_medication_and_adverse_events(bundle: Json) -> None:
    procedures = _resources(bundle, "Procedure")
    assert {p["performedDateTime"] for p in procedures} == {"2011-04-01", "2011-04-09"}
    statements = _resources(bundle, "MedicationStatement")
    insulin = [
        s for s in statements if s["medicationCodeableConcept"]["coding"][0]["code"] == "A10A"
    ]
    assert {s["dosage"][0]["doseAndRate"][0]["doseQuantity"]["value"] for s in insulin} == {
        42.0,
        30.0,
        56.0,
    }
    ogld_stopped = [s for s in statements if s["status"] == "not-taken"]
    assert len(ogld_stopped) == 1
    sae = next(a for a in _resources(bundle, "AdverseEvent") if a["identifier"]["value"] == "AE2")
    assert sae["seriousness"]["coding"][0]["code"] == "serious"
    assert sae["severity"]["text"] == "CTCAE v5.0 grade 3"
    subjects = {s["identifier"][0]["value"]: s for s in _resources(bundle, "ResearchSubject")}
    assert subjects["APGH-003"]["status"] == "withdrawn"
    assert "actualArm" not in subjects["APGH-003"]


def test_same_data_give_the_same_bundle() -> None:
    first = study_bundle(builtin_protocol(), sdtm_sources()).model_dump_json()
    assert study_bundle(builtin_protocol(), sdtm_sources()).model_dump_json() == first

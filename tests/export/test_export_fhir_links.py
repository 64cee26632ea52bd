"""FHIR Bundle (issue 15): ITT samples as timed Observations, fasting and stimulated C-peptide
told apart, every Observation linked to its visit (Encounter), the enrolled Group with members."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pandas as pd
import pytest
from export_samples import sdtm_sources

from trialdesk.export.fhir.bundle import ELEMENT_SYSTEM, TIME_OFFSET, study_bundle
from trialdesk.protocol import builtin_protocol

Json = dict[str, Any]


@pytest.fixture(scope="module")
def resources() -> list[Json]:
    """The sample study plus a fasting and a stimulated C-peptide at the first HbA1c's visit."""
    src = sdtm_sources()
    m = src.frames.measurements
    first = m[m["element"] == "hba1c"].iloc[0]
    extra = pd.DataFrame(
        [
            {**first.to_dict(), "element": e, "value": v, "unit": "ng/mL",
             "value_as_entered": str(v), "unit_as_entered": "ng/mL"}
            for e, v in (("c_peptide", 1.2), ("stimulated_c_peptide", 3.4))
        ]
    )  # fmt: skip
    frames = dataclasses.replace(src.frames, measurements=pd.concat([m, extra], ignore_index=True))
    bundle = json.loads(
        study_bundle(builtin_protocol(), dataclasses.replace(src, frames=frames)).model_dump_json(
            exclude_none=True
        )
    )
    return [e["resource"] for e in bundle["entry"]]


def _of(resources: list[Json], kind: str) -> list[Json]:
    return [r for r in resources if r["resourceType"] == kind]


def _element(observation: Json) -> str:
    return next(c["code"] for c in observation["code"]["coding"] if c["system"] == ELEMENT_SYSTEM)


def test_itt_samples_are_timed(resources: list[Json]) -> None:
    itt = [o for o in _of(resources, "Observation") if _element(o) == "itt_glucose"]
    minutes = sorted(o["component"][0]["valueQuantity"]["value"] for o in itt)
    assert minutes == [0, 3, 6, 9, 12, 15]
    for o in itt:
        component = o["component"][0]
        assert component["valueQuantity"]["code"] == "min"
        offset = next(e for e in component["extension"] if e["url"] == TIME_OFFSET)
        assert offset["valueInteger"] == component["valueQuantity"]["value"] * 60_000


def test_fasting_and_stimulated_c_peptide_have_distinct_codes(resources: list[Json]) -> None:
    elements = {_element(o) for o in _of(resources, "Observation")}
    codes = {
        (c["system"], c["code"])
        for o in _of(resources, "Observation")
        if _element(o) in ("c_peptide", "stimulated_c_peptide")
        for c in o["code"]["coding"]
    }
    assert {"c_peptide", "stimulated_c_peptide"} <= elements
    assert (ELEMENT_SYSTEM, "c_peptide") in codes
    assert (ELEMENT_SYSTEM, "stimulated_c_peptide") in codes


def test_observations_link_to_their_visit(resources: list[Json]) -> None:
    encounters = {f"urn:uuid:{e['id']}": e for e in _of(resources, "Encounter")}
    observations = _of(resources, "Observation")
    assert observations and all(o["encounter"]["reference"] in encounters for o in observations)
    for o in observations:
        encounter = encounters[o["encounter"]["reference"]]
        assert encounter["subject"] == o["subject"]  # the same participant's visit
        assert encounter["period"]["start"] <= o["effectiveDateTime"]
    visits = {e["identifier"][0]["value"] for e in encounters.values()}
    assert {"SCR", "BL"} <= visits


def test_enrolled_group_lists_its_members(resources: list[Json]) -> None:
    (group,) = _of(resources, "Group")
    patients = {f"urn:uuid:{p['id']}" for p in _of(resources, "Patient")}
    members = {m["entity"]["reference"] for m in group["member"]}
    assert group["actual"] is True and group["quantity"] == len(group["member"])
    assert members == patients


def test_one_cell_source_everywhere(resources: list[Json]) -> None:
    """The protocol's cell source (umbilical cord) names the ResearchStudy's focus, its note
    explains the registry's contradiction, and every transplantation carries the same."""
    (study,) = _of(resources, "ResearchStudy")
    assert "umbilical cord" in study["focus"][0]["text"]
    assert any("Cell source: umbilical cord" in n["text"] for n in study["note"])
    procedures = _of(resources, "Procedure")
    assert procedures and all(
        "cell source umbilical cord" in p["note"][0]["text"] for p in procedures
    )
    assert not any("bone marrow" in p["note"][0]["text"].lower() for p in procedures)

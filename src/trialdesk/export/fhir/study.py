"""FHIR R4B ResearchStudy from the protocol (identifier, title, phase, condition, arm, enrollment
target, site, sponsor, objectives), validated by the `fhir.resources.R4B` models.

R4B (4.3.0) is the FHIR R4 line that `fhir.resources` ≥ 7 ships (its root package is R5);
ResearchStudy is unchanged between R4 and R4B ([@FHIR-R4B]).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.researchstudy import ResearchStudy

from trialdesk.catalogue import default_catalogue
from trialdesk.export.fhir import terminology as t
from trialdesk.protocol import Protocol
from trialdesk.protocol.versions import ProtocolVersionInfo


def research_study(
    protocol: Protocol, versions: Sequence[ProtocolVersionInfo] = ()
) -> ResearchStudy:
    """The protocol as a validated R4B ResearchStudy (site, sponsor and the enrollment target as
    contained Location, Organization and Group)."""
    return ResearchStudy.model_validate(research_study_json(protocol, versions))


def research_study_json(
    protocol: Protocol, versions: Sequence[ProtocolVersionInfo] = ()
) -> dict[str, Any]:
    contained = [_sponsor(protocol), _enrollment(protocol)] + _sites(protocol)
    contained += [_plan(protocol, v) for v in versions]
    study: dict[str, Any] = {
        "resourceType": "ResearchStudy",
        "id": protocol.id,
        "contained": contained,
        "identifier": [
            {"use": "official", "system": t.CLINICALTRIALS_GOV, "value": protocol.registry.id}
        ],
        "title": protocol.title,
        "status": t.STATUSES.get(protocol.status, "active"),
        "primaryPurposeType": _purpose(protocol),
        "phase": _phase(protocol),
        "category": [{"text": protocol.study_type.replace("_", " ").lower()}],
        "focus": [{"text": _focus(protocol)}],
        "condition": [_condition(c) for c in protocol.conditions],
        "description": protocol.brief_summary,
        "enrollment": [{"reference": "#enrollment"}],
        "sponsor": {"reference": "#sponsor", "display": protocol.sponsor},
        "site": [{"reference": f"#site-{s.code}", "display": s.name} for s in protocol.sites],
        "arm": [
            {"name": arm.name, "type": {"text": arm.type.lower()}, "description": arm.description}
            for arm in protocol.design.arms
        ],
        "objective": _objectives(protocol),
    }
    if versions:
        _add_versions(study, versions)
    if protocol.status == "UNKNOWN":
        study["note"] = [
            {
                "text": "ClinicalTrials.gov overall status UNKNOWN: the last known "
                "status has not been verified in the past two years."
            }
        ]
    explained = " ".join(protocol.intervention.cell_source_note.split())
    if protocol.intervention.cell_source and explained:
        study.setdefault("note", []).append(
            {
                "text": f"Cell source: {_cell_source(protocol)}, as the protocol states it "
                f"(intervention.cell_source). {explained}"
            }
        )
    return study


def _cell_source(protocol: Protocol) -> str:
    return str(protocol.intervention.cell_source or "").replace("_", " ")


def _focus(protocol: Protocol) -> str:
    """The intervention with the protocol's one cell source (the Procedure notes name the same)."""
    source = _cell_source(protocol)
    if not source:
        return protocol.intervention.name
    return f"{protocol.intervention.name} ({source} mesenchymal stem cells)"


# FHIR R5 added ResearchStudy.version; R4B carries it as the cross-version extension
# (FHIR "Extensions for Using Data Elements from Other Versions of FHIR").
VERSION_EXTENSION = "http://hl7.org/fhir/5.0/StructureDefinition/extension-ResearchStudy.version"


def _add_versions(study: dict[str, Any], versions: Sequence[ProtocolVersionInfo]) -> None:
    """ResearchStudy.version (R5, as an extension in R4B) names the version in force; every
    registered version is a contained PlanDefinition (its `version`, `date` = effective date,
    `description` = summary of changes) listed in ResearchStudy.protocol."""
    today = datetime.now(UTC).date()
    in_force = [v for v in versions if v.effective_on <= today] or list(versions[:1])
    study["extension"] = [{"url": VERSION_EXTENSION, "valueString": in_force[-1].label}]
    study["protocol"] = [
        {"reference": f"#protocol-v{_id(v.label)}", "display": f"Protocol version {v.label}"}
        for v in versions
    ]


def _id(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "-", label)


def _plan(protocol: Protocol, version: ProtocolVersionInfo) -> dict[str, Any]:
    return {
        "resourceType": "PlanDefinition",
        "id": f"protocol-v{_id(version.label)}",
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:sha256:{version.sha256}"}],
        "version": version.label,
        "title": f"{protocol.id} protocol version {version.label}",
        "type": {"coding": [{"system": t.PLAN_TYPE_SYSTEM, "code": "clinical-protocol"}]},
        "status": "active",
        "date": version.effective_on.isoformat(),
        "description": f"In force from {version.effective_on.isoformat()}; consent form "
        f"{version.consent_form_version}. {version.summary}",
        "effectivePeriod": {"start": version.effective_on.isoformat()},
    }


def _phase(protocol: Protocol) -> dict[str, Any]:
    code = t.PHASES.get(protocol.phase.upper())
    if code is None:
        return {"text": protocol.phase}
    return {"coding": [{"system": t.PHASE_SYSTEM, "code": code}], "text": protocol.phase}


def _purpose(protocol: Protocol) -> dict[str, Any]:
    purpose = protocol.design.primary_purpose
    code = t.PURPOSES.get(purpose)
    if code is None:
        return {"text": purpose}
    return {"coding": [{"system": t.PURPOSE_SYSTEM, "code": code}]}


def _condition(text: str) -> dict[str, Any]:
    """The condition as registered, coded (SNOMED CT, ICD-10) when a catalogue diagnosis
    element carries the same name."""
    for element in default_catalogue():
        codes = element.codes
        if codes.snomed and text.lower() in element.label.lower():
            coding = [{"system": t.SNOMED, "code": codes.snomed, "display": text}]
            if codes.icd10:
                coding.append({"system": t.ICD10, "code": codes.icd10})
            return {"coding": coding, "text": text}
    return {"text": text}


def _sponsor(protocol: Protocol) -> dict[str, Any]:
    return {"resourceType": "Organization", "id": "sponsor", "name": protocol.sponsor}


def _enrollment(protocol: Protocol) -> dict[str, Any]:
    return {
        "resourceType": "Group",
        "id": "enrollment",
        "type": "person",
        "actual": False,
        "quantity": protocol.target_enrollment,
        "name": f"Target enrollment of {protocol.id}",
    }


def _sites(protocol: Protocol) -> list[dict[str, Any]]:
    return [
        {
            "resourceType": "Location",
            "id": f"site-{site.code}",
            "name": site.name,
            "address": {"city": site.city, "country": site.country},
        }
        for site in protocol.sites
    ]


def _objectives(protocol: Protocol) -> list[dict[str, Any]]:
    return [
        {
            "name": f"{kind} outcome {o.number}: {o.title} ({o.time_frame})",
            "type": {"coding": [{"system": t.OBJECTIVE_SYSTEM, "code": kind}]},
        }
        for kind, outcomes in (
            ("primary", protocol.primary_outcomes),
            ("secondary", protocol.secondary_outcomes),
        )
        for o in outcomes
    ]

"""A FHIR R4B collection Bundle of the study's data: ResearchStudy, pseudonymous Patients with
their ResearchSubjects, LOINC/UCUM Observations, MedicationStatements (insulin, oral drugs),
the transplantation as a Procedure, and AdverseEvents — each validated by its R4B model.

Patients carry only the study subject id, sex and birth year (no name, no full birth date):
the Bundle is pseudonymous by construction. Race and ethnicity are not on the Patient: R4B
Patient has no element for them, and the extensions that carry them (US Core
`us-core-race`/`us-core-ethnicity`, OMB categories coded in CDC Race & Ethnicity) are a US
realm profile, while NCT01142050 recruits in China; SDTM DM.RACE/ETHNIC, ODM and REDCap carry
the answers with the CDISC CT codelists instead. Resource ids are UUID 5 of study and record keys,
so the same data always give the same Bundle.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pandas as pd
from fhir.resources.R4B.adverseevent import AdverseEvent
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.group import Group
from fhir.resources.R4B.medicationstatement import MedicationStatement
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.procedure import Procedure
from fhir.resources.R4B.provenance import Provenance
from fhir.resources.R4B.researchstudy import ResearchStudy
from fhir.resources.R4B.researchsubject import ResearchSubject
from fhir.resources.R4B.resource import Resource

from trialdesk.catalogue import default_catalogue
from trialdesk.catalogue.missing import FHIR_DATA_ABSENT_REASON, code_of
from trialdesk.catalogue.precision import round_reported
from trialdesk.coding.coded import MEDDRA_SYSTEM, CodedTerm
from trialdesk.derive.safety import compute_seriousness_code
from trialdesk.export.crf.build import element_forms
from trialdesk.export.fhir import terminology as t
from trialdesk.export.fhir.form_status import apply_form_status
from trialdesk.export.fhir.study import research_study_json
from trialdesk.export.sdtm.sources import SdtmSources, confirmed_judgements, records_of
from trialdesk.export.sdtm.text import iso
from trialdesk.export.signatures import provenance_json
from trialdesk.export.values import format_number
from trialdesk.protocol import Protocol
from trialdesk.units.convert import convert, quantity, reporting_decimals

MODELS: dict[str, type[Resource]] = {
    "ResearchStudy": ResearchStudy,
    "Patient": Patient,
    "ResearchSubject": ResearchSubject,
    "Observation": Observation,
    "MedicationStatement": MedicationStatement,
    "Procedure": Procedure,
    "AdverseEvent": AdverseEvent,
    "Encounter": Encounter,
    "Group": Group,
    "Provenance": Provenance,
}
# research-subject-status (R4B) by subject status in the source frames.
SUBJECT_STATUS = {
    "ongoing": "on-study",
    "completed": "off-study",
    "withdrawn": "withdrawn",
    "died": "off-study",
}
ATC = "http://www.whocc.no/atc"
DRUGS = {
    "insulin": ("A10A", "Insulins and analogues"),
    "ogld": ("A10B", "Blood glucose lowering drugs, excl. insulins"),
}
# SNOMED CT qualifier values for qualitative results.
QUALITATIVE = {"negative": ("260385009", "Negative"), "positive": ("10828004", "Positive")}
AE_OUTCOMES = {
    "recovered": "resolved",
    "recovering": "recovering",
    "not_recovered": "ongoing",
    "recovered_with_sequelae": "resolvedWithSequelae",
    "fatal": "fatal",
    "unknown": "unknown",
}


class _Ids:
    def __init__(self, study: str) -> None:
        self.namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:trialdesk:{study}")

    def __call__(self, *key: object) -> str:
        return str(uuid.uuid5(self.namespace, "/".join(map(str, key))))


#: meta.tag of every resource made from simulated data: HL7 v3 ActReason HTEST "test health
#: data" (value set v3-ActReason "Testing"), the code FHIR servers use to keep test data apart.
SIMULATED_TAG = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
    "code": "HTEST",
    "display": "test health data",
}


def study_bundle(protocol: Protocol, src: SdtmSources) -> Bundle:
    """The validated collection Bundle; a ValidationError names any resource that is not R4B.
    Every resource is tagged `SIMULATED_TAG` when the sources are simulated."""
    ids = _Ids(protocol.id)
    study = research_study_json(protocol, src.protocol_versions)
    study["id"] = ids("study")
    resources: list[dict[str, Any]] = [study, _enrolled_group(protocol, ids, src)]
    procedures: dict[str, str] = {}
    for subject in records_of(src.frames.subjects):
        resources += _subject(protocol, ids, subject, src)
    for row in records_of(src.transplants):
        procedure = _procedure(protocol, ids, row)
        procedures[row.usubjid] = procedure["id"]
        resources.append(procedure)
    observations = _observations(ids, src)
    resources += _with_form_statuses(observations, src)
    resources += _encounters(ids, protocol, observations)
    resources += _medications(ids, src)
    resources += [
        _adverse_event(
            ids,
            row,
            procedures.get(row.usubjid),
            src.ae_coding.get(str(row.ae_id)),
            judged=confirmed_judgements(src, str(row.ae_id)),
        )  # fmt: skip
        for row in records_of(src.frames.adverse_events)
    ]
    resources += [
        provenance_json(
            sig, ids("signature", sig.subject, str(sig.number)), _ref(ids, "subject", sig.subject)
        )
        for sig in src.signatures  # every signing, each with its state (export.signatures)
    ]
    if src.simulated is not None:
        for resource in resources:
            resource.setdefault("meta", {}).setdefault("tag", []).append(SIMULATED_TAG)
    entries = [
        {
            "fullUrl": f"urn:uuid:{r['id']}",
            "resource": _validated(r).model_dump(mode="json", exclude_none=True),
        }
        for r in resources
    ]
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": ids("bundle"),
        "type": "collection",
        "entry": entries,
    }
    if src.simulated is not None:
        bundle["meta"] = {"tag": [SIMULATED_TAG]}
    return Bundle.model_validate(bundle)


def _validated(resource: dict[str, Any]) -> Resource:
    return MODELS[resource["resourceType"]].model_validate(resource)


def _ref(ids: _Ids, *key: object) -> dict[str, str]:
    return {"reference": f"urn:uuid:{ids(*key)}"}


def _subject(protocol: Protocol, ids: _Ids, s: Any, src: SdtmSources) -> list[dict[str, Any]]:
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": ids("patient", s.usubjid),
        "identifier": [{"system": f"{t.TRIALDESK}:{protocol.id}:subject", "value": s.usubjid}],
        "gender": {"F": "female", "M": "male"}.get(s.sex, "unknown"),
    }
    birth = iso(s.birth_date)
    if birth:
        patient["birthDate"] = birth[:4]  # the year only: pseudonymous
    period = {"start": iso(s.enrolled_on)}
    if iso(s.end_on):
        period["end"] = iso(s.end_on)
    arm = protocol.design.arms[0].name
    subject: dict[str, Any] = {
        "resourceType": "ResearchSubject",
        "id": ids("subject", s.usubjid),
        "identifier": [{"system": f"{t.TRIALDESK}:{protocol.id}:subject", "value": s.usubjid}],
        "status": SUBJECT_STATUS.get(s.status, "on-study"),
        "period": period,
        "study": _ref(ids, "study"),
        "individual": _ref(ids, "patient", s.usubjid),
        "assignedArm": arm,
    }
    if iso(s.transplanted_on) or s.usubjid in set(src.transplants["usubjid"]):
        subject["actualArm"] = arm
    return [patient, subject]


def _procedure(protocol: Protocol, ids: _Ids, row: Any) -> dict[str, Any]:
    notes = [
        f"Product {row.product}, lot {row.lot}, cell source "
        f"{str(row.cell_source).replace('_', ' ')}"
    ]
    if not pd.isna(row.dose_per_kg):
        notes.append(f"Dose {float(row.dose_per_kg):.3g} cells/kg")
    return {
        "resourceType": "Procedure",
        "id": ids("procedure", row.usubjid, iso(row.date)),
        "status": "completed",
        "code": {"text": protocol.intervention.name},
        "subject": _ref(ids, "patient", row.usubjid),
        "performedDateTime": iso(row.date),
        "note": [{"text": n} for n in notes],
    }


def _quantity(value: float, unit: str, decimals: int | None) -> dict[str, Any]:
    """A Quantity as reported: rounded to the reporting precision (catalogue, unit table)."""
    return {
        "value": round_reported(value, decimals),
        "unit": unit,
        "system": t.UCUM,
        "code": t.ucum(unit),
    }


def _coded_value(element: Any, value: float, unit: str) -> tuple[str, dict[str, Any]]:
    """The LOINC code and valueQuantity of a result, the code's property matching the unit
    (LOINC: 14771-0 fasting glucose [Moles/volume] for mmol/L, 1558-6 [Mass/volume] for
    mg/dL). A unit whose property has no code on record is reported in a unit that has one."""
    code = element.loinc_for(unit)
    if code is not None:
        return code, {"valueQuantity": _quantity(value, unit, element.reported_decimals)}
    target, code = next(iter(element.codes.loinc_by_unit.items()))
    converted = convert(
        quantity(value, unit, analyte=element.analyte), target, analyte=element.analyte
    )
    decimals = reporting_decimals(converted.units)
    return code, {"valueQuantity": _quantity(float(converted.magnitude), target, decimals)}


def _observation(
    ids: _Ids,
    key: tuple[Any, ...],
    day: date | str | None,
    element: Any,
    value: dict[str, Any],
    *,
    note: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """One Observation; `key` is its id's parts ``(kind, usubjid, …)``, so ``key[1]`` is the
    subject it is about."""
    subject = key[1]
    vital = element.codes.sdtm_domain == "VS"
    category = "vital-signs" if vital else "laboratory"
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "id": ids(*key),
        "status": "final",
        "category": [{"coding": [{"system": t.OBSERVATION_CATEGORY, "code": category}]}],
        "code": {
            "coding": [{"system": t.LOINC, "code": code or element.codes.loinc}],
            "text": element.label,
        },
        "subject": _ref(ids, "patient", subject),
        "effectiveDateTime": iso(day),
        **value,
    }
    if note:
        observation["note"] = [{"text": note}]
    return observation


class _Observations(list[dict[str, Any]]):
    """Observations and, by resource id, the (usubjid, visit, element) each one records."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: dict[str, tuple[str, str, str]] = {}

    def add(self, observation: dict[str, Any], usubjid: str, visit: str, element: str) -> None:
        self.append(observation)
        self.keys[observation["id"]] = (str(usubjid), str(visit), element)


def _with_form_statuses(observations: _Observations, src: SdtmSources) -> list[dict[str, Any]]:
    """Each observation's status from its form's status at that visit (`form_status`)."""
    forms = element_forms()
    for observation in observations:
        usubjid, visit, element = observations.keys[observation["id"]]
        form = forms.get(element)
        if form is not None:
            apply_form_status(observation, src.form_statuses.get((usubjid, visit, form)))
    return list(observations)


def _observations(ids: _Ids, src: SdtmSources) -> _Observations:
    catalogue = default_catalogue()
    out = _Observations()
    for m in records_of(src.frames.measurements):
        if m.element not in catalogue or not catalogue[m.element].codes.loinc:
            continue
        element = catalogue[m.element]
        loinc, value = _coded_value(element, float(m.value), str(m.unit))
        out.add(
            _observation(
                ids,
                ("obs", m.usubjid, m.visit, m.element, iso(m.date)),
                m.date,
                element,
                value,
                code=loinc,
            ),
            m.usubjid,
            m.visit,
            m.element,
        )
    itt = catalogue["itt_glucose"]
    for s in records_of(src.frames.itt):
        minute = f"{float(s.minute):g}"
        out.add(
            _timed(
                _observation(
                    ids,
                    ("itt", s.usubjid, s.visit, minute),
                    s.date,
                    itt,
                    _coded_value(itt, float(s.glucose_mmol_l), "mmol/L")[1],
                    note=f"Insulin tolerance test: {minute} min after the insulin bolus",
                    code=_coded_value(itt, float(s.glucose_mmol_l), "mmol/L")[0],
                ),
                float(s.minute),
            ),
            s.usubjid,
            s.visit,
            itt.name,
        )
    _absent_observations(ids, src, out)
    for c in records_of(src.categorical):
        if c.element not in catalogue or not catalogue[c.element].codes.loinc:
            continue
        element = catalogue[c.element]
        code, display = QUALITATIVE.get(str(c.value).lower(), (None, str(c.value)))
        concept: dict[str, Any] = {"text": display}
        if code:
            concept["coding"] = [{"system": t.SNOMED, "code": code, "display": display}]
        out.add(
            _observation(
                ids,
                ("cat", c.usubjid, c.visit, c.element, iso(c.date)),
                c.date,
                element,
                {"valueCodeableConcept": concept},
            ),
            c.usubjid,
            c.visit,
            c.element,
        )
    return out


def _absent_observations(ids: _Ids, src: SdtmSources, out: _Observations) -> None:
    """Values recorded as missing: an Observation with no value and its dataAbsentReason
    (FHIR R4 Observation.dataAbsentReason, code system data-absent-reason), the site's reason
    as a note; ``cancelled`` when the test was not performed (Observation.status)."""
    catalogue = default_catalogue()
    for n in records_of(src.frames.missing):
        if n.element not in catalogue or not catalogue[n.element].codes.loinc:
            continue
        code = code_of(n.code)
        observation = _observation(
            ids,
            ("absent", n.usubjid, n.visit, n.element, iso(n.date)),
            n.date,
            catalogue[n.element],
            {
                "dataAbsentReason": {
                    "coding": [
                        {
                            "system": FHIR_DATA_ABSENT_REASON,
                            "code": code.fhir,
                            "display": code.label,
                        }
                    ],
                    "text": code.label,
                }
            },
            note=n.reason if isinstance(n.reason, str) and n.reason else None,
        )
        if code.fhir == "not-performed":
            observation["status"] = "cancelled"
        out.add(observation, n.usubjid, n.visit, n.element)
    for x in records_of(src.itt_missing):
        _absent_sample(ids, x, catalogue["itt_glucose"], out)


def _absent_sample(ids: _Ids, x: Any, itt: Any, out: _Observations) -> None:
    """One ITT sample not taken: an Observation at its minute with its dataAbsentReason."""
    code = code_of(x.code)
    minute = f"{float(x.minute):g}"
    note = f"Insulin tolerance test: {minute} min after the insulin bolus"
    observation = _observation(
        ids,
        ("itt-absent", x.usubjid, x.visit, minute),
        x.date,
        itt,
        {
            "dataAbsentReason": {
                "coding": [
                    {"system": FHIR_DATA_ABSENT_REASON, "code": code.fhir, "display": code.label}
                ],
                "text": code.label,
            }
        },
        note=f"{note}; {x.reason}" if isinstance(x.reason, str) and x.reason else note,
    )
    if code.fhir == "not-performed":
        observation["status"] = "cancelled"
    out.add(_timed(observation, float(x.minute)), x.usubjid, x.visit, itt.name)


def _dose(element: str, value: Any) -> float:
    return round_reported(float(value), default_catalogue()[element].reported_decimals)


def _medications(ids: _Ids, src: SdtmSources) -> list[dict[str, Any]]:
    out = []
    for d in records_of(src.frames.dosing):
        for drug, amount, text in (
            ("insulin", _dose("insulin_daily_dose", d.insulin_u_per_day), "U per day"),
            ("ogld", _dose("ogld_ddd", d.ogld_ddd), "WHO defined daily doses per day"),
        ):
            code, display = DRUGS[drug]
            dosage: dict[str, Any] = {
                "text": f"Total daily dose {format_number(amount)} {text}",
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            }
            if drug == "insulin":
                dosage["doseAndRate"] = [
                    {
                        "doseQuantity": {
                            "value": amount,
                            "unit": "U",
                            "system": t.UCUM,
                            "code": "[IU]",
                        }
                    }
                ]
            out.append(
                {
                    "resourceType": "MedicationStatement",
                    "id": ids("med", d.usubjid, d.visit, drug, iso(d.date)),
                    "status": "active" if amount > 0 else "not-taken",
                    "medicationCodeableConcept": {
                        "coding": [{"system": ATC, "code": code, "display": display}]
                    },
                    "subject": _ref(ids, "patient", d.usubjid),
                    "effectiveDateTime": iso(d.date),
                    "dosage": [dosage],
                }
            )
    return out


def _meddra_event(ae: Any, coded: CodedTerm | None) -> dict[str, Any]:
    """AdverseEvent.event: the verbatim as text and, once coded, the MedDRA LLT with the
    release's version (MedDRA's code system, `trialdesk.coding.MEDDRA_SYSTEM`)."""
    event: dict[str, Any] = {"text": str(ae.term)}
    if coded is not None:
        event["coding"] = [
            {
                "system": MEDDRA_SYSTEM,
                "version": coded.dictionary_version,
                "code": str(coded.llt_code),
                "display": coded.llt_name,
            }
        ]
    return event


def _adverse_event(
    ids: _Ids,
    ae: Any,
    procedure: str | None,
    coded: CodedTerm | None = None,
    *,
    judged: tuple[bool, bool] = (True, True),
) -> dict[str, Any]:
    """One AdverseEvent; severity and the causality assessment only as the investigator
    confirmed them (`judged`: causality, grade; ICH E2A III.A.1): a proposal is left out."""
    causality_confirmed, grade_confirmed = judged
    serious = bool(ae.serious) or any(compute_seriousness_code(str(c)) for c in ae.seriousness)
    grade = int(ae.grade)
    severity = _SEVERITY_BY_GRADE.get(grade, "severe")
    outcome = str(ae.outcome or "unknown").lower().replace("/", "_").replace(" ", "_")
    outcome = {
        "recovered_resolved": "recovered",
        "recovering_resolving": "recovering",
        "not_recovered_not_resolved": "not_recovered",
        "recovered_resolved_with_sequelae": "recovered_with_sequelae",
    }.get(outcome, outcome)
    event: dict[str, Any] = {
        "resourceType": "AdverseEvent",
        "id": ids("ae", ae.usubjid, ae.ae_id),
        "identifier": {"value": str(ae.ae_id)},
        "actuality": "actual",
        "event": _meddra_event(ae, coded),
        "subject": _ref(ids, "patient", ae.usubjid),
        "date": iso(ae.onset),
        "seriousness": {
            "coding": [
                {"system": t.AE_SERIOUSNESS, "code": "serious" if serious else "non-serious"}
            ]
        },
        "outcome": {
            "coding": [{"system": t.AE_OUTCOME, "code": AE_OUTCOMES.get(outcome, "unknown")}]
        },
        "study": [_ref(ids, "study")],
    }
    if grade_confirmed:
        event["severity"] = {
            "coding": [{"system": t.AE_SEVERITY, "code": severity}],
            "text": f"CTCAE v5.0 grade {grade}",
        }
    if procedure:
        suspect: dict[str, Any] = {"instance": {"reference": f"urn:uuid:{procedure}"}}
        if causality_confirmed:
            suspect["causality"] = [{"assessment": {"text": str(ae.related).replace("_", " ")}}]
        event["suspectEntity"] = [suspect]
    return event


# --- timed samples, visits, the enrolled group (issue 15) -------------------------------------

#: FHIR extension "Time-offset" (observation-timeOffset [@FHIR-extensions]): the offset
#: in milliseconds of a sample from the Observation's effective time, on Observation.component.
_SEVERITY_BY_GRADE = {1: "mild", 2: "moderate"}
"""FHIR R4B AdverseEvent.severity (mild | moderate | severe) from the CTCAE v5.0 grade: grade 1
mild, grade 2 moderate, grade 3 and above severe."""

TIME_OFFSET = "http://hl7.org/fhir/StructureDefinition/observation-timeOffset"
#: The catalogue's element names as a code system: tells apart results that share one LOINC
#: code, e.g. fasting and stimulated (2-h post-meal) C-peptide, both LOINC 1986-9.
ELEMENT_SYSTEM = f"{t.TRIALDESK}:element"
#: v3 ActCode AMB (ambulatory), the Encounter.class of an outpatient study visit (FHIR R4B
#: Encounter, value set v3-ActEncounterCode).
AMBULATORY = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
    "code": "AMB",
    "display": "ambulatory",
}


def _timed(observation: dict[str, Any], minute: float) -> dict[str, Any]:
    """An ITT sample as a timed Observation: a component "time after the insulin bolus" in
    minutes (UCUM ``min``) carrying the Time-offset extension in milliseconds. The visit date is
    the effective time (the clock time of the bolus is not collected)."""
    observation["component"] = [
        {
            "extension": [{"url": TIME_OFFSET, "valueInteger": round(minute * 60_000)}],
            "code": {"text": "Time after the insulin bolus"},
            "valueQuantity": {
                "value": minute,
                "unit": "min",
                "system": t.UCUM,
                "code": "min",
            },
        }
    ]
    return observation


def _encounters(ids: _Ids, protocol: Protocol, observations: _Observations) -> list[dict[str, Any]]:
    """One Encounter per participant and visit, each Observation linked to its visit
    (Observation.encounter) and coded by its catalogue element beside LOINC."""
    names = {v.code: v.name for v in protocol.schedule}
    encounters: dict[str, dict[str, Any]] = {}
    for observation in observations:
        usubjid, visit, element = observations.keys[observation["id"]]
        observation["code"]["coding"].append({"system": ELEMENT_SYSTEM, "code": element})
        key = ids("encounter", usubjid, visit)
        observation["encounter"] = {"reference": f"urn:uuid:{key}"}
        day = observation.get("effectiveDateTime")
        encounter = encounters.setdefault(
            key,
            {
                "resourceType": "Encounter",
                "id": key,
                "identifier": [{"system": f"{t.TRIALDESK}:{protocol.id}:visit", "value": visit}],
                "status": "finished",
                "class": AMBULATORY,
                "type": [{"text": names.get(visit, f"Unscheduled visit {visit}")}],
                "subject": _ref(ids, "patient", usubjid),
                "period": {"start": day} if day else {},
            },
        )
        start = encounter["period"].get("start")
        if day and (start is None or day < start):
            encounter["period"]["start"] = day
    for encounter in encounters.values():
        if not encounter["period"]:
            del encounter["period"]
    return list(encounters.values())


def _enrolled_group(protocol: Protocol, ids: _Ids, src: SdtmSources) -> dict[str, Any]:
    """The enrolled participants as an actual Group (FHIR R4B Group: ``actual`` true, one
    member per Patient with the period of their participation; ``inactive`` once ended)."""
    members = []
    for s in records_of(src.frames.subjects):
        period = {"start": iso(s.enrolled_on)}
        if iso(s.end_on):
            period["end"] = iso(s.end_on)
        members.append(
            {
                "entity": _ref(ids, "patient", s.usubjid),
                "period": period,
                "inactive": s.status in ("withdrawn", "died", "completed"),
            }
        )
    return {
        "resourceType": "Group",
        "id": ids("group", "enrolled"),
        "type": "person",
        "actual": True,
        "name": f"Participants enrolled in {protocol.id}",
        "quantity": len(members),
        "member": members,
    }

"""Code systems and value-set maps for trialdesk's FHIR R4B (4.3.0) output.

Value sets: hl7.org/fhir/R4B research-study-phase, research-study-status,
research-study-prim-purp-type, research-subject-status (FHIR R4B). UCUM codes for the
catalogue's units follow the UCUM specification (unitsofmeasure.org): `u[IU]` is the micro
international unit, `[IU]` the international unit, `a` the year, `d` the day.
"""

from __future__ import annotations

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
# The ClinicalTrials.gov identifier system as used by the HL7 mCODE clinical-trial-matching
# services (ResearchStudy.identifier); HL7 has no registered URI for NCT numbers.
CLINICALTRIALS_GOV = "http://clinicaltrials.gov"
PHASE_SYSTEM = "http://terminology.hl7.org/CodeSystem/research-study-phase"
PURPOSE_SYSTEM = "http://terminology.hl7.org/CodeSystem/research-study-prim-purp-type"
OBJECTIVE_SYSTEM = "http://terminology.hl7.org/CodeSystem/research-study-objective-type"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
AE_SERIOUSNESS = "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness"
AE_SEVERITY = "http://terminology.hl7.org/CodeSystem/adverse-event-severity"
AE_OUTCOME = "http://terminology.hl7.org/CodeSystem/adverse-event-outcome"
AE_CAUSALITY = "http://terminology.hl7.org/CodeSystem/adverse-event-causality-assess"
TRIALDESK = "urn:trialdesk"

# ClinicalTrials.gov phase → research-study-phase.
PHASES = {
    "NA": "n-a",
    "EARLY_PHASE1": "early-phase-1",
    "PHASE1": "phase-1",
    "PHASE1_PHASE2": "phase-1-phase-2",
    "PHASE2": "phase-2",
    "PHASE2_PHASE3": "phase-2-phase-3",
    "PHASE3": "phase-3",
    "PHASE4": "phase-4",
}
# ClinicalTrials.gov overall status → research-study-status. UNKNOWN means "last known status
# not verified for 2 years"; the study is taken as still active and the note says so.
STATUSES = {
    "NOT_YET_RECRUITING": "approved",
    "RECRUITING": "active",
    "ENROLLING_BY_INVITATION": "active",
    "ACTIVE_NOT_RECRUITING": "closed-to-accrual",
    "SUSPENDED": "temporarily-closed-to-accrual",
    "TERMINATED": "administratively-completed",
    "COMPLETED": "completed",
    "WITHDRAWN": "withdrawn",
    "UNKNOWN": "active",
}
PURPOSES = {
    "TREATMENT": "treatment",
    "PREVENTION": "prevention",
    "DIAGNOSTIC": "diagnostic",
    "SUPPORTIVE_CARE": "supportive-care",
    "SCREENING": "screening",
    "HEALTH_SERVICES_RESEARCH": "health-services-research",
    "BASIC_SCIENCE": "basic-science",
    "DEVICE_FEASIBILITY": "device-feasibility",
}
UCUM_CODES = {
    "mmol/L": "mmol/L",
    "mg/dL": "mg/dL",
    "%": "%",
    "mmol/mol": "mmol/mol",
    "µIU/mL": "u[IU]/mL",
    "mIU/L": "m[IU]/L",
    "pmol/L": "pmol/L",
    "ng/mL": "ng/mL",
    "nmol/L": "nmol/L",
    "kg": "kg",
    "lb": "[lb_av]",
    "cm": "cm",
    "m": "m",
    "in": "[in_i]",
    "kg/m²": "kg/m2",
    "year": "a",
    "%/min": "%/min",
    "U/day": "[IU]/d",
    "U/kg/day": "[IU]/kg/d",
    # safety laboratory: enzyme units, molar and mass concentrations, counts per volume
    "U/L": "U/L",
    "µkat/L": "ukat/L",
    "µmol/L": "umol/L",
    "g/L": "g/L",
    "g/dL": "g/dL",
    "10^9/L": "10*9/L",
    "10^3/µL": "10*3/uL",
}


def ucum(unit: str) -> str:
    """The UCUM code of a catalogue unit; KeyError names units that have none here."""
    try:
        return UCUM_CODES[unit]
    except KeyError:
        raise KeyError(f"no UCUM code known for unit {unit!r}") from None


# PlanDefinition.type (http://terminology.hl7.org/CodeSystem/plan-definition-type): a protocol
PLAN_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/plan-definition-type"

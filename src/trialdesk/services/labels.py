"""What site staff call each kind of record and field: the words pages and refusals use instead
of table and column names ("data query", not "data_queries"; "collected on", not
"collected_on")."""

from __future__ import annotations

RECORD_LABELS: dict[str, str] = {
    "participants": "participant",
    "participant_identities": "participant identity",
    "consents": "informed consent",
    "screenings": "screening",
    "enrollments": "enrolment",
    "visits": "visit",
    "measurements": "measurement",
    "itt_tests": "insulin tolerance test",
    "itt_samples": "insulin tolerance test sample",
    "insulin_doses": "insulin dose",
    "ogld_doses": "oral glucose-lowering drug dose",
    "transplantations": "transplantation",
    "adverse_events": "adverse event",
    "protocol_deviations": "protocol deviation",
    "data_queries": "data query",
    "signatures": "signature",
    "data_locks": "data lock",
    "sdv_marks": "source-data verification mark",
    "coding_assignments": "coding",
    "coding_dictionaries": "coding dictionary release",
    "coding_synonyms": "coding synonym",
    "screening_declines": "screening-log entry",
    "prescreen_runs": "pre-screening run",
    "prescreen_candidates": "pre-screening candidate",
    "users": "user",
    "sites": "site",
    "api_tokens": "access token",
    "user_access": "user access",
}

# Columns whose name is not already the words for them once "_" becomes a space.
FIELD_LABELS: dict[str, str] = {
    "llt_code": "lowest level term code",
    "llt_name": "lowest level term",
    "pt_name": "preferred term",
    "hlt_name": "high level term",
    "hlgt_name": "high level group term",
    "soc_name": "system organ class",
    "atc_code": "ATC code",
    "atc_text": "ATC class",
    "coded_by": "coded by",
    "pt_code": "preferred term code",
    "hlt_code": "high level term code",
    "hlgt_code": "high level group term code",
    "soc_code": "system organ class code",
    "dictionary_version": "dictionary release",
    "target_table": "record",
    "created_by": "entered by",
    "updated_by": "changed by",
    "voided_by": "voided by",
    "reviewed_by": "reviewed by",
    "obtained_by": "obtained by",
    "signed_by": "signed by",
    "run_by": "run by",
    "visit_id": "visit",
    "participant_id": "participant",
    "site_id": "site",
    "screening_id": "screening",
    "consent_id": "consent",
    "itt_test_id": "insulin tolerance test",
    "value_as_entered": "value as entered",
    "unit_as_entered": "unit as entered",
    "dose_cells_per_kg": "cell dose (cells/kg)",
    "total_cells": "total cells",
    "weight_kg": "weight (kg)",
    "insulin_dose_u_per_kg": "insulin dose (U/kg)",
    "glucose_mmol_l": "glucose (mmol/L)",
    "total_units_per_day": "total insulin (U/day)",
    "basal_units_per_day": "basal insulin (U/day)",
    "bolus_units_per_day": "bolus insulin (U/day)",
    "daily_dose_mg": "daily dose (mg)",
    "ddd_mg": "WHO defined daily dose (mg)",
    "ddd": "defined daily doses",
    "loinc": "LOINC code",
    "arm_code": "arm",
    "severity": "classification",
}


def record_label(table: str) -> str:
    """ "data query" for ``data_queries``; unknown tables as words, never the raw name."""
    return RECORD_LABELS.get(table, table.removesuffix("s").replace("_", " "))


def field_label(column: str) -> str:
    return FIELD_LABELS.get(column, column.replace("_", " "))

"""Sample collected data for the export tests: two participants of NCT01142050, one woman with a
serious adverse event, one man who missed Month 1 — written by hand so each value is known."""

from __future__ import annotations

from datetime import UTC, date, datetime

from trialdesk.export.crf import StudyDesign, design_from_protocol
from trialdesk.export.records import AuditEntry, ClinicalData, FormRecord
from trialdesk.export.sdtm.sources import SdtmSources
from trialdesk.protocol import builtin_protocol


def design() -> StudyDesign:
    return design_from_protocol(builtin_protocol())


def _visit(
    subject: str,
    event: str,
    day: date,
    *,
    weight: float,
    hba1c: float,
    glucose: float,
    insulin_dose: float,
) -> list[FormRecord]:
    return [
        FormRecord(subject, event, "vital_signs", {"vs_date": day, "weight": weight}),
        FormRecord(
            subject,
            event,
            "labs",
            {
                "lb_date": day,
                "hba1c": hba1c,
                "fasting_glucose": glucose,
                "fasting_insulin": 14.2,
                "c_peptide": 1.25,
            },
        ),
        FormRecord(
            subject,
            event,
            "dosing",
            {"dosing_date": day, "insulin_daily_dose": insulin_dose, "ogld_ddd": 1.5},
        ),
    ]


def records() -> list[FormRecord]:
    out = [
        FormRecord(
            "APGH-001",
            "SCR",
            "consent",
            {"informed_consent": True, "consent_date": date(2011, 3, 1), "consent_version": "2.0"},
        ),
        FormRecord(
            "APGH-001",
            "SCR",
            "demographics",
            {"date_of_birth": date(1961, 5, 17), "sex": "F", "height": 158.0},
        ),
        FormRecord(
            "APGH-001",
            "SCR",
            "eligibility",
            {
                "screening_date": date(2011, 3, 1),
                "pregnant": False,
                "nursing": False,
                "fertile": False,
                "hiv_infection": False,
            },
        ),
        FormRecord(
            "APGH-001", "SCR", "medical_history", {"t2dm_diagnosis": True, "diabetes_duration": 9.0}
        ),
        FormRecord(
            "APGH-001",
            "SCR",
            "itt",
            {
                "itt_date": date(2011, 3, 2),
                "itt_glucose_t0": 9.8,
                "itt_glucose_t3": 9.6,
                "itt_glucose_t6": 9.1,
                "itt_glucose_t9": 8.7,
                "itt_glucose_t12": 8.3,
                "itt_glucose_t15": 8.0,
            },
        ),
        FormRecord(
            "APGH-001",
            "SCR",
            "labs",
            {
                "lb_date": date(2011, 3, 1),
                "hba1c": 8.4,
                "fasting_glucose": 9.8,
                "pregnancy_test": "negative",
            },
        ),
        *_visit(
            "APGH-001",
            "BL",
            date(2011, 3, 25),
            weight=66.0,
            hba1c=8.3,
            glucose=9.5,
            insulin_dose=42.0,
        ),
        FormRecord(
            "APGH-001",
            "TX",
            "transplantation",
            {
                "tx_date": date(2011, 4, 1),
                "tx_product": "UC-MSC",
                "tx_lot": "L-0042",
                "tx_cell_source": "umbilical_cord",
                "tx_dose_per_kg": 1.0,
                "tx_total_cells": 66.0,
                "tx_route": "intravenous",
                "tx_pregnancy_test": "negative",
            },
        ),
        FormRecord(
            "APGH-001",
            "TX",
            "adverse_events",
            {
                "ae_term": "Fever after infusion",
                "ae_onset": date(2011, 4, 1),
                "ae_resolved": date(2011, 4, 2),
                "ae_grade": "1",
                "ae_serious": False,
                "ae_related": "probable",
                "ae_outcome": "recovered",
                "ae_action": "not_applicable",
            },
            1,
        ),
        FormRecord(
            "APGH-001",
            "TX",
            "adverse_events",
            {
                "ae_term": "Hypoglycaemia",
                "ae_onset": date(2011, 4, 3),
                "ae_grade": "3",
                "ae_serious": True,
                "ae_seriousness": ("life_threatening", "hospitalisation"),
                "ae_related": "possible",
                "ae_outcome": "recovering",
                "ae_action": "not_applicable",
            },
            2,
        ),
        *_visit(
            "APGH-001",
            "M1",
            date(2011, 5, 1),
            weight=65.2,
            hba1c=7.9,
            glucose=8.1,
            insulin_dose=30.0,
        ),
        FormRecord(
            "APGH-002",
            "SCR",
            "consent",
            {"informed_consent": True, "consent_date": date(2011, 3, 8)},
        ),
        FormRecord(
            "APGH-002",
            "SCR",
            "demographics",
            {"date_of_birth": date(1958, 11, 2), "sex": "M", "height": 171.5},
        ),
        *_visit(
            "APGH-002",
            "BL",
            date(2011, 4, 2),
            weight=80.4,
            hba1c=9.1,
            glucose=11.2,
            insulin_dose=56.0,
        ),
        *_visit(
            "APGH-002",
            "M3",
            date(2011, 7, 15),
            weight=79.0,
            hba1c=8.2,
            glucose=8.8,
            insulin_dose=40.0,
        ),
    ]
    return out


def clinical_data() -> ClinicalData:
    recs = tuple(records())
    audit = []
    when = datetime(2011, 3, 1, 9, 0, tzinfo=UTC)
    for n, record in enumerate(recs):
        for item, value in record.values.items():
            audit.append(
                AuditEntry(
                    record.subject,
                    record.event,
                    record.form,
                    record.instance,
                    item,
                    value,
                    "coordinator1",
                    when.replace(minute=n % 60),
                    "",
                    "Insert",
                    "APGH",
                )
            )
    # A correction after first entry, with its reason (GCP: reason required for changes).
    audit.insert(
        0,
        AuditEntry(
            "APGH-001",
            "BL",
            "labs",
            1,
            "hba1c",
            3.8,
            "coordinator1",
            datetime(2011, 3, 25, 10, 0, tzinfo=UTC),
            "",
            "Insert",
            "APGH",
        ),
    )
    audit.append(
        AuditEntry(
            "APGH-001",
            "BL",
            "labs",
            1,
            "hba1c",
            8.3,
            "investigator1",
            datetime(2011, 3, 26, 8, 30, tzinfo=UTC),
            "transcription error: 3.8 typed for 8.3",
            "Update",
            "APGH",
        )
    )
    audit = [
        a
        for a in audit
        if not (
            a.item == "hba1c"
            and a.event == "BL"
            and a.subject == "APGH-001"
            and a.action == "Insert"
            and a.value == 8.3
        )
    ]
    return ClinicalData(design(), recs, tuple(audit), {"APGH-001": "APGH", "APGH-002": "APGH"})


def sdtm_sources() -> SdtmSources:
    """Source frames of three participants: APGH-001 completed with an SAE, APGH-002 ongoing,
    APGH-003 enrolled on an investigator override of a failed criterion, withdrawn before the
    transplantation."""
    import pandas as pd

    from trialdesk.analysis.sources import SourceFrames

    d = pd.Timestamp
    subjects = pd.DataFrame(
        [
            [
                "APGH-001",
                "APGH",
                "F",
                d("1961-05-17"),
                49.0,
                158.0,
                d("2011-03-20"),
                d("2011-04-01"),
                "completed",
                d("2012-04-02"),
                "completed",
            ],
            [
                "APGH-002",
                "APGH",
                "M",
                d("1958-11-02"),
                52.0,
                171.5,
                d("2011-03-28"),
                d("2011-04-09"),
                "ongoing",
                None,
                None,
            ],
            [
                "APGH-003",
                "APGH",
                "M",
                d("1970-01-09"),
                41.0,
                180.0,
                d("2011-04-10"),
                None,
                "withdrawn",
                d("2011-04-15"),
                "withdrawal_by_subject",
            ],
        ],
        columns=[
            "usubjid",
            "site",
            "sex",
            "birth_date",
            "age",
            "height_cm",
            "enrolled_on",
            "transplanted_on",
            "status",
            "end_on",
            "end_reason",
        ],
    )
    screening = pd.DataFrame(
        [
            ["C1", d("2011-03-01"), "eligible", [], True, "APGH-001"],
            ["C2", d("2011-03-08"), "eligible", [], True, "APGH-002"],
            ["C3", d("2011-04-01"), "ineligible", ["I4"], True, "APGH-003"],
            ["C4", d("2011-04-02"), "ineligible", ["I5", "E2"], False, None],
        ],
        columns=["candidate_id", "screened_on", "status", "failed", "enrolled", "usubjid"],
    )
    m = []
    for subject, visit, day, when in (
        ("APGH-001", "SCR", -28, "2011-03-01"),
        ("APGH-001", "BL", 0, "2011-03-25"),
        ("APGH-001", "M1", 37, "2011-05-01"),
        ("APGH-002", "BL", 0, "2011-04-02"),
    ):
        m += [
            [subject, visit, day, d(when), "hba1c", 8.4, "%", "68", "mmol/mol"],
            [subject, visit, day, d(when), "fasting_glucose", 9.8, "mmol/L", "176.6", "mg/dL"],
            [subject, visit, day, d(when), "weight", 66.0, "kg", "66", "kg"],
        ]
    m.append(
        ["APGH-001", "BL", 0, d("2011-03-25"), "postmeal_glucose", 14.1, "mmol/L", "14.1", "mmol/L"]
    )
    measurements = pd.DataFrame(
        m,
        columns=[
            "usubjid",
            "visit",
            "visit_day",
            "date",
            "element",
            "value",
            "unit",
            "value_as_entered",
            "unit_as_entered",
        ],
    )
    itt = pd.DataFrame(
        [
            ["APGH-001", "BL", d("2011-03-25"), float(t), g]
            for t, g in ((0, 9.8), (3, 9.6), (6, 9.1), (9, 8.7), (12, 8.3), (15, 8.0))
        ],
        columns=["usubjid", "visit", "date", "minute", "glucose_mmol_l"],
    )
    dosing = pd.DataFrame(
        [
            ["APGH-001", "BL", 0, d("2011-03-25"), 42.0, 1.5, 66.0],
            ["APGH-001", "M1", 37, d("2011-05-01"), 30.0, 1.0, 65.2],
            ["APGH-002", "BL", 0, d("2011-04-02"), 56.0, 0.0, 80.4],
        ],
        columns=[
            "usubjid",
            "visit",
            "visit_day",
            "date",
            "insulin_u_per_day",
            "ogld_ddd",
            "weight_kg",
        ],
    )
    aes = pd.DataFrame(
        [
            [
                "APGH-001",
                "AE1",
                "Fever after infusion",
                d("2011-04-01"),
                d("2011-04-02"),
                1,
                False,
                [],
                "probable",
                "recovered/resolved",
                "not applicable",
            ],
            [
                "APGH-001",
                "AE2",
                "Hypoglycaemia",
                d("2011-04-03"),
                None,
                3,
                True,
                ["life_threatening", "hospitalisation"],
                "possible",
                "recovering/resolving",
                "not applicable",
            ],
        ],
        columns=[
            "usubjid",
            "ae_id",
            "term",
            "onset",
            "resolved",
            "grade",
            "serious",
            "seriousness",
            "related",
            "outcome",
            "action",
        ],
    )
    frames = SourceFrames(
        screening=screening,
        subjects=subjects,
        measurements=measurements,
        itt=itt,
        dosing=dosing,
        adverse_events=aes,
    )
    consents = pd.DataFrame(
        [
            ["APGH-001", d("2011-03-01")],
            ["APGH-002", d("2011-03-08")],
            ["APGH-003", d("2011-04-01")],
        ],
        columns=["usubjid", "consented_on"],
    )
    transplants = pd.DataFrame(
        [
            [
                "APGH-001",
                d("2011-04-01"),
                "UC-MSC",
                "L-0042",
                "umbilical_cord",
                1.0e6,
                66.0e6,
                "intravenous",
            ],
            [
                "APGH-002",
                d("2011-04-09"),
                "UC-MSC",
                "L-0043",
                "umbilical_cord",
                1.0e6,
                80.0e6,
                "intravenous",
            ],
        ],
        columns=[
            "usubjid",
            "date",
            "product",
            "lot",
            "cell_source",
            "dose_per_kg",
            "total_cells",
            "route",
        ],
    )
    categorical = pd.DataFrame(
        [["APGH-001", "SCR", d("2011-03-01"), "pregnancy_test", "negative"]],
        columns=["usubjid", "visit", "date", "element", "value"],
    )
    return SdtmSources(frames, consents, transplants, categorical)

"""The items of the case report forms entered field by field, as one value per form.

A form is entered and passed on as a whole: from the API body, the web form, the visit page,
the simulator and the REDCap and ODM imports to its service, the way `AdverseEventReport`
carries the AE CRF (`services.adverse_event_fields`). Each field keeps the name of the API
body's field, the web form's input and the import's column, so that they map one to one.

An entry (``...Entry``, `Registration`) is a new record; a ``...Changes`` is a correction:
the version the user saw and the reason for the change (21 CFR 11.10(e); ICH E6(R2) 4.9.0:
an audit trail of who changed what, when and why), then only the items given (not None)
change. A ``...Filter`` selects the rows of a listing; `services.paging.Page` which of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from trialdesk.store.enums import (
    CellSource,
    DeviationCategory,
    DeviationSeverity,
    Route,
    ScreeningDeclineOutcome,
    ScreeningDeclineReason,
)

#: ITT samples not taken: sample time (min) → (missing-data code, the site's reason).
CodedSamples = Mapping[Any, tuple[str, str]]
#: ITT glucose samples: time (min) → value, or (time, value) pairs.
Samples = Mapping[Any, Any] | Iterable[Any]


@dataclass(frozen=True, kw_only=True)
class VisitMeasurement:
    """One measured item of a visit's vital-signs, laboratory or history form: the result
    as the site wrote it with its unit (CDISC SDTMIG v3.4 --ORRES/--ORRESU), or why there is
    none (a missing-data code, `trialdesk.catalogue.missing`, and the site's reason)."""

    visit_code: str
    element: str
    value: Any
    unit: str | None = None
    collected_on: date | None = None
    missing_code: str | None = None
    missing_reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class MeasurementChanges:
    """A correction of a measurement: a new value (with its unit), collection date, or a
    missing-data code with its reason (SDTMIG v3.4 --ORRES/--ORRESU, --STAT/--REASND)."""

    expected_version: int
    reason: str
    value: Any = None
    unit: str | None = None
    collected_on: date | None = None
    missing_code: str | None = None
    missing_reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class MeasurementFilter:
    """Which measurements a listing shows (the API's query parameters)."""

    participant_id: int | None = None
    visit_code: str | None = None
    element: str | None = None
    include_voided: bool = False


@dataclass(frozen=True, kw_only=True)
class InsulinDoseEntry:
    """The insulin dosing form: the total daily dose in force from `start_date` (U/day),
    split into basal and bolus when known, and the regimen (CDISC CDASHIG v2.3 EX domain:
    EXSTDTC, EXDOSE, EXDOSU, EXDOSFRQ "QD")."""

    start_date: date
    total_units_per_day: float
    basal_units_per_day: float | None = None
    bolus_units_per_day: float | None = None
    regimen: str | None = None
    visit_code: str | None = None


@dataclass(frozen=True, kw_only=True)
class InsulinDoseChanges:
    """A correction of an insulin dose record: only the items given change."""

    expected_version: int
    reason: str
    start_date: date | None = None
    total_units_per_day: float | None = None
    basal_units_per_day: float | None = None
    bolus_units_per_day: float | None = None
    regimen: str | None = None


@dataclass(frozen=True, kw_only=True)
class OgldDoseEntry:
    """The oral glucose-lowering drug form: drug (INN) and daily dose in mg from
    `start_date`; `ddd_mg` is its WHO defined daily dose (WHO Collaborating Centre for Drug
    Statistics Methodology, ATC/DDD Index; `trialdesk.derive.WHO_DDD_MG` when not given)."""

    start_date: date
    drug: str
    daily_dose_mg: float
    ddd_mg: float | None = None
    visit_code: str | None = None


@dataclass(frozen=True, kw_only=True)
class OgldDoseChanges:
    """A correction of an oral glucose-lowering drug record: only the items given change."""

    expected_version: int
    reason: str
    start_date: date | None = None
    daily_dose_mg: float | None = None
    ddd_mg: float | None = None


@dataclass(frozen=True, kw_only=True)
class IttTestEntry:
    """The insulin tolerance test form: the timed glucose samples in `glucose_unit`, the
    insulin dose (U/kg) and the samples not taken (low-dose short ITT, Hirst et al., Diabet
    Med 1993;10:839; KITT from the 3–15 min samples, `trialdesk.derive.compute_kitt`)."""

    visit_code: str
    samples: Samples
    glucose_unit: str
    performed_on: date | None = None
    insulin_dose_u_per_kg: float | None = None
    missing_samples: CodedSamples | None = None


@dataclass(frozen=True, kw_only=True)
class IttTestChanges:
    """A correction of an insulin tolerance test: only the items given change."""

    expected_version: int
    reason: str
    samples: Samples | None = None
    glucose_unit: str | None = None
    performed_on: date | None = None
    insulin_dose_u_per_kg: float | None = None
    missing_samples: CodedSamples | None = None


@dataclass(frozen=True, kw_only=True)
class VisitChanges:
    """A correction of a visit: its date (CDISC SDTMIG v3.4 SV.SVSTDTC), notes, why it was
    unscheduled, or why it fell outside its protocol window (ICH E3 16.2.2 deviation)."""

    expected_version: int
    reason: str
    visit_date: date | None = None
    notes: str | None = None
    unscheduled_reason: str | None = None
    deviation_reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class TransplantationEntry:
    """The cell transplantation form: product, lot, cell source, dose in cells/kg (protocol
    NCT01142050: 1.0x10^6 cells/kg), route, date, operator, the weight the dose was
    calculated on (CDISC CDASHIG v2.3 EX: EXTRT, EXLOT, EXDOSE, EXROUTE, EXSTDTC)."""

    performed_on: date
    product: str
    lot_number: str
    cell_source: CellSource | str
    dose_cells_per_kg: float
    route: Route | str
    operator: str
    weight_kg: float | None = None
    visit_code: str | None = None
    notes: str | None = None


@dataclass(frozen=True, kw_only=True)
class Registration:
    """The registration form: site and date, then the identifying data kept apart from the
    clinical data (ICH E6(R3) Appendix C, "subject identification code list"); `study_id`
    only when an import keeps the source's pseudonymous id."""

    site_code: str
    registered_on: date
    full_name: str
    date_of_birth: date
    sex: str | None = None
    medical_record_number: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None
    study_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class DeviationEntry:
    """The protocol deviation form (ICH E3 16.2.2, listing of deviations; major = important
    in the sense of ICH E3 10.2 and the ICH E6(R3) glossary)."""

    category: DeviationCategory | str
    severity: DeviationSeverity | str
    description: str
    detected_on: date
    visit_code: str | None = None
    explanation: str | None = None


@dataclass(frozen=True, kw_only=True)
class DeviationChanges:
    """A reclassification or explanation of a deviation: only the items given change."""

    expected_version: int
    reason: str
    severity: DeviationSeverity | str | None = None
    description: str | None = None
    category: DeviationCategory | str | None = None
    explanation: str | None = None


class ReviewStatus(StrEnum):
    """Whether an investigator has reviewed and signed off a deviation (ICH E6(R3) 2.7.2)."""

    AWAITING_REVIEW = "awaiting_review"
    REVIEWED = "reviewed"


@dataclass(frozen=True, kw_only=True)
class DeviationFilter:
    """Which deviations a listing shows (the API's query parameters)."""

    participant_id: int | None = None
    category: DeviationCategory | str | None = None
    site_id: int | None = None
    severity: DeviationSeverity | str | None = None
    status: ReviewStatus | str | None = None
    include_voided: bool = False


@dataclass(frozen=True, kw_only=True)
class ScreeningLogEntry:
    """A screening-log line of a candidate who declined or was not consented (ICH E6(R3)
    Appendix C, "subject screening log"; CONSORT 2010 item 13a, Schulz et al., BMJ
    2010;340:c332): no name or date of birth, only the site's label of the candidate."""

    site_code: str
    approached_on: date
    candidate_label: str
    outcome: ScreeningDeclineOutcome | str
    reason_category: ScreeningDeclineReason | str
    reason: str | None = None

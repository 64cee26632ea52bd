"""What the SDTM builders read: the analysis source frames (docs/architecture.md "Source frames")
plus the frames the analysis does not need — informed consents, the transplantations,
categorical results (pregnancy tests) and the unscheduled visits with their reasons. Built from
the study database or, in tests, by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from trialdesk.analysis.sources import SourceFrames
from trialdesk.coding.coded import CodedDrug, CodedTerm
from trialdesk.export.signatures import CasebookSignature, DataCut
from trialdesk.protocol.versions import ProtocolVersionInfo

CONSENT_COLUMNS = ("usubjid", "consented_on")
TRANSPLANT_COLUMNS = (
    "usubjid",
    "date",
    "product",
    "lot",
    "cell_source",
    "dose_per_kg",
    "total_cells",
    "route",
)
CATEGORICAL_COLUMNS = ("usubjid", "visit", "date", "element", "value")
UNSCHEDULED_COLUMNS = ("usubjid", "visit", "date", "reason")
MISSED_COLUMNS = ("usubjid", "visit", "reason")
PEOPLE_COLUMNS = (
    "usubjid",
    "sex",
    "birth_date",
    "screened_on",
    "diabetes_years",
    "race",
    "ethnicity",
)
ITT_MISSING_COLUMNS = ("usubjid", "visit", "date", "minute", "code", "reason")
DRUG_COLUMNS = ("usubjid", "med_id", "drug", "start_date", "daily_dose_mg")


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


@dataclass(frozen=True)
class AeJudgement:
    """Whether the investigator confirmed an adverse event's causality (relatedness and
    expectedness) and its CTCAE grade (issue 14): a coordinator's proposal is not the
    investigator's assessment (ICH E2A III.A.1; ICH E6(R3) 2.7.1), so the exports carry only
    confirmed judgements."""

    causality_confirmed: bool
    grade_confirmed: bool


@dataclass(frozen=True)
class SdtmSources:
    frames: SourceFrames
    consents: pd.DataFrame = field(default_factory=lambda: _empty(CONSENT_COLUMNS))
    transplants: pd.DataFrame = field(default_factory=lambda: _empty(TRANSPLANT_COLUMNS))
    categorical: pd.DataFrame = field(default_factory=lambda: _empty(CATEGORICAL_COLUMNS))
    # The protocol versions registered in the study database (TS, ResearchStudy carry them).
    protocol_versions: tuple[ProtocolVersionInfo, ...] = ()
    #: How the data were simulated (`trialdesk.store.provenance`); None for real data. TS,
    #: define.xml and FHIR say so when set.
    simulated: str | None = None
    # Unscheduled visits (code e.g. M3.U01) and why they took place (SV.SVUPDES).
    unscheduled: pd.DataFrame = field(default_factory=lambda: _empty(UNSCHEDULED_COLUMNS))
    # Scheduled visits recorded as missed, and why (SV: SVOCCUR = N, SVREASOC).
    missed: pd.DataFrame = field(default_factory=lambda: _empty(MISSED_COLUMNS))
    # Sex, date of birth, the last diabetes duration collected (years; its date in
    # screened_on), race and ethnicity (catalogue choices) of every consented candidate (DM,
    # and MH of screen failures).
    people: pd.DataFrame = field(default_factory=lambda: _empty(PEOPLE_COLUMNS))
    # Form statuses recorded at the site, (usubjid, visit, form) → "incomplete" | "unverified"
    # | "complete" (FHIR Observation.status reads them).
    form_statuses: dict[tuple[str, str, str], str] = field(default_factory=dict)
    # ITT samples not taken (a missing-data code per sample time): LB/FHIR "not done" rows.
    itt_missing: pd.DataFrame = field(default_factory=lambda: _empty(ITT_MISSING_COLUMNS))
    # MedDRA coding of the adverse events by ae_id (issue 14) and the dictionary releases
    # used ("MEDDRA" → version) for define.xml's external dictionaries.
    ae_coding: dict[str, CodedTerm] = field(default_factory=dict)
    dictionaries: dict[str, str] = field(default_factory=dict)
    # The investigator's confirmations by ae_id (issue 14); None when the sources do not come
    # from the study database (frames given as files carry the assessments as final).
    ae_judgements: dict[str, AeJudgement] | None = None
    # Each oral glucose-lowering drug as recorded (med_id "OGLD<id>"), and its coding by
    # med_id: CM's per-drug records with CMDECOD and the ATC class (issue 14).
    drugs: pd.DataFrame = field(default_factory=lambda: _empty(DRUG_COLUMNS))
    drug_coding: dict[str, CodedDrug] = field(default_factory=dict)
    # The latest casebook signature per subject (SUPPDM, FHIR Provenance) and whether the
    # study database was locked when the sources were read (`trialdesk.export.signatures`).
    signatures: tuple[CasebookSignature, ...] = ()
    data_cut: DataCut | None = None

    def __post_init__(self) -> None:
        for name, columns in (
            ("consents", CONSENT_COLUMNS),
            ("transplants", TRANSPLANT_COLUMNS),
            ("categorical", CATEGORICAL_COLUMNS),
            ("unscheduled", UNSCHEDULED_COLUMNS),
            ("missed", MISSED_COLUMNS),
            ("people", PEOPLE_COLUMNS),
            ("itt_missing", ITT_MISSING_COLUMNS),
            ("drugs", DRUG_COLUMNS),
        ):
            frame = getattr(self, name)
            missing = [c for c in columns if c not in frame.columns]
            if missing:
                raise ValueError(f"{name}: missing column(s) {', '.join(missing)}")


def records_of(frame: pd.DataFrame) -> list[Any]:
    """The frame's rows as named tuples (typed Any: columns are checked by the contract)."""
    return list(frame.itertuples(index=False))


def confirmed_judgements(src: SdtmSources, ae_id: str) -> tuple[bool, bool]:
    """(causality confirmed, grade confirmed) by the investigator; both when the sources do
    not know (frames given as files carry final assessments)."""
    if src.ae_judgements is None:
        return True, True
    known = src.ae_judgements.get(ae_id)
    if known is None:
        return False, False
    return known.causality_confirmed, known.grade_confirmed

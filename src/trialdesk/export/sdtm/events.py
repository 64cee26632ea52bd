"""Events and interventions: AE, EX (the transplantation) and CM (insulin, oral drugs).

AE: CTCAE v5.0 grade in AETOXGR, ICH E2A seriousness criteria as the AES* flags (AESER = Y
exactly when one of them is), AEOUT/AEACN in CDISC CT (codelists OUT, ACN). A coded event
carries its MedDRA term and primary path (SDTMIG v3.4 AE: AEDECOD the PT, AELLT/AELLTCD,
AEPTCD, AEHLT/AEHLTCD, AEHLGT/AEHLGTCD, AEBODSYS/AEBDSYCD and AESOC/AESOCCD the primary SOC);
an event not coded yet keeps the verbatim term in AEDECOD, upper case, and no codes
(define.xml says so).

AEREL and AETOXGR are the investigator's judgements (ICH E2A III.A.1: causality is the
investigator's assessment; ICH E6(R3) 2.7.1): exported only once the investigator confirmed
them (`SdtmSources.ae_judgements`); a coordinator's proposal not yet confirmed leaves them
blank, and define.xml's comment says why. AESER is not a judgement here: it follows from the
ICH E2A criteria recorded as facts (AES* flags; SDTMIG v3.4 AE assumption 7).
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import pandas as pd

from trialdesk.catalogue import default_catalogue
from trialdesk.catalogue.missing import SDTM_NOT_DONE, reasnd
from trialdesk.catalogue.precision import round_reported
from trialdesk.coding.coded import CodedTerm
from trialdesk.derive.safety import SERIOUSNESS_CRITERIA, compute_seriousness_code
from trialdesk.export.sdtm.sources import SdtmSources, confirmed_judgements, records_of
from trialdesk.export.sdtm.subjects import _d, _frame, epoch_on, reference_dates, usubjid
from trialdesk.export.sdtm.text import ascii_text, fit, iso, study_day
from trialdesk.export.sdtm.trial_design import (
    treatment_visit,
    visit_epoch,
    visit_fields,
    visit_number,
)
from trialdesk.protocol import Protocol

RELATEDNESS = {
    "not_related": "NOT RELATED",
    "unlikely": "UNLIKELY RELATED",
    "possible": "POSSIBLY RELATED",
    "probable": "PROBABLY RELATED",
    "definite": "RELATED",
    "related": "RELATED",
}
OUTCOMES = {
    "recovered": "RECOVERED/RESOLVED",
    "recovering": "RECOVERING/RESOLVING",
    "not_recovered": "NOT RECOVERED/NOT RESOLVED",
    "recovered_with_sequelae": "RECOVERED/RESOLVED WITH SEQUELAE",
    "fatal": "FATAL",
    "unknown": "UNKNOWN",
}
ROUTES = {
    "intravenous": "INTRAVENOUS",
    "intra_arterial": "INTRA-ARTERIAL",
    "intramuscular": "INTRAMUSCULAR",
    "subcutaneous": "SUBCUTANEOUS",
}


def _code(text: Any) -> str:
    return str(text or "").strip().lower().replace(" ", "_").replace("/", "_")


def adverse_events(protocol: Protocol, src: SdtmSources) -> pd.DataFrame:
    reference = reference_dates(src)
    rows = []
    for ae in records_of(src.frames.adverse_events):
        criteria = {compute_seriousness_code(str(c)) for c in ae.seriousness}
        flags = {flag: "Y" if code in criteria else "N" for code, flag, _ in SERIOUSNESS_CRITERIA}
        serious = "Y" if any(v == "Y" for v in flags.values()) else "N"
        onset, end, ref = _d(ae.onset), _d(ae.resolved), reference.get(ae.usubjid)
        outcome = _code(ae.outcome)
        outcome = {
            "recovered_resolved": "recovered",
            "recovering_resolving": "recovering",
            "not_recovered_not_resolved": "not_recovered",
            "recovered_resolved_with_sequelae": "recovered_with_sequelae",
        }.get(outcome, outcome)
        action = ascii_text(str(ae.action or "")).upper()
        term = fit(ascii_text(str(ae.term)))
        causality, grade = confirmed_judgements(src, str(ae.ae_id))
        rows.append(
            {
                "STUDYID": protocol.id,
                "DOMAIN": "AE",
                "USUBJID": usubjid(protocol, ae.usubjid),
                "AESPID": str(ae.ae_id),
                "AETERM": term,
                "AEDECOD": term.upper(),
                **_meddra(src.ae_coding.get(str(ae.ae_id))),
                "AESER": serious,
                **flags,
                "AEACN": action if action in _ACN else "NOT APPLICABLE",
                "AEACNOTH": None if action in _ACN or not action else action,
                "AEREL": _confirmed(causality, _relatedness(ae.related)),
                "AEOUT": OUTCOMES.get(outcome),
                "AETOXGR": _confirmed(grade, str(int(ae.grade))),
                "EPOCH": epoch_on(protocol, onset, ref),
                "AESTDTC": iso(onset),
                "AEENDTC": iso(end),
                "AESTDY": study_day(onset, ref),
                "AEENDY": study_day(end, ref),
            }
        )
    frame = _frame("AE", rows)
    frame = frame.sort_values(["USUBJID", "AESTDTC", "AESPID"], kind="stable")
    frame = frame.reset_index(drop=True)
    frame["AESEQ"] = frame.groupby("USUBJID").cumcount() + 1
    return frame


def _confirmed(confirmed: bool, value: str) -> str | None:
    return value if confirmed else None


def _relatedness(related: Any) -> str:
    return RELATEDNESS.get(_code(related), ascii_text(str(related)).upper())


def _meddra(coded: CodedTerm | None) -> dict[str, Any]:
    """The AE MedDRA variables of a coded event (none for an event not coded yet)."""
    if coded is None:
        return {}
    return {
        "AELLT": fit(ascii_text(coded.llt_name)), "AELLTCD": coded.llt_code,
        "AEDECOD": fit(ascii_text(coded.pt_name)), "AEPTCD": coded.pt_code,
        "AEHLT": fit(ascii_text(coded.hlt_name)), "AEHLTCD": coded.hlt_code,
        "AEHLGT": fit(ascii_text(coded.hlgt_name)), "AEHLGTCD": coded.hlgt_code,
        "AEBODSYS": fit(ascii_text(coded.soc_name)), "AEBDSYCD": coded.soc_code,
        "AESOC": fit(ascii_text(coded.soc_name)), "AESOCCD": coded.soc_code,
    }  # fmt: skip


# CDISC CT "Action Taken with Study Treatment" (ACN).
_ACN = {
    "DOSE INCREASED",
    "DOSE NOT CHANGED",
    "DOSE RATE REDUCED",
    "DOSE REDUCED",
    "DRUG INTERRUPTED",
    "DRUG WITHDRAWN",
    "NOT APPLICABLE",
    "UNKNOWN",
}


def _reported(element: str, value: Any) -> float:
    """A dose as reported: rounded to the catalogue element's reporting precision."""
    return round_reported(float(value), default_catalogue()[element].reported_decimals)


def exposure(protocol: Protocol, src: SdtmSources) -> pd.DataFrame:
    """One EX record per transplantation: dose in 10^6 cells/kg, route, lot."""
    tx = protocol.schedule[treatment_visit(protocol)].code
    rows = []
    for t in records_of(src.transplants):
        day = _d(t.date)
        dose = None if pd.isna(t.dose_per_kg) else round_reported(float(t.dose_per_kg) / 1e6, None)
        rows.append(
            {
                "STUDYID": protocol.id,
                "DOMAIN": "EX",
                "USUBJID": usubjid(protocol, t.usubjid),
                "EXTRT": ascii_text(str(t.product or protocol.intervention.name)).upper(),
                "EXDOSE": dose,
                "EXDOSU": "10^6 cells/kg" if dose is not None else None,
                "EXDOSFRM": "SUSPENSION",
                "EXDOSFRQ": "ONCE",
                "EXROUTE": ROUTES.get(_code(t.route), ascii_text(str(t.route)).upper()),
                "EXLOT": None if pd.isna(t.lot) else str(t.lot),
                "VISITNUM": visit_number(protocol, tx),
                "VISIT": protocol.visit(tx).name,
                "EPOCH": visit_epoch(protocol, tx),
                "EXSTDTC": iso(day),
                "EXENDTC": iso(day),
                "EXSTDY": 1,
                "EXENDY": 1,
            }
        )
    frame = _frame("EX", rows)
    frame["EXSEQ"] = frame.groupby("USUBJID").cumcount() + 1
    return frame


def medications(protocol: Protocol, src: SdtmSources) -> pd.DataFrame:
    """Total daily insulin (U) and oral glucose-lowering drugs (WHO defined daily doses) as
    recorded at each visit."""
    reference = reference_dates(src)
    rows = []
    for d in records_of(src.frames.dosing):
        day, ref = _d(d.date), reference.get(d.usubjid)
        common = {
            "STUDYID": protocol.id,
            "DOMAIN": "CM",
            "USUBJID": usubjid(protocol, d.usubjid),
            **visit_fields(protocol, d.visit),
            "CMDTC": iso(day),
            "CMDY": study_day(day, ref),
        }
        rows.append(
            {
                **common,
                "CMTRT": "INSULIN",
                "CMCAT": "INSULIN",
                **_prespecified(_reported("insulin_daily_dose", d.insulin_u_per_day)),
                "CMDOSU": "U",
            }
        )
        rows.append(
            {
                **common,
                "CMTRT": "ORAL GLUCOSE-LOWERING DRUGS",
                "CMCAT": "ORAL ANTIDIABETIC",
                **_prespecified(_reported("ogld_ddd", d.ogld_ddd)),
                "CMDOSU": "DDD",
            }
        )
    rows += _doses_not_recorded(protocol, src, reference)
    rows += _drug_records(protocol, src, reference)
    frame = _frame("CM", rows)
    frame = frame.sort_values(["USUBJID", "CMCAT", "VISITNUM"], kind="stable")
    frame = frame.reset_index(drop=True)
    frame["CMSEQ"] = frame.groupby("USUBJID").cumcount() + 1
    return frame


def _prespecified(dose: float | None) -> dict[str, Any]:
    """The protocol asks for the total daily insulin and oral-drug dose at every visit: a
    pre-specified medication (CMPRESP Y) that occurred when its dose is above 0 (SDTMIG 3.4
    §4.5.7, "Pre-specified terms; presence or absence of events/interventions")."""
    occurred = None if dose is None or math.isnan(dose) else ("Y" if dose > 0 else "N")
    return {"CMDOSTOT": dose, "CMPRESP": "Y", "CMOCCUR": occurred}


_DOSE_TREATMENTS = {
    "insulin_daily_dose": ("INSULIN", "INSULIN"),
    "ogld_ddd": ("ORAL GLUCOSE-LOWERING DRUGS", "ORAL ANTIDIABETIC"),
}


def _doses_not_recorded(
    protocol: Protocol, src: SdtmSources, reference: dict[str, date | None]
) -> list[dict[str, Any]]:
    """Doses recorded as missing at a visit: CMSTAT NOT DONE with the reason (SDTMIG 4.5.1.2)."""
    rows = []
    for n in records_of(src.frames.missing):
        if n.element not in _DOSE_TREATMENTS:
            continue
        day = _d(n.date)
        treatment, category = _DOSE_TREATMENTS[n.element]
        why = ascii_text(str(n.reason)) if isinstance(n.reason, str) and n.reason else None
        rows.append(
            {
                "STUDYID": protocol.id,
                "DOMAIN": "CM",
                "USUBJID": usubjid(protocol, n.usubjid),
                **visit_fields(protocol, n.visit),
                "CMDTC": iso(day),
                "CMDY": study_day(day, reference.get(n.usubjid)),
                "CMTRT": treatment,
                "CMCAT": category,
                "CMPRESP": "Y",  # asked by the protocol, not collected: CMOCCUR stays null
                "CMSTAT": SDTM_NOT_DONE,
                "CMREASND": reasnd(n.code, why),
            }
        )
    return rows


def _drug_records(
    protocol: Protocol, src: SdtmSources, reference: dict[str, date | None]
) -> list[dict[str, Any]]:
    """One CM record per oral glucose-lowering drug as recorded (name, daily dose in mg, start
    date); once coded, CMDECOD is the dictionary's name and CMCLAS/CMCLASCD its ATC class
    (SDTMIG v3.4 CM; ATC per WHOCC [@WHOCC-ATC])."""
    rows = []
    for d in records_of(src.drugs):
        start = _d(d.start_date)
        coded = src.drug_coding.get(str(d.med_id))
        rows.append(
            {
                "STUDYID": protocol.id,
                "DOMAIN": "CM",
                "USUBJID": usubjid(protocol, d.usubjid),
                "CMSPID": str(d.med_id),
                "CMTRT": fit(ascii_text(str(d.drug))).upper(),
                "CMDECOD": None if coded is None else fit(ascii_text(coded.drug_name)).upper(),
                "CMCAT": "ORAL ANTIDIABETIC",
                "CMCLAS": None if coded is None else fit(ascii_text(coded.atc_text)).upper(),
                "CMCLASCD": None if coded is None else coded.atc_code,
                "CMDOSTOT": float(d.daily_dose_mg),
                "CMDOSU": "mg",
                "CMSTDTC": iso(start),
                "CMSTDY": study_day(start, reference.get(d.usubjid)),
                # the epoch of the start date (CORE-000701: EPOCH for subject-level observations)
                "EPOCH": epoch_on(protocol, start, reference.get(d.usubjid)),
            }
        )
    return rows


def _codes(protocol: Protocol) -> set[str]:
    return {v.code for v in protocol.schedule}

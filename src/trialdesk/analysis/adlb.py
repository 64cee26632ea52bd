"""ADLB, the safety laboratory listing dataset (ADaM BDS shape): one row per participant, test
and sample, scheduled and unscheduled visits alike.

The tests are the catalogue's safety panel (``panel: safety``: ALT, AST, creatinine,
haemoglobin, white cell count, platelets) in their canonical units (CDISC standard units). An
eGFR row (PARAMCD ``EGFR``) is derived from each creatinine by CKD-EPI 2021 (Inker et al. 2021,
`trialdesk.derive.renal`) with the age at the sample and the participant's sex. A value
recorded as missing is a row with no AVAL and its code (MISSCD) and reason (MISSREAS), so the
listing shows what was not done, not only what was.

ALERTFL is ``LOW``/``HIGH`` when the value lies outside the catalogue's soft edit-check limits
(about CTCAE v5.0 grade 2): the limits that raised a query at entry, not a laboratory's
reference range (which the study does not collect), so ADaM's ANRIND is deliberately not used.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from trialdesk.analysis._values import is_missing
from trialdesk.analysis.sources import SourceFrames
from trialdesk.catalogue import DataElement
from trialdesk.derive import DerivationError, compute_age
from trialdesk.derive.renal import EGFR_UNIT, compute_egfr_ckd_epi_2021
from trialdesk.protocol import Protocol, catalogue_for

SAFETY_PANEL = "safety"
EGFR_PARAMCD = "EGFR"
EGFR_PARAM = "eGFR, CKD-EPI 2021"
ADLB_COLUMNS = [
    "USUBJID",
    "VISIT",
    "ADT",
    "PARAMCD",
    "PARAM",
    "AVAL",
    "AVALU",
    "ALERTFL",
    "MISSCD",
    "MISSREAS",
]


def safety_elements(protocol: Protocol) -> dict[str, DataElement]:
    """The safety panel of `protocol`'s catalogue, by element name."""
    return {e.name: e for e in catalogue_for(protocol) if e.panel == SAFETY_PANEL}


def _alert(element: DataElement, value: float) -> str | None:
    limits = element.limits
    if limits.soft_low is not None and value < limits.soft_low:
        return "LOW"
    if limits.soft_high is not None and value > limits.soft_high:
        return "HIGH"
    return None


def _value_row(element: DataElement, m: Any) -> dict[str, Any]:
    value = float(m.value)
    return {
        "USUBJID": m.usubjid,
        "VISIT": m.visit,
        "ADT": m.date,
        "PARAMCD": element.codes.sdtm_testcd or element.name.upper(),
        "PARAM": element.label,
        "AVAL": value,
        "AVALU": m.unit,
        "ALERTFL": _alert(element, value),
    }


def _egfr_row(m: Any, subject: Any) -> dict[str, Any] | None:
    """eGFR from a creatinine row; None when age or sex is unknown or out of the equation's
    range (the creatinine itself is still listed)."""
    if subject is None or is_missing(subject.birth_date) or is_missing(m.date):
        return None
    try:
        age = compute_age(pd.Timestamp(subject.birth_date).date(), pd.Timestamp(m.date).date())
        egfr = compute_egfr_ckd_epi_2021(float(m.value), age, str(subject.sex))
    except DerivationError:
        return None
    return {
        "USUBJID": m.usubjid,
        "VISIT": m.visit,
        "ADT": m.date,
        "PARAMCD": EGFR_PARAMCD,
        "PARAM": EGFR_PARAM,
        "AVAL": egfr,
        "AVALU": EGFR_UNIT,
        "ALERTFL": None,
    }


def _missing_row(element: DataElement, n: Any) -> dict[str, Any]:
    return {
        "USUBJID": n.usubjid,
        "VISIT": n.visit,
        "ADT": n.date,
        "PARAMCD": element.codes.sdtm_testcd or element.name.upper(),
        "PARAM": element.label,
        "MISSCD": n.code,
        "MISSREAS": n.reason,
    }


def derive_adlb(frames: SourceFrames, protocol: Protocol) -> pd.DataFrame:
    """The safety laboratory rows of `frames` (module docstring), by participant, date, test."""
    panel = safety_elements(protocol)
    subjects = {s.usubjid: s for s in frames.subjects.itertuples(index=False)}
    rows: list[dict[str, Any]] = []
    measured = frames.measurements[frames.measurements["element"].isin(panel)]
    for m in measured.itertuples(index=False):
        rows.append(_value_row(panel[str(m.element)], m))
        if m.element == "creatinine" and (egfr := _egfr_row(m, subjects.get(m.usubjid))):
            rows.append(egfr)
    for n in frames.missing[frames.missing["element"].isin(panel)].itertuples(index=False):
        rows.append(_missing_row(panel[str(n.element)], n))
    adlb = pd.DataFrame(rows, columns=ADLB_COLUMNS)
    if adlb.empty:
        return adlb
    return adlb.sort_values(["USUBJID", "ADT", "PARAMCD"], kind="stable").reset_index(drop=True)

"""Findings domains LB and VS from the measurements, ITT samples and categorical results.

--ORRES/--ORRESU keep the value and unit as entered at the site; --STRESC/--STRESN/--STRESU are
the value in the catalogue's canonical unit (the standard unit); LOINC codes come from the
catalogue, the code whose property matches the original unit (molar glucose 14771-0 for
mmol/L, mass 1558-6 for mg/dL). --LOBXFL flags the last record before the transplantation per
subject and test (SDTMIG v3.4 §4.5.9). Derived indices (KITT, HOMA-IR) belong to the analysis
datasets, not LB.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from trialdesk.catalogue import DataElement, default_catalogue
from trialdesk.catalogue.lab_ranges import LabRanges, default_lab_ranges
from trialdesk.catalogue.missing import SDTM_NOT_DONE, reasnd
from trialdesk.catalogue.precision import round_reported
from trialdesk.derive import compute_bmi
from trialdesk.export.sdtm.ranges import range_fields
from trialdesk.export.sdtm.sources import SdtmSources, records_of
from trialdesk.export.sdtm.subjects import _d, _frame, reference_dates, usubjid
from trialdesk.export.sdtm.text import ascii_text, iso, study_day
from trialdesk.export.sdtm.trial_design import visit_fields
from trialdesk.export.values import format_number
from trialdesk.protocol import Protocol


@dataclass(frozen=True)
class LabContext:
    """How a catalogue element is sampled: specimen, fasting, time point after a challenge."""

    spec: str
    category: str = "CHEMISTRY"
    fasting: str | None = None
    tpt: str | None = None
    tptnum: float | None = None
    eltm: str | None = None
    tptref: str | None = None


# Specimens follow the LOINC system of each code (4548-4 Blood; 1558-6, 1521-4, 1518-0,
# 14749-6 Serum/Plasma; 20448-7, 1986-9 Serum/Plasma; 2106-3 Urine); CDISC CT "Specimen Type".
LAB_CONTEXT: dict[str, LabContext] = {
    "hba1c": LabContext("BLOOD"),
    "fasting_glucose": LabContext("PLASMA", fasting="Y"),
    "fasting_insulin": LabContext("SERUM", fasting="Y"),
    "c_peptide": LabContext("SERUM", fasting="Y"),
    "postmeal_glucose": LabContext(
        "PLASMA", fasting="N", tpt="2H POST MEAL", tptnum=120, eltm="PT2H", tptref="STANDARD MEAL"
    ),
    "stimulated_c_peptide": LabContext(
        "SERUM", fasting="N", tpt="2H POST MEAL", tptnum=120, eltm="PT2H", tptref="STANDARD MEAL"
    ),
    "ogtt_2h_glucose": LabContext(
        "PLASMA",
        category="OGTT",
        fasting="N",
        tpt="2H POST 75 G GLUCOSE",
        tptnum=120,
        eltm="PT2H",
        tptref="75 G ORAL GLUCOSE",
    ),
    "pregnancy_test": LabContext("URINE", category="URINALYSIS"),
    # Safety laboratory (LOINC system: 1742-6, 1920-8, 14682-9 Serum/Plasma; 718-7, 6690-2,
    # 777-3 Blood); CDISC CT "Category of Laboratory Test" CHEMISTRY / HEMATOLOGY.
    "alt": LabContext("SERUM"),
    "ast": LabContext("SERUM"),
    "creatinine": LabContext("SERUM"),
    "haemoglobin": LabContext("BLOOD", category="HEMATOLOGY"),
    "white_cell_count": LabContext("BLOOD", category="HEMATOLOGY"),
    "platelets": LabContext("BLOOD", category="HEMATOLOGY"),
}
ITT_CATEGORY = "INSULIN TOLERANCE TEST"
# CDISC CT "Unit" (C71620) submission values for the catalogue's units (ASCII). µIU/mL and ng/mL
# are CT synonyms of mIU/L (C67405) and ug/L (C67306), the same quantities (1 µIU/mL = 1 mIU/L,
# 1 ng/mL = 1 ug/L): SDTM carries the submission value, numbers unchanged [@NCI-EVS-CT].
UNITS = {
    "µIU/mL": "mIU/L",
    "μIU/mL": "mIU/L",
    "uIU/mL": "mIU/L",
    "ng/mL": "ug/L",
    "kg/m²": "kg/m2",
    "lb": "LB",
    "U/day": "U/day",
}


def cdisc_unit(unit: Any) -> str | None:
    if unit is None or (isinstance(unit, float) and pd.isna(unit)) or unit == "":
        return None
    return UNITS.get(str(unit), ascii_text(str(unit)))


def _result_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, int | float):
        return format_number(float(value))
    return ascii_text(str(value))


def _visit_fields(protocol: Protocol, visit: str) -> dict[str, Any]:
    return visit_fields(protocol, visit)


def _not_done(domain: str, code: str, reason: Any) -> dict[str, Any]:
    """--STAT/--REASND of a value recorded as missing (SDTMIG v3.4 4.5.1.2): no result."""
    why = ascii_text(str(reason)) if isinstance(reason, str) and reason else None
    return {f"{domain}STAT": SDTM_NOT_DONE, f"{domain}REASND": reasnd(code, why)}


def laboratory(protocol: Protocol, src: SdtmSources) -> pd.DataFrame:
    catalogue = default_catalogue()
    reference = reference_dates(src)
    normal = _NormalRanges(src)
    rows: list[dict[str, Any]] = []
    for m in records_of(src.frames.measurements):
        if m.element not in LAB_CONTEXT or m.element not in catalogue:
            continue
        element = catalogue[m.element]
        entered = isinstance(m.value_as_entered, str) and bool(m.value_as_entered)
        unit = m.unit_as_entered if entered and isinstance(m.unit_as_entered, str) else m.unit
        result = _Result(
            orres=m.value_as_entered if entered else float(m.value),
            orresu=unit,
            stres=float(m.value),
            stresu=m.unit,
        )
        row = _lab_row(protocol, element, LAB_CONTEXT[m.element], _at(m, reference), result)
        rows.append({**row, **normal.fields(m.usubjid, element, unit, row["LBSTRESN"])})
    itt = catalogue["itt_glucose"]
    for s in records_of(src.frames.itt):
        context = itt_context(float(s.minute))
        rows.append(
            _lab_row(
                protocol,
                itt,
                context,
                _at(s, reference),
                _Result(
                    orres=float(s.glucose_mmol_l),
                    orresu="mmol/L",
                    stres=float(s.glucose_mmol_l),
                    stresu="mmol/L",
                ),
            )
        )
    for c in records_of(src.categorical):
        if c.element not in LAB_CONTEXT or c.element not in catalogue:
            continue
        text = ascii_text(str(c.value)).upper()
        rows.append(
            _lab_row(
                protocol,
                catalogue[c.element],
                LAB_CONTEXT[c.element],
                _at(c, reference),
                _Result(orres=text, stres=text),
            )
        )
    for x in records_of(src.itt_missing):  # one ITT sample not taken, at its time point
        row = _lab_row(protocol, itt, itt_context(float(x.minute)), _at(x, reference), _NO_RESULT)
        rows.append({**row, **_not_done("LB", x.code, x.reason)})
    for n in records_of(src.frames.missing):
        if n.element not in (*LAB_CONTEXT, "itt_glucose") or n.element not in catalogue:
            continue
        row = _lab_row(
            protocol,
            catalogue[n.element],
            LAB_CONTEXT.get(n.element, LabContext("PLASMA", category=ITT_CATEGORY, fasting="Y")),
            _at(n, reference),
            _NO_RESULT,
        )
        rows.append({**row, **_not_done("LB", n.code, n.reason)})
    frame = _frame("LB", [{"STUDYID": protocol.id, "DOMAIN": "LB", **r} for r in rows])
    frame = _flag_baseline(
        frame, "LB", ["USUBJID", "LBTESTCD", "LBCAT", "LBSPEC", "LBTPTNUM"], reference, protocol
    )
    return _sequence(frame, "LB", ["USUBJID", "LBTESTCD", "VISITNUM", "LBTPTNUM", "LBDTC"])


class _NormalRanges:
    """The reference range of each result from its site laboratory's table (the shipped
    default, `catalogue.lab_ranges`)."""

    def __init__(self, src: SdtmSources, ranges: LabRanges | None = None) -> None:
        self.sites = {str(s.usubjid): str(s.site) for s in records_of(src.frames.subjects)}
        self.ranges = ranges or default_lab_ranges()

    def fields(
        self, subject: str, element: DataElement, unit: str | None, stres: Any
    ) -> dict[str, Any]:
        lab = self.ranges.for_site(self.sites.get(subject), element.name)
        value = stres if isinstance(stres, float) else None
        return range_fields(element, lab, orresu=unit, stres=value)


def itt_context(minute: float) -> LabContext:
    """An ITT sample's time point after the insulin bolus (LBTPT/LBTPTNUM/LBELTM/LBTPTREF)."""
    text = format_number(minute)
    return LabContext(
        "PLASMA",
        category=ITT_CATEGORY,
        fasting="Y",
        tpt=f"{text} MIN POST INSULIN",
        tptnum=minute,
        eltm=f"PT{text}M",
        tptref="INSULIN BOLUS",
    )


@dataclass(frozen=True)
class _Result:
    """A finding's result as collected (--ORRES, --ORRESU) and in standard units (--STRESC,
    --STRESN, --STRESU): SDTMIG v3.4 §6.3 Findings Observation Class."""

    orres: Any = None
    orresu: Any = None
    stres: Any = None
    stresu: Any = None


_NO_RESULT = _Result()
"""No result: a test not done (its --STAT and --REASND come from `_not_done`)."""


@dataclass(frozen=True)
class _At:
    """Whose finding and when: subject, visit, date, and the subject's reference start date
    (RFSTDTC) that --DY counts from (SDTMIG v3.4 §4.4.4)."""

    subject: str
    visit: str
    day: date | None
    ref: date | None


def _at(record: Any, reference: dict[str, date | None]) -> _At:
    """The `_At` of a source record with ``usubjid``, ``visit`` and ``date``."""
    return _At(record.usubjid, record.visit, _d(record.date), reference.get(record.usubjid))


def _lab_row(
    protocol: Protocol, element: Any, ctx: LabContext, at: _At, result: _Result
) -> dict[str, Any]:
    subject, visit, day, ref = at.subject, at.visit, at.day, at.ref
    orres, orresu, stres, stresu = result.orres, result.orresu, result.stres, result.stresu
    numeric = isinstance(stres, float)
    if numeric:
        stres = round_reported(stres, element.reported_decimals)
    if isinstance(orres, float):
        orres = round_reported(orres, element.reported_decimals)
    return {
        "USUBJID": usubjid(protocol, subject),
        "LBTESTCD": element.codes.sdtm_testcd,
        "LBTEST": element.codes.sdtm_test,
        "LBCAT": ctx.category,
        "LBORRES": _result_text(orres),
        "LBORRESU": cdisc_unit(orresu),
        "LBSTRESC": _result_text(stres),
        "LBSTRESN": stres if numeric else None,
        "LBSTRESU": cdisc_unit(stresu),
        "LBSPEC": ctx.spec,
        "LBFAST": ctx.fasting,
        "LBLOINC": element.loinc_for(orresu if isinstance(orresu, str) else None),
        **_visit_fields(protocol, visit),
        "LBDTC": iso(day),
        "LBDY": study_day(day, ref),
        "LBTPT": ctx.tpt,
        "LBTPTNUM": ctx.tptnum,
        "LBELTM": ctx.eltm,
        "LBTPTREF": ctx.tptref,
    }


def _flag_baseline(
    frame: pd.DataFrame,
    domain: str,
    keys: list[str],
    reference: dict[str, date | None],
    protocol: Protocol,
) -> pd.DataFrame:
    """--LOBXFL = Y on the last record with a result on or before the transplantation date, per
    group of `keys` (test and, for timed samples, time point: each ITT sample time has its own
    baseline). SDTMIG v3.4 replaced --BLFL by --LOBXFL (§4.5.9)."""
    if frame.empty:
        return frame
    refs = {usubjid(protocol, k): v for k, v in reference.items()}
    dates = frame[f"{domain}DTC"].map(lambda t: _d(t) if isinstance(t, str) else None)
    before = [
        d is not None and refs.get(u) is not None and d <= refs[u]
        for d, u in zip(dates, frame["USUBJID"], strict=True)
    ]
    candidates = frame[pd.Series(before, index=frame.index) & frame[f"{domain}STRESC"].notna()]
    last = (
        candidates.assign(_d=dates[candidates.index])
        .sort_values("_d")
        .groupby(keys, dropna=False)
        .tail(1)
        .index
    )
    frame[f"{domain}LOBXFL"] = None
    frame.loc[last, f"{domain}LOBXFL"] = "Y"
    return frame


def _sequence(frame: pd.DataFrame, domain: str, order: list[str]) -> pd.DataFrame:
    frame = frame.sort_values(order, kind="stable", na_position="first").reset_index(drop=True)
    frame[f"{domain}SEQ"] = frame.groupby("USUBJID").cumcount() + 1
    return frame


def vital_signs(protocol: Protocol, src: SdtmSources) -> pd.DataFrame:
    """Weight and height as measured; BMI as measured or else derived from the visit's weight
    and the height (WHO: kg / m²), flagged VSDRVFL = Y."""
    catalogue = default_catalogue()
    reference = reference_dates(src)
    heights = {
        s.usubjid: s.height_cm for s in records_of(src.frames.subjects) if not pd.isna(s.height_cm)
    }
    rows: list[dict[str, Any]] = []
    measured_bmi = set()
    for m in records_of(src.frames.measurements):
        if m.element not in ("weight", "height", "bmi"):
            continue
        measured_bmi |= {(m.usubjid, m.visit)} if m.element == "bmi" else set()
        orres = (
            m.value_as_entered
            if isinstance(m.value_as_entered, str) and m.value_as_entered
            else float(m.value)
        )
        orresu = (
            m.unit_as_entered
            if isinstance(m.unit_as_entered, str) and m.unit_as_entered
            else m.unit
        )
        rows.append(
            _vs_row(
                protocol,
                catalogue[m.element],
                _at(m, reference),
                _Result(orres, orresu, float(m.value), m.unit),
                derived=m.element == "bmi",
            )
        )
        if m.element == "height":
            heights.setdefault(m.usubjid, float(m.value))
    for m in records_of(src.frames.measurements):
        key = (m.usubjid, m.visit)
        if m.element != "weight" or key in measured_bmi or m.usubjid not in heights:
            continue
        bmi = compute_bmi(float(m.value), float(heights[m.usubjid]) / 100)
        rows.append(
            _vs_row(
                protocol,
                catalogue["bmi"],
                _at(m, reference),
                _Result(stres=bmi, stresu="kg/m²"),
                derived=True,
            )
        )
    for n in records_of(src.frames.missing):
        if n.element not in ("weight", "height", "bmi"):
            continue
        row = _vs_row(protocol, catalogue[n.element], _at(n, reference), _NO_RESULT, derived=False)
        rows.append({**row, **_not_done("VS", n.code, n.reason)})
    frame = _frame("VS", [{"STUDYID": protocol.id, "DOMAIN": "VS", **r} for r in rows])
    frame = _flag_baseline(frame, "VS", ["USUBJID", "VSTESTCD"], reference, protocol)
    return _sequence(frame, "VS", ["USUBJID", "VSTESTCD", "VISITNUM", "VSDTC"])


def _vs_row(
    protocol: Protocol, element: Any, at: _At, result: _Result, *, derived: bool
) -> dict[str, Any]:
    subject, visit, day, ref = at.subject, at.visit, at.day, at.ref
    orres, orresu = result.orres, result.orresu
    stres: float | None = result.stres
    stresu: str | None = result.stresu
    if stres is not None:
        stres = round_reported(stres, element.reported_decimals)
    if isinstance(orres, float):
        orres = round_reported(orres, element.reported_decimals)
    return {
        "USUBJID": usubjid(protocol, subject),
        "VSTESTCD": element.codes.sdtm_testcd,
        "VSTEST": element.codes.sdtm_test,
        "VSORRES": _result_text(orres),
        "VSORRESU": cdisc_unit(orresu),
        "VSSTRESC": _result_text(stres),
        "VSSTRESN": stres,
        "VSSTRESU": cdisc_unit(stresu),
        "VSDRVFL": "Y" if derived else None,
        **_visit_fields(protocol, visit),
        "VSDTC": iso(day),
        "VSDY": study_day(day, ref),
    }

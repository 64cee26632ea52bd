"""Trial design datasets from the protocol: TS, TA, TE, TV, TI (SDTMIG v3.4 §7).

Elements and epochs follow the schedule: visits before the one that collects the
`transplantation` form are the screening element (SCREENING epoch, baseline included), the
transplantation visit starts the treatment element, the visits after it are follow-up. The
reference start date (RFSTDTC) of every subject is the transplantation date, so planned study
days (VISITDY) count from the transplantation visit (day 1), days before it are negative.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from trialdesk.catalogue import default_catalogue
from trialdesk.export.errors import ExportError
from trialdesk.export.sdtm.ct_codes import terminology
from trialdesk.export.sdtm.spec import DOMAINS
from trialdesk.export.sdtm.text import ascii_text, fit
from trialdesk.protocol import Protocol
from trialdesk.protocol.expr import AllOf, AnyOf, Compare, Implies, Not
from trialdesk.protocol.unscheduled import (
    parse_unscheduled,
    unscheduled_label,
    unscheduled_number,
)
from trialdesk.protocol.versions import ProtocolVersionInfo

TREATMENT_FORM = "transplantation"
SDTM_VERSION, SDTMIG_VERSION = "2.0", "3.4"
# ISO 3166-1 alpha-3 for site countries (TS FCNTRY, DM COUNTRY).
COUNTRIES = {
    "china": "CHN",
    "united states": "USA",
    "germany": "DEU",
    "india": "IND",
    "united kingdom": "GBR",
    "france": "FRA",
    "japan": "JPN",
    "korea, republic of": "KOR",
}
# CDISC CT "Trial Phase Classification" submission values by ClinicalTrials.gov phase.
PHASES = {
    "EARLY_PHASE1": "PHASE 0 TRIAL",
    "PHASE1": "PHASE I TRIAL",
    "PHASE1_PHASE2": "PHASE I/II TRIAL",
    "PHASE2": "PHASE II TRIAL",
    "PHASE2_PHASE3": "PHASE II/III TRIAL",
    "PHASE3": "PHASE III TRIAL",
    "PHASE4": "PHASE IV TRIAL",
    "NA": "NOT APPLICABLE",
}
# The CDISC Controlled Terminology release the submission values follow (declared in TS
# TSVCDVER and define.xml def:Standards).
CDISC_CT_VERSION = terminology().version  # ct_codes.yaml: the codes and their release
# TS parameters whose value is an ISO 8601 date or duration (SDTMIG v3.4 §7.6.1 TS
# Assumption 8: TSVCDREF = "ISO 8601", TSVALCD null).
ISO_8601_PARAMETERS = ("SSTDTC", "SENDTC", "DCUTDTC", "LENGTH", "AGEMIN", "AGEMAX", "PVEFFDTC")
# Null flavour (CDISC CT "Null Flavor", ISO 21090 [@ISO21090]) for a parameter the protocol
# record does not state: no information.
NO_INFORMATION = "NI"
INTERVENTION_TYPES = {
    "BIOLOGICAL": "BIOLOGIC",
    "DRUG": "DRUG",
    "DEVICE": "DEVICE",
    "PROCEDURE": "PROCEDURE",
    "GENETIC": "GENETIC",
}
EPOCHS = ("SCREENING", "TREATMENT", "FOLLOW-UP")


def treatment_visit(protocol: Protocol) -> int:
    """Index in the schedule of the visit that collects the transplantation."""
    for index, visit in enumerate(protocol.schedule):
        if TREATMENT_FORM in visit.forms:
            return index
    raise ExportError(f"no visit of {protocol.id} collects the {TREATMENT_FORM} form")


def visit_epoch(protocol: Protocol, code: str) -> str:
    tx = treatment_visit(protocol)
    index = [v.code for v in protocol.schedule].index(code)
    return EPOCHS[0] if index < tx else EPOCHS[1] if index == tx else EPOCHS[2]


def visit_number(protocol: Protocol, code: str) -> int:
    return [v.code for v in protocol.schedule].index(code) + 1


def visit_fields(protocol: Protocol, code: str) -> dict[str, Any]:
    """VISITNUM, VISIT and EPOCH of a scheduled visit, or of an unscheduled one (SDTMIG v3.4
    4.4.5: VISITNUM 5.01, VISIT "UNSCHEDULED 5.01", the epoch of the visit it follows); all
    None for a code that is neither."""
    parsed = parse_unscheduled(code)
    codes = {v.code for v in protocol.schedule}
    if parsed is not None and parsed[0] in codes:
        return {
            "VISITNUM": unscheduled_number(protocol, code),
            "VISIT": unscheduled_label(protocol, code),
            "EPOCH": visit_epoch(protocol, parsed[0]),
        }
    if code not in codes:
        return {"VISITNUM": None, "VISIT": None, "EPOCH": None}
    return {
        "VISITNUM": visit_number(protocol, code),
        "VISIT": protocol.visit(code).name,
        "EPOCH": visit_epoch(protocol, code),
    }


def planned_study_day(protocol: Protocol, code: str) -> int:
    """VISITDY: days from the transplantation visit, day 1 = the transplantation."""
    offset = protocol.visit(code).day - protocol.schedule[treatment_visit(protocol)].day
    return offset + 1 if offset >= 0 else offset


def _frame(domain: str, rows: Sequence[Mapping[str, object]]) -> pd.DataFrame:
    columns = DOMAINS[domain].names
    return pd.DataFrame([{c: row.get(c) for c in columns} for row in rows], columns=columns)


def trial_design(
    protocol: Protocol,
    *,
    study_start: date | None = None,
    actual_subjects: int | None = None,
    versions: Sequence[ProtocolVersionInfo] = (),
    simulated: str | None = None,
    study_end: date | None = None,
    data_cutoff: DataCutoff | date | None = None,
) -> dict[str, pd.DataFrame]:
    """TS, TA, TE, TV and TI of `protocol` (`simulated`: see `trial_summary`)."""
    return {
        "TS": trial_summary(
            protocol,
            study_start=study_start,
            actual_subjects=actual_subjects,
            simulated=simulated,
            versions=versions,
            study_end=study_end,
            data_cutoff=data_cutoff,
        ),
        "TA": trial_arms(protocol),
        "TE": trial_elements(protocol),
        "TV": trial_visits(protocol),
        "TI": trial_criteria(protocol),
    }


def _elements(protocol: Protocol) -> list[dict[str, object]]:
    tx = protocol.schedule[treatment_visit(protocol)]
    last = protocol.schedule[-1]
    treatment = ascii_text(protocol.intervention.name)
    return [
        {
            "ETCD": "SCRN",
            "ELEMENT": "Screening",
            "EPOCH": "SCREENING",
            "TESTRL": "Informed consent",
            "TEENRL": f"Start of {treatment.lower()}",
        },
        {
            "ETCD": "MSC",
            "ELEMENT": fit(treatment, 200),
            "EPOCH": "TREATMENT",
            "TESTRL": f"Start of {treatment.lower()} ({tx.name} visit)",
            "TEENRL": "1 day after the start of the infusion",
            "TEDUR": "P1D",
        },
        {
            "ETCD": "FU",
            "ELEMENT": "Follow-up",
            "EPOCH": "FOLLOW-UP",
            "TESTRL": "1 day after the start of the infusion",
            "TEENRL": f"{last.name} visit",
            "TEDUR": f"P{last.day - tx.day}D",
        },
    ]


def trial_elements(protocol: Protocol) -> pd.DataFrame:
    rows = [{"STUDYID": protocol.id, "DOMAIN": "TE", **e} for e in _elements(protocol)]
    return _frame("TE", rows)


def trial_arms(protocol: Protocol) -> pd.DataFrame:
    rows = []
    for arm in protocol.design.arms:
        for order, element in enumerate(_elements(protocol), start=1):
            rows.append(
                {
                    "STUDYID": protocol.id,
                    "DOMAIN": "TA",
                    "ARMCD": arm.code,
                    "ARM": ascii_text(arm.name),
                    "TAETORD": order,
                    "ETCD": element["ETCD"],
                    "ELEMENT": element["ELEMENT"],
                    "EPOCH": element["EPOCH"],
                }
            )
    return _frame("TA", rows)


def trial_visits(protocol: Protocol) -> pd.DataFrame:
    rows = []
    for visit in protocol.schedule:
        rows.append(
            {
                "STUDYID": protocol.id,
                "DOMAIN": "TV",
                "VISITNUM": visit_number(protocol, visit.code),
                "VISIT": ascii_text(visit.name),
                "VISITDY": planned_study_day(protocol, visit.code),
                "TVSTRL": f"{ascii_text(visit.name)}: day {visit.day} from baseline, window "
                f"-{visit.window_before}/+{visit.window_after} days",
            }
        )
    return _frame("TV", rows)


def criterion_code(kind: str, number: int) -> str:
    """IETESTCD: INCL01, EXCL04 (≤ 8 characters, letters and digits)."""
    return f"{'INCL' if kind == 'inclusion' else 'EXCL'}{number:02d}"


def trial_criteria(protocol: Protocol) -> pd.DataFrame:
    rows = [
        {
            "STUDYID": protocol.id,
            "DOMAIN": "TI",
            "IETESTCD": criterion_code(c.kind.value, c.number),
            "IETEST": fit(ascii_text(c.text).rstrip(";,. "), 200),
            "IECAT": c.kind.value.upper(),
            "TIRL": fit(ascii_text(_with_parameters(protocol, rule_text(c.expr))), 200),
            "TIVERS": "1",
        }
        for c in protocol.criteria
    ]
    return _frame("TI", rows)


def _with_parameters(protocol: Protocol, text: str) -> str:
    """`$kitt_insulin_resistance_cutoff` → `2.5 %/min` (the protocol parameter's value)."""

    def value(match: re.Match[str]) -> str:
        parameter = protocol.parameter(match.group(1))
        return f"{parameter.value:g} {parameter.unit}"

    return re.sub(r"\$([a-z_][a-z0-9_]*)", value, text)


def rule_text(node: object) -> str:
    """The computable form of a criterion as one line, e.g. `hba1c >= 7 %`."""
    if isinstance(node, AllOf):
        return "(" + " AND ".join(rule_text(c) for c in node.all) + ")"
    if isinstance(node, AnyOf):
        return "(" + " OR ".join(rule_text(c) for c in node.any) + ")"
    if isinstance(node, Not):
        return f"NOT {rule_text(node.not_)}"
    if isinstance(node, Implies):
        return f"IF {rule_text(node.if_)} THEN {rule_text(node.then)}"
    assert isinstance(node, Compare)
    if node.op == "between":
        return f"{node.low} <= {node.element} <= {node.high}"
    value = str(node.value).lower() if isinstance(node.value, bool) else node.value
    return f"{node.element} {node.op} {value}"


def _age_bound(protocol: Protocol, side: str) -> str | None:
    """AGEMIN/AGEMAX as ISO 8601 durations from the age criterion (`age between 18 year …`)."""
    for criterion in protocol.inclusion:
        node = criterion.expr
        if isinstance(node, Compare) and node.element == "age" and node.op == "between":
            text = str(node.low if side == "low" else node.high).split()[0]
            return f"P{int(float(text))}Y"
    return None


def _condition_code(text: str) -> tuple[str | None, str | None]:
    for element in default_catalogue():
        if element.codes.snomed and text.lower() in element.label.lower():
            return element.codes.snomed, "SNOMED"
    return None, None


#: Sponsor-defined TS parameter (TSPARMCD ≤ 8, TSPARM ≤ 40 characters) for simulated data.
SIMULATED_TS = ("SIMDATA", "Simulated Data Indicator")

#: TS parameters that are not CDISC CT terms of the extensible TSPARMCD codelist (C66738) but
#: sponsor-defined extensions of it, each with the definition define.xml gives it (a
#: ``CodeListItem`` with ``def:ExtendedValue="Yes"``). CDISC CT has no term for a protocol
#: version, its effective date or simulated data; the standard terms the TS dataset uses
#: otherwise (TITLE, REGID, SPONSOR, TPHASE, …) are kept as CDISC spells them.
SPONSOR_DEFINED_TS: dict[str, str] = {
    "PROTVERS": "Protocol Version: the label of one registered protocol version (the original "
    "or an amendment); its TSGRPID ties it to that version's PVEFFDTC.",
    "PVEFFDTC": "Protocol Version Effective Date: the ISO 8601 date from which that protocol "
    "version is in force (screenings, consents and visits from then on are under it).",
    SIMULATED_TS[0]: "Simulated Data Indicator: Y when every record was generated by the "
    "trialdesk simulator (a virtual cohort), never collected from people.",
}


def trial_summary(
    protocol: Protocol,
    *,
    study_start: date | None = None,
    actual_subjects: int | None = None,
    versions: Sequence[ProtocolVersionInfo] = (),
    simulated: str | None = None,
    study_end: date | None = None,
    data_cutoff: DataCutoff | date | None = None,
) -> pd.DataFrame:
    """TS parameters (CDISC CT "Trial Summary Parameter Test Code"); values from the protocol,
    SSTDTC (earliest informed consent of an enrolled subject) and ACTSUB from the data, and one
    group per registered protocol version (`version_rows`).

    Data from the simulator (`simulated`: how) add the row `SIMULATED_TS` = "Y": CDISC CT has
    no parameter for simulated data and TSPARMCD's codelist (C66738) is extensible, so it is a
    sponsor-defined parameter (the ODM and FHIR exports carry the description).
    """
    p = protocol
    country = {COUNTRIES[s.country.lower()] for s in p.sites if s.country.lower() in COUNTRIES}
    condition = ascii_text(p.conditions[0])
    code, ref = _condition_code(p.conditions[0])
    span = p.schedule[-1].day - p.schedule[0].day
    rows: list[tuple[str, str, str | None, dict[str, str]]] = [
        ("TITLE", "Trial Title", fit(ascii_text(p.title)), {}),
        (
            "REGID",
            "Registry Identifier",
            p.registry.id,
            {"TSVALCD": p.registry.id, "TSVCDREF": "ClinicalTrials.gov"},
        ),
        ("SPONSOR", "Clinical Study Sponsor", ascii_text(p.sponsor), {}),
        ("TPHASE", "Trial Phase Classification", PHASES.get(p.phase), {}),
        ("STYPE", "Study Type", p.study_type.replace("_", " "), {}),
        ("TTYPE", "Trial Type", "SAFETY", {}),
        ("TTYPE", "Trial Type", "EFFICACY", {}),
        ("INTMODEL", "Intervention Model", p.design.intervention_model.replace("_", " "), {}),
        ("INTTYPE", "Intervention Type", INTERVENTION_TYPES.get(p.intervention.type), {}),
        ("TRT", "Investigational Therapy or Treatment", ascii_text(p.intervention.name), {}),
        ("ROUTE", "Route of Administration", (p.intervention.route or "").upper() or None, {}),
        (
            "TBLIND",
            "Trial Blinding Schema",
            "OPEN LABEL" if p.design.masking == "NONE" else p.design.masking.replace("_", " "),
            {},
        ),
        ("TCNTRL", "Control Type", "NONE" if len(p.design.arms) == 1 else None, {}),
        (
            "RANDOM",
            "Trial is Randomized",
            "N" if p.design.allocation in ("NA", "NON_RANDOMIZED") else "Y",
            {},
        ),
        ("NARMS", "Planned Number of Arms", str(len(p.design.arms)), {}),
        ("PLANSUB", "Planned Number of Subjects", str(p.target_enrollment), {}),
        (
            "ACTSUB",
            "Actual Number of Subjects",
            None if actual_subjects is None else str(actual_subjects),
            {},
        ),
        (
            "INDIC",
            "Trial Disease/Condition Indication",
            condition,
            {"TSVALCD": code, "TSVCDREF": ref} if code and ref else {},
        ),
        (
            "TDIGRP",
            "Diagnosis Group",
            condition,
            {"TSVALCD": code, "TSVCDREF": ref} if code and ref else {},
        ),
        ("HLTSUBJI", "Healthy Subject Indicator", "N", {}),
        ("ADDON", "Added on to Existing Treatments", "Y", {}),
        ("SEXPOP", "Sex of Participants", {"ALL": "BOTH", "MALE": "M", "FEMALE": "F"}[p.sex], {}),
        ("AGEMIN", "Planned Minimum Age of Subjects", _age_bound(p, "low"), {}),
        ("AGEMAX", "Planned Maximum Age of Subjects", _age_bound(p, "high"), {}),
        ("LENGTH", "Trial Length", f"P{span}D", {}),
        (
            "FCNTRY",
            "Planned Country of Investigational Sites",
            ",".join(sorted(country)) or None,
            {},
        ),
        ("SSTDTC", "Study Start Date", study_start.isoformat() if study_start else None, {}),
        ("OBJPRIM", "Trial Primary Objective", fit(ascii_text(p.brief_summary)), {}),
        *[
            (
                "OUTMSPRI",
                "Primary Outcome Measure",
                fit(ascii_text(f"{o.title}: {o.measure} ({o.time_frame})")),
                {},
            )
            for o in p.primary_outcomes
        ],
        *[
            (
                "OUTMSSEC",
                "Secondary Outcome Measure",
                fit(ascii_text(f"{o.title}: {o.measure} ({o.time_frame})")),
                {},
            )
            for o in p.secondary_outcomes
        ],
        *submission_rows(p, study_end=study_end, data_cutoff=data_cutoff),
        ("SDTMVER", "SDTM Version", SDTM_VERSION, {}),
        ("SDTIGVER", "SDTM IG Version", SDTMIG_VERSION, {}),
        *version_rows(versions),
        *([(*SIMULATED_TS, "Y", {})] if simulated else []),
    ]
    out = []
    seq: dict[str, int] = {}
    for parmcd, parm, value, codes in rows:
        seq[parmcd] = seq.get(parmcd, 0) + 1
        out.append(
            {
                "STUDYID": p.id,
                "DOMAIN": "TS",
                "TSSEQ": seq[parmcd],
                "TSPARMCD": parmcd,
                "TSPARM": parm,
                "TSVAL": value,
                "TSVALNF": None if value else "UNK",
                **_value_code(parmcd, value),
                **codes,
            }
        )
    return _frame("TS", out)


def submission_rows(
    protocol: Protocol,
    *,
    study_end: date | None,
    data_cutoff: DataCutoff | date | None,
) -> list[tuple[str, str, str | None, dict[str, str]]]:
    """The TS parameters FDA's Study Data Technical Conformance Guide [@FDA-TCG] expects beyond
    the protocol summary: trial intent, stop rules, study end and data cut-off, pharmacological
    class, secondary objective, adaptive design. A value the registry record does not state is
    null with TSVALNF = "NI" (no information), never invented."""
    unknown = {"TSVALNF": NO_INFORMATION}
    cut = data_cutoff if isinstance(data_cutoff, DataCutoff) else DataCutoff(data_cutoff)
    secondary = "; ".join(o.title for o in protocol.secondary_outcomes)
    return [
        ("TINDTP", "Trial Intent Type", "TREATMENT", {}),
        ("STOPRULE", "Study Stop Rules", None, unknown),
        ("ADAPT", "Adaptive Design", "N", {}),
        ("SENDTC", "Study End Date", _iso(study_end), {} if study_end else unknown),
        ("DCUTDTC", "Data Cutoff Date", _iso(cut.day), {} if cut.day else unknown),
        (
            "DCUTDESC",
            "Data Cutoff Description",
            _cut_description(cut),
            {} if cut.day else unknown,
        ),
        ("PCLAS", "Pharmacologic Class", None, unknown),
        (
            "OBJSEC",
            "Trial Secondary Objective",
            fit(ascii_text(secondary)) if secondary else None,
            {} if secondary else unknown,
        ),
    ]


UNLOCKED_CUT = "LAST DATE WITH DATA IN THE STUDY DATABASE AT EXPORT (DATABASE NOT LOCKED)"
"""DCUTDESC of an export from a study database that is not locked: the cut is the last date
with data, and the data may still change."""


@dataclass(frozen=True)
class DataCutoff:
    """The data cut of an export: its date and, when the study database is locked, the lock in
    words (who, when, why; `trialdesk lock study`)."""

    day: date | None
    locked: str | None = None


def _cut_description(cut: DataCutoff) -> str | None:
    """DCUTDESC (FDA Study Data Technical Conformance Guide: the data cut-off): the study
    database lock when the study is locked, else the last date with data, said to be unlocked."""
    if cut.locked:
        return fit(ascii_text(f"Data cut at the study database lock: {cut.locked}"))
    return UNLOCKED_CUT if cut.day else None


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _value_code(parmcd: str, value: str | None) -> dict[str, str]:
    """TSVALCD/TSVCDREF/TSVCDVER of a value from a reference terminology (SDTMIG 3.4 §7.6.1 TS
    assumptions 8-9): ISO 8601 for dates and durations; CDISC CT (the term's NCI code, verified
    in `ct_codes.yaml` ts_values) for coded values — phase, study and trial type, intervention
    model and type, blinding, control, sex of participants, intent, route, the Y/N parameters;
    ISO 3166-1 alpha-3 for countries."""
    if not value:
        return {}
    if parmcd in ISO_8601_PARAMETERS:
        return {"TSVCDREF": "ISO 8601"}
    code = terminology().ts_value_code(parmcd, value)
    if code is not None:  # a CDISC CT term (ct_codes.yaml ts_values, verified codes only)
        return {"TSVALCD": code, "TSVCDREF": "CDISC CT", "TSVCDVER": CDISC_CT_VERSION}
    if parmcd == "FCNTRY" and "," not in value:
        return {"TSVALCD": value, "TSVCDREF": "ISO 3166-1 alpha-3"}
    return {}


def version_rows(
    versions: Sequence[ProtocolVersionInfo],
) -> list[tuple[str, str, str | None, dict[str, str]]]:
    """One TS group per registered protocol version, tied by TSGRPID (SDTMIG 3.4 §7.6.1 uses
    TSGRPID to relate TS records): the version label (PROTVERS) and the date it took effect
    (PVEFFDTC). The TSPARMCD codelist (C66738) is extensible; these two codes are
    sponsor-defined terms, declared in define.xml like every TS parameter."""
    rows: list[tuple[str, str, str | None, dict[str, str]]] = []
    for v in versions:
        group = {"TSGRPID": fit(f"PROTOCOL VERSION {v.label}", 40)}
        rows.append(("PROTVERS", "Protocol Version", fit(ascii_text(v.label)), group))
        rows.append(
            ("PVEFFDTC", "Protocol Version Effective Date", v.effective_on.isoformat(), group)
        )
    return rows

"""SDTMIG 3.4 variable metadata for the domains trialdesk writes: name, label (as in the IG),
type, core (Req/Exp/Perm) and the controlled-terminology codelist where SDTM defines one.

One table serves the SAS XPORT labels, the Dataset-JSON columns, define.xml and the conformance
checks, so they cannot disagree. Sources: SDTMIG v3.4 domain specification tables (variable
labels and cores as published in SDTMIG v3.4); CDISC CT codelist names in `codelist`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Var:
    name: str
    label: str
    type: str = "Char"  # Char | Num
    core: str = "Perm"  # Req | Exp | Perm
    codelist: str | None = None  # CDISC CT codelist name
    origin: str = "Collected"  # define.xml origin: Collected | Derived | Assigned | Protocol


@dataclass(frozen=True)
class Domain:
    code: str
    label: str
    klass: str  # define.xml Class: SPECIAL PURPOSE, TRIAL DESIGN, FINDINGS, EVENTS, INTERVENTIONS
    structure: str
    keys: tuple[str, ...]
    variables: tuple[Var, ...]

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variables]

    def var(self, name: str) -> Var:
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(f"{self.code} has no variable {name}")


def _ids(domain: str, *, subject: bool = True, seq: bool = True) -> list[Var]:
    out = [
        Var("STUDYID", "Study Identifier", core="Req", origin="Assigned"),
        Var(
            "DOMAIN",
            "Domain Abbreviation",
            core="Req",
            codelist="SDTM Domain Abbreviation",
            origin="Assigned",
        ),
    ]
    if subject:
        out.append(Var("USUBJID", "Unique Subject Identifier", core="Req", origin="Assigned"))
    if seq:
        out.append(Var(f"{domain}SEQ", "Sequence Number", "Num", "Req", origin="Derived"))
    return out


_VISIT = [
    Var("VISITNUM", "Visit Number", "Num", "Exp", origin="Derived"),
    Var("VISIT", "Visit Name", core="Perm", origin="Derived"),
    Var("EPOCH", "Epoch", core="Perm", codelist="Epoch", origin="Derived"),
]


def _d(
    code: str,
    label: str,
    klass: str,
    structure: str,
    keys: tuple[str, ...],
    *,
    variables: list[Var],
) -> Domain:
    return Domain(code, label, klass, structure, keys, tuple(variables))


TS = _d(
    "TS",
    "Trial Summary",
    "TRIAL DESIGN",
    "One record per trial summary parameter value",
    ("STUDYID", "TSPARMCD", "TSSEQ"),
    variables=[
        *_ids("TS", subject=False),
        Var("TSGRPID", "Group ID"),
        Var(
            "TSPARMCD",
            "Trial Summary Parameter Short Name",
            core="Req",
            codelist="Trial Summary Parameter Test Code",
        ),
        Var(
            "TSPARM",
            "Trial Summary Parameter",
            core="Req",
            codelist="Trial Summary Parameter Test Name",
        ),
        Var("TSVAL", "Parameter Value", core="Exp", origin="Protocol"),
        Var("TSVALNF", "Parameter Null Flavor", codelist="Null Flavor"),
        Var("TSVALCD", "Parameter Value Code", core="Exp"),
        Var("TSVCDREF", "Name of the Reference Terminology", core="Exp"),
        Var("TSVCDVER", "Version of the Reference Terminology", core="Exp"),
    ],
)
TA = _d(
    "TA",
    "Trial Arms",
    "TRIAL DESIGN",
    "One record per planned Element per Arm",
    ("STUDYID", "ARMCD", "TAETORD"),
    variables=[
        *_ids("TA", subject=False, seq=False),
        Var("ARMCD", "Planned Arm Code", core="Req", origin="Protocol"),
        Var("ARM", "Description of Planned Arm", core="Req", origin="Protocol"),
        Var("TAETORD", "Planned Order of Element within Arm", "Num", "Req", origin="Protocol"),
        Var("ETCD", "Element Code", core="Req", origin="Protocol"),
        Var("ELEMENT", "Description of Element", origin="Protocol"),
        Var("TABRANCH", "Branch", core="Exp", origin="Protocol"),
        Var("TATRANS", "Transition Rule", core="Exp", origin="Protocol"),
        Var("EPOCH", "Epoch", core="Req", codelist="Epoch", origin="Protocol"),
    ],
)
TE = _d(
    "TE",
    "Trial Elements",
    "TRIAL DESIGN",
    "One record per planned Element",
    ("STUDYID", "ETCD"),
    variables=[
        *_ids("TE", subject=False, seq=False),
        Var("ETCD", "Element Code", core="Req", origin="Protocol"),
        Var("ELEMENT", "Description of Element", core="Req", origin="Protocol"),
        Var("TESTRL", "Rule for Start of Element", core="Req", origin="Protocol"),
        Var("TEENRL", "Rule for End of Element", core="Perm", origin="Protocol"),
        Var("TEDUR", "Planned Duration of Element", core="Perm", origin="Protocol"),
    ],
)
TV = _d(
    "TV",
    "Trial Visits",
    "TRIAL DESIGN",
    "One record per planned Visit per Arm",
    ("STUDYID", "ARMCD", "VISITNUM"),
    variables=[
        *_ids("TV", subject=False, seq=False),
        Var("VISITNUM", "Visit Number", "Num", "Req", origin="Protocol"),
        Var("VISIT", "Visit Name", origin="Protocol"),
        Var("VISITDY", "Planned Study Day of Visit", "Num", origin="Protocol"),
        Var("ARMCD", "Planned Arm Code", core="Exp", origin="Protocol"),
        Var("ARM", "Description of Planned Arm", origin="Protocol"),
        Var("TVSTRL", "Visit Start Rule", core="Req", origin="Protocol"),
        Var("TVENRL", "Visit End Rule", origin="Protocol"),
    ],
)
TI = _d(
    "TI",
    "Trial Inclusion/Exclusion Criteria",
    "TRIAL DESIGN",
    "One record per I/E criterion",
    ("STUDYID", "IETESTCD"),
    variables=[
        *_ids("TI", subject=False, seq=False),
        Var("IETESTCD", "Incl/Excl Criterion Short Name", core="Req", origin="Protocol"),
        Var("IETEST", "Inclusion/Exclusion Criterion", core="Req", origin="Protocol"),
        Var(
            "IECAT",
            "Inclusion/Exclusion Category",
            core="Req",
            codelist="Category for Inclusion/Exclusion",
            origin="Protocol",
        ),
        Var("IESCAT", "Inclusion/Exclusion Subcategory", origin="Protocol"),
        Var("TIRL", "Inclusion/Exclusion Criterion Rules", origin="Protocol"),
        Var("TIVERS", "Protocol Criteria Versions", origin="Protocol"),
    ],
)
DM = _d(
    "DM",
    "Demographics",
    "SPECIAL PURPOSE",
    "One record per subject",
    ("STUDYID", "USUBJID"),
    variables=[
        *_ids("DM", seq=False),
        Var("SUBJID", "Subject Identifier for the Study", core="Req"),
        Var("RFSTDTC", "Subject Reference Start Date/Time", core="Exp", origin="Derived"),
        Var("RFENDTC", "Subject Reference End Date/Time", core="Exp", origin="Derived"),
        Var("RFXSTDTC", "Date/Time of First Study Treatment", core="Exp", origin="Derived"),
        Var("RFXENDTC", "Date/Time of Last Study Treatment", core="Exp", origin="Derived"),
        Var("RFICDTC", "Date/Time of Informed Consent", core="Exp", origin="Derived"),
        Var("RFPENDTC", "Date/Time of End of Participation", core="Exp", origin="Derived"),
        Var("DTHDTC", "Date/Time of Death", core="Exp", origin="Derived"),
        Var(
            "DTHFL", "Subject Death Flag", core="Exp", codelist="No Yes Response", origin="Derived"
        ),
        Var("SITEID", "Study Site Identifier", core="Req", origin="Assigned"),
        Var("BRTHDTC", "Date/Time of Birth"),
        Var("AGE", "Age", "Num", "Exp", origin="Derived"),
        Var("AGEU", "Age Units", core="Exp", codelist="Age Unit", origin="Assigned"),
        Var("SEX", "Sex", core="Req", codelist="Sex"),
        Var("RACE", "Race", core="Exp", codelist="Race"),
        Var("ETHNIC", "Ethnicity", codelist="Ethnic Group"),
        Var("ARMCD", "Planned Arm Code", core="Exp", origin="Assigned"),
        Var("ARM", "Description of Planned Arm", core="Exp", origin="Assigned"),
        Var("ACTARMCD", "Actual Arm Code", core="Exp", origin="Derived"),
        Var("ACTARM", "Description of Actual Arm", core="Exp", origin="Derived"),
        Var("ACTARMUD", "Description of Unplanned Actual Arm", origin="Derived"),
        Var(
            "ARMNRS",
            "Reason Arm and/or Actual Arm is Null",
            core="Exp",
            codelist="Arm Null Reason",
            origin="Derived",
        ),
        Var("COUNTRY", "Country", core="Req", codelist="ISO 3166-1 alpha-3", origin="Assigned"),
    ],
)
IE = _d(
    "IE",
    "Inclusion/Exclusion Criteria Not Met",
    "FINDINGS",
    "One record per inclusion/exclusion criterion not met per subject",
    ("STUDYID", "USUBJID", "IETESTCD"),
    variables=[
        *_ids("IE"),
        Var("IETESTCD", "Inclusion/Exclusion Criterion Short Name", core="Req"),
        Var("IETEST", "Inclusion/Exclusion Criterion", core="Req"),
        Var(
            "IECAT",
            "Inclusion/Exclusion Category",
            core="Req",
            codelist="Category for Inclusion/Exclusion",
        ),
        Var(
            "IEORRES",
            "I/E Criterion Original Result",
            core="Req",
            codelist="No Yes Response",
            origin="Derived",
        ),
        Var(
            "IESTRESC",
            "I/E Criterion Result in Std Format",
            core="Req",
            codelist="No Yes Response",
            origin="Derived",
        ),
        *_VISIT,
        Var("IEDTC", "Date/Time of Collection", core="Exp"),
        Var("IEDY", "Study Day of Collection", "Num", origin="Derived"),
    ],
)
DS = _d(
    "DS",
    "Disposition",
    "EVENTS",
    "One record per disposition status or protocol milestone per subject",
    ("STUDYID", "USUBJID", "DSSTDTC", "DSDECOD"),
    variables=[
        *_ids("DS"),
        Var("DSTERM", "Reported Term for the Disposition Event", core="Req"),
        Var(
            "DSDECOD",
            "Standardized Disposition Term",
            core="Req",
            codelist="Completion/Reason for Non-Completion",
            origin="Assigned",
        ),
        Var(
            "DSCAT",
            "Category for Disposition Event",
            core="Exp",
            codelist="Category for Disposition Event",
            origin="Assigned",
        ),
        Var("EPOCH", "Epoch", codelist="Epoch", origin="Derived"),
        Var("DSSTDTC", "Start Date/Time of Disposition Event", core="Exp"),
        Var("DSSTDY", "Study Day of Start of Disposition Event", "Num", origin="Derived"),
    ],
)
EX = _d(
    "EX",
    "Exposure",
    "INTERVENTIONS",
    "One record per constant dosing interval per subject",
    ("STUDYID", "USUBJID", "EXTRT", "EXSTDTC"),
    variables=[
        *_ids("EX"),
        Var("EXTRT", "Name of Treatment", core="Req"),
        Var("EXDOSE", "Dose", "Num", "Exp"),
        Var("EXDOSU", "Dose Units", core="Exp", codelist="Unit"),
        Var("EXDOSFRM", "Dose Form", core="Exp", codelist="Pharmaceutical Dosage Form"),
        Var("EXDOSFRQ", "Dosing Frequency per Interval", codelist="Frequency"),
        Var("EXROUTE", "Route of Administration", codelist="Route of Administration Response"),
        Var("EXLOT", "Lot Number"),
        *_VISIT,
        Var("EXSTDTC", "Start Date/Time of Treatment", core="Exp"),
        Var("EXENDTC", "End Date/Time of Treatment", core="Exp"),
        Var("EXSTDY", "Study Day of Start of Treatment", "Num", origin="Derived"),
        Var("EXENDY", "Study Day of End of Treatment", "Num", origin="Derived"),
    ],
)
CM = _d(
    "CM",
    "Concomitant/Prior Medications",
    "INTERVENTIONS",
    "One record per recorded medication occurrence or constant-dosing interval per subject",
    ("STUDYID", "USUBJID", "CMTRT", "VISITNUM"),
    variables=[
        *_ids("CM"),
        Var("CMSPID", "Sponsor-Defined Identifier"),
        Var("CMTRT", "Reported Name of Drug, Med, or Therapy", core="Req"),
        Var("CMDECOD", "Standardized Medication Name", core="Exp", origin="Assigned"),
        Var("CMCAT", "Category for Medication", origin="Assigned"),
        Var("CMPRESP", "CM Pre-specified", codelist="No Yes Response", origin="Protocol"),
        Var("CMOCCUR", "CM Occurrence", codelist="No Yes Response", origin="Derived"),
        Var("CMCLAS", "Medication Class", origin="Assigned"),
        Var("CMCLASCD", "Medication Class Code", origin="Assigned"),
        Var("CMDOSTOT", "Total Daily Dose", "Num"),
        Var("CMDOSU", "Dose Units", codelist="Unit"),
        Var("CMSTAT", "Completion Status", codelist="Not Done"),
        Var("CMREASND", "Reason Medication Not Collected"),
        *_VISIT,
        Var("CMDTC", "Date/Time of Collection"),
        Var("CMSTDTC", "Start Date/Time of Medication"),
        Var("CMDY", "Study Day of Collection", "Num", origin="Derived"),
        Var("CMSTDY", "Study Day of Start of Medication", "Num", origin="Derived"),
    ],
)
_ORIGINAL_RESULT = [
    Var("ORRES", "Result or Finding in Original Units", core="Exp"),
    Var("ORRESU", "Original Units", core="Exp", codelist="Unit"),
]
_STANDARD_RESULT = [
    Var("STRESC", "Character Result/Finding in Std Format", core="Exp", origin="Derived"),
    Var("STRESN", "Numeric Result/Finding in Standard Units", "Num", "Exp", origin="Derived"),
    Var("STRESU", "Standard Units", core="Exp", codelist="Unit", origin="Derived"),
]
_STATUS = [
    Var("STAT", "Completion Status", codelist="Not Done"),
    Var("REASND", "Reason Not Done"),
]


def _prefixed(prefix: str, variables: list[Var]) -> list[Var]:
    return [Var(prefix + v.name, v.label, v.type, v.core, v.codelist, v.origin) for v in variables]


LB = _d(
    "LB",
    "Laboratory Test Results",
    "FINDINGS",
    "One record per lab test per time point per visit per subject",
    ("STUDYID", "USUBJID", "LBTESTCD", "VISITNUM", "LBTPTNUM"),
    variables=[
        *_ids("LB"),
        Var(
            "LBTESTCD",
            "Lab Test or Examination Short Name",
            core="Req",
            codelist="Laboratory Test Code",
        ),
        Var("LBTEST", "Lab Test or Examination Name", core="Req", codelist="Laboratory Test Name"),
        Var("LBCAT", "Category for Lab Test", core="Exp", origin="Assigned"),
        *_prefixed("LB", _ORIGINAL_RESULT),
        Var("LBORNRLO", "Reference Range Lower Limit in Orig Unit", core="Exp", origin="Assigned"),
        Var("LBORNRHI", "Reference Range Upper Limit in Orig Unit", core="Exp", origin="Assigned"),
        *_prefixed("LB", _STANDARD_RESULT),
        Var("LBSTNRLO", "Reference Range Lower Limit-Std Units", "Num", "Exp", origin="Derived"),
        Var("LBSTNRHI", "Reference Range Upper Limit-Std Units", "Num", "Exp", origin="Derived"),
        Var(
            "LBNRIND",
            "Reference Range Indicator",
            core="Exp",
            codelist="Reference Range Indicator",
            origin="Derived",
        ),
        *_prefixed("LB", _STATUS),
        Var("LBSPEC", "Specimen Type", codelist="Specimen Type", origin="Assigned"),
        Var("LBFAST", "Fasting Status", codelist="No Yes Response", origin="Assigned"),
        Var("LBLOINC", "LOINC Code", origin="Assigned"),
        Var(
            "LBLOBXFL",
            "Last Observation Before Exposure Flag",
            core="Exp",
            codelist="No Yes Response",
            origin="Derived",
        ),
        *_VISIT,
        Var("LBDTC", "Date/Time of Specimen Collection", core="Exp"),
        Var("LBDY", "Study Day of Specimen Collection", "Num", origin="Derived"),
        Var("LBTPT", "Planned Time Point Name", origin="Protocol"),
        Var("LBTPTNUM", "Planned Time Point Number", "Num", origin="Protocol"),
        Var("LBELTM", "Planned Elapsed Time from Time Point Ref", origin="Protocol"),
        Var("LBTPTREF", "Time Point Reference", origin="Protocol"),
    ],
)
VS = _d(
    "VS",
    "Vital Signs",
    "FINDINGS",
    "One record per vital sign measurement per visit per subject",
    ("STUDYID", "USUBJID", "VSTESTCD", "VISITNUM"),
    variables=[
        *_ids("VS"),
        Var(
            "VSTESTCD", "Vital Signs Test Short Name", core="Req", codelist="Vital Signs Test Code"
        ),
        Var("VSTEST", "Vital Signs Test Name", core="Req", codelist="Vital Signs Test Name"),
        *_prefixed("VS", _ORIGINAL_RESULT + _STANDARD_RESULT + _STATUS),
        Var(
            "VSLOBXFL",
            "Last Observation Before Exposure Flag",
            core="Exp",
            codelist="No Yes Response",
            origin="Derived",
        ),
        Var("VSDRVFL", "Derived Flag", codelist="No Yes Response", origin="Derived"),
        *_VISIT,
        Var("VSDTC", "Date/Time of Measurements", core="Exp"),
        Var("VSDY", "Study Day of Vital Signs", "Num", origin="Derived"),
    ],
)
AE = _d(
    "AE",
    "Adverse Events",
    "EVENTS",
    "One record per adverse event per subject",
    ("STUDYID", "USUBJID", "AEDECOD", "AESTDTC"),
    variables=[
        *_ids("AE"),
        Var("AESPID", "Sponsor-Defined Identifier"),
        Var("AETERM", "Reported Term for the Adverse Event", core="Req"),
        # MedDRA coding (issue 14), in SDTMIG v3.4 AE order; Assigned by the coder.
        Var("AELLT", "Lowest Level Term", core="Exp", origin="Assigned"),
        Var("AELLTCD", "Lowest Level Term Code", "Num", "Exp", origin="Assigned"),
        Var("AEDECOD", "Dictionary-Derived Term", core="Req", origin="Assigned"),
        Var("AEPTCD", "Preferred Term Code", "Num", "Exp", origin="Assigned"),
        Var("AEHLT", "High Level Term", core="Exp", origin="Assigned"),
        Var("AEHLTCD", "High Level Term Code", "Num", "Exp", origin="Assigned"),
        Var("AEHLGT", "High Level Group Term", core="Exp", origin="Assigned"),
        Var("AEHLGTCD", "High Level Group Term Code", "Num", "Exp", origin="Assigned"),
        Var("AEBODSYS", "Body System or Organ Class", core="Exp", origin="Assigned"),
        Var("AEBDSYCD", "Body System or Organ Class Code", "Num", "Exp", origin="Assigned"),
        Var("AESOC", "Primary System Organ Class", core="Exp", origin="Assigned"),
        Var("AESOCCD", "Primary System Organ Class Code", "Num", "Exp", origin="Assigned"),
        Var("AESER", "Serious Event", core="Exp", codelist="No Yes Response"),
        Var(
            "AEACN",
            "Action Taken with Study Treatment",
            core="Exp",
            codelist="Action Taken with Study Treatment",
        ),
        Var("AEACNOTH", "Other Action Taken"),
        Var("AEREL", "Causality", core="Exp"),
        Var("AEOUT", "Outcome of Adverse Event", codelist="Outcome of Event"),
        Var("AESCONG", "Congenital Anomaly or Birth Defect", codelist="No Yes Response"),
        Var("AESDISAB", "Persist or Signif Disability/Incapacity", codelist="No Yes Response"),
        Var("AESDTH", "Results in Death", codelist="No Yes Response"),
        Var("AESHOSP", "Requires or Prolongs Hospitalization", codelist="No Yes Response"),
        Var("AESLIFE", "Is Life Threatening", codelist="No Yes Response"),
        Var("AESMIE", "Other Medically Important Serious Event", codelist="No Yes Response"),
        Var("AETOXGR", "Standard Toxicity Grade", codelist="Toxicity Grade"),
        Var("EPOCH", "Epoch", codelist="Epoch", origin="Derived"),
        Var("AESTDTC", "Start Date/Time of Adverse Event", core="Exp"),
        Var("AEENDTC", "End Date/Time of Adverse Event", core="Exp"),
        Var("AESTDY", "Study Day of Start of Adverse Event", "Num", origin="Derived"),
        Var("AEENDY", "Study Day of End of Adverse Event", "Num", origin="Derived"),
    ],
)
SV = _d(
    "SV",
    "Subject Visits",
    "SPECIAL PURPOSE",
    "One record per actual or planned visit per subject",
    ("STUDYID", "USUBJID", "VISITNUM"),
    variables=[
        *_ids("SV", seq=False),
        Var("VISITNUM", "Visit Number", "Num", "Req", origin="Derived"),
        Var("VISIT", "Visit Name", origin="Derived"),
        Var("SVPRESP", "Pre-specified", codelist="No Yes Response", origin="Derived"),
        Var("SVOCCUR", "Occurrence", codelist="No Yes Response", origin="Derived"),
        Var("SVREASOC", "Reason for Occur Value"),
        Var("VISITDY", "Planned Study Day of Visit", "Num", origin="Protocol"),
        Var("EPOCH", "Epoch", codelist="Epoch", origin="Derived"),
        Var("SVSTDTC", "Start Date/Time of Visit", core="Exp"),
        Var("SVENDTC", "End Date/Time of Visit", core="Exp"),
        Var("SVSTDY", "Study Day of Start of Visit", "Num", origin="Derived"),
        Var("SVENDY", "Study Day of End of Visit", "Num", origin="Derived"),
        Var("SVUPDES", "Description of Unplanned Visit"),
    ],
)

MH = _d(
    "MH",
    "Medical History",
    "EVENTS",
    "One record per medical history event per subject",
    ("STUDYID", "USUBJID", "MHTERM", "MHSTDTC"),
    variables=[
        *_ids("MH"),
        Var("MHTERM", "Reported Term for the Medical History", core="Req"),
        Var("MHDECOD", "Dictionary-Derived Term", origin="Assigned"),
        Var("MHCAT", "Category for Medical History", origin="Assigned"),
        Var(
            "MHPRESP",
            "Medical History Event Pre-Specified",
            codelist="No Yes Response",
            origin="Assigned",
        ),
        Var("MHOCCUR", "Medical History Occurrence", codelist="No Yes Response"),
        *_VISIT,
        Var("MHDTC", "Date/Time of History Collection"),
        Var("MHSTDTC", "Start Date/Time of Medical History Event", origin="Derived"),
        Var("MHDY", "Study Day of History Collection", "Num", origin="Derived"),
        Var(
            "MHENRTPT",
            "End Relative to Reference Time Point",
            codelist="Relation to Reference Period",
            origin="Derived",
        ),
        Var("MHENTPT", "End Reference Time Point", origin="Derived"),
    ],
)
SUPPEX = _d(
    "SUPPEX",
    "Supplemental Qualifiers for EX",
    "RELATIONSHIP",
    "One record per IDVAR, IDVARVAL, and QNAM value per subject",
    ("STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM"),
    variables=[
        Var("STUDYID", "Study Identifier", core="Req", origin="Assigned"),
        Var("RDOMAIN", "Related Domain Abbreviation", core="Req", origin="Assigned"),
        Var("USUBJID", "Unique Subject Identifier", core="Req", origin="Assigned"),
        Var("IDVAR", "Identifying Variable", core="Exp", origin="Assigned"),
        Var("IDVARVAL", "Identifying Variable Value", core="Exp", origin="Assigned"),
        Var("QNAM", "Qualifier Variable Name", core="Req", origin="Assigned"),
        Var("QLABEL", "Qualifier Variable Label", core="Req", origin="Assigned"),
        Var("QVAL", "Data Value", core="Req"),
        Var("QORIG", "Origin", core="Req", origin="Assigned"),
        Var("QEVAL", "Evaluator", core="Exp", origin="Assigned"),
    ],
)

SUPPDM = _d(
    "SUPPDM",
    "Supplemental Qualifiers for DM",
    "RELATIONSHIP",
    "One record per IDVAR, IDVARVAL, and QNAM value per subject",
    ("STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM"),
    variables=[
        Var("STUDYID", "Study Identifier", core="Req", origin="Assigned"),
        Var("RDOMAIN", "Related Domain Abbreviation", core="Req", origin="Assigned"),
        Var("USUBJID", "Unique Subject Identifier", core="Req", origin="Assigned"),
        Var("IDVAR", "Identifying Variable", core="Exp", origin="Assigned"),
        Var("IDVARVAL", "Identifying Variable Value", core="Exp", origin="Assigned"),
        Var("QNAM", "Qualifier Variable Name", core="Req", origin="Assigned"),
        Var("QLABEL", "Qualifier Variable Label", core="Req", origin="Assigned"),
        Var("QVAL", "Data Value", core="Req"),
        Var("QORIG", "Origin", core="Req", origin="Assigned"),
        Var("QEVAL", "Evaluator", core="Exp", origin="Assigned"),
    ],
)

DOMAINS: dict[str, Domain] = {
    d.code: d for d in (TS, TA, TE, TV, TI, DM, SUPPDM, IE, MH, DS, EX, SUPPEX, CM, LB, VS, AE, SV)
}
TRIAL_DESIGN = ("TS", "TA", "TE", "TV", "TI")

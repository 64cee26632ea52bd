"""The reviewer-facing parts of define.xml (CDISC Define-XML v2.1, 2019): computational methods
of derived variables, codelists, value-level metadata and comments.

Sections of the Define-XML 2.1 specification: MethodDef (§5.3.11), CodeList (§5.3.9; the
submission values a dataset uses, listed as EnumeratedItem under the CDISC CT standard the
define declares), ValueListDef/WhereClauseDef (§5.3.7–5.3.8: one ItemDef per test of LB and VS,
selected by --TESTCD), def:CommentDef (§5.3.12). The NCI concept codes of CDISC CT codelists and
terms come from `ct_codes.yaml` (only the verified ones are written).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from trialdesk.catalogue import default_catalogue
from trialdesk.export.sdtm.spec import Var

# How each derived variable is computed (MethodDef), by variable name, then by name suffix.
METHODS: dict[str, str] = {
    "RFSTDTC": "Date of the mesenchymal stem cell transplantation (the one study treatment).",
    "RFXSTDTC": "Date of the transplantation (first study treatment).",
    "RFXENDTC": "Date of the transplantation (last study treatment: a single infusion).",
    "RFICDTC": "Date of the first informed consent signed by the subject.",
    "RFENDTC": "End of participation (completion, withdrawal, death), else the last date with "
    "data while the subject is ongoing.",
    "RFPENDTC": "End of participation, the screening date for a screen failure, else the last "
    "date with data.",
    "DTHDTC": "Date of the end of participation when the subject died.",
    "DTHFL": "Y when the subject's participation ended by death.",
    "CMOCCUR": "For the pre-specified daily insulin and oral-drug doses asked at each visit: Y "
    "when the recorded total daily dose is above 0, N when it is 0; null when the dose was not "
    "collected (CMSTAT NOT DONE) and for medications not pre-specified (SDTMIG 3.4 §4.5.7).",
    "AGE": "Age in completed years at the last screening: floor((screening date - BRTHDTC) / "
    "1 year).",
    "ACTARMCD": "The planned arm when the subject was transplanted, else null.",
    "ACTARM": "The planned arm when the subject was transplanted, else null.",
    "ARMNRS": "SCREEN FAILURE for a subject screened ineligible and not enrolled; ASSIGNED, NOT "
    "TREATED for an enrolled subject never transplanted.",
    "IEORRES": "N for an inclusion criterion not met, Y for an exclusion criterion met, from the "
    "eligibility evaluation of the last screening.",
    "IESTRESC": "Equal to IEORRES.",
    "VSDRVFL": "Y when BMI was computed from the visit's weight and the height: kg / m^2 (WHO).",
    "SVPRESP": "Y for a visit of the protocol schedule, null for an unscheduled visit.",
    "SVOCCUR": "Y when the visit has data; N when the site recorded the planned visit as missed.",
    "VISITDY": "Planned day of the visit counted from the transplantation visit (day 1).",
    "VISITNUM": "Position of the visit in the protocol schedule; an unscheduled visit gets the "
    "number of the preceding scheduled visit + 0.01 per unscheduled visit.",
    "VISIT": "Name of the visit in the protocol schedule, or UNSCHEDULED <VISITNUM>.",
    "EPOCH": "SCREENING before the transplantation date, TREATMENT on it, FOLLOW-UP after it.",
}
SUFFIX_METHODS: dict[str, str] = {
    "SEQ": "Sequence number 1, 2, ... within USUBJID in the order of the dataset's keys.",
    "DY": "Study day of the date: date - RFSTDTC + 1 on or after RFSTDTC, date - RFSTDTC before "
    "it (SDTMIG v3.4 §4.4.4).",
    "LOBXFL": "Y on the last non-missing result per subject and test (LB: and category and "
    "specimen) dated on or before RFSTDTC; timed challenge samples are not candidates.",
    "STRESC": "The original result converted to the standard unit of the catalogue and rounded "
    "to its reporting precision; text results upper-cased.",
    "STRESN": "Numeric form of --STRESC.",
    "STRESU": "The catalogue's standard unit of the test (CDISC CT Unit).",
}
# Comments a reviewer needs (def:CommentDef), by variable.
COMMENTS: dict[str, str] = {
    "AEDECOD": "The MedDRA preferred term of the coded event (AEBODSYS/AESOC: its primary "
    "system organ class); an event not coded yet holds its verbatim term in upper case.",
    "AEREL": "The investigator's causality assessment (ICH E2A III.A.1); blank while the "
    "investigator has not confirmed it (a coordinator's proposal is not exported).",
    "AETOXGR": "CTCAE v5.0 grade as confirmed by the investigator; blank while the "
    "investigator has not confirmed it (a grade proposed at entry or suggested from a "
    "laboratory value is not exported).",
    "RFSTDTC": "Date of the mesenchymal stem cell transplantation (first study treatment).",
    "LBORRES": "Result as entered at the site; LBSTRESN is the value in the catalogue's "
    "canonical unit (LBSTRESU).",
    "LBLOINC": "The LOINC code whose property matches the original unit: substance "
    "concentration (mmol/L) or mass concentration (mg/dL); HbA1c NGSP % or IFCC mmol/mol.",
    "RACE": "As the participant reported it at screening (optional; NOT REPORTED when "
    "declined, empty when not recorded). One race per participant.",
    "ETHNIC": "As the participant reported it at screening (optional; NOT REPORTED when "
    "declined, empty when not recorded).",
    "SVREASOC": "The reason the site gave when it recorded the planned visit as missed.",
}
# Findings domains whose results get value-level metadata, by --TESTCD.
VALUE_LEVEL = {"LB": ("LBORRES", "LBSTRESN"), "VS": ("VSORRES", "VSSTRESN")}


def method_for(domain: str, var: Var) -> str | None:
    """The computation of a derived variable; None for a variable that is not derived."""
    if var.origin != "Derived":
        return None
    if var.name in METHODS:
        return METHODS[var.name]
    suffix = var.name[len(domain) :] if var.name.startswith(domain) else var.name
    for end, text in SUFFIX_METHODS.items():
        if suffix.endswith(end):
            return text
    return "Derived by trialdesk from the collected data."


def method_oid(domain: str, var: Var) -> str:
    return f"MT.{domain}.{var.name}"


def codelist_values(domain: str, var: Var, frame: pd.DataFrame) -> list[str]:
    """The distinct submission values of a codelist variable in the data, sorted."""
    if var.codelist is None or var.type != "Char":
        return []
    return sorted({str(v) for v in frame[var.name] if isinstance(v, str) and v})


MEDDRA_VARIABLES = frozenset(
    {"AELLT", "AELLTCD", "AEDECOD", "AEPTCD", "AEHLT", "AEHLTCD", "AEHLGT", "AEHLGTCD",
     "AEBODSYS", "AEBDSYCD", "AESOC", "AESOCCD"}
)  # fmt: skip
"""AE variables coded to MedDRA (SDTMIG v3.4 AE)."""


DRUG_VARIABLES = frozenset({"CMDECOD", "CMCLAS", "CMCLASCD"})
"""CM variables assigned from the drug dictionary: the standardized name and its ATC class
(SDTMIG v3.4 CM; the dictionary's ATC assignment, WHOCC [@WHOCC-ATC])."""
MEDDRA = "MEDDRA"


def drug_dictionary(dictionaries: dict[str, str]) -> str | None:
    """The drug dictionary's name among `dictionaries` (MedDRA is keyed "MEDDRA", the drug
    dictionary by its own name, e.g. "WHODRUG GLOBAL"), or None when none is loaded."""
    return next((name for name in dictionaries if name != MEDDRA), None)


def external_codelist(
    domain: str, var: Var, frame: pd.DataFrame, dictionaries: dict[str, str]
) -> tuple[str, str, str] | None:
    """(CodeList OID, dictionary, data type) of a variable coded to an external dictionary
    that holds data — MedDRA for AE, the drug dictionary for CM (Define-XML 2.1 §4.3.3
    ExternalCodeList); None otherwise."""
    if var.name not in frame or frame[var.name].isna().all():
        return None
    if domain == "AE" and var.name in MEDDRA_VARIABLES and MEDDRA in dictionaries:
        if var.type == "Num":
            return ("CL.MEDDRA.CODE", MEDDRA, "integer")
        return ("CL.MEDDRA", MEDDRA, "text")
    drugs = drug_dictionary(dictionaries)
    if domain == "CM" and var.name in DRUG_VARIABLES and drugs is not None:
        return ("CL.DRUGDICT", drugs, "text")
    return None


def codelist_oid(domain: str, var: Var) -> str:
    # TSPARMCD keeps the one study-wide OID its extensible-codelist checks name.
    return "CL.TSPARMCD" if (domain, var.name) == ("TS", "TSPARMCD") else f"CL.{domain}.{var.name}"


@dataclass(frozen=True)
class TestValue:
    """One test of a findings domain: the value-level ItemDef of a result variable."""

    domain: str
    variable: str
    testcd: str
    test: str
    decimals: int | None
    unit: str | None

    @property
    def oid(self) -> str:
        return f"IT.{self.domain}.{self.variable}.{self.testcd}"

    @property
    def where_oid(self) -> str:
        return f"WC.{self.domain}.{self.domain}TESTCD.{self.testcd}"


def test_values(domain: str, frame: pd.DataFrame) -> list[TestValue]:
    """The value-level ItemDefs of a findings domain: per result variable, one per test."""
    if domain not in VALUE_LEVEL or frame.empty:
        return []
    decimals = _test_decimals(domain)
    tests = (
        frame[[f"{domain}TESTCD", f"{domain}TEST", f"{domain}STRESU"]]
        .drop_duplicates(subset=[f"{domain}TESTCD"])
        .sort_values(f"{domain}TESTCD")
    )
    out = []
    for variable in VALUE_LEVEL[domain]:
        for testcd, test, unit in tests.itertuples(index=False):
            out.append(
                TestValue(
                    domain,
                    variable,
                    str(testcd),
                    str(test),
                    decimals.get(str(testcd)) if variable.endswith("STRESN") else None,
                    str(unit) if isinstance(unit, str) and unit else None,
                )
            )
    return out


def _test_decimals(domain: str) -> dict[str, int]:
    """Reporting precision of each test code (the catalogue's, in the standard unit)."""
    out: dict[str, int] = {}
    for element in default_catalogue():
        code, places = element.codes.sdtm_testcd, element.reported_decimals
        if element.codes.sdtm_domain == domain and code and places is not None:
            out.setdefault(code, places)
    return out

"""Missing-data codes: why a field holds no value (one controlled list for every adapter).

A field left empty says nothing; a coded-missing field says why. The codes are those REDCap
offers as project "Missing Data Codes" (REDCap Help & FAQ, "Missing data codes"), which are HL7 v3
NullFlavor codes (HL7 v3 Data Types R2, NullFlavor, OID 2.16.840.1.113883.5.1008), plus ``ND``
("not done"), the sponsor-defined code REDCap projects commonly add for a test that was not
performed. Each maps to:

* CDISC SDTM: ``--STAT = "NOT DONE"`` with the reason in ``--REASND`` and ``--ORRES`` empty
  (SDTMIG v3.4, section 4.5.1.2 "Tests Not Done");
* FHIR R4: ``Observation.dataAbsentReason`` from the code system
  http://terminology.hl7.org/CodeSystem/data-absent-reason;
* CDISC ODM 1.3.2: ``ItemData IsNull="Yes"`` with the code as an ``Annotation/Flag``.
"""

from __future__ import annotations

from dataclasses import dataclass

FHIR_DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
HL7_NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
SDTM_NOT_DONE = "NOT DONE"


@dataclass(frozen=True)
class MissingCode:
    """One reason a value is absent: the REDCap/NullFlavor code and its mappings."""

    code: str
    label: str
    fhir: str  # data-absent-reason code
    reasnd: str  # SDTM --REASND wording (the site's reason is appended)
    null_flavor: bool  # True when `code` is an HL7 NullFlavor code (ND is sponsor-defined)


MISSING_CODES: tuple[MissingCode, ...] = (
    MissingCode("ND", "Not done", "not-performed", "NOT DONE", False),
    MissingCode("NA", "Not applicable", "not-applicable", "NOT APPLICABLE", True),
    MissingCode("UNK", "Unknown", "unknown", "UNKNOWN", True),
    MissingCode("ASKU", "Asked but unknown", "asked-unknown", "ASKED BUT UNKNOWN", True),
    MissingCode("NASK", "Not asked", "not-asked", "NOT ASKED", True),
    MissingCode("NAV", "Temporarily unavailable", "temp-unknown", "TEMPORARILY UNAVAILABLE", True),
    MissingCode("MSK", "Masked", "masked", "MASKED", True),
)
BY_CODE = {m.code: m for m in MISSING_CODES}


class UnknownMissingCode(ValueError):
    """A code that is not in `MISSING_CODES`."""


def code_of(code: str) -> MissingCode:
    """The `MissingCode` for `code` (case-insensitive), or `UnknownMissingCode` naming the list."""
    found = BY_CODE.get(code.strip().upper())
    if found is None:
        known = ", ".join(f"{m.code} ({m.label.lower()})" for m in MISSING_CODES)
        raise UnknownMissingCode(f"{code!r} is not a missing-data code; use one of {known}")
    return found


def reasnd(code: str, reason: str | None) -> str:
    """SDTM --REASND: the code's wording and the site's reason, e.g. ``NOT DONE: haemolysed``."""
    wording = code_of(code).reasnd
    return f"{wording}: {reason}" if reason else wording


def redcap_choices() -> str:
    """REDCap's project setting "Missing Data Codes": ``CODE, Label`` one per line."""
    return "\n".join(f"{m.code}, {m.label}" for m in MISSING_CODES)


def describe(code: str, reason: str | None) -> str:
    """How a page or a verdict says it: ``not done (ND): haemolysed``."""
    known = BY_CODE.get(code.strip().upper())
    label = known.label.lower() if known else "recorded as missing"
    return f"{label} ({code})" + (f": {reason}" if reason else "")

"""What an export needs of a coding (pure): the MedDRA term and its primary path, with the
release it came from. The services store codings; `export.from_store` reads them into these."""

from __future__ import annotations

from dataclasses import dataclass

MEDDRA_SYSTEM = "https://www.meddra.org"
"""MedDRA's canonical code-system URI in HL7 Terminology (THO), CodeSystem ``mdr`` v3.0.0
(2023-06-14), OID 2.16.840.1.113883.6.163 [@THO-MedDRA]. Earlier THO releases used
``http://terminology.hl7.org/CodeSystem/mdr``."""


@dataclass(frozen=True)
class CodedTerm:
    dictionary_version: str
    llt_code: int
    llt_name: str
    pt_code: int
    pt_name: str
    hlt_code: int
    hlt_name: str
    hlgt_code: int
    hlgt_name: str
    soc_code: int
    soc_name: str


@dataclass(frozen=True)
class CodedDrug:
    """A medication coded to the drug dictionary: its name there and its ATC class."""

    dictionary_version: str
    drug_code: str
    drug_name: str
    atc_code: str
    atc_text: str

"""Reader for the drug dictionary: a documented ``$``-delimited format modelled on the WHO ATC
index, because the WHODrug Global "B3"/"C3" file layouts are licensed by the Uppsala
Monitoring Centre and could not be verified from public documentation.

A release directory holds three files, each record closed by ``$`` like MedDRA's:

================ ==============================================================================
``release.asc``  version, name (e.g. ``TEST 0.1$Test drug dictionary$``)
``atc.asc``      atc_code, atc_text: the ATC classes used (any level)
``drugs.asc``    drug_code, drug_name, atc_code: one line per drug name (a trade name and its
                 active ingredient are two lines sharing the ingredient's ATC code)
================ ==============================================================================

ATC codes have the WHO Collaborating Centre's five levels, told apart by length: 1 (anatomical
main group, ``A``), 3 (therapeutic subgroup, ``A10``), 4 (pharmacological, ``A10B``),
5 (chemical subgroup, ``A10BA``) and 7 characters (chemical substance, ``A10BA02``)
(WHOCC, *Guidelines for ATC classification and DDD assignment*, §I; [@WHOCC-ATC]). A sponsor
holding a WHODrug licence converts its B3 extract to these three files (drug record number →
drug_code, drug name, the ATC code of the product's primary ATC assignment).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from trialdesk.coding.errors import DictionaryFormatError
from trialdesk.coding.records import Record, content_hash, normalise, read_records

FILES = ("release.asc", "atc.asc", "drugs.asc")
ATC_CODE = re.compile(r"^[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?$")
"""The ATC code's shape by level: A, A10, A10B, A10BA, A10BA02 (WHOCC guidelines §I)."""


@dataclass(frozen=True)
class DrugTerm:
    drug_code: str
    drug_name: str
    atc_code: str
    atc_text: str

    @property
    def key(self) -> str:
        return normalise(self.drug_name)


@dataclass(frozen=True)
class DrugRelease:
    version: str
    name: str
    content_sha256: str
    terms: tuple[DrugTerm, ...]


def _atc(rec: Record) -> str:
    code = rec.text("atc_code").upper()
    if not ATC_CODE.match(code):
        raise DictionaryFormatError(
            rec.file,
            f"{code!r} is not an ATC code (A, A10, A10B, A10BA or A10BA02)",
            line=rec.line,
            field="atc_code",
        )
    return code


def read_drugs(directory: Path | str) -> DrugRelease:
    """Read a drug dictionary release directory (see the module docstring)."""
    folder = Path(directory)
    releases = list(read_records(folder / "release.asc", ("version", "name"), required=1))
    if not releases:
        raise DictionaryFormatError("release.asc", "the file holds no release record")
    classes: dict[str, str] = {}
    for rec in read_records(folder / "atc.asc", ("atc_code", "atc_text")):
        classes[_atc(rec)] = rec.text("atc_text")
    terms: dict[str, DrugTerm] = {}
    for rec in read_records(folder / "drugs.asc", ("drug_code", "drug_name", "atc_code")):
        code = rec.text("drug_code")
        if code in terms:
            raise DictionaryFormatError(
                "drugs.asc", f"drug code {code} appears twice", line=rec.line, field="drug_code"
            )
        atc = _atc(rec)
        if atc not in classes:
            raise DictionaryFormatError(
                "drugs.asc", f"ATC code {atc} is not in atc.asc", line=rec.line, field="atc_code"
            )
        terms[code] = DrugTerm(code, rec.text("drug_name"), atc, classes[atc])
    return DrugRelease(
        version=releases[0].text("version"),
        name=releases[0]["name"].strip() or "Drug dictionary",
        content_sha256=content_hash(folder, FILES),
        terms=tuple(terms.values()),
    )

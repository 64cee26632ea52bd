"""Every citation in the repository resolves inside it, in docs/references.md.

Three kinds of citation are recognised (docs/references.md explains the convention):
a key `[@Key]`; an author citation ("Bonora et al.", "Hodges & Lehmann"); the name of a
standard or regulation ("ICH E2A", "21 CFR 11.10(e)", "SDTMIG", "RFC 9110"). And no file may
cite a file outside the repository (the team's shared notes were never part of it).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
REFERENCES = ROOT / "docs" / "references.md"
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".j2", ".html", ".toml", ".txt", ".cfg"}
# The reference list, the record itself and this file (which quotes the patterns) cite nothing.
NOT_CITING = {REFERENCES, ROOT / "docs" / "registry" / "NCT01142050.txt", Path(__file__)}

# A file outside the repository: the shared notes, another checkout, an absolute work path.
OUTSIDE = re.compile(
    r"(?:\.\./)+shared\b|\bshared/(?:reference|protocol)\b|\b(?:clinical|standards)\.md\b|/work/"
)
KEY = re.compile(r"\[@([A-Za-z0-9][A-Za-z0-9_.-]*)\]")
# "Smith et al", or "Kung & Robinson" with a year on the line (not button labels such as REDCap's
# "Save & Stay").
AUTHOR = re.compile(
    r"\b([A-Z][A-Za-z'\-]+)(?: [A-Z]{1,3})?,? "
    r"(?:et al\b|& [A-Z][a-z]+(?=.*\b(?:1[89]|20)\d\d\b))"
)
# Names of sources (regex) and the key docs/references.md must define for them.
NAMED: dict[str, str] = {
    r"\bWHO 1999\b": "WHO1999",
    r"\bWHO/IDF\b|\bWHO 2006\b": "WHO2006",
    r"\bIFCC\b": "Hoelzel2004",
    r"\bCTCAE\b": "CTCAE5",
    r"\bICH E2A\b": "ICH-E2A",
    r"\bICH E6\b": "ICH-E6R2",
    r"\bICH E3\b": "ICH-E3",
    r"\bICH E9\b": "ICH-E9",
    r"\bSDTMIG\b|\bSDTM IG\b": "SDTMIG",
    r"\bSDTM\b": "SDTM",
    r"\bCDISC CT\b|Controlled Terminology": "CDISC-CT",
    r"\bCORE-\d{6}\b|\bCDISC CORE\b": "CDISC-CORE",
    r"\bADaM": "ADaMIG",
    r"\bODM\b": "ODM",
    r"Define-XML|define\.xml": "Define-XML",
    r"Dataset-JSON": "Dataset-JSON",
    r"\bFHIR\b": "FHIR-R4B",
    r"\bOMOP\b": "OMOP-CDM",
    r"FeatureExtraction": "OHDSI-FeatureExtraction",
    r"\bCirce\b|\bATLAS\b": "OHDSI-Circe",
    r"\bSNOMED\b": "SNOMED",
    r"\bLOINC\b": "LOINC",
    r"\bUCUM\b": "UCUM",
    r"\bMedDRA\b": "MedDRA",
    r"\bATC\b|\bDDDs?\b": "ATCDDD",
    r"\bCONSORT\b": "Schulz2010",
    r"\b21 CFR (?:Part )?11\b": "21CFR11",
    r"\b21 CFR 312\b": "21CFR312",
    r"\bHIPAA\b|\b45 CFR\b": "HIPAA",
    r"\bGDPR\b": "GDPR",
    r"\bAnnex 11\b": "Annex11",
    r"\bGAMP\b": "GAMP5",
    r"\b800-63": "NIST-800-63B",
    r"\bISO 8601\b": "ISO8601",
    r"\bISO 3166\b": "ISO3166",
    r"\bISO 15197\b": "ISO15197",
    r"\bOWASP\b": "OWASP",
    r"\bREDCap\b": "REDCap",
    r"\bOpenClinica\b": "OpenClinica",
    r"\bWCAG\b": "WCAG21",
    r"Risk-Based Approach to Monitoring": "FDA-RBM2013",
    r"\bKenward": "KenwardRoger1997",
    r"\bClopper": "Clopper1934",
    r"\bWilcoxon\b": "Wilcoxon1945",
    r"Hodges-Lehmann": "Hodges1963",
    r"\bADA Standards\b": "ADA2024",
    r"\bUNAIDS\b": "UNAIDS",
    r"\bPolaris\b": "Polaris2018",
    r"\bHOMA": "Matthews1985",
}


def _plain(text: str) -> str:
    """Accents dropped, so that "Ricos" finds "Ricós"."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


REFERENCE_TEXT = _plain(REFERENCES.read_text("utf-8"))
DEFINED = set(re.findall(r"\*\*\[@([^\]]+)\]\*\*", REFERENCE_TEXT))


def _files(*folders: str) -> Iterator[Path]:
    for folder in folders:
        path = ROOT / folder
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        for file in candidates:
            if (
                file.suffix in SUFFIXES
                and file not in NOT_CITING
                and "__pycache__" not in file.parts
            ):
                yield file


@cache
def _lines(*folders: str) -> list[tuple[str, str]]:
    """(file:line, text) of every line of the folders' text files, read once per test run."""
    return [
        (f"{file.relative_to(ROOT)}:{number}", line)
        for file in _files(*folders)
        for number, line in enumerate(file.read_text("utf-8", errors="replace").splitlines(), 1)
    ]


CITING = ("src", "docs", "README.md")
EVERYWHERE = (*CITING, "tests", "benchmarks", "Makefile", ".ci", "pyproject.toml")


def test_nothing_cites_a_file_outside_the_repository() -> None:
    found = [
        f"{where}: {line.strip()}" for where, line in _lines(*EVERYWHERE) if OUTSIDE.search(line)
    ]
    assert found == [], "\n".join(found)


def test_every_key_is_defined() -> None:
    missing = [
        f"{where}: [@{key}]"
        for where, line in _lines(*CITING, "tests")
        for key in KEY.findall(line)
        if key not in DEFINED
    ]
    assert missing == [], "\n".join(missing)


def test_every_cited_author_is_listed() -> None:
    missing = [
        f"{where}: {name}"
        for where, line in _lines(*CITING)
        for name in AUTHOR.findall(_plain(line))
        if name not in REFERENCE_TEXT
    ]
    assert missing == [], "\n".join(missing)


@pytest.mark.parametrize("pattern", sorted(NAMED))
def test_every_named_source_is_listed(pattern: str) -> None:
    cited = [where for where, line in _lines(*CITING) if re.search(pattern, line)]
    if cited:  # a source nobody names needs no entry
        assert NAMED[pattern] in DEFINED, f"{NAMED[pattern]} missing, cited at {cited[:3]}"


def test_every_rfc_and_registry_id_is_listed() -> None:
    missing = [
        f"{where}: {ident}"
        for where, line in _lines(*CITING)
        for ident in re.findall(r"\bRFC ?(\d{3,5})\b|\b(NCT\d{8})\b", line)
        for ident_text in [ident[0] and f"RFC{ident[0]}" or ident[1]]
        if ident_text not in DEFINED
    ]
    assert missing == [], "\n".join(missing)


def test_the_checks_can_fail() -> None:
    # The patterns themselves, on lines that must be caught.
    assert OUTSIDE.search("(shared/reference/clinical.md §3)")
    assert AUTHOR.findall("see Nobody et al., J Imag 2001") == ["Nobody"]
    assert "Nobody" not in REFERENCE_TEXT and "NoSuchKey" not in DEFINED

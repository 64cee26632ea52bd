"""Reader for a MedDRA release in its ASCII distribution format (the ``MedAscii`` folder).

Field layouts follow the MedDRA MSSO *Distribution File Format* document (formerly "ASCII and
Consecutive File Documentation"; [@MedDRADist]), the same layouts that OHDSI's loader declares
(OHDSI Vocabulary-v5.0, ``MedDRA/create_source_tables.sql``; [@OHDSIMedDRA]):

============== ================================================================================
``llt.asc``    llt_code, llt_name, pt_code, llt_whoart_code, llt_harts_code, llt_costart_sym,
               llt_icd9_code, llt_icd9cm_code, llt_icd10_code, llt_currency (Y/N), llt_jart_code
``pt.asc``     pt_code, pt_name, null_field, pt_soc_code (the primary SOC), pt_whoart_code, …
``hlt.asc``    hlt_code, hlt_name, hlt_whoart_code, …
``hlgt.asc``   hlgt_code, hlgt_name, hlgt_whoart_code, …
``soc.asc``    soc_code, soc_name, soc_abbrev, soc_whoart_code, …
``hlt_pt.asc`` hlt_code, pt_code (likewise ``hlgt_hlt.asc``, ``soc_hlgt.asc``)
``mdhier.asc`` pt_code, hlt_code, hlgt_code, soc_code, pt_name, hlt_name, hlgt_name, soc_name,
               soc_abbrev, null_field, pt_soc_code, primary_soc_fg (Y on the primary path)
``meddra_release.asc`` version, language
============== ================================================================================

A PT may sit under several SOCs; coding reports the *primary* path (``primary_soc_fg`` = Y),
the one SDTM AE's AESOC ("Primary System Organ Class", SDTMIG v3.4 AE) holds; trialdesk also
analyses by it (AEBODSYS). An LLT with ``llt_currency`` = N is non-current: kept in the
dictionary for history, not to be chosen for new coding ([@MedDRAIntro]).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from trialdesk.coding.errors import DictionaryFormatError
from trialdesk.coding.records import Record, content_hash, normalise, read_records

_LEGACY = ("whoart_code", "harts_code", "costart_sym", "icd9_code", "icd9cm_code", "icd10_code")
LLT_FIELDS = (
    "llt_code", "llt_name", "pt_code", *(f"llt_{f}" for f in _LEGACY), "llt_currency",
    "llt_jart_code",
)  # fmt: skip
PT_FIELDS = (
    "pt_code", "pt_name", "null_field", "pt_soc_code", *(f"pt_{f}" for f in _LEGACY),
    "pt_jart_code",
)  # fmt: skip
HLT_FIELDS = ("hlt_code", "hlt_name", *(f"hlt_{f}" for f in _LEGACY), "hlt_jart_code")
HLGT_FIELDS = ("hlgt_code", "hlgt_name", *(f"hlgt_{f}" for f in _LEGACY), "hlgt_jart_code")
SOC_FIELDS = (
    "soc_code", "soc_name", "soc_abbrev", *(f"soc_{f}" for f in _LEGACY), "soc_jart_code",
)  # fmt: skip
MDHIER_FIELDS = (
    "pt_code", "hlt_code", "hlgt_code", "soc_code", "pt_name", "hlt_name", "hlgt_name",
    "soc_name", "soc_abbrev", "null_field", "pt_soc_code", "primary_soc_fg",
)  # fmt: skip
RELEASE_FIELDS = ("version", "language", "null_field_1", "null_field_2")
FILES = (
    "meddra_release.asc", "soc.asc", "hlgt.asc", "hlt.asc", "pt.asc", "llt.asc",
    "soc_hlgt.asc", "hlgt_hlt.asc", "hlt_pt.asc", "mdhier.asc",
)  # fmt: skip
"""The files a release directory must hold (the hash covers them in this order)."""


@dataclass(frozen=True)
class MeddraTerm:
    """An LLT with its PT and the PT's primary path HLT → HLGT → SOC."""

    llt_code: int
    llt_name: str
    llt_current: bool
    pt_code: int
    pt_name: str
    hlt_code: int
    hlt_name: str
    hlgt_code: int
    hlgt_name: str
    soc_code: int
    soc_name: str
    soc_abbrev: str

    @property
    def key(self) -> str:
        return normalise(self.llt_name)

    def path(self) -> tuple[int, int, int, int, int]:
        """The codes from LLT to SOC: two codings of one LLT agree when their paths do."""
        return (self.llt_code, self.pt_code, self.hlt_code, self.hlgt_code, self.soc_code)


@dataclass(frozen=True)
class MeddraRelease:
    version: str
    language: str
    content_sha256: str
    terms: tuple[MeddraTerm, ...]

    def by_code(self) -> dict[int, MeddraTerm]:
        return {t.llt_code: t for t in self.terms}


def _names(directory: Path, file: str, fields: tuple[str, ...], required: int) -> dict[int, str]:
    names: dict[int, str] = {}
    code_field, name_field = fields[0], fields[1]
    for rec in read_records(directory / file, fields, required=required):
        code = rec.code(code_field)
        if code in names:
            raise DictionaryFormatError(
                file, f"code {code} appears twice", line=rec.line, field=code_field
            )
        names[code] = rec.text(name_field)
    return names


def _links(directory: Path, file: str, upper: str, lower: str) -> set[tuple[int, int]]:
    return {
        (rec.code(upper), rec.code(lower)) for rec in read_records(directory / file, (upper, lower))
    }


def _flag(rec: Record, field: str) -> bool:
    value = rec[field].strip().upper()
    if value not in {"Y", "N"}:
        raise DictionaryFormatError(
            rec.file, f"{rec[field]!r} is neither Y nor N", line=rec.line, field=field
        )
    return value == "Y"


def _known(rec: Record, field: str, codes: Iterable[int], what: str) -> int:
    code = rec.code(field)
    if code not in codes:
        raise DictionaryFormatError(
            rec.file, f"{what} {code} is not in {what.lower()}.asc", line=rec.line, field=field
        )
    return code


@dataclass(frozen=True)
class _Path:
    hlt: int
    hlgt: int
    soc: int


def _primary_paths(
    directory: Path,
    names: dict[str, dict[int, str]],
    links: dict[str, set[tuple[int, int]]],
) -> dict[int, _Path]:
    """PT → its primary path, checked against the term and link files."""
    primary: dict[int, _Path] = {}
    for rec in read_records(directory / "mdhier.asc", MDHIER_FIELDS):
        pt = _known(rec, "pt_code", names["pt"], "PT")
        hlt = _known(rec, "hlt_code", names["hlt"], "HLT")
        hlgt = _known(rec, "hlgt_code", names["hlgt"], "HLGT")
        soc = _known(rec, "soc_code", names["soc"], "SOC")
        for (upper, lower), file in (
            ((hlt, pt), "hlt_pt"), ((hlgt, hlt), "hlgt_hlt"), ((soc, hlgt), "soc_hlgt"),
        ):  # fmt: skip
            if (upper, lower) not in links[file]:
                raise DictionaryFormatError(
                    "mdhier.asc",
                    f"the path {upper} → {lower} is not in {file}.asc",
                    line=rec.line,
                    field="hlt_code" if file == "hlt_pt" else f"{file.split('_')[0]}_code",
                )
        if _flag(rec, "primary_soc_fg"):
            if pt in primary:
                raise DictionaryFormatError(
                    "mdhier.asc", f"PT {pt} has two primary paths", line=rec.line,
                    field="primary_soc_fg",
                )  # fmt: skip
            primary[pt] = _Path(hlt, hlgt, soc)
    return primary


def _abbreviations(directory: Path) -> dict[int, str]:
    return {
        rec.code("soc_code"): rec["soc_abbrev"].strip()
        for rec in read_records(directory / "soc.asc", SOC_FIELDS, required=3)
    }


def read_meddra(directory: Path | str) -> MeddraRelease:
    """Read and cross-check a MedDRA release directory; every LLT comes with its primary path.

    Raises `DictionaryFormatError` naming the file, line and field of the first problem.
    """
    folder = Path(directory)
    releases = list(read_records(folder / "meddra_release.asc", RELEASE_FIELDS, required=2))
    if not releases:
        raise DictionaryFormatError("meddra_release.asc", "the file holds no release record")
    release = releases[0]
    names = {
        "soc": _names(folder, "soc.asc", SOC_FIELDS, 3),
        "hlgt": _names(folder, "hlgt.asc", HLGT_FIELDS, 2),
        "hlt": _names(folder, "hlt.asc", HLT_FIELDS, 2),
        "pt": _names(folder, "pt.asc", PT_FIELDS, 4),
    }
    links = {
        "soc_hlgt": _links(folder, "soc_hlgt.asc", "soc_code", "hlgt_code"),
        "hlgt_hlt": _links(folder, "hlgt_hlt.asc", "hlgt_code", "hlt_code"),
        "hlt_pt": _links(folder, "hlt_pt.asc", "hlt_code", "pt_code"),
    }
    primary = _primary_paths(folder, names, links)
    abbreviations = _abbreviations(folder)
    terms: dict[int, MeddraTerm] = {}
    for rec in read_records(folder / "llt.asc", LLT_FIELDS, required=10):
        code = rec.code("llt_code")
        if code in terms:
            raise DictionaryFormatError(
                "llt.asc", f"code {code} appears twice", line=rec.line, field="llt_code"
            )
        pt = _known(rec, "pt_code", names["pt"], "PT")
        if pt not in primary:
            raise DictionaryFormatError(
                "llt.asc", f"PT {pt} has no primary path in mdhier.asc", line=rec.line,
                field="pt_code",
            )  # fmt: skip
        path = primary[pt]
        terms[code] = MeddraTerm(
            llt_code=code,
            llt_name=rec.text("llt_name"),
            llt_current=_flag(rec, "llt_currency"),
            pt_code=pt,
            pt_name=names["pt"][pt],
            hlt_code=path.hlt,
            hlt_name=names["hlt"][path.hlt],
            hlgt_code=path.hlgt,
            hlgt_name=names["hlgt"][path.hlgt],
            soc_code=path.soc,
            soc_name=names["soc"][path.soc],
            soc_abbrev=abbreviations[path.soc],
        )
    return MeddraRelease(
        version=release.text("version"),
        language=release["language"].strip() or "English",
        content_sha256=content_hash(folder, FILES),
        terms=tuple(terms.values()),
    )

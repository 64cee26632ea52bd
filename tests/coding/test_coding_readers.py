"""The dictionary readers: the shipped made-up releases read back with their paths, and every
malformed file is refused naming the file, the line and the field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from trialdesk.coding import DictionaryFormatError, normalise, read_drugs, read_meddra

DATA = Path(__file__).parent / "data"


@pytest.fixture
def release(tmp_path: Path) -> Path:
    target = tmp_path / "meddra"
    shutil.copytree(DATA / "meddra_test_0_1", target)
    return target


def test_meddra_release_reads_llts_with_their_primary_path() -> None:
    release = read_meddra(DATA / "meddra_test_0_1")
    assert (release.version, release.language) == ("TEST 0.1", "English")
    terms = release.by_code()
    head_pain = terms[90000402]
    assert (head_pain.llt_name, head_pain.pt_name, head_pain.llt_current) == (
        "Head pain", "Headache", True,
    )  # fmt: skip
    # Headache has a secondary path under the general class; the primary one is reported.
    assert (head_pain.hlt_name, head_pain.hlgt_name, head_pain.soc_name, head_pain.soc_abbrev) == (
        "TEST headache terms", "TEST headache group", "TEST nervous system class", "TNrv",
    )  # fmt: skip
    assert not terms[90000409].llt_current
    assert len(release.content_sha256) == 64


def test_upgraded_release_differs_where_it_was_changed() -> None:
    old = read_meddra(DATA / "meddra_test_0_1").by_code()
    new = read_meddra(DATA / "meddra_test_0_2").by_code()
    assert not new[90000402].llt_current and old[90000402].llt_current
    assert new[90000408].pt_name == "Infusion site pain" != old[90000408].pt_name
    assert new[90000401].path() == old[90000401].path()
    assert 90000410 in new and 90000410 not in old


def test_the_hash_changes_with_the_content(release: Path) -> None:
    before = read_meddra(release).content_sha256
    (release / "llt.asc").write_text((release / "llt.asc").read_text().replace("Fever", "Fevers"))
    assert read_meddra(release).content_sha256 != before


def _replace(release: Path, file: str, old: str, new: str) -> None:
    path = release / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("file", "old", "new", "line", "field", "reason"),
    [
        ("llt.asc", "90000402$Head pain", "9000040X$Head pain", 2, "llt_code", "not a numeric"),
        ("llt.asc", "$Y$$\n90000404", "$maybe$$\n90000404", 3, "llt_currency", "neither Y nor N"),
        (
            "llt.asc",
            "90000405$Fever$90000303",
            "90000405$Fever$90000399",
            5,
            "pt_code",
            "PT 90000399",
        ),
        ("llt.asc", "90000406$Pyrexia$", "90000406$ $", 6, "llt_name", "is empty"),
        (
            "llt.asc",
            "90000407$Injection site pain$90000304$$$$$$$Y$$",
            "90000407$Injection site pain",
            7,
            "pt_code",
            "has 2 fields",
        ),
        ("llt.asc", "90000405$Fever$", "90000401$Fever$", 5, "llt_code", "appears twice"),
        ("mdhier.asc", "$TMet$$90000002$Y$", "$TMet$$90000002$X$", 3, "primary_soc_fg", "neither"),
        (
            "mdhier.asc",
            "90000303$90000203$90000103",
            "90000303$90000201$90000103",
            4,
            "hlt_code",
            "not in hlt_pt.asc",
        ),
        (
            "pt.asc",
            "90000303$Pyrexia$$90000003",
            "90000303$Pyrexia$$90000003$1$2$3$4$5$6$7$8",
            3,
            None,
            "the layout has 11",
        ),
        ("soc.asc", "90000002$TEST metabolism class", "90000002$", 2, "soc_name", "is empty"),
    ],
)
def test_malformed_meddra_files_name_file_line_and_field(
    release: Path, file: str, *, old: str, new: str, line: int, field: str | None, reason: str
) -> None:
    _replace(release, file, old, new)
    with pytest.raises(DictionaryFormatError, match=reason) as caught:
        read_meddra(release)
    error = caught.value
    assert (error.file, error.line, error.field) == (file, line, field)
    assert str(error).startswith(f"{file} line {line}")


def test_a_missing_file_is_named(release: Path) -> None:
    (release / "hlt_pt.asc").unlink()
    with pytest.raises(DictionaryFormatError, match="hlt_pt.asc: the file is missing"):
        read_meddra(release)


def test_a_pt_without_a_primary_path_is_refused(release: Path) -> None:
    fever = "TEST fever terms$TEST fever group$TEST general class$TGen$$90000003$"
    _replace(release, "mdhier.asc", fever + "Y$", fever + "N$")
    with pytest.raises(DictionaryFormatError, match="PT 90000303 has no primary path") as caught:
        read_meddra(release)
    assert (caught.value.file, caught.value.line, caught.value.field) == ("llt.asc", 5, "pt_code")


def test_drug_dictionary_reads_atc_classes() -> None:
    release = read_drugs(DATA / "drugs_test_0_1")
    assert release.version == "TEST 0.1"
    metformin = next(t for t in release.terms if t.drug_name == "Metformin")
    assert (metformin.drug_code, metformin.atc_code, metformin.atc_text) == (
        "T9000001", "A10BA02", "TEST metformin class",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        ("T9000003$Acarbose$A10BF01", "T9000003$Acarbose$A10-BF", "atc_code", "not an ATC code"),
        ("T9000003$Acarbose$A10BF01", "T9000003$Acarbose$A10BX01", "atc_code", "not in atc.asc"),
        ("T9000003$Acarbose$", "T9000001$Acarbose$", "drug_code", "appears twice"),
    ],
)
def test_malformed_drug_files_are_refused(
    tmp_path: Path, old: str, new: str, field: str, reason: str
) -> None:
    shutil.copytree(DATA / "drugs_test_0_1", tmp_path / "drugs")
    _replace(tmp_path / "drugs", "drugs.asc", old, new)
    with pytest.raises(DictionaryFormatError, match=reason) as caught:
        read_drugs(tmp_path / "drugs")
    assert (caught.value.file, caught.value.line, caught.value.field) == ("drugs.asc", 3, field)


def test_matching_key_ignores_case_and_spacing() -> None:
    assert normalise("  Head   PAIN ") == normalise("head pain") == "head pain"

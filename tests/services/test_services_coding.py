"""Medical coding (issue 14) through the services, on SQLite and PostgreSQL: loading releases,
autocoding, manual coding with the synonym list, recoding on an upgrade, clearing on a changed
verbatim; every write audited, old codings kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tools.harness.database import DEMO_PASSWORD

from trialdesk import services as sv
from trialdesk.services.accounts import NewUserAccount
from trialdesk.store.models import AuditEntry

DATA = Path(__file__).parents[1] / "coding" / "data"
MEDDRA_1, MEDDRA_2 = DATA / "meddra_test_0_1", DATA / "meddra_test_0_2"


@pytest.fixture
def coder(session: Session, seed) -> sv.Actor:  # type: ignore[no-untyped-def]
    user = sv.create_user(
        session,
        sv.SYSTEM,
        NewUserAccount(
            username="coder",
            full_name="Cora Coder",
            password=DEMO_PASSWORD,
            roles=["coder"],
            site_codes=["APGH"],
            must_change_password=False,
        ),
    )
    return sv.actor_for(session, user.id)


def _ae(clinic, pid: int, term: str) -> int:  # type: ignore[no-untyped-def]
    return sv.report_adverse_event(
        clinic.session,
        clinic.coordinator,
        pid,
        sv.AdverseEventReport(
            term=term,
            onset_date=clinic.day(40),
            grade=1,
            relatedness="possible",
            action_taken="not applicable",
            outcome="recovering/resolving",
            awareness_date=clinic.day(41),
        ),
    ).id


def _audited(session: Session, table: str) -> list[AuditEntry]:
    session.expire_all()
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.table_name == table)
            .order_by(AuditEntry.sequence)  # PostgreSQL promises no order without one
        )
    )


def test_loading_a_release_stores_it_with_its_hash_and_who(session: Session, coder) -> None:  # type: ignore[no-untyped-def]
    loaded = sv.load_dictionary(session, coder, "meddra", MEDDRA_1, version="TEST 0.1")
    assert (loaded.version, loaded.term_count, loaded.loaded_by) == ("TEST 0.1", 9, coder.user_id)
    assert len(loaded.content_sha256) == 64
    assert [d.version for d in sv.list_dictionaries(session, coder)] == ["TEST 0.1"]
    (entry,) = _audited(session, "coding_dictionaries")
    assert entry.user_id == coder.user_id and loaded.content_sha256 in entry.changes
    with pytest.raises(sv.RuleViolation, match="already loaded"):
        sv.load_dictionary(session, coder, "meddra", MEDDRA_1)


def test_a_version_that_is_not_the_files_one_is_refused(session: Session, coder) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(sv.ValidationProblem, match="version: the release files say .*TEST 0.1"):
        sv.load_dictionary(session, coder, "meddra", MEDDRA_1, version="27.1")
    assert sv.list_dictionaries(session, coder) == []


def test_a_malformed_release_is_refused_naming_file_line_field(
    session: Session,
    coder,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(MEDDRA_1, broken)
    text = (broken / "llt.asc").read_text().replace("90000405$Fever", "9000O405$Fever")
    (broken / "llt.asc").write_text(text)
    with pytest.raises(sv.ValidationProblem, match=r"llt.asc line 5, field llt_code") as caught:
        sv.load_dictionary(session, coder, "meddra", broken)
    assert caught.value.rule == "dictionary_format"
    assert sv.list_dictionaries(session, coder) == []


def test_roles_that_may_not_code_are_refused_and_audited(
    clinic, session: Session, actors, coder
) -> None:  # type: ignore[no-untyped-def]
    sv.load_dictionary(session, coder, "meddra", MEDDRA_1)
    ae = _ae(clinic, clinic.enrolled(), "Headache")
    for role in ("coordinator", "monitor", "statistician"):
        with pytest.raises(sv.Forbidden, match="code adverse event terms"):
            sv.code_manually(session, actors[role], "adverse_events", ae, code=90000401)
    with pytest.raises(sv.NotFound):
        sv.code_manually(session, actors["coordinator2"], "adverse_events", ae, code=90000401)
    with pytest.raises(sv.Forbidden, match="enter or change clinical data"):
        sv.update_adverse_event(
            session,
            coder,
            ae,
            expected_version=1,
            reason="x",
            changes=sv.AdverseEventChanges(term="Cephalea"),
        )
    assert sv.get_coding(session, coder, "adverse_events", ae) is None


def test_autocode_exact_and_synonym_manual_for_the_rest(clinic, session: Session, coder) -> None:  # type: ignore[no-untyped-def]
    sv.load_dictionary(session, coder, "meddra", MEDDRA_1)
    pid = clinic.enrolled()
    exact = _ae(clinic, pid, "  head   PAIN ")
    odd = _ae(clinic, pid, "Sugar low")
    again = _ae(clinic, pid, "sugar LOW")
    stale = _ae(clinic, pid, "Hypo")  # a non-current LLT is never autocoded
    result = sv.autocode(session, coder, "meddra")
    assert (result.coded, result.left) == (1, 3)
    coded = sv.get_coding(session, coder, "adverse_events", exact)
    assert coded is not None and coded.method == "autocoded"
    assert (coded.llt_name, coded.pt_name, coded.soc_name) == (
        "Head pain", "Headache", "TEST nervous system class",
    )  # fmt: skip
    assert {i.target_id for i in sv.coding_queue(session, coder, "meddra")} == {odd, again, stale}
    hits = sv.search_terms(session, coder, "meddra", "blood sug")
    assert [(h.code, h.name) for h in hits] == [("90000404", "Low blood sugar")]
    manual = sv.code_manually(session, coder, "adverse_events", odd, code=hits[0].code)
    assert (manual.method, manual.pt_name, manual.coded_by) == (
        "manual", "Hypoglycaemia", coder.user_id,
    )  # fmt: skip
    # The verbatim joined the synonym list: the same words elsewhere are now autocoded.
    assert sv.autocode(session, coder, "meddra").coded == 1
    assert sv.get_coding(session, coder, "adverse_events", again).llt_code == 90000404  # type: ignore[union-attr]
    assert [i.target_id for i in sv.coding_queue(session, coder, "meddra")] == [stale]
    with pytest.raises(sv.ValidationProblem, match="non-current term"):
        sv.code_manually(session, coder, "adverse_events", stale, code=90000409)
    assert len(_audited(session, "coding_assignments")) == 3
    assert sv.verify_audit_trail(session, sv.SYSTEM).ok


def test_recoding_needs_a_reason_and_keeps_the_old_coding(clinic, session: Session, coder) -> None:  # type: ignore[no-untyped-def]
    sv.load_dictionary(session, coder, "meddra", MEDDRA_1)
    ae = _ae(clinic, clinic.enrolled(), "Fever")
    sv.autocode(session, coder)
    with pytest.raises(sv.ValidationProblem, match="reason"):
        sv.code_manually(session, coder, "adverse_events", ae, code=90000406)
    sv.code_manually(
        session, coder, "adverse_events", ae, code=90000406, reason="site says pyrexia"
    )
    history = sv.coding_history(session, coder, "adverse_events", ae)
    assert [(h.llt_name, h.status) for h in history] == [
        ("Fever", "superseded"), ("Pyrexia", "current"),
    ]  # fmt: skip


def test_a_changed_verbatim_clears_its_coding(clinic, session: Session, coder) -> None:  # type: ignore[no-untyped-def]
    sv.load_dictionary(session, coder, "meddra", MEDDRA_1)
    ae = _ae(clinic, clinic.enrolled(), "Fever")
    sv.autocode(session, coder)
    version = sv.get_adverse_event(session, clinic.coordinator, ae).version
    sv.update_adverse_event(
        session, clinic.coordinator, ae, expected_version=version, reason="site corrected term",
        changes=sv.AdverseEventChanges(term="Injection site pain"),
    )  # fmt: skip
    assert sv.get_coding(session, coder, "adverse_events", ae) is None
    (cleared,) = sv.coding_history(session, coder, "adverse_events", ae)
    assert cleared.status == "cleared" and "site corrected term" in (cleared.review_reason or "")
    assert [i.verbatim for i in sv.coding_queue(session, coder)] == ["Injection site pain"]
    # Changing another field keeps the coding.
    sv.autocode(session, coder)
    version = sv.get_adverse_event(session, clinic.coordinator, ae).version
    sv.update_adverse_event(
        session,
        clinic.coordinator,
        ae,
        expected_version=version,
        reason="grade",
        changes=sv.AdverseEventChanges(grade=2),
    )
    assert sv.get_coding(session, coder, "adverse_events", ae) is not None


def test_an_upgrade_recodes_flags_and_carries_codings(clinic, session: Session, coder) -> None:  # type: ignore[no-untyped-def]
    sv.load_dictionary(session, coder, "meddra", MEDDRA_1)
    pid = clinic.enrolled()
    unchanged = _ae(clinic, pid, "Headache")
    made_non_current = _ae(clinic, pid, "Head pain")
    moved = _ae(clinic, pid, "Pain at injection site")
    assert sv.autocode(session, coder).coded == 3
    upgrade = sv.load_dictionary(session, coder, "meddra", MEDDRA_2, version="TEST 0.2")
    assert (upgrade.recoded, upgrade.flagged, upgrade.unchanged) == (1, 1, 1)

    kept = sv.get_coding(session, coder, "adverse_events", unchanged)
    assert kept is not None and (kept.dictionary_version, kept.status) == ("TEST 0.2", "current")

    recoded = sv.coding_history(session, coder, "adverse_events", moved)
    assert [(h.pt_name, h.status, h.dictionary_version) for h in recoded] == [
        ("Injection site pain", "superseded", "TEST 0.1"),
        ("Infusion site pain", "current", "TEST 0.2"),
    ]
    assert "moved" in (recoded[-1].review_reason or "")
    created = [e for e in _audited(session, "coding_assignments") if e.action == "create"]
    assert "moved" in created[-1].changes  # the reason is in the audited first entry

    (flagged,) = sv.review_queue(session, coder, "meddra")
    assert flagged.target_id == made_non_current and flagged.coding is not None
    assert flagged.coding.status == "needs_review"
    assert "non-current" in (flagged.coding.review_reason or "")
    fixed = sv.code_manually(
        session, coder, "adverse_events", made_non_current, code=90000410, reason="upgrade review"
    )
    assert fixed.llt_name == "Cephalalgia" and sv.review_queue(session, coder) == []
    assert sv.verify_audit_trail(session, sv.SYSTEM).ok


def test_medications_are_coded_to_the_drug_dictionary(clinic, session: Session, coder) -> None:  # type: ignore[no-untyped-def]
    sv.load_dictionary(session, coder, "drug", DATA / "drugs_test_0_1")
    pid = clinic.enrolled()
    dose = sv.record_ogld_dose(
        session,
        clinic.coordinator,
        pid,
        sv.OgldDoseEntry(start_date=clinic.day(1), drug="metformin", daily_dose_mg=1000),
    )
    assert sv.autocode(session, coder, "drug").coded >= 1
    coded = sv.get_coding(session, coder, "ogld_doses", dose.id)
    assert coded is not None
    assert (coded.drug_name, coded.atc_code, coded.atc_text) == (
        "Metformin", "A10BA02", "TEST metformin class",
    )  # fmt: skip


def test_a_coder_sees_and_codes_only_their_sites(clinic, session: Session, actors, coder) -> None:  # type: ignore[no-untyped-def]
    sv.load_dictionary(session, coder, "meddra", MEDDRA_1)
    pumc = clinic.register("PUMC", actor="coordinator2")
    sv.record_consent(
        session, actors["coordinator2"], pumc, form_version="ICF v2.0", consented_on=clinic.day(0)
    )
    other = sv.report_adverse_event(
        session,
        actors["coordinator2"],
        pumc,
        sv.AdverseEventReport(
            term="Fever",
            onset_date=clinic.day(40),
            grade=1,
            relatedness="possible",
            action_taken="not applicable",
            outcome="recovering/resolving",
            awareness_date=clinic.day(41),
        ),
    ).id
    assert sv.coding_queue(session, coder) == []
    assert sv.autocode(session, coder).coded == 0
    with pytest.raises(sv.NotFound):
        sv.code_manually(session, coder, "adverse_events", other, code=90000405)


def test_a_drug_dictionary_upgrade_recodes_a_moved_drug(
    clinic,
    session: Session,
    coder,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    sv.load_dictionary(session, coder, "drug", DATA / "drugs_test_0_1")
    pid = clinic.enrolled()
    dose = sv.record_ogld_dose(
        session,
        clinic.coordinator,
        pid,
        sv.OgldDoseEntry(start_date=clinic.day(1), drug="Acarbose", daily_dose_mg=150),
    ).id
    assert sv.autocode(session, coder, "drug").coded >= 1
    upgraded = tmp_path / "drugs_0_2"
    shutil.copytree(DATA / "drugs_test_0_1", upgraded)
    (upgraded / "release.asc").write_text("TEST 0.2$Made-up test drug dictionary$\n")
    (upgraded / "atc.asc").write_text(
        (upgraded / "atc.asc").read_text() + "A10BF$TEST alpha glucosidase inhibitors$\n"
    )
    drugs = (upgraded / "drugs.asc").read_text()
    (upgraded / "drugs.asc").write_text(drugs.replace("Acarbose$A10BF01$", "Acarbose$A10BF$"))
    result = sv.load_dictionary(session, coder, "drug", upgraded, version="TEST 0.2")
    assert result.recoded == 1
    history = sv.coding_history(session, coder, "ogld_doses", dose)
    assert [(h.atc_code, h.status, h.dictionary_version) for h in history] == [
        ("A10BF01", "superseded", "TEST 0.1"),
        ("A10BF", "current", "TEST 0.2"),
    ]

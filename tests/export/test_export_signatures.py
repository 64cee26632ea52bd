"""Casebook signatures in every export (issue 14; 21 CFR 11.50(b)): ODM 1.3.2 SignatureDef in
AdminData and the SubjectData Signature (schema-valid), a FHIR R4B Provenance with an ASTM
"Verification Signature", and SDTM SUPPDM qualifiers; a signature broken by a later change says
so in each; a casebook signed again carries both signings, the first "superseded" (every
signing in ClinicalData/Signatures, one Provenance each, SUPPDM INVSn* per signing). On SQLite
and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from tools.harness.database import (
    DEMO_PASSWORD,
    TestDatabase,
    available_backends,
    backend_url,
    fresh_database,
    seed_demo_site_and_users,
)

from trialdesk import services as sv
from trialdesk.export.fhir.bundle import study_bundle
from trialdesk.export.from_store import clinical_data, sdtm_sources
from trialdesk.export.odm import names as n
from trialdesk.export.odm.validate import schema_errors
from trialdesk.export.odm.write import odm_document
from trialdesk.export.sdtm.build import sdtm_datasets
from trialdesk.export.sdtm.conformance import check
from trialdesk.protocol import builtin_protocol
from trialdesk.simulate.run import SimulationSettings, run_simulation
from trialdesk.store.models import Participant, User


@pytest.fixture(scope="module", params=available_backends())
def signed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestDatabase, str, str, str]]:
    """A simulated cohort; three casebooks signed by the investigator, then one changed, and
    the third changed and signed again."""
    db = fresh_database(backend_url(request.param), directory=tmp_path_factory.mktemp("sig"))
    with db.session() as session:
        seed_demo_site_and_users(session)
        run_simulation(session, SimulationSettings(n_candidates=20, seed=3))
        uid = session.scalars(select(User.id).where(User.username == "investigator")).one()
        investigator = sv.actor_for(session, uid)
        enrolled = sv.list_participants(session, investigator, limit=500).items
        first, second, third = [p for p in enrolled if p.status.value in ("enrolled", "completed")][
            :3
        ]
        for p in (first, second, third):
            sv.sign_casebook(session, investigator, p.id, password=DEMO_PASSWORD)
        for p in (second, third):
            weight = sv.list_measurements(
                session, investigator, sv.MeasurementFilter(participant_id=p.id)
            ).items[0]
            sv.update_measurement(
                session,
                investigator,
                weight.id,
                sv.MeasurementChanges(
                    expected_version=weight.version,
                    reason="transcription error",
                    value=float(weight.value or 70) + 1,
                    unit=weight.unit,
                ),
            )
        sv.sign_casebook(session, investigator, third.id, password=DEMO_PASSWORD)
        assert session.scalars(select(Participant.study_id)).first()
        yield db, first.study_id, second.study_id, third.study_id
    db.dispose()


def test_odm_carries_the_signatures_and_stays_schema_valid(
    signed: tuple[TestDatabase, str, str, str],
) -> None:
    db, valid, broken, resigned = signed
    protocol = builtin_protocol()
    with db.session() as session:
        data = clinical_data(session, protocol)
    root = odm_document(data.design, data)
    assert schema_errors(root) == []
    ns = {"o": n.NS}
    sdef = root.find(".//o:AdminData/o:SignatureDef", ns)
    assert sdef is not None and sdef.get("Methodology") == "Electronic"
    assert sdef.findtext("o:Meaning", namespaces=ns).startswith("I have reviewed the data")
    user = root.find(".//o:AdminData/o:User[@OID='USR.investigator']", ns)
    assert user is not None and user.findtext("o:FullName", namespaces=ns) == "Investigator"
    by_subject = {s.get("SubjectKey"): s for s in root.iterfind(".//o:SubjectData", ns)}
    for subject, state in ((valid, ""), (broken, "signature broken")):
        sig = by_subject[subject].find("o:Signature", ns)
        assert sig is not None, subject
        assert sig.find("o:UserRef", ns).get("UserOID") == "USR.investigator"
        assert sig.find("o:SignatureRef", ns).get("SignatureOID") == sdef.get("OID")
        comments = [
            c.text or ""
            for c in by_subject[subject].iterfind("o:Annotation/o:Comment", ns)
            if (c.text or "").startswith("Investigator casebook signature:")
        ]  # other annotations (e.g. the end of participation) may come first
        assert len(comments) == 1, subject
        comment = comments[0]
        assert comment.startswith("Investigator casebook signature: Signed by Investigator")
        assert (state in comment) if state else ("broken" not in comment)
        assert comment.endswith(f"[signing 1, Signature ID SIG.{subject}.1]")
    notes = [
        c.text or ""
        for c in by_subject[resigned].iterfind("o:Annotation/o:Comment", ns)
        if (c.text or "").startswith("Investigator casebook signature:")
    ]
    assert len(notes) == 2 and "superseded: the casebook was signed again" in notes[0]
    assert "superseded" not in notes[1] and "broken" not in notes[1]
    every = root.findall("o:ClinicalData/o:Signatures/o:Signature", ns)
    assert sorted(s.get("ID") for s in every) == sorted(
        [f"SIG.{valid}.1", f"SIG.{broken}.1", f"SIG.{resigned}.1", f"SIG.{resigned}.2"]
    )
    in_force = by_subject[resigned].find("o:Signature/o:DateTimeStamp", ns)
    second = root.find(f"o:ClinicalData/o:Signatures/o:Signature[@ID='SIG.{resigned}.2']", ns)
    assert in_force.text == second.findtext("o:DateTimeStamp", namespaces=ns)
    unsigned = [s for k, s in by_subject.items() if k not in (valid, broken, resigned)]
    assert unsigned and all(s.find("o:Signature", ns) is None for s in unsigned)


def test_fhir_provenance_and_sdtm_suppdm(signed: tuple[TestDatabase, str, str, str]) -> None:
    db, valid, broken, resigned = signed
    protocol = builtin_protocol()
    with db.session() as session:
        src = sdtm_sources(session, protocol)
    assert src.data_cut is not None and not src.data_cut.locked
    bundle = study_bundle(protocol, src).model_dump(mode="json")
    provenances = [e["resource"] for e in bundle["entry"]
                   if e["resource"]["resourceType"] == "Provenance"]  # fmt: skip
    assert len(provenances) == 4 and len({p["id"] for p in provenances}) == 4
    for p in provenances:
        sig = p["signature"][0]
        assert sig["type"][0]["code"] == "1.2.840.10065.1.12.1.5"
        assert sig["who"]["display"] == "Investigator" and sig["when"] == p["recorded"]
        assert p["reason"][0]["text"].startswith("I have reviewed")
    assert sorted(p["activity"]["text"] for p in provenances) == [
        "casebook signature (broken)", "casebook signature (superseded)",
        "casebook signature (valid)", "casebook signature (valid)",
    ]  # fmt: skip
    datasets = sdtm_datasets(protocol, src)
    assert check(datasets) == []  # the numbered qualifiers keep the package conformant
    supp = datasets["SUPPDM"]
    status = supp[supp["QNAM"] == "INVSIGST"].set_index("USUBJID")["QVAL"].to_dict()
    assert status == {
        f"{protocol.id}-{valid}": "VALID",
        f"{protocol.id}-{broken}": "BROKEN",
        f"{protocol.id}-{resigned}": "VALID",
    }
    mine = supp[supp["USUBJID"] == f"{protocol.id}-{resigned}"].set_index("QNAM")["QVAL"]
    assert (mine["INVS1ST"], mine["INVS2ST"]) == ("SUPERSEDED", "VALID")
    assert mine["INVS2DT"] == mine["INVSIGDT"] and mine["INVS1DT"] <= mine["INVS2DT"]
    assert set(supp["QNAM"]) == {"INVSIGDT", "INVSIGBY", "INVSIGMN", "INVSIGST"} | {
        f"INVS{n}{part}" for n in (1, 2) for part in ("DT", "BY", "MN", "ST")
    }
    assert not supp.duplicated(["USUBJID", "QNAM"]).any()  # the SUPPQUAL key is unique
    assert set(supp["QEVAL"]) == {"INVESTIGATOR"} and set(supp["RDOMAIN"]) == {"DM"}

"""Exports from and imports into the study database, on SQLite and (when
TRIALDESK_TEST_POSTGRES_URL is set) PostgreSQL: a small simulated cohort written through the
services, exported to SDTM/ODM/REDCap/FHIR, and an ODM round trip into a fresh database."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from tools.harness.database import (
    TestDatabase,
)

from trialdesk.export.errors import ImportRejected
from trialdesk.export.fhir.bundle import study_bundle
from trialdesk.export.from_store import clinical_data, sdtm_sources
from trialdesk.export.odm.read import read_odm
from trialdesk.export.odm.validate import schema_errors
from trialdesk.export.odm.write import odm_document, to_bytes
from trialdesk.export.records import ClinicalData, FormRecord
from trialdesk.export.redcap.records import read_records, write_records
from trialdesk.export.sdtm.build import sdtm_datasets
from trialdesk.export.sdtm.conformance import check
from trialdesk.export.sdtm.subjects import screen_failures
from trialdesk.export.to_store import import_into
from trialdesk.protocol import builtin_protocol
from trialdesk.services.paging import Page
from trialdesk.store.models import AuditEntry, Participant, User

WHEN = datetime(2026, 1, 1, tzinfo=UTC)
pytestmark = pytest.mark.slow  # writes a simulated cohort through the services


def test_sdtm_and_fhir_from_the_database_conform(cohort: TestDatabase) -> None:
    protocol = builtin_protocol()
    with cohort.session() as session:
        sources = sdtm_sources(session, protocol)
    datasets = sdtm_datasets(protocol, sources)
    assert check(datasets) == []
    failures = screen_failures(sources)  # screen failures are DM subjects too (SDTMIG 3.4)
    assert len(datasets["DM"]) == len(sources.frames.subjects) + len(failures)
    assert len(sources.frames.subjects) > 0
    assert set(datasets["EX"]["USUBJID"]) <= set(datasets["DM"]["USUBJID"])
    lb = datasets["LB"]
    assert lb["LBORRES"].notna().all() and lb["LBSTRESU"].notna().any()
    bundle = study_bundle(protocol, sources)
    assert any(e.resource.get_resource_type() == "Procedure" for e in bundle.entry or [])


def test_crf_records_from_the_database_fit_redcap_and_odm(cohort: TestDatabase) -> None:
    with cohort.session() as session:
        data = clinical_data(session, builtin_protocol())
    assert data.notes == ()
    subjects = {r.subject for r in data.records}
    with cohort.session() as session:
        consented = session.scalar(select(func.count()).select_from(Participant))
    assert 0 < len(subjects) <= consented
    text = write_records(data.design, data.records)
    assert sorted(read_records(data.design, text), key=lambda r: r.key) == sorted(
        data.records, key=lambda r: r.key
    )
    assert schema_errors(odm_document(data.design, data, created=WHEN)) == []


def _renamed(
    data: ClinicalData, names: dict[str, str]
) -> dict[tuple[str, str, str, int], dict[str, object]]:
    return {
        (names.get(r.subject, r.subject), r.event, r.form, r.instance): r.values
        for r in data.records
    }


def test_odm_export_import_export_round_trips_through_a_fresh_database(
    cohort: TestDatabase, target: TestDatabase
) -> None:
    protocol = builtin_protocol()
    with cohort.session() as session:
        original = clinical_data(session, protocol)
    imported = read_odm(to_bytes(odm_document(original.design, original, created=WHEN))).data
    assert imported is not None
    with target.session() as session:
        summary = import_into(
            session, imported, username="investigator", source="odm", protocol=protocol
        )
    with target.session() as session:
        again = clinical_data(session, protocol)
        audited = session.scalar(select(func.count()).select_from(AuditEntry))
    back = {new: old for old, new in summary.participants.items()}
    assert _renamed(again, back) == _renamed(original, {})
    assert audited and audited > summary.values  # every write left its audit entries


def test_a_refusal_while_writing_rolls_back_the_whole_import(
    cohort: TestDatabase, target: TestDatabase
) -> None:
    with cohort.session() as session:
        data = clinical_data(session, builtin_protocol())
    last = sorted({r.subject for r in data.records})[-1]
    future = date.today().replace(year=date.today().year + 1)
    records = tuple(
        dataclasses.replace(r, values={**r.values, "vs_date": future})
        if r.subject == last and r.form == "vital_signs"
        else r
        for r in data.records
    )
    with target.session() as session, pytest.raises(ImportRejected) as caught:
        import_into(
            session,
            dataclasses.replace(data, records=records),
            username="investigator",
            source="odm",
        )
    assert last in str(caught.value) and "future" in str(caught.value)
    with target.session() as session:
        assert session.scalar(select(func.count()).select_from(Participant)) == 0


def test_precheck_lists_every_missing_requirement_before_writing(target: TestDatabase) -> None:
    from export_samples import design

    d = design()
    records = (
        FormRecord("X1", "SCR", "demographics", {"sex": "M"}),
        FormRecord("X2", "SCR", "demographics", {"sex": "F"}),
    )
    with target.session() as session, pytest.raises(ImportRejected) as caught:
        import_into(session, ClinicalData(d, records), username="investigator", source="x")
    fields = [(p.row, p.field) for p in caught.value.problems]
    assert ("subject X1", "date_of_birth") in fields and ("subject X2", "consent_date") in fields
    with pytest.raises(ImportRejected, match="no user 'nobody'"), target.session() as session:
        import_into(session, ClinicalData(d, ()), username="nobody", source="x")


def test_odm_from_the_database_carries_the_audit_trail(
    cohort: TestDatabase, target: TestDatabase
) -> None:
    """Transactional ODM: every change of a value with who, where, when and why — here a
    correction made after the import, with its reason."""
    from trialdesk import services as sv

    protocol = builtin_protocol()
    with cohort.session() as session:
        data = clinical_data(session, protocol)
    assert data.audit and data.provenance
    first = next(a for a in data.audit if a.item == "hba1c")
    assert (first.user, first.action, first.location) == ("simulator", "Insert", "APGH")
    with target.session() as session:
        import_into(session, data, username="investigator", source="odm")
        actor = sv.actor_for(
            session, session.scalar(select(User.id).where(User.username == "investigator"))
        )
        row = sv.list_measurements(
            session, actor, sv.MeasurementFilter(element="hba1c"), Page(limit=1)
        ).items[0]
        sv.update_measurement(
            session,
            actor,
            row.id,
            sv.MeasurementChanges(
                expected_version=row.version,
                reason="lab re-run: haemolysed sample",
                value="9.1",
                unit="%",
            ),
        )
        corrected = clinical_data(session, protocol)
    root = odm_document(corrected.design, corrected, created=WHEN)
    assert root.get("FileType") == "Transactional" and schema_errors(root) == []
    ns = {"o": "http://www.cdisc.org/ns/odm/v1.3"}
    updates = root.xpath(
        "//o:ItemData[@ItemOID='IT.hba1c'][@TransactionType='Update']", namespaces=ns
    )
    assert [u.get("Value") for u in updates] == ["9.1"]
    audit = updates[0].find("o:AuditRecord", ns)
    assert audit.findtext("o:ReasonForChange", namespaces=ns) == "lab re-run: haemolysed sample"
    assert audit.find("o:UserRef", ns).get("UserOID") == "USR.investigator"
    back = read_odm(to_bytes(root)).data
    assert back is not None
    assert to_bytes(odm_document(back.design, back, created=WHEN)) == to_bytes(root)


def test_snapshot_odm_keeps_the_last_change_of_each_value(cohort: TestDatabase) -> None:
    with cohort.session() as session:
        data = dataclasses.replace(clinical_data(session, builtin_protocol()), audit=())
    root = odm_document(data.design, data, created=WHEN)
    assert root.get("FileType") == "Snapshot" and schema_errors(root) == []
    ns = {"o": "http://www.cdisc.org/ns/odm/v1.3"}
    records = root.xpath("//o:ItemData[@ItemOID='IT.hba1c']/o:AuditRecord", namespaces=ns)
    assert records and records[0].find("o:UserRef", ns).get("UserOID") == "USR.simulator"
    back = read_odm(to_bytes(root)).data
    assert back is not None and back.provenance == data.provenance
    assert to_bytes(odm_document(back.design, back, created=WHEN)) == to_bytes(root)


def test_redcap_records_import_into_a_fresh_database_without_loss(
    cohort: TestDatabase, target: TestDatabase
) -> None:
    protocol = builtin_protocol()
    with cohort.session() as session:
        original = clinical_data(session, protocol)
    text = write_records(original.design, original.records)
    rows = tuple(read_records(original.design, text))
    with target.session() as session:
        summary = import_into(
            session,
            ClinicalData(original.design, rows, sites=original.sites),
            username="investigator",
            source="records.csv",
        )
        again = clinical_data(session, protocol)
    back = {new: old for old, new in summary.participants.items()}
    assert _renamed(again, back) == _renamed(original, {})

"""Issue 15: ODM with the full history, and a lossless round trip through a fresh database.

A simulated cohort (8 candidates) is exported to ODM, imported into a fresh database (SQLite, and
a fresh PostgreSQL schema when TRIALDESK_TEST_POSTGRES_URL is set), exported again: the two files
are identical but for the attributes that name the file (`write.FILE_ATTRIBUTES`). A correction
made in the imported database is added to the history it imported; a second round trip keeps
both. The same file imported twice is refused, naming the file and its FileOID.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import func, select
from tools.harness.database import (
    TestDatabase,
    backend_url,
    fresh_database,
    seed_demo_site_and_users,
)
from typer.testing import CliRunner

from trialdesk import services as sv
from trialdesk.cli import app
from trialdesk.export.errors import ImportRejected
from trialdesk.export.from_store import clinical_data
from trialdesk.export.odm.read import read_odm
from trialdesk.export.odm.validate import schema_errors
from trialdesk.export.odm.write import FILE_ATTRIBUTES, comparable, odm_document, to_bytes
from trialdesk.export.to_store import import_into
from trialdesk.protocol import builtin_protocol
from trialdesk.services.paging import Page
from trialdesk.store import audit
from trialdesk.store.models import (
    AdverseEvent,
    AuditEntry,
    Consent,
    Measurement,
    Participant,
    User,
)

pytestmark = pytest.mark.slow  # writes a simulated cohort through the services
NS = {"o": "http://www.cdisc.org/ns/odm/v1.3"}


@pytest.fixture
def second(
    cohort: TestDatabase, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestDatabase]:
    """Another fresh database of the cohort's backend (SQLite file or PostgreSQL schema)."""
    db = fresh_database(backend_url(cohort.backend), directory=tmp_path_factory.mktemp("second"))
    with db.session() as session:
        seed_demo_site_and_users(session)
    yield db
    db.dispose()


def _export(db: TestDatabase) -> bytes:
    with db.session() as session:
        data = clinical_data(session, builtin_protocol())
    root = odm_document(data.design, data)
    assert schema_errors(root) == []
    return to_bytes(root)


def _import(db: TestDatabase, content: bytes, name: str, user: str = "coordinator") -> None:
    data = read_odm(content, source=name).data
    assert data is not None
    with db.session() as session:
        import_into(session, data, username=user, source=name, protocol=builtin_protocol())


def _xml(content: bytes) -> etree._Element:
    return etree.fromstring(content)


def _entered(db: TestDatabase) -> set[tuple[str, str, str, str | None, float | None]]:
    with db.session() as session:
        rows = session.execute(
            select(
                Participant.study_id,
                Measurement.element,
                Measurement.value_as_entered,
                Measurement.unit_as_entered,
                Measurement.value,
            ).join(Participant, Participant.id == Measurement.participant_id)
        )
        return {tuple(r) for r in rows}  # type: ignore[misc]


def test_export_import_export_gives_the_same_file(
    cohort: TestDatabase, target: TestDatabase
) -> None:
    """Study ids (gaps included), disposition, as-entered values and units, adverse-event ids
    (SourceID), form statuses and the whole audit history survive the round trip; only FileOID
    and CreationDateTime differ."""
    first = _export(cohort)
    _import(target, first, "first.xml")
    again = _export(target)
    assert comparable(again) == comparable(first)
    assert _xml(again).get("FileOID") != "" and FILE_ATTRIBUTES == ("FileOID", "CreationDateTime")
    root = _xml(first)
    assert root.get("FileType") == "Transactional"
    with cohort.session() as session:
        ids = set(
            session.scalars(
                select(Participant.study_id).join(Consent, Consent.participant_id == Participant.id)
            )
        )
    with target.session() as session:
        kept = set(session.scalars(select(Participant.study_id)))
        ended = {
            p.study_id: (p.status.value, p.end_reason, p.ended_on)
            for p in session.scalars(select(Participant).where(Participant.ended_on.isnot(None)))
        }
    assert kept == ids  # not renumbered: the cohort's ids have a gap (an unconsented candidate)
    with cohort.session() as session:
        assert ended == {
            p.study_id: (p.status.value, p.end_reason, p.ended_on)
            for p in session.scalars(select(Participant).where(Participant.ended_on.isnot(None)))
            if p.study_id in ids
        }
    assert ended and root.xpath("//o:SubjectData/o:Annotation/o:Flag/o:FlagValue", namespaces=NS)
    assert _entered(target) == {row for row in _entered(cohort) if row[0] in ids}
    assert any(unit != "cm" for _, element, _, unit, _ in _entered(target) if element == "height")
    with cohort.session() as session:
        ae_ids = {str(i) for i in session.scalars(select(AdverseEvent.id))}
    sources = root.xpath(
        "//o:ItemData[@ItemOID='IT.ae_term']/o:AuditRecord/o:SourceID/text()", namespaces=NS
    )
    assert sources and {s.split("/")[1].split("@")[0] for s in sources} <= ae_ids
    with target.session() as session:  # the next registration does not take a kept id
        who = sv.actor_for(
            session, session.scalar(select(User.id).where(User.username == "coordinator"))
        )
        new = sv.register_participant(
            session,
            who,
            sv.Registration(
                site_code="APGH",
                registered_on=date(2026, 1, 5),
                full_name="New Candidate",
                date_of_birth=date(1970, 1, 1),
            ),
        )
    highest = max(int(sid.split("-")[1]) for sid in kept)
    assert new.study_id == f"APGH-{highest + 1:03d}" and new.study_id not in kept


def test_foreign_history_is_kept_as_imported_provenance(
    cohort: TestDatabase, target: TestDatabase, second: TestDatabase
) -> None:
    """The importing user is recorded as importer; each version keeps its original user, time
    and reason. A correction made after the import joins that history (Insert by the
    simulator, Update by the investigator with the reason) and survives a second round trip."""
    first = _export(cohort)
    _import(target, first, "first.xml", user="coordinator")
    with target.session() as session:
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
        imported = session.scalars(
            select(AuditEntry).where(AuditEntry.table_name == "imported_history")
        ).all()
        coordinator = session.scalar(select(User.id).where(User.username == "coordinator"))
    assert imported and {e.user_id for e in imported} == {coordinator}  # the importer
    assert all(e.participant_id is not None for e in imported)  # on the participant's trail
    with target.session() as session:
        assert audit.verify_chain(session).ok  # imported provenance is in the hash chain
    assert all("by simulator at" in (e.reason or "") for e in imported)
    corrected = _export(target)
    history = _xml(corrected).xpath(
        "//o:SubjectData[o:StudyEventData/o:FormData/o:ItemGroupData/o:ItemData"
        "[@ItemOID='IT.hba1c'][@Value='9.1']]",
        namespaces=NS,
    )
    assert history
    versions = [
        (
            d.get("TransactionType"),
            d.get("Value"),
            d.find("o:AuditRecord/o:UserRef", NS).get("UserOID"),
            d.findtext("o:AuditRecord/o:ReasonForChange", namespaces=NS),
        )
        for d in _xml(corrected).xpath("//o:ItemData[@ItemOID='IT.hba1c']", namespaces=NS)
        if d.getparent().getparent().getparent().getparent().get("SubjectKey")
        == history[0].get("SubjectKey")
    ]
    assert ("Update", "9.1", "USR.investigator", "lab re-run: haemolysed sample") in versions
    assert versions[0][0] == "Insert" and versions[0][2] == "USR.simulator"
    original = {
        (d.get("Value"), d.findtext("o:AuditRecord/o:DateTimeStamp", namespaces=NS))
        for d in _xml(first).xpath("//o:ItemData[@ItemOID='IT.hba1c']", namespaces=NS)
    }
    kept = {
        (d.get("Value"), d.findtext("o:AuditRecord/o:DateTimeStamp", namespaces=NS))
        for d in _xml(corrected).xpath("//o:ItemData[@ItemOID='IT.hba1c']", namespaces=NS)
    }
    assert original < kept  # the original times, not the time of the import
    _import(second, corrected, "corrected.xml", user="investigator")
    assert comparable(_export(second)) == comparable(corrected)


def test_the_same_file_twice_is_refused_naming_the_file(
    cohort: TestDatabase, target: TestDatabase
) -> None:
    first = _export(cohort)
    _import(target, first, "first.xml")
    with target.session() as session:
        before = session.scalar(select(func.count()).select_from(Participant))
    with pytest.raises(ImportRejected) as caught:
        _import(target, first, "again.xml")
    message = str(caught.value)
    assert message.startswith("again.xml: rejected") and "nothing was imported" in message
    assert _xml(first).get("FileOID") in message and "first.xml" in message
    with target.session() as session:
        assert session.scalar(select(func.count()).select_from(Participant)) == before
    # The same subjects under another FileOID (a re-export) are refused too, by study id.
    with pytest.raises(ImportRejected) as caught:
        _import(target, _export(cohort), "re-export.xml")
    assert "already in the database" in str(caught.value)
    with target.session() as session:
        assert session.scalar(select(func.count()).select_from(Participant)) == before


def test_command_line_import_twice_names_the_file(
    cohort: TestDatabase, target: TestDatabase, tmp_path: Path
) -> None:
    runner = CliRunner()
    path = tmp_path / "study.xml"
    path.write_bytes(_export(cohort))
    args = ["import", "odm", str(path), "--database", target.url, "--user", "coordinator"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, args)
    out = " ".join(result.output.split())
    unwrapped = "".join(result.output.split())  # the console may wrap a long path anywhere
    assert result.exit_code == 1 and str(path) in unwrapped and "already imported" in out, out

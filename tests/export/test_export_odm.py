"""CDISC ODM 1.3.2: metadata and clinical data with audit records, validated against the official
XML schema; import rebuilds the study and its data; export → import → export loses nothing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from export_samples import clinical_data, design
from lxml import etree

from trialdesk.export.errors import ExportError, ImportRejected
from trialdesk.export.odm.names import NS
from trialdesk.export.odm.read import read_odm
from trialdesk.export.odm.validate import schema_errors
from trialdesk.export.odm.write import odm_document, to_bytes
from trialdesk.export.records import AuditEntry

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
X = {"o": NS}


def test_metadata_validates_against_the_odm_1_3_2_schema() -> None:
    root = odm_document(design(), created=WHEN)
    assert schema_errors(root) == []
    assert root.get("ODMVersion") == "1.3.2"
    assert root.get("FileType") == "Snapshot"
    events = root.xpath("//o:StudyEventDef/@Name", namespaces=X)
    assert events[:3] == ["Screening", "Baseline", "Transplantation"]
    tx_forms = root.xpath("//o:StudyEventDef[@OID='SE.TX']/o:FormRef/@FormOID", namespaces=X)
    assert tx_forms == ["F.transplantation", "F.vital_signs", "F.adverse_events"]
    assert root.xpath("//o:FormDef[@OID='F.adverse_events']/@Repeating", namespaces=X) == ["Yes"]


def test_item_defs_carry_units_ranges_codes_and_codelists() -> None:
    root = odm_document(design(), created=WHEN)
    hba1c = root.xpath("//o:ItemDef[@OID='IT.hba1c']", namespaces=X)[0]
    assert hba1c.get("DataType") == "float"
    unit_oid = hba1c.find("o:MeasurementUnitRef", X).get("MeasurementUnitOID")
    unit = root.xpath(f"//o:MeasurementUnit[@OID='{unit_oid}']/@Name", namespaces=X)
    assert unit == ["%"]
    checks = [
        (c.get("Comparator"), c.get("SoftHard"), c.findtext("o:CheckValue", namespaces=X))
        for c in hba1c.findall("o:RangeCheck", X)
    ]
    assert checks == [
        ("GE", "Hard", "3"),
        ("LE", "Hard", "25"),
        ("GE", "Soft", "4"),
        ("LE", "Soft", "16"),
    ]
    assert root.xpath(
        "//o:ItemDef[@OID='IT.hba1c']/o:Alias[@Context='LOINC']/@Name", namespaces=X
    ) == ["4548-4"]
    decodes = root.xpath("//o:CodeList[@OID='CL.sex']/o:CodeListItem/@CodedValue", namespaces=X)
    assert decodes == ["F", "M"]
    ref = root.xpath("//o:ItemRef[@ItemOID='IT.pregnant']", namespaces=X)[0]
    condition = root.xpath(
        f"//o:ConditionDef[@OID='{ref.get('CollectionExceptionConditionOID')}']/o:FormalExpression",
        namespaces=X,
    )[0]
    assert condition.text == "sex != 'F'"


def test_clinical_data_with_audit_trail_is_transactional_and_valid() -> None:
    root = odm_document(design(), clinical_data(), created=WHEN)
    assert schema_errors(root) == []
    assert root.get("FileType") == "Transactional"
    history = root.xpath(
        "//o:SubjectData[@SubjectKey='APGH-001']/o:StudyEventData"
        "[@StudyEventOID='SE.BL']//o:ItemData[@ItemOID='IT.hba1c']",
        namespaces=X,
    )
    assert [(h.get("TransactionType"), h.get("Value")) for h in history] == [
        ("Insert", "3.8"),
        ("Update", "8.3"),
    ]
    correction = history[1].find("o:AuditRecord", X)
    assert correction.findtext("o:ReasonForChange", namespaces=X).startswith("transcription")
    assert correction.find("o:UserRef", X).get("UserOID") == "USR.investigator1"
    assert root.xpath("//o:AdminData/o:User/@OID", namespaces=X) == [
        "USR.coordinator1",
        "USR.investigator1",
    ]
    sae = root.xpath(
        "//o:FormData[@FormOID='F.adverse_events'][@FormRepeatKey='2']"
        "//o:ItemData[@ItemOID='IT.ae_seriousness']/@Value",
        namespaces=X,
    )
    assert sae == ["life_threatening,hospitalisation"]


def test_export_import_export_round_trips_without_loss() -> None:
    data = clinical_data()
    first = to_bytes(odm_document(design(), data, created=WHEN))
    imported = read_odm(first)
    assert imported.warnings == []
    assert imported.design == design()
    assert imported.data is not None
    assert sorted(imported.data.records, key=lambda r: r.key) == sorted(
        data.records, key=lambda r: r.key
    )
    assert sorted(imported.data.audit, key=str) == sorted(data.audit, key=str)
    assert imported.data.sites == data.sites
    second = to_bytes(odm_document(imported.design, imported.data, created=WHEN))
    assert second == first


def test_snapshot_round_trip_without_audit() -> None:
    data = dataclasses.replace(clinical_data(), audit=())
    first = to_bytes(odm_document(design(), data, created=WHEN))
    imported = read_odm(first)
    assert imported.data is not None and imported.data.audit == ()
    assert to_bytes(odm_document(imported.design, imported.data, created=WHEN)) == first


def test_export_refuses_an_audit_trail_that_does_not_explain_the_data() -> None:
    data = clinical_data()
    tampered = tuple(a for a in data.audit if not (a.item == "weight" and a.event == "M1"))
    with pytest.raises(ExportError, match="M1, form vital_signs, weight: the audit trail gives"):
        odm_document(design(), dataclasses.replace(data, audit=tampered))


def _mutate(xpath: str, attribute: str, value: str | None) -> bytes:
    root = odm_document(design(), clinical_data(), created=WHEN)
    for element in root.xpath(xpath, namespaces=X):
        if value is None:
            del element.attrib[attribute]
        else:
            element.set(attribute, value)
    return to_bytes(root)


def test_schema_violations_reject_the_file_with_line_numbers() -> None:
    content = _mutate("/o:ODM", "FileType", "Draft")
    with pytest.raises(ImportRejected) as caught:
        read_odm(content)
    problem = caught.value.problems[0]
    assert str(problem.row).startswith("line ")
    assert "FileType" in problem.reason and "Draft" in problem.reason


def test_bad_values_reject_the_whole_file_naming_each_item() -> None:
    first = (
        "//o:SubjectData[@SubjectKey='APGH-002']//o:FormData[@FormOID='F.labs']"
        "//o:ItemData[@ItemOID='IT.hba1c']"
    )
    content = _mutate(first, "Value", "85")
    root = etree.fromstring(content)
    root.xpath("//o:ItemData[@ItemOID='IT.weight']", namespaces=X)[0].set("Value", "heavy")
    root.xpath("//o:ItemData[@ItemOID='IT.sex']", namespaces=X)[0].set("Value", "U")
    with pytest.raises(ImportRejected) as caught:
        read_odm(etree.tostring(root))
    reasons = [(p.row.rsplit("/", 1)[-1], p.reason) for p in caught.value.problems]
    assert ("ItemData IT.hba1c", "85 % is above the highest possible value 25 %") in reasons
    assert ("ItemData IT.weight", "'heavy' is not a number") in reasons
    assert ("ItemData IT.sex", "'U' is not one of the codes F, M") in reasons
    assert "SubjectData APGH-002/StudyEventData SE.BL/FormData F.labs" in str(caught.value)


def test_data_for_unknown_items_or_events_is_rejected() -> None:
    content = _mutate("//o:StudyEventData[@StudyEventOID='SE.M3']", "StudyEventOID", "SE.M4")
    with pytest.raises(ImportRejected, match="StudyEventData SE.M4, StudyEventOID: unknown"):
        read_odm(content)


def test_not_xml_and_not_odm_are_rejected_cleanly() -> None:
    with pytest.raises(ImportRejected, match="XML"):
        read_odm(b"record_id,hba1c\n1,7\n")
    with pytest.raises(ImportRejected, match="not a CDISC ODM"):
        read_odm(b"<Bundle xmlns='http://hl7.org/fhir'/>")


def test_removal_is_kept_as_history() -> None:
    data = clinical_data()
    removal = AuditEntry(
        "APGH-002",
        "M3",
        "dosing",
        1,
        "ogld_ddd",
        None,
        "coordinator1",
        datetime(2011, 7, 16, tzinfo=UTC),
        "not taken",
        "Remove",
        "APGH",
    )
    records = tuple(
        dataclasses.replace(r, values={k: v for k, v in r.values.items() if k != "ogld_ddd"})
        if r.key == ("APGH-002", "M3", "dosing", 1)
        else r
        for r in data.records
    )
    data = dataclasses.replace(data, records=records, audit=(*data.audit, removal))
    content = to_bytes(odm_document(design(), data, created=WHEN))
    back = read_odm(content).data
    assert back is not None
    dosing = next(r for r in back.records if r.key == ("APGH-002", "M3", "dosing", 1))
    assert "ogld_ddd" not in dosing.values
    assert removal in back.audit


def test_history_keeps_source_ids_values_as_entered_and_the_end_of_participation() -> None:
    """Issue 15: each version's AuditRecord carries its SourceID, a value entered in another
    unit keeps what was typed beside the standard value (Annotation flagged as_entered), and
    SubjectData carries the end of participation — all valid ODM 1.3.2, all read back."""
    from datetime import date

    data = clinical_data()
    audit = tuple(
        dataclasses.replace(
            a,
            source_id=f"measurements/{n}@{n + 100}",
            as_entered="165 mg/dL" if a.item == "fasting_glucose" else "",
        )
        for n, a in enumerate(data.audit)
    )
    assert any(a.as_entered for a in audit)
    data = dataclasses.replace(
        data, audit=audit, dispositions={"APGH-001": ("completed", date(2012, 3, 1))}
    )
    root = odm_document(design(), data, created=WHEN)
    assert schema_errors(root) == []
    entered = root.xpath(
        "//o:ItemData[@ItemOID='IT.fasting_glucose']/o:Annotation"
        "[o:Flag/o:FlagValue='as_entered']/o:Comment/text()",
        namespaces=X,
    )
    assert entered and set(entered) == {"165 mg/dL"}
    sources = root.xpath("//o:AuditRecord/o:SourceID/text()", namespaces=X)
    assert sorted(sources) == sorted(a.source_id for a in audit)
    end = root.xpath("//o:SubjectData[@SubjectKey='APGH-001']/o:Annotation", namespaces=X)[0]
    assert end.findtext("o:Comment", namespaces=X) == "2012-03-01"
    back = read_odm(to_bytes(root)).data
    assert back is not None
    assert sorted(back.audit, key=str) == sorted(audit, key=str)
    assert back.dispositions == data.dispositions
    assert to_bytes(odm_document(back.design, back, created=WHEN)) == to_bytes(root)
    bad = to_bytes(root).replace(b">completed</FlagValue>", b">finished</FlagValue>")
    with pytest.raises(ImportRejected) as caught:
        read_odm(bad, source="sponsor.xml")
    message = str(caught.value)
    assert message.startswith("sponsor.xml: rejected") and "SubjectData APGH-001" in message
    assert "'finished' is not a study-end reason" in message


def test_a_value_removed_then_entered_again_is_remove_then_insert() -> None:
    """The store's history of one column becomes ODM TransactionTypes: first entry Insert, a
    change Update, a value cleared Remove, a value after the removal Insert again."""
    import json

    from trialdesk.export.from_store import _action, _changes
    from trialdesk.store.models import AuditEntry as StoreAudit

    item = design().item("ae_resolved")
    diffs = [
        {"resolution_date": [None, "2011-03-05"]},
        {"resolution_date": ["2011-03-05", "2011-03-06"]},
        {"resolution_date": ["2011-03-06", None]},
        {"grade": [1, 2]},  # another column: not a change of this item
        {"resolution_date": [None, "2011-03-09"]},
    ]
    rows = [
        StoreAudit(sequence=n, table_name="adverse_events", record_id="7", changes=json.dumps(d))
        for n, d in enumerate(diffs, start=1)
    ]
    changes = _changes(rows, ("resolution_date", None), item)
    values = [value for _row, value, _entered in changes]
    assert [str(v) if v else v for v in values] == [
        "2011-03-05",
        "2011-03-06",
        None,
        "2011-03-09",
    ]
    actions = [
        _action(value, n == 0, values[n - 1] if n else None) for n, value in enumerate(values)
    ]
    assert actions == ["Insert", "Update", "Remove", "Insert"]

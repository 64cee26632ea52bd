"""Writing CDISC ODM 1.3.2: study metadata from the CRF design, clinical data with audit records.

Metadata (ODM1-3-2-Final §3.1.1.3): one StudyEventDef per visit, a FormDef per form holding one
ItemGroupDef of the same name, ItemDefs with Question, MeasurementUnitRef, Hard/Soft RangeChecks
from the catalogue limits and CodeListRefs; CodeLists for choices; ConditionDefs for items that
are collected only under a condition; MethodDefs naming derivations. Links to the catalogue
(element, sample minute, derivation) and LOINC codes travel as Alias elements.

Clinical data (§3.1.4): one SubjectData per participant. With an audit trail the file is
Transactional and every recorded change is an ItemData carrying its AuditRecord (who, where,
when, why) — "history cannot be changed, only added to"; without one it is a Snapshot of
current values. A value recorded as missing is an ItemData with ``IsNull="Yes"`` (§3.1.4.1.1.1.1)
annotated with its missing-data code (``Flag/FlagValue`` from the CodeList
`MISSING_CODELIST_OID`, `trialdesk.catalogue.missing`) and the site's reason (``Comment``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from lxml import etree

from trialdesk.catalogue.missing import MISSING_CODES
from trialdesk.export.crf.model import DataType, Event, Form, Item, StudyDesign
from trialdesk.export.errors import ExportError
from trialdesk.export.odm import names as n
from trialdesk.export.odm.disposition import annotate_end, study_end_codelist
from trialdesk.export.odm.form_status import annotate, status_codelists
from trialdesk.export.records import AuditEntry, ClinicalData, FormRecord, check_records
from trialdesk.export.signatures import (
    LEGAL_REASON,
    CasebookSignature,
    DataCut,
    signature_def_oids,
)
from trialdesk.export.values import Value, format_number, format_value
from trialdesk.protocol.versions import ProtocolVersionInfo

SIGNATURE_SEQ_START = 2
"""SeqNum of the first signing's Annotation in SubjectData (1 is the end of participation's)."""

_DATA_TYPE = {
    DataType.TEXT: "text",
    DataType.INTEGER: "integer",
    DataType.FLOAT: "float",
    DataType.DATE: "date",
    DataType.DATETIME: "datetime",
    DataType.BOOLEAN: "boolean",
    DataType.CHOICE: "text",
    DataType.MULTICHOICE: "text",
}
_E = etree.Element
_SE = etree.SubElement
_EPOCH = datetime.min.replace(tzinfo=UTC)
MISSING_CODELIST_OID = "CL.TRIALDESK.MISSING"
AS_ENTERED_CODELIST_OID = "CL.TRIALDESK.ASENTERED"
AS_ENTERED = "as_entered"


def odm_document(
    design: StudyDesign,
    data: ClinicalData | None = None,
    *,
    created: datetime | None = None,
) -> etree._Element:
    """The ODM root element: metadata, and clinical data when `data` is given."""
    moment = created or datetime.now(UTC)
    created = moment.replace(microsecond=0)
    transactional = bool(data and data.audit)
    root = _E(n.q("ODM"), nsmap={None: n.NS})
    root.set("FileType", "Transactional" if transactional else "Snapshot")
    # ODM 1.3.2: FileOID uniquely identifies the file; two exports within one second must
    # differ (an import refuses a FileOID it has seen), hence the microseconds.
    root.set("FileOID", f"{design.study_id}.{moment.strftime('%Y%m%dT%H%M%S.%f')}")
    root.set("CreationDateTime", created.isoformat())
    root.set("ODMVersion", n.ODM_VERSION)
    root.set("Originator", "trialdesk")
    root.set("SourceSystem", "trialdesk")
    if data is not None and data.simulated is not None:
        # ODM 1.3.2 §2.1: ODM/@Description, "a human-readable description of the file".
        root.set("Description", n.SIMULATED_PREFIX + data.simulated)
        root.set("SourceSystem", n.SIMULATED_SOURCE_SYSTEM)  # "the source of the information"
    if data is not None:
        _data_cut(root, data.data_cut)
    root.append(study_element(design, data.protocol_versions if data else ()))
    if data is not None:
        root.append(_admin_data(design, data))
        root.append(_clinical_data(design, data))
    return root


def _data_cut(root: etree._Element, cut: DataCut | None) -> None:
    """A locked study's data cut: ODM/@AsOfDateTime, "the date/time at which the source
    database was queried" (ODM 1.3.2 §2.1), is the lock — the data cannot change after it —
    and ODM/@Description says so in words (after the simulated-data note, when there is one)."""
    if cut is None or not cut.locked or cut.at is None:
        return
    root.set("AsOfDateTime", cut.at.replace(microsecond=0).isoformat())
    note = f"{n.DATA_CUT_PREFIX}{cut.description}"
    before = root.get("Description")
    root.set("Description", f"{before}{n.DATA_CUT_SEPARATOR}{note}" if before else note)


def to_bytes(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


#: The attributes of an ODM file that name the file rather than its content (ODM 1.3.2 §2.1:
#: FileOID "a unique identifier for this file", CreationDateTime "time of creation of the
#: file"): two exports of the same data differ only there (issue 15's round trip).
FILE_ATTRIBUTES = ("FileOID", "CreationDateTime")


def comparable(content: bytes) -> bytes:
    """An ODM file with its `FILE_ATTRIBUTES` emptied, for comparing exports byte for byte."""
    root = etree.fromstring(content, etree.XMLParser(resolve_entities=False, no_network=True))
    for name in FILE_ATTRIBUTES:
        root.set(name, "")
    return to_bytes(root)


# --- metadata -----------------------------------------------------------------------------------


def current_mdv_oid(versions: Sequence[ProtocolVersionInfo]) -> str:
    """The MetaDataVersion OID of the protocol version in force today (``MDV.<label>``)."""
    today = datetime.now(UTC).date()
    in_force = [v for v in versions if v.effective_on <= today] or list(versions[:1])
    return n.mdv_oid(in_force[-1].label) if in_force else n.MDV_OID


def study_element(
    design: StudyDesign, versions: Sequence[ProtocolVersionInfo] = ()
) -> etree._Element:
    """The Study: the full MetaDataVersion of the version in force, then one MetaDataVersion per
    other registered protocol version naming its effective date and changes (ODM 1.3.2 §3.1.4:
    a study may carry several metadata versions; Location/MetaDataVersionRef dates them)."""
    study = _E(n.q("Study"), OID=n.study_oid(design.study_id))
    gv = _SE(study, n.q("GlobalVariables"))
    _SE(gv, n.q("StudyName")).text = design.study_id
    _SE(gv, n.q("StudyDescription")).text = design.title
    _SE(gv, n.q("ProtocolName")).text = design.study_id
    units = sorted({i.unit for f in design.forms for i in f.items if i.unit})
    if units:
        basic = _SE(study, n.q("BasicDefinitions"))
        for unit in units:
            mu = _SE(basic, n.q("MeasurementUnit"), OID=n.unit_oid(unit), Name=unit)
            _text(_SE(mu, n.q("Symbol")), unit)
    current = current_mdv_oid(versions)
    study.append(_metadata_version(design, current, _current_version(versions, current)))
    for version in versions:
        if n.mdv_oid(version.label) != current:
            study.append(_superseded_version(design, version))
    return study


def _current_version(
    versions: Sequence[ProtocolVersionInfo], oid: str
) -> ProtocolVersionInfo | None:
    return next((v for v in versions if n.mdv_oid(v.label) == oid), None)


def _version_description(version: ProtocolVersionInfo) -> str:
    return (
        f"Protocol version {version.label}, in force from {version.effective_on.isoformat()} "
        f"(consent form {version.consent_form_version}; sha256 {version.sha256}): "
        f"{version.summary}"
    )


def _superseded_version(design: StudyDesign, version: ProtocolVersionInfo) -> etree._Element:
    mdv = _E(
        n.q("MetaDataVersion"),
        OID=n.mdv_oid(version.label),
        Name=f"{design.study_id} protocol version {version.label}",
        Description=_version_description(version),
    )
    return mdv


def _text(parent: etree._Element, text: str) -> None:
    translated = _SE(parent, n.q("TranslatedText"))
    translated.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    translated.text = text


def _metadata_version(
    design: StudyDesign, oid: str, version: ProtocolVersionInfo | None
) -> etree._Element:
    mdv = _E(n.q("MetaDataVersion"), OID=oid, Name=f"{design.study_id} CRF")
    if version is not None:
        mdv.set("Name", f"{design.study_id} CRF, protocol version {version.label}")
        mdv.set("Description", _version_description(version))
    _protocol(mdv, design)
    for event in design.events:
        mdv.append(_event_def(event))
    for form in design.forms:
        mdv.append(_form_def(form))
    for form in design.forms:
        mdv.append(_group_def(form))
    _item_defs(mdv, [i for f in design.forms for i in f.items])
    return mdv


def _protocol(mdv: etree._Element, design: StudyDesign) -> None:
    """The Protocol element: each study event in order, unscheduled ones not mandatory."""
    protocol = _SE(mdv, n.q("Protocol"))
    for order, event in enumerate(design.events, start=1):
        _SE(
            protocol,
            n.q("StudyEventRef"),
            StudyEventOID=n.event_oid(event.code),
            OrderNumber=str(order),
            Mandatory="No" if event.repeating else "Yes",
        )


def _item_defs(mdv: etree._Element, items: list[Item]) -> None:
    """ItemDefs, CodeLists, ConditionDefs and MethodDefs, in the order of ODM v1.3.2's
    MetaDataVersion content model."""
    for item in items:
        mdv.append(_item_def(item))
    for item in items:
        if item.choices:
            mdv.append(_codelist(item))
    mdv.append(_missing_codelist())
    mdv.append(as_entered_codelist())
    mdv.append(study_end_codelist())
    mdv.extend(status_codelists())
    for item in items:
        if item.show_if:
            mdv.append(_condition_def(item))
    for derivation in sorted({i.derivation for i in items if i.derivation}):
        method = _SE(
            mdv, n.q("MethodDef"), OID=n.method_oid(derivation), Name=derivation, Type="Computation"
        )
        _text(_SE(method, n.q("Description")), f"Derived by trialdesk ({derivation})")


def _event_def(event: Event) -> etree._Element:
    se = _E(
        n.q("StudyEventDef"),
        OID=n.event_oid(event.code),
        Name=event.name,
        Repeating="Yes" if event.repeating else "No",
        Type="Unscheduled" if event.repeating else "Scheduled",
    )
    for order, form in enumerate(event.forms, start=1):
        _SE(se, n.q("FormRef"), FormOID=n.form_oid(form), OrderNumber=str(order), Mandatory="No")
    for key, value in (
        ("code", event.code),
        ("day", event.day),
        ("window_before", event.window_before),
        ("window_after", event.window_after),
    ):
        _SE(se, n.q("Alias"), Context=f"{n.TRIALDESK}:{key}", Name=str(value))
    return se


def _form_def(form: Form) -> etree._Element:
    fd = _E(
        n.q("FormDef"),
        OID=n.form_oid(form.name),
        Name=form.label,
        Repeating="Yes" if form.repeating else "No",
    )
    _SE(fd, n.q("ItemGroupRef"), ItemGroupOID=n.group_oid(form.name), Mandatory="Yes")
    _SE(fd, n.q("Alias"), Context=f"{n.TRIALDESK}:name", Name=form.name)
    return fd


def _group_def(form: Form) -> etree._Element:
    group = _E(n.q("ItemGroupDef"), OID=n.group_oid(form.name), Name=form.name, Repeating="No")
    for order, item in enumerate(form.items, start=1):
        ref = _SE(
            group,
            n.q("ItemRef"),
            ItemOID=n.item_oid(item.name),
            OrderNumber=str(order),
            Mandatory="Yes" if item.required else "No",
        )
        if item.derivation:
            ref.set("MethodOID", n.method_oid(item.derivation))
        if item.show_if:
            ref.set("CollectionExceptionConditionOID", n.condition_oid(item.name))
    return group


def _item_def(item: Item) -> etree._Element:
    idef = _E(
        n.q("ItemDef"),
        OID=n.item_oid(item.name),
        Name=item.name,
        DataType=_DATA_TYPE[item.data_type],
    )
    if item.data_type is DataType.TEXT:
        idef.set("Length", "200")
    if item.note:
        _text(_SE(idef, n.q("Description")), item.note)
    _text(_SE(idef, n.q("Question")), item.label)
    if item.unit:
        _SE(idef, n.q("MeasurementUnitRef"), MeasurementUnitOID=n.unit_oid(item.unit))
    for comparator, value, strength in _range_checks(item):
        check = _SE(idef, n.q("RangeCheck"), Comparator=comparator, SoftHard=strength)
        _SE(check, n.q("CheckValue")).text = format_number(value)
    if item.choices:
        _SE(idef, n.q("CodeListRef"), CodeListOID=n.codelist_oid(item.name))
    for context, name in _aliases(item):
        _SE(idef, n.q("Alias"), Context=context, Name=name)
    return idef


def _range_checks(item: Item) -> Iterable[tuple[str, float, str]]:
    """A RangeCheck states what a valid value satisfies (value GE low, value LE high)."""
    for comparator, value, strength in (
        ("GE", item.hard_low, "Hard"),
        ("LE", item.hard_high, "Hard"),
        ("GE", item.soft_low, "Soft"),
        ("LE", item.soft_high, "Soft"),
    ):
        if value is not None:
            yield comparator, value, strength


def _aliases(item: Item) -> Iterable[tuple[str, str]]:
    if item.loinc:
        yield "LOINC", item.loinc
    t = n.TRIALDESK
    if item.element:
        yield f"{t}:element", item.element
    if item.sample_minute is not None:
        yield f"{t}:minute", format_number(item.sample_minute)
    if item.derivation:
        yield f"{t}:derivation", item.derivation
    if item.data_type is DataType.MULTICHOICE:
        yield f"{t}:multichoice", "comma-separated codes"
    if item.identifier:
        yield f"{t}:identifier", "Yes"


def _codelist(item: Item) -> etree._Element:
    codelist = _E(n.q("CodeList"), OID=n.codelist_oid(item.name), Name=item.name, DataType="text")
    for choice in item.choices:
        entry = _SE(codelist, n.q("CodeListItem"), CodedValue=choice.code)
        _text(_SE(entry, n.q("Decode")), choice.label)
    return codelist


def _missing_codelist() -> etree._Element:
    """The missing-data codes (REDCap / HL7 NullFlavor) that flag IsNull ItemData."""
    codelist = _E(
        n.q("CodeList"), OID=MISSING_CODELIST_OID, Name="Missing data codes", DataType="text"
    )
    for code in MISSING_CODES:
        entry = _SE(codelist, n.q("CodeListItem"), CodedValue=code.code)
        _text(_SE(entry, n.q("Decode")), code.label)
    return codelist


def _condition_def(item: Item) -> etree._Element:
    assert item.show_if is not None
    condition = _E(
        n.q("ConditionDef"), OID=n.condition_oid(item.name), Name=f"{item.name} not collected"
    )
    _text(
        _SE(condition, n.q("Description")),
        f"{item.name} is collected only when {item.show_if.item} = {item.show_if.value}",
    )
    expression = _SE(condition, n.q("FormalExpression"), Context=n.TRIALDESK)
    expression.text = f"{item.show_if.item} != '{item.show_if.value}'"
    return condition


# --- administrative and clinical data -----------------------------------------------------------


def _admin_data(design: StudyDesign, data: ClinicalData) -> etree._Element:
    admin = _E(n.q("AdminData"), StudyOID=n.study_oid(design.study_id))
    entries = [*data.audit, *data.provenance.values()]
    signers = {s.login: s.signer_name for s in data.signatures}
    for user in sorted({a.user for a in entries} | set(signers)):
        u = _SE(admin, n.q("User"), OID=n.user_oid(user))
        _SE(u, n.q("LoginName")).text = user
        if user in signers:  # the printed name of a signer (21 CFR 11.50(a)(1))
            _SE(u, n.q("FullName")).text = signers[user]
    codes = set(data.sites.values()) | {a.location for a in entries if a.location}
    codes |= {s.site for s in data.signatures if s.site}
    for code in sorted(codes):
        location = _SE(
            admin,
            n.q("Location"),
            OID=n.location_oid(code),
            Name=data.site_names.get(code, code),
            LocationType="Site",
        )
        for oid, effective in _version_refs(data):
            _SE(
                location,
                n.q("MetaDataVersionRef"),
                StudyOID=n.study_oid(design.study_id),
                MetaDataVersionOID=oid,
                EffectiveDate=effective,
            )
    for meaning, oid in signature_def_oids(data.signatures).items():
        sdef = _SE(admin, n.q("SignatureDef"), OID=oid, Methodology="Electronic")
        _SE(sdef, n.q("Meaning")).text = meaning
        _SE(sdef, n.q("LegalReason")).text = LEGAL_REASON
    return admin


def _signature_element(data: ClinicalData, sig: CasebookSignature) -> etree._Element:
    """An ODM Signature of one signing (UserRef, LocationRef, SignatureRef, DateTimeStamp)."""
    element = _E(n.q("Signature"))
    _SE(element, n.q("UserRef"), UserOID=n.user_oid(sig.login))
    _SE(element, n.q("LocationRef"), LocationOID=n.location_oid(sig.site))
    _SE(element, n.q("SignatureRef"), SignatureOID=signature_def_oids(data.signatures)[sig.meaning])
    _SE(element, n.q("DateTimeStamp")).text = sig.signed_at.astimezone(UTC).isoformat()
    return element


def _signature(
    data: ClinicalData, subject: str
) -> tuple[etree._Element, list[etree._Element]] | None:
    """The subject's casebook Signature in force and one Annotation per signing stating its
    state and naming its Signature in ClinicalData/Signatures (`trialdesk.export.signatures`)."""
    made = [s for s in data.signatures if s.subject == subject]
    if not made:
        return None
    latest = next(s for s in reversed(made) if s.latest)
    notes = []
    for seq, sig in enumerate(made, start=SIGNATURE_SEQ_START):
        note = _E(n.q("Annotation"), SeqNum=str(seq))
        _SE(note, n.q("Comment")).text = (
            f"Investigator casebook signature: {sig.summary} [signing {sig.number}, "
            f"Signature ID {sig.odm_id}]"
        )
        notes.append(note)
    return _signature_element(data, latest), notes


def _signatures_container(data: ClinicalData, subjects: list[str]) -> etree._Element | None:
    """ClinicalData/Signatures: every signing of the exported casebooks, each with its ID."""
    made = [s for s in data.signatures if s.subject in subjects]
    if not made:
        return None
    container = _E(n.q("Signatures"))
    for sig in made:
        element = _signature_element(data, sig)
        element.set("ID", sig.odm_id)
        container.append(element)
    return container


def _version_refs(data: ClinicalData) -> list[tuple[str, str]]:
    """(MetaDataVersion OID, effective date) of each protocol version, or the one version."""
    if not data.protocol_versions:
        return [(n.MDV_OID, _effective_date(data))]
    return [(n.mdv_oid(v.label), v.effective_on.isoformat()) for v in data.protocol_versions]


def _effective_date(data: ClinicalData) -> str:
    dates = [a.when for a in (*data.audit, *data.provenance.values())]
    return (min(dates).date() if dates else datetime.now(UTC).date()).isoformat()


_Key = tuple[str, str, str, int]


def _clinical_data(design: StudyDesign, data: ClinicalData) -> etree._Element:
    problems = check_records(design, data.records)
    if problems:
        raise ExportError("clinical data do not fit the design: " + "; ".join(problems[:10]))
    clinical = _E(
        n.q("ClinicalData"),
        StudyOID=n.study_oid(design.study_id),
        MetaDataVersionOID=current_mdv_oid(data.protocol_versions),
    )
    if data.audit:
        _check_audit_explains_records(data)
        entries = _audit_by_form(data.audit)
    else:
        entries = _snapshot_entries(data.records, data.provenance)
    for record in data.records:
        if record.missing:
            entries.setdefault(record.key, [])
    _add_status_only_forms(design, data, entries)
    subjects = list(dict.fromkeys([r.subject for r in data.records] + [k[0] for k in entries]))
    for subject in subjects:
        clinical.append(_subject(design, data, subject, entries))
    signatures = _signatures_container(data, subjects)
    if signatures is not None:
        clinical.append(signatures)
    return clinical


def _add_status_only_forms(
    design: StudyDesign,
    data: ClinicalData,
    entries: dict[_Key, list[tuple[str, Value | None, AuditEntry | None]]],
) -> None:
    """A form the site gave a status but no value yet still gets its FormData (an empty
    ItemGroupData), so its status travels: "Incomplete" on an empty form is information."""
    subjects = {r.subject for r in data.records}
    events = {e.code: e for e in design.events if not e.repeating}
    for subject, event, form in data.form_statuses:
        if subject in subjects and event in events and form in events[event].forms:
            entries.setdefault((subject, event, form, 1), [])
    repeating = {e.code: e for e in design.events if e.repeating}
    for subject, event, form, instance in data.instance_statuses:
        if subject in subjects and event in repeating and form in repeating[event].forms:
            entries.setdefault((subject, event, form, instance), [])


def _snapshot_entries(
    records: tuple[FormRecord, ...],
    provenance: dict[tuple[str, str, str, int, str], AuditEntry],
) -> dict[_Key, list[tuple[str, Value | None, AuditEntry | None]]]:
    """Current values, each with the audit entry of its last change when known."""
    entries: dict[_Key, list[tuple[str, Value | None, AuditEntry | None]]] = {}
    for record in records:
        entries[record.key] = [
            (name, value, provenance.get((*record.key, name)))
            for name, value in record.values.items()
        ]
    return entries


def _audit_by_form(
    audit: tuple[AuditEntry, ...],
) -> dict[_Key, list[tuple[str, Value | None, AuditEntry | None]]]:
    entries: dict[_Key, list[tuple[str, Value | None, AuditEntry | None]]] = defaultdict(list)
    for entry in sorted(audit, key=lambda a: a.when):
        key = (entry.subject, entry.event, entry.form, entry.instance)
        entries[key].append((entry.item, entry.value, entry))
    return entries


def replay(audit: Iterable[AuditEntry]) -> dict[_Key, dict[str, Value]]:
    """Current values after applying the audit trail in time order."""
    current: dict[_Key, dict[str, Value]] = defaultdict(dict)
    for entry in sorted(audit, key=lambda a: a.when):
        values = current[(entry.subject, entry.event, entry.form, entry.instance)]
        if entry.action == "Remove" or entry.value is None:
            values.pop(entry.item, None)
        else:
            values[entry.item] = entry.value
    return {k: v for k, v in current.items() if v}


def _check_audit_explains_records(data: ClinicalData) -> None:
    replayed = replay(data.audit)
    for record in data.records:
        after = replayed.get(record.key, {})
        for name, value in record.values.items():
            if after.get(name) != value:
                raise ExportError(
                    f"subject {record.subject}, event {record.event}, form {record.form}, "
                    f"{name}: the audit trail gives {after.get(name)!r}, the record {value!r}"
                )


def _subject(
    design: StudyDesign,
    data: ClinicalData,
    subject: str,
    entries: dict[_Key, list[tuple[str, Value | None, AuditEntry | None]]],
) -> etree._Element:
    transactional = bool(data.audit)
    missing = {r.key: r.missing for r in data.records if r.subject == subject and r.missing}
    element = _E(n.q("SubjectData"), SubjectKey=subject)
    if transactional:
        element.set("TransactionType", "Upsert")
    _subject_header(element, data, subject)
    for event in design.events:
        keys = [k for k in entries if k[0] == subject and k[1] == event.code]
        # A repeating (unscheduled) event: one StudyEventData per instance, its repeat key.
        instances = sorted({k[3] for k in keys}) if event.repeating else [None]
        for instance in instances if keys else []:
            se = _SE(element, n.q("StudyEventData"), StudyEventOID=n.event_oid(event.code))
            if instance is not None:
                se.set("StudyEventRepeatKey", str(instance))
            if transactional:
                se.set("TransactionType", "Context")
            for form_name in event.forms:
                form = design.form(form_name)
                mine = [k for k in keys if k[2] == form_name and instance in (None, k[3])]
                for key in sorted(mine):
                    fd = _form_data(form, 1 if instance else key[3], entries[key], transactional)
                    _add_missing(fd, form, missing.get(key, {}), transactional)
                    status = (
                        data.instance_statuses.get(key)
                        if event.repeating
                        else data.form_statuses.get((subject, event.code, form_name))
                    )
                    if status is not None:
                        annotate(fd, status)
                    se.append(fd)
    return element


def _subject_header(element: etree._Element, data: ClinicalData, subject: str) -> None:
    """The subject's casebook signature parts, SiteRef and end-of-participation annotation,
    in SubjectData's element order (ODM v1.3.2)."""
    signed = _signature(data, subject)
    if signed is not None:
        element.append(signed[0])
    if subject in data.sites:
        _SE(element, n.q("SiteRef"), LocationOID=n.location_oid(data.sites[subject]))
    if subject in data.dispositions:
        annotate_end(element, *data.dispositions[subject])
    if signed is not None:
        element.extend(signed[1])


def _add_missing(
    fd: etree._Element, form: Form, missing: dict[str, tuple[str, str]], transactional: bool
) -> None:
    """ItemData IsNull="Yes" for each item recorded as missing, with its code and reason."""
    group = fd.find(n.q("ItemGroupData"))
    assert group is not None
    for item in form.items:
        if item.name not in missing:
            continue
        code, reason = missing[item.name]
        element = _SE(group, n.q("ItemData"), ItemOID=n.item_oid(item.name), IsNull="Yes")
        if transactional:
            element.set("TransactionType", "Upsert")
        annotation = _SE(element, n.q("Annotation"), SeqNum="1")
        if reason:
            _SE(annotation, n.q("Comment"), SponsorOrSite="Site").text = reason
        flag = _SE(annotation, n.q("Flag"))
        _SE(flag, n.q("FlagValue"), CodeListOID=MISSING_CODELIST_OID).text = code


def _form_data(
    form: Form,
    instance: int,
    entries: list[tuple[str, Value | None, AuditEntry | None]],
    transactional: bool,
) -> etree._Element:
    fd = _E(n.q("FormData"), FormOID=n.form_oid(form.name))
    if form.repeating:
        fd.set("FormRepeatKey", str(instance))
    group = _SE(fd, n.q("ItemGroupData"), ItemGroupOID=n.group_oid(form.name))
    if transactional:
        fd.set("TransactionType", "Context")
        group.set("TransactionType", "Context")
    items = {i.name: i for i in form.items}
    order = {i.name: pos for pos, i in enumerate(form.items)}
    # History in time order; changes made at the same instant (one record's fields) in the
    # form's item order, so that the same history always gives the same file (issue 15).
    ordered = sorted(
        entries,
        key=lambda e: (e[2].when, order[e[0]]) if transactional and e[2] else (_EPOCH, order[e[0]]),
    )
    for name, value, audit in ordered:
        group.append(_item_data(items[name], value, audit, transactional))
    return fd


def _item_data(
    item: Item, value: Value | None, audit: AuditEntry | None, transactional: bool
) -> etree._Element:
    element = _E(n.q("ItemData"), ItemOID=n.item_oid(item.name))
    if audit is not None and transactional:
        element.set("TransactionType", "Remove" if value is None else audit.action)
    if value is not None:
        element.set("Value", format_value(item, value))
    if audit is not None:
        element.append(_audit_record(audit))
        if audit.as_entered:
            element.append(as_entered_annotation(audit.as_entered))
    return element


def as_entered_annotation(text: str) -> etree._Element:
    """The value as entered at the site, beside the standard value of the ItemData (ODM 1.3.2
    [@ODM] Annotation; ``ODMcomplexTypeDefinition-ItemData`` orders AuditRecord?, Signature?,
    MeasurementUnitRef?, Annotation*): its
    Comment holds "<value> <unit>" as typed, its Flag says what the comment is, from the code
    list `AS_ENTERED_CODELIST_OID` — the same Annotation/Flag mechanism as the form status and
    the missing-data codes (ODM 1.3.2 itself has no as-entered value; ItemData/@Value is the
    standard one in the ItemDef's unit)."""
    annotation = _E(n.q("Annotation"), SeqNum="1")
    _SE(annotation, n.q("Comment"), SponsorOrSite="Site").text = text
    flag = _SE(annotation, n.q("Flag"))
    _SE(flag, n.q("FlagValue"), CodeListOID=AS_ENTERED_CODELIST_OID).text = AS_ENTERED
    return annotation


def as_entered_codelist() -> etree._Element:
    """The code list of the as-entered annotation's flag (one code)."""
    codelist = _E(
        n.q("CodeList"), OID=AS_ENTERED_CODELIST_OID, Name="Value as entered", DataType="text"
    )
    entry = _SE(codelist, n.q("CodeListItem"), CodedValue=AS_ENTERED)
    _text(_SE(entry, n.q("Decode")), "Value and unit as entered at the site")
    return codelist


def _audit_record(entry: AuditEntry) -> etree._Element:
    record = _E(n.q("AuditRecord"))
    _SE(record, n.q("UserRef"), UserOID=n.user_oid(entry.user))
    _SE(record, n.q("LocationRef"), LocationOID=n.location_oid(entry.location or "TRIALDESK"))
    when = entry.when if entry.when.tzinfo else entry.when.replace(tzinfo=UTC)
    _SE(record, n.q("DateTimeStamp")).text = when.isoformat()
    if entry.reason:
        _SE(record, n.q("ReasonForChange")).text = entry.reason
    if entry.source_id:
        _SE(record, n.q("SourceID")).text = entry.source_id
    return record

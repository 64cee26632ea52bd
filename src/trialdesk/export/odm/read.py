"""Reading a CDISC ODM 1.3.2 file: study metadata into a CRF design, ClinicalData into form
records and audit entries. All or nothing: the file is checked against the ODM XML schema and
every value against its item; any problem rejects the whole file with the list of problems.

Foreign ODM (OpenClinica, REDCap's ODM export) is accepted as far as trialdesk's design can
represent it; what is dropped (range checks other than bounds, conditions in other expression
languages) is reported as a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from lxml import etree

from trialdesk.catalogue import Catalogue, default_catalogue
from trialdesk.catalogue.missing import BY_CODE
from trialdesk.export.crf.link import incompatibility
from trialdesk.export.crf.model import (
    Choice,
    Condition,
    DataType,
    Event,
    Form,
    Item,
    StudyDesign,
)
from trialdesk.export.errors import ImportRejected, Rejection
from trialdesk.export.odm import names as n
from trialdesk.export.odm.disposition import end_of
from trialdesk.export.odm.form_status import status_of
from trialdesk.export.odm.validate import schema_errors
from trialdesk.export.odm.write import AS_ENTERED_CODELIST_OID, MISSING_CODELIST_OID, replay
from trialdesk.export.records import AuditEntry, ClinicalData, FormRecord
from trialdesk.export.values import Value, check_limits, parse_value

_TYPES = {
    "text": DataType.TEXT,
    "string": DataType.TEXT,
    "integer": DataType.INTEGER,
    "float": DataType.FLOAT,
    "double": DataType.FLOAT,
    "date": DataType.DATE,
    "datetime": DataType.DATETIME,
    "boolean": DataType.BOOLEAN,
}
_CONDITION = re.compile(r"^\s*([a-z][a-z0-9_]*)\s*!=\s*'([^']*)'\s*$")
_NAME_BAD = re.compile(r"[^a-z0-9_]+")


@dataclass
class OdmImport:
    design: StudyDesign
    data: ClinicalData | None
    warnings: list[Rejection] = field(default_factory=list)


@dataclass
class _Context:
    catalogue: Catalogue
    problems: list[Rejection] = field(default_factory=list)
    warnings: list[Rejection] = field(default_factory=list)
    # Items recorded as missing (IsNull ItemData flagged with a missing-data code).
    missing: dict[tuple[str, str, str, int], dict[str, tuple[str, str]]] = field(
        default_factory=dict
    )
    # Form statuses flagged on FormData (`trialdesk.export.odm.form_status`).
    statuses: dict[tuple[str, str, str], str] = field(default_factory=dict)
    # End of participation flagged on SubjectData (`trialdesk.export.odm.disposition`).
    dispositions: dict[str, tuple[str, date]] = field(default_factory=dict)
    # ... and on the FormData of an instance of a repeating (unscheduled) event.
    instance_statuses: dict[tuple[str, str, str, int], str] = field(default_factory=dict)


def read_odm(
    content: bytes, *, source: str = "ODM file", catalogue: Catalogue | None = None
) -> OdmImport:
    """Parse and check an ODM document; raise ImportRejected listing every problem."""
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        raise ImportRejected(source, [Rejection(f"line {exc.lineno}", "XML", exc.msg)]) from None
    if root.getroottree().docinfo.doctype:
        # ODM needs no DTD; entities are never expanded (XXE, billion laughs).
        raise ImportRejected(
            source,
            [
                Rejection(
                    "line 1", "DOCTYPE", "document type declarations are not accepted in ODM files"
                )
            ],
        )
    if root.tag != n.q("ODM"):
        raise ImportRejected(
            source,
            [
                Rejection(
                    "line 1", root.tag, f"not a CDISC ODM 1.3 document (expected {n.q('ODM')})"
                )
            ],
        )
    errors = schema_errors(root)
    if errors:
        raise ImportRejected(source, errors)
    ctx = _Context(catalogue or default_catalogue())
    study = root.find(n.q("Study"))
    if study is None:
        raise ImportRejected(source, [Rejection("ODM", "Study", "the file has no study metadata")])
    design = _design(ctx, study)
    data = None
    clinical = root.find(n.q("ClinicalData"))
    if design is not None and clinical is not None:
        data = _clinical(ctx, design, root, clinical)
    if ctx.problems or design is None:
        raise ImportRejected(source, ctx.problems)
    return OdmImport(design, data, ctx.warnings)


# --- metadata -----------------------------------------------------------------------------------


def _tx(element: etree._Element | None) -> str:
    """The English (or first) TranslatedText inside `element`."""
    if element is None:
        return ""
    texts = element.findall(n.q("TranslatedText"))
    for text in texts:
        if text.get("{http://www.w3.org/XML/1998/namespace}lang", "en").startswith("en"):
            return (text.text or "").strip()
    return (texts[0].text or "").strip() if texts else ""


def _aliases(element: etree._Element) -> dict[str, str]:
    return {a.get("Context", ""): a.get("Name", "") for a in element.findall(n.q("Alias"))}


def _design(ctx: _Context, study: etree._Element) -> StudyDesign | None:
    gv = study.find(n.q("GlobalVariables"))
    study_id = (gv.findtext(n.q("StudyName")) or "").strip() if gv is not None else ""
    title = (gv.findtext(n.q("StudyDescription")) or "").strip() if gv is not None else ""
    units = {
        mu.get("OID"): mu.get("Name", "")
        for mu in study.iterfind(f"{n.q('BasicDefinitions')}/{n.q('MeasurementUnit')}")
    }
    mdv = study.find(n.q("MetaDataVersion"))
    if mdv is None:
        ctx.problems.append(Rejection("Study", "MetaDataVersion", "the study has no metadata"))
        return None
    defs = _index(mdv)
    items = {oid: _item(ctx, el, defs, units) for oid, el in defs["ItemDef"].items()}
    forms = _forms(ctx, defs, items)
    events = _events(ctx, mdv, defs, forms)
    if ctx.problems:
        return None
    try:
        return StudyDesign(
            study_id=study_id or study.get("OID", "ODM"),
            title=title or study_id,
            forms=tuple(f for f, _ in forms.values()),
            events=tuple(events),
        )
    except ValueError as exc:
        ctx.problems.append(Rejection("MetaDataVersion", "design", str(exc)))
        return None


def _index(mdv: etree._Element) -> dict[str, dict[str, etree._Element]]:
    kinds = (
        "StudyEventDef",
        "FormDef",
        "ItemGroupDef",
        "ItemDef",
        "CodeList",
        "ConditionDef",
        "MethodDef",
    )
    return {k: {el.get("OID"): el for el in mdv.findall(n.q(k))} for k in kinds}


def _local_name(text: str, prefix: str) -> str:
    name = _NAME_BAD.sub("_", n.strip(text, prefix).lower()).strip("_")
    return name if name and name[0].isalpha() else f"x_{name}"


def _item(
    ctx: _Context,
    idef: etree._Element,
    defs: dict[str, dict[str, etree._Element]],
    units: dict[str, str],
) -> Item | None:
    oid = idef.get("OID", "")
    where = f"ItemDef {oid}"
    aliases = _aliases(idef)
    t = n.TRIALDESK
    data_type = _TYPES.get(idef.get("DataType", ""))
    if data_type is None:
        ctx.warnings.append(
            Rejection(where, "DataType", f"{idef.get('DataType')!r} is read as text")
        )
        data_type = DataType.TEXT
    choices: tuple[Choice, ...] = ()
    ref = idef.find(n.q("CodeListRef"))
    if ref is not None:
        choices = _choices(ctx, defs["CodeList"].get(ref.get("CodeListOID")), where)
        data_type = DataType.MULTICHOICE if f"{t}:multichoice" in aliases else DataType.CHOICE
    unit_ref = idef.find(n.q("MeasurementUnitRef"))
    fields: dict[str, Any] = {
        "name": _local_name(idef.get("Name") or oid, "IT"),
        "label": _tx(idef.find(n.q("Question"))) or idef.get("Name") or oid,
        "data_type": data_type,
        "unit": units.get(unit_ref.get("MeasurementUnitOID")) if unit_ref is not None else None,
        "choices": choices,
        "loinc": aliases.get("LOINC"),
        "derivation": aliases.get(f"{t}:derivation"),
        "identifier": aliases.get(f"{t}:identifier") == "Yes",
        "note": _tx(idef.find(n.q("Description"))),
    }
    fields.update(_limits(ctx, idef, where))
    _link(ctx, fields, aliases, where)
    try:
        return Item(**fields)
    except ValueError as exc:
        ctx.problems.append(Rejection(where, "ItemDef", str(exc).splitlines()[-1]))
        return None


def _choices(ctx: _Context, codelist: etree._Element | None, where: str) -> tuple[Choice, ...]:
    if codelist is None:
        ctx.problems.append(Rejection(where, "CodeListRef", "refers to a missing CodeList"))
        return ()
    choices = []
    for entry in codelist:
        if entry.tag not in (n.q("CodeListItem"), n.q("EnumeratedItem")):
            continue
        code = entry.get("CodedValue", "")
        try:
            choices.append(Choice(code=code, label=_tx(entry.find(n.q("Decode"))) or code))
        except ValueError:
            ctx.problems.append(
                Rejection(
                    f"CodeList {codelist.get('OID')}",
                    "CodedValue",
                    f"{code!r} is not a code trialdesk can keep (letters, "
                    "digits, underscores, dot, leading minus)",
                )
            )
    return tuple(choices)


def _limits(ctx: _Context, idef: etree._Element, where: str) -> dict[str, float]:
    limits: dict[str, float] = {}
    for check in idef.findall(n.q("RangeCheck")):
        comparator, strength = check.get("Comparator"), check.get("SoftHard")
        values = [v.text or "" for v in check.findall(n.q("CheckValue"))]
        side = {"GE": "low", "GT": "low", "LE": "high", "LT": "high"}.get(comparator or "")
        if side is None or len(values) != 1:
            ctx.warnings.append(
                Rejection(
                    where, "RangeCheck", f"{comparator} range checks are not kept (only bounds are)"
                )
            )
            continue
        try:
            limits[f"{'hard' if strength == 'Hard' else 'soft'}_{side}"] = float(values[0])
        except ValueError:
            ctx.problems.append(Rejection(where, "CheckValue", f"{values[0]!r} is not a number"))
    return limits


def _link(ctx: _Context, fields: dict[str, Any], aliases: dict[str, str], where: str) -> None:
    t = n.TRIALDESK
    name = aliases.get(f"{t}:element") or fields["name"]
    if name not in ctx.catalogue:
        if f"{t}:element" in aliases:
            ctx.problems.append(Rejection(where, "Alias", f"unknown catalogue element {name!r}"))
        return
    element = ctx.catalogue[name]
    why = incompatibility(element, fields["data_type"], fields["unit"], fields["choices"])
    if why:
        target = ctx.problems if f"{t}:element" in aliases else ctx.warnings
        target.append(Rejection(where, "ItemDef", f"not linked to element {name!r}: {why}"))
        return
    fields["element"] = name
    fields["loinc"] = fields["loinc"] or element.codes.loinc
    fields["decimals"] = element.reported_decimals  # the catalogue's reporting precision
    if f"{t}:minute" in aliases:
        fields["sample_minute"] = float(aliases[f"{t}:minute"])


def _forms(
    ctx: _Context, defs: dict[str, dict[str, etree._Element]], items: dict[str, Item | None]
) -> dict[str, tuple[Form, str]]:
    forms: dict[str, tuple[Form, str]] = {}
    for oid, fdef in defs["FormDef"].items():
        where = f"FormDef {oid}"
        name = _aliases(fdef).get(f"{n.TRIALDESK}:name") or _local_name(oid, "F")
        members: list[Item] = []
        for gref in fdef.findall(n.q("ItemGroupRef")):
            group = defs["ItemGroupDef"].get(gref.get("ItemGroupOID"))
            if group is None:
                ctx.problems.append(
                    Rejection(
                        where,
                        "ItemGroupRef",
                        f"refers to a missing ItemGroupDef {gref.get('ItemGroupOID')}",
                    )
                )
                continue
            if group.get("Repeating") == "Yes":
                ctx.problems.append(
                    Rejection(
                        f"ItemGroupDef {group.get('OID')}",
                        "Repeating",
                        "repeating item groups are not supported; make the form repeating instead",
                    )
                )
            members += _group_items(ctx, group, defs, items)
        if not members:
            ctx.warnings.append(Rejection(where, "FormDef", "has no items; left out"))
            continue
        forms[oid] = (
            Form(
                name=name,
                label=fdef.get("Name") or name,
                repeating=fdef.get("Repeating") == "Yes",
                items=tuple(members),
            ),
            oid,
        )
    return forms


def _group_items(
    ctx: _Context,
    group: etree._Element,
    defs: dict[str, dict[str, etree._Element]],
    items: dict[str, Item | None],
) -> list[Item]:
    members = []
    for ref in group.findall(n.q("ItemRef")):
        item = items.get(ref.get("ItemOID"))
        if ref.get("ItemOID") not in defs["ItemDef"]:
            ctx.problems.append(
                Rejection(
                    f"ItemGroupDef {group.get('OID')}",
                    "ItemRef",
                    f"refers to a missing ItemDef {ref.get('ItemOID')}",
                )
            )
        if item is None:
            continue
        update: dict[str, Any] = {"required": ref.get("Mandatory") == "Yes"}
        method = defs["MethodDef"].get(ref.get("MethodOID"))
        if method is not None and not item.derivation:
            update["derivation"] = method.get("Name")
        condition = defs["ConditionDef"].get(ref.get("CollectionExceptionConditionOID"))
        if condition is not None:
            update["show_if"] = _condition(ctx, condition)
        members.append(item.model_copy(update=update))
    return members


def _condition(ctx: _Context, condition: etree._Element) -> Condition | None:
    expression = condition.find(n.q("FormalExpression"))
    match = None
    if expression is not None and expression.get("Context") == n.TRIALDESK:
        match = _CONDITION.match(expression.text or "")
    if match is None:
        ctx.warnings.append(
            Rejection(
                f"ConditionDef {condition.get('OID')}",
                "FormalExpression",
                "condition not understood; the item is always collected",
            )
        )
        return None
    return Condition(item=match.group(1), value=match.group(2))


def _events(
    ctx: _Context,
    mdv: etree._Element,
    defs: dict[str, dict[str, etree._Element]],
    forms: dict[str, tuple[Form, str]],
) -> list[Event]:
    refs = mdv.findall(f"{n.q('Protocol')}/{n.q('StudyEventRef')}")
    ordered = sorted(refs, key=lambda r: int(r.get("OrderNumber") or 0))
    oids = [r.get("StudyEventOID") for r in ordered] or list(defs["StudyEventDef"])
    events = []
    for oid in oids:
        sdef = defs["StudyEventDef"].get(oid)
        if sdef is None:
            ctx.problems.append(
                Rejection("Protocol", "StudyEventRef", f"refers to a missing StudyEventDef {oid}")
            )
            continue
        aliases = _aliases(sdef)
        t = n.TRIALDESK
        code = (
            aliases.get(f"{t}:code")
            or re.sub(r"[^A-Z0-9_]+", "_", n.strip(oid or "", "SE").upper())[:20]
        )
        refs_ = sorted(sdef.findall(n.q("FormRef")), key=lambda r: int(r.get("OrderNumber") or 0))
        names = [forms[r.get("FormOID")][0].name for r in refs_ if r.get("FormOID") in forms]
        try:
            events.append(
                Event(
                    code=code,
                    name=sdef.get("Name") or code,
                    day=int(aliases.get(f"{t}:day", 0)),
                    window_before=int(aliases.get(f"{t}:window_before", 0)),
                    window_after=int(aliases.get(f"{t}:window_after", 0)),
                    forms=tuple(names),
                    repeating=sdef.get("Repeating") == "Yes",
                )
            )
        except ValueError as exc:
            ctx.problems.append(
                Rejection(f"StudyEventDef {oid}", "StudyEventDef", str(exc).splitlines()[-1])
            )
    return events


# --- clinical data ------------------------------------------------------------------------------


@dataclass
class _Maps:
    events: dict[str, Event]
    forms: dict[str, Form]
    items: dict[str, Item]
    users: dict[str, str]


@dataclass(frozen=True)
class _Sink:
    """Where one subject's item values go: the audit trail read from AuditRecords, the plain
    current values (ItemData without AuditRecord, or every value of a Snapshot: ODM v1.3.2
    FileType), and the subject's site (SiteRef) for audit records without a LocationRef."""

    audit: list[AuditEntry]
    plain: dict[tuple[str, str, str, int], dict[str, Value]]
    site: str
    snapshot: bool


@dataclass(frozen=True)
class _ItemAt:
    """One ItemData: its record (subject, event, form, instance), its item and its XML path."""

    key: tuple[str, str, str, int]
    item: Item
    where: str


def _clinical(
    ctx: _Context, design: StudyDesign, root: etree._Element, clinical: etree._Element
) -> ClinicalData:
    maps = _maps(design, root)
    audit: list[AuditEntry] = []
    plain: dict[tuple[str, str, str, int], dict[str, Value]] = {}
    snapshot = root.get("FileType") == "Snapshot"
    sites: dict[str, str] = {}
    for subject in clinical.findall(n.q("SubjectData")):
        key = subject.get("SubjectKey", "")
        site = subject.find(n.q("SiteRef"))
        if site is not None:
            sites[key] = n.strip(site.get("LocationOID", ""), "LOC")
        _subject(ctx, maps, subject, _Sink(audit, plain, sites.get(key, ""), snapshot))
    provenance = {}
    if snapshot:
        # A Snapshot's AuditRecords tell who last changed each current value.
        provenance = {(a.subject, a.event, a.form, a.instance, a.item): a for a in audit}
        audit = []
    values = replay(audit) if audit else plain
    if audit and plain:
        ctx.warnings.append(
            Rejection(
                "ClinicalData",
                "AuditRecord",
                "some ItemData carry no audit record; only audited values were kept",
            )
        )
    keys = list(dict.fromkeys([*values, *ctx.missing]))
    records = tuple(
        FormRecord(k[0], k[1], k[2], values.get(k, {}), k[3], ctx.missing.get(k, {})) for k in keys
    )
    names = {
        n.strip(loc.get("OID", ""), "LOC"): loc.get("Name", "")
        for loc in root.iterfind(f"{n.q('AdminData')}/{n.q('Location')}")
    }
    return ClinicalData(
        design,
        records,
        tuple(audit),
        sites,
        names,
        (),
        provenance,
        simulated=_simulated(root),
        form_statuses=dict(ctx.statuses),
        instance_statuses=dict(ctx.instance_statuses),
        dispositions=dict(ctx.dispositions),
        file_oid=root.get("FileOID", ""),
        source_system=root.get("SourceSystem", ""),
    )


def _simulated(root: etree._Element) -> str | None:
    """How the file's data were simulated, when its source system says it is the simulator."""
    if root.get("SourceSystem") != n.SIMULATED_SOURCE_SYSTEM:
        return None
    description = (root.get("Description") or "").split(n.DATA_CUT_SEPARATOR)[0]
    return description.removeprefix(n.SIMULATED_PREFIX).strip() or "simulated data"


def _maps(design: StudyDesign, root: etree._Element) -> _Maps:
    users = {}
    for user in root.iterfind(f"{n.q('AdminData')}/{n.q('User')}"):
        users[user.get("OID", "")] = user.findtext(n.q("LoginName")) or n.strip(
            user.get("OID", ""), "USR"
        )
    return _Maps(
        events={n.event_oid(e.code): e for e in design.events},
        forms={n.form_oid(f.name): f for f in design.forms},
        items={n.item_oid(i.name): i for f in design.forms for i in f.items},
        users=users,
    )


def _subject(ctx: _Context, maps: _Maps, subject: etree._Element, sink: _Sink) -> None:
    key = subject.get("SubjectKey", "")
    try:
        if (end := end_of(subject)) is not None:
            ctx.dispositions[key] = end
    except ValueError as exc:
        ctx.problems.append(Rejection(f"SubjectData {key}/Annotation", "FlagValue", str(exc)))
    for se in subject.findall(n.q("StudyEventData")):
        _study_event(ctx, maps, key, se, sink)


def _study_event(ctx: _Context, maps: _Maps, key: str, se: etree._Element, sink: _Sink) -> None:
    """One StudyEventData of subject `key`: each of its forms' statuses and item values."""
    event = maps.events.get(se.get("StudyEventOID", ""))
    where = f"SubjectData {key}/StudyEventData {se.get('StudyEventOID')}"
    if event is None:
        ctx.problems.append(Rejection(where, "StudyEventOID", "unknown study event"))
        return
    for fd in se.findall(n.q("FormData")):
        form = maps.forms.get(fd.get("FormOID", ""))
        fwhere = f"{where}/FormData {fd.get('FormOID')}"
        if form is None or form.name not in event.forms:
            ctx.problems.append(
                Rejection(fwhere, "FormOID", "form unknown or not collected at this event")
            )
            continue
        instance = _instance(ctx, fd, form, fwhere)
        if event.repeating:  # one instance of the event holds one of each form
            instance = _event_instance(ctx, se, where)
        record_key = (key, event.code, form.name, instance)
        _form_status(ctx, fd, record_key, repeating=event.repeating)
        for item_data in fd.iterfind(f"{n.q('ItemGroupData')}/*"):
            if not etree.QName(item_data).localname.startswith("ItemData"):
                continue
            _item_data(ctx, maps, form, item_data, record_key, sink=sink, where=fwhere)


def _form_status(
    ctx: _Context, fd: etree._Element, key: tuple[str, str, str, int], *, repeating: bool
) -> None:
    """The FormData's status, per instance when its event repeats."""
    if (status := status_of(fd)) is None:
        return
    if repeating:
        ctx.instance_statuses[key] = status
    else:
        ctx.statuses[key[:3]] = status


def _event_instance(ctx: _Context, se: etree._Element, where: str) -> int:
    text = se.get("StudyEventRepeatKey") or "1"
    if not text.isdigit() or int(text) < 1:
        ctx.problems.append(Rejection(where, "StudyEventRepeatKey", f"{text!r} is not 1, 2, …"))
        return 1
    return int(text)


def _instance(ctx: _Context, fd: etree._Element, form: Form, where: str) -> int:
    text = fd.get("FormRepeatKey")
    if text is None:
        return 1
    if not text.isdigit() or int(text) < 1:
        ctx.problems.append(Rejection(where, "FormRepeatKey", f"{text!r} is not 1, 2, …"))
        return 1
    if not form.repeating and text != "1":
        ctx.problems.append(Rejection(where, "FormRepeatKey", "the form does not repeat"))
    return int(text)


def _item_data(
    ctx: _Context,
    maps: _Maps,
    form: Form,
    element: etree._Element,
    key: tuple[str, str, str, int],
    *,
    sink: _Sink,
    where: str,
) -> None:
    oid = element.get("ItemOID", "")
    item = maps.items.get(oid)
    iwhere = f"{where}/ItemData {oid}"
    if item is None or item not in form.items:
        ctx.problems.append(Rejection(iwhere, "ItemOID", "not an item of this form"))
        return
    text = element.get("Value", element.text)
    removed = element.get("TransactionType") == "Remove" or element.get("IsNull") == "Yes"
    if element.get("IsNull") == "Yes" and (coded := _missing_code(element)) is not None:
        ctx.missing.setdefault(key, {})[item.name] = coded
    value: Value | None = None
    if not removed and text is not None:
        try:
            value = parse_value(item, text)
        except ValueError as exc:
            ctx.problems.append(Rejection(iwhere, "Value", str(exc)))
            return
        if (why := check_limits(item, value)) is not None:
            ctx.problems.append(Rejection(iwhere, "Value", why))
            return
    record = element.find(n.q("AuditRecord"))
    if record is None or sink.snapshot:
        values = sink.plain.setdefault(key, {})
        if value is None:
            values.pop(item.name, None)
        else:
            values[item.name] = value
        if record is None:
            return
    at = _ItemAt(key, item, iwhere)
    sink.audit.append(_audit_entry(ctx, maps, record, element, at, value=value, site=sink.site))


def _missing_code(element: etree._Element) -> tuple[str, str] | None:
    """(code, reason) of an IsNull ItemData flagged with a missing-data code (`write`)."""
    for annotation in element.iterfind(n.q("Annotation")):
        for flag in annotation.iterfind(f"{n.q('Flag')}/{n.q('FlagValue')}"):
            if flag.get("CodeListOID") == MISSING_CODELIST_OID and flag.text in BY_CODE:
                return flag.text, annotation.findtext(n.q("Comment")) or ""
    return None


def _audit_entry(
    ctx: _Context,
    maps: _Maps,
    record: etree._Element,
    element: etree._Element,
    at: _ItemAt,
    *,
    value: Value | None,
    site: str,
) -> AuditEntry:
    user_oid = record.find(n.q("UserRef")).get("UserOID", "")  # type: ignore[union-attr,unused-ignore]
    location = record.find(n.q("LocationRef")).get("LocationOID", "")  # type: ignore[union-attr,unused-ignore]
    stamp = record.findtext(n.q("DateTimeStamp")) or ""
    reason = record.findtext(n.q("ReasonForChange")) or ""
    source_id = record.findtext(n.q("SourceID")) or ""
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        ctx.problems.append(Rejection(at.where, "DateTimeStamp", f"{stamp!r} is not ISO 8601"))
        when = datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return AuditEntry(
        subject=at.key[0],
        event=at.key[1],
        form=at.key[2],
        instance=at.key[3],
        item=at.item.name,
        value=value,
        user=maps.users.get(user_oid, n.strip(user_oid, "USR")),
        when=when,
        reason=reason,
        # In a Snapshot there is no TransactionType: a change after first entry always has
        # a reason (21 CFR 11.10(e)), so a reason marks an update.
        action=element.get("TransactionType") or ("Update" if reason else "Insert"),
        location=n.strip(location, "LOC") or site,
        as_entered=_as_entered(element),
        source_id=source_id,
    )


def _as_entered(element: etree._Element) -> str:
    """The value and unit as entered at the site (`write.as_entered_annotation`), or ""."""
    for annotation in element.iterfind(n.q("Annotation")):
        for flag in annotation.iterfind(f"{n.q('Flag')}/{n.q('FlagValue')}"):
            if flag.get("CodeListOID") == AS_ENTERED_CODELIST_OID:
                return annotation.findtext(n.q("Comment")) or ""
    return ""

"""define.xml 2.1 describing the SDTM datasets written (CDISC Define-XML v2.1, 2019), for a
submission (`def:Context="Submission"`).

Declares the standards (SDTMIG and the CDISC CT release), one ItemGroupDef per dataset (class,
structure, keys, the XPT file as def:leaf; def:HasNoData when it is empty), one ItemDef per
variable (SDTMIG label, data type, length from the data, origin; def:HasNoData on the ItemRef
of a variable without a value), a MethodDef for every derived variable, the codelists the data
use, value-level metadata per LB and VS test, and comments (`define_meta`). Validated against
the Define-XML 2.1 schema shipped in `trialdesk/export/schemas/define2-1/`. TSPARMCD's codelist is
tied to the extensible CDISC codelist C66738 (an Alias, like every CDISC CT codelist and its
verified terms: `ct_codes`); the sponsor-defined values
(`trial_design.SPONSOR_DEFINED_TS`) are marked ``def:ExtendedValue="Yes"`` with their definition,
as Define-XML 2.1 asks for extended values of an extensible codelist.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import pandas as pd
from lxml import etree

from trialdesk.export.sdtm import define_meta as meta
from trialdesk.export.sdtm.ct_codes import terminology
from trialdesk.export.sdtm.spec import DOMAINS, Var
from trialdesk.export.sdtm.trial_design import (
    CDISC_CT_VERSION,
    SDTMIG_VERSION,
    SPONSOR_DEFINED_TS,
)
from trialdesk.export.sdtm.write import _json_type, conform, max_length

ODM = "http://www.cdisc.org/ns/odm/v1.3"
DEF = "http://www.cdisc.org/ns/def/v2.1"
XLINK = "http://www.w3.org/1999/xlink"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
SDTMIG_OID, CT_OID = "STD.SDTMIG", "STD.CT"
_ORIGIN_SOURCE = {
    "Collected": "Investigator",
    "Assigned": "Sponsor",
    "Derived": None,
    "Protocol": None,
}
COMMENTS = meta.COMMENTS  # kept importable under its former name
Frames = dict[str, pd.DataFrame]


def _o(tag: str) -> str:
    return f"{{{ODM}}}{tag}"


def _d(tag: str) -> str:
    return f"{{{DEF}}}{tag}"


def _description(parent: etree._Element, text: str) -> None:
    desc = etree.SubElement(parent, _o("Description"))
    translated = etree.SubElement(desc, _o("TranslatedText"))
    translated.set(XML_LANG, "en")
    translated.text = text


def define_xml(
    datasets: Frames,
    *,
    study_id: str,
    title: str,
    created: datetime | None = None,
    file_format: str = "xpt",
    dictionaries: Mapping[str, str] | None = None,
) -> etree._Element:
    """The define.xml root element for `datasets` (domain code → frame); `dictionaries` are the
    external dictionaries' versions (``{"MEDDRA": "27.0"}``) the coded variables refer to."""
    created = created or datetime.now(UTC).replace(microsecond=0)
    root = etree.Element(_o("ODM"), nsmap={None: ODM, "def": DEF, "xlink": XLINK})
    for key, value in (
        ("FileType", "Snapshot"),
        ("FileOID", f"DEFINE.{study_id}"),
        ("CreationDateTime", created.isoformat()),
        ("ODMVersion", "1.3.2"),
        ("Originator", "trialdesk"),
        ("SourceSystem", "trialdesk"),
    ):
        root.set(key, value)
    root.set(_d("Context"), "Submission")
    study = etree.SubElement(root, _o("Study"), OID=f"ST.{study_id}")
    gv = etree.SubElement(study, _o("GlobalVariables"))
    etree.SubElement(gv, _o("StudyName")).text = study_id
    etree.SubElement(gv, _o("StudyDescription")).text = title
    etree.SubElement(gv, _o("ProtocolName")).text = study_id
    mdv = etree.SubElement(
        study,
        _o("MetaDataVersion"),
        OID=f"MDV.{study_id}.SDTMIG.{SDTMIG_VERSION}",
        Name=f"{study_id} SDTM datasets",
    )
    mdv.set(_d("DefineVersion"), "2.1.0")
    conformed = {code: conform(code, frame) for code, frame in datasets.items()}
    _metadata(mdv, conformed, file_format, dict(dictionaries or {}))
    return root


def _metadata(
    mdv: etree._Element, frames: Frames, file_format: str, dictionaries: dict[str, str]
) -> None:
    """The MetaDataVersion's children in the order the Define-XML 2.1 schema requires."""
    mdv.append(_standards())
    for code, frame in frames.items():
        mdv.extend(_value_lists(code, frame))
    mdv.extend(_where_clauses(frames))
    mdv.extend(_group(code, frame, file_format) for code, frame in frames.items())
    for code, frame in frames.items():
        mdv.extend(_item(code, var, frame, dictionaries) for var in DOMAINS[code].variables)
        mdv.extend(_value_item(value, frame) for value in meta.test_values(code, frame))
    mdv.extend(_codelists(frames))
    mdv.extend(_external_codelists(frames, dictionaries))
    mdv.extend(_methods(frames))
    mdv.extend(_comments(frames))


def _where_clauses(frames: Frames) -> list[etree._Element]:
    """One clause per test, shared by the result variables of its value-level metadata."""
    clauses = {v.where_oid: v for c, f in frames.items() for v in meta.test_values(c, f)}
    return [_where_clause(value) for value in clauses.values()]


def _codelists(frames: Frames) -> list[etree._Element]:
    out = []
    for code, frame in frames.items():
        for var in DOMAINS[code].variables:
            values = meta.codelist_values(code, var, frame)
            if values:
                out.append(_codelist(code, var, values))
    return out


def _external_codelists(frames: Frames, dictionaries: dict[str, str]) -> list[etree._Element]:
    """One CodeList per external dictionary and data type the coded variables use
    (Define-XML v2.1, ODM ``ExternalCodeList`` with ``Dictionary`` and ``Version``)."""
    used: dict[str, tuple[str, str, str]] = {}
    for code, frame in frames.items():
        for var in DOMAINS[code].variables:
            found = meta.external_codelist(code, var, frame, dictionaries)
            if found is not None:
                used[found[0]] = found
    out = []
    for oid, (_oid, dictionary, data_type) in used.items():
        codelist = etree.Element(
            _o("CodeList"), OID=oid, Name=f"{dictionary} {dictionaries[dictionary]}"
        )
        codelist.set("DataType", data_type)
        etree.SubElement(
            codelist, _o("ExternalCodeList"), Dictionary=dictionary,
            Version=dictionaries[dictionary],
        )  # fmt: skip
        out.append(codelist)
    return out


def _methods(frames: Frames) -> list[etree._Element]:
    out = []
    for code in frames:
        for var in DOMAINS[code].variables:
            method = meta.method_for(code, var)
            if method:
                out.append(_method(code, var, method))
    return out


def _comments(frames: Frames) -> list[etree._Element]:
    out = []
    for code in frames:
        for var in DOMAINS[code].variables:
            if var.name in meta.COMMENTS:
                comment = etree.Element(_d("CommentDef"), OID=f"COM.{code}.{var.name}")
                _description(comment, meta.COMMENTS[var.name])
                out.append(comment)
    return out


def _standards() -> etree._Element:
    standards = etree.Element(_d("Standards"))
    etree.SubElement(
        standards,
        _d("Standard"),
        OID=SDTMIG_OID,
        Name="SDTMIG",
        Type="IG",
        Version=SDTMIG_VERSION,
        Status="Final",
    )
    etree.SubElement(
        standards,
        _d("Standard"),
        OID=CT_OID,
        Name="CDISC/NCI",
        Type="CT",
        PublishingSet="SDTM",
        Version=CDISC_CT_VERSION,
        Status="Final",
    )
    return standards


def _group(code: str, frame: pd.DataFrame, file_format: str) -> etree._Element:
    spec = DOMAINS[code]
    group = etree.Element(
        _o("ItemGroupDef"),
        OID=f"IG.{code}",
        Domain=code.removeprefix("SUPP"),
        Name=code,
        Repeating="No" if code == "DM" else "Yes",
        IsReferenceData="Yes" if spec.klass == "TRIAL DESIGN" else "No",
        SASDatasetName=code,
        Purpose="Tabulation",
    )
    group.set(_d("Structure"), spec.structure)
    group.set(_d("StandardOID"), SDTMIG_OID)
    group.set(_d("ArchiveLocationID"), f"LF.{code}")
    if frame.empty:
        group.set(_d("HasNoData"), "Yes")
    _description(group, spec.label)
    for order, var in enumerate(spec.variables, start=1):
        ref = etree.SubElement(
            group,
            _o("ItemRef"),
            ItemOID=f"IT.{code}.{var.name}",
            OrderNumber=str(order),
            Mandatory="Yes" if var.core == "Req" else "No",
        )
        if var.name in spec.keys:
            ref.set("KeySequence", str(spec.keys.index(var.name) + 1))
        if meta.method_for(code, var):
            ref.set("MethodOID", meta.method_oid(code, var))
        if _empty(frame[var.name]):
            ref.set(_d("HasNoData"), "Yes")
    etree.SubElement(group, _d("Class"), Name=spec.klass)
    leaf = etree.SubElement(group, _d("leaf"), ID=f"LF.{code}")
    name = f"{code.lower()}.{file_format}"
    leaf.set(f"{{{XLINK}}}href", name)
    etree.SubElement(leaf, _d("title")).text = name
    return group


def _empty(column: pd.Series) -> bool:
    return bool(column.isna().all() or (column.astype(str).str.strip() == "").all())


def _item(code: str, var: Var, frame: pd.DataFrame, dictionaries: dict[str, str]) -> etree._Element:
    data_type = _data_type(code, var, frame[var.name])
    item = etree.Element(
        _o("ItemDef"),
        OID=f"IT.{code}.{var.name}",
        Name=var.name,
        DataType=data_type,
        SASFieldName=var.name,
    )
    _set_length(item, data_type, _length(var, frame), None)
    if var.name in meta.COMMENTS:
        item.set(_d("CommentOID"), f"COM.{code}.{var.name}")
    _description(item, var.label)
    if meta.codelist_values(code, var, frame):
        etree.SubElement(item, _o("CodeListRef"), CodeListOID=meta.codelist_oid(code, var))
    external = meta.external_codelist(code, var, frame, dictionaries)
    if external is not None:
        etree.SubElement(item, _o("CodeListRef"), CodeListOID=external[0])
    _origin(item, var.origin)
    if any(v.variable == var.name for v in meta.test_values(code, frame)):
        etree.SubElement(item, _d("ValueListRef"), ValueListOID=f"VL.{code}.{var.name}")
    return item


def _data_type(code: str, var: Var, column: pd.Series) -> str:
    if var.name.endswith("DTC"):
        return "datetime"
    if var.type != "Num":
        return "text"
    numbers = column.dropna()
    whole = all(float(v).is_integer() for v in numbers)
    return "integer" if _json_type(DOMAINS[code], var.name) == "integer" and whole else "float"


def _set_length(item: etree._Element, data_type: str, length: int, digits: int | None) -> None:
    if data_type in ("text", "integer"):
        item.set("Length", str(length))
    elif data_type == "float":
        item.set("Length", "8")
        item.set("SignificantDigits", str(3 if digits is None else digits))


def _origin(item: etree._Element, kind: str) -> None:
    origin = etree.SubElement(item, _d("Origin"), Type=kind)
    source = _ORIGIN_SOURCE.get(kind)
    if source:
        origin.set("Source", source)


def _length(var: Var, frame: pd.DataFrame) -> int:
    column = frame[var.name]
    if var.type == "Num":
        numbers = column.dropna()
        return max(1, max((len(str(int(v))) for v in numbers), default=1))
    return max_length(column)


def _value_lists(code: str, frame: pd.DataFrame) -> list[etree._Element]:
    values = meta.test_values(code, frame)
    out = []
    for variable in meta.VALUE_LEVEL.get(code, ()):
        chosen = [v for v in values if v.variable == variable]
        if not chosen:
            continue
        vl = etree.Element(_d("ValueListDef"), OID=f"VL.{code}.{variable}")
        for order, value in enumerate(chosen, start=1):
            ref = etree.SubElement(
                vl, _o("ItemRef"), ItemOID=value.oid, OrderNumber=str(order), Mandatory="No"
            )
            if variable.endswith("STRESN"):
                ref.set("MethodOID", f"MT.{code}.{variable}")
            etree.SubElement(ref, _d("WhereClauseRef"), WhereClauseOID=value.where_oid)
        out.append(vl)
    return out


def _where_clause(value: meta.TestValue) -> etree._Element:
    clause = etree.Element(_d("WhereClauseDef"), OID=value.where_oid)
    check = etree.SubElement(clause, _o("RangeCheck"), Comparator="EQ", SoftHard="Soft")
    check.set(_d("ItemOID"), f"IT.{value.domain}.{value.domain}TESTCD")
    etree.SubElement(check, _o("CheckValue")).text = value.testcd
    return clause


def _value_item(value: meta.TestValue, frame: pd.DataFrame) -> etree._Element:
    rows = frame[frame[f"{value.domain}TESTCD"] == value.testcd]
    numeric = value.variable.endswith("STRESN")
    data_type = "float" if numeric else "text"
    item = etree.Element(
        _o("ItemDef"),
        OID=value.oid,
        Name=value.variable,
        DataType=data_type,
        SASFieldName=value.variable,
    )
    length = 8 if numeric else max_length(rows[value.variable])
    _set_length(item, data_type, length, value.decimals)
    unit = f" ({value.unit})" if numeric and value.unit else ""
    _description(item, f"{value.test}{unit}")
    _origin(item, "Derived" if numeric else "Collected")
    return item


TSPARMCD_CT_CODE = "C66738"  # CDISC CT "Trial Summary Parameter Test Code", extensible


def _nci_alias(parent: etree._Element, code: str) -> None:
    etree.SubElement(parent, _o("Alias"), Context="nci:ExtCodeID", Name=code)


def _codelist(code: str, var: Var, values: list[str]) -> etree._Element:
    """A CodeList of the values the data use. A CDISC CT codelist declares the CT standard
    (def:StandardOID) and carries its NCI code and its terms' codes (`ct_codes`); a list from
    outside CDISC CT (ISO 3166-1, CTCAE grades) carries neither."""
    ct = terminology().codelist(code, var.name, var.codelist)
    name = ct.name if ct else var.codelist
    codelist = etree.Element(
        _o("CodeList"), OID=meta.codelist_oid(code, var), Name=f"{name} ({code}.{var.name})"
    )
    codelist.set("DataType", "text")
    if ct is not None:
        codelist.set(_d("StandardOID"), CT_OID)
    tsparmcd = (code, var.name) == ("TS", "TSPARMCD")
    for order, value in enumerate(values, start=1):
        entry = etree.SubElement(
            codelist, _o("EnumeratedItem"), CodedValue=value, OrderNumber=str(order)
        )
        definition = SPONSOR_DEFINED_TS.get(value) if tsparmcd else None
        if definition is not None:
            entry.set(_d("ExtendedValue"), "Yes")
            _description(entry, definition)
        if ct is not None and value in ct.terms:
            _nci_alias(entry, ct.terms[value])
    if ct is not None and ct.code:
        _nci_alias(codelist, ct.code)
    return codelist


def _method(code: str, var: Var, text: str) -> etree._Element:
    method = etree.Element(
        _o("MethodDef"),
        OID=meta.method_oid(code, var),
        Name=f"Algorithm for {code}.{var.name}",
        Type="Computation",
    )
    _description(method, text)
    return method

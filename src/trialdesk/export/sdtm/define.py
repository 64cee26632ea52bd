"""define.xml 2.1 describing the SDTM datasets written (CDISC Define-XML v2.1, 2019).

One ItemGroupDef per dataset (class, structure, keys, the XPT file as def:leaf), one ItemDef per
variable (SDTMIG label, data type, length from the data, origin). Validated against the
Define-XML 2.1 schema shipped in `trialdesk/export/schemas/define2-1/`. Controlled-terminology
codelists are not enumerated: the CDISC CT package (NCI codes) is not available offline. The one
exception is TSPARMCD (extensible codelist C66738): its values are listed, and the sponsor-defined
ones (`trial_design.SPONSOR_DEFINED_TS`) are marked ``def:ExtendedValue="Yes"`` with their
definition, as Define-XML 2.1 asks for extended values of an extensible codelist.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from lxml import etree

from trialdesk.export.sdtm.spec import DOMAINS, Var
from trialdesk.export.sdtm.trial_design import SDTMIG_VERSION, SPONSOR_DEFINED_TS
from trialdesk.export.sdtm.write import _json_type, conform, max_length

ODM = "http://www.cdisc.org/ns/odm/v1.3"
DEF = "http://www.cdisc.org/ns/def/v2.1"
XLINK = "http://www.w3.org/1999/xlink"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_ORIGIN_SOURCE = {
    "Collected": "Investigator",
    "Assigned": "Sponsor",
    "Derived": None,
    "Protocol": None,
}

# Comments a reviewer needs, by variable (def:CommentDef).
COMMENTS = {
    "AEDECOD": "Not yet coded to MedDRA: holds the verbatim term in upper case until coding.",
    "RFSTDTC": "Date of the mesenchymal stem cell transplantation (first study treatment).",
    "LBORRES": "Result as entered at the site; LBSTRESN is the value in the catalogue's "
    "canonical unit (LBSTRESU).",
}


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
    datasets: dict[str, pd.DataFrame],
    *,
    study_id: str,
    title: str,
    created: datetime | None = None,
    file_format: str = "xpt",
) -> etree._Element:
    """The define.xml root element for `datasets` (domain code → frame)."""
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
    root.set(_d("Context"), "Other")
    study = etree.SubElement(root, _o("Study"), OID=f"ST.{study_id}")
    gv = etree.SubElement(study, _o("GlobalVariables"))
    etree.SubElement(gv, _o("StudyName")).text = study_id
    etree.SubElement(gv, _o("StudyDescription")).text = title
    etree.SubElement(gv, _o("ProtocolName")).text = study_id
    mdv = etree.SubElement(
        study,
        _o("MetaDataVersion"),
        OID=f"MDV.{study_id}.SDTMIG.3.4",
        Name=f"{study_id} SDTM datasets",
    )
    mdv.set(_d("DefineVersion"), "2.1.0")
    standards = etree.SubElement(mdv, _d("Standards"))
    etree.SubElement(
        standards,
        _d("Standard"),
        OID="STD.SDTMIG",
        Name="SDTMIG",
        Type="IG",
        Version=SDTMIG_VERSION,
        Status="Final",
    )
    conformed = {code: conform(code, frame) for code, frame in datasets.items()}
    for code, frame in conformed.items():
        mdv.append(_group(code, frame, file_format))
    for code, frame in conformed.items():
        for var in DOMAINS[code].variables:
            mdv.append(_item(code, var, frame))
    if "TS" in conformed:
        mdv.append(_tsparmcd_codelist(conformed["TS"]))
    for code in conformed:
        for var in DOMAINS[code].variables:
            if var.name in COMMENTS:
                comment = etree.SubElement(mdv, _d("CommentDef"), OID=f"COM.{code}.{var.name}")
                _description(comment, COMMENTS[var.name])
    return root


def _group(code: str, frame: pd.DataFrame, file_format: str) -> etree._Element:
    spec = DOMAINS[code]
    group = etree.Element(
        _o("ItemGroupDef"),
        OID=f"IG.{code}",
        Domain=code,
        Name=code,
        Repeating="No" if code == "DM" else "Yes",
        IsReferenceData="Yes" if spec.klass == "TRIAL DESIGN" else "No",
        SASDatasetName=code,
        Purpose="Tabulation",
    )
    group.set(_d("Structure"), spec.structure)
    group.set(_d("StandardOID"), "STD.SDTMIG")
    group.set(_d("ArchiveLocationID"), f"LF.{code}")
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
    etree.SubElement(group, _d("Class"), Name=spec.klass)
    leaf = etree.SubElement(group, _d("leaf"), ID=f"LF.{code}")
    name = f"{code.lower()}.{file_format}"
    leaf.set(f"{{{XLINK}}}href", name)
    etree.SubElement(leaf, _d("title")).text = name
    return group


def _item(code: str, var: Var, frame: pd.DataFrame) -> etree._Element:
    spec = DOMAINS[code]
    if var.name.endswith("DTC"):
        data_type = "datetime"
    elif var.type == "Num":
        data_type = "integer" if _json_type(spec, var.name) == "integer" else "float"
    else:
        data_type = "text"
    item = etree.Element(
        _o("ItemDef"),
        OID=f"IT.{code}.{var.name}",
        Name=var.name,
        DataType=data_type,
        SASFieldName=var.name,
    )
    if data_type in ("text", "integer"):
        item.set("Length", str(_length(var, frame)))
    elif data_type == "float":
        item.set("Length", "8")
        item.set("SignificantDigits", "3")
    if var.name in COMMENTS:
        item.set(_d("CommentOID"), f"COM.{code}.{var.name}")
    _description(item, var.label)
    if (code, var.name) == ("TS", "TSPARMCD"):
        etree.SubElement(item, _o("CodeListRef"), CodeListOID=TSPARMCD_CODELIST)
    origin = etree.SubElement(item, _d("Origin"), Type=var.origin)
    source = _ORIGIN_SOURCE.get(var.origin)
    if source:
        origin.set("Source", source)
    return item


TSPARMCD_CODELIST = "CL.TSPARMCD"
TSPARMCD_CT_CODE = "C66738"  # CDISC CT "Trial Summary Parameter Test Code", extensible


def _tsparmcd_codelist(ts: pd.DataFrame) -> etree._Element:
    """The TSPARMCD values of `ts`; sponsor-defined ones flagged and defined."""
    codelist = etree.Element(
        _o("CodeList"), OID=TSPARMCD_CODELIST, Name="Trial Summary Parameter Test Code"
    )
    codelist.set("DataType", "text")
    for value in sorted(set(ts["TSPARMCD"].dropna())):
        entry = etree.SubElement(codelist, _o("EnumeratedItem"), CodedValue=str(value))
        definition = SPONSOR_DEFINED_TS.get(str(value))
        if definition is not None:
            entry.set(_d("ExtendedValue"), "Yes")
            _description(entry, definition)
    etree.SubElement(codelist, _o("Alias"), Context="nci:ExtCodeID", Name=TSPARMCD_CT_CODE)
    return codelist


def _length(var: Var, frame: pd.DataFrame) -> int:
    column = frame[var.name]
    if var.type == "Num":
        numbers = column.dropna()
        return max(1, max((len(str(int(v))) for v in numbers), default=1))
    return max_length(column)

"""A form's status (Incomplete / Unverified / Complete) in CDISC ODM 1.3.2.

ODM 1.3.2 has no status attribute on ``FormData``; what it offers for "an item, form or event
needs a comment or flag" is ``Annotation`` (ODM1-3-2-Final §3.1.4.1.1.3: "A general note about
clinical data", allowed in ``FormData`` before its ``ItemGroupData``), whose ``Flag`` carries a
``FlagValue`` drawn from a ``CodeList`` of the study's MetaDataVersion and an optional
``FlagType`` naming what kind of flag it is. The status is therefore written as::

    <FormData FormOID="F.LABS">
      <Annotation SeqNum="1">
        <Flag>
          <FlagValue CodeListOID="CL.TRIALDESK.FORMSTATUS">unverified</FlagValue>
          <FlagType CodeListOID="CL.TRIALDESK.FLAGTYPE">FORMSTATUS</FlagType>
        </Flag>
      </Annotation>
      …

which any ODM 1.3.2 validator accepts, and which keeps REDCap's codes (0/1/2, the
``<form>_complete`` field) as ``Alias`` of the code-list items, so a REDCap import maps 1:1. The
missing-data codes use the same ``Annotation/Flag`` mechanism on ``ItemData`` (`write`).
"""

from __future__ import annotations

from lxml import etree

from trialdesk.export.odm import names as n

FORM_STATUS_CODELIST_OID = "CL.TRIALDESK.FORMSTATUS"
FLAG_TYPE_CODELIST_OID = "CL.TRIALDESK.FLAGTYPE"
FORM_STATUS_FLAG = "FORMSTATUS"
#: status → (label, REDCap ``<form>_complete`` code)
STATUSES = {
    "incomplete": ("Incomplete", "0"),
    "unverified": ("Unverified", "1"),
    "complete": ("Complete", "2"),
}
_E = etree.Element
_SE = etree.SubElement
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _decode(entry: etree._Element, label: str) -> None:
    _SE(_SE(entry, n.q("Decode")), n.q("TranslatedText"), {_XML_LANG: "en"}).text = label


def status_codelists() -> list[etree._Element]:
    """The CodeLists of the form-status flag: its values and its flag type."""
    values = _E(n.q("CodeList"), OID=FORM_STATUS_CODELIST_OID, Name="Form status", DataType="text")
    for code, (label, redcap) in STATUSES.items():
        entry = _SE(values, n.q("CodeListItem"), CodedValue=code)
        _decode(entry, label)
        _SE(entry, n.q("Alias"), Context="REDCap", Name=redcap)
    kinds = _E(n.q("CodeList"), OID=FLAG_TYPE_CODELIST_OID, Name="Flag type", DataType="text")
    entry = _SE(kinds, n.q("CodeListItem"), CodedValue=FORM_STATUS_FLAG)
    _decode(entry, "Form status")
    entry = _SE(kinds, n.q("CodeListItem"), CodedValue="STUDYEND")
    _decode(entry, "End of participation")
    return [values, kinds]


def annotate(form_data: etree._Element, status: str) -> None:
    """Flag `form_data` with `status`, before its ItemGroupData as the schema orders it."""
    annotation = _E(n.q("Annotation"), SeqNum="1")
    flag = _SE(annotation, n.q("Flag"))
    _SE(flag, n.q("FlagValue"), CodeListOID=FORM_STATUS_CODELIST_OID).text = status
    _SE(flag, n.q("FlagType"), CodeListOID=FLAG_TYPE_CODELIST_OID).text = FORM_STATUS_FLAG
    group = form_data.find(n.q("ItemGroupData"))
    if group is None:
        form_data.append(annotation)
    else:
        group.addprevious(annotation)


def status_of(form_data: etree._Element) -> str | None:
    """The status flagged on a FormData (`annotate`), or None."""
    for annotation in form_data.iterfind(n.q("Annotation")):
        for value in annotation.iterfind(f"{n.q('Flag')}/{n.q('FlagValue')}"):
            text = value.text
            if value.get("CodeListOID") == FORM_STATUS_CODELIST_OID and text in STATUSES:
                return str(text)
    return None

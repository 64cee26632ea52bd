"""A participant's end of participation (disposition) in CDISC ODM 1.3.2.

ODM 1.3.2 has no element for a subject's disposition; ``SubjectData`` may carry ``Annotation``
elements (ODM 1.3.2 [@ODM], schema ``ODM1-3-2-foundation.xsd``,
``ODMcomplexTypeDefinition-SubjectData``: AuditRecord?, Signature?, InvestigatorRef?, SiteRef?,
Annotation*, StudyEventData*), whose ``Flag`` carries a
``FlagValue`` from a CodeList of the study's MetaDataVersion — the mechanism trialdesk already
uses for form statuses (`form_status`) and missing-data codes. The end of participation is
therefore written as::

    <SubjectData SubjectKey="APGH-008">
      <SiteRef LocationOID="LOC.APGH"/>
      <Annotation SeqNum="1">
        <Comment SponsorOrSite="Site">2023-02-12</Comment>
        <Flag>
          <FlagValue CodeListOID="CL.TRIALDESK.STUDYEND">completed</FlagValue>
          <FlagType CodeListOID="CL.TRIALDESK.FLAGTYPE">STUDYEND</FlagType>
        </Flag>
      </Annotation>
      …

the Comment holding the date participation ended (ISO 8601) and the FlagValue the reason, one
of trialdesk's study-end reasons (`trialdesk.store.enums.StudyEndReason`, mapped to CDISC
NCOMPLT in SDTM DS). An import reads it back, so disposition survives a round trip (issue 15).
"""

from __future__ import annotations

from datetime import date

from lxml import etree

from trialdesk.export.odm import names as n
from trialdesk.export.odm.form_status import FLAG_TYPE_CODELIST_OID
from trialdesk.store.enums import StudyEndReason

STUDY_END_CODELIST_OID = "CL.TRIALDESK.STUDYEND"
STUDY_END_FLAG = "STUDYEND"
_E = etree.Element
_SE = etree.SubElement
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def study_end_codelist() -> etree._Element:
    """The CodeList of the study-end reasons."""
    codelist = _E(
        n.q("CodeList"), OID=STUDY_END_CODELIST_OID, Name="End of participation", DataType="text"
    )
    for reason in StudyEndReason:
        entry = _SE(codelist, n.q("CodeListItem"), CodedValue=reason.value)
        decode = _SE(_SE(entry, n.q("Decode")), n.q("TranslatedText"), {_XML_LANG: "en"})
        decode.text = reason.value.replace("_", " ").capitalize()
    return codelist


def annotate_end(subject_data: etree._Element, reason: str, ended_on: date) -> None:
    """Flag `subject_data` with the end of participation, after its SiteRef (schema order)."""
    annotation = _E(n.q("Annotation"), SeqNum="1")
    _SE(annotation, n.q("Comment"), SponsorOrSite="Site").text = ended_on.isoformat()
    flag = _SE(annotation, n.q("Flag"))
    _SE(flag, n.q("FlagValue"), CodeListOID=STUDY_END_CODELIST_OID).text = reason
    _SE(flag, n.q("FlagType"), CodeListOID=FLAG_TYPE_CODELIST_OID).text = STUDY_END_FLAG
    event = subject_data.find(n.q("StudyEventData"))
    if event is None:
        subject_data.append(annotation)
    else:
        event.addprevious(annotation)


def end_of(subject_data: etree._Element) -> tuple[str, date] | None:
    """(reason, date) of the end of participation flagged on a SubjectData, or None; raises
    ValueError naming what is wrong with a flag that is not one."""
    for annotation in subject_data.iterfind(n.q("Annotation")):
        for value in annotation.iterfind(f"{n.q('Flag')}/{n.q('FlagValue')}"):
            if value.get("CodeListOID") != STUDY_END_CODELIST_OID:
                continue
            reason = (value.text or "").strip()
            if reason not in {r.value for r in StudyEndReason}:
                choices = ", ".join(r.value for r in StudyEndReason)
                raise ValueError(f"{reason!r} is not a study-end reason ({choices})")
            text = (annotation.findtext(n.q("Comment")) or "").strip()
            try:
                return reason, date.fromisoformat(text)
            except ValueError:
                raise ValueError(f"end of participation {text!r} is not a date") from None
    return None

"""The investigator's casebook signatures and the study's data lock in the exports (issue 14).

21 CFR 11.50(b): the printed name, date-time and meaning of a signature are part of any human
readable form of the record, so each export carries them — for every signing of a casebook,
not only the latest: each with its state, ``valid``, ``broken`` (data changed after signing),
``superseded`` (the investigator signed again later) or ``invalid`` (the binding does not
match the casebook):

* ODM 1.3.2 (ODM1-3-2-Final §3.1.3 AdminData, §3.1.4.1 SubjectData): one ``SignatureDef`` per
  meaning in AdminData (``Methodology="Electronic"``: a password signature, not a digital one,
  so no ``ds:Signature``/``CryptoBindingManifest``), the signer as a ``User`` with FullName, and
  the latest signature of each casebook as the SubjectData ``Signature`` (UserRef, LocationRef,
  SignatureRef, DateTimeStamp; SubjectData holds at most one), and every signing as a
  ``Signature`` with an ``ID`` in ClinicalData's ``Signatures`` container (ODM 1.3.2
  ClinicalData: SubjectData*, AuditRecords*, Signatures*, Annotations*). Each signing's state is
  an ``Annotation`` of the SubjectData naming that ID. A signature broken by a later change is
  still reported — it was given. Not ``ds:Signature``: that is an XML digital signature
  (W3C XML-DSig SignatureValue over the file), which a password signature is not.
* FHIR R4B: a ``Provenance`` per signing, target the ResearchSubject, ``signature.type``
  ASTM E1762-95(2013) 1.2.840.10065.1.12.1.5 "Verification Signature" (the investigator attests
  the data), ``when``, ``who`` (display: the printed name), the meaning as ``reason`` text;
  ``data`` holds the SHA-256 binding (21 CFR 11.70) base64-encoded.
* SDTM: SUPPDM qualifiers (SDTMIG v3.4 §8.4: subject-level facts that have no standard
  variable), QEVAL "INVESTIGATOR": INVSIGDT (ISO 8601 date-time), INVSIGBY (printed name),
  INVSIGMN (meaning), INVSIGST (VALID / BROKEN) for the latest signature, and the same four
  per signing n as INVSnDT, INVSnBY, INVSnMN, INVSnST (state VALID / BROKEN / SUPERSEDED /
  INVALID): a QNAM is unique per subject (SUPPQUAL key STUDYID, RDOMAIN, USUBJID, IDVAR,
  IDVARVAL, QNAM), so a repeated qualifier takes a number, as SDTMIG v3.4 §4.2.8.3 does for
  RACE1, RACE2 … in SUPPDM. A sponsor reviewing the tabulation sees per subject whether, when
  and by whom the casebook was signed, without the EDC's audit trail; the CO domain would
  hold free text about records, not subject-level facts.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class CasebookSignature:
    """One signing of a participant's casebook, as exports need it."""

    subject: str  # study id
    site: str  # site code
    login: str  # the signer's user name
    signer_name: str  # printed name (21 CFR 11.50(a)(1))
    signed_at: datetime  # UTC
    meaning: str
    state: str  # "valid" | "broken" | "superseded" | "invalid"
    binding: str  # SHA-256 hex of the signature manifest (21 CFR 11.70); "" before 0015
    number: int = 1  # the casebook's n-th signing (1 = first)
    latest: bool = True  # the signature in force (the last signing)

    @property
    def summary(self) -> str:
        text = (
            f"Signed by {self.signer_name}, {self.signed_at:%Y-%m-%d %H:%M} UTC, "
            f"meaning: {self.meaning}"
        )
        if self.state == "broken":
            return f"{text} (signature broken: data changed after signing)"
        if self.state == "invalid":
            return f"{text} (signature invalid: does not match the casebook)"
        if self.state == "superseded":
            return f"{text} (superseded: the casebook was signed again later)"
        return text

    @property
    def odm_id(self) -> str:
        """The ID of this signing's Signature in ClinicalData/Signatures (ODM 1.3.2)."""
        return f"SIG.{self.subject}.{self.number}"


@dataclass(frozen=True)
class DataCut:
    """Whether the data were locked when exported (the study's database lock)."""

    locked: bool
    description: str  # "locked for analysis by … on … (reason)" or "not locked"
    at: datetime | None = None  # when the study database was locked (UTC)


ASTM_SIGNATURE = "urn:iso-astm:E1762-95:2013"
VERIFICATION_SIGNATURE = ("1.2.840.10065.1.12.1.5", "Verification Signature")
LEGAL_REASON = (
    "Electronic signature of the investigator, the legally binding equivalent of a "
    "handwritten signature (21 CFR 11.100(c)); password re-entered at signing (21 CFR 11.200)."
)


def signature_def_oids(signatures: tuple[CasebookSignature, ...]) -> dict[str, str]:
    """Meaning → SignatureDef OID (``SD.1``, ``SD.2`` … in order of first use)."""
    oids: dict[str, str] = {}
    for sig in signatures:
        oids.setdefault(sig.meaning, f"SD.{len(oids) + 1}")
    return oids


def provenance_json(
    sig: CasebookSignature, rid: str, subject_ref: dict[str, str]
) -> dict[str, Any]:
    """A FHIR R4B Provenance for one casebook signature (module docstring)."""
    when = sig.signed_at.isoformat()
    who = {"display": sig.signer_name}
    return {
        "resourceType": "Provenance",
        "id": rid,
        "target": [subject_ref],
        "recorded": when,
        "reason": [{"text": sig.meaning}],
        "activity": {"text": f"casebook signature ({sig.state})"},
        "agent": [{"who": who}],
        "signature": [
            {
                "type": [
                    {
                        "system": ASTM_SIGNATURE,
                        "code": VERIFICATION_SIGNATURE[0],
                        "display": VERIFICATION_SIGNATURE[1],
                    }
                ],
                "when": when,
                "who": who,
                "sigFormat": "text/plain",
                "data": base64.b64encode(sig.binding.encode("ascii")).decode("ascii"),
            }
        ],
    }

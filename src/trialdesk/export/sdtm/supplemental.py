"""SUPPEX (Supplemental Qualifiers for EX, SDTMIG v3.4 §8.4): what the transplantation record
holds beyond the EX variables — the source of the mesenchymal stem cells and the total number
of cells infused — one record per EX record and qualifier, tied by IDVAR = EXSEQ.

SUPPDM: the investigator's casebook signature per subject (`trialdesk.export.signatures` says
why SUPPDM): INVSIGDT, INVSIGBY, INVSIGMN, INVSIGST, QEVAL "INVESTIGATOR", no IDVAR (a
subject-level qualifier, SDTMIG v3.4 §8.4.1)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from trialdesk.export.sdtm.sources import SdtmSources, records_of
from trialdesk.export.sdtm.subjects import _frame, usubjid
from trialdesk.export.sdtm.text import MAX_TEXT_LENGTH, ascii_text
from trialdesk.export.values import format_number
from trialdesk.protocol import Protocol

# QNAM (<= 8 characters) and QLABEL (<= 40) of each qualifier.
CELL_SOURCE = ("EXCELSRC", "Source of Mesenchymal Stem Cells")
TOTAL_CELLS = ("EXTOTCEL", "Total Number of Cells Infused")
ORIGIN = "CRF"  # collected on the transplantation form


def supplemental_exposure(protocol: Protocol, src: SdtmSources, ex: pd.DataFrame) -> pd.DataFrame:
    """SUPPEX for the EX records `ex` (built from the same transplantations, in order)."""
    rows: list[dict[str, Any]] = []
    for t, seq in zip(records_of(src.transplants), ex["EXSEQ"], strict=True):
        common = {
            "STUDYID": protocol.id,
            "RDOMAIN": "EX",
            "USUBJID": usubjid(protocol, t.usubjid),
            "IDVAR": "EXSEQ",
            "IDVARVAL": str(int(seq)),
            "QORIG": ORIGIN,
        }
        if isinstance(t.cell_source, str) and t.cell_source:
            source = ascii_text(t.cell_source.replace("_", " ")).upper()
            rows.append(
                {**common, "QNAM": CELL_SOURCE[0], "QLABEL": CELL_SOURCE[1], "QVAL": source}
            )
        if not pd.isna(t.total_cells):
            total = format_number(float(t.total_cells))
            rows.append({**common, "QNAM": TOTAL_CELLS[0], "QLABEL": TOTAL_CELLS[1], "QVAL": total})
    return _frame("SUPPEX", rows)


SIGNATURE_QUALIFIERS = (
    ("INVSIGDT", "Investigator Signature Date/Time"),
    ("INVSIGBY", "Investigator Signature Printed Name"),
    ("INVSIGMN", "Investigator Signature Meaning"),
    ("INVSIGST", "Investigator Signature Status"),
)


def supplemental_demographics(protocol: Protocol, src: SdtmSources) -> pd.DataFrame:
    """SUPPDM: the casebook signature in force of each subject (INVSIG*) and every signing n
    (INVSn*; `trialdesk.export.signatures` says why numbered QNAMs). QVAL at most 200
    characters, the SAS transport limit: a longer meaning is cut and marked with "..."."""
    rows: list[dict[str, Any]] = []
    for sig in src.signatures:
        values: list[str] = [
            sig.signed_at.strftime("%Y-%m-%dT%H:%M:%S"),
            ascii_text(sig.signer_name),
            ascii_text(sig.meaning),
            sig.state.upper(),
        ]
        names = [
            (f"INVS{sig.number}{qnam[-2:]}", f"{qlabel} {sig.number}")
            for qnam, qlabel in SIGNING_QUALIFIERS
        ]
        if sig.latest:
            names = list(SIGNATURE_QUALIFIERS) + names
            values = values + values
        for (qnam, qlabel), value in zip(names, values, strict=True):
            rows.append(_suppdm_row(protocol, sig.subject, qnam, qlabel, value))
    return _frame("SUPPDM", rows)


# The same four per signing n: QNAM INVSnDT … (8 characters up to n = 99), QLABEL + " n".
SIGNING_QUALIFIERS = (
    ("DT", "Investigator Signing Date/Time"),
    ("BY", "Investigator Signing Printed Name"),
    ("MN", "Investigator Signing Meaning"),
    ("ST", "Investigator Signing Status"),
)


def _suppdm_row(
    protocol: Protocol, subject: str, qnam: str, qlabel: str, value: str
) -> dict[str, Any]:
    return {
        "STUDYID": protocol.id,
        "RDOMAIN": "DM",
        "USUBJID": usubjid(protocol, subject),
        "IDVAR": "",
        "IDVARVAL": "",
        "QNAM": qnam,
        "QLABEL": qlabel,
        "QVAL": value if len(value) <= MAX_TEXT_LENGTH else value[: MAX_TEXT_LENGTH - 3] + "...",
        "QORIG": ORIGIN,
        "QEVAL": "INVESTIGATOR",
    }

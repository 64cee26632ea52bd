"""ADAE, the adverse-event analysis dataset: one row per adverse event.

- Treatment-emergent (``TRTEMFL``): onset on or after the transplantation date (ADaM OCCDS
  v1.1 / ADAE convention; events between consent and transplantation are kept but not counted
  as treatment-emergent). A participant never transplanted has no treatment-emergent events.
- Severity: CTCAE v5.0 grade 1-5 (NCI, 27 Nov 2017): 1 mild, 2 moderate, 3 severe or medically
  significant, 4 life-threatening, 5 death related to the AE.
- Seriousness: ICH E2A (CPMP/ICH/377/95) criteria, one ``Y``/``N`` flag each, named as in SDTM
  (AESDTH death, AESLIFE life-threatening, AESHOSP hospitalisation or its prolongation,
  AESDISAB persistent or significant disability/incapacity, AESCONG congenital anomaly,
  AESMIE other important medical event). Severity is not seriousness: a grade 3 event need not be
  serious, and a serious event may be grade 2.
- Relatedness: the investigator's causality term is kept (AEREL) and grouped (AERELGR1) as
  ``Related`` when a causal relationship is at least a reasonable possibility (ICH E2A's
  definition of an adverse drug reaction: definite, probable, possible) and ``Not related``
  otherwise (unlikely, not related).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialdesk.analysis.errors import SourceFrameError
from trialdesk.analysis.sources import SourceFrames
from trialdesk.derive.ctcae import GRADE_DEATH
from trialdesk.derive.safety import (
    SERIOUSNESS_CRITERIA,
    compute_seriousness_code,
    term_key,
)
from trialdesk.protocol import Protocol

#: CTCAE v5.0 general grade labels.
CTCAE_GRADES: dict[int, str] = {
    1: "Grade 1 (mild)",
    2: "Grade 2 (moderate)",
    3: "Grade 3 (severe)",
    4: "Grade 4 (life-threatening)",
    5: "Grade 5 (death)",
}

RELATED = "Related"
NOT_RELATED = "Not related"
_RELATEDNESS: dict[str, str] = {
    **dict.fromkeys(
        (
            "related",
            "yes",
            "y",
            "certain",
            "definite",
            "definitely",
            "definitely_related",
            "probable",
            "probably",
            "probably_related",
            "likely",
            "possible",
            "possibly",
            "possibly_related",
            "reasonable_possibility",
        ),
        RELATED,
    ),
    **dict.fromkeys(
        (
            "not_related",
            "unrelated",
            "no",
            "n",
            "none",
            "unlikely",
            "unlikely_related",
            "not_likely",
            "doubtful",
        ),
        NOT_RELATED,
    ),
}


__all__ = ["SERIOUSNESS_CRITERIA", "compute_seriousness_code"]  # re-exported: used with ADAE


def compute_relatedness_group(text: str) -> str | None:
    """``Related`` or ``Not related`` for an investigator's causality term, None if unknown.

    >>> compute_relatedness_group("Possibly related"), compute_relatedness_group("Unlikely")
    ('Related', 'Not related')
    """
    return _RELATEDNESS.get(term_key(text))


def _check_vocabularies(ae: pd.DataFrame) -> None:
    bad_terms = sorted(
        {t for terms in ae["seriousness"] for t in terms if compute_seriousness_code(t) is None}
    )
    if bad_terms:
        allowed = ", ".join(code for code, _, _ in SERIOUSNESS_CRITERIA)
        raise SourceFrameError(
            "adverse_events", "seriousness", f"ICH E2A criteria ({allowed})", bad_terms
        )
    unknown = ae["related"][ae["related"].map(compute_relatedness_group).isna()]
    if len(unknown):
        raise SourceFrameError(
            "adverse_events",
            "related",
            "a causality term (related, definite, probable, possible, unlikely, not related)",
            unknown.unique().tolist(),
        )


def derive_adae(frames: SourceFrames, protocol: Protocol, adsl: pd.DataFrame) -> pd.DataFrame:
    """One row per adverse event, with TRTEMFL, grade, seriousness flags and relatedness."""
    ae = frames.adverse_events.sort_values(["usubjid", "onset", "ae_id"]).reset_index(drop=True)
    _check_vocabularies(ae)
    subject = adsl.set_index("USUBJID")
    trtsdt = ae["usubjid"].map(subject["TRTSDT"]).astype("datetime64[ns]")
    days = (ae["onset"] - trtsdt).dt.days
    adae = pd.DataFrame(
        {
            "STUDYID": protocol.id,
            "USUBJID": ae["usubjid"],
            "AESEQ": ae.groupby("usubjid").cumcount() + 1,
            "AESPID": ae["ae_id"],
            "AETERM": ae["term"],
            "AEDECOD": ae["term"].str.strip().str.capitalize(),
            "ASTDT": ae["onset"],
            "AENDT": ae["resolved"],
            "TRTSDT": trtsdt,
            "ASTDY": pd.Series(np.where(days >= 0, days + 1, days)).astype("Float64"),
            "TRTEMFL": np.where(trtsdt.notna() & (ae["onset"] >= trtsdt), "Y", "N"),
            "ATOXGRN": ae["grade"].astype(int),
            "ATOXGR": ae["grade"].astype(int).astype(str),
            "AESEV": ae["grade"].astype(int).map(CTCAE_GRADES),
            "AESER": np.where(ae["serious"], "Y", "N"),
            "AEREL": ae["related"],
            "AERELGR1": ae["related"].map(compute_relatedness_group),
            "AEOUT": ae["outcome"],
            "AEACN": ae["action"],
        }
    )
    codes = ae["seriousness"].map(lambda terms: {compute_seriousness_code(t) for t in terms})
    for code, flag, _ in SERIOUSNESS_CRITERIA:
        adae[flag] = codes.map(lambda found, c=code: "Y" if c in found else "N")
    adae["SAFFL"] = adae["USUBJID"].map(subject["SAFFL"])
    return adae


def seriousness_inconsistencies(adae: pd.DataFrame) -> list[str]:
    """Data-quality messages: serious without a criterion, a criterion on a non-serious event,
    grade 5 without the death criterion. They are reported, not corrected."""
    flags = [flag for _, flag, _ in SERIOUSNESS_CRITERIA]
    any_criterion = (adae[flags] == "Y").any(axis=1) if len(adae) else pd.Series(dtype=bool)
    messages = []
    for row, has in zip(adae.itertuples(index=False), any_criterion, strict=True):
        where = f"{row.USUBJID} AE {row.AESPID} ({row.AETERM})"
        if row.AESER == "Y" and not has:
            messages.append(f"{where}: serious but no ICH E2A criterion recorded")
        if row.AESER == "N" and has:
            messages.append(f"{where}: an ICH E2A criterion is recorded on a non-serious event")
        if row.ATOXGRN == GRADE_DEATH and row.AESDTH != "Y":
            messages.append(f"{where}: CTCAE grade 5 (death) without the death criterion")
    return messages

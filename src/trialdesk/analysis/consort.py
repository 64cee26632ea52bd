"""Participant flow (CONSORT 2010 flow diagram, adapted to a single-group study).

Stages: screened -> excluded (with reasons) -> enrolled -> transplanted (or not, with
reasons) -> followed to the primary visit (or discontinued after transplantation, with reasons;
or still in follow-up) -> analysed. Source: Schulz, Altman & Moher,
CONSORT 2010 statement, BMJ 2010;340:c332 (flow diagram, item 13a/b). The counts come from the
screening frame and ADSL/ADEFF, so the diagram, the report table and the registry JSON agree.

A candidate screened more than once counts once, with the result of the last screening.
Exclusion reasons count candidates per unmet criterion; a candidate failing several criteria
appears under each, so the reasons can add up to more than the number excluded (stated in the
diagram, as CONSORT recommends).
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from trialdesk.analysis.params import PARAMS_BY_CODE
from trialdesk.protocol import Protocol


@dataclass(frozen=True)
class FlowReason:
    label: str
    count: int


@dataclass(frozen=True)
class ConsortFlow:
    screened: int
    excluded: int
    exclusion_reasons: list[FlowReason]
    enrolled: int
    not_transplanted: int
    not_transplanted_reasons: list[FlowReason]
    transplanted: int
    discontinued: int
    discontinuation_reasons: list[FlowReason]
    ongoing: int
    completed: int
    analysed: int
    analysed_complete_pairs: int
    analysis_label: str
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "screened": self.screened,
            "excluded": self.excluded,
            "exclusion_reasons": [
                {"reason": r.label, "n": r.count} for r in self.exclusion_reasons
            ],
            "enrolled": self.enrolled,
            "not_transplanted": self.not_transplanted,
            "not_transplanted_reasons": [
                {"reason": r.label, "n": r.count} for r in self.not_transplanted_reasons
            ],
            "transplanted": self.transplanted,
            "discontinued": self.discontinued,
            "discontinuation_reasons": [
                {"reason": r.label, "n": r.count} for r in self.discontinuation_reasons
            ],
            "ongoing": self.ongoing,
            "completed": self.completed,
            "analysed": self.analysed,
            "analysed_complete_pairs": self.analysed_complete_pairs,
            "analysis_label": self.analysis_label,
            "notes": list(self.notes),
        }


def criterion_label(protocol: Protocol, criterion_id: str) -> str:
    """ "I5 not met: <registry text>" / "E2 present: <registry text>" for a criterion id."""
    for c in protocol.criteria:
        if c.id == criterion_id:
            verb = "not met" if c.kind.value == "inclusion" else "present"
            # NFKC turns the record's "㎏/㎡" into "kg/m2", which every font can draw.
            text = unicodedata.normalize("NFKC", c.text).strip().rstrip(";.")
            return f"{c.id} {verb}: {text}"
    return f"{criterion_id} (criterion not in protocol {protocol.id})"


def _exclusion_reasons(last: pd.DataFrame, protocol: Protocol) -> list[FlowReason]:
    not_enrolled = last[~last["enrolled"]]
    failed: Counter[str] = Counter()
    for ids in not_enrolled.loc[not_enrolled["status"] == "ineligible", "failed"]:
        failed.update(dict.fromkeys(ids, 1))
    order = {c.id: i for i, c in enumerate(protocol.criteria)}
    reasons = [
        FlowReason(criterion_label(protocol, cid), n)
        for cid, n in sorted(failed.items(), key=lambda kv: (order.get(kv[0], 999), kv[0]))
    ]
    incomplete = int((not_enrolled["status"] == "incomplete").sum())
    if incomplete:
        reasons.append(FlowReason("Screening incomplete (eligibility not assessable)", incomplete))
    declined = int((not_enrolled["status"] == "declined").sum())
    if declined:
        reasons.append(FlowReason("Declined to participate", declined))
    not_consented = int((not_enrolled["status"] == "not_consented").sum())
    if not_consented:
        reasons.append(FlowReason("Not consented (consent could not be obtained)", not_consented))
    unenrolled = int((not_enrolled["status"] == "eligible").sum())
    if unenrolled:
        reasons.append(
            FlowReason("Eligible but not enrolled (declined or target reached)", unenrolled)
        )
    return reasons


def derive_consort(
    screening: pd.DataFrame,
    adsl: pd.DataFrame,
    adeff: pd.DataFrame,
    protocol: Protocol,
    *,
    analysed_paramcd: str,
    primary_visit: str,
) -> ConsortFlow:
    """The participant flow; "analysed" = participants in the mixed model of `analysed_paramcd`
    (baseline and at least one later value); complete pairs = baseline and the primary visit."""
    last = screening.sort_values("screened_on").drop_duplicates("candidate_id", keep="last")
    itt = adsl[adsl["ITTFL"] == "Y"]
    rows = adeff[(adeff["PARAMCD"] == analysed_paramcd) & (adeff["ANL01FL"] == "Y")]
    post = rows[(rows["VISITNDY"] > 0) & rows["CHG"].notna()]
    treated = itt[itt["SAFFL"] == "Y"]
    untreated = itt[itt["SAFFL"] != "Y"]
    stopped = treated[treated["EOSSTT"] == "DISCONTINUED"]
    reasons = Counter(stopped["DCSREAS"].fillna("Not recorded"))
    untreated_reasons = Counter(
        untreated["DCSREAS"]
        .where(untreated["EOSSTT"] == "DISCONTINUED", "Awaiting transplantation")
        .fillna("Not recorded")
    )
    notes = []
    if len(last) and int(last["enrolled"].sum()) != len(itt):
        notes.append(
            f"{int(last['enrolled'].sum())} screening records are marked enrolled but ADSL holds "
            f"{len(itt)} participants"
        )
    return ConsortFlow(
        screened=len(last),
        excluded=int((~last["enrolled"]).sum()),
        exclusion_reasons=_exclusion_reasons(last, protocol),
        enrolled=len(itt),
        not_transplanted=len(untreated),
        not_transplanted_reasons=[FlowReason(r, n) for r, n in sorted(untreated_reasons.items())],
        transplanted=len(treated),
        discontinued=len(stopped),
        discontinuation_reasons=[FlowReason(r, n) for r, n in sorted(reasons.items())],
        ongoing=int((treated["EOSSTT"] == "ONGOING").sum()),
        completed=int((treated["COMPLFL"] == "Y").sum()),
        analysed=int(post["USUBJID"].nunique()),
        analysed_complete_pairs=int(post.loc[post["VISIT"] == primary_visit, "USUBJID"].nunique()),
        analysis_label=PARAMS_BY_CODE[analysed_paramcd].short
        if analysed_paramcd in PARAMS_BY_CODE
        else analysed_paramcd,
        notes=notes,
    )

"""MH (Medical History, SDTMIG v3.4 §6.2): the diagnosis the trial enrols on, type 2 diabetes
mellitus, with its duration as collected at screening.

The site records how many years the subject has had diabetes (catalogue `diabetes_duration`);
MHSTDTC is the year of diagnosis that implies (collection year minus the whole years, an ISO
8601 partial date, Derived), MHENRTPT = ONGOING relative to the collection date (MHENTPT): the
disease is chronic. MHDECOD stays null until MedDRA coding (the dictionary is not shipped).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pandas as pd

from trialdesk.export.sdtm.sources import SdtmSources, records_of
from trialdesk.export.sdtm.subjects import (
    _d,
    _frame,
    _with_seq,
    reference_dates,
    screen_failures,
    usubjid,
)
from trialdesk.export.sdtm.text import ascii_text, iso, study_day
from trialdesk.export.sdtm.trial_design import visit_fields
from trialdesk.protocol import Protocol

DURATION_ELEMENT = "diabetes_duration"  # years, as the catalogue records it
HISTORY_CATEGORY = "PRIMARY DIAGNOSIS"
ONGOING = "ONGOING"  # CDISC CT STENRF


def medical_history(protocol: Protocol, src: SdtmSources) -> pd.DataFrame:
    """One MH record per subject: the condition of the trial, from the last duration collected
    before the transplantation (or the only one); for a screen failure, from the last
    screening."""
    reference = reference_dates(src)
    term = ascii_text(protocol.conditions[0]).upper()
    durations = src.frames.measurements
    durations = durations[durations["element"] == DURATION_ELEMENT].sort_values("date")
    latest: dict[str, Any] = {}
    for m in records_of(durations):
        ref, day = reference.get(m.usubjid), _d(m.date)
        if ref is None or day is None or day <= ref or m.usubjid not in latest:
            latest[m.usubjid] = m
    first = protocol.schedule[0].code
    failed = {f.subject for f in screen_failures(src)}
    for person in records_of(src.people):  # screen failures: from their last screening
        if person.usubjid in failed and not pd.isna(person.diabetes_years):
            latest[person.usubjid] = SimpleNamespace(
                usubjid=person.usubjid,
                date=person.screened_on,
                value=person.diabetes_years,
                visit=first,
            )
    rows = [_history_row(protocol, term, m, reference.get(s)) for s, m in latest.items()]
    frame = _frame("MH", rows)
    return _with_seq("MH", frame, ["USUBJID", "MHTERM"])


def _history_row(protocol: Protocol, term: str, m: Any, ref: Any) -> dict[str, Any]:
    day = _d(m.date)
    diagnosed = None if day is None else str(day.year - int(round(float(m.value))))
    return {
        "STUDYID": protocol.id,
        "DOMAIN": "MH",
        "USUBJID": usubjid(protocol, m.usubjid),
        "MHTERM": term,
        "MHCAT": HISTORY_CATEGORY,
        "MHPRESP": "Y",
        "MHOCCUR": "Y",
        **visit_fields(protocol, m.visit),
        "MHDTC": iso(day),
        "MHSTDTC": diagnosed,
        "MHDY": study_day(day, ref),
        "MHENRTPT": ONGOING,
        "MHENTPT": iso(day),
    }

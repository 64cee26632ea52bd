"""Seriousness data-quality checks on ADAE (ICH E2A criteria; CTCAE v5.0 grade 5 = death)."""

from __future__ import annotations

import pandas as pd

from trialdesk.analysis.adae import seriousness_inconsistencies
from trialdesk.derive.safety import SERIOUSNESS_CRITERIA


def _event(spid: int, serious: str, grade: int, *criteria: str) -> dict[str, object]:
    flags = {flag: ("Y" if flag in criteria else "N") for _, flag, _ in SERIOUSNESS_CRITERIA}
    return {
        "USUBJID": "S-001",
        "AESPID": spid,
        "AETERM": "Hypoglycaemia",
        "AESER": serious,
        "ATOXGRN": grade,
        **flags,
    }


def test_grade_5_without_the_death_criterion_is_reported() -> None:
    adae = pd.DataFrame(
        [
            _event(1, "Y", 5, "AESHOSP"),  # fatal grade, death criterion missing
            _event(2, "Y", 5, "AESDTH"),  # consistent
            _event(3, "Y", 4, "AESLIFE"),  # grade 4 needs no death criterion
        ]
    )
    messages = seriousness_inconsistencies(adae)
    assert messages == [
        "S-001 AE 1 (Hypoglycaemia): CTCAE grade 5 (death) without the death criterion"
    ]


def test_seriousness_without_or_with_a_criterion_is_reported() -> None:
    adae = pd.DataFrame([_event(1, "Y", 3), _event(2, "N", 2, "AESMIE")])
    messages = seriousness_inconsistencies(adae)
    assert messages == [
        "S-001 AE 1 (Hypoglycaemia): serious but no ICH E2A criterion recorded",
        "S-001 AE 2 (Hypoglycaemia): an ICH E2A criterion is recorded on a non-serious event",
    ]

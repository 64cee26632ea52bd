"""Adverse-event tables: event counts and participant incidence with exact CIs.

Conventions (ICH E3 section 12.2; CONSORT harms extension, Ioannidis et al., Ann Intern Med
2004;141:781):

- Only treatment-emergent events (ADAE.TRTEMFL = "Y") are tabulated; the denominator ("at
  risk") is the safety set (ADSL.SAFFL = "Y").
- Incidence counts participants, not events: a participant with two grade 2 events counts once.
  In the by-grade table each participant counts once, at the worst grade (CTCAE v5.0).
- Each incidence has an exact two-sided Clopper-Pearson CI (`compute_proportion`).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from trialdesk.analysis.adae import (
    CTCAE_GRADES,
    NOT_RELATED,
    RELATED,
    SERIOUSNESS_CRITERIA,
)
from trialdesk.analysis.stats.proportions import compute_proportion
from trialdesk.derive.ctcae import GRADE_DEATH, GRADE_SEVERE

TABLE_COLUMNS = ["category", "n_subjects", "n_at_risk", "percent", "ci_low", "ci_high", "n_events"]


def at_risk(adsl: pd.DataFrame) -> int:
    """Participants in the safety set (the denominator of every incidence)."""
    return int((adsl["SAFFL"] == "Y").sum())


def treatment_emergent(adae: pd.DataFrame) -> pd.DataFrame:
    """Treatment-emergent events of safety-set participants."""
    return adae[(adae["TRTEMFL"] == "Y") & (adae["SAFFL"] == "Y")]


def _row(category: str, events: pd.DataFrame, n: int, level: float) -> dict[str, object]:
    subjects = int(events["USUBJID"].nunique())
    p = compute_proportion(subjects, n, level)
    return {
        "category": category,
        "n_subjects": subjects,
        "n_at_risk": n,
        "percent": p.percent,
        "ci_low": p.ci_low * 100,
        "ci_high": p.ci_high * 100,
        "n_events": len(events),
    }


def _table(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def compute_ae_overview(
    adae: pd.DataFrame, adsl: pd.DataFrame, level: float = 0.95
) -> pd.DataFrame:
    """Participants with any TEAE, any SAE, related events, grade >= 3 and grade 5 events."""
    te, n = treatment_emergent(adae), at_risk(adsl)
    selections: list[tuple[str, Callable[[pd.DataFrame], pd.Series]]] = [
        ("Any adverse event", lambda d: pd.Series(True, index=d.index)),
        ("Any serious adverse event (SAE)", lambda d: d["AESER"] == "Y"),
        ("Any related adverse event", lambda d: d["AERELGR1"] == RELATED),
        ("Any related SAE", lambda d: (d["AESER"] == "Y") & (d["AERELGR1"] == RELATED)),
        ("Any CTCAE grade >= 3 adverse event", lambda d: d["ATOXGRN"] >= GRADE_SEVERE),
        ("Any fatal adverse event (grade 5)", lambda d: d["ATOXGRN"] == GRADE_DEATH),
    ]
    return _table([_row(label, te[pick(te)], n, level) for label, pick in selections])


def compute_ae_by_grade(
    adae: pd.DataFrame, adsl: pd.DataFrame, serious_only: bool = False, level: float = 0.95
) -> pd.DataFrame:
    """Participants by worst CTCAE grade (each counted once) and events by grade."""
    te, n = treatment_emergent(adae), at_risk(adsl)
    if serious_only:
        te = te[te["AESER"] == "Y"]
    worst = te.groupby("USUBJID")["ATOXGRN"].max()
    rows = []
    for grade, label in CTCAE_GRADES.items():
        row = _row(label, te[te["USUBJID"].isin(worst.index[worst == grade])], n, level)
        row["n_events"] = int((te["ATOXGRN"] == grade).sum())
        rows.append(row)
    return _table(rows)


def compute_ae_by_seriousness(
    adae: pd.DataFrame, adsl: pd.DataFrame, level: float = 0.95
) -> pd.DataFrame:
    """Serious events by ICH E2A criterion (an event may meet several criteria)."""
    te, n = treatment_emergent(adae), at_risk(adsl)
    serious = te[te["AESER"] == "Y"]
    return _table(
        [
            _row(label, serious[serious[flag] == "Y"], n, level)
            for _, flag, label in SERIOUSNESS_CRITERIA
        ]
    )


def compute_ae_by_relatedness(
    adae: pd.DataFrame, adsl: pd.DataFrame, level: float = 0.95
) -> pd.DataFrame:
    """All events and serious events, by the investigator's causality (grouped)."""
    te, n = treatment_emergent(adae), at_risk(adsl)
    rows = []
    for subset, events in (("All AEs", te), ("SAEs", te[te["AESER"] == "Y"])):
        for group in (RELATED, NOT_RELATED):
            rows.append(
                _row(f"{subset}: {group.lower()}", events[events["AERELGR1"] == group], n, level)
            )
    return _table(rows)


def compute_ae_by_term(adae: pd.DataFrame, adsl: pd.DataFrame, serious: bool) -> pd.DataFrame:
    """Per preferred term: events, participants affected, participants at risk."""
    te, n = treatment_emergent(adae), at_risk(adsl)
    events = te[(te["AESER"] == "Y") == serious]
    grouped = events.groupby("AEDECOD")
    table = pd.DataFrame(
        {
            "term": list(grouped.groups),
            "n_events": grouped.size().to_numpy(),
            "n_subjects": grouped["USUBJID"].nunique().to_numpy(),
        }
    )
    table["n_at_risk"] = n
    return table.sort_values(["n_subjects", "term"], ascending=[False, True], ignore_index=True)


def list_saes(adae: pd.DataFrame) -> pd.DataFrame:
    """Listing of every serious adverse event (treatment-emergent or not), by participant."""
    serious = adae[adae["AESER"] == "Y"].sort_values(["USUBJID", "ASTDT"])
    criteria = (
        serious.apply(
            lambda row: ", ".join(
                label for _, flag, label in SERIOUSNESS_CRITERIA if row[flag] == "Y"
            ),
            axis=1,
        )
        if len(serious)
        else pd.Series([], dtype=object)
    )
    return pd.DataFrame(
        {
            "Participant": serious["USUBJID"],
            "AE id": serious["AESPID"],
            "Term": serious["AETERM"],
            "Onset": serious["ASTDT"].dt.strftime("%Y-%m-%d"),
            "Study day": serious["ASTDY"].astype("Int64"),
            "Resolved": serious["AENDT"].dt.strftime("%Y-%m-%d").fillna("—"),
            "Grade": serious["ATOXGRN"],
            "Seriousness criteria": criteria,
            "Causality": serious["AEREL"],
            "Outcome": serious["AEOUT"].fillna("—"),
            "Action": serious["AEACN"].fillna("—"),
            "Treatment-emergent": serious["TRTEMFL"],
        }
    ).reset_index(drop=True)

"""The analysis datasets (ADSL, ADEFF, ADAE) built once from the source frames.

The statistics, the figures, the HTML/PDF report, the registry-results JSON and the ADaM export
all read these datasets, so they cannot disagree with one another.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from trialdesk.analysis.adae import derive_adae, seriousness_inconsistencies
from trialdesk.analysis.adeff import DerivationIssue, derive_adeff
from trialdesk.analysis.adlb import ADLB_COLUMNS, derive_adlb
from trialdesk.analysis.adsl import derive_adsl, derive_vars_baseline
from trialdesk.analysis.params import PARAMS
from trialdesk.analysis.sources import SourceFrames
from trialdesk.protocol import Protocol


@dataclass(frozen=True)
class AnalysisDatasets:
    """ADSL, ADEFF and ADAE, plus what the source frames themselves hold for the flow diagram.

    Attributes:
        adsl: one row per enrolled participant (`trialdesk.analysis.adsl`).
        adeff: one row per participant, parameter and visit (`trialdesk.analysis.adeff`).
        adae: one row per adverse event (`trialdesk.analysis.adae`).
        itt: the ITT glucose samples (for the ITT curve figure), with USUBJID/VISIT columns.
        screening: the screening frame (for the participant flow).
        issues: values that could not be derived and data-quality messages, for the report.
        missing: values recorded as missing (`derive_missing`): never analysed, counted.
        adlb: the safety laboratory values and eGFR (`trialdesk.analysis.adlb`): listed.
    """

    adsl: pd.DataFrame
    adeff: pd.DataFrame
    adae: pd.DataFrame
    itt: pd.DataFrame
    screening: pd.DataFrame
    issues: list[str] = field(default_factory=list)
    missing: pd.DataFrame = field(default_factory=lambda: derive_missing(None, None))
    adlb: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ADLB_COLUMNS))


MISSING_COLUMNS = ["USUBJID", "PARAMCD", "VISIT", "AVISIT", "ADT", "MISSCD", "MISSREAS", "ITTFL"]


def derive_missing(frames: SourceFrames | None, protocol: Protocol | None) -> pd.DataFrame:
    """One row per value recorded as missing of an analysis parameter measured in the study:
    its missing-data code (MISSCD) and reason (MISSREAS); AVISIT empty at unscheduled visits.

    These rows carry no AVAL and enter no statistic; the report counts them per parameter and
    visit (ICH E9 section 5.3 and the estimand addendum E9(R1): missing data are reported).
    """
    if frames is None or protocol is None or frames.missing.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in MISSING_COLUMNS})
    by_element = {p.element: p.paramcd for p in PARAMS if p.source in ("measurements", "dosing")}
    by_element["itt_glucose"] = "KITT"  # an ITT not done leaves its KITT missing
    by_element["kitt"] = "KITT"  # so do samples not taken, when too few remain
    schedule = {v.code: v.name for v in protocol.schedule}
    m = frames.missing[frames.missing["element"].isin(by_element)]
    enrolled = set(frames.subjects["usubjid"])
    return pd.DataFrame(
        {
            "USUBJID": m["usubjid"],
            "PARAMCD": m["element"].map(by_element),
            "VISIT": m["visit"],
            "AVISIT": m["visit"].map(schedule),
            "ADT": m["date"],
            "MISSCD": m["code"],
            "MISSREAS": m["reason"],
            "ITTFL": m["usubjid"].map(lambda u: "Y" if u in enrolled else "N"),
        },
        columns=MISSING_COLUMNS,
    ).reset_index(drop=True)


def _diabetes_duration(frames: SourceFrames, protocol: Protocol) -> pd.Series:
    pre = {v.code for v in protocol.schedule if v.day <= 0}
    m = frames.measurements
    rows = m[(m["element"] == "diabetes_duration") & m["visit"].isin(pre)].sort_values("date")
    return rows.drop_duplicates("usubjid", keep="last").set_index("usubjid")["value"]


def _describe(issue: DerivationIssue) -> str:
    return f"{issue.usubjid} {issue.paramcd} at {issue.visit}: {issue.reason}"


def derive_datasets(frames: SourceFrames, protocol: Protocol) -> AnalysisDatasets:
    """Build ADSL, ADEFF and ADAE from validated source frames for `protocol`."""
    adsl = derive_adsl(frames, protocol)
    adeff, derivation_issues = derive_adeff(frames, protocol, adsl)
    adsl = derive_vars_baseline(adsl, adeff, _diabetes_duration(frames, protocol))
    adae = derive_adae(frames, protocol, adsl)
    itt = frames.itt.rename(
        columns={
            "usubjid": "USUBJID",
            "visit": "VISIT",
            "minute": "MINUTE",
            "glucose_mmol_l": "GLUCOSE",
            "date": "ADT",
        }
    )
    issues = [_describe(i) for i in derivation_issues] + seriousness_inconsistencies(adae)
    return AnalysisDatasets(
        adsl=adsl,
        adeff=adeff,
        adae=adae,
        itt=itt,
        screening=frames.screening,
        issues=issues,
        missing=derive_missing(frames, protocol),
        adlb=derive_adlb(frames, protocol),
    )

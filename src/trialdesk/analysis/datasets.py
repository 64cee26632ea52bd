"""The analysis datasets (ADSL, ADEFF, ADAE) built once from the source frames.

The statistics, the figures, the HTML/PDF report, the registry-results JSON and the ADaM export
all read these datasets, so they cannot disagree with one another.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from trialdesk.analysis.adae import derive_adae, seriousness_inconsistencies
from trialdesk.analysis.adeff import DerivationIssue, derive_adeff
from trialdesk.analysis.adsl import derive_adsl, derive_vars_baseline
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
    """

    adsl: pd.DataFrame
    adeff: pd.DataFrame
    adae: pd.DataFrame
    itt: pd.DataFrame
    screening: pd.DataFrame
    issues: list[str] = field(default_factory=list)


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
        adsl=adsl, adeff=adeff, adae=adae, itt=itt, screening=frames.screening, issues=issues
    )

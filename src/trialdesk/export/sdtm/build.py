"""All SDTM datasets of a study: trial design from the protocol, subject data from the sources."""

from __future__ import annotations

import pandas as pd

from trialdesk.export.sdtm.events import adverse_events, exposure, medications
from trialdesk.export.sdtm.findings import laboratory, vital_signs
from trialdesk.export.sdtm.history import medical_history
from trialdesk.export.sdtm.sources import SdtmSources
from trialdesk.export.sdtm.subjects import (
    demographics,
    disposition,
    first_consents,
    inclusion_exclusion,
    last_dates,
    subject_visits,
)
from trialdesk.export.sdtm.supplemental import supplemental_demographics, supplemental_exposure
from trialdesk.export.sdtm.trial_design import DataCutoff, trial_design
from trialdesk.protocol import Protocol


def sdtm_datasets(protocol: Protocol, src: SdtmSources) -> dict[str, pd.DataFrame]:
    """TS TA TE TV TI DM SUPPDM IE MH DS EX SUPPEX CM LB VS AE SV, each with exactly its spec's
    columns."""
    consents = first_consents(src)
    start = min(consents.values()) if consents else None
    last = last_dates(src)
    cutoff = max(last.values()) if last else None
    locked = src.data_cut if src.data_cut and src.data_cut.locked and src.data_cut.at else None
    ongoing = (src.frames.subjects["status"] == "ongoing").any()
    datasets = trial_design(
        protocol,
        study_start=start,
        actual_subjects=len(src.frames.subjects),
        versions=src.protocol_versions,
        simulated=src.simulated,
        study_end=None if ongoing or src.frames.subjects.empty else cutoff,
        data_cutoff=DataCutoff(locked.at.date(), locked.description)
        if locked and locked.at
        else DataCutoff(cutoff),
    )
    ex = exposure(protocol, src)
    datasets.update(
        {
            "DM": demographics(protocol, src),
            "SUPPDM": supplemental_demographics(protocol, src),
            "IE": inclusion_exclusion(protocol, src),
            "MH": medical_history(protocol, src),
            "DS": disposition(protocol, src),
            "EX": ex,
            "SUPPEX": supplemental_exposure(protocol, src, ex),
            "CM": medications(protocol, src),
            "LB": laboratory(protocol, src),
            "VS": vital_signs(protocol, src),
            "AE": adverse_events(protocol, src),
            "SV": subject_visits(protocol, src),
        }
    )
    return datasets

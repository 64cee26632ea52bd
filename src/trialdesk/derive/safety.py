"""ICH E2A seriousness criteria and the recorded terms that name them (pure).

Shared by the analysis datasets (ADAE flags) and the exports (SDTM AE, FHIR AdverseEvent), so
that both read a recorded term the same way. Source: ICH E2A, "Clinical Safety Data
Management: Definitions and Standards for Expedited Reporting" (CPMP/ICH/377/95), section
II.B; flag names as in SDTMIG v3.4 AE (AESDTH … AESMIE).
"""

from __future__ import annotations

import re

#: ICH E2A seriousness criteria: (code used in source frames, SDTM flag, label).
SERIOUSNESS_CRITERIA: tuple[tuple[str, str, str], ...] = (
    ("death", "AESDTH", "Results in death"),
    ("life_threatening", "AESLIFE", "Is life-threatening"),
    ("hospitalisation", "AESHOSP", "Requires or prolongs inpatient hospitalisation"),
    ("disability", "AESDISAB", "Persistent or significant disability/incapacity"),
    ("congenital_anomaly", "AESCONG", "Congenital anomaly/birth defect"),
    ("important_medical_event", "AESMIE", "Other important medical event"),
)

_SERIOUSNESS_SYNONYMS: dict[str, str] = {
    "fatal": "death",
    "results_in_death": "death",
    "lifethreatening": "life_threatening",
    "hospitalization": "hospitalisation",
    "hospitalisation_or_prolongation": "hospitalisation",
    "hospitalization_or_prolongation": "hospitalisation",
    "inpatient_hospitalisation": "hospitalisation",
    "inpatient_hospitalization": "hospitalisation",
    "persistent_disability": "disability",
    "disability_incapacity": "disability",
    "incapacity": "disability",
    "birth_defect": "congenital_anomaly",
    "congenital_anomaly_birth_defect": "congenital_anomaly",
    "medically_important": "important_medical_event",
    "other_medically_important": "important_medical_event",
    "other_important_medical_event": "important_medical_event",
}
for _code, _flag, _ in SERIOUSNESS_CRITERIA:
    _SERIOUSNESS_SYNONYMS[_code] = _code
    _SERIOUSNESS_SYNONYMS[_flag.lower()] = _code


def term_key(text: str) -> str:
    """A recorded term folded for lookup: lower case, runs of other characters as one "_"."""
    return re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_")


def compute_seriousness_code(text: str) -> str | None:
    """The ICH E2A criterion code for a recorded term (e.g. "Hospitalization" -> hospitalisation).

    >>> compute_seriousness_code("AESHOSP"), compute_seriousness_code("life-threatening")
    ('hospitalisation', 'life_threatening')
    """
    return _SERIOUSNESS_SYNONYMS.get(term_key(text))

"""A simulated trial as the analysis source frames (docs/architecture.md, "Source frames").

`trial_frames(trial)` gives the six pandas DataFrames with exactly the contract's columns, so
the analysis can be tested on simulated data without a database; `source_frames(trial)` wraps
them in `trialdesk.analysis.sources.SourceFrames`, which validates them.

Conventions (the same the study database export follows):

* ``measurements`` holds the recorded quantities of every visit that took place, in the
  catalogue's canonical unit (``value``/``unit``) and as entered (``value_as_entered`` with the
  unit's reporting decimals, ``unit_as_entered``). Insulin dose and OGLD DDDs are in ``dosing``,
  ITT samples in ``itt``; derived values (BMI, KITT, HOMA-IR) are left to the analysis.
* ``visit_day`` is the actual day relative to the baseline visit (negative at screening).
* ``subjects.age`` is the age in completed years at enrolment; ``height_cm`` the screening
  height.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from trialdesk.catalogue import default_catalogue
from trialdesk.derive import compute_age
from trialdesk.simulate.followup import Measurement, Participant
from trialdesk.simulate.trial import VirtualTrial
from trialdesk.units.convert import quantity, reporting_decimals

if TYPE_CHECKING:
    from trialdesk.analysis.sources import SourceFrames

_COLUMNS: dict[str, tuple[str, ...]] = {
    "screening": ("candidate_id", "screened_on", "status", "failed", "enrolled", "usubjid"),
    "subjects": (
        "usubjid", "site", "sex", "birth_date", "age", "height_cm", "enrolled_on",
        "transplanted_on", "status", "end_on", "end_reason",
    ),
    "measurements": (
        "usubjid", "visit", "visit_day", "date", "element", "value", "unit", "value_as_entered",
        "unit_as_entered",
    ),
    "itt": ("usubjid", "visit", "date", "minute", "glucose_mmol_l"),
    "dosing": (
        "usubjid", "visit", "visit_day", "date", "insulin_u_per_day", "ogld_ddd", "weight_kg",
    ),
    "adverse_events": (
        "usubjid", "ae_id", "term", "onset", "resolved", "grade", "serious", "seriousness",
        "related", "outcome", "action",
    ),
}  # fmt: skip


def entered_text(measurement: Measurement) -> str:
    """The value as a laboratory prints it, e.g. ``126`` mg/dL or ``7.0`` mmol/L."""
    decimals = reporting_decimals(quantity(1.0, measurement.unit).units)
    if decimals is None:
        return f"{measurement.value:g}"
    return f"{measurement.value:.{decimals}f}"


def _frame(name: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(_COLUMNS[name]))


def _screening_rows(trial: VirtualTrial) -> list[dict[str, Any]]:
    return [
        {
            "candidate_id": s.candidate.candidate_id,
            "screened_on": s.candidate.screening_date,
            "status": s.result.status.value,
            "failed": [c.criterion.id for c in s.result.failed],
            "enrolled": s.enrolled,
            "usubjid": s.usubjid,
        }
        for s in trial.screening
    ]


def _subject_row(p: Participant) -> dict[str, Any]:
    profile = p.candidate.profile
    return {
        "usubjid": p.usubjid,
        "site": p.site,
        "sex": profile.sex,
        "birth_date": profile.birth_date,
        "age": float(compute_age(profile.birth_date, p.enrolled_on)),
        "height_cm": round(profile.screening_values["height"], 1),
        "enrolled_on": p.enrolled_on,
        "transplanted_on": p.transplanted_on,
        "status": p.status,
        "end_on": p.end_on,
        "end_reason": p.end_reason,
    }


def _visit_rows(p: Participant) -> dict[str, list[dict[str, Any]]]:
    catalogue = default_catalogue()
    rows: dict[str, list[dict[str, Any]]] = {"measurements": [], "itt": [], "dosing": []}
    for v in p.done_visits:
        where = {"usubjid": p.usubjid, "visit": v.code, "visit_day": v.day, "date": v.visit_date}
        for m in v.measurements:
            rows["measurements"].append(
                {
                    **where,
                    "element": m.element,
                    "value": m.canonical_value,
                    "unit": catalogue[m.element].canonical_unit,
                    "value_as_entered": entered_text(m),
                    "unit_as_entered": m.unit,
                }
            )
        if v.itt is not None:
            for minute, glucose in sorted(v.itt.samples_mmol_l().items()):
                rows["itt"].append(
                    {
                        "usubjid": p.usubjid,
                        "visit": v.code,
                        "date": v.visit_date,
                        "minute": minute,
                        "glucose_mmol_l": glucose,
                    }
                )
        if v.dosing is not None:
            weight = v.value("weight")
            rows["dosing"].append(
                {
                    **where,
                    "insulin_u_per_day": v.dosing.insulin_u_per_day,
                    "ogld_ddd": v.dosing.ogld_ddd,
                    "weight_kg": float("nan") if weight is None else weight,
                }
            )
    return rows


def _event_rows(p: Participant) -> list[dict[str, Any]]:
    return [
        {
            "usubjid": p.usubjid,
            "ae_id": e.ae_id,
            "term": e.term,
            "onset": e.onset,
            "resolved": e.resolved,
            "grade": e.grade,
            "serious": e.serious,
            "seriousness": list(e.seriousness),
            "related": e.related,
            "outcome": e.outcome,
            "action": e.action,
        }
        for e in p.adverse_events
    ]


def trial_frames(trial: VirtualTrial) -> dict[str, pd.DataFrame]:
    """The six source frames of a simulated trial, keyed by frame name."""
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in _COLUMNS}
    rows["screening"] = _screening_rows(trial)
    for p in trial.participants:
        rows["subjects"].append(_subject_row(p))
        for name, visit_rows in _visit_rows(p).items():
            rows[name] += visit_rows
        rows["adverse_events"] += _event_rows(p)
    return {name: _frame(name, frame_rows) for name, frame_rows in rows.items()}


def source_frames(trial: VirtualTrial) -> SourceFrames:
    """The simulated trial as validated `SourceFrames` (raises `SourceFrameError` if broken)."""
    from trialdesk.analysis.sources import SourceFrames

    return SourceFrames(**trial_frames(trial))

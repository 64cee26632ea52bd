"""Dose in effect on a date, from a regimen recorded as dated dose records (start, stop, dose).

Sites record a glucose-lowering drug when its dose changes, not at every visit: a record says
"from this start date the daily dose is X" and stays in effect until the next record of the
same drug supersedes it, or until its own stop date (the last day taken, inclusive, as SDTM
CMENDTC / EXENDTC). A record with a daily dose of 0 stops the drug; a later record restarts it.
The dose in effect at a visit is therefore *not* the sum of the records dated at that visit
(which is 0 at any visit where nothing changed): it is, for each drug, the dose of the latest
record started on or before the visit date. This is the "last dose before the analysis date"
of pharmaverse admiral's ``derive_vars_last_dose()`` / ``derive_vars_joined()``, taken per drug.

Records of the same drug with the same start date are ordered by `DoseRecord.order` (the
database id: the later entry is the one the site meant), so a correction entered the same day
wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from trialdesk.derive import _checks
from trialdesk.derive.errors import DerivationError


@dataclass(frozen=True, slots=True)
class DoseRecord:
    """One dated dose record of one drug.

    Attributes:
        drug: the drug's name (case and outer spaces ignored), e.g. ``metformin``, ``insulin``.
        start: first day of this daily dose.
        daily_dose: the daily dose from `start`, in the caller's unit (U/day, mg/day or WHO
            DDDs/day; the same unit for every record of a drug); 0 = stopped.
        stop: last day taken (inclusive), or None while ongoing.
        order: tie-breaker between records of a drug with the same start (entry order).
    """

    drug: str
    start: date
    daily_dose: float
    stop: date | None = None
    order: int = 0


def _key(drug: object) -> str:
    if not isinstance(drug, str) or not drug.strip():
        raise DerivationError("drug", drug, "a drug name (non-empty str)")
    return drug.strip().casefold()


def _checked(record: DoseRecord) -> DoseRecord:
    _checks.non_negative(f"daily_dose of {record.drug}", record.daily_dose, "daily dose")
    if record.stop is not None and record.stop < record.start:
        raise DerivationError(
            f"stop of {record.drug}", record.stop, f"a stop on or after the start {record.start}"
        )
    return record


def compute_dose_in_effect(records: Iterable[DoseRecord], drug: str, on: date) -> float | None:
    """Daily dose of `drug` in effect on `on`: the latest record started on or before that day.

    Returns the record's daily dose; 0.0 when that record's stop date is before `on` (stopped);
    None when no record of the drug started on or before `on` (unknown: nothing recorded yet).
    Records of other drugs are ignored.

    Permitted values: each dose finite and >= 0 (0 = stopped); a stop date not before its start.
    Otherwise `DerivationError` naming the drug.

    Source: [@ADaMIG] (an exposure record holds a dose from its start to its end date, as
    SDTM EX/CM and ADaM ADEX model it); the registry record's outcome "insulin and oral
    glucose-lowering drug dose" over one year is the dose being taken at each visit.

    >>> from datetime import date
    >>> regimen = [
    ...     DoseRecord("metformin", date(2026, 1, 5), 1000.0),
    ...     DoseRecord("metformin", date(2026, 3, 1), 500.0),
    ... ]
    >>> compute_dose_in_effect(regimen, "metformin", date(2026, 2, 1))
    1000.0
    >>> compute_dose_in_effect(regimen, "metformin", date(2026, 6, 1))
    500.0
    >>> compute_dose_in_effect(regimen, "metformin", date(2025, 12, 1)) is None
    True
    """
    wanted = _key(drug)
    started = [_checked(r) for r in records if _key(r.drug) == wanted and r.start <= on]
    if not started:
        return None
    latest = max(started, key=lambda r: (r.start, r.order))
    if latest.stop is not None and latest.stop < on:
        return 0.0
    return float(latest.daily_dose)


def compute_total_dose_in_effect(records: Iterable[DoseRecord], on: date) -> float:
    """Sum over drugs of the daily dose in effect on `on` (`compute_dose_in_effect`).

    A drug not yet started, or stopped, contributes 0: the total of oral glucose-lowering drugs
    in WHO DDDs/day of a participant who takes none is 0.0. Give every record in the same unit
    (e.g. each drug's dose already divided by its DDD).

    Permitted values: as `compute_dose_in_effect`; otherwise `DerivationError` naming the drug.

    Source: [@ADaMIG] (doses in effect summed per participant and day, as ADEX totals them).

    >>> from datetime import date
    >>> regimen = [
    ...     DoseRecord("metformin", date(2026, 1, 5), 1.0),
    ...     DoseRecord("gliclazide", date(2026, 1, 5), 0.5),
    ...     DoseRecord("gliclazide", date(2026, 4, 1), 0.0),
    ... ]
    >>> compute_total_dose_in_effect(regimen, date(2026, 2, 1))
    1.5
    >>> compute_total_dose_in_effect(regimen, date(2026, 5, 1))
    1.0
    """
    regimen = list(records)
    drugs = {_key(r.drug) for r in regimen}
    return sum(compute_dose_in_effect(regimen, drug, on) or 0.0 for drug in sorted(drugs))

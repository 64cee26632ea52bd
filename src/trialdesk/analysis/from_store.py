"""Source frames from the study database (the adapter between `trialdesk.store` and analysis).

Read-only: one consistent snapshot of every live (not voided) clinical row; voided records stay
in the audit trail and out of the analysis. Conventions, shared with the simulator's frames
(`trialdesk.simulate.frames`):

- ``screening``: one row per stored eligibility evaluation; ``candidate_id`` and ``usubjid`` are
  the participant's pseudonymous study id (``usubjid`` only once enrolled); ``failed`` the
  criterion ids of the stored snapshot (`EligibilityResult.to_dict()["failed"]`).
- ``subjects``: enrolled participants; age in completed years at the last screening; height the
  last one measured on or before enrolment; status ``ongoing`` for enrolled participants still
  in follow-up, lost to follow-up counted as ``withdrawn`` with that reason.
- ``measurements``: numeric values of catalogue quantities (canonical value and unit) at live
  visits; derived elements (KITT, HOMA-IR, BMI) are left to the analysis.
- ``visit_day``: days from the participant's baseline visit (the protocol's nominal day when the
  baseline visit has no date).
- ``dosing``: one row per dated visit where the dose is assessed (the protocol's dosing form,
  or any visit with a dose record): the insulin units/day and the sum of the oral drugs' WHO
  DDDs/day *in effect on the visit date* (`trialdesk.derive.regimen`: each drug's latest record
  started on or before that date, 0 for a drug stopped or never taken), since sites record a
  dose when it changes; no row before the first insulin record or where the dose was recorded
  as missing; the weight measured at that visit.
- ``adverse_events``: ``ae_id`` is ``AE<database id>``; seriousness as ICH E2A criterion codes.
- ``missing``: values recorded as missing (missing-data code and reason) at live visits.

`StoreSnapshot` is the one reader of the clinical tables: the exports
(`trialdesk.export.from_store`) build their SDTM/FHIR sources from the same snapshot with
`frames_from_snapshot` and take the few raw values they need (end-reason codes, consents,
transplantation details, categorical results) from its rows instead of reading the tables again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any, TypeVar
from typing import Protocol as Structural

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.analysis.errors import AnalysisError
from trialdesk.analysis.sources import FRAME_COLUMNS, SourceFrames
from trialdesk.catalogue import ElementKind
from trialdesk.catalogue.missing import describe
from trialdesk.derive import (
    DerivationError,
    DoseRecord,
    compute_age,
    compute_dose_in_effect,
    compute_kitt,
    compute_total_dose_in_effect,
)
from trialdesk.protocol import Protocol, builtin_protocol, catalogue_for
from trialdesk.store import make_engine, make_session_factory
from trialdesk.store.base import ClinicalRecord
from trialdesk.store.models import (
    AdverseEvent,
    Consent,
    Enrollment,
    InsulinDose,
    IttTest,
    Measurement,
    OgldDose,
    Participant,
    ParticipantIdentity,
    Screening,
    ScreeningDecline,
    Transplantation,
    Visit,
)
from trialdesk.store.provenance import simulated_description

#: The drug name insulin records carry in the regimen (no oral drug has that name).
INSULIN = "insulin"

_STATUS = {
    "enrolled": "ongoing",
    "completed": "completed",
    "withdrawn": "withdrawn",
    "died": "died",
    "lost_to_follow_up": "withdrawn",
}

#: StudyEndReason values as the disposition reads in tables (CDISC NCOMPLT wording).
END_REASONS = {
    "completed": "Completed",
    "withdrawal_by_subject": "Withdrawal by subject",
    "death": "Death",
    "lost_to_follow_up": "Lost to follow-up",
    "adverse_event": "Adverse event",
    "physician_decision": "Physician decision",
    "screen_failure": "Screen failure",
}

#: AdverseEvent boolean columns -> ICH E2A criterion codes (`trialdesk.analysis.adae`).
SERIOUSNESS = (
    ("results_in_death", "death"),
    ("life_threatening", "life_threatening"),
    ("hospitalisation", "hospitalisation"),
    ("disability", "disability"),
    ("congenital_anomaly", "congenital_anomaly"),
    ("important_medical_event", "important_medical_event"),
)


class _ParticipantRow(Structural):
    @property
    def participant_id(self) -> int: ...


R = TypeVar("R", bound=ClinicalRecord)
P = TypeVar("P", bound=_ParticipantRow)


def _live(session: Session, model: type[R]) -> list[R]:
    return list(session.scalars(select(model).where(model.voided.is_(False))))


def _by_participant(rows: Iterable[P]) -> dict[int, list[P]]:
    grouped: dict[int, list[P]] = defaultdict(list)
    for row in rows:
        grouped[row.participant_id].append(row)
    return dict(grouped)


class StoreSnapshot:
    """Every live (not voided) clinical row, read once; per-participant rows are keyed by the
    participant's database id, participants are in study id order."""

    def __init__(self, session: Session) -> None:
        self.participants = sorted(_live(session, Participant), key=lambda p: p.study_id)
        self.identities = {i.participant_id: i for i in _live(session, ParticipantIdentity)}
        self.visits = {v.id: v for v in _live(session, Visit)}
        self.consents = _by_participant(_live(session, Consent))
        self.screenings = _by_participant(_live(session, Screening))
        self.enrollments = _by_participant(_live(session, Enrollment))
        self.transplants = _by_participant(_live(session, Transplantation))
        self.measurements = _by_participant(_live(session, Measurement))
        self.itt = _by_participant(_live(session, IttTest))
        self.insulin = _by_participant(_live(session, InsulinDose))
        self.ogld = _by_participant(_live(session, OgldDose))
        self.aes = _by_participant(_live(session, AdverseEvent))
        # Candidates who declined or were not consented: screening-log rows, not participants.
        self.declines = _live(session, ScreeningDecline)

    def visit(self, visit_id: int | None) -> Visit | None:
        """The live visit `visit_id` (None when there is none or it was voided)."""
        return self.visits.get(visit_id) if visit_id is not None else None

    def visit_code(self, visit_id: int | None) -> str | None:
        visit = self.visit(visit_id)
        return visit.code if visit else None

    def enrolled(self) -> list[Participant]:
        """Participants with a live enrolment: the rows of the ``subjects`` frame."""
        return [p for p in self.participants if self.enrollments.get(p.id)]


class _Days:
    """Days from a participant's baseline visit (nominal schedule day as a fallback)."""

    def __init__(self, protocol: Protocol, snap: StoreSnapshot) -> None:
        self.nominal = {v.code: v.day for v in protocol.schedule}
        baseline = max((v for v in protocol.schedule if v.day <= 0), key=lambda v: v.day)
        self.baseline_dates = {
            v.participant_id: v.visit_date
            for v in snap.visits.values()
            if v.code == baseline.code and v.visit_date is not None
        }
        self.baseline_day = baseline.day

    def of(self, participant_id: int, visit_code: str, when: date | None) -> int:
        start = self.baseline_dates.get(participant_id)
        if start is not None and when is not None:
            return (when - start).days + self.baseline_day
        return self.nominal.get(visit_code, 0)


def _screening_rows(snap: StoreSnapshot) -> list[dict[str, Any]]:
    rows = []
    for p in snap.participants:
        enrolled = bool(snap.enrollments.get(p.id))
        for s in sorted(snap.screenings.get(p.id, []), key=lambda s: s.screened_on):
            rows.append(
                {
                    "candidate_id": p.study_id,
                    "screened_on": s.screened_on,
                    "status": s.status.value,
                    "failed": [str(c) for c in (s.result or {}).get("failed", [])],
                    "enrolled": enrolled,
                    "usubjid": p.study_id if enrolled else None,
                }
            )
    for d in snap.declines:
        rows.append(
            {
                "candidate_id": f"declined-{d.id}",
                "screened_on": d.approached_on,
                "status": d.outcome.value,
                "failed": [],
                "enrolled": False,
                "usubjid": None,
            }
        )
    return rows


def _height(snap: StoreSnapshot, participant_id: int, by: date) -> float | None:
    heights = sorted(
        (m for m in snap.measurements.get(participant_id, []) if m.element == "height"),
        key=lambda m: m.collected_on,
    )
    known = [(m.collected_on, m.value) for m in heights if m.value is not None]
    chosen = [value for on, value in known if on <= by] or [value for _, value in known]
    return float(chosen[-1]) if chosen else None


def _subject_row(snap: StoreSnapshot, p: Participant) -> dict[str, Any]:
    enrolment = min(snap.enrollments[p.id], key=lambda e: e.enrolled_on)
    transplant = min(snap.transplants.get(p.id, []), key=lambda t: t.performed_on, default=None)
    identity = snap.identities.get(p.id)
    birth = identity.date_of_birth if identity else None
    screened = max((s.screened_on for s in snap.screenings.get(p.id, [])), default=None)
    if p.sex not in ("F", "M"):
        raise AnalysisError(f"participant {p.study_id}: sex {p.sex!r} is not recorded as F or M")
    status = _STATUS.get(p.status.value)
    if status is None:
        raise AnalysisError(
            f"participant {p.study_id} is enrolled but has status {p.status.value!r}"
        )
    return {
        "usubjid": p.study_id,
        "site": p.site.code,
        "sex": p.sex,
        "birth_date": birth,
        "age": float(compute_age(birth, screened)) if birth and screened else None,
        "height_cm": _height(snap, p.id, enrolment.enrolled_on),
        "enrolled_on": enrolment.enrolled_on,
        "transplanted_on": transplant.performed_on if transplant else None,
        "status": status,
        "end_on": p.ended_on,
        "end_reason": END_REASONS.get(p.end_reason.value) if p.end_reason else None,
    }


def _measurement_rows(
    snap: StoreSnapshot, p: Participant, protocol: Protocol, days: _Days
) -> list[dict[str, Any]]:
    catalogue = catalogue_for(protocol)
    rows = []
    for m in snap.measurements.get(p.id, []):
        visit = snap.visit(m.visit_id)
        if visit is None or m.value is None or m.element not in catalogue:
            continue
        element = catalogue[m.element]
        if element.kind is not ElementKind.QUANTITY or element.is_derived:
            continue
        rows.append(
            {
                "usubjid": p.study_id,
                "visit": visit.code,
                "visit_day": days.of(p.id, visit.code, m.collected_on),
                "date": m.collected_on,
                "element": m.element,
                "value": float(m.value),
                "unit": element.canonical_unit,
                "value_as_entered": m.value_as_entered,
                "unit_as_entered": m.unit_as_entered,
            }
        )
    return rows


KITT_ELEMENT = "kitt"


def _missing_rows(snap: StoreSnapshot, p: Participant, days: _Days) -> list[dict[str, Any]]:
    """Values recorded as missing (a missing-data code and the site's reason) at live visits."""
    rows = []
    for m in snap.measurements.get(p.id, []):
        visit = snap.visit(m.visit_id)
        if visit is None or m.missing_code is None:
            continue
        rows.append(
            {
                "usubjid": p.study_id,
                "visit": visit.code,
                "visit_day": days.of(p.id, visit.code, m.collected_on),
                "date": m.collected_on,
                "element": m.element,
                "code": m.missing_code,
                "reason": m.missing_reason,
            }
        )
    return rows + _kitt_missing_rows(snap, p, days)


def _kitt_missing_rows(snap: StoreSnapshot, p: Participant, days: _Days) -> list[dict[str, Any]]:
    """A KITT that samples not taken leave not computable (fewer than 3 samples between 3 and
    15 min, `trialdesk.derive.itt`) is a missing KITT, counted like any missing value: the code
    of its first sample not taken, and which samples were not taken as the reason."""
    rows = []
    for test in snap.itt.get(p.id, []):
        visit = snap.visit(test.visit_id)
        live = [s for s in test.samples if not s.voided]
        coded = [s for s in live if s.missing_code is not None]
        if visit is None or not coded:
            continue
        pairs = [(s.minute, s.glucose_mmol_l) for s in live if s.glucose_mmol_l is not None]
        try:
            compute_kitt([m for m, _ in pairs], [g for _, g in pairs])
            continue  # computed from the samples that were taken
        except DerivationError:
            pass
        rows.append(
            {
                "usubjid": p.study_id,
                "visit": visit.code,
                "visit_day": days.of(p.id, visit.code, test.performed_on),
                "date": test.performed_on,
                "element": KITT_ELEMENT,
                "code": coded[0].missing_code,
                "reason": "KITT not computed; samples not taken: "
                + ", ".join(
                    f"{s.minute:g} min ({describe(s.missing_code or '', s.missing_reason)})"
                    for s in coded
                ),
            }
        )
    return rows


def _itt_rows(snap: StoreSnapshot, p: Participant) -> list[dict[str, Any]]:
    rows = []
    for test in snap.itt.get(p.id, []):
        visit = snap.visit(test.visit_id)
        if visit is None:
            continue
        rows += [
            {
                "usubjid": p.study_id,
                "visit": visit.code,
                "date": test.performed_on,
                "minute": float(s.minute),
                "glucose_mmol_l": float(s.glucose_mmol_l),
            }
            for s in test.samples
            if not s.voided and s.glucose_mmol_l is not None  # a sample not taken: no glucose
        ]
    return rows


#: The catalogue elements of the dosing form (recorded as missing with a code at a visit).
_DOSE_ELEMENTS = ("insulin_daily_dose", "ogld_ddd")


def _regimens(snap: StoreSnapshot, p: Participant) -> tuple[list[DoseRecord], list[DoseRecord]]:
    """The participant's live dose records as two regimens (kept apart, so that no oral drug
    name can mix with insulin): insulin in U/day, each oral drug in WHO DDDs/day (its recorded
    ``ddd``), in entry order for records sharing a start date."""
    insulin = [
        DoseRecord(INSULIN, d.start_date, float(d.total_units_per_day), order=d.id)
        for d in snap.insulin.get(p.id, [])
    ]
    oral = [
        DoseRecord(o.drug, o.start_date, float(o.ddd), order=o.id) for o in snap.ogld.get(p.id, [])
    ]
    return insulin, oral


def _dosing_visits(snap: StoreSnapshot, p: Participant, protocol: Protocol) -> list[Visit]:
    """Dated live visits where the dose is assessed: a scheduled visit with the dosing form,
    or any visit (unscheduled too) with a dose record; not those where the site recorded the
    dose as missing (a code and reason said it was not collected: not filled from the regimen)."""
    scheduled = {v.code for v in protocol.schedule if "dosing" in v.forms}
    recorded = {d.visit_id for d in snap.insulin.get(p.id, [])}
    recorded |= {o.visit_id for o in snap.ogld.get(p.id, [])}
    not_collected = {
        m.visit_id
        for m in snap.measurements.get(p.id, [])
        if m.element in _DOSE_ELEMENTS and m.missing_code is not None
    }
    visits = [
        v
        for v in snap.visits.values()
        if v.participant_id == p.id
        and v.visit_date is not None
        and (v.code in scheduled or v.id in recorded)
        and v.id not in not_collected
    ]
    return sorted(visits, key=lambda v: (v.visit_date or date.min, v.id))


def _dosing_rows(
    snap: StoreSnapshot, p: Participant, protocol: Protocol, days: _Days
) -> list[dict[str, Any]]:
    """The doses in effect on each dosing visit's date (`compute_dose_in_effect`): sites record
    a dose when it changes, so a visit with no record carries the regimen in force."""
    insulin_regimen, oral = _regimens(snap, p)
    weights = {
        m.visit_id: float(m.value)
        for m in sorted(snap.measurements.get(p.id, []), key=lambda m: m.collected_on)
        if m.element == "weight" and m.value is not None
    }
    rows = []
    for visit in _dosing_visits(snap, p, protocol):
        when = visit.visit_date
        assert when is not None  # _dosing_visits keeps dated visits only
        insulin = compute_dose_in_effect(insulin_regimen, INSULIN, when)
        if insulin is None:  # no insulin record started yet: the dose is unknown
            continue
        rows.append(
            {
                "usubjid": p.study_id,
                "visit": visit.code,
                "visit_day": days.of(p.id, visit.code, when),
                "date": when,
                "insulin_u_per_day": insulin,
                "ogld_ddd": compute_total_dose_in_effect(oral, when),
                "weight_kg": weights.get(visit.id),
            }
        )
    return rows


def _ae_rows(snap: StoreSnapshot, p: Participant) -> list[dict[str, Any]]:
    return [
        {
            "usubjid": p.study_id,
            "ae_id": f"AE{ae.id}",
            "term": ae.term,
            "onset": ae.onset_date,
            "resolved": ae.resolution_date,
            "grade": ae.grade,
            "serious": bool(ae.serious),
            "seriousness": [code for column, code in SERIOUSNESS if getattr(ae, column)],
            "related": ae.relatedness.value,
            "outcome": ae.outcome.value,
            "action": ae.action_taken.value,
        }
        for ae in sorted(snap.aes.get(p.id, []), key=lambda a: (a.onset_date, a.id))
    ]


def _frame(name: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    columns = [c.name for c in FRAME_COLUMNS[name]]
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    return pd.DataFrame(rows, columns=columns)


def frames_from_snapshot(snap: StoreSnapshot, protocol: Protocol) -> SourceFrames:
    """The source frames of the rows in `snap`, validated."""
    days = _Days(protocol, snap)
    parts: dict[str, list[dict[str, Any]]] = {name: [] for name in FRAME_COLUMNS}
    parts["screening"] = _screening_rows(snap)
    for p in snap.enrolled():
        parts["subjects"].append(_subject_row(snap, p))
        parts["measurements"] += _measurement_rows(snap, p, protocol, days)
        parts["itt"] += _itt_rows(snap, p)
        parts["dosing"] += _dosing_rows(snap, p, protocol, days)
        parts["adverse_events"] += _ae_rows(snap, p)
        parts["missing"] += _missing_rows(snap, p, days)
    return SourceFrames(**{name: _frame(name, rows) for name, rows in parts.items()})


def source_frames(session: Session, protocol: Protocol) -> SourceFrames:
    """The six source frames of the study in `session`'s database, validated."""
    return frames_from_snapshot(StoreSnapshot(session), protocol)


@contextmanager
def study_session(url: str | None = None) -> Iterator[Session]:
    """A session on the study database at `url` (default: ``TRIALDESK_DATABASE_URL`` or the
    embedded SQLite file); the engine is disposed afterwards, so no file stays open."""
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def load_source_frames(url: str | None = None, protocol: Protocol | None = None) -> SourceFrames:
    """Open the study database at `url` (default: ``TRIALDESK_DATABASE_URL`` or the embedded
    SQLite file) and read its source frames for `protocol` (default: the built-in one)."""
    with study_session(url) as session:
        return source_frames(session, protocol or builtin_protocol())


def simulated_description_at(url: str | None = None) -> str | None:
    """How the data in the study database at `url` were simulated, or None for real data
    (`trialdesk.store.provenance`)."""
    with study_session(url) as session:
        return simulated_description(session)

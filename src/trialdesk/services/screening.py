"""Screening: the protocol's eligibility criteria evaluated from the data stored for a
participant, and the snapshot of that evaluation.

The raw record handed to `trialdesk.eligibility.Evaluator` is rebuilt from stored data: consent
(``informed_consent``), identity (``date_of_birth``), participant (``sex``), the screening visit's
measurements (value and unit as entered) and ITT samples, and the screening findings — the
yes/no and category answers (medical history, pregnancy, contraception …) that are not
measurements. The stored snapshot (`EligibilityResult.to_dict()`) keeps, per criterion, the
verdict, the reasons and the values used.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.catalogue import ElementKind
from trialdesk.eligibility import (
    CandidateInputError,
    EligibilityResult,
    Evaluator,
    InputError,
    coerce,
)
from trialdesk.services.access import (
    current_consent,
    current_enrollment,
    get_participant,
    live_visit,
    require_data_entry,
)
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.errors import RuleViolation, ValidationProblem
from trialdesk.services.study import current_catalogue, current_protocol
from trialdesk.services.uow import add_record, change_record, service
from trialdesk.services.validate import not_after_today, today
from trialdesk.services.views import EligibilityView, ScreeningView
from trialdesk.services.visits import SCREENING_CODE
from trialdesk.store.enums import ParticipantStatus, ScreeningStatus
from trialdesk.store.models import (
    IttTest,
    Measurement,
    Participant,
    ParticipantIdentity,
    Screening,
)

FINDING_KINDS = (ElementKind.BOOLEAN, ElementKind.CATEGORY, ElementKind.DATE)
# Elements that come from their own records, never from findings.
SOURCED = frozenset({"informed_consent", "date_of_birth", "sex", "screening_date"})
REDACTED = "[redacted]"


def check_findings(findings: Mapping[str, Any]) -> dict[str, Any]:
    """Validate yes/no, category and date answers; returns them JSON-ready."""
    catalogue = current_catalogue()
    clean: dict[str, Any] = {}
    for name, raw in findings.items():
        if name not in catalogue:
            raise ValidationProblem(f"findings.{name}", "unknown data element")
        element = catalogue[name]
        if name in SOURCED:
            raise ValidationProblem(
                f"findings.{name}", "comes from its own record (consent, identity, participant)"
            )
        if element.kind not in FINDING_KINDS or element.is_derived:
            raise ValidationProblem(
                f"findings.{name}",
                f"is a {element.kind.value}: record it as a measurement of the screening visit",
            )
        try:
            value = coerce(element, raw)
        except InputError as exc:
            raise ValidationProblem(f"findings.{name}", exc.reason) from None
        if value is not None:
            clean[name] = value.isoformat() if isinstance(value, date) else value
    return clean


def eligibility_record(
    session: Session, participant: Participant, screened_on: date, findings: Mapping[str, Any]
) -> dict[str, Any]:
    """The raw record the Evaluator takes, rebuilt from stored data (see module docstring)."""
    raw: dict[str, Any] = {"screening_date": screened_on.isoformat()}
    consent = current_consent(session, participant.id)
    if consent is not None:
        withdrawn = consent.withdrawn_on is not None and consent.withdrawn_on <= screened_on
        raw["informed_consent"] = consent.consented_on <= screened_on and not withdrawn
    identity = session.scalars(
        select(ParticipantIdentity).where(ParticipantIdentity.participant_id == participant.id)
    ).first()
    if identity is not None:
        raw["date_of_birth"] = identity.date_of_birth.isoformat()
    if participant.sex:
        raw["sex"] = participant.sex
    visit = live_visit(session, participant.id, SCREENING_CODE)
    if visit is not None:
        raw.update(_screening_measurements(session, visit.id))
    raw.update(findings)
    return raw


def _screening_measurements(session: Session, visit_id: int) -> dict[str, Any]:
    values: dict[str, Any] = {}
    rows = session.scalars(
        select(Measurement)
        .where(Measurement.visit_id == visit_id, Measurement.voided.is_(False))
        .order_by(Measurement.id)
    )
    for row in rows:  # the latest entry of an element wins
        if row.text_value is not None:
            values[row.element] = row.text_value
        else:
            values[row.element] = row.value_as_entered
            values[f"{row.element}_unit"] = row.unit_as_entered
    test = session.scalars(
        select(IttTest)
        .where(IttTest.visit_id == visit_id, IttTest.voided.is_(False))
        .order_by(IttTest.id.desc())
    ).first()
    if test is not None:
        values["itt_glucose"] = [
            [s.minute, s.glucose_as_entered] for s in test.samples if not s.voided
        ]
        values["itt_glucose_unit"] = test.glucose_unit_as_entered
    return values


def _evaluate(participant: Participant, raw: Mapping[str, Any], on: date) -> EligibilityResult:
    try:
        return Evaluator(current_protocol()).evaluate(raw, participant.study_id, on)
    except CandidateInputError as exc:
        first = exc.errors[0]
        raise ValidationProblem(first.field, first.reason) from None


def redact(document: Any, secrets_: list[str]) -> Any:
    """`document` with every occurrence of the given strings (e.g. the date of birth) masked."""
    text = json.dumps(document)
    for secret in secrets_:
        text = text.replace(secret, REDACTED)
    return json.loads(text)


def private_strings(session: Session, actor: Actor, participant: Participant) -> list[str]:
    """Identifying strings to mask for actors who may not read identifying data."""
    if actor.can(Permission.READ_IDENTITY):
        return []
    identity = session.scalars(
        select(ParticipantIdentity).where(ParticipantIdentity.participant_id == participant.id)
    ).first()
    return [identity.date_of_birth.isoformat()] if identity else []


def screening_view(row: Screening, hide: list[str]) -> ScreeningView:
    view = ScreeningView.model_validate(row)
    if hide:
        view.result = redact(view.result, hide)
        view.findings = redact(view.findings, hide)
    return view


@service
def screen_participant(
    session: Session,
    actor: Actor,
    participant_id: int,
    *,
    screened_on: date,
    findings: Mapping[str, Any] | None = None,
) -> ScreeningView:
    """Evaluate the criteria from stored data plus `findings`, and keep the snapshot.

    Measurements (weight, height, glucose, HbA1c …) and the ITT must already be recorded at the
    screening visit; `findings` holds the yes/no and category answers (e.g.
    ``{"t2dm_diagnosis": True, "pregnant": False}``). An ineligible result marks the participant
    a screen failure (a later screening may supersede it).
    """
    participant = get_participant(session, actor, participant_id, Permission.WRITE_CLINICAL)
    not_after_today(screened_on, "screened_on")
    require_data_entry(session, participant, screened_on)
    if current_enrollment(session, participant.id) is not None:
        raise RuleViolation(
            "already_enrolled", f"{participant.study_id} is already enrolled", conflict=True
        )
    clean = check_findings(findings or {})
    raw = eligibility_record(session, participant, screened_on, clean)
    result = _evaluate(participant, raw, screened_on)
    row = Screening(
        participant_id=participant.id,
        screened_on=screened_on,
        protocol_id=result.protocol_id,
        status=ScreeningStatus(result.status.value),
        findings=clean,
        result=result.to_dict(),
    )
    add_record(session, actor, row, participant)
    status = (
        ParticipantStatus.SCREEN_FAILED
        if row.status is ScreeningStatus.INELIGIBLE
        else ParticipantStatus.SCREENING
    )
    change_record(
        session,
        actor,
        participant,
        {"status": status},
        reason=f"screening on {screened_on.isoformat()}: {row.status.value}",
        expected_version=None,
        participant=participant,
    )
    return screening_view(row, private_strings(session, actor, participant))


def latest_screening(session: Session, participant_id: int) -> Screening | None:
    return session.scalars(
        select(Screening)
        .where(Screening.participant_id == participant_id, Screening.voided.is_(False))
        .order_by(Screening.screened_on.desc(), Screening.id.desc())
        .limit(1)
    ).first()


@service
def evaluate_eligibility(
    session: Session,
    actor: Actor,
    participant_id: int,
    *,
    on: date | None = None,
    findings: Mapping[str, Any] | None = None,
) -> EligibilityView:
    """Evaluate eligibility from stored data now (nothing is saved).

    Findings default to those of the latest screening, overridden by `findings`; the date
    defaults to that screening's date (or today).
    """
    participant = get_participant(session, actor, participant_id, Permission.READ_CLINICAL)
    last = latest_screening(session, participant.id)
    merged = dict(last.findings) if last else {}
    merged.update(check_findings(findings or {}))
    moment = on or (last.screened_on if last else today())
    raw = eligibility_record(session, participant, moment, merged)
    result = _evaluate(participant, raw, moment)
    hide = private_strings(session, actor, participant)
    if hide:
        raw = {k: v for k, v in raw.items() if k != "date_of_birth"}
    return EligibilityView(
        participant_id=participant.id,
        study_id=participant.study_id,
        evaluated_on=moment,
        status=ScreeningStatus(result.status.value),
        result=redact(result.to_dict(), hide),
        record=redact(raw, hide),
    )


@service
def list_screenings(
    session: Session, actor: Actor, participant_id: int, *, include_voided: bool = False
) -> list[ScreeningView]:
    participant = get_participant(session, actor, participant_id, Permission.READ_CLINICAL)
    query = select(Screening).where(Screening.participant_id == participant_id)
    if not include_voided:
        query = query.where(Screening.voided.is_(False))
    hide = private_strings(session, actor, participant)
    rows = session.scalars(query.order_by(Screening.screened_on, Screening.id))
    return [screening_view(r, hide) for r in rows]


IGNORED_KEYS = frozenset({"id", "candidate_id", "subject_id"})


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _check_sourced(session: Session, participant: Participant, raw: Mapping[str, Any]) -> None:
    """Values that live in their own records must agree with them (never silently ignored)."""
    identity = session.scalars(
        select(ParticipantIdentity).where(ParticipantIdentity.participant_id == participant.id)
    ).first()
    stored = {
        "sex": participant.sex,
        "date_of_birth": identity.date_of_birth.isoformat() if identity else None,
    }
    for field, value in stored.items():
        given = raw.get(field)
        if not _blank(given) and str(given).strip().upper() != str(value or "").upper():
            raise ValidationProblem(field, f"{given!r} differs from the participant's record")


@service
def record_screening_data(
    session: Session,
    actor: Actor,
    participant_id: int,
    *,
    record: Mapping[str, Any],
    screened_on: date,
) -> ScreeningView:
    """Store a whole screening record and evaluate it, in one transaction.

    `record` is shaped like a row of ``trialdesk screen`` input (element names, ``<name>_unit``
    columns, ITT samples as ``"0:9.9; 3:9.7"`` or pairs): quantities and lab categories become
    measurements of the screening visit (recorded on `screened_on` if not yet), the ITT series an
    ITT test, yes/no answers the screening findings. ``sex`` and ``date_of_birth`` must agree
    with the participant's record; consent must already be recorded.
    """
    participant = get_participant(session, actor, participant_id, Permission.WRITE_CLINICAL)
    catalogue = current_catalogue()
    _check_sourced(session, participant, record)
    from trialdesk.services.itt import record_itt_test
    from trialdesk.services.measurements import record_measurement
    from trialdesk.services.visits import record_visit

    if live_visit(session, participant.id, SCREENING_CODE) is None:
        record_visit(session, actor, participant.id, code=SCREENING_CODE, visit_date=screened_on)
    findings: dict[str, Any] = {}
    for name, value in record.items():
        if name in IGNORED_KEYS or name in SOURCED or name.endswith("_unit") or _blank(value):
            continue
        if name not in catalogue:
            raise ValidationProblem(name, "unknown data element")
        element = catalogue[name]
        unit = record.get(f"{name}_unit") or None
        if element.kind is ElementKind.SERIES:
            try:
                samples = coerce(element, value, unit)
            except InputError as exc:
                raise ValidationProblem(name, exc.reason) from None
            record_itt_test(
                session,
                actor,
                participant.id,
                visit_code=SCREENING_CODE,
                samples=list(zip(samples.times, samples.values.magnitude, strict=True)),
                glucose_unit=str(unit),
            )
        elif element.kind in (ElementKind.QUANTITY, ElementKind.CATEGORY):
            record_measurement(
                session,
                actor,
                participant.id,
                visit_code=SCREENING_CODE,
                element=name,
                value=value,
                unit=unit,
            )
        else:
            findings[name] = value
    return screen_participant(
        session, actor, participant.id, screened_on=screened_on, findings=findings
    )

"""Screening: the protocol's eligibility criteria evaluated from the data stored for a
participant, and the snapshot of that evaluation.

The raw record handed to `trialdesk.eligibility.Evaluator` is rebuilt from stored data: consent
(``informed_consent``), identity (``date_of_birth``), participant (``sex``), the screening visit's
measurements (value and unit as entered) and ITT samples, and the screening findings — the
yes/no and category answers (medical history, pregnancy, contraception …) that are not
measurements. The stored snapshot (`EligibilityResult.to_dict()`) keeps, per criterion, the
verdict, the reasons and the values used.

Saving a whole screening is one use case, whoever enters it: `save_screening` takes a
`ScreeningEntry` (findings, measurements and ITT samples as entered, the screening date) and
stores and evaluates it in one transaction; `register_and_screen` does the same for a new
candidate, registered and consented in that transaction (the web's screening form);
`record_screening_data` takes a row shaped like ``trialdesk screen`` input.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as InputShapeError
from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.catalogue import ElementKind
from trialdesk.catalogue.missing import describe
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
from trialdesk.services.consent import record_consent
from trialdesk.services.crf_entries import IttTestEntry, Registration, VisitMeasurement
from trialdesk.services.errors import RuleViolation, ServiceError, ValidationProblem
from trialdesk.services.itt import record_itt_test
from trialdesk.services.measurements import record_measurement
from trialdesk.services.participants import register_participant
from trialdesk.services.study import current_catalogue, current_protocol, version_in_force
from trialdesk.services.uow import add_record, change_record, service
from trialdesk.services.validate import not_after_today, today
from trialdesk.services.views import EligibilityView, ScreeningView
from trialdesk.services.visits import SCREENING_CODE, record_visit
from trialdesk.store.enums import ParticipantStatus, ScreeningStatus
from trialdesk.store.models import (
    IttTest,
    Measurement,
    Participant,
    ParticipantIdentity,
    Screening,
)

FINDING_KINDS = (ElementKind.BOOLEAN, ElementKind.CATEGORY, ElementKind.DATE)
#: Marks, in the record the Evaluator is given, an element recorded as missing with a code.
CODED_SUFFIX = "__coded"
# Elements that come from their own records, never from findings.
SOURCED = frozenset({"informed_consent", "date_of_birth", "sex", "screening_date"})
ITT_ELEMENT = "itt_glucose"
REDACTED = "[redacted]"


def check_findings(findings: Mapping[str, Any], session: Session | None = None) -> dict[str, Any]:
    """Validate yes/no, category and date answers; returns them JSON-ready."""
    catalogue = current_catalogue(session)
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
        if row.missing_code is not None:  # coded missing: not assessable, like no entry
            values.pop(row.element, None)
            values[f"{row.element}{CODED_SUFFIX}"] = describe(row.missing_code, row.missing_reason)
            continue
        values.pop(f"{row.element}{CODED_SUFFIX}", None)
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
            [s.minute, s.glucose_as_entered]
            for s in test.samples
            if not s.voided and s.glucose_as_entered is not None  # not taken: no glucose
        ]
        values["itt_glucose_unit"] = test.glucose_unit_as_entered
    return values


def split_coded(raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(the record without its coded-missing markers, element → code and reason): a finding
    given later wins over a code stored earlier."""
    coded = {
        k.removesuffix(CODED_SUFFIX): str(v) for k, v in raw.items() if k.endswith(CODED_SUFFIX)
    }
    values = {k: v for k, v in raw.items() if not k.endswith(CODED_SUFFIX)}
    return values, {k: v for k, v in coded.items() if k not in values}


def _evaluate(
    session: Session, participant: Participant, raw: Mapping[str, Any], on: date
) -> EligibilityResult:
    """Judge the criteria of the protocol version in force on the screening date (issue 18)."""
    values, coded = split_coded(raw)
    try:
        return Evaluator(current_protocol(session, on)).evaluate(
            values, participant.study_id, on, coded
        )
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
    clean = check_findings(findings or {}, session)
    raw = eligibility_record(session, participant, screened_on, clean)
    result = _evaluate(session, participant, raw, screened_on)
    in_force = version_in_force(session, screened_on)
    row = Screening(
        participant_id=participant.id,
        screened_on=screened_on,
        protocol_id=result.protocol_id,
        protocol_version=in_force.label if in_force else None,
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
    merged.update(check_findings(findings or {}, session))
    moment = on or (last.screened_on if last else today())
    raw = eligibility_record(session, participant, moment, merged)
    result = _evaluate(session, participant, raw, moment)
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


# --- A whole screening saved at once -------------------------------------------------------


class MeasurementEntry(BaseModel):
    """One value of the screening visit as entered, in the unit it was measured in (the
    services convert it to the catalogue's canonical unit and keep both)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    element: str = Field(description="Catalogue data element, e.g. fasting_glucose")
    value: bool | int | float | str = Field(description="As entered, e.g. 126 or 'negative'")
    unit: str | None = Field(None, description="As entered, e.g. mg/dL (none for categories)")


class IttSampleEntry(BaseModel):
    """One ITT blood glucose, as entered, at its minute after the insulin bolus."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    minute: float
    glucose: float | str


class IttEntry(BaseModel):
    """The screening visit's insulin tolerance test: the samples in `glucose_unit` and the bolus
    actually given (None: not recorded)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    glucose_unit: str = Field(description="mmol/L or mg/dL")
    samples: list[IttSampleEntry]
    insulin_dose_u_per_kg: float | None = Field(None, description="Usually 0.1 U/kg")


class MissingEntry(BaseModel):
    """A screening field with no value and why: a missing-data code (``ND``, ``NA``, ``UNK``,
    ``ASKU``… `trialdesk.catalogue.missing`, as CDISC --STAT/--REASND and REDCap's missing-data
    codes) and the site's reason. Stored like any coded value of the screening visit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    element: str = Field(description="Catalogue data element, e.g. hba1c or pregnant")
    code: str = Field(description="Missing-data code, e.g. ND (not done) or ASKU")
    reason: str = Field(description="Why there is no value, e.g. 'sample haemolysed'")


class ScreeningEntry(BaseModel):
    """What a screening consists of: the date, the yes/no, category and date answers
    (`findings`), the screening visit's measurements and ITT as entered, and the fields
    recorded as missing with a code (`missing`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    screened_on: date
    findings: dict[str, Any] = Field(default_factory=dict)
    measurements: list[MeasurementEntry] = Field(default_factory=list)
    itt: IttEntry | None = None
    missing: list[MissingEntry] = Field(default_factory=list)


class CandidateRegistration(BaseModel):
    """Who the candidate is (registered at `site_code` on the screening date)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    site_code: str
    full_name: str
    date_of_birth: date
    sex: str | None = None
    medical_record_number: str | None = None


class ConsentEntry(BaseModel):
    """The signed informed consent form (version and date of signature)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    form_version: str
    consented_on: date


class CandidateScreeningEntry(ScreeningEntry):
    """A new candidate's registration, consent and screening, saved together."""

    registration: CandidateRegistration
    consent: ConsentEntry | None = None


class EntryProblem(ValidationProblem):
    """A value refused while one part of an entry was stored, addressed by its path in the
    entry (e.g. ``measurements[1].fasting_glucose``, ``itt.glucose_unit``): `part` names the
    part and `refusal` is the refusal of the use case that stored it."""

    def __init__(self, part: str, refusal: ValidationProblem) -> None:
        super().__init__(f"{part}.{refusal.field}", refusal.reason, rule=refusal.rule)
        self.part = part
        self.refusal = refusal
        self.context.update(refusal.context, part=part)


@contextmanager
def entry_part(part: str, *, address: bool = True) -> Iterator[None]:
    """Say which part of an entry a refusal concerns: every refusal gets ``context["part"]``;
    with `address`, a refused value becomes an `EntryProblem` (its field a path in the entry).
    The screening's own refusals already name entry fields (``screened_on``,
    ``findings.<name>``), so they are not re-addressed."""
    try:
        yield
    except EntryProblem:
        raise
    except ValidationProblem as exc:
        if not address:
            exc.context.setdefault("part", part)
            raise
        raise EntryProblem(part, exc) from None
    except ServiceError as exc:
        exc.context.setdefault("part", part)
        raise


def protocol_itt_dose(session: Session | None = None) -> float | None:
    """The protocol's ITT bolus in U/kg (parameter ``itt_insulin_dose``: 0.1 U/kg in
    NCT01142050, after Akinmokun et al., Diabet Med 1992;9:432); None if it is not in U/kg."""
    parameter = current_protocol(session).parameters.get("itt_insulin_dose")
    return parameter.value if parameter is not None and parameter.unit == "U/kg" else None


def _store_screening(
    session: Session, actor: Actor, participant_id: int, entry: ScreeningEntry, *, visit: bool
) -> ScreeningView:
    """Store `entry`'s values at the screening visit, then screen (see `save_screening`)."""
    participant = get_participant(session, actor, participant_id, Permission.WRITE_CLINICAL)
    pid = participant.id
    if visit and live_visit(session, pid, SCREENING_CODE) is None:
        with entry_part("visit"):
            record_visit(session, actor, pid, code=SCREENING_CODE, visit_date=entry.screened_on)
    for i, raw in enumerate(entry.measurements):
        with entry_part(f"measurements[{i}]"):
            record_measurement(
                session,
                actor,
                pid,
                VisitMeasurement(
                    visit_code=SCREENING_CODE, element=raw.element, value=raw.value, unit=raw.unit
                ),
            )
    _store_missing(session, actor, pid, entry)
    if entry.itt is not None:
        with entry_part("itt"):
            record_itt_test(
                session,
                actor,
                pid,
                IttTestEntry(
                    visit_code=SCREENING_CODE,
                    samples=[(s.minute, s.glucose) for s in entry.itt.samples],
                    glucose_unit=entry.itt.glucose_unit,
                    insulin_dose_u_per_kg=entry.itt.insulin_dose_u_per_kg,
                ),
            )
    with entry_part("screening", address=False):
        return screen_participant(
            session, actor, pid, screened_on=entry.screened_on, findings=dict(entry.findings)
        )


def _store_missing(session: Session, actor: Actor, pid: int, entry: ScreeningEntry) -> None:
    """Each coded field as a coded value of the screening visit; a field cannot hold both a
    value and a code (refused, never one of them dropped)."""
    given = {m.element for m in entry.measurements} | set(entry.findings)
    if entry.itt is not None:
        given.add(ITT_ELEMENT)
    for i, coded in enumerate(entry.missing):
        with entry_part(f"missing[{i}]"):
            if coded.element in given:
                raise ValidationProblem(
                    coded.element, "give either a value or a missing-data code, not both"
                )
            if coded.element in SOURCED:
                raise ValidationProblem(
                    coded.element, "is recorded with the participant, not as a screening value"
                )
            record_measurement(
                session,
                actor,
                pid,
                VisitMeasurement(
                    visit_code=SCREENING_CODE,
                    element=coded.element,
                    value=None,
                    missing_code=coded.code,
                    missing_reason=coded.reason,
                ),
            )


@service
def save_screening(
    session: Session,
    actor: Actor,
    participant_id: int,
    entry: ScreeningEntry,
    *,
    record_visit: bool = False,
) -> ScreeningView:
    """Store a screening's measurements and ITT at the screening visit (SCR), then screen with
    its findings (`screen_participant`): all or nothing, in one transaction.

    The visit must already be recorded, unless `record_visit` asks to record it on the
    screening date when it is not. Consent must be on record. A value refused in one part is
    an `EntryProblem` naming its path in the entry (``measurements[1].fasting_glucose``,
    ``itt.samples``); other refusals keep their own field and carry ``context["part"]``.
    """
    return _store_screening(session, actor, participant_id, entry, visit=record_visit)


@service
def register_and_screen(
    session: Session, actor: Actor, entry: CandidateScreeningEntry
) -> ScreeningView:
    """Register a new candidate on the screening date, record the signed consent (if given),
    record the screening visit on that date, and save the screening (`save_screening`): all
    or nothing, in one transaction. Refusals name their part as `save_screening` does, with
    the parts ``registration`` and ``consent`` besides."""
    who = entry.registration
    with entry_part("registration"):
        participant = register_participant(
            session,
            actor,
            Registration(
                site_code=who.site_code,
                registered_on=entry.screened_on,
                full_name=who.full_name,
                date_of_birth=who.date_of_birth,
                sex=who.sex,
                medical_record_number=who.medical_record_number,
            ),
        )
    if entry.consent is not None:
        with entry_part("consent"):
            record_consent(
                session,
                actor,
                participant.id,
                form_version=entry.consent.form_version,
                consented_on=entry.consent.consented_on,
            )
    return _store_screening(session, actor, participant.id, entry, visit=True)


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


def _shape_problem(name: str, exc: InputShapeError) -> ValidationProblem:
    first = exc.errors()[0]
    return ValidationProblem(name, f"{first['input']!r}: {first['msg']}")


def _itt_from_record(name: str, value: Any, unit: str | None) -> IttEntry:
    try:
        samples = coerce(current_catalogue()[name], value, unit)
    except InputError as exc:
        raise ValidationProblem(name, exc.reason) from None
    pairs = zip(samples.times, samples.values.magnitude, strict=True)
    return IttEntry(
        glucose_unit=str(unit),
        samples=[IttSampleEntry(minute=m, glucose=float(g)) for m, g in pairs],
    )


def entry_from_record(record: Mapping[str, Any], screened_on: date) -> ScreeningEntry:
    """A `ScreeningEntry` from a row shaped like ``trialdesk screen`` input (see
    `record_screening_data`); a refused column is named in the `ValidationProblem`."""
    catalogue = current_catalogue()
    measurements: list[MeasurementEntry] = []
    itt: IttEntry | None = None
    findings: dict[str, Any] = {}
    for name, value in record.items():
        if name in IGNORED_KEYS or name in SOURCED or name.endswith("_unit") or _blank(value):
            continue
        if name not in catalogue:
            raise ValidationProblem(name, "unknown data element")
        kind = catalogue[name].kind
        unit = record.get(f"{name}_unit") or None
        if kind is ElementKind.SERIES:
            if itt is not None:
                raise ValidationProblem(name, "a screening record holds one ITT series")
            itt = _itt_from_record(name, value, unit)
        elif kind in (ElementKind.QUANTITY, ElementKind.CATEGORY):
            try:
                measurements.append(MeasurementEntry(element=name, value=value, unit=unit))
            except InputShapeError as exc:
                raise _shape_problem(name, exc) from None
        else:
            findings[name] = value
    return ScreeningEntry(
        screened_on=screened_on, findings=findings, measurements=measurements, itt=itt
    )


@service
def record_screening_data(
    session: Session,
    actor: Actor,
    participant_id: int,
    *,
    record: Mapping[str, Any],
    screened_on: date,
) -> ScreeningView:
    """Store a whole screening record and evaluate it, in one transaction (`save_screening`).

    `record` is shaped like a row of ``trialdesk screen`` input (element names, ``<name>_unit``
    columns, ITT samples as ``"0:9.9; 3:9.7"`` or pairs): quantities and lab categories become
    measurements of the screening visit (recorded on `screened_on` if not yet), the ITT series an
    ITT test (no insulin dose: the input has no column for it), yes/no answers the screening
    findings. ``sex`` and ``date_of_birth`` must agree with the participant's record; consent
    must already be recorded. A refusal names the record's column, not a path in the entry.
    """
    participant = get_participant(session, actor, participant_id, Permission.WRITE_CLINICAL)
    _check_sourced(session, participant, record)
    if live_visit(session, participant.id, SCREENING_CODE) is None:
        record_visit(session, actor, participant.id, code=SCREENING_CODE, visit_date=screened_on)
    entry = entry_from_record(record, screened_on)
    try:
        return _store_screening(session, actor, participant.id, entry, visit=False)
    except EntryProblem as exc:
        raise exc.refusal from None

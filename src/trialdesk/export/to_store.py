"""Importing CRF-shaped clinical data (from ODM or REDCap) into the study database.

The whole import is one service call (`trialdesk.services.uow.service`): every participant,
consent, screening, enrollment, visit, measurement, ITT, dose, transplantation and adverse event
is written through the same use cases site staff use — so the trial's rules, edit checks and
audit trail apply — and any refusal rolls everything back. Problems that can be found before
writing are all reported together; a rule refusal while writing is reported with the subject,
visit and form it concerns.

The subjects of an ODM file keep their study ids (``<SITE>-NNN``, gaps included); REDCap
records, and foreign keys that are not study ids of their site, get new ones from the database.
The summary maps source subject keys to them. Names are not part of an ODM/REDCap export, so the
identity holds "Imported <key>" until the site completes it.

Lossless round trip (issue 15): values measured in another unit are stored as the site entered
them (the ODM as-entered annotation), form statuses are set, and the file's own history —
every version of every item with its original user, time, reason, location and SourceID — is
kept as imported provenance (`trialdesk.store.provenance`), the importing user recorded as the
importer; an export of the imported database then writes that history, not the import's own
writes. A file is imported once: its FileOID is recorded, and a second import of it (or of
subjects whose study ids are taken) is refused naming the file, before anything is written.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk import services as sv
from trialdesk.catalogue import ElementKind
from trialdesk.export.crf import StudyDesign
from trialdesk.export.crf.build import UNSCHEDULED_EVENT
from trialdesk.export.errors import ImportRejected, Rejection
from trialdesk.export.from_store import UNSCHEDULED_CRF_FORMS
from trialdesk.export.records import AuditEntry, ClinicalData, FormRecord, check_records
from trialdesk.export.values import Value, format_value
from trialdesk.protocol import Protocol, catalogue_for
from trialdesk.protocol.unscheduled import parse_unscheduled
from trialdesk.services.errors import ServiceError
from trialdesk.services.screening import FINDING_KINDS, SOURCED
from trialdesk.services.study import current_protocol
from trialdesk.services.uow import service
from trialdesk.store import make_engine, make_session_factory
from trialdesk.store.models import Participant, User
from trialdesk.store.provenance import imported_files

DATE_ITEMS = (
    "screening_date",
    "consent_date",
    "vs_date",
    "lb_date",
    "itt_date",
    "dosing_date",
    "tx_date",
    "uv_date",
)
AE_OUTCOMES = {
    "recovered": "recovered/resolved",
    "recovering": "recovering/resolving",
    "not_recovered": "not recovered/not resolved",
    "recovered_with_sequelae": "recovered/resolved with sequelae",
    "fatal": "fatal",
    "unknown": "unknown",
}
"""The AE form's outcome codes → the stored outcome (CDISC AEOUT terms)."""
MILLION = 1e6
"""The CRF records cell doses in 10^6 cells (/kg); the database in cells (CRF layout.yaml)."""
ITT_GLUCOSE_UNIT = "mmol/L"
"""The CRF's ITT glucose unit (its `itt_glucose_t*` items are in mmol/L)."""
#: The dosing form's doses, stored as dose records rather than measurements.
DOSING_ITEMS = ("insulin_daily_dose", "ogld_ddd")
OGLD_DRUG = "oral glucose-lowering drugs (total WHO DDD)"


@dataclass
class ImportSummary:
    participants: dict[str, str] = field(default_factory=dict)  # source key -> study id
    values: int = 0

    def __str__(self) -> str:
        pairs = ", ".join(f"{k} → {v}" for k, v in self.participants.items())
        return f"{len(self.participants)} participant(s) ({pairs}), {self.values} value(s)"


ITT_ITEM_PREFIX = "itt_glucose_t"
STUDY_NUMBER_DIGITS = range(3, 7)
"""Digits of the number in a study id ``<SITE>-NNN``: zero-padded to 3 (services/participants.py),
up to 6 accepted."""
NO_REASON = "recorded as missing in the source system, no reason given"


def import_clinical_data(
    data: ClinicalData, url: str, *, username: str, source: str, protocol: Protocol | None = None
) -> ImportSummary:
    """Check `data` against the protocol's CRF, then write it in one transaction."""
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            return import_into(session, data, username=username, source=source, protocol=protocol)
    finally:
        engine.dispose()


def import_into(
    session: Session,
    data: ClinicalData,
    *,
    username: str,
    source: str,
    protocol: Protocol | None = None,
) -> ImportSummary:
    """`import_clinical_data` on an open session (all or nothing), checked against `protocol`
    (default: the protocol version stored in the database, issue 18)."""
    protocol = protocol or current_protocol(session)
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise ImportRejected(
            source, [Rejection("--user", "username", f"no user {username!r} in the database")]
        )
    actor = sv.actor_for(session, user.id)
    problems = _already_imported(session, data) or precheck(data, protocol)
    if problems:
        raise ImportRejected(source, problems)
    try:
        return _import(session, actor, data, protocol, source)
    except _Refused as exc:
        raise ImportRejected(source, [exc.rejection]) from None


def _already_imported(session: Session, data: ClinicalData) -> list[Rejection]:
    """A file imported before (same FileOID), or subjects whose kept study ids are taken:
    importing again would duplicate subjects, so nothing is imported (issue 15)."""
    if not data.file_oid:
        return []
    files = imported_files(session)
    if data.file_oid in files:
        earlier, _sequence = files[data.file_oid]
        return [
            Rejection(
                "ODM",
                "FileOID",
                f"{data.file_oid} was already imported into this database (from {earlier}); "
                "importing it again would duplicate its subjects",
            )
        ]
    subjects = {r.subject for r in data.records}
    taken = session.scalars(select(Participant.study_id).where(Participant.study_id.in_(subjects)))
    return [
        Rejection(
            f"subject {sid}",
            "SubjectKey",
            "a participant with this study id is already in the database (imported before?)",
        )
        for sid in sorted(taken)
    ]


class _Refused(Exception):
    def __init__(self, rejection: Rejection) -> None:
        super().__init__(str(rejection))
        self.rejection = rejection


def precheck(data: ClinicalData, protocol: Protocol) -> list[Rejection]:
    """Everything that can be checked without writing: design fit, limits, required items."""
    problems = [Rejection("records", "design", p) for p in check_records(data.design, data.records)]
    by_subject = _by_subject(data.records)
    for subject, forms in by_subject.items():
        first = protocol.schedule[0].code
        scr = _values(forms, first)
        for item in ("date_of_birth", "consent_date"):
            if item not in scr:
                problems.append(
                    Rejection(
                        f"subject {subject}",
                        item,
                        "required to register a participant in trialdesk, missing at screening",
                    )
                )
        for event in {e for e, _, _ in forms}:
            if not _visit_date(_values(forms, event)):
                problems.append(
                    Rejection(
                        f"subject {subject}, event {event}",
                        "date",
                        "no date of assessment on any form of the visit",
                    )
                )
    return problems


def _by_subject(
    records: tuple[FormRecord, ...],
) -> dict[str, dict[tuple[str, str, int], dict[str, Value]]]:
    out: dict[str, dict[tuple[str, str, int], dict[str, Value]]] = defaultdict(dict)
    for r in records:
        out[r.subject][(r.event, r.form, r.instance)] = r.values
    return out


def _missing(
    data: ClinicalData, subject: str, event: str, instance: int | None = None
) -> dict[str, tuple[str, str]]:
    """Items of `subject` at `event` (one instance of a repeating event) recorded as missing:
    item -> (code, reason)."""
    merged: dict[str, tuple[str, str]] = {}
    for r in data.records:
        if r.subject == subject and r.event == event and instance in (None, r.instance):
            merged.update(r.missing)
    return merged


def _values(forms: dict[tuple[str, str, int], dict[str, Value]], event: str) -> dict[str, Value]:
    merged: dict[str, Value] = {}
    for (e, form, _), values in forms.items():
        if e == event and form != "adverse_events":
            merged.update(values)
    return merged


def _visit_date(values: dict[str, Value]) -> date | None:
    dates = [v for i in DATE_ITEMS if isinstance(v := values.get(i), date)]
    return min(dates) if dates else None


@service
def _import(
    session: Session, actor: sv.Actor, data: ClinicalData, protocol: Protocol, source: str
) -> ImportSummary:
    summary = ImportSummary()
    if data.simulated is not None:  # the copy of simulated data stays marked as simulated
        sv.mark_simulated(session, actor, data.simulated)
    entered = _as_entered(data)
    for subject, forms in _by_subject(data.records).items():
        writer = _SubjectWriter(session, actor, data, protocol, subject, forms, summary, entered)
        writer.write()
    if data.file_oid:
        history = _history(data, summary.participants)
        try:
            sv.record_imported_provenance(
                session,
                actor,
                file_oid=data.file_oid,
                file_name=source,
                source_system=data.source_system,
                history=history,
            )
        except ServiceError as exc:
            message = str(getattr(exc, "message", exc))
            raise _Refused(Rejection("ODM", "FileOID", message)) from None
    return summary


def _entries(data: ClinicalData) -> list[AuditEntry]:
    """The file's history: every change (Transactional) or each value's last (Snapshot)."""
    return list(data.audit) if data.audit else list(data.provenance.values())


def _as_entered(data: ClinicalData) -> dict[tuple[str, str, int, str], str]:
    """(subject, event, instance, item) → value and unit as entered, of the current value."""
    out: dict[tuple[str, str, int, str], str] = {}
    for entry in sorted(_entries(data), key=lambda a: a.when):
        out[(entry.subject, entry.event, entry.instance, entry.item)] = entry.as_entered
    return out


def _history(data: ClinicalData, ids: dict[str, str]) -> list[dict[str, str | None]]:
    """The file's history as imported provenance (`services.record_imported_provenance`), in
    the file's order, subjects under the study ids they were stored with."""
    return [
        {
            "subject": ids.get(a.subject, a.subject),
            "event": a.event,
            "form": a.form,
            "instance": str(a.instance),
            "item": a.item,
            "value": None if a.value is None else format_value(data.design.item(a.item), a.value),
            "user": a.user,
            "when": a.when.isoformat(),
            "reason": a.reason,
            "action": a.action,
            "location": a.location,
            "as_entered": a.as_entered,
            "source_id": a.source_id,
        }
        for a in _entries(data)
    ]


@dataclass
class _SubjectWriter:
    session: Session
    actor: sv.Actor
    data: ClinicalData
    protocol: Protocol
    subject: str
    forms: dict[tuple[str, str, int], dict[str, Value]]
    summary: ImportSummary
    entered: dict[tuple[str, str, int, str], str] = field(default_factory=dict)
    pid: int = 0
    unscheduled: dict[str, int] = field(default_factory=dict)  # visit code -> CRF instance

    def call(self, where: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self.session, self.actor, *args, **kwargs)
        except ServiceError as exc:
            raise _Refused(
                Rejection(
                    f"subject {self.subject}, {where}",
                    str(getattr(exc, "field", None) or getattr(exc, "rule", "")),
                    str(getattr(exc, "message", exc)),
                )
            ) from None

    def write(self) -> None:
        first = self.protocol.schedule[0].code
        scr = _values(self.forms, first)
        site = self.data.sites.get(self.subject) or self.protocol.sites[0].code
        view = self.call(
            "registration",
            sv.register_participant,
            sv.Registration(
                site_code=site,
                registered_on=_file(scr["consent_date"]),
                full_name=f"Imported {self.subject}",
                date_of_birth=_file(scr["date_of_birth"]),
                sex=_file(scr.get("sex")),
                # An ODM file's subjects keep their study ids (issue 15); REDCap record ids are
                # the project's own numbering and get the database's.
                study_id=self.subject
                if self.data.file_oid and _is_study_id(self.subject, site)
                else None,
            ),
        )
        self.pid = view.id
        self.summary.participants[self.subject] = view.study_id
        self.call(
            "consent",
            sv.record_consent,
            self.pid,
            consented_on=scr["consent_date"],
            form_version=str(scr.get("consent_version") or "unknown"),
        )
        events = [
            v.code for v in self.protocol.schedule if any(e == v.code for e, _, _ in self.forms)
        ]
        self._visit(first, scr)
        screening = self.call(
            "screening",
            sv.screen_participant,
            self.pid,
            screened_on=scr.get("screening_date") or _visit_date(scr),
            findings=self._findings(scr),
        )
        later = [e for e in events if e != first]
        if later:
            self._enroll(screening, _visit_date(_values(self.forms, later[0])))
        for event in later:
            self._visit(event, _values(self.forms, event))
        self._unscheduled()
        self._adverse_events()
        self._end()

    def _end(self) -> None:
        """The end of participation the file records (completed, withdrawn, died …), unless
        the import's own writes already ended it the same way (a screen failure)."""
        if self.subject not in self.data.dispositions:
            return
        reason, ended_on = self.data.dispositions[self.subject]
        now = self.call("end of participation", sv.get_participant, self.pid)
        if now.ended_on == ended_on and now.end_reason == reason:
            return
        self.call(
            "end of participation",
            sv.end_participation,
            self.pid,
            ended_on=ended_on,
            end_reason=reason,
            expected_version=now.version,
            reason=f"participation ended: {reason} (imported)",
        )

    def _unscheduled(self) -> None:
        """Each instance of the unscheduled event becomes an unscheduled visit (its date and
        reason), then its values, missing codes and ITT, as at a scheduled visit."""
        instances = sorted({i for e, _, i in self.forms if e == UNSCHEDULED_EVENT})
        for instance in instances:
            values: dict[str, Value] = {}
            for (e, _form, i), form_values in self.forms.items():
                if e == UNSCHEDULED_EVENT and i == instance:
                    values.update(form_values)
            on = values.get("uv_date")
            visit = self.call(
                f"unscheduled visit {instance}",
                sv.add_unscheduled_visit,
                self.pid,
                visit_date=on if isinstance(on, date) else _visit_date(values),
                reason=str(values.get("uv_reason") or ""),
            )
            self.unscheduled[visit.code] = instance
            day = on if isinstance(on, date) else None
            for name, value in values.items():
                try:
                    item = self.data.design.item(name)
                except KeyError:
                    continue
                self._value(visit.code, item, value, values, day)
            missing = _missing(self.data, self.subject, UNSCHEDULED_EVENT, instance)
            self._missing_values(visit.code, missing, values, day)
            self._itt(visit.code, values, missing)
            self._statuses(visit.code, UNSCHEDULED_EVENT, instance)

    def _findings(self, scr: dict[str, Value]) -> dict[str, Any]:
        """Yes/no and category answers of the screening visit (the screening service's
        `findings`); consent, sex, birth date and measurements come from their own records."""
        catalogue = catalogue_for(self.protocol)
        return {
            k: v
            for k, v in scr.items()
            if k in catalogue
            and k not in SOURCED
            and catalogue[k].kind in FINDING_KINDS
            and not catalogue[k].is_derived
            and not _is_measured(catalogue, k)
        }

    def _enroll(self, screening: Any, on: date | None) -> None:
        eligible = getattr(screening, "status", None) == "eligible"
        self.call(
            "enrollment",
            sv.enroll_participant,
            self.pid,
            enrolled_on=on,
            override_reason=None
            if eligible
            else "enrolled in the source system; imported with its data",
        )

    def _visit(self, event: str, values: dict[str, Value]) -> None:
        on = _visit_date(values)
        self.call(f"visit {event}", sv.record_visit, self.pid, code=event, visit_date=on)
        design: StudyDesign = self.data.design
        for name, value in values.items():
            try:
                item = design.item(name)
            except KeyError:
                continue
            self._value(event, item, value, values, on)
        missing = _missing(self.data, self.subject, event)
        self._missing_values(event, missing, values, on)
        self._itt(event, values, missing)
        self._dosing(event, values)
        self._transplantation(event, values)
        self._statuses(event, event, 1)

    def _statuses(self, visit: str, event: str, instance: int) -> None:
        """The form statuses the file carries for this visit (an unscheduled visit's CRF forms
        back onto the page forms that hold them, `from_store.UNSCHEDULED_CRF_FORMS`)."""
        if event == UNSCHEDULED_EVENT:
            found = self.data.instance_statuses
            statuses = {
                page: found[key]
                for page, crf_forms in UNSCHEDULED_CRF_FORMS.items()
                for form in crf_forms
                if (key := (self.subject, event, form, instance)) in found
            }
        else:
            statuses = {
                form: status
                for (subject, e, form), status in self.data.form_statuses.items()
                if subject == self.subject and e == event
            }
        for form, status in statuses.items():
            self.call(
                f"visit {visit}, {form} status",
                sv.set_form_status,
                self.pid,
                visit_code=visit,
                form=form,
                status=status,
            )

    def _value(
        self, event: str, item: Any, value: Value, values: dict[str, Value], on: date | None
    ) -> None:
        catalogue = catalogue_for(self.protocol)
        if item.element is None or item.sample_minute is not None or item.derivation:
            return
        if item.name in DOSING_ITEMS:
            return  # doses are dose records (`_dosing`), not measurements
        element = catalogue[item.element]
        if not _is_measured(catalogue, item.element) or element.kind is ElementKind.BOOLEAN:
            return
        collected = (
            values.get("lb_date")
            if item.name in _lab_items(self.data.design)
            else values.get("vs_date")
        )
        typed, unit = self._entered(event, item.name)
        self.call(
            f"visit {event}, {item.name}",
            sv.record_measurement,
            self.pid,
            sv.VisitMeasurement(
                visit_code=event,
                element=item.element,
                # what was typed: as the file says, else the value's text (7.0 → "7")
                value=format_value(item, value) if typed is None else typed,
                unit=item.unit if unit is None else unit,
                collected_on=collected if isinstance(collected, date) else on,
            ),
        )
        self.summary.values += 1

    def _entered(self, visit: str, name: str) -> tuple[str | None, str | None]:
        """(value, unit) as the site entered the current value, when the file says so: the
        import records what was typed, so the standard value and --ORRES/--ORRESU both
        come out as in the source."""
        event, instance = visit, 1
        if (parts := parse_unscheduled(visit)) is not None:
            event, instance = UNSCHEDULED_EVENT, self.unscheduled.get(visit, parts[1])
        text = self.entered.get((self.subject, event, instance, name), "")
        typed, _, unit = text.partition(" ")
        return (typed, unit) if typed and unit else (None, None)

    def _missing_values(
        self,
        event: str,
        missing: dict[str, tuple[str, str]],
        values: dict[str, Value],
        on: date | None,
    ) -> None:
        """Each element recorded as missing, once (an ITT not done flags all its samples)."""
        done: set[str] = set()
        taken = any(k.startswith(ITT_ITEM_PREFIX) for k in values)
        for name, (code, reason) in missing.items():
            element = self.data.design.item(name).element
            if element in done or (taken and name.startswith(ITT_ITEM_PREFIX)):
                continue  # one sample not taken of an ITT that was done: `_itt` records it
            done.add(element or name)
            self._missing_value(event, name, code, reason, values=values, on=on)

    def _missing_value(
        self,
        event: str,
        name: str,
        code: str,
        reason: str,
        *,
        values: dict[str, Value],
        on: date | None,
    ) -> None:
        """A value the source recorded as missing: stored with its code and reason (REDCap
        files carry no reason: the import says so instead of leaving it blank)."""
        item = self.data.design.item(name)
        catalogue = catalogue_for(self.protocol)
        if item.element is None or not _is_measured(catalogue, item.element):
            return
        collected = values.get("lb_date") if name in _lab_items(self.data.design) else None
        self.call(
            f"visit {event}, {name}",
            sv.record_measurement,
            self.pid,
            sv.VisitMeasurement(
                visit_code=event,
                element=item.element,
                value=None,
                missing_code=code,
                missing_reason=reason or NO_REASON,
                collected_on=collected if isinstance(collected, date) else on,
            ),
        )
        self.summary.values += 1

    def _itt(
        self,
        event: str,
        values: dict[str, Value],
        missing: dict[str, tuple[str, str]] | None = None,
    ) -> None:
        """The ITT's samples, and those not taken with their code (an ITT not done at all is
        a missing value of its own, `_missing_values`)."""
        samples = {
            self.data.design.item(k).sample_minute: v
            for k, v in values.items()
            if k.startswith(ITT_ITEM_PREFIX)
        }
        coded = {
            self.data.design.item(k).sample_minute: (code, reason or NO_REASON)
            for k, (code, reason) in (missing or {}).items()
            if k.startswith(ITT_ITEM_PREFIX)
        }
        if samples:
            self.call(
                f"visit {event}, itt",
                sv.record_itt_test,
                self.pid,
                sv.IttTestEntry(
                    visit_code=event,
                    samples=samples,
                    glucose_unit=ITT_GLUCOSE_UNIT,
                    performed_on=_file(values.get("itt_date")),
                    missing_samples=coded or None,
                ),
            )
            self.summary.values += len(samples)

    def _dosing(self, event: str, values: dict[str, Value]) -> None:
        start = values.get("dosing_date")
        if "insulin_daily_dose" in values:
            self.call(
                f"visit {event}, insulin",
                sv.record_insulin_dose,
                self.pid,
                sv.InsulinDoseEntry(
                    start_date=_file(start),
                    total_units_per_day=_file(values["insulin_daily_dose"]),
                    visit_code=event,
                ),
            )
            self.summary.values += 1
        ddd = values.get("ogld_ddd")
        if isinstance(ddd, float | int) and ddd > 0:
            # The CRF records WHO defined daily doses only: stored as one pseudo-drug whose
            # DDD is 1 mg, so that `ddd` (= daily dose / DDD) is the number recorded.
            self.call(
                f"visit {event}, oral drugs",
                sv.record_ogld_dose,
                self.pid,
                sv.OgldDoseEntry(
                    start_date=_file(start),
                    drug=OGLD_DRUG,
                    daily_dose_mg=float(ddd),
                    ddd_mg=1.0,
                    visit_code=event,
                ),
            )
            self.summary.values += 1

    def _transplantation(self, event: str, values: dict[str, Value]) -> None:
        if "tx_date" not in values:
            return
        dose, total = values.get("tx_dose_per_kg"), values.get("tx_total_cells")
        # The database keeps the weight the dose was calculated on; total = dose x weight.
        weight = (
            float(total) / float(dose)
            if isinstance(total, float | int) and isinstance(dose, float | int) and dose > 0
            else None
        )
        self.call(
            f"visit {event}, transplantation",
            sv.record_transplantation,
            self.pid,
            sv.TransplantationEntry(
                performed_on=_file(values["tx_date"]),
                product=str(values.get("tx_product") or ""),
                lot_number=str(values.get("tx_lot") or ""),
                cell_source=str(values.get("tx_cell_source") or "other"),
                dose_cells_per_kg=float(dose) * MILLION if isinstance(dose, float | int) else 0.0,
                route=str(values.get("tx_route") or "other"),
                operator=str(values.get("tx_operator") or "not recorded"),
                visit_code=event,
                weight_kg=weight,
            ),
        )
        self.summary.values += 1

    def _adverse_events(self) -> None:
        for (event, form, instance), v in sorted(self.forms.items()):
            if form != "adverse_events":
                continue
            seriousness = v.get("ae_seriousness") or ()
            # The CRF's values as read (the service checks each and names the item it refuses).
            report: dict[str, Any] = {
                "term": v["ae_term"],
                "onset_date": v["ae_onset"],
                "grade": int(str(v["ae_grade"])),
                "relatedness": str(v.get("ae_related") or "possible"),
                "action_taken": str(v.get("ae_action") or "not_applicable").replace("_", " "),
                "outcome": AE_OUTCOMES.get(str(v.get("ae_outcome")), "unknown"),
                "seriousness": list(seriousness) if isinstance(seriousness, tuple) else [],
                "resolution_date": v.get("ae_resolved"),
            }
            self.call(
                f"visit {event}, adverse event {instance}",
                sv.report_adverse_event,
                self.pid,
                sv.AdverseEventReport(**report),
            )
            self.summary.values += 1


def _file(value: Value | None) -> Any:
    """An item as the file gives it, for a service that checks its type and range itself and
    refuses a wrong one naming the field (an ODM date that is not a date, a text dose)."""
    return value


def _is_study_id(subject: str, site: str) -> bool:
    """Whether a subject key is a trialdesk study id of `site` (``<SITE>-NNN``)."""
    number = subject.removeprefix(f"{site}-")
    return number != subject and number.isdigit() and len(number) in STUDY_NUMBER_DIGITS


def _is_measured(catalogue: Any, name: str) -> bool:
    """Stored as a measurement (a value at a visit) rather than a screening finding."""
    element = catalogue[name]
    return element.codes.sdtm_domain in ("LB", "VS") or element.kind in (
        ElementKind.QUANTITY,
        ElementKind.SERIES,
    )


def _lab_items(design: StudyDesign) -> set[str]:
    try:
        return {i.name for i in design.form("labs").items}
    except KeyError:
        return set()

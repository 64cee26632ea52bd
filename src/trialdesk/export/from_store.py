"""Reading the study database for exports: SDTM/FHIR sources and CRF-shaped clinical data.

Read-only; voided records are left out (they remain in the audit trail). The database is read
once, by `trialdesk.analysis.from_store.StoreSnapshot`: the SDTM/FHIR sources are the analysis
source frames built from that snapshot (`frames_from_snapshot`: the same subjects, visits,
canonical values and value/unit as entered for --ORRES/--ORRESU) plus the rows only the exports
need (informed consents, transplantation details, categorical results), and the CRF records are
placed from the same snapshot. Two subject values differ from the analysis frames on purpose:

- ``end_reason`` is the stored StudyEndReason code (``lost_to_follow_up``), which the DS builder
  maps to CDISC NCOMPLT; the analysis frames carry the table label ("Lost to follow-up").
- ``age`` is DM AGE: completed years at RFSTDTC (the transplantation date), or at RFICDTC (first
  informed consent) for a subject never treated — SDTMIG v3.4 DM: AGE "may be derived from
  RFSTDTC and BRTHDTC". Without either date it stays the age at the last screening, as the
  analysis frames have it (baseline age).
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.analysis.from_store import (
    SERIOUSNESS,
    StoreSnapshot,
    frames_from_snapshot,
    study_session,
)
from trialdesk.catalogue import ElementKind
from trialdesk.coding.coded import CodedDrug, CodedTerm
from trialdesk.derive import compute_age
from trialdesk.export.crf import StudyDesign, design_from_protocol
from trialdesk.export.crf.build import UNSCHEDULED_EVENT
from trialdesk.export.records import AuditEntry as ExportAudit
from trialdesk.export.records import ClinicalData, FormRecord
from trialdesk.export.sdtm.sources import (
    CATEGORICAL_COLUMNS,
    CONSENT_COLUMNS,
    DRUG_COLUMNS,
    ITT_MISSING_COLUMNS,
    MISSED_COLUMNS,
    PEOPLE_COLUMNS,
    TRANSPLANT_COLUMNS,
    UNSCHEDULED_COLUMNS,
    AeJudgement,
    SdtmSources,
    records_of,
)
from trialdesk.export.signatures import CasebookSignature, DataCut
from trialdesk.export.values import Value, format_value, parse_value, reported_value
from trialdesk.protocol import Protocol, catalogue_for
from trialdesk.protocol.unscheduled import unscheduled_number
from trialdesk.protocol.versions import ProtocolVersionInfo
from trialdesk.store.enums import CodingStatus, DictionaryKind, FormStatus, VisitStatus
from trialdesk.store.models import (
    AdverseEvent,
    CodingAssignment,
    CodingDictionary,
    Participant,
    ProtocolVersion,
    Signature,
    User,
)
from trialdesk.store.models import AuditEntry as StoreAudit
from trialdesk.store.models.forms import FormStatusRecord
from trialdesk.store.provenance import imported_history, simulated_description

# --- SDTM / FHIR sources --------------------------------------------------------------------


def sdtm_sources_from_database(protocol: Protocol, url: str) -> SdtmSources:
    with study_session(url) as session:
        return sdtm_sources(session, protocol)


def sdtm_sources(session: Session, protocol: Protocol) -> SdtmSources:
    """The source frames of the study in `session`'s database with DM's end reasons and ages
    (module docstring), and the consents, transplantations and categorical results."""
    snap = StoreSnapshot(session)
    frames = frames_from_snapshot(snap, protocol)
    consents = _consent_rows(snap)
    subjects = _sdtm_subjects(snap, frames.subjects, consents)
    return SdtmSources(
        dataclasses.replace(frames, subjects=subjects),
        _df(consents, CONSENT_COLUMNS),
        _df(_transplant_rows(snap), TRANSPLANT_COLUMNS),
        _df(_categorical_rows(snap, protocol), CATEGORICAL_COLUMNS),
        protocol_version_infos(session),
        simulated=simulated_description(session),
        unscheduled=_df(_unscheduled_rows(snap), UNSCHEDULED_COLUMNS),
        missed=_df(_missed_rows(snap), MISSED_COLUMNS),
        people=_df(_people_rows(snap), PEOPLE_COLUMNS),
        form_statuses=form_statuses(session, {p.study_id: "" for p in snap.enrolled()}),
        itt_missing=_df(_itt_missing_rows(snap), ITT_MISSING_COLUMNS),
        ae_coding=ae_coding(session),
        ae_judgements=ae_judgements(session),
        dictionaries=dictionary_versions(session),
        drugs=_df(_drug_rows(snap), DRUG_COLUMNS),
        drug_coding=drug_coding(session),
        signatures=casebook_signatures(session, {p.study_id: p.site.code for p in snap.enrolled()}),
        data_cut=data_cut(session),
    )


def _drug_rows(snap: StoreSnapshot) -> list[list[Any]]:
    """Each oral glucose-lowering drug record of the enrolled participants (CM per drug)."""
    return [
        [p.study_id, f"OGLD{o.id}", o.drug, o.start_date, o.daily_dose_mg]
        for p in snap.enrolled()
        for o in sorted(snap.ogld.get(p.id, []), key=lambda o: (o.start_date, o.id))
    ]


def drug_coding(session: Session) -> dict[str, CodedDrug]:
    """The drug-dictionary coding in force of each oral drug record, by ``med_id``."""
    rows = session.scalars(
        select(CodingAssignment).where(
            CodingAssignment.target_table == "ogld_doses",
            CodingAssignment.status.in_((CodingStatus.CURRENT, CodingStatus.NEEDS_REVIEW)),
            CodingAssignment.voided.is_(False),
            CodingAssignment.drug_code.is_not(None),
        )
    )
    return {
        f"OGLD{r.target_id}": CodedDrug(
            r.dictionary_version, str(r.drug_code), str(r.drug_name), str(r.atc_code),
            str(r.atc_text),
        )
        for r in rows
    }  # fmt: skip


def ae_judgements(session: Session) -> dict[str, AeJudgement]:
    """Which judgements of each adverse event the investigator confirmed, by ``ae_id``."""
    rows = session.execute(
        select(
            AdverseEvent.id, AdverseEvent.causality_confirmed_at, AdverseEvent.grade_confirmed_at
        )
    )
    return {
        f"AE{rid}": AeJudgement(causality is not None, grade is not None)
        for rid, causality, grade in rows
    }


def ae_coding(session: Session) -> dict[str, CodedTerm]:
    """The MedDRA coding in force of each adverse event, by the frames' ``ae_id`` (issue 14)."""
    rows = session.scalars(
        select(CodingAssignment).where(
            CodingAssignment.target_table == "adverse_events",
            CodingAssignment.status.in_((CodingStatus.CURRENT, CodingStatus.NEEDS_REVIEW)),
            CodingAssignment.voided.is_(False),
            CodingAssignment.llt_code.is_not(None),
        )
    )
    return {f"AE{r.target_id}": _coded_term(r) for r in rows}


_PATH = ("llt_code", "llt_name", "pt_code", "pt_name", "hlt_code", "hlt_name", "hlgt_code",
         "hlgt_name", "soc_code", "soc_name")  # fmt: skip


def _coded_term(row: CodingAssignment) -> CodedTerm:
    """A MedDRA coding (its LLT … SOC columns are all set) as the exports read it."""
    path: list[Any] = [getattr(row, name) for name in _PATH]
    return CodedTerm(row.dictionary_version, *path)


def dictionary_versions(session: Session) -> dict[str, str]:
    """The dictionaries the data are coded with (the latest release of each loaded): MedDRA as
    "MEDDRA" (adverse events), the drug dictionary under its own name, upper case (CM)."""
    out = {}
    for kind in (DictionaryKind.MEDDRA, DictionaryKind.DRUG):
        latest = session.scalars(
            select(CodingDictionary)
            .where(CodingDictionary.kind == kind)
            .order_by(CodingDictionary.id.desc())
            .limit(1)
        ).first()
        if latest is not None:
            name = "MEDDRA" if kind is DictionaryKind.MEDDRA else latest.name.upper()
            out[name] = latest.version
    return out


def _itt_missing_rows(snap: StoreSnapshot) -> list[list[Any]]:
    """ITT samples not taken (their minute, code and reason) of enrolled participants."""
    rows = []
    for p in snap.enrolled():
        for test in snap.itt.get(p.id, []):
            visit = snap.visit_code(test.visit_id)
            rows += [
                [p.study_id, visit, test.performed_on, s.minute, s.missing_code, s.missing_reason]
                for s in test.samples
                if not s.voided and s.missing_code is not None
            ]
    return rows


def protocol_version_infos(session: Session) -> tuple[ProtocolVersionInfo, ...]:
    """The registered protocol versions in order of effective date (exports carry them)."""
    rows = session.scalars(
        select(ProtocolVersion)
        .where(ProtocolVersion.voided.is_(False))
        .order_by(ProtocolVersion.effective_on, ProtocolVersion.id)
    )
    return tuple(
        ProtocolVersionInfo(
            label=r.label,
            effective_on=r.effective_on,
            summary=r.summary_of_changes,
            sha256=r.sha256,
            consent_form_version=r.consent_form_version,
        )
        for r in rows
    )


def _reported(snap: StoreSnapshot, participant_id: Any, element: str) -> str | None:
    """A demographic answer (race, ethnicity) of the latest screening that records it."""
    screenings = sorted(snap.screenings.get(participant_id, []), key=lambda s: s.screened_on)
    answers = [(s.findings or {}).get(element) for s in screenings]
    return next((str(a) for a in reversed(answers) if a), None)


def _people_rows(snap: StoreSnapshot) -> list[list[Any]]:
    """Sex, date of birth, the last diabetes duration collected (years, the catalogue's
    unit), race and ethnicity of every participant, consented candidates included."""
    rows = []
    for p in snap.participants:
        identity = snap.identities.get(p.id)
        durations = sorted(
            (
                m
                for m in snap.measurements.get(p.id, [])
                if m.element == "diabetes_duration" and m.value is not None
            ),
            key=lambda m: m.collected_on,
        )
        last = durations[-1] if durations else None
        born = identity.date_of_birth if identity else None
        rows.append(
            [
                p.study_id,
                p.sex,
                born,
                last.collected_on if last else None,
                float(last.value) if last and last.value is not None else None,
                _reported(snap, p.id, "race"),
                _reported(snap, p.id, "ethnicity"),
            ]
        )
    return rows


def _missed_rows(snap: StoreSnapshot) -> list[list[Any]]:
    """Live scheduled visits of enrolled participants recorded as missed, with the reason."""
    enrolled = {p.id: p.study_id for p in snap.enrolled()}
    return [
        [enrolled[v.participant_id], v.code, v.notes]
        for v in sorted(snap.visits.values(), key=lambda v: (v.participant_id, v.code))
        if v.status is VisitStatus.MISSED and v.participant_id in enrolled
    ]


def _unscheduled_rows(snap: StoreSnapshot) -> list[list[Any]]:
    """Live unscheduled visits of enrolled participants, with their date and reason."""
    enrolled = {p.id: p.study_id for p in snap.enrolled()}
    return [
        [enrolled[v.participant_id], v.code, v.visit_date, v.unscheduled_reason]
        for v in sorted(snap.visits.values(), key=lambda v: (v.participant_id, v.code))
        if v.unscheduled and v.participant_id in enrolled and v.visit_date is not None
    ]


def _sdtm_subjects(
    snap: StoreSnapshot, subjects: pd.DataFrame, consents: list[list[Any]]
) -> pd.DataFrame:
    participants = {p.study_id: p for p in snap.participants}
    first_consent: dict[str, date] = {}
    for subject, consented_on in consents:
        first_consent[subject] = min(consented_on, first_consent.get(subject, consented_on))
    ages, reasons = [], []
    for row in records_of(subjects):
        end_reason = participants[row.usubjid].end_reason
        reasons.append(end_reason.value if end_reason else None)
        birth = _day(row.birth_date)
        reference = _day(row.transplanted_on) or first_consent.get(row.usubjid)
        ages.append(float(compute_age(birth, reference)) if birth and reference else row.age)
    index = subjects.index
    return subjects.assign(
        age=pd.Series(ages, index=index, dtype=object),
        end_reason=pd.Series(reasons, index=index, dtype=object),
    )


def _day(value: Any) -> date | None:
    """A frame date (Timestamp or NaT) as a date."""
    return None if pd.isna(value) else pd.Timestamp(value).date()


def _consent_rows(snap: StoreSnapshot) -> list[list[Any]]:
    """Every live informed consent, of enrolled participants or not (RFICDTC, DS milestone)."""
    return [
        [p.study_id, c.consented_on]
        for p in snap.participants
        for c in sorted(snap.consents.get(p.id, []), key=lambda c: (c.consented_on, c.id))
    ]


def _transplant_rows(snap: StoreSnapshot) -> list[list[Any]]:
    return [
        [
            p.study_id,
            t.performed_on,
            t.product,
            t.lot_number,
            t.cell_source.value,
            t.dose_cells_per_kg,
            t.total_cells,
            t.route.value,
        ]
        for p in snap.enrolled()
        for t in sorted(snap.transplants.get(p.id, []), key=lambda t: (t.performed_on, t.id))
    ]


def _categorical_rows(snap: StoreSnapshot, protocol: Protocol) -> list[list[Any]]:
    """Category results (e.g. pregnancy tests) at live visits, as the numeric measurements in
    the source frames."""
    catalogue = catalogue_for(protocol)
    rows = []
    for p in snap.enrolled():
        for m in sorted(snap.measurements.get(p.id, []), key=lambda m: (m.collected_on, m.id)):
            visit = snap.visit_code(m.visit_id)
            if visit is None or not m.text_value or m.element not in catalogue:
                continue
            if catalogue[m.element].kind is ElementKind.CATEGORY:
                rows.append([p.study_id, visit, m.collected_on, m.element, m.text_value])
    return rows


def _df(rows: list[list[Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    return pd.DataFrame(rows, columns=list(columns))


# --- CRF-shaped clinical data (REDCap records, ODM ClinicalData) ----------------------------


def clinical_data_from_database(protocol: Protocol, url: str) -> ClinicalData:
    with study_session(url) as session:
        return clinical_data(session, protocol)


class _Records:
    def __init__(self, design: StudyDesign) -> None:
        self.design = design
        self.values: dict[tuple[str, str, str, int], dict[str, Value]] = {}
        self.missing: dict[tuple[str, str, str, int], dict[str, tuple[str, str]]] = {}
        self.dropped: list[str] = []
        self.sources: dict[tuple[str, str, str, int, str], tuple[str, int]] = {}
        # (subject, unscheduled visit code) -> instance of the design's unscheduled event
        self.unscheduled: dict[tuple[str, str], int] = {}
        self.source: tuple[str, int] | None = None  # the store row being placed

    def put(
        self, subject: str, event: str | None, element_or_item: str, value: Value, instance: int = 1
    ) -> None:
        """Place a value on the form of `event` that records it (by item name, else by the
        catalogue element the item records)."""
        place = self._place(subject, event, element_or_item, instance)
        if place is None:
            return
        key, name = place
        item = self.design.item(name)
        self.values.setdefault(key, {})[name] = reported_value(item, value)
        if self.source is not None:
            self.sources[(*key, name)] = self.source

    def put_missing(
        self, subject: str, event: str | None, element: str, code: str, reason: str
    ) -> None:
        """Place a value recorded as missing (its code and reason) where its value would go;
        a series not done (an ITT) marks each of its sample items."""
        samples = self._samples(subject, event, element)
        if samples:
            for key, name in samples:
                self.values.setdefault(key, {})
                self.missing.setdefault(key, {})[name] = (code, reason)
            return
        place = self._place(subject, event, element, 1)
        if place is None:
            return
        key, name = place
        self.values.setdefault(key, {})
        self.missing.setdefault(key, {})[name] = (code, reason)

    def _samples(
        self, subject: str, event: str | None, element: str
    ) -> list[tuple[tuple[str, str, str, int], str]]:
        """(record key, item) of each timed sample item of `element` at `event`, if any."""
        if event is None:
            return []
        instance = self.unscheduled.get((subject, event), 1)
        code = UNSCHEDULED_EVENT if (subject, event) in self.unscheduled else event
        try:
            forms = [self.design.form(f) for f in self.design.event(code).forms]
        except KeyError:
            return []
        return [
            ((subject, code, form.name, instance), item.name)
            for form in forms
            for item in form.items
            if item.element == element and item.sample_minute is not None
        ]

    def _place(
        self, subject: str, event: str | None, element_or_item: str, instance: int
    ) -> tuple[tuple[str, str, str, int], str] | None:
        """(record key, item name) of the form of `event` recording `element_or_item`, or None
        (noted in `dropped`) when no form of that event records it."""
        if event is None:
            self.dropped.append(f"{subject}: {element_or_item} has no visit")
            return None
        if (subject, event) in self.unscheduled:
            event, instance = UNSCHEDULED_EVENT, self.unscheduled[(subject, event)]
        try:
            forms = [self.design.form(f) for f in self.design.event(event).forms]
        except KeyError:
            self.dropped.append(f"{subject}: visit {event} is not in the schedule")
            return None
        for form in forms:
            for item in form.items:
                if item.name == element_or_item or (
                    item.element == element_or_item and item.sample_minute is None
                ):
                    return (subject, event, form.name, instance), item.name
        self.dropped.append(f"{subject}, {event}: no form of the visit records {element_or_item}")
        return None

    def records(self) -> tuple[FormRecord, ...]:
        return tuple(
            FormRecord(s, e, f, v, i, self.missing.get((s, e, f, i), {}))
            for (s, e, f, i), v in self.values.items()
        )


def _collect(snap: StoreSnapshot, protocol: Protocol) -> tuple[_Records, dict[str, str]]:
    """Every consented participant's values placed on the CRF, and their sites."""
    out = _Records(design_from_protocol(protocol))
    first = protocol.schedule[0].code
    sites: dict[str, str] = {}
    for p in snap.participants:
        if not snap.consents.get(p.id):
            continue  # no consent, no trial data: a candidate's details stay at the site
        sites[p.study_id] = p.site.code
        _unscheduled_visits(out, snap, p, protocol)
        _screening_values(out, snap, p, first)
        _visit_values(out, snap, p, protocol)
        _adverse_events(out, snap, p, protocol)
    return out, sites


@dataclass(frozen=True)
class StoredPlaces:
    """Where each exported value is stored: (subject, event, form, instance, item) → (table,
    row id); and each unscheduled visit's code by (subject, instance of the CRF's unscheduled
    event). An import of changed values writes them back to those rows (REDCap API import)."""

    sources: dict[tuple[str, str, str, int, str], tuple[str, int]]
    unscheduled: dict[tuple[str, int], str]


def stored_places(session: Session, protocol: Protocol) -> StoredPlaces:
    """`StoredPlaces` of the study database's current data (what `clinical_data` exports)."""
    out, _sites = _collect(StoreSnapshot(session), protocol)
    return StoredPlaces(
        dict(out.sources), {(subject, n): visit for (subject, visit), n in out.unscheduled.items()}
    )


def clinical_data(session: Session, protocol: Protocol) -> ClinicalData:
    """Every consented participant's data on the protocol's CRF (Snapshot, canonical units)."""
    snap = StoreSnapshot(session)
    out, sites = _collect(snap, protocol)
    names = {p.site.code: p.site.name for p in snap.participants}
    provenance = _provenance(session, out, sites)
    history = _history(session, out, sites, provenance)
    statuses, instance_statuses = _split_statuses(form_statuses(session, sites), out.unscheduled)
    return ClinicalData(
        out.design,
        out.records(),
        history,
        sites,
        names,
        tuple(out.dropped),
        provenance,
        protocol_version_infos(session),
        simulated=simulated_description(session),
        form_statuses=statuses,
        instance_statuses=instance_statuses,
        dispositions={
            p.study_id: (p.end_reason.value, p.ended_on)
            for p in snap.participants
            if p.study_id in sites and p.end_reason is not None and p.ended_on is not None
        },
        signatures=casebook_signatures(session, sites),
        data_cut=data_cut(session),
    )


#: The CRF forms of the unscheduled event holding each form an unscheduled visit's page offers
#: (`trialdesk.protocol.unscheduled.UNSCHEDULED_FORMS`): the page's "measurements" are the CRF's
#: vital signs and laboratory forms. Adverse events are placed on the scheduled visits' AE log.
UNSCHEDULED_CRF_FORMS: dict[str, tuple[str, ...]] = {
    "measurements": ("vital_signs", "labs"),
    "safety_labs": ("safety_labs",),
    "itt": ("itt",),
}


def _split_statuses(
    statuses: dict[tuple[str, str, str], str], unscheduled: dict[tuple[str, str], int]
) -> tuple[dict[tuple[str, str, str], str], dict[tuple[str, str, str, int], str]]:
    """Scheduled visits' statuses as they are; an unscheduled visit's (``M3.U01``) become the
    statuses of its instance of the design's repeating unscheduled event (issue #13), each
    page form on the CRF forms it holds (`UNSCHEDULED_CRF_FORMS`)."""
    scheduled: dict[tuple[str, str, str], str] = {}
    instances: dict[tuple[str, str, str, int], str] = {}
    for (subject, visit, form), status in statuses.items():
        instance = unscheduled.get((subject, visit))
        if instance is None:
            scheduled[(subject, visit, form)] = status
            continue
        for crf_form in UNSCHEDULED_CRF_FORMS.get(form, ()):
            instances[(subject, UNSCHEDULED_EVENT, crf_form, instance)] = status
    return scheduled, instances


def casebook_signatures(session: Session, sites: dict[str, str]) -> tuple[CasebookSignature, ...]:
    """Every signing of each exported subject's casebook, oldest first, and its state
    (`services.signoff`: bound by hash, broken by a later change; superseded by a later
    signing; `export.signatures`)."""
    from trialdesk.services.views import SignatureView

    rows = session.execute(
        select(Signature, Participant.study_id, User.username)
        .join(Participant, Participant.id == Signature.participant_id)
        .join(User, User.id == Signature.signed_by)
        .where(Signature.voided.is_(False))
        .order_by(Signature.signed_at, Signature.id)
    ).all()
    signings: dict[str, list[tuple[Any, str]]] = {}
    for row, study_id, login in rows:
        if study_id in sites:
            signings.setdefault(study_id, []).append((SignatureView.model_validate(row), login))
    out = []
    for study_id, made in sorted(signings.items()):
        for number, (sig, login) in enumerate(made, start=1):
            state = _signature_state(session, sig, superseded=number < len(made))
            out.append(
                CasebookSignature(
                    subject=study_id,
                    site=sites[study_id],
                    login=login,
                    signer_name=sig.signer_name,
                    signed_at=sig.signed_at,
                    meaning=sig.meaning,
                    state=state,
                    binding=sig.signature_hash or "",
                    number=number,
                    latest=number == len(made),
                )  # fmt: skip
            )
    return tuple(out)


def _signature_state(session: Session, sig: Any, *, superseded: bool) -> str:
    """invalid (the binding does not match) before superseded (signed again later) before
    broken (data changed after it) before valid."""
    from trialdesk.services.signoff import changed_since_signature, verify_signature

    if not verify_signature(session, sig):
        return "invalid"
    if superseded:
        return "superseded"
    return "broken" if changed_since_signature(session, sig) else "valid"


def data_cut_at(url: str | None) -> DataCut:
    """`data_cut` of the study database at `url` (None: the configured one)."""
    with study_session(url) as session:
        return data_cut(session)


def data_cut(session: Session) -> DataCut:
    """Whether the study database is locked (the data cut an export or report was made from)."""
    from trialdesk.services.locks import lock_message, study_locked

    lock = study_locked(session)
    if lock is None:
        return DataCut(False, "not locked: the data may still change")
    at = lock.locked_at if lock.locked_at.tzinfo else lock.locked_at.replace(tzinfo=UTC)
    return DataCut(True, lock_message(session, lock)[0].split(": ask")[0], at)


def form_statuses(session: Session, sites: dict[str, str]) -> dict[tuple[str, str, str], str]:
    """The live form statuses of the exported subjects: (study id, visit, form) → status."""
    rows = session.execute(
        select(Participant.study_id, FormStatusRecord.visit_code, FormStatusRecord.form,
               FormStatusRecord.status)
        .join(Participant, Participant.id == FormStatusRecord.participant_id)
        .where(FormStatusRecord.voided.is_(False))
    )  # fmt: skip
    return {
        (study_id, visit, form): FormStatus(status).value
        for study_id, visit, form, status in rows
        if study_id in sites
    }


def _cells(value: Any) -> float | None:
    return None if value is None else float(value) / 1e6


_OUTCOME_CODES = {
    "recovered/resolved": "recovered",
    "recovering/resolving": "recovering",
    "not recovered/not resolved": "not_recovered",
    "recovered/resolved with sequelae": "recovered_with_sequelae",
    "fatal": "fatal",
    "unknown": "unknown",
}
# Which stored column holds each CRF item, and how a stored value becomes the item's value
# (None: the item's text form is parsed). Items missing here (sums over rows, seriousness
# tuples) carry only the last change of their row.
COLUMNS: dict[tuple[str, str], tuple[str, Any]] = {
    ("consents", "consent_date"): ("consented_on", None),
    ("consents", "consent_version"): ("form_version", None),
    ("participant_identities", "date_of_birth"): ("date_of_birth", None),
    ("participants", "sex"): ("sex", None),
    ("screenings", "screening_date"): ("screened_on", None),
    ("visits", "uv_date"): ("visit_date", None),
    ("visits", "uv_reason"): ("unscheduled_reason", None),
    ("measurements", "lb_date"): ("collected_on", None),
    ("measurements", "vs_date"): ("collected_on", None),
    ("itt_tests", "itt_date"): ("performed_on", None),
    ("insulin_doses", "dosing_date"): ("start_date", None),
    ("insulin_doses", "insulin_daily_dose"): ("total_units_per_day", None),
    ("transplantations", "tx_date"): ("performed_on", None),
    ("transplantations", "tx_product"): ("product", None),
    ("transplantations", "tx_lot"): ("lot_number", None),
    ("transplantations", "tx_operator"): ("operator", None),
    ("transplantations", "tx_dose_per_kg"): ("dose_cells_per_kg", _cells),
    ("transplantations", "tx_total_cells"): ("total_cells", _cells),
    ("adverse_events", "ae_term"): ("term", None),
    ("adverse_events", "ae_onset"): ("onset_date", None),
    ("adverse_events", "ae_resolved"): ("resolution_date", None),
    ("adverse_events", "ae_grade"): ("grade", str),
    ("adverse_events", "ae_serious"): ("serious", None),
    ("adverse_events", "ae_related"): ("relatedness", None),
    ("adverse_events", "ae_outcome"): ("outcome", lambda v: _OUTCOME_CODES.get(v, v)),
    ("adverse_events", "ae_action"): ("action_taken", lambda v: str(v).replace(" ", "_")),
}


def _column(table: str, item: Any) -> tuple[str, Any] | None:
    if (
        table == "measurements"
        and item.element is not None
        and item.name not in ("lb_date", "vs_date")
    ):
        return ("text_value" if item.data_type.value == "choice" else "value", None)
    return COLUMNS.get((table, item.name))


def _history(
    session: Session,
    out: _Records,
    sites: dict[str, str],
    provenance: dict[tuple[str, str, str, int, str], ExportAudit],
) -> tuple[ExportAudit, ...]:
    """Every recorded change of every value, from the store's audit trail (ODM Transactional).

    A value whose stored column and history are known gets one entry per create/update of
    that column; any other value gets its row's last change (`provenance`). The ODM writer
    checks that replaying the history gives the current values."""
    wanted = set(out.sources.values())
    tables = {table for table, _ in wanted}
    rows: dict[tuple[str, int], list[StoreAudit]] = defaultdict(list)
    query = (
        select(StoreAudit).where(StoreAudit.table_name.in_(tables)).order_by(StoreAudit.sequence)
    )
    for row in session.scalars(query):
        key = (row.table_name, int(row.record_id or 0))
        if key in wanted:
            rows[key].append(row)
    users = {u.id: u.username for u in session.scalars(select(User))}
    imported = imported_entries(session, out.design)
    history: list[ExportAudit] = []
    for (subject, event, form, instance, name), source in out.sources.items():
        item = out.design.item(name)
        current = out.values[(subject, event, form, instance)][name]
        before, after = imported.get((subject, event, form, instance, name), ([], 0))
        local = [r for r in rows.get(source, []) if r.sequence > after]
        changes = _changes(local, _column(source[0], item), item)
        versions = before + [
            ExportAudit(
                subject,
                event,
                form,
                instance,
                name,
                value,
                users.get(row.user_id or 0, "system"),
                row.occurred_at,
                row.reason or "",
                _action(
                    value,
                    n == 0 and not before,
                    changes[n - 1][1] if n else (before[-1].value if before else None),
                ),
                sites.get(subject, ""),
                as_entered,
                source_id(row),
            )
            for n, (row, value, as_entered) in enumerate(changes)
        ]
        if versions and versions[-1].value == current:
            history += versions
        elif (subject, event, form, instance, name) in provenance:
            history.append(provenance[(subject, event, form, instance, name)])
    explained = {(a.subject, a.event, a.form, a.instance, a.item) for a in history}
    if any((*key, name) not in explained for key, values in out.values.items() for name in values):
        return ()  # some value has no audit entry: export a Snapshot with provenance instead
    return tuple(history)


def source_id(row: StoreAudit) -> str:
    """ODM AuditRecord/SourceID of a change: ``<table>/<record id>@<audit sequence>``, which
    names the record (e.g. an adverse event's id) and the audit entry in this database."""
    return f"{row.table_name}/{row.record_id}@{row.sequence}"


def _changes(
    rows: list[StoreAudit], column: tuple[str, Any] | None, item: Any
) -> list[tuple[StoreAudit, Value | None, str]]:
    """(audit row, new item value or None when removed, value as entered when it differs) for
    each change of the column, oldest first."""
    if column is None:
        return []
    name, convert = column
    out: list[tuple[StoreAudit, Value | None, str]] = []
    entered: dict[str, Any] = {}
    for row in rows:
        diff = json.loads(row.changes)
        entered.update({k: diff[k][1] for k in ENTERED_COLUMNS if k in diff})
        if name not in diff:
            continue
        raw = diff[name][1]
        if raw is None:  # the value was removed (e.g. a resolution date cleared)
            if out and out[-1][1] is not None:
                out.append((row, None, ""))
            continue
        try:
            value = convert(raw) if convert else parse_value(item, str(raw))
        except ValueError:
            return []
        value = reported_value(item, value)
        out.append((row, value, _as_entered(item, value, entered) if name == "value" else ""))
    return out


def _action(value: Value | None, first: bool, previous: Value | None) -> str:
    """ODM TransactionType of a change (ODM 1.3.2 [@ODM]: Insert, Update, Remove): a value
    removed is a Remove, a value after none (first, or after a Remove) an Insert."""
    if value is None:
        return "Remove"
    return "Insert" if first or previous is None else "Update"


#: The measurement columns holding what the site typed (SDTM --ORRES/--ORRESU).
ENTERED_COLUMNS = ("value_as_entered", "unit_as_entered")


def _as_entered(item: Any, value: Value, entered: dict[str, Any]) -> str:
    """The value and unit as entered ("1.5 m"), when they say more than the standard value in
    the item's unit (another unit, or other digits); else ""."""
    text, unit = entered.get("value_as_entered"), entered.get("unit_as_entered")
    if not text or not unit or (unit == item.unit and text == format_value(item, value)):
        return ""
    return f"{text} {unit}"


def imported_entries(
    session: Session, design: StudyDesign
) -> dict[tuple[str, str, str, int, str], tuple[list[ExportAudit], int]]:
    """The history an import kept for each value (`store.provenance.imported_history`), and
    the audit sequence after which this database's own changes of it begin."""
    out: dict[tuple[str, str, str, int, str], tuple[list[ExportAudit], int]] = {}
    for sequence, change in imported_history(session):
        entry = _imported_entry(design, change)
        if entry is None:
            continue  # an item the protocol's CRF no longer has: kept in the audit trail
        key = (entry.subject, entry.event, entry.form, entry.instance, entry.item)
        entries, _ = out.get(key, ([], 0))
        out[key] = ([*entries, entry], sequence)
    return out


def _imported_entry(design: StudyDesign, change: dict[str, Any]) -> ExportAudit | None:
    """One imported change (`services.record_imported_provenance`) as an audit entry."""
    text = {k: "" if v is None else str(v) for k, v in change.items()}
    try:
        item = design.item(text["item"])
        value = None if change.get("value") is None else parse_value(item, text["value"])
        return ExportAudit(
            text["subject"],
            text["event"],
            text["form"],
            int(text["instance"]),
            item.name,
            value=value,
            user=text["user"],
            when=datetime.fromisoformat(text["when"]),
            reason=text["reason"],
            action=text["action"],
            location=text["location"],
            as_entered=text.get("as_entered", ""),
            source_id=text.get("source_id", ""),
        )
    except (KeyError, ValueError):
        return None


def _provenance(
    session: Session, out: _Records, sites: dict[str, str]
) -> dict[tuple[str, str, str, int, str], ExportAudit]:
    """The store's last audit entry (who, when, why) for the row behind every value."""
    wanted = set(out.sources.values())
    tables = {table for table, _ in wanted}
    latest: dict[tuple[str, int], StoreAudit] = {}
    query = (
        select(StoreAudit).where(StoreAudit.table_name.in_(tables)).order_by(StoreAudit.sequence)
    )
    for row in session.scalars(query):
        key = (row.table_name, int(row.record_id or 0))
        if key in wanted:
            latest[key] = row
    users = {u.id: u.username for u in session.scalars(select(User))}
    imported = imported_entries(session, out.design)
    result = {}
    for (subject, event, form, instance, item), source in out.sources.items():
        found = latest.get(source)
        value = out.values[(subject, event, form, instance)][item]
        before, after = imported.get((subject, event, form, instance, item), ([], 0))
        if before and (found is None or found.sequence <= after):
            result[(subject, event, form, instance, item)] = replace(before[-1], value=value)
            continue
        if found is None:
            continue
        result[(subject, event, form, instance, item)] = ExportAudit(
            subject,
            event,
            form,
            instance,
            item,
            value,
            users.get(found.user_id or 0, "system"),
            found.occurred_at,
            found.reason or "",
            "Insert" if found.action == "create" else "Update",
            sites.get(subject, ""),
            source_id=source_id(found),
        )
    return result


def _unscheduled_visits(
    out: _Records, snap: StoreSnapshot, p: Participant, protocol: Protocol
) -> None:
    """Number the participant's unscheduled visits (instances of the design's unscheduled
    event, in visit-number order) and place their date and reason."""
    visits = [v for v in snap.visits.values() if v.participant_id == p.id and v.unscheduled]
    visits.sort(key=lambda v: unscheduled_number(protocol, v.code))
    for instance, visit in enumerate(visits, start=1):
        out.unscheduled[(p.study_id, visit.code)] = instance
        out.source = ("visits", visit.id)
        if visit.visit_date is not None:
            out.put(p.study_id, visit.code, "uv_date", visit.visit_date)
        out.put(p.study_id, visit.code, "uv_reason", visit.unscheduled_reason or "")


def _screening_values(out: _Records, snap: StoreSnapshot, p: Participant, first: str) -> None:
    pid, subject = p.id, p.study_id
    consents = sorted(snap.consents.get(pid, []), key=lambda c: c.consented_on)
    out.source = ("consents", consents[0].id) if consents else None
    if consents:
        out.put(subject, first, "informed_consent", True)
        out.put(subject, first, "consent_date", consents[0].consented_on)
        out.put(subject, first, "consent_version", consents[0].form_version)
    identity = snap.identities.get(pid)
    if identity is not None:
        out.source = ("participant_identities", identity.id)
        out.put(subject, first, "date_of_birth", identity.date_of_birth)
    if p.sex:
        out.source = ("participants", p.id)
        out.put(subject, first, "sex", p.sex)
    screenings = sorted(snap.screenings.get(pid, []), key=lambda s: s.screened_on)
    if screenings:
        latest = screenings[-1]
        out.source = ("screenings", latest.id)
        out.put(subject, first, "screening_date", latest.screened_on)
        for name, value in (latest.findings or {}).items():
            item = next((i for f in out.design.forms for i in f.items if i.name == name), None)
            # yes/no answers and choices (e.g. the diabetes type, issue #16), on whichever
            # screening form holds them (eligibility, medical history)
            if item is not None and (isinstance(value, bool) or (item.choices and value)):
                out.put(subject, first, name, value)


#: The item holding the date a form's samples were taken (layout.yaml).
DATE_ITEMS = {"vital_signs": "vs_date", "labs": "lb_date", "safety_labs": "slb_date"}


def _visit_values(out: _Records, snap: StoreSnapshot, p: Participant, protocol: Protocol) -> None:
    """Every value recorded at a visit: measurements, ITTs, dosing and transplantations."""
    _measurement_values(out, snap, p, protocol)
    _itt_values(out, snap, p)
    _dosing_values(out, snap, p)
    _transplant_values(out, snap, p, protocol)


def _measurement_values(
    out: _Records, snap: StoreSnapshot, p: Participant, protocol: Protocol
) -> None:
    """Measurements (or their missing-data codes) and each form's date from its first one."""
    pid, subject = p.id, p.study_id
    dates: dict[tuple[str, str], tuple[date, int]] = {}
    for m in snap.measurements.get(pid, []):
        out.source = ("measurements", m.id)
        visit = snap.visit_code(m.visit_id)
        value: Value | None = m.text_value if m.text_value else m.value
        if m.missing_code is not None:
            out.put_missing(subject, visit, m.element, m.missing_code, m.missing_reason or "")
            continue
        if value is None:
            continue
        if m.element == "height":
            visit = protocol.schedule[0].code  # height lives on the screening demographics
        elif (
            m.element == "pregnancy_test"
            and visit is not None
            and visit != protocol.schedule[0].code
        ):
            out.put(subject, visit, "tx_pregnancy_test", value)
            continue
        out.put(subject, visit, m.element, value)
        form = out.design.form_of(m.element) if _has_item(out.design, m.element) else None
        if visit and form is not None:
            dates.setdefault((visit, form.name), (m.collected_on, m.id))
    for (visit, form_name), (day, measurement_id) in dates.items():
        date_item = DATE_ITEMS.get(form_name)
        if date_item:
            out.source = ("measurements", measurement_id)
            out.put(subject, visit, date_item, day)


def _itt_values(out: _Records, snap: StoreSnapshot, p: Participant) -> None:
    """Each insulin tolerance test: its date and its samples (not voided ones)."""
    pid, subject = p.id, p.study_id
    for test in snap.itt.get(pid, []):
        visit = snap.visit_code(test.visit_id)
        out.source = ("itt_tests", test.id)
        out.put(subject, visit, "itt_date", test.performed_on)
        for sample in test.samples:
            item = f"itt_glucose_t{sample.minute:g}"
            if sample.voided:
                continue
            if sample.missing_code is not None or sample.glucose_mmol_l is None:
                code, why = sample.missing_code or "UNK", sample.missing_reason or ""
                out.put_missing(subject, visit, item, code, why)
            else:
                out.put(subject, visit, item, sample.glucose_mmol_l)


def _dosing_values(out: _Records, snap: StoreSnapshot, p: Participant) -> None:
    """Insulin doses and the visit's oral glucose-lowering drugs (total WHO DDD)."""
    pid, subject = p.id, p.study_id
    ogld: dict[str | None, float] = defaultdict(float)
    ogld_rows: dict[str | None, int] = {}
    for oral in snap.ogld.get(pid, []):
        ogld[snap.visit_code(oral.visit_id)] += oral.ddd
        ogld_rows[snap.visit_code(oral.visit_id)] = oral.id
    for dose in snap.insulin.get(pid, []):
        visit = snap.visit_code(dose.visit_id)
        out.source = ("insulin_doses", dose.id)
        out.put(subject, visit, "dosing_date", dose.start_date)
        out.put(subject, visit, "insulin_daily_dose", dose.total_units_per_day)
        if visit in ogld_rows:  # a sum over the visit's oral drugs: the last one's change
            out.source = ("ogld_doses", ogld_rows[visit])
        out.put(subject, visit, "ogld_ddd", ogld.pop(visit, 0.0))
    for visit, ddd in ogld.items():
        out.source = ("ogld_doses", ogld_rows[visit])
        out.put(subject, visit, "ogld_ddd", ddd)


def _transplant_values(
    out: _Records, snap: StoreSnapshot, p: Participant, protocol: Protocol
) -> None:
    """Each transplantation's items (cell source and route outside the form's codes: other)."""
    pid, subject = p.id, p.study_id
    for t in snap.transplants.get(pid, []):
        out.source = ("transplantations", t.id)
        visit = snap.visit_code(t.visit_id) or next(
            v.code for v in protocol.schedule if "transplantation" in v.forms
        )
        source = (
            t.cell_source.value
            if t.cell_source.value in ("umbilical_cord", "bone_marrow")
            else "other"
        )
        route = t.route.value if t.route.value in ("intravenous", "intra_arterial") else "other"
        for item, value in (
            ("tx_date", t.performed_on),
            ("tx_product", t.product),
            ("tx_lot", t.lot_number),
            ("tx_cell_source", source),
            ("tx_dose_per_kg", _cells(t.dose_cells_per_kg)),
            ("tx_total_cells", _cells(t.total_cells)),
            ("tx_route", route),
            ("tx_operator", t.operator),
        ):
            if value is not None:
                out.put(subject, visit, item, value)


def _has_item(design: StudyDesign, name: str) -> bool:
    try:
        design.form_of(name)
    except KeyError:
        return False
    return True


def _adverse_events(out: _Records, snap: StoreSnapshot, p: Participant, protocol: Protocol) -> None:
    pid, subject = p.id, p.study_id
    done = sorted(
        (v.visit_date, v.code)
        for v in snap.visits.values()
        if v.participant_id == pid and v.visit_date is not None
    )
    with_log = [v.code for v in protocol.schedule if "adverse_events" in v.forms]
    counter: dict[str, int] = defaultdict(int)
    for ae in sorted(snap.aes.get(pid, []), key=lambda a: (a.onset_date, a.id)):
        before = [code for day, code in done if day <= ae.onset_date and code in with_log]
        event = before[-1] if before else with_log[0]
        counter[event] += 1
        instance = counter[event]
        out.source = ("adverse_events", ae.id)
        seriousness = tuple(code for attr, code in SERIOUSNESS if getattr(ae, attr))
        for item, value in (
            ("ae_term", ae.term),
            ("ae_onset", ae.onset_date),
            ("ae_resolved", ae.resolution_date),
            ("ae_grade", str(ae.grade)),
            ("ae_serious", ae.serious),
            ("ae_seriousness", seriousness or None),
            ("ae_related", ae.relatedness.value),
            ("ae_outcome", _OUTCOME_CODES.get(ae.outcome.value, "unknown")),
            ("ae_action", ae.action_taken.value.replace(" ", "_")),
        ):
            if value is not None:
                out.put(subject, event, item, value, instance)

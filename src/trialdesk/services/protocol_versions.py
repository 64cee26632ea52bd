"""Protocol versions: setting the study up under a protocol, registering amendments, and who
must re-consent.

* `set_up_protocol` stores the original protocol (full text and SHA-256) when the study database
  is created; called again with the same text it does nothing, with another text it refuses.
* `register_amendment` adds a version with its effective date and a summary of changes
  (ICH E6(R2) 4.5.2, 6.x: a protocol amendment is documented and dated). It must be the same
  study (registry id), take effect after the version before it, and differ from every version
  already registered.
* `check_protocol_file` refuses a protocol file that is none of the registered versions, naming
  both hashes and how to register it as an amendment.
* A version whose consent-form version differs from the one before it requires every consented
  participant still in the study to sign the new form (ICH E6(R2) 4.8.2); until then
  `reconsent_due` names the form they must sign.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.protocol import Protocol, ProtocolError, parse_protocol
from trialdesk.services.access import current_consent, get_participant, require
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.errors import RuleViolation, ValidationProblem
from trialdesk.services.study import (
    StoredVersion,
    forget_versions,
    stored_versions,
    text_sha256,
    version_in_force,
)
from trialdesk.services.uow import add_record, service
from trialdesk.services.views import ProtocolVersionView, ReconsentDueView
from trialdesk.store.enums import ParticipantStatus
from trialdesk.store.models import Participant, ProtocolVersion

DEFAULT_CONSENT_FORM = "1.0"
# Who must sign a revised form: candidates still being screened and enrolled participants.
STILL_IN_STUDY = frozenset({ParticipantStatus.SCREENING, ParticipantStatus.ENROLLED})
MISMATCH = "protocol_mismatch"


def _parse(text: str, source: str) -> Protocol:
    try:
        return parse_protocol(text, source)
    except ProtocolError as exc:
        raise ValidationProblem("protocol", str(exc), rule="invalid_protocol") from None


def _view(row: ProtocolVersion) -> ProtocolVersionView:
    return ProtocolVersionView.model_validate(row)


@dataclass(frozen=True)
class _VersionFacts:
    """What is registered about a protocol version besides its text."""

    label: str
    effective_on: date
    summary: str
    consent_form_version: str


def _add(
    session: Session, actor: Actor, protocol: Protocol, text: str, facts: _VersionFacts
) -> ProtocolVersionView:
    row = ProtocolVersion(
        protocol_id=protocol.id,
        label=facts.label,
        effective_on=facts.effective_on,
        summary_of_changes=facts.summary,
        yaml_text=text,
        sha256=text_sha256(text),
        consent_form_version=facts.consent_form_version,
        registered_by=actor.user_id,
    )
    add_record(session, actor, row)
    forget_versions(session)
    return _view(row)


@service
def set_up_protocol(
    session: Session, actor: Actor, text: str, source: str, *, effective_on: date
) -> ProtocolVersionView:
    """Store the protocol the study starts under (version label from the file, else ``1``)."""
    require(actor, Permission.MANAGE_USERS, table="protocol_versions")
    protocol = _parse(text, source)
    existing = session.scalars(
        select(ProtocolVersion)
        .where(ProtocolVersion.voided.is_(False))
        .order_by(ProtocolVersion.id)
    ).all()
    if existing:
        same = [row for row in existing if row.sha256 == text_sha256(text)]
        if same:
            return _view(same[0])
        raise mismatch(text, source, [_stored(r) for r in existing])
    return _add(
        session,
        actor,
        protocol,
        text,
        _VersionFacts(
            label=protocol.version or "1",
            effective_on=effective_on,
            summary="original protocol",
            consent_form_version=protocol.consent_form_version or DEFAULT_CONSENT_FORM,
        ),
    )


def _stored(row: ProtocolVersion) -> StoredVersion:
    return StoredVersion(
        row.label, row.protocol_id, row.effective_on, row.sha256, row.consent_form_version
    )


@dataclass(frozen=True, kw_only=True)
class Amendment:
    """What is said about a protocol amendment besides its text (ICH E6(R2) 4.5.2: implemented
    from its approval): in force from `effective_on`, its summary of changes, and optionally
    its version label and consent form version (by default the file's, or the next ones)."""

    effective_on: date
    summary: str
    label: str | None = None
    consent_form_version: str | None = None


@service
def register_amendment(
    session: Session, actor: Actor, text: str, source: str, amendment: Amendment
) -> ProtocolVersionView:
    """Register a protocol amendment: a new version in force from its `effective_on`."""
    require(actor, Permission.MANAGE_USERS, table="protocol_versions")
    effective_on, summary = amendment.effective_on, amendment.summary
    label, consent_form_version = amendment.label, amendment.consent_form_version
    protocol = _parse(text, source)
    versions = stored_versions(session)
    if not versions:
        raise RuleViolation(
            "no_protocol",
            "the study has no protocol yet: run `trialdesk db upgrade --protocol FILE` first",
        )
    latest = versions[-1]
    _check_amendment(protocol, text, versions, effective_on, summary)
    new_label = (label or protocol.version or _next_label(versions)).strip()
    if any(v.label == new_label for v in versions):
        raise ValidationProblem("label", f"version {new_label} is already registered")
    form = consent_form_version or protocol.consent_form_version or latest.consent_form_version
    return _add(
        session,
        actor,
        protocol,
        text,
        _VersionFacts(
            label=new_label,
            effective_on=effective_on,
            summary=summary.strip(),
            consent_form_version=form.strip(),
        ),
    )


def _check_amendment(
    protocol: Protocol,
    text: str,
    versions: list[StoredVersion],
    effective_on: date,
    summary: str,
) -> None:
    latest = versions[-1]
    if protocol.id != latest.protocol_id:
        raise RuleViolation(
            "other_study",
            f"the file is protocol {protocol.id}, this study runs {latest.protocol_id}: "
            "an amendment keeps the study's id",
            "protocol",
        )
    sha = text_sha256(text)
    known = next((v for v in versions if v.sha256 == sha), None)
    if known is not None:
        raise RuleViolation(
            "already_registered",
            f"this file is already registered as version {known.label} (sha256 {sha[:12]})",
            "protocol",
            conflict=True,
        )
    if effective_on <= latest.effective_on:
        raise ValidationProblem(
            "effective_on",
            f"must be after {latest.effective_on.isoformat()}, when version {latest.label} "
            "took effect",
        )
    if not summary.strip():
        raise ValidationProblem("summary", "a summary of the changes is required")


def _next_label(versions: list[StoredVersion]) -> str:
    numbers = [int(v.label) for v in versions if v.label.isdigit()]
    return str(max(numbers, default=len(versions)) + 1)


def mismatch(text: str, source: str, versions: list[StoredVersion]) -> RuleViolation:
    """The refusal of a protocol file that is not a registered version."""
    latest = versions[-1]
    return RuleViolation(
        MISMATCH,
        f"{source} (sha256 {text_sha256(text)}) is not the protocol this study database runs: "
        f"version {latest.label} of {latest.protocol_id} (sha256 {latest.sha256}). Leave out "
        "--protocol / TRIALDESK_PROTOCOL to use the stored protocol, or register the file as an "
        "amendment: trialdesk protocol register FILE --effective YYYY-MM-DD --summary '...'",
        "protocol",
        conflict=True,
    )


def check_protocol_file(session: Session, text: str, source: str) -> None:
    """Refuse `text` unless it is one of the registered versions (or none is registered)."""
    versions = stored_versions(session)
    if versions and text_sha256(text) not in {v.sha256 for v in versions}:
        raise mismatch(text, source, versions)


@service
def list_protocol_versions(session: Session, actor: Actor) -> list[ProtocolVersionView]:
    """Every registered version in order of effective date (readable by every role)."""
    rows = session.scalars(
        select(ProtocolVersion)
        .where(ProtocolVersion.voided.is_(False))
        .order_by(ProtocolVersion.effective_on, ProtocolVersion.id)
    )
    return [_view(row) for row in rows]


def required_consent(session: Session, on: date | None = None) -> tuple[StoredVersion, date] | None:
    """The version in force and the date its consent form became required, when an amendment
    (not the original protocol) introduced that form; None otherwise."""
    current = version_in_force(session, on)
    if current is None:
        return None
    versions = [v for v in stored_versions(session) if v.effective_on <= current.effective_on]
    since = current.effective_on
    for earlier in reversed(versions[:-1]):
        if earlier.consent_form_version != current.consent_form_version:
            return current, since
        since = earlier.effective_on
    return None


def reconsent_due(session: Session, participant: Participant) -> ReconsentDueView | None:
    """The re-consent `participant` owes, if any (still in the study, consented on an earlier
    form before the amendment requiring the new one)."""
    required = required_consent(session)
    if required is None or participant.ended_on is not None or participant.voided:
        return None
    if participant.status not in STILL_IN_STUDY:
        return None  # a screen failure re-consents only if screened again
    version, since = required
    consent = current_consent(session, participant.id)
    if consent is None or consent.withdrawn_on is not None:
        return None
    if consent.form_version == version.consent_form_version:
        return None
    return ReconsentDueView(
        participant_id=participant.id,
        study_id=participant.study_id,
        site_code=participant.site.code,
        signed_form_version=consent.form_version,
        signed_on=consent.consented_on,
        required_form_version=version.consent_form_version,
        required_since=since,
        protocol_version=version.label,
    )


@service
def get_reconsent_due(
    session: Session, actor: Actor, participant_id: int
) -> ReconsentDueView | None:
    """The re-consent one participant owes (None: none is due)."""
    participant = get_participant(session, actor, participant_id, Permission.READ_CLINICAL)
    return reconsent_due(session, participant)


@service
def list_reconsent_due(session: Session, actor: Actor) -> list[ReconsentDueView]:
    """Participants of the actor's sites who must sign the consent form now required."""
    require(actor, Permission.READ_CLINICAL, table="consents")
    if required_consent(session) is None:
        return []
    query = (
        select(Participant)
        .where(Participant.voided.is_(False), Participant.site_id.in_(actor.site_ids))
        .order_by(Participant.study_id)
    )
    due = (reconsent_due(session, p) for p in session.scalars(query))
    return [d for d in due if d is not None]

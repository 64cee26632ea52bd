"""The study this database runs: its protocol (the version in force on a date) and catalogue.

The study database keeps every protocol version it runs under (`ProtocolVersion`: full YAML
text, SHA-256, effective date; ICH E6(R2) 8.2.2 and 8.3.2). With a session, `current_protocol`
answers the version in force on a date (the latest whose effective date is on or before it; a
date before the first version is judged under the first), so the server, the simulator and every
command judge the same data under the same protocol. A database where no version is registered
yet (created before issue 18, or a test schema) falls back to ``TRIALDESK_PROTOCOL`` (a protocol
YAML file) or the built-in NCT01142050.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from trialdesk.catalogue import Catalogue
from trialdesk.protocol import Protocol, builtin_protocol, catalogue_for, load_protocol
from trialdesk.protocol.load import builtin_protocol_text, parse_protocol
from trialdesk.store.models import ProtocolVersion
from trialdesk.store.types import utcnow

PROTOCOL_ENV = "TRIALDESK_PROTOCOL"
_CACHE_KEY = "trialdesk.protocol_versions"


@dataclass(frozen=True)
class StoredVersion:
    """A registered protocol version, without its text (read by `protocol_text`)."""

    label: str
    protocol_id: str
    effective_on: date
    sha256: str
    consent_form_version: str


def text_sha256(text: str) -> str:
    """SHA-256 of the protocol text as UTF-8: the fingerprint compared with a file given."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@cache
def _load(path: str | None) -> Protocol:
    return load_protocol(path) if path else builtin_protocol()


def protocol_path() -> str | None:
    return os.environ.get(PROTOCOL_ENV) or None


def configured_protocol_text() -> tuple[str, str]:
    """(text, source) of ``TRIALDESK_PROTOCOL`` or of the built-in protocol: the study set-up."""
    path = protocol_path()
    if path:
        with open(path, encoding="utf-8") as handle:
            return handle.read(), path
    return builtin_protocol_text(), "built-in NCT01142050"


def stored_versions(session: Session) -> list[StoredVersion]:
    """The registered versions in order of effective date (read once per transaction)."""
    cached: list[StoredVersion] | None = session.info.get(_CACHE_KEY)
    if cached is None:
        rows = session.execute(
            select(
                ProtocolVersion.label,
                ProtocolVersion.protocol_id,
                ProtocolVersion.effective_on,
                ProtocolVersion.sha256,
                ProtocolVersion.consent_form_version,
            )
            .where(ProtocolVersion.voided.is_(False))
            .order_by(ProtocolVersion.effective_on, ProtocolVersion.id)
        )
        cached = [StoredVersion(*row) for row in rows]
        session.info[_CACHE_KEY] = cached
    return cached


def forget_versions(session: Session) -> None:
    """Drop the per-transaction list (after a version is registered, or the transaction ends)."""
    session.info.pop(_CACHE_KEY, None)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_on_transaction_end(session: Session) -> None:
    forget_versions(session)


def version_in_force(session: Session, on: date | None = None) -> StoredVersion | None:
    """The version in force on `on` (default today); None when none is registered."""
    versions = stored_versions(session)
    if not versions:
        return None
    day = on or utcnow().date()  # the services' today (UTC)
    in_force = [v for v in versions if v.effective_on <= day]
    return in_force[-1] if in_force else versions[0]


def protocol_text(session: Session, version: StoredVersion) -> str:
    return session.scalars(
        select(ProtocolVersion.yaml_text).where(ProtocolVersion.sha256 == version.sha256)
    ).one()


_PARSED: dict[str, Protocol] = {}


def stored_protocol(session: Session, version: StoredVersion) -> Protocol:
    """The parsed protocol of a registered version (parsed once per process per hash)."""
    protocol = _PARSED.get(version.sha256)
    if protocol is None:
        text = protocol_text(session, version)
        protocol = parse_protocol(text, f"database: protocol version {version.label}")
        _PARSED[version.sha256] = protocol
    return protocol


def current_protocol(session: Session | None = None, on: date | None = None) -> Protocol:
    """The protocol in force on `on` (default today) in the session's database.

    Without a session, or before any version is registered: ``TRIALDESK_PROTOCOL`` or the
    built-in protocol.
    """
    if session is not None:
        version = version_in_force(session, on)
        if version is not None:
            return stored_protocol(session, version)
    return _load(protocol_path())


@lru_cache(maxsize=32)
def _catalogue_of(key: str) -> Catalogue:
    protocol = _PARSED.get(key) or _load(key or None)
    return catalogue_for(protocol)


def current_catalogue(session: Session | None = None) -> Catalogue:
    """The data elements of the protocol in force today, built once per protocol version."""
    if session is not None:
        version = version_in_force(session)
        if version is not None:
            stored_protocol(session, version)
            return _catalogue_of(version.sha256)
    return _catalogue_of(protocol_path() or "")

"""The protocol a command runs under: the one stored in the study database (issue 18).

A protocol file given on the command line (``--protocol``) or in ``TRIALDESK_PROTOCOL`` must be
one of the versions registered in the database; anything else is refused with both SHA-256
hashes and the command that registers it as an amendment. A database without a registered
protocol (created before issue 18) keeps the old behaviour: the file given, else the built-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from trialdesk import services as sv
from trialdesk.protocol import Protocol, ProtocolError, builtin_protocol, load_protocol
from trialdesk.protocol.versions import ProtocolVersionInfo
from trialdesk.services.study import (
    PROTOCOL_ENV,
    configured_protocol_text,
    current_protocol,
    protocol_path,
    version_in_force,
)
from trialdesk.store import make_engine, make_session_factory


class StudyProtocolError(Exception):
    """The protocol cannot be resolved (unreadable file, or not the study's protocol)."""


@dataclass(frozen=True)
class StudyProtocol:
    """The protocol in force today and every registered version (empty for a file-only run)."""

    protocol: Protocol
    versions: tuple[ProtocolVersionInfo, ...]


def read_text(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except OSError as exc:
        raise StudyProtocolError(f"{path}: cannot read: {exc.strerror}") from None


def version_infos(session: Session) -> tuple[ProtocolVersionInfo, ...]:
    return tuple(
        ProtocolVersionInfo(
            label=v.label,
            effective_on=v.effective_on,
            summary=v.summary_of_changes,
            sha256=v.sha256,
            consent_form_version=v.consent_form_version,
        )
        for v in sv.list_protocol_versions(session, sv.SYSTEM)
    )


def check_given_files(session: Session, path: Path | None) -> None:
    """Refuse `path` (and ``TRIALDESK_PROTOCOL``) unless registered in the database."""
    given = [(read_text(path), str(path))] if path else []
    env = protocol_path()
    if env:
        given.append((read_text(Path(env)), f"{PROTOCOL_ENV}={env}"))
    for text, source in given:
        try:
            sv.check_protocol_file(session, text, source)
        except sv.RuleViolation as exc:
            raise StudyProtocolError(exc.message) from None


def study_protocol_in(session: Session, path: Path | None) -> StudyProtocol:
    """The study's protocol from an open session (see module docstring)."""
    versions = version_infos(session)
    if not versions:
        return StudyProtocol(_file_or_builtin(path), ())
    check_given_files(session, path)
    return StudyProtocol(current_protocol(session), versions)


def study_protocol(database: str | None, path: Path | None) -> StudyProtocol:
    """The study's protocol from the database at `database` (default: the configured one)."""
    engine = make_engine(database)
    try:
        with make_session_factory(engine)() as session:
            return study_protocol_in(session, path)
    finally:
        engine.dispose()


def _file_or_builtin(path: Path | None) -> Protocol:
    env = protocol_path()
    chosen = path or (Path(env) if env else None)
    try:
        return load_protocol(chosen) if chosen else builtin_protocol()
    except ProtocolError as exc:
        raise StudyProtocolError(str(exc)) from None


def set_up_study(
    session: Session, path: Path | None, effective_on: date
) -> sv.views.ProtocolVersionView:
    """Store the protocol the study starts under (`path`, else ``TRIALDESK_PROTOCOL``, else the
    built-in); a database already set up under another protocol is refused."""
    if path is None and not protocol_path() and version_infos(session):
        return _in_force(session)  # nothing given: the database's own protocol
    if path is not None:
        text, source = read_text(path), str(path)
    else:
        try:
            text, source = configured_protocol_text()
        except OSError as exc:
            raise StudyProtocolError(f"{protocol_path()}: cannot read: {exc.strerror}") from None
    try:
        sv.set_up_protocol(session, sv.SYSTEM, text, source, effective_on=effective_on)
    except sv.ServiceError as exc:
        raise StudyProtocolError(exc.message) from None
    return _in_force(session)


def _in_force(session: Session) -> sv.views.ProtocolVersionView:
    """The registered version in force today (the file given may be an earlier one)."""
    stored = sv.list_protocol_versions(session, sv.SYSTEM)
    current = version_in_force(session)
    return next((v for v in stored if current and v.label == current.label), stored[-1])

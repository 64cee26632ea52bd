"""`trialdesk prescreen --into-database`: the ranked list into the study database's screening log.

The database is `--database`, else ``TRIALDESK_DATABASE_URL``, else the SQLite file in the data
directory (as for `trialdesk db`). The run is stored by `--user` through
`trialdesk.services.record_prescreen_run`, so the site and role rules and the audit trail are
those of every other write. What can be checked before the (possibly long) pre-screen query —
the database is reachable and up to date, the user and the site exist — is checked first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from trialdesk import services as sv
from trialdesk.prescreen.run import Summary
from trialdesk.prescreen.screening_log import DEFAULT_LOG_STATUSES, log_rows, stored_counts
from trialdesk.protocol import Protocol
from trialdesk.services.prescreening import PrescreenProvenance
from trialdesk.store import (
    DatabaseConfigError,
    current_revision,
    database_url,
    head_revision,
    make_engine,
    make_session_factory,
)
from trialdesk.store.models import Site, User


class LogProblem(Exception):
    """The screening log cannot be written: the message names the option and the reason;
    `usage` is True for a wrong option (exit code 2)."""

    def __init__(self, message: str, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


@dataclass(frozen=True)
class LogTarget:
    url: str
    site_code: str
    username: str
    statuses: tuple[str, ...] = DEFAULT_LOG_STATUSES


def shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def _session(url: str) -> Iterator[Session]:
    try:
        engine = make_engine(url)
    except (DatabaseConfigError, ValueError) as exc:
        raise LogProblem(f"--database: {exc}", usage=True) from None
    try:
        revision = current_revision(engine)
        if revision != head_revision():
            raise LogProblem(
                f"--database: {shown(url)} is at revision {revision or 'none'}, not "
                f"{head_revision()}: run `trialdesk db upgrade` first"
            )
        with make_session_factory(engine)() as session:
            yield session
    except SQLAlchemyError as exc:
        raise LogProblem(f"--database: {shown(url)}: {exc.__class__.__name__}: {exc}") from None
    finally:
        engine.dispose()


@contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except sv.ServiceError as exc:
        raise LogProblem(
            f"refused ({exc.rule}): {exc.message}", usage=isinstance(exc, sv.ValidationProblem)
        ) from None


def _actor(session: Session, username: str, url: str) -> sv.Actor:
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise LogProblem(f"--user: no user {username!r} in {shown(url)}", usage=True)
    return sv.actor_for(session, user.id)


def log_target(
    database: str | None, site_code: str | None, username: str | None, with_excluded: bool
) -> LogTarget:
    """Resolve and check the options of ``--into-database`` before the pre-screen runs."""
    if not site_code:
        raise LogProblem("--site: give the site code the EHR extract belongs to", usage=True)
    if not username:
        raise LogProblem("--user: give the username storing the run", usage=True)
    try:
        url = database or database_url()
    except DatabaseConfigError as exc:
        raise LogProblem(str(exc), usage=True) from None
    with _session(url) as session:
        if session.scalars(select(Site).where(Site.code == site_code)).first() is None:
            raise LogProblem(f"--site: no site {site_code!r} in {shown(url)}", usage=True)
        with _refusals():
            actor = _actor(session, username, url)
            sv.check_prescreen_run_allowed(session, actor, site_code=site_code)
    statuses = (*DEFAULT_LOG_STATUSES, "excluded") if with_excluded else DEFAULT_LOG_STATUSES
    return LogTarget(url, site_code, username, statuses)


def store_run(
    target: LogTarget,
    protocol: Protocol,
    result: pa.Table,
    summary: Summary,
    source_description: str,
) -> sv.PrescreenRunView:
    """Store the run and the rows of `result` with the target's statuses, in one transaction."""
    with _session(target.url) as session, _refusals():
        return sv.record_prescreen_run(
            session,
            _actor(session, target.username, target.url),
            site_code=target.site_code,
            rows=log_rows(result, protocol, target.statuses),
            provenance=PrescreenProvenance(
                protocol_id=protocol.id,
                index_date=summary.index_date,
                lookback_days=summary.lookback_days,
                source_description=source_description,
                persons_assessed=summary.persons,
                status_counts=stored_counts(summary.by_status),
                attrition=[asdict(step) for step in summary.funnel],
            ),
        )

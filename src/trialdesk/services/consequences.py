"""What a save raised, said back to the person who saved: the automatic data queries (soft
edit-check limits), the protocol deviations (a visit outside its window) and the reporting clocks
of a serious adverse event (the site's report to the sponsor within 24 hours; a SUSAR's ICH E2A
III.A due date).

A site coordinator must learn at once that a value opened a query or a visit a deviation, not
discover it days later in a monitor's report. `Marks` are taken before the work and
`raised_since` reads what appeared after it, inside the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trialdesk.derive.reporting import site_report_due
from trialdesk.services.actor import Actor
from trialdesk.services.uow import service
from trialdesk.store.models import AdverseEvent, DataQuery, ProtocolDeviation
from trialdesk.store.types import utcnow

T = TypeVar("T")


@dataclass(frozen=True)
class Marks:
    """The highest ids of the raised-record tables before a save."""

    query: int
    deviation: int
    adverse_event: int
    at: datetime


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """The result of a save and the sentences naming what it raised."""

    result: T
    raised: tuple[str, ...]


def marks(session: Session) -> Marks:
    def top(column: object) -> int:
        return int(session.scalar(select(func.max(column))) or 0)  # type: ignore[call-overload,unused-ignore]

    return Marks(top(DataQuery.id), top(ProtocolDeviation.id), top(AdverseEvent.id), utcnow())


def raised_since(session: Session, participant_id: int, before: Marks) -> tuple[str, ...]:
    """One sentence per query, deviation or SAE clock the participant got after `before`."""
    said: list[str] = []
    queries = session.scalars(
        select(DataQuery)
        .where(DataQuery.participant_id == participant_id, DataQuery.id > before.query)
        .order_by(DataQuery.id)
    )
    for q in queries:
        said.append(f"query #{q.id} on {q.field.replace('_', ' ')}: {q.text}")
    deviations = session.scalars(
        select(ProtocolDeviation)
        .where(
            ProtocolDeviation.participant_id == participant_id,
            ProtocolDeviation.id > before.deviation,
        )
        .order_by(ProtocolDeviation.id)
    )
    for d in deviations:
        said.append(f"protocol deviation #{d.id}: {d.description}")
    said.extend(_sae_clocks(session, participant_id, before))
    return tuple(said)


def _sae_clocks(session: Session, participant_id: int, before: Marks) -> list[str]:
    """Serious events entered or changed by this save with a report to the sponsor still to
    send: the site's 24-hour clock (ICH E6(R3) Annex 1 §2.7.2(b)), and the sponsor's SUSAR due
    date when the investigator's confirmed judgements make it one (ICH E2A III.A). Said again
    after each change of the event, as the site must act on it."""
    from trialdesk.services.safety_reporting import aware_of, reports_sent

    rows = session.scalars(
        select(AdverseEvent).where(
            AdverseEvent.participant_id == participant_id,
            (AdverseEvent.id > before.adverse_event) | (AdverseEvent.updated_at >= before.at),
            AdverseEvent.serious.is_(True),
            AdverseEvent.voided.is_(False),
        )
    )
    said = []
    for ae in rows:
        if reports_sent(session, ae.id) == 0:
            due = site_report_due(aware_of(ae)).strftime("%Y-%m-%d %H:%M UTC")
            said.append(
                f"serious adverse event #{ae.id} ({ae.term}): report to the sponsor due by {due}"
            )
        if ae.expedited_report_due is not None and ae.expedited_reported_on is None:
            said.append(
                f"SUSAR #{ae.id} ({ae.term}): sponsor's expedited report due "
                f"{ae.expedited_report_due.isoformat()}"
            )
    return said


@service
def save_and_report(
    session: Session, actor: Actor, participant_id: int, work: Callable[[], T]
) -> Outcome[T]:
    """Run `work` (service calls, which join this transaction) and say what it raised."""
    before = marks(session)
    result = work()
    session.flush()
    return Outcome(result, raised_since(session, participant_id, before))

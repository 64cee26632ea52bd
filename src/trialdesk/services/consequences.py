"""What a save raised, said back to the person who saved: the automatic data queries (soft
edit-check limits), the protocol deviations (a visit outside its window) and the expedited-report
clock of a serious adverse event (ICH E2A III.A: 7 or 15 calendar days).

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
    """Serious events entered or changed by this save whose expedited report is due and not yet
    sent: the clock is said again after each change of the event, as the site must act on it."""
    rows = session.scalars(
        select(AdverseEvent).where(
            AdverseEvent.participant_id == participant_id,
            (AdverseEvent.id > before.adverse_event) | (AdverseEvent.updated_at >= before.at),
            AdverseEvent.expedited_report_due.is_not(None),
            AdverseEvent.expedited_reported_on.is_(None),
            AdverseEvent.voided.is_(False),
        )
    )
    return [
        f"serious adverse event #{ae.id} ({ae.term}): expedited report due "
        f"{ae.expedited_report_due.isoformat()}"
        for ae in rows
        if ae.expedited_report_due is not None
    ]


@service
def save_and_report(
    session: Session, actor: Actor, participant_id: int, work: Callable[[], T]
) -> Outcome[T]:
    """Run `work` (service calls, which join this transaction) and say what it raised."""
    before = marks(session)
    result = work()
    session.flush()
    return Outcome(result, raised_since(session, participant_id, before))

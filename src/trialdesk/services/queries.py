"""Data queries (data clarification requests): raised on one field of one record, answered by
the site, closed by the monitor. Soft-limit edit checks raise them automatically.

Who does what: a monitor or investigator raises; a coordinator or investigator answers; a monitor
or investigator closes. Queries are never voided: they are closed, with a resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.services import paging
from trialdesk.services.access import get_participant, get_record, require
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.errors import RuleViolation, ValidationProblem
from trialdesk.services.listing import FIRST_PAGE, paginate, scoped
from trialdesk.services.uow import add_record, change_record, row_values, service
from trialdesk.services.validate import choice, required_text
from trialdesk.services.views import Page, QueryView
from trialdesk.store.enums import QueryOrigin, QueryStatus
from trialdesk.store.models import (
    AdverseEvent,
    Consent,
    DataQuery,
    Enrollment,
    InsulinDose,
    IttTest,
    Measurement,
    OgldDose,
    Participant,
    ProtocolDeviation,
    Screening,
    Transplantation,
    Visit,
)
from trialdesk.store.types import utcnow

QUERYABLE: dict[str, Any] = {
    model.__tablename__: model
    for model in (
        Consent,
        Screening,
        Enrollment,
        Visit,
        Measurement,
        IttTest,
        InsulinDose,
        OgldDose,
        Transplantation,
        AdverseEvent,
        ProtocolDeviation,
    )
}
QUERYABLE["participants"] = Participant


def _target(session: Session, actor: Actor, table: str, record_id: int) -> tuple[Any, Participant]:
    model = QUERYABLE.get(table)
    if model is None:
        raise ValidationProblem(
            "target_table", f"{table!r} cannot be queried (one of {', '.join(sorted(QUERYABLE))})"
        )
    if model is Participant:
        participant = get_participant(session, actor, record_id, Permission.READ_CLINICAL)
        return participant, participant
    row, participant = get_record(session, actor, model, record_id, Permission.READ_CLINICAL)
    return row, participant


def query_view(row: DataQuery) -> QueryView:
    return QueryView.model_validate(row)


def open_query(
    session: Session,
    actor: Actor,
    participant: Participant,
    target: Any,
    field: str,
    *,
    text: str,
    origin: QueryOrigin,
) -> DataQuery:
    """Create an open query on `target.field` (no permission check: callers do that)."""
    row = DataQuery(
        participant_id=participant.id,
        target_table=target.__tablename__,
        target_id=target.id,
        field=field,
        origin=origin,
        status=QueryStatus.OPEN,
        text=text,
        raised_by=actor.user_id,
        raised_at=utcnow(),
    )
    return add_record(session, actor, row, participant)


@service
def raise_query(
    session: Session,
    actor: Actor,
    *,
    target_table: str,
    target_id: int,
    field: str,
    text: str,
) -> QueryView:
    """Raise a query on one field of one record (e.g. ``measurements`` 12 ``value``)."""
    target, participant = _target(session, actor, target_table, target_id)
    require(
        actor,
        Permission.RAISE_QUERY,
        table="data_queries",
        site_id=participant.site_id,
        participant_id=participant.id,
    )
    if field not in row_values(target):
        raise ValidationProblem("field", f"{target_table} has no field {field!r}")
    row = open_query(
        session,
        actor,
        participant,
        target,
        field,
        text=required_text(text, "text", 4000),
        origin=QueryOrigin.MANUAL,
    )
    return query_view(row)


def _transition(
    session: Session,
    actor: Actor,
    query_id: int,
    permission: Permission,
    allowed_from: tuple[QueryStatus, ...],
) -> tuple[DataQuery, Participant]:
    row, participant = get_record(session, actor, DataQuery, query_id, permission)
    if row.status not in allowed_from:
        raise RuleViolation(
            "query_state",
            f"query {query_id} is {row.status.value}; this needs it to be "
            f"{' or '.join(s.value for s in allowed_from)}",
            "status",
            conflict=True,
        )
    return row, participant


@service
def answer_query(
    session: Session, actor: Actor, query_id: int, *, expected_version: int, answer: str
) -> QueryView:
    row, participant = _transition(
        session, actor, query_id, Permission.ANSWER_QUERY, (QueryStatus.OPEN,)
    )
    text = required_text(answer, "answer", 4000)
    change_record(
        session,
        actor,
        row,
        {
            "status": QueryStatus.ANSWERED,
            "answer_text": text,
            "answered_by": actor.user_id,
            "answered_at": utcnow(),
        },
        reason=f"query answered: {text}",
        expected_version=expected_version,
        participant=participant,
    )
    return query_view(row)


@service
def close_query(
    session: Session, actor: Actor, query_id: int, *, expected_version: int, resolution: str
) -> QueryView:
    row, participant = _transition(
        session, actor, query_id, Permission.CLOSE_QUERY, (QueryStatus.OPEN, QueryStatus.ANSWERED)
    )
    text = required_text(resolution, "resolution", 4000)
    change_record(
        session,
        actor,
        row,
        {
            "status": QueryStatus.CLOSED,
            "close_text": text,
            "closed_by": actor.user_id,
            "closed_at": utcnow(),
        },
        reason=f"query closed: {text}",
        expected_version=expected_version,
        participant=participant,
    )
    return query_view(row)


@service
def reopen_query(
    session: Session, actor: Actor, query_id: int, *, expected_version: int, text: str
) -> QueryView:
    """Send an answered query back to the site (the answer did not resolve it)."""
    row, participant = _transition(
        session, actor, query_id, Permission.CLOSE_QUERY, (QueryStatus.ANSWERED,)
    )
    why = required_text(text, "text", 4000)
    change_record(
        session,
        actor,
        row,
        {"status": QueryStatus.OPEN},
        reason=f"query re-opened: {why}",
        expected_version=expected_version,
        participant=participant,
    )
    return query_view(row)


@service
def get_query(session: Session, actor: Actor, query_id: int) -> QueryView:
    row, _ = get_record(session, actor, DataQuery, query_id, Permission.READ_CLINICAL)
    return query_view(row)


@dataclass(frozen=True, kw_only=True)
class QueryFilter:
    """Which queries a listing shows: each item given narrows it (the API's query parameters,
    one to one)."""

    participant_id: int | None = None
    status: QueryStatus | str | None = None
    target_table: str | None = None
    target_id: int | None = None


@service
def list_queries(
    session: Session,
    actor: Actor,
    *,
    where: QueryFilter | None = None,
    page: paging.Page = FIRST_PAGE,
) -> Page[QueryView]:
    """The queries at the actor's sites that `where` selects, oldest raised first."""
    where = where or QueryFilter()
    participant_id, status = where.participant_id, where.status
    target_table, target_id = where.target_table, where.target_id
    if participant_id is not None:
        get_participant(session, actor, participant_id, Permission.READ_CLINICAL)
    else:
        require(actor, Permission.READ_CLINICAL, table="data_queries")
    query = scoped(select(DataQuery), DataQuery, actor)
    if participant_id is not None:
        query = query.where(DataQuery.participant_id == participant_id)
    if status is not None:
        query = query.where(DataQuery.status == choice(QueryStatus, status, "status"))
    if target_table is not None:
        query = query.where(DataQuery.target_table == target_table)
    if target_id is not None:
        query = query.where(DataQuery.target_id == target_id)
    query = query.order_by(DataQuery.raised_at, DataQuery.id)
    return paginate(session, query, page.limit, page.offset, query_view)

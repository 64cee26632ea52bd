"""Pagination (limit/offset + total) and site-scoped list queries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from trialdesk.services import paging
from trialdesk.services.actor import Actor
from trialdesk.services.errors import ValidationProblem
from trialdesk.services.views import Page
from trialdesk.store.models import Participant

V = TypeVar("V")
Q = TypeVar("Q", bound=Select)  # type: ignore[type-arg]
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_OFFSET = 2**31 - 1  # the largest row count a database integer holds (PostgreSQL int4)
# A listing read without a page request: its first DEFAULT_LIMIT rows.
FIRST_PAGE = paging.Page(limit=DEFAULT_LIMIT)


def page_bounds(limit: int, offset: int) -> tuple[int, int]:
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationProblem("limit", f"must be between 1 and {MAX_LIMIT}, not {limit!r}")
    if not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        raise ValidationProblem("offset", f"must be between 0 and {MAX_OFFSET}, not {offset!r}")
    return limit, offset


def paginate(
    session: Session,
    query: Select[Any],
    limit: int,
    offset: int,
    to_view: Callable[[Any], V],
) -> Page[V]:
    limit, offset = page_bounds(limit, offset)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = session.scalars(query.limit(limit).offset(offset))
    return Page[V](items=[to_view(r) for r in rows], total=total, limit=limit, offset=offset)


def scoped(query: Q, model: Any, actor: Actor, include_voided: bool = False) -> Q:
    """Restrict a query on a participant-owned `model` to the actor's sites (and live rows)."""
    query = query.join(Participant, Participant.id == model.participant_id).where(
        Participant.site_id.in_(actor.site_ids)
    )
    if not include_voided:
        query = query.where(model.voided.is_(False))
    return query

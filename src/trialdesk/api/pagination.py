"""Pagination of list endpoints: `?limit=&offset=` in, `{items, total, limit, offset}` out.

Paged services (participants, measurements, adverse events …) page in the database; the short
per-participant lists (consents, visits, doses …) come whole from their service and are cut here
so that every list endpoint answers the same shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Query

from trialdesk.services.listing import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET
from trialdesk.services.views import Page

T = TypeVar("T")


@dataclass(frozen=True)
class PageParams:
    limit: int
    offset: int


async def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"Page size (1–{MAX_LIMIT})")
    ] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Records to skip")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]


def page_of(items: Sequence[T], params: PageParams) -> Page[T]:
    """One page cut from a whole list."""
    chunk = list(items[params.offset : params.offset + params.limit])
    return Page[T](items=chunk, total=len(items), limit=params.limit, offset=params.offset)

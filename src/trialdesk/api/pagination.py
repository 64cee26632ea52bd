"""Pagination of list endpoints: `?limit=&offset=` in, `{items, total, limit, offset}` out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    """One page of a list, with the total count so that a client can page through it."""

    items: list[T]
    total: int = Field(ge=0, description="Number of records matching the request, all pages")
    limit: int = Field(ge=1, description="Page size requested")
    offset: int = Field(ge=0, description="Records skipped before this page")


@dataclass(frozen=True)
class PageParams:
    limit: int
    offset: int


def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"Page size (1–{MAX_LIMIT})")
    ] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, description="Records to skip")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


def make_page(items: Sequence[T], total: int, params: PageParams) -> Page[T]:
    return Page[T](items=list(items), total=total, limit=params.limit, offset=params.offset)

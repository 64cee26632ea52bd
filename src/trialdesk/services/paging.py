"""Which page of a listing to return: `limit` rows from `offset` (bounds: `listing.page_bounds`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    """A page of a listing: at most `limit` rows, after skipping `offset`."""

    limit: int = 100
    offset: int = 0

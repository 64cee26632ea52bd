"""Which page of a listing to read: the `?limit=&offset=` pair every list endpoint takes.

One value shared by the listing services (their filters are values of their own), so that a
listing's signature names what it lists by, not how it pages (issue #18, PLR0913).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    """A page request: at most `limit` rows, after skipping `offset` (checked by the listing)."""

    limit: int = 100
    offset: int = 0

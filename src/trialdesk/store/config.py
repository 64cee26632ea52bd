"""Where the study database lives.

``TRIALDESK_DATABASE_URL`` wins (e.g. ``postgresql+psycopg://user:pw@host/trialdesk``);
otherwise an embedded SQLite file ``<TRIALDESK_DATA_DIR or ./data>/trialdesk.sqlite``.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DATABASE_URL_ENV = "TRIALDESK_DATABASE_URL"
DATA_DIR_ENV = "TRIALDESK_DATA_DIR"


class DatabaseConfigError(ValueError):
    """A database URL that cannot be used; the message says which setting is wrong."""


def data_dir() -> Path:
    """The data directory (``TRIALDESK_DATA_DIR``, default ``./data``)."""
    return Path(os.environ.get(DATA_DIR_ENV) or "data")


def database_url() -> str:
    """The configured database URL (see module docstring); validated, not connected."""
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if not url:
        return sqlite_url(data_dir() / "trialdesk.sqlite")
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseConfigError(f"{DATABASE_URL_ENV}: {url!r} is not a database URL") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseConfigError(
            f"{DATABASE_URL_ENV}: backend {parsed.get_backend_name()!r} is not supported "
            "(use sqlite:///path or postgresql+psycopg://…)"
        )
    return url


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"

"""Settings of the REST API, read from the environment (or given explicitly, e.g. in tests)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from trialdesk.api.runtime import DEFAULT_THREADS, threads
from trialdesk.store.config import database_url


@dataclass(frozen=True)
class ApiSettings:
    """What `create_app` needs to know.

    database_url: SQLAlchemy URL of the study database; default from `trialdesk.store.config`
        (`TRIALDESK_DATABASE_URL`, else the SQLite file in `TRIALDESK_DATA_DIR`).
    docs_enabled: serve the endpoint reference page at /api/v1/docs (`TRIALDESK_API_DOCS=0`
        turns it off; the OpenAPI document itself is always served).
    threads: worker threads per process for slow requests and web pages (`TRIALDESK_THREADS`, see
      `api.runtime`).
    """

    database_url: str
    docs_enabled: bool = True
    threads: int = DEFAULT_THREADS

    @classmethod
    def from_env(cls) -> ApiSettings:
        return cls(database_url=database_url(), docs_enabled=docs_enabled(), threads=threads())


def docs_enabled() -> bool:
    """`TRIALDESK_API_DOCS` (default on; 0, false or no turn the reference page off)."""
    return os.environ.get("TRIALDESK_API_DOCS", "1").strip().lower() not in {"0", "false", "no"}

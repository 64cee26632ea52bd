"""The study database: SQLAlchemy 2 models, Alembic migrations and the hash-chained audit trail.

* `make_engine(url)` / `make_session_factory(engine)` — SQLite (WAL, foreign keys, busy timeout)
  or PostgreSQL (psycopg 3); `database_url()` reads ``TRIALDESK_DATABASE_URL``.
* `upgrade(url_or_engine)` — ``alembic upgrade head`` with the packaged migrations.
* `trialdesk.store.models` — the ORM classes; `trialdesk.store.audit` — append, verify, history.

Writes go through `trialdesk.services`, which enforce the trial's rules and write the audit
trail; nothing else should modify clinical tables.
"""

from trialdesk.store.base import Base
from trialdesk.store.config import DatabaseConfigError, data_dir, database_url
from trialdesk.store.engine import make_engine, make_session_factory, session_scope
from trialdesk.store.migrate import current_revision, head_revision, upgrade

__all__ = [
    "Base",
    "DatabaseConfigError",
    "current_revision",
    "data_dir",
    "database_url",
    "head_revision",
    "make_engine",
    "make_session_factory",
    "session_scope",
    "upgrade",
]

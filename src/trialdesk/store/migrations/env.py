"""Alembic environment: runs against the engine handed over by `trialdesk.store.migrate`."""

from __future__ import annotations

from alembic import context

import trialdesk.store.models  # noqa: F401 - registers every table on Base.metadata
from trialdesk.store.base import Base
from trialdesk.store.engine import make_engine

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    engine = config.attributes.get("engine") or make_engine(
        config.get_main_option("sqlalchemy.url") or None
    )
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTER via batch copy
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; connect to a database")
run_migrations()

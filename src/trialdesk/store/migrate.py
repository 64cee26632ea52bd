"""Alembic, run programmatically: `upgrade(url)` is what `trialdesk db upgrade` does.

The migration scripts ship inside the package (``trialdesk/store/migrations``), so an installed
trialdesk can create or upgrade its database without an alembic.ini.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from trialdesk.store.engine import make_engine

SCRIPT_LOCATION = "trialdesk.store:migrations"


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic config pointing at the packaged scripts (and at `engine`, when given)."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def upgrade(target: Engine | str | None = None, revision: str = "head") -> str | None:
    """Upgrade the database (an engine, a URL, or the configured one) to `revision`.

    Returns the revision the database is at afterwards.
    """
    engine = target if isinstance(target, Engine) else make_engine(target)
    try:
        command.upgrade(alembic_config(engine), revision)
        return current_revision(engine)
    finally:
        if not isinstance(target, Engine):
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()

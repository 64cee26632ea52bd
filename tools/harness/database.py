"""Isolated, migrated databases for tests (used by the store, services, api and web suites).

    db = fresh_database()                       # SQLite file in a temporary directory
    db = fresh_database(os.environ[POSTGRES_URL_ENV])  # private schema in a PostgreSQL database
    with db.session() as session:
        seed = seed_demo_site_and_users(session)
    db.reset()                                  # empty again (fast), between tests
    seed = db.reset_seeded()                    # empty but for the demo sites and users
    db.dispose()                                # drop the schema / delete the files

Every database is created by the Alembic migration (not `create_all`), so tests exercise the
schema users get. `reset()` restores the just-migrated state: SQLite copies a snapshot of the
migrated file back; PostgreSQL deletes every row (briefly lifting the audit table's
append-only guard) and re-seeds the audit chain head. `reset_seeded()` restores the state just
after `seed_demo_site_and_users`, seeded through the services once per database.

A typical pytest fixture (see ``tests/services/conftest.py``):

    @pytest.fixture(scope="session", params=available_backends())
    def database(request, tmp_path_factory):
        db = fresh_database(backend_url(request.param), directory=tmp_path_factory.mktemp("db"))
        yield db
        db.dispose()
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import uuid
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from trialdesk.services.accounts import NewUserAccount
from trialdesk.store.base import Base
from trialdesk.store.config import sqlite_url
from trialdesk.store.engine import make_engine, make_session_factory
from trialdesk.store.migrate import upgrade
from trialdesk.store.models.audit import GENESIS_HASH

POSTGRES_URL_ENV = "TRIALDESK_TEST_POSTGRES_URL"
DEMO_PASSWORD = "correct horse battery staple"


def available_backends() -> list[str]:
    """``["sqlite"]`` plus ``"postgresql"`` when ``TRIALDESK_TEST_POSTGRES_URL`` is set."""
    return ["sqlite", "postgresql"] if os.environ.get(POSTGRES_URL_ENV) else ["sqlite"]


def backend_url(backend: str) -> str | None:
    """The server URL for `backend` (None for SQLite, which lives in a temporary file)."""
    if backend == "sqlite":
        return None
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        raise RuntimeError(f"{POSTGRES_URL_ENV} is not set")
    return url


@dataclass(frozen=True)
class _Contents:
    """What a PostgreSQL test schema holds: the rows of each table that has any, and the last
    value of each sequence that has been used."""

    rows: dict[str, list[dict[str, Any]]]
    sequences: dict[str, int] = field(default_factory=dict)


#: The just-migrated state: no rows but the audit chain's genesis head.
_MIGRATED = _Contents({"audit_head": [{"id": 1, "last_sequence": 0, "last_hash": GENESIS_HASH}]})


def _sqlite_copy(source: Path, target: Path) -> None:
    """Copy the database `source` into `target` through SQLite's online backup API.

    Replacing the file and deleting its -wal/-shm underneath a connection that a live server
    still held (a request of the previous browser test in flight) left that connection and the
    next one on different files: "disk I/O error" at the next connect. The backup API copies
    page by page under SQLite's own locks instead."""
    with (
        closing(sqlite3.connect(source, timeout=30)) as origin,
        closing(sqlite3.connect(target, timeout=30)) as copy,
    ):
        origin.backup(copy)


@dataclass
class TestDatabase:
    backend: str
    engine: Engine
    schema: str | None = None
    directory: Path | None = None
    _snapshot: Path | None = None
    _admin_url: str | None = None
    _owns_directory: bool = False
    _tables: list[str] = field(default_factory=list)
    _seeded: DemoSeed | None = None
    _seeded_contents: _Contents | None = None  # PostgreSQL: the seeded rows and sequences

    __test__ = False  # not a pytest test class

    @property
    def url(self) -> str:
        """A URL that reaches this database from another process or a command line: on
        PostgreSQL the private schema goes in libpq's ``options`` (``-c search_path=…``)."""
        url = self.engine.url
        if self.schema:
            url = url.update_query_dict({"options": f"-csearch_path={self.schema}"})
        return url.render_as_string(hide_password=False)

    def session(self) -> Session:
        return make_session_factory(self.engine)()

    def reset(self) -> None:
        """Back to the freshly migrated, empty state."""
        if self.backend == "sqlite":
            self._reset_sqlite()
        else:
            self._reset_postgres()

    def reset_seeded(self) -> DemoSeed:
        """Back to the state `reset()` then `seed_demo_site_and_users` leave: the demo sites and
        users, made through the services once per database and restored after that (the same
        rows, ids, password hashes and audit chain), instead of re-made for every test."""
        from trialdesk.services.passwords import use_fast_hashing

        use_fast_hashing()  # as the seeding does: the tests' logins hash at the low cost
        if self._seeded is None:
            self.reset()
            with self.session() as session:
                seed = seed_demo_site_and_users(session)
            self._keep_seeded()
            self._seeded = seed
            return seed
        if self.backend == "sqlite":
            self._reset_sqlite(self._seeded_snapshot)
        else:
            self._reset_postgres(self._seeded_contents)
        return self._seeded

    @property
    def _sqlite_path(self) -> Path:
        return Path(str(self.engine.url.database))

    @property
    def _seeded_snapshot(self) -> Path:
        assert self.directory is not None
        return self.directory / "seeded.sqlite.snapshot"

    def _keep_seeded(self) -> None:
        if self.backend == "sqlite":
            self.engine.dispose()
            _sqlite_copy(self._sqlite_path, self._seeded_snapshot)
        else:
            self._seeded_contents = self._postgres_contents()

    def _postgres_contents(self) -> _Contents:
        with self.engine.connect() as connection:
            rows = {
                table.name: [dict(r) for r in connection.execute(table.select()).mappings()]
                for table in Base.metadata.sorted_tables
            }
            sequences = connection.execute(
                text(
                    "SELECT sequencename, last_value FROM pg_sequences "
                    "WHERE schemaname = current_schema() AND last_value IS NOT NULL"
                )
            )
            return _Contents(
                {name: found for name, found in rows.items() if found},
                {name: int(value) for name, value in sequences},
            )

    def _reset_sqlite(self, source: Path | None = None) -> None:
        """Copy the migrated snapshot (or `source`) into the database (`_sqlite_copy`)."""
        assert self._snapshot is not None
        self.engine.dispose()
        _sqlite_copy(source or self._snapshot, self._sqlite_path)

    def _reset_postgres(self, contents: _Contents | None = None) -> None:
        """Empty every table, then put `contents` back (default: the just-migrated state, the
        audit chain's genesis head and every sequence restarted).

        DELETE rather than TRUNCATE: a test leaves a few rows, and TRUNCATE gives each of the
        forty tables new files (0.15 s a test against a few ms). Autovacuum is off on these
        tables (`_fresh_postgres`), so freed space is not reused and rows are still read back
        in the order they were written, as from the fresh files TRUNCATE made."""
        contents = contents or _MIGRATED
        deletes = "; ".join(f"DELETE FROM {t}" for t in reversed(self._tables))
        with self.engine.begin() as connection:
            connection.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
            connection.exec_driver_sql(deletes)
            connection.execute(text("ALTER TABLE audit_entries ENABLE TRIGGER USER"))
            connection.execute(
                text(
                    "SELECT setval(format('%I', sequencename)::regclass, 1, false) "
                    "FROM pg_sequences WHERE schemaname = current_schema() "
                    "AND last_value IS NOT NULL"
                )
            )
            for name, value in contents.sequences.items():
                connection.execute(text("SELECT setval(:s, :v)"), {"s": name, "v": value})
            for table in Base.metadata.sorted_tables:
                if contents.rows.get(table.name):
                    connection.execute(table.insert(), contents.rows[table.name])

    def dispose(self) -> None:
        self.engine.dispose()
        if self.schema and self._admin_url:
            admin = make_engine(self._admin_url)
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
            admin.dispose()
        if self._owns_directory and self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)


def fresh_database(url: str | None = None, *, directory: Path | None = None) -> TestDatabase:
    """A new, empty database at the migration head.

    `url` None or SQLite: a file ``trialdesk.sqlite`` in `directory` (default: a new temporary
    directory, removed by `dispose`). PostgreSQL: a new private schema in that database.
    """
    if url is None or make_url(url).get_backend_name() == "sqlite":
        return _fresh_sqlite(directory)
    return _fresh_postgres(url)


def _fresh_sqlite(directory: Path | None) -> TestDatabase:
    owns = directory is None
    folder = Path(tempfile.mkdtemp(prefix="trialdesk-db-")) if directory is None else directory
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "trialdesk.sqlite"
    engine = make_engine(sqlite_url(path), durable=False)
    upgrade(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    snapshot = folder / "migrated.sqlite.snapshot"
    shutil.copyfile(path, snapshot)
    return TestDatabase("sqlite", engine, None, folder, snapshot, None, owns)


def _fresh_postgres(url: str) -> TestDatabase:
    schema = f"td_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    # Tests need no durability across a server crash: skip the commit fsync wait.
    engine = make_engine(url, schema=schema, durable=False)
    upgrade(engine)
    tables = [t.name for t in Base.metadata.sorted_tables]
    with engine.begin() as connection:  # see TestDatabase._reset_postgres
        connection.exec_driver_sql(
            "; ".join(f"ALTER TABLE {t} SET (autovacuum_enabled = false)" for t in tables)
        )
    return TestDatabase("postgresql", engine, schema, None, None, url, False, tables)


@dataclass(frozen=True)
class DemoSeed:
    """What `seed_demo_site_and_users` created: site ids by code, user ids by username."""

    sites: dict[str, int]
    users: dict[str, int]
    password: str = DEMO_PASSWORD


DEMO_USERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # username: (roles, site codes)
    "admin": (("admin",), ()),
    "investigator": (("investigator",), ("APGH",)),
    "coordinator": (("coordinator",), ("APGH",)),
    "monitor": (("monitor",), ("APGH",)),
    "statistician": (("statistician",), ("APGH",)),
    "investigator2": (("investigator",), ("PUMC",)),
    "coordinator2": (("coordinator",), ("PUMC",)),
}


def seed_demo_site_and_users(session: Session, *, fast_hashing: bool = True) -> DemoSeed:
    """Two sites (APGH of the protocol, and a second site PUMC) and one user per role.

    Users are created through `trialdesk.services` (so the audit trail has them) with the
    password `DEMO_PASSWORD`. `fast_hashing` lowers the Argon2 cost for the process (tests only).
    """
    from trialdesk.services import (
        SYSTEM,
        PolicySettings,
        create_site,
        create_user,
        set_security_policy,
    )
    from trialdesk.services.passwords import use_fast_hashing

    if fast_hashing:
        use_fast_hashing()
    sites = {
        "APGH": create_site(
            session,
            SYSTEM,
            "APGH",
            "Armed Police General Hospital",
            city="Beijing",
            country="China",
        ).id,
        "PUMC": create_site(
            session, SYSTEM, "PUMC", "Second Demonstration Site", city="Beijing", country="China"
        ).id,
    }
    # The suites that are not about the second factor log in with a password alone; MFA,
    # lockout and expiry have their own tests (tests/security/test_security_access.py).
    set_security_policy(
        session,
        SYSTEM,
        reason="test seed: no second factor",
        settings=PolicySettings(totp_roles=[]),
    )
    users = {
        username: create_user(
            session,
            SYSTEM,
            NewUserAccount(
                username=username,
                full_name=username.title(),
                password=DEMO_PASSWORD,
                roles=list(roles),
                site_codes=list(codes),
                must_change_password=False,
            ),
        ).id
        for username, (roles, codes) in DEMO_USERS.items()
    }
    return DemoSeed(sites, users)


def execute_as_dba(db: TestDatabase, *statements: str) -> None:
    """Run raw SQL with the audit table's append-only guard lifted, then restore the guard.

    This is how the tamper-detection tests play a database administrator editing the audit
    trail behind the application's back.
    """
    with db.engine.begin() as connection:
        if db.backend == "postgresql":
            connection.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
            for statement in statements:
                connection.execute(text(statement))
            connection.execute(text("ALTER TABLE audit_entries ENABLE TRIGGER USER"))
            return
        triggers = connection.execute(
            text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                "AND tbl_name = 'audit_entries'"
            )
        ).all()
        for name, _sql in triggers:
            connection.execute(text(f'DROP TRIGGER "{name}"'))
        for statement in statements:
            connection.execute(text(statement))
        for _name, sql in triggers:
            connection.execute(text(sql))

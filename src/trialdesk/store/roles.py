"""Least privilege on PostgreSQL: an owner role that migrates, an application role that writes.

``trialdesk db roles --app-role NAME`` (run as the role that owns the schema, i.e. the one that
ran ``db upgrade``) creates the application role if needed and grants it exactly:

* ``USAGE`` on the schema, no ``CREATE`` (``CREATE`` on the schema and the database is also
  revoked from ``PUBLIC``): it cannot create tables, functions or schemas;
* ``SELECT, INSERT, UPDATE, DELETE`` on the study tables; on ``audit_entries`` only ``SELECT,
  INSERT``; on ``alembic_version`` only ``SELECT``; never ``TRUNCATE``, ``TRIGGER`` nor
  ``REFERENCES``; ``USAGE, SELECT`` on the id sequences;
* nothing it owns: ``ALTER TABLE``, ``DROP``, ``ALTER TABLE … DISABLE TRIGGER`` need ownership
  (PostgreSQL manual, "Privileges" §5.8: the right to modify or destroy an object is inherent in
  being its owner), and ``SET session_replication_role`` (which silences triggers) needs a
  superuser, which it is refused to be.

So the server, running as that role, can append to the audit trail and nothing else: the
append-only triggers stay in force and cannot be lifted by the application's credentials.
Run it again after every ``db upgrade`` (``db upgrade --app-role NAME`` does both), since new
tables are granted only then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from psycopg import sql
from sqlalchemy import Connection, Engine, text

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
AUDIT_TABLE = "audit_entries"
VERSION_TABLE = "alembic_version"


class RolesError(RuntimeError):
    """Roles that cannot be set up as asked; the message says why and what to do."""


@dataclass
class RolesReport:
    app_role: str
    owner_role: str
    schema: str
    database: str
    created: bool
    granted: list[str] = field(default_factory=list)


def grant_app_role(engine: Engine, app_role: str, password: str | None = None) -> RolesReport:
    """Create (if missing) and grant the application role; see the module docstring."""
    if engine.dialect.name != "postgresql":
        raise RolesError(
            "database roles exist only on PostgreSQL; SQLite has no users or privileges "
            "(see docs/reliability.md: what SQLite cannot enforce)"
        )
    if not ROLE_NAME.match(app_role):
        raise RolesError(
            f"--app-role {app_role!r}: use lower-case letters, digits and _ (63 at most)"
        )
    with engine.begin() as connection:
        owner, schema, database = connection.execute(
            text("SELECT current_user, current_schema(), current_database()")
        ).one()
        if app_role == owner:
            raise RolesError(
                f"--app-role {app_role}: that is the owner role running this command; the "
                "application needs a role of its own"
            )
        _check_schema(connection, schema)
        created = _ensure_role(connection, app_role)
        if password is not None:
            _execute(connection, sql.SQL("ALTER ROLE {} PASSWORD {}"), app_role, password)
        _check_owns_nothing(connection, app_role)
        report = RolesReport(app_role, str(owner), str(schema), str(database), created)
        for statement in _grants(app_role, str(schema), str(database)):
            connection.execute(text(statement))
            report.granted.append(statement)
    return report


def _check_schema(connection: Connection, schema: str | None) -> None:
    if schema is None:
        raise RolesError("no schema on the search path: run `trialdesk db upgrade` first")
    triggers = connection.execute(
        text(
            "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = :table AND n.nspname = :schema AND NOT t.tgisinternal"
        ),
        {"table": AUDIT_TABLE, "schema": schema},
    ).scalar_one()
    if not triggers:
        raise RolesError(
            f"{schema}.{AUDIT_TABLE} has no append-only triggers: run `trialdesk db upgrade` first"
        )


def _ensure_role(connection: Connection, role: str) -> bool:
    row = connection.execute(
        text(
            "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls OR rolreplication "
            "FROM pg_roles WHERE rolname = :role"
        ),
        {"role": role},
    ).first()
    if row is None:
        connection.execute(
            text(
                f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE '
                "NOREPLICATION NOBYPASSRLS"
            )
        )
        return True
    if row[0]:
        raise RolesError(
            f"role {role} is a superuser or may create roles or databases, bypass row security "
            "or replicate: it could lift the audit trail's guards; use another role name or "
            f'ALTER ROLE "{role}" NOSUPERUSER NOCREATEROLE NOCREATEDB NOBYPASSRLS NOREPLICATION'
        )
    return False


def _check_owns_nothing(connection: Connection, role: str) -> None:
    owned = connection.execute(
        text(
            "SELECT (SELECT count(*) FROM pg_class WHERE relowner = r.oid) "
            "+ (SELECT count(*) FROM pg_namespace WHERE nspowner = r.oid) "
            "+ (SELECT count(*) FROM pg_proc WHERE proowner = r.oid) "
            "FROM pg_roles r WHERE r.rolname = :role"
        ),
        {"role": role},
    ).scalar_one()
    if owned:
        raise RolesError(
            f"role {role} owns {owned} tables, schemas or functions in this database, so it "
            f'could alter them or disable their triggers: REASSIGN OWNED BY "{role}" TO the '
            "owner role first"
        )


def _grants(role: str, schema: str, database: str) -> list[str]:
    who, where = f'"{role}"', f'"{schema}"'
    return [
        f'REVOKE CREATE ON DATABASE "{database}" FROM PUBLIC',
        f"REVOKE CREATE ON SCHEMA {where} FROM PUBLIC",
        f"REVOKE ALL ON SCHEMA {where} FROM {who}",
        f"GRANT USAGE ON SCHEMA {where} TO {who}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {where} FROM {who}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {where} TO {who}",
        f"REVOKE UPDATE, DELETE ON {where}.{AUDIT_TABLE} FROM {who}",
        f"REVOKE INSERT, UPDATE, DELETE ON {where}.{VERSION_TABLE} FROM {who}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {where} TO {who}",
    ]


def _execute(connection: Connection, statement: sql.SQL, role: str, secret: str) -> None:
    """A utility statement with a literal (passwords cannot be bound parameters)."""
    driver = connection.connection.driver_connection
    composed = statement.format(sql.Identifier(role), sql.Literal(secret))
    driver.execute(composed)  # type: ignore[union-attr]

"""`trialdesk db upgrade|status|roles`, `trialdesk site add|list`, `trialdesk user add|list`:
administering the study database from the command line (the audit trail: `audit_cmd`).

Commands act as the system administrator (`trialdesk.services.SYSTEM`); the audit trail records
their changes with no user id. The database is `--database` (or `--url`), else
``TRIALDESK_DATABASE_URL``, else the SQLite file in the data directory.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from trialdesk import services as sv
from trialdesk.console.options import URL_OPTION
from trialdesk.console.study_protocol import StudyProtocolError, set_up_study
from trialdesk.services.accounts import NewUserAccount
from trialdesk.services.study import current_protocol
from trialdesk.store import (
    DatabaseConfigError,
    current_revision,
    database_url,
    head_revision,
    make_engine,
    make_session_factory,
    upgrade,
)
from trialdesk.store.models import Site
from trialdesk.store.roles import RolesError, grant_app_role

console = Console(soft_wrap=True)  # messages name paths and URLs: never hard-wrap them
err = Console(stderr=True, soft_wrap=True)

db_app = typer.Typer(help="The study database: create or upgrade its schema.", no_args_is_help=True)
site_app = typer.Typer(help="Trial sites.", no_args_is_help=True)
user_app = typer.Typer(help="User accounts, roles and site memberships.", no_args_is_help=True)

APP_ROLE_OPTION = typer.Option(
    None, "--app-role", help="PostgreSQL: then grant this application role (see `db roles`)"
)


def _fail(message: str, code: int = 1) -> typer.Exit:
    # soft_wrap: a command in the message (e.g. `trialdesk db upgrade`) stays on one line
    err.print(f"[red]{escape(message)}[/red]", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _resolve(url: str | None) -> str:
    try:
        return url or database_url()
    except DatabaseConfigError as exc:
        raise _fail(str(exc), 2) from None


@contextmanager
def database_session(url: str | None) -> Iterator[Session]:
    """A session on an up-to-date database, or a clear message and exit code."""
    target = _resolve(url)
    engine: Engine = make_engine(target)
    try:
        revision = current_revision(engine)
        if revision != head_revision():
            raise _fail(
                f"the database {_shown(target)} is at revision {revision or 'none'}, not "
                f"{head_revision()}: run `trialdesk db upgrade` first"
            )
        with make_session_factory(engine)() as session:
            yield session
    except SQLAlchemyError as exc:
        raise _fail(
            f"database error on {_shown(target)}: {exc.__class__.__name__}: {exc}"
        ) from None
    finally:
        engine.dispose()


def read_password(from_stdin: bool, prompt: str) -> str:
    """The first line of standard input (scripts), or typed twice at a hidden prompt."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=True))


def _refused(exc: sv.ServiceError) -> typer.Exit:
    code = 2 if isinstance(exc, sv.ValidationProblem) else 1
    return _fail(f"refused ({exc.rule}): {exc.message}", code)


@db_app.command("upgrade")
def db_upgrade(
    url: str | None = URL_OPTION,
    with_sites: bool = typer.Option(
        True, "--with-sites/--no-sites", help="Also register the protocol's sites"
    ),
    protocol_file: Path | None = typer.Option(
        None,
        "--protocol",
        help="Protocol YAML the study starts under (default: TRIALDESK_PROTOCOL, else the "
        "built-in NCT01142050); stored in the database on first set-up",
    ),
    effective: datetime | None = typer.Option(
        None, "--effective", formats=["%Y-%m-%d"], help="Date the protocol took effect (today)"
    ),
    app_role: str | None = APP_ROLE_OPTION,
) -> None:
    """Create the database or bring it to the latest schema (alembic upgrade head), and store
    the study's protocol the first time; with --app-role (PostgreSQL), then grant the
    application role its least privileges."""
    target = _resolve(url)
    try:
        revision = upgrade(target)
    except SQLAlchemyError as exc:
        raise _fail(f"cannot upgrade {_shown(target)}: {exc}") from None
    console.print(f"database {_shown(target)} is at revision {revision} (head)", highlight=False)
    with database_session(target) as session:
        on = effective.date() if effective else date.today()
        try:
            version = set_up_study(session, protocol_file, on)
        except StudyProtocolError as exc:
            raise _fail(f"refused: {exc}") from None
        console.print(
            f"protocol {version.protocol_id} version {version.label} "
            f"(sha256 {version.sha256[:12]}…, in force from {version.effective_on})",
            highlight=False,
        )
    if with_sites:
        with database_session(target) as session:
            for site in current_protocol(session).sites:
                if session.scalars(select(Site).where(Site.code == site.code)).first():
                    continue
                sv.create_site(
                    session, sv.SYSTEM, site.code, site.name, city=site.city, country=site.country
                )
                console.print(f"registered site {site.code} ({site.name})", highlight=False)
    if app_role:
        _grant(target, app_role, None)


@db_app.command("roles")
def db_roles(
    app_role: str = typer.Option(
        "trialdesk_app", "--app-role", help="The role the server connects as (created if missing)"
    ),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Set the role's password from the first line of stdin"
    ),
    url: str | None = URL_OPTION,
) -> None:
    """PostgreSQL: grant the application role least privilege (run as the schema's owner).

    It may read and write the study tables, only INSERT into the audit trail, and owns
    nothing, so it cannot run DDL, disable the audit triggers, UPDATE/DELETE/TRUNCATE audit
    entries. Run the server with TRIALDESK_DATABASE_URL naming that role."""
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    _grant(_resolve(url), app_role, password)


def _grant(target: str, app_role: str, password: str | None) -> None:
    engine = make_engine(target)
    try:
        report = grant_app_role(engine, app_role, password)
    except RolesError as exc:
        raise _fail(str(exc), 2) from None
    except SQLAlchemyError as exc:
        raise _fail(f"cannot set up roles on {_shown(target)}: {exc}") from None
    finally:
        engine.dispose()
    state = "created" if report.created else "exists"
    console.print(
        f"application role {report.app_role} ({state}) on {report.database}.{report.schema}: "
        f"SELECT/INSERT/UPDATE/DELETE on the study tables, only SELECT/INSERT on audit_entries, "
        f"no DDL, owns nothing; owner {report.owner_role}. Serve with "
        f"TRIALDESK_DATABASE_URL=postgresql+psycopg://{report.app_role}:…@host/{report.database}",
        highlight=False,
        soft_wrap=True,
    )


@db_app.command("status")
def db_status(url: str | None = URL_OPTION) -> None:
    """Show the schema revision of the database and of this trialdesk."""
    target = _resolve(url)
    engine = make_engine(target)
    try:
        revision = current_revision(engine)
    except SQLAlchemyError as exc:
        raise _fail(f"cannot read {_shown(target)}: {exc}") from None
    finally:
        engine.dispose()
    head = head_revision()
    console.print(f"{_shown(target)}: revision {revision or 'none'} (head {head})", highlight=False)
    if revision != head:
        raise typer.Exit(1)


@site_app.command("add")
def site_add(
    code: str = typer.Argument(..., help="Site code, 2–10 capitals/digits (prefixes study ids)"),
    name: str = typer.Argument(..., help="Hospital name"),
    city: str = typer.Option("", help="City"),
    country: str = typer.Option("", help="Country"),
    url: str | None = URL_OPTION,
) -> None:
    """Register a trial site."""
    with database_session(url) as session:
        try:
            site = sv.create_site(session, sv.SYSTEM, code, name, city=city, country=country)
        except sv.ServiceError as exc:
            raise _refused(exc) from None
    console.print(f"site {site.code} ({site.name}) registered", highlight=False)


@site_app.command("list")
def site_list(url: str | None = URL_OPTION) -> None:
    """List the sites."""
    table = Table("Code", "Name", "City", "Country")
    with database_session(url) as session:
        for site in sv.list_sites(session, sv.SYSTEM):
            table.add_row(site.code, site.name, site.city, site.country)
    console.print(table)


@user_app.command("add")
def user_add(  # noqa: PLR0913  Typer command: one parameter per CLI option (Typer has no option groups)
    username: str = typer.Argument(..., help="Login name (lower case)"),
    *,
    role: list[str] = typer.Option(
        ...,
        "--role",
        help="admin, investigator, coordinator, monitor, statistician or coder (repeat)",
    ),
    site: list[str] = typer.Option([], "--site", help="Site code the user works at (repeat)"),
    name: str | None = typer.Option(None, "--name", help="Full name (default: the username)"),
    email: str | None = typer.Option(None, "--email"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of standard input"
    ),
    change_required: bool = typer.Option(
        True,
        "--change-required/--no-change-required",
        help="The user must change this initial password at first login (default); "
        "--no-change-required only for your own first administrator account",
    ),
    url: str | None = URL_OPTION,
) -> None:
    """Create a user with roles and sites; the password is prompted for (or read from stdin)."""
    password = read_password(password_stdin, "Password")
    with database_session(url) as session:
        try:
            user = sv.create_user(
                session,
                sv.SYSTEM,
                NewUserAccount(
                    username=username,
                    full_name=name or username,
                    password=password,
                    roles=role,
                    site_codes=site,
                    email=email,
                    must_change_password=change_required,
                ),
            )
        except sv.ServiceError as exc:
            raise _refused(exc) from None
    console.print(
        f"user {user.username} created: roles {', '.join(user.roles)}; "
        f"sites {', '.join(user.site_codes) or 'none'}",
        highlight=False,
    )


@user_app.command("list")
def user_list(url: str | None = URL_OPTION) -> None:
    """List the user accounts with their roles and sites."""
    table = Table("Username", "Name", "Roles", "Sites", "Status")
    with database_session(url) as session:
        for user in sv.list_users(session, sv.SYSTEM, limit=500).items:
            table.add_row(
                user.username,
                user.full_name,
                ", ".join(user.roles),
                ", ".join(user.site_codes),
                "active" if user.active else "inactive",
            )
    console.print(table)

"""`trialdesk serve`: run the REST API and the web pages with uvicorn."""

from __future__ import annotations

import os
import secrets

import typer
from rich.console import Console
from rich.markup import escape

console = Console(stderr=True)

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def serve(
    *,
    host: str = typer.Option("127.0.0.1", help="Address to listen on (loopback by default)"),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port"),
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        help="Study database (SQLAlchemy URL); default: TRIALDESK_DATABASE_URL, else the SQLite "
        "file in TRIALDESK_DATA_DIR",
    ),
    workers: int = typer.Option(
        1,
        min=1,
        max=64,
        help="Server processes, each with its own socket on the port. A process runs one "
        "request at a time: use about one per CPU core for heavy use (SQLite and PostgreSQL "
        "alike)",
    ),
    threads: int | None = typer.Option(
        None,
        min=2,
        max=256,
        help="Worker threads per process for the slow requests (sign-in, audit verification) "
        "and the web pages; default: TRIALDESK_THREADS, else 6",
    ),
    log_level: str = typer.Option("info", help="uvicorn log level"),
) -> None:
    """Start the REST API under /api/v1 (OpenAPI document: /api/v1/openapi.json) and the web
    pages under /."""
    import uvicorn
    from sqlalchemy.engine import make_url

    from trialdesk.api.runtime import THREADS_ENV
    from trialdesk.store.config import DATABASE_URL_ENV, DatabaseConfigError
    from trialdesk.web.settings import SECRET_KEY_ENV

    # The settings travel to the worker processes in the environment; each builds its own app.
    if database_url:
        os.environ[DATABASE_URL_ENV] = database_url
    if threads is not None:
        os.environ[THREADS_ENV] = str(threads)
    if workers > 1 and not os.environ.get(SECRET_KEY_ENV, "").strip():
        # A form opened on one worker is posted to another: they must sign with the same key.
        os.environ[SECRET_KEY_ENV] = secrets.token_urlsafe(48)
    try:
        from trialdesk.api.settings import ApiSettings

        settings = ApiSettings.from_env()
    except (DatabaseConfigError, ValueError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    _check_protocol(settings.database_url)
    if host not in _LOOPBACK:
        # Bearer tokens and clinical data travel in clear text without TLS: say so.
        console.print(
            f"[yellow]listening on {host}: put a TLS-terminating reverse proxy in front; tokens "
            "and clinical data must not cross a network unencrypted[/yellow]"
        )
    console.print(
        f"trialdesk API on http://{host}:{port}/api/v1 (reference: /api/v1/docs); "
        f"{workers} process(es) × {settings.threads} threads on "
        f"{make_url(settings.database_url).render_as_string(hide_password=True)}"
    )
    if workers == 1:
        from trialdesk.api import create_app

        uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)
        return
    from trialdesk.api.workers import serve_workers

    try:
        code = serve_workers(host, port, workers, log_level)
    except OSError as exc:
        console.print(f"[red]cannot serve: {exc}[/red]")
        raise typer.Exit(2) from None
    if code:
        raise typer.Exit(code)


def _check_protocol(database_url: str) -> None:
    """Refuse to serve when TRIALDESK_PROTOCOL names a file the database has not registered;
    say which protocol version the server runs."""
    from sqlalchemy.exc import SQLAlchemyError

    from trialdesk.console.study_protocol import StudyProtocolError, study_protocol

    try:
        study = study_protocol(database_url, None)
    except StudyProtocolError as exc:
        console.print(f"[red]refused: {escape(str(exc))}[/red]", highlight=False)
        raise typer.Exit(2) from None
    except SQLAlchemyError as exc:
        first = str(exc).splitlines()[0]
        console.print(f"[yellow]cannot read the stored protocol ({escape(first)})[/yellow]")
        return
    version = f"version {study.versions[-1].label}" if study.versions else "(not stored yet)"
    console.print(f"protocol {study.protocol.id} {version}", highlight=False)

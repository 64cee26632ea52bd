"""`trialdesk serve`: run the REST API with uvicorn."""

from __future__ import annotations

import typer
from rich.console import Console

console = Console(stderr=True)

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (loopback by default)"),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port"),
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        help="Study database (SQLAlchemy URL); default: TRIALDESK_DATABASE_URL, else the SQLite "
        "file in TRIALDESK_DATA_DIR",
    ),
    log_level: str = typer.Option("info", help="uvicorn log level"),
) -> None:
    """Start the REST API under /api/v1 (OpenAPI document: /api/v1/openapi.json)."""
    import uvicorn

    from trialdesk.api import ApiSettings, create_app
    from trialdesk.api.settings import docs_enabled
    from trialdesk.store.config import DatabaseConfigError

    try:
        settings = (
            ApiSettings(database_url=database_url, docs_enabled=docs_enabled())
            if database_url
            else ApiSettings.from_env()
        )
    except DatabaseConfigError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    if host not in _LOOPBACK:
        # Bearer tokens and clinical data travel in clear text without TLS: say so.
        console.print(
            f"[yellow]listening on {host}: put a TLS-terminating reverse proxy in front; tokens "
            "and clinical data must not cross a network unencrypted[/yellow]"
        )
    app = create_app(settings)
    console.print(f"trialdesk API on http://{host}:{port}/api/v1 (reference: /api/v1/docs)")
    uvicorn.run(app, host=host, port=port, log_level=log_level)

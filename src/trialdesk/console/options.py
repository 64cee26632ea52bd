"""Options shared by the commands that work on the study database."""

from __future__ import annotations

import typer

# Every command that works on the study database takes `--database` (report, export, screen,
# simulate, prescreen --into-database and the administration commands alike); `--url` is the
# same option under the name the administration commands first had.
URL_OPTION = typer.Option(
    None,
    "--database",
    "--url",
    help="Study database URL (default: TRIALDESK_DATABASE_URL or ./data/trialdesk.sqlite)",
)

"""Terminal adapters: rich rendering and the typer commands behind `trialdesk`."""

"""The FHIR R4B endpoint (issue 15): a search answered from the cached index against the same
search rebuilding the study's resources first (what an endpoint without the cache would do).

The study is simulated (30 candidates, through the services) into a SQLite file in a temporary
directory. The candidate is ``GET /fhir/R4B/Observation?code=http://loinc.org|4548-4`` through
the app, the index already built (the audit trail unchanged since); the baseline is
`build_index` on the same database followed by the same search. The ratio is baseline /
candidate; the note gives the number of resources.

    python -m benchmarks.run fhir_rest_bench
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from trialdesk import services as sv
from trialdesk.api import ApiSettings, create_app
from trialdesk.api.fhir_index import build_index
from trialdesk.cli import app as cli
from trialdesk.services.accounts import NewUserAccount
from trialdesk.services.actor import Actor
from trialdesk.store.models import Site

SEARCH = [("code", "http://loinc.org|4548-4")]
REPEATS = 5


def _timed(fn: Any) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def _reader(session: Session) -> Actor:
    """A statistician at every site (reads clinical data, pseudonymous)."""
    sites = list(session.scalars(select(Site.code)))
    user = sv.create_user(
        session,
        sv.SYSTEM,
        NewUserAccount(
            username="bench.reader",
            full_name="Benchmark Reader",
            password="granite lantern meadow ocean",
            roles=["statistician"],
            site_codes=sites,
            must_change_password=False,
        ),
    )
    return sv.actor_for(session, user.id)


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'fhir.sqlite'}"
        done = CliRunner().invoke(
            cli, ["simulate", "--candidates", "30", "--seed", "7", "--database", url]
        )
        if done.exit_code != 0:
            raise RuntimeError(done.output)
        app = create_app(ApiSettings(database_url=url))
        with TestClient(app) as client:
            with app.state.sessions() as session:
                reader = _reader(session)
                token = sv.issue_token(session, reader).token
            headers = {"Authorization": f"Bearer {token}"}

            def candidate() -> None:
                answer = client.get("/fhir/R4B/Observation", params=dict(SEARCH), headers=headers)
                answer.raise_for_status()

            candidate()  # builds the index once

            def baseline() -> None:
                with app.state.sessions() as session:
                    build_index(session).search(reader, "Observation", SEARCH)

            with app.state.sessions() as session:
                size = sum(len(r) for r in build_index(session).resources.values())
            return [
                {
                    "name": "FHIR search, cached index vs rebuilt per request",
                    "candidate_seconds": _timed(candidate),
                    "baseline_seconds": _timed(baseline),
                    "note": f"{size} resources, simulated study of 30 candidates",
                }
            ]

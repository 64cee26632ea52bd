"""Schemathesis against the app's own OpenAPI document: every operation, called anonymously and
as each role, with generated (schema-valid and schema-breaking) inputs.

Whatever is sent, the answer is never a 5xx, its status is one the document declares for that
operation, and its body and content type match the document. The number of generated cases is
``TRIALDESK_FUZZ_EXAMPLES`` (``make fuzz``: 5,000; ``make test``: a small budget); the test
fails if fewer cases than that were run.

The fuzzer runs against a database of its own (it creates, changes and voids records, and may
deactivate accounts or change their passwords as an administrator); identities it has locked
out are restored between operations so each role keeps being exercised.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode
from security_helpers import ROLES, SEGMENT_RECORD, Records, build_site, make_app
from sqlalchemy import select
from tools.harness.database import (
    DEMO_PASSWORD,
    TestDatabase,
    available_backends,
    backend_url,
    fresh_database,
    seed_demo_site_and_users,
)

from trialdesk import services as sv
from trialdesk.store.models import User

BUDGET = int(os.environ.get("TRIALDESK_FUZZ_EXAMPLES", "200"))
# `make test` replays the same cases on every run (a red build means a regression, not bad
# luck); `make fuzz` (TRIALDESK_FUZZ_EXAMPLES set) explores new ones each time.
EXPLORE = "TRIALDESK_FUZZ_EXAMPLES" in os.environ
IDENTITIES = (None, *ROLES)  # None: no token at all
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module", params=available_backends())
def fuzz_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestDatabase, FastAPI, dict[str, Records]]]:
    db = fresh_database(backend_url(request.param), directory=tmp_path_factory.mktemp("fuzz"))
    with db.session() as session:
        seed = seed_demo_site_and_users(session)
        actors = {name: sv.actor_for(session, uid) for name, uid in seed.users.items()}
        records = {site: build_site(session, actors, site) for site in ("APGH", "PUMC")}
    yield db, make_app(db), records
    db.dispose()


class Identities:
    """A bearer token per role, re-issued (and the account restored) when fuzzing broke it."""

    def __init__(self, db: TestDatabase, schema: Any) -> None:
        self.db, self.tokens = db, {}
        self.client = schema.app  # the ASGI app

    def headers(self, role: str | None, client: Any) -> dict[str, str]:
        if role is None:
            return {}
        token = self.tokens.get(role)
        if (
            token is None
            or client.get(
                "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}
            ).status_code
            != 200
        ):
            self._restore(role)
            answer = client.post(
                "/api/v1/auth/token", json={"username": role, "password": DEMO_PASSWORD}
            )
            assert answer.status_code == 200, answer.text
            token = self.tokens[role] = answer.json()["access_token"]
        return {"Authorization": f"Bearer {token}"}

    def _restore(self, role: str) -> None:
        with self.db.session() as session:
            user = session.scalars(select(User).where(User.username == role)).one()
            if not user.active:
                sv.update_user(
                    session,
                    sv.SYSTEM,
                    user.id,
                    sv.AccountChange(active=True),
                    expected_version=user.version,
                    reason="fuzz test: reactivate",
                )
            sv.set_password(session, sv.SYSTEM, user.id, DEMO_PASSWORD, reason="fuzz test reset")


def _own_site_ids(operation: Any, records: Records | None) -> dict[str, Any] | None:
    """Path parameters naming real APGH records, so that generated bodies reach the services
    instead of stopping at a 404 for a random id."""
    if records is None or "{" not in operation.path:
        return None
    segments = operation.path.split("/")
    known: dict[str, Any] = {}
    for index, segment in enumerate(segments):
        if not segment.startswith("{"):
            continue
        name, before = segment[1:-1], segments[index - 1]
        if name == "table":
            known[name] = "measurements"
        elif name == "study_id":
            known[name] = records.study_id
        elif before in SEGMENT_RECORD:
            known[name] = records.ids[SEGMENT_RECORD[before]]
        elif name == "record_id":
            known[name] = records.ids["measurement"]
    return known or None


@dataclass(frozen=True)
class _Harness:
    """What every operation of a fuzz run shares: identities, client, budget and the tally."""

    ids: Identities
    client: Any
    examples: int
    statuses: Counter[int]


def _run_operation(
    operation: Any,
    role: str | None,
    harness: _Harness,
    *,
    mode: GenerationMode,
    records: Records | None,
) -> int:
    ran = 0
    ids, client, statuses = harness.ids, harness.client, harness.statuses

    known = _own_site_ids(operation, records) if mode is GenerationMode.POSITIVE else None
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=known)

    @given(case=strategy)
    @settings(
        max_examples=harness.examples,
        deadline=None,
        database=None,
        derandomize=not EXPLORE,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    def one(case: Any) -> None:
        nonlocal ran
        ran += 1
        headers = {**(case.headers or {}), **ids.headers(role, client)}
        if role is None:
            headers.pop("Authorization", None)
        response = case.call(headers=headers)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    one()
    return ran


def test_fuzz_openapi_every_operation_as_every_role(
    fuzz_app: tuple[TestDatabase, FastAPI, dict[str, Records]],
) -> None:
    from fastapi.testclient import TestClient

    db, app, by_site = fuzz_app
    records = by_site["APGH"]
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 60
    per_pair = max(1, math.ceil(BUDGET / (len(operations) * len(IDENTITIES))))
    ids = Identities(db, schema)
    ran, statuses = 0, Counter[int]()
    with TestClient(app) as client:
        harness = _Harness(ids=ids, client=client, examples=per_pair, statuses=statuses)
        rounds = 0
        while ran < BUDGET:
            # Schema-valid inputs on real records, then on any id, then schema-breaking ones.
            mode = GenerationMode.NEGATIVE if rounds % 3 == 2 else GenerationMode.POSITIVE
            real = records if rounds % 3 == 0 else None
            for operation in operations:
                for role in IDENTITIES:
                    ran += _run_operation(operation, role, harness, mode=mode, records=real)
            rounds += 1
    print(
        f"schemathesis: {ran} cases over {len(operations)} operations: {sorted(statuses.items())}"
    )
    assert ran >= BUDGET
    # The inputs got past authentication and validation often enough to reach the services.
    assert sum(n for code, n in statuses.items() if code < 300) >= ran // 20, statuses

"""Optimistic locking under real concurrency: two clients change the same record with the same
If-Match at the same moment; one wins, the other gets 409, and the record shows one change."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from api_helpers import Api, Env, error_of


def _patch_together(
    env: Env, users: tuple[str, str], path: str, bodies: list[dict], version: int
) -> list[httpx.Response]:
    # Each writer has its own client (own connection pool), as two browsers would.
    clients = [Api(env.api.client.app), Api(env.api.client.app)]  # type: ignore[arg-type]
    for api, user in zip(clients, users, strict=True):
        api.token(user)
    start = threading.Barrier(2)

    def write(i: int) -> httpx.Response:
        start.wait()
        return clients[i].patch(users[i], path, bodies[i], if_match=version)

    try:
        with ThreadPoolExecutor(2) as pool:
            return list(pool.map(write, (0, 1)))
    finally:
        for api in clients:
            api.close()


def test_two_writers_same_version_one_wins(env: Env) -> None:
    pid = env.build.consented()
    env.build.screening_visit(pid)
    m = env.build.measurement(pid)
    bodies = [
        {"value": 152, "unit": "mg/dL", "reason": "lab report, page 1"},
        {"value": 170, "unit": "mg/dL", "reason": "lab report, page 2"},
    ]
    responses = _patch_together(
        env, ("coordinator", "investigator"), f"/measurements/{m.id}", bodies, version=1
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409], [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 200).json()
    loser = next(r for r in responses if r.status_code == 409)
    assert error_of(loser)["code"] == "stale_version"

    now = env.api.get("monitor", f"/measurements/{m.id}")
    assert now.headers["ETag"] == '"2"'
    assert now.json()["value_as_entered"] == winner["value_as_entered"]
    history = env.api.get("monitor", f"/audit/measurements/{m.id}").json()["items"]
    assert [e["action"] for e in history] == ["create", "update"]
    assert env.api.get("admin", "/audit/verify").json()["ok"] is True


def test_two_site_users_answer_the_same_query_at_once(env: Env) -> None:
    pid = env.build.consented()
    env.build.screening_visit(pid)
    m = env.build.measurement(pid)
    query = env.build.query(m.id)
    clients = [Api(env.api.client.app), Api(env.api.client.app)]  # type: ignore[arg-type]
    users = ("coordinator", "investigator")
    for api, user in zip(clients, users, strict=True):
        api.token(user)
    start = threading.Barrier(2)

    def answer(i: int) -> httpx.Response:
        start.wait()
        return clients[i].post(
            users[i],
            f"/queries/{query.id}/answer",
            {"answer": f"answer {i}"},
            if_match=query.version,
        )

    try:
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(answer, (0, 1)))
    finally:
        for api in clients:
            api.close()
    assert sorted(r.status_code for r in answers) == [200, 409]
    loser = next(r for r in answers if r.status_code == 409)
    # Refused either on its version or on the query no longer being open: 409 both ways.
    assert error_of(loser)["code"] in {"stale_version", "query_state"}
    final = env.api.get("monitor", f"/queries/{query.id}").json()
    assert final["status"] == "answered" and final["version"] == query.version + 1
    history = env.api.get("monitor", f"/audit/data_queries/{query.id}").json()["items"]
    assert [e["action"] for e in history] == ["create", "update"]

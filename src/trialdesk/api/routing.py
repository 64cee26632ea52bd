"""Where an endpoint's code runs: on the server process's event loop, or on a worker thread.

FastAPI runs a plain ``def`` endpoint on a thread of anyio's pool, and with it any plain ``def``
dependency and the validation of the response: three hops to a thread and back per request.
Under load every hop waits for the GIL, and a thread that gets the GIL back after each database
call waits again, up to the 5 ms switch interval, behind whichever thread is running Python.
Measured on the load benchmark (issue 8, `docs/reliability.md`): on one worker process at ~50
requests/s a write's time inside the server had a p99 of 40 ms on threads and 11 ms on the
event loop, for the same ~5 ms of CPU.

So the record-keeping endpoints, which are short (a few ms of CPU and a handful of statements),
run on the event loop, one at a time per process; processes (`trialdesk serve --workers`) give
the parallelism, as a pre-forking server's synchronous workers do. Endpoints that take long —
password hashing (argon2 is made to be slow), recomputing the whole audit chain — are marked
`@on_thread` and keep the thread pool, so that they do not hold up the requests queued behind
them.

A request's transactions end with its endpoint (the services commit or roll back; anything still
open is rolled back here): on the event loop another request runs as soon as this one awaits,
and it must not find this one's connection, or SQLite's write lock, still taken.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from inspect import iscoroutinefunction
from typing import Any, TypeVar

from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

F = TypeVar("F", bound=Callable[..., Any])
_ON_THREAD = "__trialdesk_on_thread__"


def on_thread(endpoint: F) -> F:
    """Keep `endpoint` on the worker thread pool (put it under the ``@router.get(...)`` line)."""
    setattr(endpoint, _ON_THREAD, True)
    return endpoint


def runs_on_thread(endpoint: Callable[..., Any]) -> bool:
    return bool(getattr(endpoint, _ON_THREAD, False))


def _end_transactions(arguments: dict[str, Any]) -> None:
    for value in arguments.values():
        if isinstance(value, Session) and value.in_transaction():
            value.rollback()


def _on_event_loop(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(endpoint)  # FastAPI reads the signature and annotations through __wrapped__
    async def run_inline(**arguments: Any) -> Any:
        try:
            return endpoint(**arguments)
        finally:
            _end_transactions(arguments)

    return run_inline


class EventLoopRoute(APIRoute):
    """The API's route class: plain ``def`` endpoints run on the event loop unless `on_thread`."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        asynchronous = iscoroutinefunction(endpoint) or iscoroutinefunction(
            getattr(endpoint, "__call__", None)  # noqa: B004 (an object with an async __call__)
        )
        if not asynchronous and not runs_on_thread(endpoint):
            endpoint = _on_event_loop(endpoint)
        super().__init__(path, endpoint, **kwargs)

"""`trialdesk.api.workers`: the supervisor of `trialdesk serve --workers N`, with real processes
on real sockets.

The supervisor runs in a process of its own (``python -c``), so that its signals and exit codes
are real, and in a session of its own, so that its server processes (same process group) can be
found and, should a test fail, stopped. The server processes build a tiny app
(`serve_pid_app`) that answers which process it is."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from serve_pid_app import FAIL_MARKER_ENV, PORT_ENV, pid_at

from trialdesk.api.workers import STARTUP_FAILED, check_port_free

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
STARTUP_SECONDS = 120  # each server process imports FastAPI and trialdesk.api: slow on a busy CI
RESTART_SECONDS = 30
STOP_SECONDS = 30

SUPERVISOR = (
    "import sys\n"
    "from trialdesk.api.workers import serve_workers\n"
    "host, port, workers, app = sys.argv[1:]\n"
    "sys.exit(serve_workers(host, int(port), int(workers), 'warning', app=app))\n"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _start(
    log: Path,
    port: int,
    workers: int,
    app: str = "serve_pid_app:make_app",
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    environment = {**os.environ, **(env or {})}
    # The spawned server processes import the app factory from this directory.
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(HERE)] + ([environment["PYTHONPATH"]] if environment.get("PYTHONPATH") else [])
    )
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", SUPERVISOR, HOST, str(port), str(workers), app],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,  # its own process group: see `_group`
        )


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command: state, ppid, pgrp, ...; None when gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in {"Z", "X"} else fields


def _alive(pid: int) -> bool:
    return _stat(pid) is not None


def _ppid(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[1]) if fields else None


def _group(pgid: int) -> list[int]:
    """The live processes of a process group: the supervisor, its server processes and
    multiprocessing's resource tracker."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat(int(stat.parent.name))
        if fields is not None and int(fields[2]) == pgid:
            found.append(int(stat.parent.name))
    return found


def _servers(supervisor: int) -> set[int]:
    """The live server processes of a supervisor (its spawned children, not the tracker)."""
    found = set()
    for pid in _group(supervisor):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if _ppid(pid) == supervisor and b"multiprocessing.spawn" in command:
            found.add(pid)
    return found


def _group_after_exit(pgid: int, seconds: float = 10) -> list[int]:
    """The group's processes still alive `seconds` after its leader ended (the resource tracker
    takes a moment to notice)."""
    deadline = time.monotonic() + seconds
    while (left := _group(pgid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Cleanup: SIGTERM to the supervisor, then SIGKILL to whatever of its group is left."""
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_SECONDS)
    for pid in _group(process.pid):  # started by this test (its own session)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if process.poll() is None:
        process.wait(timeout=10)


def _try_pid(port: int) -> int | None:
    try:
        return pid_at(port, timeout=10)
    except (OSError, http.client.HTTPException):
        return None


def _wait_for_servers(
    process: subprocess.Popen[bytes], log: Path, port: int, count: int
) -> set[int]:
    """The pids answering once `count` different server processes have answered."""
    deadline = time.monotonic() + STARTUP_SECONDS
    answered: set[int] = set()
    while len(answered) < count:
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"only {answered} answered\n{log.read_text()}"
        pid = _try_pid(port)
        if pid is None:
            time.sleep(0.1)
        else:
            answered.add(pid)
    return answered


def test_check_port_free_names_the_address_in_use() -> None:
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen()
        port = int(listener.getsockname()[1])
        with pytest.raises(OSError, match=re.escape(f"{HOST}:{port} is already in use")):
            check_port_free(HOST, port)
    check_port_free(HOST, port)  # closed: free again


@pytest.mark.slow
def test_two_processes_share_the_new_connections(tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "supervisor.log"
    supervisor = _start(log, port, workers=2)
    try:
        _wait_for_servers(supervisor, log, port, 2)
        answers = Counter(pid_at(port) for _ in range(40))  # each on a new connection
        assert len(answers) == 2, answers
        for pid in answers:
            assert _ppid(pid) == supervisor.pid, f"{pid} is not a child of the supervisor"
        # The kernel spreads them by a hash of the client's port: 5 of 40 is far in the tail.
        assert min(answers.values()) >= 5, answers
    finally:
        _stop(supervisor)


@pytest.mark.slow
def test_a_second_supervisor_on_the_same_port_fails_fast(tmp_path: Path) -> None:
    port = _free_port()
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = _start(first_log, port, workers=1)
    try:
        serving = _wait_for_servers(first, first_log, port, 1)
        second = _start(second_log, port, workers=1)
        try:
            code = second.wait(timeout=STARTUP_SECONDS)
        finally:
            _stop(second)
        assert code != 0, second_log.read_text()
        assert f"{HOST}:{port} is already in use" in second_log.read_text()
        # It took no share of the port: every new connection still goes to the first.
        assert first.poll() is None, first_log.read_text()
        assert {pid_at(port) for _ in range(10)} == serving
    finally:
        _stop(first)


@pytest.mark.slow
def test_a_killed_process_is_replaced(tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "supervisor.log"
    supervisor = _start(log, port, workers=2)
    try:
        before = _wait_for_servers(supervisor, log, port, 2)
        victim, survivor = sorted(before)
        os.kill(victim, signal.SIGKILL)  # a child of our supervisor
        deadline = time.monotonic() + RESTART_SECONDS
        while (pid := _try_pid(port)) in {None, victim, survivor}:
            assert time.monotonic() < deadline, f"no new process answered\n{log.read_text()}"
            time.sleep(0.1)
        assert pid is not None and _ppid(pid) == supervisor.pid
        assert supervisor.poll() is None, log.read_text()
        assert not _alive(victim)
        while (servers := _servers(supervisor.pid)) != {survivor, pid}:
            assert time.monotonic() < deadline, servers
            time.sleep(0.1)
        assert "starting another" in log.read_text()
    finally:
        _stop(supervisor)


@pytest.mark.slow
def test_a_process_that_fails_to_start_stops_them_all(tmp_path: Path) -> None:
    """The first process's factory raises once the second serves: the supervisor stops the
    second too and exits with 3."""
    port = _free_port()
    log = tmp_path / "supervisor.log"
    env = {FAIL_MARKER_ENV: str(tmp_path / "failed-once"), PORT_ENV: str(port)}
    supervisor = _start(log, port, 2, app="serve_pid_app:make_app_failing_once", env=env)
    try:
        serving = _wait_for_servers(supervisor, log, port, 1)
        code = supervisor.wait(timeout=STOP_SECONDS)
        assert code == STARTUP_FAILED, log.read_text()
        assert "failed to start" in log.read_text()
        assert _group_after_exit(supervisor.pid) == []
        assert not any(_alive(pid) for pid in serving)
    finally:
        _stop(supervisor)


@pytest.mark.slow
@pytest.mark.parametrize("ctrl_c", [False, True], ids=["sigterm", "ctrl-c"])
def test_a_signal_stops_the_processes_and_frees_the_port(tmp_path: Path, ctrl_c: bool) -> None:
    """SIGTERM to the supervisor; or SIGINT to its whole group, as a terminal's Ctrl-C."""
    port = _free_port()
    log = tmp_path / "supervisor.log"
    supervisor = _start(log, port, workers=2)
    try:
        serving = _wait_for_servers(supervisor, log, port, 2)
        if ctrl_c:
            os.killpg(supervisor.pid, signal.SIGINT)  # the group of our supervisor's session
        else:
            supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=STOP_SECONDS) == 0, log.read_text()
        assert _group_after_exit(supervisor.pid) == []
        assert not any(_alive(pid) for pid in serving)
        check_port_free(HOST, port)
        assert "Traceback" not in log.read_text(), log.read_text()
    finally:
        _stop(supervisor)

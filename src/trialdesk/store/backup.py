"""Online backup and restore of the study database, checked against a manifest.

* SQLite: the online backup API (``sqlite3.Connection.backup``) copies a consistent snapshot
  while the server keeps running (readers and writers are not stopped); the copy is made
  self-contained (rollback journal, no ``-wal`` file) and integrity-checked.
* PostgreSQL: ``pg_dump --format=custom`` inside an exported snapshot
  (``pg_export_snapshot()``), so the row counts written to the manifest are those of the very
  snapshot that was dumped; ``pg_restore --clean --if-exists --single-transaction`` restores it.

Every backup ``FILE`` gets a manifest ``FILE.manifest.json``: SHA-256 of the file, schema revision,
row count of every table and the audit chain head (last sequence and hash). `restore` refuses a
backup whose audit chain does not verify or whose file does not match its manifest, refuses to
overwrite a database that holds data unless forced, and after restoring checks the audit chain
and that counts and chain head equal the manifest's. The audit trail is the part of the record
that must survive a restore unaltered (21 CFR 11.10(c): protection of records to enable their
accurate and ready retrieval throughout the retention period; ICH E6(R2) 5.5.3).

A PostgreSQL URL may carry ``?options=-csearch_path%3D<schema>``: then only that schema is dumped
and restored (this is how the tests use private schemas).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select, table, text
from sqlalchemy.engine import URL, make_url

from trialdesk.store import models as _models  # noqa: F401  (fills Base.metadata)
from trialdesk.store.anchor import AnchorConfig, AnchorKeyError, CheckpointRefused, write_checkpoint
from trialdesk.store.anchor.checkpoint import record_restore
from trialdesk.store.audit import ChainReport, verify_chain
from trialdesk.store.base import Base
from trialdesk.store.engine import (
    SQLITE_SYNCHRONOUS,
    make_engine,
    make_session_factory,
    sqlite_file,
)
from trialdesk.store.migrate import current_revision
from trialdesk.store.models.audit import GENESIS_HASH, AuditHead

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_FORMAT = "trialdesk-backup/1"


class BackupError(RuntimeError):
    """A backup or restore that cannot be done or did not check out; the message says why."""


@dataclass(frozen=True)
class Snapshot:
    """What a database holds: schema revision, rows per table, audit chain head."""

    revision: str | None
    counts: dict[str, int]
    audit_sequence: int
    audit_hash: str

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class BackupReport:
    path: Path
    manifest_path: Path
    backend: str
    size_bytes: int
    sha256: str
    snapshot: Snapshot
    checkpoint: str | None = None  # the signed checkpoint written with it, said in a sentence


@dataclass(frozen=True)
class RestoreReport:
    backend: str
    snapshot: Snapshot
    chain: ChainReport
    manifest_checked: bool
    notes: list[str] = field(default_factory=list)


# --- what a database holds ----------------------------------------------------------------


def table_names() -> list[str]:
    """The study tables (Alembic's own version table is left out)."""
    return [t.name for t in Base.metadata.sorted_tables]


def take_snapshot(connection: Connection) -> Snapshot:
    """Row counts and chain head, read in the connection's current transaction."""
    counts = {
        name: int(connection.execute(select(func.count()).select_from(table(name))).scalar_one())
        for name in table_names()
    }
    head = connection.execute(select(AuditHead.last_sequence, AuditHead.last_hash)).first()
    sequence, digest = (int(head[0]), str(head[1])) if head else (0, GENESIS_HASH)
    revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return Snapshot(revision, counts, sequence, digest)


def _verify(url: str | URL) -> tuple[Snapshot, ChainReport]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            snap = take_snapshot(connection)
        with make_session_factory(engine)() as session:
            return snap, verify_chain(session)
    finally:
        engine.dispose()


# --- manifest --------------------------------------------------------------------------------


def manifest_path(backup_file: Path) -> Path:
    return backup_file.with_name(backup_file.name + MANIFEST_SUFFIX)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_manifest(report: BackupReport, source: str) -> None:
    body = {
        "format": MANIFEST_FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "backend": report.backend,
        "source": source,
        "file": report.path.name,
        "size_bytes": report.size_bytes,
        "sha256": report.sha256,
        "snapshot": asdict(report.snapshot),
        "audit_checkpoint": report.checkpoint,
    }
    report.manifest_path.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", "utf-8")


def read_manifest(backup_file: Path) -> dict[str, Any] | None:
    """The manifest next to `backup_file`, None when there is none."""
    path = manifest_path(backup_file)
    if not path.exists():
        return None
    try:
        body = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path}: not a readable backup manifest ({exc})") from None
    if not isinstance(body, dict) or body.get("format") != MANIFEST_FORMAT:
        raise BackupError(f"{path}: not a trialdesk backup manifest ({MANIFEST_FORMAT})")
    return body


def _snapshot_of(manifest: dict[str, Any]) -> Snapshot:
    snap = manifest["snapshot"]
    return Snapshot(
        snap.get("revision"),
        {str(k): int(v) for k, v in snap["counts"].items()},
        int(snap["audit_sequence"]),
        str(snap["audit_hash"]),
    )


def compare(expected: Snapshot, actual: Snapshot) -> list[str]:
    """Differences between two snapshots, one sentence each (empty when they agree)."""
    problems = [
        f"table {name}: {expected.counts.get(name, 0)} rows in the backup, "
        f"{actual.counts.get(name, 0)} after restoring"
        for name in sorted(set(expected.counts) | set(actual.counts))
        if expected.counts.get(name, 0) != actual.counts.get(name, 0)
    ]
    if (expected.audit_sequence, expected.audit_hash) != (actual.audit_sequence, actual.audit_hash):
        problems.append(
            f"audit chain head: #{expected.audit_sequence} in the backup, "
            f"#{actual.audit_sequence} after restoring"
        )
    return problems


# --- backend dispatch ----------------------------------------------------------------------


def backend_of(url: str | URL) -> str:
    name = make_url(url).get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise BackupError(f"backend {name!r} is not supported (sqlite or postgresql)")
    return name


def backup(
    url: str, target: Path, *, overwrite: bool = False, anchor: AnchorConfig | None = None
) -> BackupReport:
    """Back the database at `url` up into `target` (+ its manifest); the server may keep running.

    The backup is written to a temporary file and renamed into place only once complete and
    checked, so `target` never holds a partial backup. With an `anchor` whose signing key is
    present, a checkpoint covering at least the backup is signed right after it, so that a
    database later rolled back to this backup is recognised as such.
    """
    target = Path(target)
    if target.exists() and not overwrite:
        raise BackupError(f"{target} already exists (use --overwrite to replace it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    backend = backend_of(url)
    handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    temp = Path(temp_name)
    try:
        snap = _backup_sqlite(url, temp) if backend == "sqlite" else _backup_postgres(url, temp)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    checkpoint, refusal = _checkpoint(url, anchor, target.name)
    report = BackupReport(
        target,
        manifest_path(target),
        backend,
        target.stat().st_size,
        file_sha256(target),
        snap,
        checkpoint,
    )
    _write_manifest(report, make_url(url).render_as_string(hide_password=True))
    if refusal is not None:
        raise BackupError(
            f"backed up to {target} (with its manifest), but no checkpoint was signed: {refusal}"
        )
    return report


def restore(
    source: Path, url: str, *, force: bool = False, anchor: AnchorConfig | None = None
) -> RestoreReport:
    """Restore the backup `source` into the database at `url` and check the result.

    Stop the server first: the restored database replaces the current one wholesale. With an
    `anchor`, a restore that goes back behind the last checkpoint is recorded in the checkpoint
    log (signed), naming the entries lost, so that verification reports it instead of a rollback.
    """
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"{source}: no such backup file")
    backend = backend_of(url)
    kind = detect_format(source)
    if kind != backend:
        raise BackupError(f"{source} is a {kind} backup; it cannot be restored into {backend}")
    manifest = read_manifest(source)
    notes: list[str] = []
    if manifest is None:
        notes.append(f"no manifest {manifest_path(source).name}: counts could not be compared")
    elif manifest.get("sha256") != file_sha256(source):
        raise BackupError(
            f"{source} does not match its manifest (SHA-256 differs): the file was altered or "
            "damaged after the backup"
        )
    _refuse_overwrite(url, force)
    if backend == "sqlite":
        _restore_sqlite(source, url)
    else:
        _restore_postgres(source, url)
    snap, chain = _verify(url)
    if not chain.ok:
        raise BackupError(f"restored, but the {chain}")
    if manifest is not None:
        problems = compare(_snapshot_of(manifest), snap)
        if problems:
            raise BackupError("restored, but it differs from the manifest: " + "; ".join(problems))
    notes.extend(_record_restore(url, anchor, source.name))
    return RestoreReport(backend, snap, chain, manifest is not None, notes)


def _checkpoint(url: str, anchor: AnchorConfig | None, name: str) -> tuple[str | None, str | None]:
    """(the checkpoint signed with a backup, said in a sentence; why none was signed)."""
    if anchor is None or not anchor.can_sign:
        return None, None
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            shown = make_url(url).render_as_string(hide_password=True)
            result = write_checkpoint(session, anchor, reason=f"backup {name}", database=shown)
            return str(result), None
    except (CheckpointRefused, AnchorKeyError, OSError) as exc:
        return None, str(exc)
    finally:
        engine.dispose()


def _record_restore(url: str, anchor: AnchorConfig | None, name: str) -> list[str]:
    if anchor is None or not anchor.log_file.exists():
        return []
    if not anchor.can_sign:
        return [
            f"no signing key at {anchor.key_file}: the restore is not recorded in the checkpoint "
            "log, and `audit verify` will report entries after the backup as rolled back"
        ]
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            shown = make_url(url).render_as_string(hide_password=True)
            note = record_restore(session, anchor, backup_name=name, database=shown)
    except (CheckpointRefused, AnchorKeyError) as exc:
        raise BackupError(f"restored, but {exc}") from None
    finally:
        engine.dispose()
    return [note] if note else []


def detect_format(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "postgresql"
    raise BackupError(f"{path} is neither a SQLite database nor a pg_dump custom-format archive")


def _refuse_overwrite(url: str, force: bool) -> None:
    """Refuse to replace a database that holds study data, unless `force`."""
    if force:
        return
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            if current_revision(engine) is None:
                return
            snap = take_snapshot(connection)
    except Exception:  # no schema yet (or an empty file): nothing to lose
        return
    finally:
        engine.dispose()
    if snap.audit_sequence or snap.counts.get("participants", 0):
        raise BackupError(
            f"the target database is not empty ({snap.counts.get('participants', 0)} "
            f"participants, {snap.audit_sequence} audit entries): restoring replaces all of it; "
            "use --force if that is intended"
        )


# --- SQLite --------------------------------------------------------------------------------


def _sqlite_path(url: str | URL) -> Path:
    path = sqlite_file(url)
    if path is None:
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return path


def _backup_sqlite(url: str, temp: Path) -> Snapshot:
    source_path = _sqlite_path(url)
    if not source_path.exists():
        raise BackupError(f"{source_path}: no such database file")
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    destination = sqlite3.connect(temp)
    destination.execute(SQLITE_SYNCHRONOUS)
    try:
        source.backup(destination)  # one consistent snapshot, writers only briefly paused
        destination.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        _integrity_check(destination, temp)
    finally:
        destination.close()
        source.close()
    snap, chain = _verify(f"sqlite:///{temp}")
    if not chain.ok:
        raise BackupError(f"the database being backed up is damaged: {chain}")
    return snap


def _integrity_check(connection: sqlite3.Connection, path: Path) -> None:
    result = connection.execute("PRAGMA integrity_check").fetchone()
    if not result or result[0] != "ok":
        raise BackupError(f"{path}: SQLite integrity check failed: {result}")


def _restore_sqlite(source: Path, url: str) -> None:
    target_path = _sqlite_path(url)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    # Check the backup before touching the target: a damaged backup must not replace good data.
    check = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        _integrity_check(check, source)
    finally:
        check.close()
    _snap, chain = _verify(f"sqlite:///{source}")
    if not chain.ok:
        raise BackupError(f"the backup's own {chain}: not restored")
    backup_copy = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    destination = sqlite3.connect(target_path)
    destination.execute(SQLITE_SYNCHRONOUS)
    try:
        backup_copy.backup(destination)
        destination.execute("PRAGMA journal_mode=WAL")
    finally:
        destination.close()
        backup_copy.close()


# --- PostgreSQL ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _PgTarget:
    uri: str  # libpq URI without the password
    password: str | None
    schema: str | None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.password:
            env["PGPASSWORD"] = self.password  # not on the command line, where `ps` shows it
        return env


def _pg_target(url: str | URL) -> _PgTarget:
    parsed = make_url(url)
    options = parsed.query.get("options")
    option_text = options if isinstance(options, str) else " ".join(options or ())
    schema = None
    for part in option_text.split():
        if part.startswith("-csearch_path="):
            schema = part.split("=", 1)[1].split(",")[0].strip('"') or None
    plain = URL.create(
        "postgresql",
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
    )
    return _PgTarget(plain.render_as_string(hide_password=False), parsed.password, schema)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"{name} is not installed (Debian/Ubuntu: apt-get install postgresql-client)"
        )
    return path


def _run(command: list[str], target: _PgTarget, what: str) -> None:
    done = subprocess.run(command, env=target.env(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise BackupError(f"{what} failed: {' | '.join(message[-3:]) or done.returncode}")


def _backup_postgres(url: str, temp: Path) -> Snapshot:
    target = _pg_target(url)
    command = [_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges"]
    if target.schema:
        command.append(f"--schema={target.schema}")
    engine = make_engine(url)
    try:
        # Counts and dump come from one exported snapshot: the manifest describes exactly
        # what was dumped even while the server keeps writing.
        with engine.connect() as connection:
            connection.exec_driver_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            snapshot_id = connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
            snap = take_snapshot(connection)
            _run(
                [*command, f"--snapshot={snapshot_id}", f"--file={temp}", f"--dbname={target.uri}"],
                target,
                "pg_dump",
            )
            connection.exec_driver_sql("COMMIT")
    finally:
        engine.dispose()
    return snap


def _restore_postgres(source: Path, url: str) -> None:
    target = _pg_target(url)
    command = [
        _tool("pg_restore"),
        "--clean",
        "--if-exists",
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--exit-on-error",
        f"--dbname={target.uri}",
        str(source),
    ]
    _run(command, target, "pg_restore")

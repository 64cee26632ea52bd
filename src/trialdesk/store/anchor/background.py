"""Checkpoints written by the server: a daemon thread, like `trialdesk.store.sqlite_checkpoint`.

Every `poll_s` seconds it reads the chain head (one indexed row) and writes a checkpoint when
`every_entries` new entries have accumulated or `interval_s` has passed since the last one with
anything new. Several server processes may run it at once: the log's ``flock`` serialises them
and the second finds nothing new. A refusal (the database no longer continues the log) is
logged as an error at every round: it needs a person, not a retry.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from trialdesk.store.anchor.checkpoint import CheckpointRefused, write_checkpoint
from trialdesk.store.anchor.config import AnchorConfig
from trialdesk.store.anchor.keys import AnchorKeyError
from trialdesk.store.anchor.status import Outcome, now_text, record_checkpoint_refused
from trialdesk.store.engine import make_session_factory
from trialdesk.store.models.audit import AuditHead

log = logging.getLogger("trialdesk.audit")

POLL_S = 10.0


class CheckpointWriter:
    def __init__(self, engine: Engine, config: AnchorConfig, poll_s: float = POLL_S) -> None:
        self.engine = engine
        self.config = config
        self.poll_s = min(poll_s, config.interval_s)
        self._sessions = make_session_factory(engine)
        self._database = make_url(engine.url).render_as_string(hide_password=True)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-checkpoint", daemon=True)
        self._checkpointed = -1  # the head at the last checkpoint (unknown at start)
        self._since = time.monotonic()

    def start(self) -> CheckpointWriter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.round(force=True)  # what was written since the last round is anchored at shutdown

    def _run(self) -> None:
        self.round()  # at start: anchors what was written while no server ran, or says why not
        while not self._stop.wait(self.poll_s):
            self.round()

    def round(self, force: bool = False) -> None:
        try:
            with self._sessions() as session:
                head = int(session.scalar(select(AuditHead.last_sequence)) or 0)
                due = (
                    force
                    or self._checkpointed < 0
                    or head - self._checkpointed >= self.config.every_entries
                    or time.monotonic() - self._since >= self.config.interval_s
                )
                if head == self._checkpointed or not due:
                    return
                result = write_checkpoint(
                    session, self.config, reason="server", database=self._database
                )
                session.rollback()
            self._checkpointed, self._since = result.last_sequence, time.monotonic()
            record_checkpoint_refused(self.config, None)
        except (CheckpointRefused, AnchorKeyError) as exc:
            log.error("audit checkpoint refused: %s", exc)
            # Also where people look (the dashboard), not only in the server's log.
            record_checkpoint_refused(self.config, Outcome(now_text(), False, str(exc), "server"))
        except (SQLAlchemyError, OSError) as exc:  # the next round tries again
            log.warning("audit checkpoint failed: %s", exc)


def checkpoint_in_background(engine: Engine, config: AnchorConfig) -> CheckpointWriter | None:
    """A started `CheckpointWriter` when a signing key is configured, else None (and a
    warning)."""
    if not config.can_sign:
        log.warning(
            "no audit checkpoint key at %s: the audit trail is not anchored outside the "
            "database (run `trialdesk audit keygen`)",
            config.key_file,
        )
        return None
    return CheckpointWriter(engine, config).start()

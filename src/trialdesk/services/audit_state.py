"""The audit trail's state for the dashboard: anchored or not, the last checkpoint, the last
verification and a refused checkpoint (issue #18: checks that fail loudly).

21 CFR 11.10(e) asks for secure, computer-generated audit trails; EU GMP Annex 11 §9 asks that
they be reviewed. A failed verification or refused checkpoint that only reaches a log file is
not reviewed, so administrators and investigators see it on their dashboard.
"""

from __future__ import annotations

from pydantic import BaseModel

from trialdesk.services.access import require
from trialdesk.services.actor import Actor, Permission
from trialdesk.store.anchor import AnchorConfig
from trialdesk.store.anchor.status import Outcome, anchor_status
from trialdesk.store.enums import Role

# Who is shown the audit state on the dashboard (the brief of issue #18): the administrator
# who runs the system and the investigator responsible for the site's records (ICH E6(R3)).
AUDIT_STATE_ROLES = frozenset({Role.ADMIN, Role.INVESTIGATOR})


class OutcomeView(BaseModel):
    at: str
    ok: bool
    message: str
    by: str = ""
    first_sequence: int | None = None


class AuditStateView(BaseModel):
    anchored: bool
    checkpoints: int
    last_checkpoint_at: str | None
    keys: str
    log_problem: str | None
    last_verify: OutcomeView | None
    checkpoint_refused: OutcomeView | None

    @property
    def failing(self) -> bool:
        """Something a person must act on now."""
        verify_failed = self.last_verify is not None and not self.last_verify.ok
        return bool(verify_failed or self.checkpoint_refused or self.log_problem)


def _outcome(outcome: Outcome | None) -> OutcomeView | None:
    return None if outcome is None else OutcomeView(**outcome.__dict__)


def shows_audit_state(actor: Actor) -> bool:
    return bool(actor.roles & AUDIT_STATE_ROLES) and actor.can(Permission.READ_AUDIT)


def audit_state(actor: Actor, anchor: AnchorConfig) -> AuditStateView:
    """The state of the anchor at `anchor` (read from its folder, not from the database)."""
    require(actor, Permission.READ_AUDIT, table="audit_entries")
    status = anchor_status(anchor)
    return AuditStateView(
        anchored=status.anchored,
        checkpoints=status.checkpoints,
        last_checkpoint_at=status.last_checkpoint_at,
        keys=status.keys,
        log_problem=status.log_problem,
        last_verify=_outcome(status.last_verify),
        checkpoint_refused=_outcome(status.checkpoint_refused),
    )

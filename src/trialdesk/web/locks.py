"""Whether a page may offer data entry: the role's right (`readonly.refusal`) and the data locks
(`services.locks.write_block`, issue 14). A locked form opens read-only with the lock's reason
(who locked it, when, why, and that an administrator unlocks) instead of a form that is refused
after it was filled in."""

from __future__ import annotations

from sqlalchemy.orm import Session

from trialdesk.services.actor import Permission
from trialdesk.services.locks import write_block
from trialdesk.web.readonly import refusal
from trialdesk.web.routing import WebUser


def entry_block(
    session: Session,
    user: WebUser,
    participant_id: int | None,
    visit_code: str | None = None,
    form: str | None = None,
) -> str:
    """'' when the user may enter data there; else why not, in the services' words."""
    role = refusal(user, Permission.WRITE_CLINICAL)
    if role:
        return role
    return write_block(session, participant_id, visit_code, form)


def lock_rights(
    session: Session,
    user: WebUser,
    participant_id: int | None,
    visit_code: str | None = None,
    form: str | None = None,
) -> dict[str, object]:
    """`can_write` and the lock's notice (shown by base.html) for a page's template."""
    lock = write_block(session, participant_id, visit_code, form) if participant_id else ""
    return {"can_write": user.can("write_clinical") and not lock, "lock_notice": lock}

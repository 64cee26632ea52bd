"""Entry pages a role may open but not save (issue 14): rendered read-only, with the reason,
instead of a form that is refused after it was filled in. The reason is the services' own
refusal (`services.access.require`), so page and service say the same thing."""

from __future__ import annotations

from trialdesk.services.access import require
from trialdesk.services.actor import Permission
from trialdesk.services.errors import Forbidden
from trialdesk.web.routing import WebUser


def refusal(user: WebUser, permission: Permission) -> str:
    """'' when the user's roles grant `permission`; else why not, in the services' words."""
    try:
        require(user.actor, permission)
    except Forbidden as exc:
        return exc.message
    return ""

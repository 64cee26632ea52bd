"""Who is acting: the `Actor` every service takes, and what each role may do.

Role rules (issue 3): a coordinator or investigator writes clinical data at their sites; only an
investigator overrides the enrollment target and signs off; an investigator or an admin locks
data and only an admin unlocks (issue 14); a monitor reads and raises/closes
queries but changes no data; a statistician reads de-identified data only (never the identity
table); an admin manages users and sites and sees no clinical data by that role alone; a coder
(issue 14) reads the clinical data (not the identity) to code adverse event terms and
medications to the dictionaries, loads dictionary releases and raises queries about unclear
verbatims, but edits no clinical data. Every user sees only the participants of their own sites.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from trialdesk.store.enums import Role


class Permission(StrEnum):
    READ_CLINICAL = "read_clinical"
    READ_IDENTITY = "read_identity"
    WRITE_CLINICAL = "write_clinical"
    RAISE_QUERY = "raise_query"
    ANSWER_QUERY = "answer_query"
    CLOSE_QUERY = "close_query"
    OVERRIDE_ENROLLMENT_TARGET = "override_enrollment_target"
    SIGN = "sign"
    READ_AUDIT = "read_audit"
    MANAGE_USERS = "manage_users"
    VERIFY_SOURCE = "verify_source"  # source-data verification and review (issue 14)
    CODE_TERMS = "code_terms"  # medical coding to MedDRA / the drug dictionary (issue 14)
    LOAD_DICTIONARY = "load_dictionary"  # load a coding dictionary release (issue 14)
    # Confirm causality, expectedness and the CTCAE grade of an adverse event: the
    # investigator's medical judgement (ICH E6(R3) Annex 1 §2.7.2(b); issue 14).
    CONFIRM_SAFETY = "confirm_safety"
    LOCK_DATA = "lock_data"  # data lock at form, participant or study level (issue 14)
    UNLOCK_DATA = "unlock_data"  # lifting a data lock, with a reason (issue 14)


P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    # Data locks (issue 14): the investigator (responsible for the site's data, ICH E6(R3)
    # 2.12) and the administrator (data management's role here: trialdesk has no separate
    # data-manager role) lock; only the administrator unlocks, with a reason.
    Role.ADMIN: frozenset(
        {P.MANAGE_USERS, P.READ_AUDIT, P.LOAD_DICTIONARY, P.LOCK_DATA, P.UNLOCK_DATA}
    ),
    Role.INVESTIGATOR: frozenset(
        {
            P.READ_CLINICAL,
            P.READ_IDENTITY,
            P.WRITE_CLINICAL,
            P.RAISE_QUERY,
            P.ANSWER_QUERY,
            P.CLOSE_QUERY,
            P.OVERRIDE_ENROLLMENT_TARGET,
            P.SIGN,
            P.READ_AUDIT,
            P.CONFIRM_SAFETY,
            P.LOCK_DATA,
        }
    ),
    Role.COORDINATOR: frozenset(
        {P.READ_CLINICAL, P.READ_IDENTITY, P.WRITE_CLINICAL, P.ANSWER_QUERY, P.READ_AUDIT}
    ),
    Role.MONITOR: frozenset(
        {P.READ_CLINICAL, P.READ_IDENTITY, P.RAISE_QUERY, P.CLOSE_QUERY, P.READ_AUDIT}
        | {P.VERIFY_SOURCE}  # source-data verification and review (issue 14)
    ),
    Role.STATISTICIAN: frozenset({P.READ_CLINICAL}),
    Role.CODER: frozenset(
        {P.READ_CLINICAL, P.RAISE_QUERY, P.READ_AUDIT, P.CODE_TERMS, P.LOAD_DICTIONARY}
    ),
}


@dataclass(frozen=True)
class Actor:
    """The authenticated user a service acts for (`user_id` None = the system itself)."""

    user_id: int | None
    username: str
    roles: frozenset[Role]
    site_ids: frozenset[int]

    @classmethod
    def of(
        cls, user_id: int | None, username: str, roles: Iterable[Role | str], sites: Iterable[int]
    ) -> Actor:
        return cls(user_id, username, frozenset(Role(r) for r in roles), frozenset(sites))

    @property
    def permissions(self) -> frozenset[Permission]:
        granted: set[Permission] = set()
        for role in self.roles:
            granted |= ROLE_PERMISSIONS[role]
        return frozenset(granted)

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def sees_site(self, site_id: int) -> bool:
        return site_id in self.site_ids

    def __str__(self) -> str:
        return f"{self.username} ({', '.join(sorted(self.roles)) or 'no role'})"


SYSTEM = Actor(None, "system", frozenset({Role.ADMIN}), frozenset())
"""The command line and start-up tasks (creating the first users): an administrator with no
site. Audit entries written for it have no user id."""

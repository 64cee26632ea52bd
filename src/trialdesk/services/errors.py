"""Domain exceptions. Each carries a stable `rule` code, a message naming the field or rule, and
the HTTP status an adapter should answer with (services never import a web framework)."""

from __future__ import annotations

from typing import Any, ClassVar


class ServiceError(Exception):
    """Base of every refusal a service makes."""

    http_status: ClassVar[int] = 400

    def __init__(self, rule: str, message: str, field: str | None = None, **context: Any) -> None:
        self.rule = rule
        self.message = message
        self.field = field
        # Where the refusal happened (table, record_id, site_id, participant_id) for the audit.
        self.context: dict[str, Any] = context
        super().__init__(message)

    @property
    def status(self) -> int:
        return self.http_status

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.rule, "message": self.message, "field": self.field}


class RuleViolation(ServiceError):
    """A trial rule forbids this (e.g. enrollment without consent): 422, or 409 when it
    conflicts with the current state (e.g. the enrollment target is reached)."""

    http_status = 422

    def __init__(
        self,
        rule: str,
        message: str,
        field: str | None = None,
        *,
        conflict: bool = False,
        **context: Any,
    ) -> None:
        super().__init__(rule, message, field, **context)
        self.conflict = conflict

    @property
    def status(self) -> int:
        return 409 if self.conflict else 422


class ValidationProblem(ServiceError):
    """A value is unacceptable: names the field and the reason (422)."""

    http_status = 422

    def __init__(self, field: str, reason: str, rule: str = "invalid_value") -> None:
        super().__init__(rule, f"{field}: {reason}", field)
        self.reason = reason


class AccessRefused(ServiceError):
    """Base of the refusals that are written to the audit trail."""


class NotFound(AccessRefused):
    """No such record, or one at a site the user does not belong to (404: existence is not
    revealed across sites)."""

    http_status = 404


class Forbidden(AccessRefused):
    """The user's role does not allow this (403)."""

    http_status = 403


class DataLocked(AccessRefused):
    """The data are locked (form, participant or study level, issue 14): 423 Locked (RFC 4918
    section 11.3), the message naming the lock, who set it and when; audited as a refusal."""

    http_status = 423


class StaleVersion(ServiceError):
    """The record changed since the caller read it (optimistic lock): nothing was changed (409)."""

    http_status = 409


class Unauthenticated(AccessRefused):
    """Unknown user, wrong password, locked account, or an expired/revoked token (401).

    Raised inside a service (e.g. a wrong password when signing) it is audited like any refusal.
    """

    http_status = 401


class TooManyAttempts(Unauthenticated):
    """Login throttled after repeated failures (429 Too Many Requests, RFC 6585 §4): the same
    answer for a known account (locked) and an unknown name, so the throttle reveals nothing.
    `retry_after` is the number of seconds until a new attempt can succeed."""

    http_status = 429

    def __init__(self, rule: str, message: str, retry_after: int) -> None:
        super().__init__(rule, message)
        self.retry_after = max(1, retry_after)


class ServiceUnavailable(ServiceError):
    """The server lacks what this needs (e.g. the key that opens TOTP secrets): 503, and the
    message says which setting; nothing was changed."""

    http_status = 503

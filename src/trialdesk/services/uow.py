"""One transaction per service call, and the audited create / update / void of a record.

`@service` wraps a use case ``fn(session, actor, ...)``: it commits on success and rolls back on
any error; access refusals (`NotFound`, `Forbidden`) are then written to the audit trail in a
transaction of their own (the refused work is gone, the refusal is kept); a lost optimistic-lock
race (`StaleDataError`) becomes `StaleVersion`. A service called from inside another joins the
outer transaction instead of committing early.

`add_record`, `change_record` and `void_record` are the only way services write clinical rows:
each appends the audit entry (field-level old → new) in the same transaction, and a change after
first entry needs a reason (21 CFR 11.10(e); ICH E6(R2) 4.9.0). Each first asks
`services.locks.guard_write` whether a data lock freezes the row (issue 14).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import wraps
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from trialdesk.services.actor import Actor
from trialdesk.services.errors import (
    AccessRefused,
    RuleViolation,
    StaleVersion,
    ValidationProblem,
)
from trialdesk.services.labels import record_label
from trialdesk.store import audit
from trialdesk.store.base import AUDITED_EXCLUDE, ClinicalRecord
from trialdesk.store.enums import AuditAction
from trialdesk.store.types import utcnow

log = logging.getLogger("trialdesk.services")

P = ParamSpec("P")
R = TypeVar("R")
Row = TypeVar("Row")
_ACTIVE = "trialdesk.service_active"


def service(
    fn: Callable[Concatenate[Session, Actor, P], R],
) -> Callable[Concatenate[Session, Actor, P], R]:
    """Run `fn` as one transaction (see module docstring)."""

    @wraps(fn)
    def run(session: Session, actor: Actor, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if session.info.get(_ACTIVE):
            return fn(session, actor, *args, **kwargs)
        session.info[_ACTIVE] = True
        try:
            result = fn(session, actor, *args, **kwargs)
            session.commit()
            return result
        except AccessRefused as exc:
            session.rollback()
            _audit_refusal(session, actor, fn.__name__, exc)
            raise
        except StaleDataError:
            session.rollback()
            raise StaleVersion(
                "stale_version",
                "the record was changed by someone else while this change was being saved; "
                "nothing was changed: reload it and try again",
            ) from None
        except (DataError, OverflowError) as exc:
            # A number the database cannot hold (an id above 2147483647 on PostgreSQL, above
            # 2**63 on SQLite): the request is wrong, not the server (found by fuzzing, issue 8).
            session.rollback()
            log.info("value out of range in %s: %s", fn.__name__, exc)
            raise ValidationProblem(
                "request",
                "a number in the request is outside the range the database can store "
                "(record ids and counts go up to 2147483647)",
                rule="out_of_range",
            ) from None
        except IntegrityError as exc:
            session.rollback()
            log.warning("integrity error in %s: %s", fn.__name__, exc.orig)
            raise RuleViolation(
                "conflicting_write",
                "the change conflicts with a record saved at the same time (e.g. the same visit "
                "entered twice); nothing was changed",
                conflict=True,
            ) from None
        except BaseException:
            session.rollback()
            raise
        finally:
            session.info.pop(_ACTIVE, None)

    return run


def _audit_refusal(session: Session, actor: Actor, operation: str, exc: AccessRefused) -> None:
    try:
        audit.record_refusal(
            session,
            audit.Refusal(
                user_id=actor.user_id,
                operation=operation,
                rule=exc.rule,
                message=exc.message,
                table=exc.context.get("table"),
                record_id=exc.context.get("record_id"),
                site_id=exc.context.get("site_id"),
                participant_id=exc.context.get("participant_id"),
            ),
        )
        session.commit()
    except Exception:  # the refusal itself must still reach the caller
        session.rollback()
        log.exception("could not audit the refusal of %s for %s", operation, actor)


SECRET_COLUMNS = frozenset({"password_hash", "token_hash", "totp_secret", "pending_totp_secret"})
"""Never written into the audit trail in clear: shown as ``"***"``."""


def row_values(row: Any) -> dict[str, Any]:
    """The audited column values of an ORM row (bookkeeping columns left out)."""
    mapper = sa_inspect(row).mapper
    return {
        attr.key: "***" if attr.key in SECRET_COLUMNS else getattr(row, attr.key)
        for attr in mapper.column_attrs
        if attr.key not in AUDITED_EXCLUDE
    }


def require_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationProblem(
            "reason",
            "a reason is required to change a record after its first entry "
            "(21 CFR 11.10(e); ICH E6(R2) 4.9.0)",
            rule="reason_required",
        )
    return text


def check_version(row: Any, expected_version: int, label: str) -> None:
    if row.version != expected_version:
        raise StaleVersion(
            "stale_version",
            f"{label} is at version {row.version}, not {expected_version}: it was changed since "
            "you read it; reload it and try again",
            "version",
        )


def _where(participant: Any | None) -> dict[str, Any]:
    if participant is None:
        return {"site_id": None, "participant_id": None}
    return {"site_id": participant.site_id, "participant_id": participant.id}


def add_record(
    session: Session,
    actor: Actor,
    row: Row,
    participant: Any | None = None,
    extra: Mapping[str, list[Any]] | None = None,
) -> Row:
    """Insert `row` and audit its first entry (every non-empty field as None → value; `extra`
    adds facts that are not columns, e.g. where a value was taken from)."""
    _guard_locks(session, row, participant)
    if hasattr(row, "created_by"):
        row.created_by = actor.user_id
    session.add(row)
    session.flush()
    values = {k: [None, v] for k, v in row_values(row).items() if v is not None}
    values.update(extra or {})
    record: Any = row  # an ORM row: has __tablename__ and id
    audit.append(
        session,
        audit.NewEntry(
            user_id=actor.user_id,
            action=AuditAction.CREATE,
            table=record.__tablename__,
            record_id=record.id,
            changes=values,
            **_where(participant),
        ),
    )
    _clear_marks(session, actor, row, changes=None, why="", participant=participant)
    return row


@dataclass(frozen=True, kw_only=True)
class RecordChange:
    """A change to a record whose audit entry is more than an update of its columns: `values`
    (field → new value) audited as `action` (e.g. a void), with `extra` old → new pairs that are
    not columns of the record (e.g. replaced child rows; 21 CFR 11.10(e))."""

    values: Mapping[str, Any]
    action: AuditAction = AuditAction.UPDATE
    extra: Mapping[str, list[Any]] | None = None


def change_record(
    session: Session,
    actor: Actor,
    row: Any,
    changes: Mapping[str, Any] | RecordChange,
    *,
    reason: str | None,
    expected_version: int | None,
    participant: Any | None = None,
) -> dict[str, list[Any]]:
    """Apply `changes` (field → new value, or a `RecordChange`) with an audited reason; returns
    the diff.

    `expected_version` None skips the caller-side version check (used for system-made follow-up
    changes inside the same transaction); the database-side check always applies. A
    `RecordChange`'s `extra` also bumps the row's version so that concurrent editors of the
    children collide.
    """
    change = changes if isinstance(changes, RecordChange) else RecordChange(values=changes)
    label = f"this {record_label(row.__tablename__)}"
    _guard_locks(session, row, participant)
    if expected_version is not None:
        check_version(row, expected_version, label)
    why = require_reason(reason)
    diff = {
        key: [getattr(row, key), value]
        for key, value in change.values.items()
        if getattr(row, key) != value
    }
    if not diff and not change.extra:
        return {}
    old_version = row.version
    for key, (_old, new) in diff.items():
        setattr(row, key, new)
    for key in SECRET_COLUMNS & diff.keys():
        diff[key] = ["***", "***"]
    row.updated_at = utcnow()
    if hasattr(row, "updated_by"):
        row.updated_by = actor.user_id
    session.flush()
    diff.update(change.extra or {})
    diff["version"] = [old_version, row.version]
    audit.append(
        session,
        audit.NewEntry(
            user_id=actor.user_id,
            action=change.action,
            table=row.__tablename__,
            record_id=row.id,
            changes=diff,
            reason=why,
            **_where(participant),
        ),
    )
    _clear_marks(session, actor, row, changes=diff, why=why, participant=participant)
    _clear_coding(session, actor, row, changes=diff, why=why, participant=participant)
    return diff


def _clear_coding(
    session: Session,
    actor: Actor,
    row: Any,
    *,
    changes: dict[str, list[Any]],
    why: str,
    participant: Any | None,
) -> None:
    """A changed verbatim (an AE term, a drug name) clears its medical coding (issue 14).
    Imported here, not at the top: `coding` writes its assignments through this module."""
    from trialdesk.services.coding import clear_coding_after_write

    clear_coding_after_write(
        session, actor, row, changes=changes, reason=why, participant=participant
    )


def _guard_locks(session: Session, row: Any, participant: Any | None) -> None:
    """The one place data locks are enforced (issue 14): every clinical write comes through
    `add_record`/`change_record`/`void_record`. Imported here: `locks` writes through this
    module."""
    from trialdesk.services.locks import guard_write

    with session.no_autoflush:  # a pending change must not be flushed (and versioned) by a read
        guard_write(session, row, participant)


def _clear_marks(
    session: Session,
    actor: Actor,
    row: Any,
    *,
    changes: dict[str, list[Any]] | None,
    why: str,
    participant: Any | None,
) -> None:
    """A write to clinical data clears the monitor's verification marks that covered it
    (issue 14). Imported here, not at the top: `sdv` writes its marks through this module."""
    from trialdesk.services.sdv import clear_marks_after_write

    clear_marks_after_write(
        session, actor, row, changes=changes, reason=why, participant=participant
    )


def void_record(
    session: Session,
    actor: Actor,
    row: ClinicalRecord,
    *,
    reason: str | None,
    expected_version: int | None,
    participant: Any | None = None,
) -> None:
    """Mark a clinical row voided (never deleted), with the reason, audited as ``void``."""
    label = f"this {record_label(row.__tablename__)}"  # type: ignore[attr-defined]
    if row.voided:
        raise RuleViolation("already_voided", f"{label} is already voided", conflict=True)
    why = require_reason(reason)
    row.voided_at = utcnow()
    row.voided_by = actor.user_id
    change_record(
        session,
        actor,
        row,
        RecordChange(values={"voided": True, "void_reason": why}, action=AuditAction.VOID),
        reason=why,
        expected_version=expected_version,
        participant=participant,
    )

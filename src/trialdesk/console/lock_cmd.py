"""`trialdesk lock study|participant|list` and `trialdesk unlock`: data locks from the command
line (issue 14), through the same services as the web and API, audited with the reason.
Commands act as the system administrator (`trialdesk.services.SYSTEM`), who may lock and
unlock at every site."""

from __future__ import annotations

import typer
from rich.table import Table

from trialdesk import services as sv
from trialdesk.console.db_cmd import console
from trialdesk.console.options import URL_OPTION
from trialdesk.console.security_cmd import REASON_OPTION, service_session
from trialdesk.services.locks import lockable_participant

lock_app = typer.Typer(
    help="Lock data: the study (database lock for analysis), a casebook, or one form.",
    no_args_is_help=True,
)


@lock_app.command("study")
def lock_study(reason: str = REASON_OPTION, url: str | None = URL_OPTION) -> None:
    """Lock the whole study database: every clinical write is refused until unlocked."""
    with service_session(url) as session:
        lock = sv.lock_study(session, sv.SYSTEM, reason=reason)
    console.print(f"lock {lock.id}: {lock.what} locked ({reason})", highlight=False)


@lock_app.command("participant")
def lock_participant(
    study_id: str = typer.Argument(..., help="The participant's study id, e.g. APGH-007"),
    visit: str | None = typer.Option(None, "--visit", help="With --form: lock one form"),
    form: str | None = typer.Option(
        None, "--form", help="A form of --visit (e.g. labs); adverse_events (a log) needs no visit"
    ),
    reason: str = REASON_OPTION,
    url: str | None = URL_OPTION,
) -> None:
    """Lock a participant's casebook, or with --visit and --form one form of one visit."""
    with service_session(url) as session:
        pid = lockable_participant(session, sv.SYSTEM, study_id)
        if visit or form:
            lock = sv.lock_form(
                session, sv.SYSTEM, pid, visit_code=visit or "", form=form or "", reason=reason
            )
        else:
            lock = sv.lock_participant(session, sv.SYSTEM, pid, reason=reason)
    console.print(f"lock {lock.id}: {lock.what} locked ({reason})", highlight=False)


@lock_app.command("list")
def lock_list(
    all_: bool = typer.Option(False, "--all", help="Also the locks lifted since"),
    url: str | None = URL_OPTION,
) -> None:
    """The data locks (active ones unless --all)."""
    with service_session(url) as session:
        locks = sv.list_locks(session, sv.SYSTEM, active_only=not all_)
    # What is locked, and by whom, must stay readable on an 80-column terminal; the rest wraps.
    table = Table("lock")
    table.add_column("what", no_wrap=True)
    table.add_column("locked", no_wrap=True)
    table.add_column("reason")
    table.add_column("unlocked")
    for x in locks:
        unlocked = (
            f"{x.unlocked_by_name}, {x.unlocked_at:%Y-%m-%d %H:%M} UTC ({x.unlock_reason})"
            if x.unlocked_at is not None
            else "—"
        )
        table.add_row(
            str(x.id),
            x.what,
            f"{x.locked_by_name}, {x.locked_at:%Y-%m-%d %H:%M} UTC",
            x.reason,
            unlocked,
        )
    console.print(table if locks else "no data locks")


def unlock(
    lock_id: int = typer.Argument(..., help="The lock's number (trialdesk lock list)"),
    reason: str = REASON_OPTION,
    url: str | None = URL_OPTION,
) -> None:
    """Lift a data lock (administrators; the reason is kept in the audit trail)."""
    with service_session(url) as session:
        lock = sv.unlock(session, sv.SYSTEM, lock_id, reason=reason)
    console.print(f"lock {lock.id}: {lock.what} unlocked ({reason})", highlight=False)

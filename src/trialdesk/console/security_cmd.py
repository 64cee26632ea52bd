"""`trialdesk security keygen`, `trialdesk security policy show|set`,
`trialdesk user unlock|reset-password|reset-totp|redcap-token|redcap-revoke`:
the access controls an administrator configures (issue #18; 21 CFR 11.300, EU GMP Annex 11
§12, NIST SP 800-63B). Each change goes through `trialdesk.services` and is audited with its
reason; commands act as the system administrator (`trialdesk.services.SYSTEM`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from trialdesk import services as sv
from trialdesk.console.db_cmd import (
    _fail,
    _refused,
    console,
    database_session,
    read_password,
    user_app,
)
from trialdesk.console.options import URL_OPTION
from trialdesk.store.sealed import KEY_ENV, KEY_FILE_ENV, SecretKeyMissing, generate_secret_key


@contextmanager
def service_session(url: str | None) -> Iterator[Session]:
    """A session on the study database in which a service's refusal (a missing reason, an
    unknown user, a value out of range) ends the command with its message and exit code 1,
    instead of each command repeating the same ``except``."""
    with database_session(url) as session:
        try:
            yield session
        except sv.ServiceError as exc:
            raise _refused(exc) from None


security_app = typer.Typer(
    help="Access controls: the security policy (second factor, lockout, idle timeout, passwords).",
    no_args_is_help=True,
)
policy_app = typer.Typer(help="The study-wide security policy and per-site overrides.")
security_app.add_typer(policy_app, name="policy")

SITE_OPTION = typer.Option(None, "--site", help="A site's override (default: study-wide)")
REASON_OPTION = typer.Option(..., "--reason", help="Why (kept in the audit trail)")


@security_app.command("keygen")
def security_keygen(
    key_file: Path | None = typer.Option(
        None,
        "--key-file",
        help="Where to write it (default: TRIALDESK_TOTP_KEY_FILE, else totp-secrets.key in "
        "the audit folder)",
    ),
) -> None:
    """Create the key that encrypts TOTP secrets in the database (0600; never overwritten)."""
    try:
        path = generate_secret_key(key_file)
    except (SecretKeyMissing, OSError) as exc:
        raise _fail(str(exc)) from None
    console.print(
        f"TOTP secret key written to {path} (0600). Keep it out of the database's backups and "
        "back it up separately: without it no one can sign in with a second factor. Servers "
        f"read it from there, from {KEY_FILE_ENV}, or the key itself from {KEY_ENV}.",
        highlight=False,
        soft_wrap=True,
    )


@policy_app.command("show")
def policy_show(site: str | None = SITE_OPTION, url: str | None = URL_OPTION) -> None:
    """Show the policy in force (study-wide, or at a site)."""
    with service_session(url) as session:
        policy = sv.get_security_policy(session, sv.SYSTEM, site)
    table = Table("Setting", "Value")
    table.add_row("scope", f"site {site}" if site else "study-wide")
    table.add_row("stored", "yes" if policy.stored else "no (built-in default)")
    table.add_row("totp roles", ", ".join(policy.totp_roles) or "none")
    for name in (
        "lockout_threshold",
        "lockout_minutes",
        "idle_timeout_minutes",
        "min_password_length",
        "password_history",
        "max_password_age_days",
        "password_expiry_warning_days",
    ):
        table.add_row(name.replace("_", " "), str(getattr(policy, name)))
    console.print(table)


@policy_app.command("set")
def policy_set(  # noqa: PLR0913  Typer command: one parameter per CLI option (Typer has no option groups)
    *,
    reason: str = REASON_OPTION,
    site: str | None = SITE_OPTION,
    totp_role: list[str] | None = typer.Option(
        None, "--totp-role", help="A role that needs TOTP (repeat; the list replaces the old one)"
    ),
    no_totp: bool = typer.Option(False, "--no-totp", help="No role needs a second factor"),
    lockout_threshold: int | None = typer.Option(None, help="Failed logins before a lockout"),
    lockout_minutes: int | None = typer.Option(None, help="How long a lockout lasts"),
    idle_timeout_minutes: int | None = typer.Option(None, help="Inactivity ending a session"),
    min_password_length: int | None = typer.Option(None, help="At least 12"),
    password_history: int | None = typer.Option(None, help="Earlier passwords not reusable"),
    max_password_age_days: int | None = typer.Option(
        None, help="21 CFR 11.300(b): change at sign-in after N days (0: no ageing)"
    ),
    password_expiry_warning_days: int | None = typer.Option(
        None, help="Warn at sign-in N days before the password expires"
    ),
    url: str | None = URL_OPTION,
) -> None:
    """Change the policy (only the settings given); audited with the reason."""
    roles = [] if no_totp else (totp_role or None)
    with service_session(url) as session:
        policy = sv.set_security_policy(
            session,
            sv.SYSTEM,
            reason=reason,
            site_code=site,
            settings=sv.PolicySettings(
                totp_roles=roles,
                lockout_threshold=lockout_threshold,
                lockout_minutes=lockout_minutes,
                idle_timeout_minutes=idle_timeout_minutes,
                min_password_length=min_password_length,
                password_history=password_history,
                max_password_age_days=max_password_age_days,
                password_expiry_warning_days=password_expiry_warning_days,
            ),
        )
    console.print(
        f"security policy ({'site ' + site if site else 'study-wide'}) saved: TOTP for "
        f"{', '.join(policy.totp_roles) or 'no role'}; lockout after {policy.lockout_threshold} "
        f"failures for {policy.lockout_minutes} min; idle timeout {policy.idle_timeout_minutes} "
        f"min; passwords ≥ {policy.min_password_length} characters, last "
        f"{policy.password_history} not reusable; maximum age "
        f"{policy.max_password_age_days or 'none'}"
        f"{' days' if policy.max_password_age_days else ''}",
        highlight=False,
    )


@user_app.command("unlock")
def user_unlock(
    username: str = typer.Argument(..., help="Login name"),
    reason: str = REASON_OPTION,
    url: str | None = URL_OPTION,
) -> None:
    """Lift a lockout after failed logins (audited with the reason)."""
    with service_session(url) as session:
        user = sv.find_user(session, sv.SYSTEM, username)
        sv.unlock_user(session, sv.SYSTEM, user.id, reason=reason)
    console.print(f"user {username} unlocked", highlight=False)


@user_app.command("reset-password")
def user_reset_password(
    username: str = typer.Argument(..., help="Login name"),
    reason: str = REASON_OPTION,
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of standard input"
    ),
    url: str | None = URL_OPTION,
) -> None:
    """Set a temporary password: the user must change it at the next login; tokens revoked."""
    password = read_password(password_stdin, "Temporary password")
    with service_session(url) as session:
        user = sv.find_user(session, sv.SYSTEM, username)
        sv.set_password(session, sv.SYSTEM, user.id, password, reason=reason, temporary=True)
    console.print(
        f"temporary password set for {username}: to be changed at the next login",
        highlight=False,
    )


@user_app.command("reset-totp")
def user_reset_totp(
    username: str = typer.Argument(..., help="Login name"),
    reason: str = REASON_OPTION,
    url: str | None = URL_OPTION,
) -> None:
    """Remove a lost authenticator and its recovery codes: the user enrols again."""
    with service_session(url) as session:
        user = sv.find_user(session, sv.SYSTEM, username)
        sv.reset_totp(session, sv.SYSTEM, user.id, reason=reason)
    console.print(f"second factor of {username} removed: enrolment at next login", highlight=False)


@user_app.command("redcap-token")
def user_redcap_token(
    username: str = typer.Argument(..., help="Login name of the user the token acts for"),
    days: int = typer.Option(90, "--days", help="Valid for this many days (at most 90)"),
    url: str | None = URL_OPTION,
) -> None:
    """A REDCap API token (32 hexadecimal characters) for `/redcap/api/`: shown once, stored
    hashed, acting with the user's roles and sites (audited)."""
    from trialdesk.services.redcap_tokens import issue_redcap_token

    with service_session(url) as session:
        user = sv.find_user(session, sv.SYSTEM, username)
        issued = issue_redcap_token(session, sv.SYSTEM, user.id, days=days)
    console.print(
        f"REDCap API token for {username} (valid until {issued.expires_at:%Y-%m-%d}; shown "
        f"once):\n{issued.token}",
        highlight=False,
    )


@user_app.command("redcap-revoke")
def user_redcap_revoke(
    username: str = typer.Argument(..., help="Login name"),
    reason: str = REASON_OPTION,
    url: str | None = URL_OPTION,
) -> None:
    """Revoke every REDCap API token of a user (audited with the reason)."""
    from trialdesk.services.redcap_tokens import revoke_redcap_tokens

    with service_session(url) as session:
        user = sv.find_user(session, sv.SYSTEM, username)
        count = revoke_redcap_tokens(session, sv.SYSTEM, user.id, reason=reason)
    console.print(f"{count} REDCap API token(s) of {username} revoked", highlight=False)

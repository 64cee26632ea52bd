"""Access controls an inspector expects (issue #18): the security policy, TOTP second factor,
password policy and reuse history, lockout with audited unlock, forced change of initial
passwords, idle timeout of sessions. Real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tools.harness.database import DEMO_PASSWORD, DemoSeed

from trialdesk import services as sv
from trialdesk.services.accounts import NewUserAccount
from trialdesk.services.errors import TooManyAttempts
from trialdesk.services.passwords import check_password_policy
from trialdesk.services.totp import matching_step
from trialdesk.store.enums import AuditAction, TokenKind
from trialdesk.store.models import AuditEntry, LoginChallenge, User
from trialdesk.store.types import utcnow

NEW = "plum orchard by the river"


def _require_totp(session: Session, roles: list[str] | None = None, **settings: int) -> None:
    sv.set_security_policy(
        session,
        sv.SYSTEM,
        reason="inspection finding: second factor",
        settings=sv.PolicySettings(
            totp_roles=["admin", "investigator", "coordinator", "monitor"]
            if roles is None
            else roles,
            **settings,
        ),
    )


def _audit(session: Session, table: str, record_id: int | None = None) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.table_name == table)
    if record_id is not None:
        query = query.where(AuditEntry.record_id == str(record_id))
    return list(session.scalars(query.order_by(AuditEntry.sequence)))


def _enrol(session: Session, username: str) -> tuple[str, list[str]]:
    """Log in with the password, enrol an authenticator; its secret and the recovery codes."""
    step = sv.start_login(session, username, DEMO_PASSWORD)
    assert step.next_step == "enrol_totp" and step.token is None and step.challenge
    enrolment = sv.start_totp_enrolment(session, step.challenge)
    assert enrolment.uri.startswith("otpauth://totp/trialdesk:")
    assert f"secret={enrolment.secret}" in enrolment.uri
    done = sv.confirm_totp_enrolment(session, step.challenge, pyotp.TOTP(enrolment.secret).now())
    assert done.next_step == "done" and done.token is not None
    assert len(done.recovery_codes) == 10
    return enrolment.secret, done.recovery_codes


# --- policy ------------------------------------------------------------------------------------


def test_without_a_stored_policy_every_data_changing_role_needs_totp(session: Session) -> None:
    policy = sv.get_security_policy(session, sv.SYSTEM)
    assert not policy.stored
    assert set(policy.totp_roles) == {"admin", "investigator", "coordinator", "monitor"}
    assert policy.min_password_length >= 12 and policy.lockout_threshold == 5


def test_the_first_policy_is_audited_with_its_reason(session: Session) -> None:
    sv.set_security_policy(
        session,
        sv.SYSTEM,
        reason="SOP-IT-07 v1",
        settings=sv.PolicySettings(idle_timeout_minutes=20),
    )
    created = _audit(session, "security_policies")[-1]
    assert created.action == AuditAction.CREATE.value and created.reason == "SOP-IT-07 v1"
    assert json.loads(created.changes)["idle_timeout_minutes"] == [None, 20]


def test_policy_changes_are_audited_and_validated(session: Session, seed: DemoSeed) -> None:
    _require_totp(session, lockout_threshold=3)
    changes = _audit(session, "security_policies")[-1]
    assert changes.action == AuditAction.UPDATE.value
    assert changes.reason == "inspection finding: second factor"
    assert json.loads(changes.changes)["lockout_threshold"] == [5, 3]
    with pytest.raises(sv.ValidationProblem, match="min_password_length: must be a whole number"):
        sv.set_security_policy(
            session, sv.SYSTEM, reason="x", settings=sv.PolicySettings(min_password_length=8)
        )
    with pytest.raises(sv.ValidationProblem, match="reason"):
        sv.set_security_policy(
            session, sv.SYSTEM, reason=" ", settings=sv.PolicySettings(lockout_threshold=4)
        )
    with pytest.raises(sv.Forbidden):
        sv.set_security_policy(
            session, sv.actor_for(session, seed.users["investigator"]), reason="x"
        )


def test_a_site_override_applies_to_its_users_only(session: Session, seed: DemoSeed) -> None:
    sv.set_security_policy(
        session,
        sv.SYSTEM,
        reason="PUMC asks for TOTP",
        site_code="PUMC",
        settings=sv.PolicySettings(totp_roles=["coordinator"]),
    )
    assert sv.get_security_policy(session, sv.SYSTEM, "PUMC").totp_roles == ["coordinator"]
    assert sv.start_login(session, "coordinator2", DEMO_PASSWORD).next_step == "enrol_totp"
    assert sv.start_login(session, "coordinator", DEMO_PASSWORD).next_step == "done"


# --- password policy ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short pass", "at least 12 characters"),
        ("Password2024!!", "commonly used"),
        ("qwertyuiopasdfgh", "commonly used"),
        ("aaaaaaaaaaaaaaaa", "commonly used|repeats"),
        ("abcabcabcabcabc", "repeats too few"),
        ("jwang's long passphrase", "user name"),
    ],
)
def test_password_policy_refuses_weak_passwords(password: str, reason: str) -> None:
    with pytest.raises(sv.ValidationProblem, match=reason) as refused:
        check_password_policy(password, username="jwang")
    assert refused.value.rule == "weak_password"


def test_no_composition_rules_a_long_lowercase_phrase_is_fine() -> None:
    check_password_policy("plum orchard by the river", username="jwang")


def test_own_passwords_cannot_be_reused(session: Session, seed: DemoSeed) -> None:
    me = sv.actor_for(session, seed.users["monitor"])
    assert me.user_id is not None
    with pytest.raises(sv.ValidationProblem, match="last 5 passwords") as refused:
        sv.set_password(session, me, me.user_id, DEMO_PASSWORD, current_password=DEMO_PASSWORD)
    assert refused.value.rule == "password_reused"
    sv.set_password(session, me, me.user_id, NEW, current_password=DEMO_PASSWORD)
    sv.set_password(session, me, me.user_id, NEW + " two", current_password=NEW)
    with pytest.raises(sv.ValidationProblem, match="last 5"):
        sv.set_password(session, me, me.user_id, DEMO_PASSWORD, current_password=NEW + " two")


# --- initial passwords -------------------------------------------------------------------------


def test_a_password_set_by_an_administrator_must_be_changed_at_first_login(
    session: Session, seed: DemoSeed
) -> None:
    admin = sv.actor_for(session, seed.users["admin"])
    created = sv.create_user(
        session,
        admin,
        NewUserAccount(
            username="jwang",
            full_name="Jing Wang",
            password="temporary river stone",
            roles=["statistician"],
            site_codes=["APGH"],
        ),
    )
    assert created.must_change_password
    with pytest.raises(sv.Forbidden, match="must be changed") as refused:
        sv.login(session, "jwang", "temporary river stone")
    assert refused.value.rule == "password_change_required"
    step = sv.start_login(session, "jwang", "temporary river stone")
    assert step.next_step == "change_password" and step.token is None and step.challenge
    with pytest.raises(sv.ValidationProblem, match="last"):
        sv.change_initial_password(session, step.challenge, "temporary river stone")
    with pytest.raises(sv.ValidationProblem, match="user name"):
        sv.change_initial_password(session, step.challenge, "jwang jwang jwang")
    done = sv.change_initial_password(session, step.challenge, NEW)
    assert done.next_step == "done" and done.token is not None
    assert sv.login(session, "jwang", NEW).user_id == created.id
    # an administrator's reset makes it temporary again, and lifts the lock
    sv.set_password(session, admin, created.id, "another temporary one", reason="forgotten")
    assert sv.start_login(session, "jwang", "another temporary one").next_step == "change_password"


# --- TOTP --------------------------------------------------------------------------------------


def test_totp_enrolment_then_two_step_login_with_no_replay(
    session: Session, seed: DemoSeed
) -> None:
    _require_totp(session)
    secret, _codes = _enrol(session, "coordinator")
    with pytest.raises(sv.Unauthenticated) as refused:
        sv.login(session, "coordinator", DEMO_PASSWORD)  # the password alone gives no token
    assert refused.value.rule == "second_factor_required"
    step = sv.start_login(session, "coordinator", DEMO_PASSWORD, kind=TokenKind.API)
    assert step.next_step == "totp" and step.token is None and step.challenge
    with pytest.raises(sv.Unauthenticated) as wrong:
        sv.submit_code(
            session, step.challenge, "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
        )
    assert wrong.value.rule == "invalid_code"
    user = session.scalars(select(User).where(User.username == "coordinator")).one()
    next_code = pyotp.TOTP(secret).at(utcnow() + timedelta(seconds=30))  # +1 step: clock drift
    done = sv.submit_code(session, step.challenge, next_code, kind=TokenKind.API)
    assert done.token is not None and done.token.kind == TokenKind.API
    session.refresh(user)
    assert user.failed_logins == 0
    again = sv.start_login(session, "coordinator", DEMO_PASSWORD)
    assert again.challenge
    with pytest.raises(sv.Unauthenticated) as replayed:
        sv.submit_code(session, again.challenge, next_code)
    assert replayed.value.rule == "totp_code_reused"
    logins = [
        json.loads(e.changes) for e in _audit(session, "users", user.id) if e.action == "login"
    ]
    assert {"second_factor": "totp"} in logins


def test_the_time_window_is_one_step_either_side() -> None:
    secret = pyotp.random_base32()
    now = utcnow()
    totp = pyotp.TOTP(secret)
    step = totp.timecode(now)
    assert matching_step(secret, totp.at(now - timedelta(seconds=30)), now, None) == step - 1
    assert matching_step(secret, totp.at(now + timedelta(seconds=30)), now, None) == step + 1
    assert matching_step(secret, totp.at(now + timedelta(seconds=90)), now, None) is None
    assert matching_step(secret, totp.at(now), now, last_step=step) is None


def test_a_recovery_code_works_once(session: Session, seed: DemoSeed) -> None:
    _require_totp(session)
    _secret, codes = _enrol(session, "investigator")
    step = sv.start_login(session, "investigator", DEMO_PASSWORD)
    assert step.challenge
    assert sv.submit_code(session, step.challenge, codes[0].upper()).token is not None
    step = sv.start_login(session, "investigator", DEMO_PASSWORD)
    assert step.challenge
    with pytest.raises(sv.Unauthenticated, match="wrong or has expired"):
        sv.submit_code(session, step.challenge, codes[0])


def test_a_challenge_expires_and_cannot_be_reused(session: Session, seed: DemoSeed) -> None:
    _require_totp(session)
    secret, _ = _enrol(session, "monitor")
    step = sv.start_login(session, "monitor", DEMO_PASSWORD)
    assert step.challenge
    row = session.scalars(select(LoginChallenge).order_by(LoginChallenge.id.desc())).first()
    assert row is not None
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    with pytest.raises(sv.Unauthenticated) as expired:
        sv.submit_code(session, step.challenge, pyotp.TOTP(secret).now())
    assert expired.value.rule == "login_step_expired"
    with pytest.raises(sv.Unauthenticated) as unknown:
        sv.submit_code(session, "made-up", "123456")
    assert unknown.value.rule == "login_step_unknown"


def test_an_administrator_resets_a_lost_authenticator(session: Session, seed: DemoSeed) -> None:
    _require_totp(session)
    _enrol(session, "coordinator")
    view = sv.reset_totp(
        session, sv.SYSTEM, seed.users["coordinator"], reason="phone lost, ticket 42"
    )
    assert not view.totp_enrolled
    assert (
        _audit(session, "users", view.id)[-1].reason == "second factor reset: phone lost, ticket 42"
    )
    assert sv.start_login(session, "coordinator", DEMO_PASSWORD).next_step == "enrol_totp"


# --- lockout -----------------------------------------------------------------------------------


def test_lockout_after_the_policy_threshold_and_audited_unlock(
    session: Session, seed: DemoSeed
) -> None:
    sv.set_security_policy(
        session, sv.SYSTEM, reason="stricter", settings=sv.PolicySettings(lockout_threshold=3)
    )
    for _ in range(3):
        with pytest.raises(sv.Unauthenticated):
            sv.start_login(session, "monitor", "not the password")
    with pytest.raises(TooManyAttempts, match="locked after 3 failed logins"):
        sv.start_login(session, "monitor", DEMO_PASSWORD)
    uid = seed.users["monitor"]
    locked = [e for e in _audit(session, "users", uid) if e.action == "update"][-1]
    assert locked.reason == "locked after 3 consecutive failed logins"
    with pytest.raises(sv.ValidationProblem, match="reason"):
        sv.unlock_user(session, sv.SYSTEM, uid, reason="")
    with pytest.raises(sv.Forbidden):
        sv.unlock_user(session, sv.actor_for(session, seed.users["investigator"]), uid, reason="x")
    admin = sv.actor_for(session, seed.users["admin"])
    view = sv.unlock_user(session, admin, uid, reason="identity checked by phone")
    assert view.locked_until is None
    unlock = _audit(session, "users", uid)[-1]
    assert unlock.user_id == seed.users["admin"]
    assert unlock.reason == "unlock: identity checked by phone"
    assert sv.start_login(session, "monitor", DEMO_PASSWORD).token is not None


def test_wrong_codes_count_towards_the_lockout(session: Session, seed: DemoSeed) -> None:
    _require_totp(session, lockout_threshold=2)
    secret, _ = _enrol(session, "coordinator")
    wrong = "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
    for _ in range(2):
        step = sv.start_login(session, "coordinator", DEMO_PASSWORD)  # a right password ...
        assert step.challenge
        with pytest.raises(sv.Unauthenticated):
            sv.submit_code(session, step.challenge, wrong)  # ... does not reset the count
    with pytest.raises(TooManyAttempts):
        sv.start_login(session, "coordinator", DEMO_PASSWORD)


def test_the_lock_ends_by_itself_after_the_lockout_period(session: Session, seed: DemoSeed) -> None:
    for _ in range(5):
        with pytest.raises(sv.Unauthenticated):
            sv.start_login(session, "statistician", "not the password")
    user = session.get(User, seed.users["statistician"])
    assert user is not None and user.locked_until is not None
    user.locked_until = utcnow() - timedelta(seconds=1)  # 15 minutes later
    session.commit()
    assert sv.start_login(session, "statistician", DEMO_PASSWORD).token is not None


# --- idle timeout ------------------------------------------------------------------------------


def test_an_idle_session_ends_with_an_audited_logout(session: Session, seed: DemoSeed) -> None:
    sv.set_security_policy(
        session,
        sv.SYSTEM,
        reason="shared ward PCs",
        settings=sv.PolicySettings(idle_timeout_minutes=15),
    )
    issued = sv.login(session, "coordinator", DEMO_PASSWORD)
    start = utcnow()
    sv.resolve_token(session, issued.token, now=start + timedelta(minutes=14))  # still active
    sv.resolve_token(session, issued.token, now=start + timedelta(minutes=28))  # activity reset
    with pytest.raises(sv.Unauthenticated) as idle:
        sv.resolve_token(session, issued.token, now=start + timedelta(minutes=45))
    assert idle.value.rule == "session_idle_timeout"
    logout = _audit(session, "api_tokens", issued.token_id)[-1]
    assert logout.action == AuditAction.LOGOUT.value
    assert logout.reason == "idle timeout: no activity for 15 minutes"
    with pytest.raises(sv.Unauthenticated) as revoked:
        sv.resolve_token(session, issued.token, now=start + timedelta(minutes=46))
    assert revoked.value.rule == "invalid_token"

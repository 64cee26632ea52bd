"""Users, roles, sites, Argon2 passwords, login, lockout and bearer tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tools.harness.database import DEMO_PASSWORD

from trialdesk import services as sv
from trialdesk.services.accounts import MAX_FAILED_LOGINS, NewUserAccount, token_digest
from trialdesk.store.enums import Role, TokenKind
from trialdesk.store.models import ApiToken, AuditEntry, User
from trialdesk.store.types import utcnow


def test_passwords_are_stored_as_argon2_hashes_and_never_audited(session: Session, seed) -> None:  # type: ignore[no-untyped-def]
    user = session.get(User, seed.users["coordinator"])
    assert user is not None and user.password_hash.startswith("$argon2id$")
    assert DEMO_PASSWORD not in user.password_hash
    for entry in session.scalars(select(AuditEntry)):
        assert "$argon2" not in entry.changes and DEMO_PASSWORD not in entry.changes


def test_users_get_roles_and_sites(session: Session, seed) -> None:  # type: ignore[no-untyped-def]
    user = sv.get_user(session, sv.SYSTEM, seed.users["investigator2"])
    assert user.roles == [Role.INVESTIGATOR] and user.site_codes == ["PUMC"]
    actor = sv.actor_for(session, seed.users["investigator2"])
    assert actor.roles == {Role.INVESTIGATOR} and actor.site_ids == {seed.sites["PUMC"]}


@pytest.mark.parametrize(
    ("fields", "field", "rule"),
    [
        ({"username": "Bad Name"}, "username", "invalid_value"),
        ({"password": "short"}, "password", "weak_password"),
        ({"roles": ["nurse"]}, "roles", "invalid_value"),
        ({"roles": []}, "roles", "invalid_value"),
        ({"site_codes": ["XYZ"]}, "site_codes", "invalid_value"),
        ({"site_codes": []}, "site_codes", "invalid_value"),
    ],
)
def test_bad_user_data_names_the_field(session, seed, fields, field, rule) -> None:  # type: ignore[no-untyped-def]
    data = {
        "username": "nurse.li",
        "full_name": "Li Na",
        "password": "long enough password",
        "roles": ["coordinator"],
        "site_codes": ["APGH"],
        **fields,
    }
    with pytest.raises(sv.ValidationProblem) as caught:
        sv.create_user(session, sv.SYSTEM, NewUserAccount(**data))
    assert (caught.value.field, caught.value.rule) == (field, rule)


def test_only_admins_manage_users(session, actors) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(sv.Forbidden):
        sv.create_user(
            session,
            actors["investigator"],
            NewUserAccount(
                username="x1",
                full_name="X",
                password="a long enough passphrase",
                roles=["coordinator"],
                site_codes=["APGH"],
            ),
        )
    user = sv.create_user(
        session,
        actors["admin"],
        NewUserAccount(
            username="x1",
            full_name="X",
            password="a long enough passphrase",
            roles=["coordinator"],
            site_codes=["APGH"],
        ),
    )
    with pytest.raises(sv.RuleViolation) as caught:
        sv.create_user(
            session,
            actors["admin"],
            NewUserAccount(
                username="x1",
                full_name="Y",
                password="a long enough passphrase",
                roles=["monitor"],
                site_codes=["APGH"],
            ),
        )
    assert caught.value.rule == "username_taken" and caught.value.status == 409
    changed = sv.update_user(
        session,
        actors["admin"],
        user.id,
        sv.AccountChange(roles=["monitor"], site_codes=["APGH", "PUMC"]),
        expected_version=user.version,
        reason="moved to monitoring",
    )
    assert changed.roles == [Role.MONITOR] and changed.site_codes == ["APGH", "PUMC"]
    history = sv.record_history(session, actors["admin"], "user_access", user.id)
    assert history[-1].changes["roles"] == [["coordinator"], ["monitor"]]
    assert history[-1].reason == "moved to monitoring"


def test_login_and_bearer_tokens(session: Session, seed) -> None:  # type: ignore[no-untyped-def]
    issued = sv.login(session, "coordinator", DEMO_PASSWORD, kind=TokenKind.API)
    actor = sv.resolve_token(session, issued.token)
    assert actor.username == "coordinator" and actor.user_id == seed.users["coordinator"]
    stored = session.scalars(select(ApiToken).where(ApiToken.id == issued.token_id)).one()
    assert stored.token_hash == token_digest(issued.token) and issued.token not in stored.token_hash
    assert stored.expires_at - stored.created_at == timedelta(hours=24)
    sv.revoke_token(session, actor, issued.token)
    with pytest.raises(sv.Unauthenticated) as caught:
        sv.resolve_token(session, issued.token)
    assert caught.value.rule == "invalid_token" and caught.value.status == 401
    actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.sequence))]
    assert actions[-3:] == ["login", "create", "logout"]


def test_tokens_expire(session: Session, seed) -> None:  # type: ignore[no-untyped-def]
    issued = sv.login(session, "monitor", DEMO_PASSWORD, lifetime=timedelta(minutes=30))
    assert issued.kind is TokenKind.SESSION
    sv.resolve_token(session, issued.token, now=utcnow() + timedelta(minutes=29))
    with pytest.raises(sv.Unauthenticated, match="expired"):
        sv.resolve_token(session, issued.token, now=utcnow() + timedelta(minutes=31))
    with pytest.raises(sv.Unauthenticated):
        sv.resolve_token(session, "not-a-token")


def test_wrong_passwords_and_unknown_users_get_the_same_answer(session: Session, seed) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(sv.Unauthenticated) as wrong:
        sv.authenticate(session, "coordinator", "wrong password")
    with pytest.raises(sv.Unauthenticated) as unknown:
        sv.authenticate(session, "nobody", "wrong password")
    assert wrong.value.message == unknown.value.message
    failed = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "login_failed").order_by(AuditEntry.sequence)
    ).all()
    assert len(failed) == 2 and '"why":"unknown user"' in failed[1].changes


def test_repeated_failures_lock_the_account(session: Session, seed) -> None:  # type: ignore[no-untyped-def]
    for _ in range(MAX_FAILED_LOGINS):
        with pytest.raises(sv.Unauthenticated):
            sv.authenticate(session, "coordinator", "guess")
    with pytest.raises(sv.Unauthenticated) as caught:
        sv.authenticate(session, "coordinator", DEMO_PASSWORD)
    assert caught.value.rule == "account_locked"
    user = session.get(User, seed.users["coordinator"])
    assert user is not None
    user.locked_until = utcnow() - timedelta(seconds=1)  # the lock has run out
    session.commit()
    assert sv.authenticate(session, "coordinator", DEMO_PASSWORD).username == "coordinator"


def test_deactivation_revokes_tokens(session: Session, seed, actors) -> None:  # type: ignore[no-untyped-def]
    issued = sv.login(session, "statistician", DEMO_PASSWORD)
    user = sv.get_user(session, actors["admin"], seed.users["statistician"])
    sv.update_user(
        session,
        actors["admin"],
        user.id,
        sv.AccountChange(active=False),
        expected_version=user.version,
        reason="left the study team",
    )
    with pytest.raises(sv.Unauthenticated):
        sv.resolve_token(session, issued.token)
    with pytest.raises(sv.Unauthenticated) as caught:
        sv.authenticate(session, "statistician", DEMO_PASSWORD)
    assert caught.value.rule == "account_inactive"


def test_changing_ones_own_password(session: Session, seed, actors) -> None:  # type: ignore[no-untyped-def]
    me = actors["monitor"]
    with pytest.raises(sv.Unauthenticated):
        sv.set_password(session, me, me.user_id, "a new passphrase", current_password="wrong")
    sv.set_password(session, me, me.user_id, "a new passphrase", current_password=DEMO_PASSWORD)
    assert sv.authenticate(session, "monitor", "a new passphrase").user_id == me.user_id
    with pytest.raises(sv.Forbidden):
        sv.set_password(session, me, seed.users["coordinator"], "another passphrase")


def test_sites(session: Session, seed, actors) -> None:  # type: ignore[no-untyped-def]
    assert [s.code for s in sv.list_sites(session, actors["admin"])] == ["APGH", "PUMC"]
    assert [s.code for s in sv.list_sites(session, actors["coordinator2"])] == ["PUMC"]
    with pytest.raises(sv.ValidationProblem, match="capital"):
        sv.create_site(session, actors["admin"], "apgh", "Lower case")
    with pytest.raises(sv.RuleViolation, match="already exists"):
        sv.create_site(session, actors["admin"], "APGH", "Again")

"""Issue 18, the rest of access control in the services (SQLite and PostgreSQL): password
ageing (21 CFR 11.300(b)), TOTP secrets encrypted at rest, an administrator's password reset
and the refusal to disable oneself, and no new data for a participant who owes a re-consent
while adverse events are still reported."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session
from tests.services.conftest import START, Clinic
from tests.services.test_services_protocol_versions import AMENDMENT_DAY, ORIGINAL, _amend
from tools.harness.database import DEMO_PASSWORD, DemoSeed

from trialdesk import services as sv
from trialdesk.services.errors import ServiceUnavailable
from trialdesk.services.signin import (
    PasswordChangeAtSignIn,
    change_password_at_sign_in,
    confirm_totp_enrolment,
    start_login,
    start_totp_enrolment,
    submit_code,
)
from trialdesk.store.models import AuditEntry, User
from trialdesk.store.sealed import KEY_ENV
from trialdesk.store.types import utcnow

NEW_PASSWORD = "purple elephant sunrise harbour"


def _age_password(session: Session, user_id: int, days: int) -> None:
    session.execute(
        update(User)
        .where(User.id == user_id)
        .values(password_changed_at=utcnow() - timedelta(days=days))
    )
    session.commit()


def _policy(session: Session, **settings: int) -> None:
    sv.set_security_policy(
        session, sv.SYSTEM, reason="SOP-IT-07 v3", settings=sv.PolicySettings(**settings)
    )  # type: ignore[arg-type]


# --- password ageing ----------------------------------------------------------------------------


def test_an_expired_password_must_be_changed_at_sign_in(session: Session, seed: DemoSeed) -> None:
    _policy(session, max_password_age_days=90, password_expiry_warning_days=14)
    _age_password(session, seed.users["coordinator"], 91)
    step = start_login(session, "coordinator", DEMO_PASSWORD)
    assert step.next_step == "change_password" and step.token is None
    assert step.password_notice is not None and "more than 90 days old" in step.password_notice
    with pytest.raises(sv.Forbidden, match="more than 90 days old"):
        sv.login(session, "coordinator", DEMO_PASSWORD)  # the one-step login refuses too
    done = change_password_at_sign_in(
        session, PasswordChangeAtSignIn("coordinator", DEMO_PASSWORD, NEW_PASSWORD)
    )
    assert done.next_step == "done" and done.token is not None
    reasons = session.scalars(
        select(AuditEntry.reason).where(
            AuditEntry.table_name == "users", AuditEntry.record_id == str(seed.users["coordinator"])
        )
    ).all()
    assert any("expired password changed at sign-in" in (r or "") for r in reasons)
    again = start_login(session, "coordinator", NEW_PASSWORD)
    assert again.next_step == "done" and again.password_notice is None  # a fresh password


def test_a_password_close_to_its_age_is_warned_about(session: Session, seed: DemoSeed) -> None:
    _policy(session, max_password_age_days=90, password_expiry_warning_days=14)
    _age_password(session, seed.users["monitor"], 80)
    step = start_login(session, "monitor", DEMO_PASSWORD)
    assert step.next_step == "done" and step.token is not None
    assert step.password_notice is not None and "expires in 9 days" in step.password_notice
    _age_password(session, seed.users["monitor"], 10)
    assert start_login(session, "monitor", DEMO_PASSWORD).password_notice is None


def test_no_ageing_by_default_and_the_strictest_site_age_applies(
    session: Session, seed: DemoSeed
) -> None:
    _age_password(session, seed.users["coordinator"], 5000)
    assert start_login(session, "coordinator", DEMO_PASSWORD).next_step == "done"
    sv.set_security_policy(
        session,
        sv.SYSTEM,
        reason="site SOP",
        site_code="APGH",
        settings=sv.PolicySettings(max_password_age_days=365),
    )
    assert start_login(session, "coordinator", DEMO_PASSWORD).next_step == "change_password"
    assert start_login(session, "coordinator2", DEMO_PASSWORD).next_step == "done"  # PUMC


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("max_password_age_days", -1),
        ("max_password_age_days", 5000),
        ("password_expiry_warning_days", 91),
    ],
)
def test_ageing_settings_out_of_range_name_the_field(
    session: Session, seed: DemoSeed, setting: str, value: int
) -> None:
    with pytest.raises(sv.ValidationProblem, match=setting):
        _policy(session, **{setting: value})


# --- TOTP secrets at rest ----------------------------------------------------------------------


def _second_factor_for_investigators(session: Session) -> None:
    sv.set_security_policy(
        session,
        sv.SYSTEM,
        reason="2FA for investigators",
        settings=sv.PolicySettings(totp_roles=["investigator"]),
    )


def _enrol(session: Session, username: str) -> str:
    """Enrol `username` through the login steps; returns the secret the user was shown."""
    step = start_login(session, username, DEMO_PASSWORD)
    assert step.next_step == "enrol_totp" and step.challenge
    secret = start_totp_enrolment(session, step.challenge).secret
    done = confirm_totp_enrolment(session, step.challenge, pyotp.TOTP(secret).now())
    assert done.next_step == "done"
    return secret


def test_totp_secrets_are_not_readable_in_the_database(session: Session, seed: DemoSeed) -> None:
    _policy(session)
    sv.set_security_policy(
        session,
        sv.SYSTEM,
        reason="2FA for investigators",
        settings=sv.PolicySettings(totp_roles=["investigator"]),
    )
    secret = _enrol(session, "investigator")
    stored = session.execute(
        text("SELECT totp_secret FROM users WHERE username = 'investigator'")
    ).scalar_one()
    assert stored.startswith("fernet1:") and secret not in stored
    dump = " ".join(
        str(v) for row in session.execute(text("SELECT * FROM users")).all() for v in row
    ) + " ".join(str(r) for r in session.execute(text("SELECT * FROM login_challenges")).all())
    assert secret not in dump
    step = start_login(session, "investigator", DEMO_PASSWORD)
    assert step.next_step == "totp" and step.challenge
    # A code from the secret the user was shown still signs in: the server decrypts it.
    later = pyotp.TOTP(secret).at(utcnow() + timedelta(seconds=30))
    assert submit_code(session, step.challenge, later).next_step == "done"


def test_without_the_key_a_code_cannot_be_checked_and_says_why(
    session: Session, seed: DemoSeed, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sv.set_security_policy(
        session,
        sv.SYSTEM,
        reason="2FA for investigators",
        settings=sv.PolicySettings(totp_roles=["investigator"]),
    )
    secret = _enrol(session, "investigator")
    monkeypatch.delenv(KEY_ENV)
    monkeypatch.setenv("TRIALDESK_TOTP_KEY_FILE", str(tmp_path / "nowhere.key"))
    step = start_login(session, "investigator", DEMO_PASSWORD)
    assert step.challenge
    with pytest.raises(ServiceUnavailable) as refused:
        submit_code(session, step.challenge, pyotp.TOTP(secret).now())
    assert refused.value.status == 503 and refused.value.rule == "totp_key_missing"
    assert "no key to encrypt TOTP secrets" in refused.value.message
    assert "trialdesk security keygen" in refused.value.message
    user = session.scalars(select(User).where(User.username == "investigator")).one()
    assert user.failed_logins == 0  # the user's code was not judged wrong


# --- administrators ----------------------------------------------------------------------------


def test_a_reset_password_is_random_temporary_and_audited(
    session: Session, seed: DemoSeed, actors: dict[str, sv.Actor]
) -> None:
    uid = seed.users["coordinator"]
    with pytest.raises(sv.ValidationProblem, match="reason"):
        sv.reset_password(session, actors["admin"], uid, reason=" ")
    with pytest.raises(sv.Forbidden):
        sv.reset_password(session, actors["investigator"], uid, reason="forgotten")
    temporary = sv.reset_password(
        session, actors["admin"], uid, reason="forgotten, identity checked"
    )
    assert len(temporary) >= 20
    assert start_login(session, "coordinator", DEMO_PASSWORD).next_step != "done" if False else True
    with pytest.raises(sv.Unauthenticated):
        start_login(session, "coordinator", DEMO_PASSWORD)
    step = start_login(session, "coordinator", temporary)
    assert step.next_step == "change_password"
    entry = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.table_name == "users", AuditEntry.record_id == str(uid))
        .order_by(AuditEntry.sequence.desc())
    ).first()
    assert entry is not None and temporary not in entry.changes


def test_an_administrator_cannot_disable_their_own_account(
    session: Session, seed: DemoSeed, actors: dict[str, sv.Actor]
) -> None:
    admin = sv.get_user(session, actors["admin"], seed.users["admin"])
    with pytest.raises(sv.RuleViolation) as refused:
        sv.update_user(
            session, actors["admin"], admin.id, sv.AccountChange(active=False),
            expected_version=admin.version, reason="leaving",
        )  # fmt: skip
    assert refused.value.rule == "cannot_disable_self" and refused.value.status == 409


# --- re-consent ---------------------------------------------------------------------------------


@pytest.fixture
def owing(clinic: Clinic) -> tuple[Clinic, int]:
    """An enrolled participant (consent ICF v2.0) and an amendment requiring ICF v3.0."""

    sv.set_up_protocol(clinic.session, sv.SYSTEM, ORIGINAL, "builtin", effective_on=START)
    pid = clinic.enrolled()
    _amend(clinic)
    return clinic, pid


def test_no_new_data_until_the_participant_re_consents(owing: tuple[Clinic, int]) -> None:
    clinic, pid = owing
    coordinator = clinic.actors["coordinator"]
    with pytest.raises(sv.RuleViolation) as refused:
        sv.record_visit(
            clinic.session, coordinator, pid, code="BL", visit_date=clinic.day(AMENDMENT_DAY + 3)
        )
    study_id = sv.get_participant(clinic.session, coordinator, pid).study_id
    assert refused.value.rule == "reconsent_required" and refused.value.status == 409
    assert (
        f"participant {study_id} must re-consent to ICF v3.0 before new data are entered"
        in refused.value.message
    )
    # Data dated before the new form was required are still entered under the old one.
    sv.record_visit(
        clinic.session, coordinator, pid, code="BL", visit_date=clinic.day(AMENDMENT_DAY - 1)
    )
    # Safety is never blocked: an adverse event is reported while the signature is owed.
    event = sv.report_adverse_event(
        clinic.session,
        coordinator,
        pid,
        sv.AdverseEventReport(
            term="Injection site pain",
            onset_date=clinic.day(AMENDMENT_DAY + 3),
            grade=1,
            relatedness="possible",
            action_taken="not applicable",
            outcome="recovering/resolving",
        ),
    )
    assert event.id
    # The re-consent itself is allowed, and lifts the block.
    sv.record_consent(
        clinic.session, coordinator, pid, form_version="ICF v3.0",
        consented_on=clinic.day(AMENDMENT_DAY + 4),
    )  # fmt: skip
    measured = sv.record_measurement(
        clinic.session, coordinator, pid, sv.VisitMeasurement(visit_code="BL", element="weight",
        value=71.5, unit="kg", collected_on=clinic.day(AMENDMENT_DAY + 5)),
    )  # fmt: skip
    assert measured.id

"""The API's side of issue 18's remaining access controls (SQLite and PostgreSQL): an expired
password gets 403 password_change_required naming its age, and is changed through
/auth/password-change (with the authenticator code when the account has one); a password close
to its age comes with a warning; the policy endpoints take the ageing settings; a TOTP that
cannot be checked for want of the key is a 503 naming it; a participant who owes a re-consent
gets no new data (409) while an adverse event is still accepted."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from api_helpers import API, Env, day, error_of
from sqlalchemy import update
from tools.harness.database import DEMO_PASSWORD

from trialdesk import services as sv
from trialdesk.protocol.load import builtin_protocol_text
from trialdesk.services.protocol_versions import Amendment
from trialdesk.store.models import User
from trialdesk.store.sealed import KEY_ENV
from trialdesk.store.types import utcnow

TOKEN = f"{API}/auth/token"
NEW_PASSWORD = "copper kettle winter garden"


def _age(env: Env, username: str, days: int) -> None:
    with env.database.session() as session:
        session.execute(
            update(User)
            .where(User.id == env.seed.users[username])
            .values(password_changed_at=utcnow() - timedelta(days=days))
        )
        session.commit()


def _admin_token(env: Env) -> dict[str, str]:
    body = env.api.client.post(TOKEN, json={"username": "admin", "password": DEMO_PASSWORD})
    return {"Authorization": f"Bearer {body.json()['access_token']}"}


def test_policy_endpoint_sets_ageing_and_an_expired_password_is_changed(env: Env) -> None:
    admin = _admin_token(env)
    put = env.api.client.put(
        f"{API}/auth/security-policy",
        headers=admin,
        json={"reason": "SOP-IT-07 v3", "max_password_age_days": 60},
    )
    assert put.status_code == 200 and put.json()["max_password_age_days"] == 60
    bad = env.api.client.put(
        f"{API}/auth/security-policy",
        headers=admin,
        json={"reason": "typo", "password_expiry_warning_days": 400},
    )
    assert bad.status_code == 422 and error_of(bad)["field"] == "password_expiry_warning_days"
    _age(env, "monitor", 61)
    refused = env.api.client.post(TOKEN, json={"username": "monitor", "password": DEMO_PASSWORD})
    assert refused.status_code == 403
    error = error_of(refused)
    assert error["code"] == "password_change_required"
    assert "more than 60 days old" in error["message"] and "password-change" in error["message"]
    changed = env.api.client.post(
        f"{API}/auth/password-change",
        json={
            "username": "monitor",
            "current_password": DEMO_PASSWORD,
            "new_password": NEW_PASSWORD,
        },
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["access_token"] and changed.json()["password_warning"] is None


def test_a_password_close_to_its_age_comes_with_a_warning(env: Env) -> None:
    with env.database.session() as session:
        sv.set_security_policy(
            session,
            sv.SYSTEM,
            reason="SOP",
            settings=sv.PolicySettings(max_password_age_days=60, password_expiry_warning_days=10),
        )
    _age(env, "coordinator", 55)
    body = env.api.client.post(
        TOKEN, json={"username": "coordinator", "password": DEMO_PASSWORD}
    ).json()
    assert body["access_token"] and "expires in 4 days" in body["password_warning"]


def test_an_expired_password_with_an_authenticator_needs_the_code_too(env: Env) -> None:
    with env.database.session() as session:
        sv.set_security_policy(
            session,
            sv.SYSTEM,
            reason="SOP",
            settings=sv.PolicySettings(max_password_age_days=30, totp_roles=["investigator"]),
        )
    first = env.api.client.post(
        TOKEN, json={"username": "investigator", "password": DEMO_PASSWORD}
    ).json()
    secret = env.api.client.post(
        f"{API}/auth/totp/enrolment", json={"challenge": first["challenge"]}
    ).json()["secret"]
    env.api.client.post(
        f"{API}/auth/totp/enrolment/confirm",
        json={"challenge": first["challenge"], "code": pyotp.TOTP(secret).now()},
    )
    _age(env, "investigator", 31)
    change = {
        "username": "investigator",
        "current_password": DEMO_PASSWORD,
        "new_password": NEW_PASSWORD,
    }
    no_code = env.api.client.post(f"{API}/auth/password-change", json=change)
    assert no_code.status_code == 401 and error_of(no_code)["code"] == "totp_required"
    later = pyotp.TOTP(secret).at(utcnow() + timedelta(seconds=30))
    done = env.api.client.post(f"{API}/auth/password-change", json={**change, "totp_code": later})
    assert done.status_code == 200, done.text
    assert done.json()["access_token"]


def test_a_code_without_the_key_is_a_503_naming_it(
    env: Env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with env.database.session() as session:
        sv.set_security_policy(
            session, sv.SYSTEM, reason="SOP", settings=sv.PolicySettings(totp_roles=["monitor"])
        )
    first = env.api.client.post(TOKEN, json={"username": "monitor", "password": DEMO_PASSWORD})
    monkeypatch.delenv(KEY_ENV)
    monkeypatch.setenv("TRIALDESK_TOTP_KEY_FILE", str(tmp_path / "absent.key"))
    enrol = env.api.client.post(
        f"{API}/auth/totp/enrolment", json={"challenge": first.json()["challenge"]}
    )
    assert enrol.status_code == 503
    error = error_of(enrol)
    assert error["code"] == "totp_key_missing" and "trialdesk security keygen" in error["message"]


def test_no_new_data_while_a_re_consent_is_owed_but_adverse_events_go_in(env: Env) -> None:
    session = env.build.session
    text = builtin_protocol_text()
    sv.set_up_protocol(session, sv.SYSTEM, text, "builtin", effective_on=day(-5))
    pid = env.build.enrolled()
    sv.register_amendment(
        session,
        sv.SYSTEM,
        text + "consent_form_version: ICF 2.0\n",
        "amendment.yaml",
        Amendment(effective_on=day(30), summary="Consent form ICF 2.0"),
    )
    visit = env.api.post(
        "coordinator",
        f"/participants/{pid}/visits",
        {"code": "BL", "visit_date": day(31).isoformat()},
    )
    assert visit.status_code == 409
    error = error_of(visit)
    assert error["code"] == "reconsent_required"
    assert "must re-consent to ICF 2.0 before new data are entered" in error["message"]
    ae = env.api.post(
        "investigator",
        f"/participants/{pid}/adverse-events",
        {
            "term": "Fever",
            "onset_date": day(31).isoformat(),
            "grade": 2,
            "relatedness": "possible",
            "action_taken": "not applicable",
            "outcome": "recovered/resolved",
            "resolution_date": day(33).isoformat(),
        },
    )
    assert ae.status_code == 201, ae.text
    signed = env.api.post(
        "coordinator",
        f"/participants/{pid}/consents",
        {"form_version": "ICF 2.0", "consented_on": day(32).isoformat()},
    )
    assert signed.status_code == 201, signed.text
    again = env.api.post(
        "coordinator",
        f"/participants/{pid}/visits",
        {"code": "BL", "visit_date": day(33).isoformat()},
    )
    assert again.status_code == 201, again.text

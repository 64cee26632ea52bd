"""Account security: the security policy, password history, TOTP recovery codes and the
pending second step of a login (issue #18).

21 CFR 11.300 (controls for identification codes/passwords) and EU GMP Annex 11 §12 (security:
physical and logical controls restricting access to authorised persons) are the requirements;
NIST SP 800-63B gives the mechanisms (§5.1.1.2 memorized secrets, §5.1.4.1 OTP devices).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from trialdesk.store.base import Base, Timestamped
from trialdesk.store.types import JSONDocument, UTCDateTime


class SecurityPolicy(Timestamped, Base):
    """The study-wide policy (`site_id` None) or a site's override of it."""

    __tablename__ = "security_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), unique=True, default=None)
    totp_roles: Mapped[list[Any]] = mapped_column(JSONDocument, default=list)
    lockout_threshold: Mapped[int] = mapped_column(Integer)
    lockout_minutes: Mapped[int] = mapped_column(Integer)
    idle_timeout_minutes: Mapped[int] = mapped_column(Integer)
    min_password_length: Mapped[int] = mapped_column(Integer)
    password_history: Mapped[int] = mapped_column(Integer)
    # 21 CFR 11.300(b): passwords periodically revised; 0 = no ageing (NIST SP 800-63B
    # §5.1.1.2 advises against arbitrary expiry, so it is the sponsor's SOP that sets it).
    max_password_age_days: Mapped[int] = mapped_column(Integer, server_default="0")
    password_expiry_warning_days: Mapped[int] = mapped_column(Integer, server_default="14")
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class PasswordHistory(Base):
    """An earlier password (its Argon2id hash only), so that it cannot be chosen again."""

    __tablename__ = "password_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RecoveryCode(Base):
    """A single-use code replacing a lost authenticator; only its SHA-256 is stored."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class LoginChallenge(Base):
    """A login whose password was right but which still needs a step (code, enrolment,
    password change) before any token is issued. Only the SHA-256 of its secret is stored."""

    __tablename__ = "login_challenges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    totp_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    # Encrypted like `User.totp_secret` (`trialdesk.store.sealed`).
    pending_totp_secret: Mapped[str | None] = mapped_column(String(255), default=None)
    failed_codes: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

"""Account security (issue #18): security policy, TOTP second factor, password history,
forced change of initial passwords, idle timeout of tokens, pending login steps.

Adds to ``users`` the must-change flag, the TOTP secret and its last used time step; to
``api_tokens`` the idle timeout in force when the token was issued; and the tables
``security_policies``, ``password_history``, ``recovery_codes`` and ``login_challenges``. See
`trialdesk.store.models.security`.

Revision ID: 0005_account_security
Revises: 0004_protocol_versions
Create Date: 2026-12-04 15:20:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_account_security"
down_revision: str | None = "0004_protocol_versions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_USER_COLUMNS = (
    "must_change_password",
    "password_changed_at",
    "totp_secret",
    "totp_enabled_at",
    "totp_last_step",
)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _when(name: str, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.id"], name=op.f(f"fk_{table}_user_id_users")
    )


def upgrade() -> None:
    # Plain ADD COLUMN: a batch copy of `users` (referenced by every audited table) fails its
    # foreign keys on a SQLite database holding data.
    # Existing accounts keep working: their passwords count as already chosen by them.
    op.add_column(
        "users",
        sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("users", _when("password_changed_at"))
    op.add_column("users", sa.Column("totp_secret", sa.String(length=64), nullable=True))
    op.add_column("users", _when("totp_enabled_at"))
    op.add_column("users", sa.Column("totp_last_step", sa.Integer(), nullable=True))
    if op.get_bind().dialect.name != "sqlite":  # SQLite cannot drop a default in place
        op.alter_column("users", "must_change_password", server_default=None)
    op.add_column("api_tokens", sa.Column("idle_timeout_seconds", sa.Integer(), nullable=True))

    op.create_table(
        "security_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("totp_roles", _json(), nullable=False),
        sa.Column("lockout_threshold", sa.Integer(), nullable=False),
        sa.Column("lockout_minutes", sa.Integer(), nullable=False),
        sa.Column("idle_timeout_minutes", sa.Integer(), nullable=False),
        sa.Column("min_password_length", sa.Integer(), nullable=False),
        sa.Column("password_history", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _when("created_at", nullable=False),
        _when("updated_at"),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_security_policies_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_policies")),
        sa.UniqueConstraint("site_id", name=op.f("uq_security_policies_site_id")),
    )
    op.create_table(
        "password_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        _when("created_at", nullable=False),
        _user_fk("password_history"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_history")),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        _when("created_at", nullable=False),
        _when("used_at"),
        _user_fk("recovery_codes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_codes")),
    )
    op.create_table(
        "login_challenges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        _when("created_at", nullable=False),
        _when("expires_at", nullable=False),
        sa.Column("totp_verified", sa.Boolean(), nullable=False),
        sa.Column("pending_totp_secret", sa.String(length=64), nullable=True),
        sa.Column("failed_codes", sa.Integer(), nullable=False),
        _when("finished_at"),
        _user_fk("login_challenges"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_challenges")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_login_challenges_token_hash")),
    )
    for table in ("password_history", "recovery_codes", "login_challenges"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f"ix_{table}_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    for table in ("login_challenges", "recovery_codes", "password_history"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_user_id"))
        op.drop_table(table)
    op.drop_table("security_policies")
    # Plain DROP COLUMN (SQLite 3.35+ in place): a batch copy of a table that others reference
    # fails its foreign keys on a database holding data.
    op.drop_column("api_tokens", "idle_timeout_seconds")
    for column in reversed(_USER_COLUMNS):
        op.drop_column("users", column)

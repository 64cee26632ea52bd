"""Access controls, part 2 (issue 18): password ageing and TOTP secrets encrypted at rest.

- ``security_policies.max_password_age_days`` (0: no ageing) and
  ``password_expiry_warning_days``: 21 CFR 11.300(b), passwords periodically revised;
- ``users.totp_secret`` and ``login_challenges.pending_totp_secret`` widened to hold a Fernet
  token, and every secret stored in clear before this revision encrypted with the key of
  `trialdesk.store.sealed` (the upgrade stops, naming the settings, when there are secrets to
  encrypt and no key).

Revision ID: 0011_security_admin
Revises: 0010_missing_labs
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

from trialdesk.store.sealed import is_sealed, seal, unseal

revision: str = "0011_security_admin"
down_revision: str | None = "0010_missing_labs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SECRET_COLUMNS = (("users", "totp_secret"), ("login_challenges", "pending_totp_secret"))
SEALED_LENGTH = 255  # "fernet1:" + a Fernet token of a 32-character base32 secret (148)
CLEAR_LENGTH = 64


def upgrade() -> None:
    _check_key()
    op.add_column(
        "security_policies",
        sa.Column("max_password_age_days", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "security_policies",
        sa.Column(
            "password_expiry_warning_days", sa.Integer(), nullable=False, server_default="14"
        ),
    )
    for table, column in SECRET_COLUMNS:
        _resize(table, column, CLEAR_LENGTH, SEALED_LENGTH)
        _rewrite(table, column, lambda value: value if is_sealed(value) else seal(value))


def downgrade() -> None:
    for table, column in SECRET_COLUMNS:
        _rewrite(table, column, lambda value: unseal(value) if is_sealed(value) else value)
        _resize(table, column, SEALED_LENGTH, CLEAR_LENGTH)
    with op.batch_alter_table("security_policies") as batch:
        batch.drop_column("password_expiry_warning_days")
        batch.drop_column("max_password_age_days")


def _check_key() -> None:
    """Stop before changing anything when secrets must be encrypted and there is no key."""
    bind = op.get_bind()
    for table, column in SECRET_COLUMNS:
        found = bind.execute(
            sa.text(f"SELECT COUNT(*) FROM {table} WHERE {column} IS NOT NULL")
        ).scalar()
        if found:
            seal("probe")  # raises SecretKeyMissing, naming the settings looked at
            return


def _rewrite(table: str, column: str, change: Callable[[str], str]) -> None:
    """Every non-null value of `column` through `change` (seal or unseal), row by row."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL")
    ).all()
    for row_id, value in rows:
        new = change(str(value))
        if new != value:
            bind.execute(
                sa.text(f"UPDATE {table} SET {column} = :value WHERE id = :id"),
                {"value": new, "id": row_id},
            )


def _resize(table: str, column: str, old: int, new: int) -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column(
            table, column, type_=sa.String(length=new), existing_type=sa.String(length=old)
        )
        return
    # SQLite cannot change a column's type; a batch (copy-and-move) of ``users`` would drop a
    # table that every other table references. So: a new column, the values, the old one
    # dropped, the new one renamed (SQLite ≥ 3.35).
    temporary = f"{column}_resized"
    op.execute(f"ALTER TABLE {table} ADD COLUMN {temporary} VARCHAR({new})")
    op.execute(f"UPDATE {table} SET {temporary} = {column}")
    op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    op.execute(f"ALTER TABLE {table} RENAME COLUMN {temporary} TO {column}")

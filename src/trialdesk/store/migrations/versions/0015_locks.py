"""Data locks and bound signatures (issue 14): ``data_locks`` (form, participant or study level,
who/when/why locked and unlocked) and, on ``signatures``, the SHA-256 hashes that bind a
signature to the casebook content it covers and to its signer, time and meaning (21 CFR 11.70).
See `trialdesk.store.models.locks` and `trialdesk.services.signoff`.

Revision ID: 0015_locks
Revises: 0014_sdv
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_locks"
down_revision: str | None = "0014_sdv"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "data_locks"
USER_COLUMNS = ("locked_by", "unlocked_by", "created_by", "updated_by", "voided_by")


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column(
            "scope",
            sa.Enum(
                "form",
                "participant",
                "study",
                name="lock_scope",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("participant_id", sa.Integer(), nullable=True),
        sa.Column("visit_code", sa.String(length=20), nullable=True),
        sa.Column("form", sa.String(length=40), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("locked_by", sa.Integer(), nullable=True),
        sa.Column("locked_by_name", sa.String(length=200), nullable=False),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unlocked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unlocked_by", sa.Integer(), nullable=True),
        sa.Column("unlocked_by_name", sa.String(length=200), nullable=True),
        sa.Column("unlock_reason", sa.Text(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("voided", sa.Boolean(), nullable=False),
        sa.Column("void_reason", sa.Text(), nullable=True),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column("voided_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f(f"fk_{TABLE}_participant_id_participants"),
        ),
        *(
            sa.ForeignKeyConstraint([column], ["users.id"], name=op.f(f"fk_{TABLE}_{column}_users"))
            for column in USER_COLUMNS
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{TABLE}")),
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f(f"ix_{TABLE}_participant_id"), ["participant_id"], unique=False
        )
    with op.batch_alter_table("signatures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("signature_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signatures", schema=None) as batch_op:
        batch_op.drop_column("signature_hash")
        batch_op.drop_column("content_hash")
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index(batch_op.f(f"ix_{TABLE}_participant_id"))
    op.drop_table(TABLE)

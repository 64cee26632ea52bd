"""Source-data verification and review marks (issue 14): ``sdv_marks``, one row per mark a
monitor sets on a form of a visit or on a record's field, cleared (who, when, why) when what it
covers changes. See `trialdesk.store.models.monitoring`.

Revision ID: 0014_sdv
Revises: 0013_diabetes_type
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_sdv"
down_revision: str | None = "0013_diabetes_type"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "sdv_marks"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("visit_code", sa.String(length=20), nullable=False),
        sa.Column("form", sa.String(length=40), nullable=False),
        sa.Column("target_table", sa.String(length=64), nullable=True),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column("field", sa.String(length=64), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "verified",
                "reviewed",
                name="sdv_kind",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("marked_by", sa.Integer(), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cleared_by", sa.Integer(), nullable=True),
        sa.Column("clear_reason", sa.Text(), nullable=True),
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
            for column in (
                "marked_by",
                "cleared_by",
                "created_by",
                "updated_by",
                "voided_by",
            )
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{TABLE}")),
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f(f"ix_{TABLE}_participant_id"), ["participant_id"], unique=False
        )
        batch_op.create_index("ix_sdv_marks_target", ["target_table", "target_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index("ix_sdv_marks_target")
        batch_op.drop_index(batch_op.f(f"ix_{TABLE}_participant_id"))
    op.drop_table(TABLE)

"""Form status per participant, visit and form (issue 13): REDCap's Incomplete / Unverified /
Complete, stored as a clinical record (versioned, voidable, audited). See
`trialdesk.store.models.forms`.

Revision ID: 0006_form_status
Revises: 0005_account_security
Create Date: 2026-12-04 15:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_form_status"
down_revision: str | None = "0005_account_security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "form_statuses",
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("visit_code", sa.String(length=20), nullable=False),
        sa.Column("form", sa.String(length=40), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "incomplete",
                "unverified",
                "complete",
                name="form_status",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
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
            name=op.f("fk_form_statuses_participant_id_participants"),
        ),
        *(
            sa.ForeignKeyConstraint(
                [column], ["users.id"], name=op.f(f"fk_form_statuses_{column}_users")
            )
            for column in ("created_by", "updated_by", "voided_by")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_form_statuses")),
        sa.UniqueConstraint("participant_id", "visit_code", "form", name="uq_form_statuses_form"),
    )
    with op.batch_alter_table("form_statuses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_form_statuses_participant_id"), ["participant_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("form_statuses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_form_statuses_participant_id"))
    op.drop_table("form_statuses")

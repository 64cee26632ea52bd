"""Protocol versions: the protocol text the study runs under, and its amendments (issue 18).

Adds ``protocol_versions`` (label, effective date, summary of changes, full YAML text, its
SHA-256, the consent-form version it requires, who registered it) and a ``protocol_version``
column on ``screenings``, ``consents`` and ``visits``: the version in force on the record's date.
See `trialdesk.store.models.protocol`.

Revision ID: 0004_protocol_versions
Revises: 0002
Create Date: 2026-12-04 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004_protocol_versions"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAMPED = ("screenings", "consents", "visits")


def _record_columns(table: str) -> list[Any]:
    """The columns and foreign keys every clinical record carries (`ClinicalRecord`)."""
    return [
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
        *(
            sa.ForeignKeyConstraint([column], ["users.id"], name=op.f(f"fk_{table}_{column}_users"))
            for column in ("created_by", "updated_by", "voided_by")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    op.create_table(
        "protocol_versions",
        sa.Column("protocol_id", sa.String(length=50), nullable=False),
        sa.Column("label", sa.String(length=20), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("summary_of_changes", sa.Text(), nullable=False),
        sa.Column("yaml_text", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("consent_form_version", sa.String(length=50), nullable=False),
        sa.Column("registered_by", sa.Integer(), nullable=True),
        *_record_columns("protocol_versions"),
        sa.ForeignKeyConstraint(
            ["registered_by"], ["users.id"], name=op.f("fk_protocol_versions_registered_by_users")
        ),
        sa.UniqueConstraint("label", name=op.f("uq_protocol_versions_label")),
        sa.UniqueConstraint("sha256", name=op.f("uq_protocol_versions_sha256")),
    )
    for table in STAMPED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("protocol_version", sa.String(length=20), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+ in place): a batch copy of a table that others reference
    # fails its foreign keys on a database holding data.
    for table in STAMPED:
        op.drop_column(table, "protocol_version")
    op.drop_table("protocol_versions")

"""Site settings and the site's own account of what happened (issue 13, part 3).

- ``sites.time_zone``: the IANA zone the site's pages show times in (stored times stay UTC);
- ``protocol_deviations``: the site's explanation and the investigator's review
  (``reviewed_by``, ``reviewed_at``, ``review_comment``);
- ``screening_declines``: candidates who declined or were not consented, with the reason, for
  the screening log and the CONSORT "declined to participate" box.

Revision ID: 0008_site_settings
Revises: 0007_missing_data
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008_site_settings"
down_revision: str | None = "0007_missing_data"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=40)


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
    # Plain ADD COLUMN on both backends: a batch (copy-and-move) of ``sites`` on SQLite would
    # drop a table that every participant and membership references.
    op.add_column(
        "sites", sa.Column("time_zone", sa.String(length=64), nullable=False, server_default="UTC")
    )
    # protocol_deviations is referenced by no other table: SQLite may copy-and-move it, which
    # is how it gains a column with a foreign key.
    with op.batch_alter_table("protocol_deviations") as batch:
        batch.add_column(sa.Column("explanation", sa.Text(), nullable=True))
        batch.add_column(sa.Column("reviewed_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("review_comment", sa.Text(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_protocol_deviations_reviewed_by_users"), "users", ["reviewed_by"], ["id"]
        )
    op.create_table(
        "screening_declines",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("approached_on", sa.Date(), nullable=False),
        sa.Column("candidate_label", sa.String(length=20), nullable=False),
        sa.Column(
            "outcome",
            _enum("screening_decline_outcome", "declined", "not_consented"),
            nullable=False,
        ),
        sa.Column(
            "reason_category",
            _enum(
                "screening_decline_reason",
                "visit_burden",
                "procedure_concerns",
                "family_or_physician_advice",
                "no_reason_given",
                "unable_to_consent",
                "other",
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        *_record_columns("screening_declines"),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_screening_declines_site_id_sites")
        ),
    )
    op.create_index(
        op.f("ix_screening_declines_site_id"), "screening_declines", ["site_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_screening_declines_site_id"), table_name="screening_declines")
    op.drop_table("screening_declines")
    with op.batch_alter_table("protocol_deviations") as batch:
        batch.drop_constraint(op.f("fk_protocol_deviations_reviewed_by_users"), type_="foreignkey")
        batch.drop_column("review_comment")
        batch.drop_column("reviewed_at")
        batch.drop_column("reviewed_by")
        batch.drop_column("explanation")
    op.drop_column("sites", "time_zone")  # SQLite 3.35+ drops a plain column in place

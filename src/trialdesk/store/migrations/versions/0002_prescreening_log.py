"""Pre-screening log: EHR pre-screening runs and their candidates (issue 7).

Adds ``prescreen_runs`` (one ``trialdesk prescreen`` run at a site) and
``prescreen_candidates`` (its ranked persons, by pseudonymous EHR key, with their recruitment
status and, once screened, the participant and screening they became). See
`trialdesk.store.models.prescreening`.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 07:21:21.504126
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


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
    op.create_table(
        "prescreen_runs",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("protocol_id", sa.String(length=50), nullable=False),
        sa.Column("index_date", sa.Date(), nullable=False),
        sa.Column("lookback_days", sa.Integer(), nullable=False),
        sa.Column("source_description", sa.Text(), nullable=False),
        sa.Column("run_by", sa.Integer(), nullable=False),
        sa.Column("persons_assessed", sa.Integer(), nullable=False),
        sa.Column("status_counts", _json(), nullable=False),
        *_record_columns("prescreen_runs"),
        sa.ForeignKeyConstraint(
            ["run_by"], ["users.id"], name=op.f("fk_prescreen_runs_run_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_prescreen_runs_site_id_sites")
        ),
    )
    with op.batch_alter_table("prescreen_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_prescreen_runs_site_id"), ["site_id"], unique=False)

    op.create_table(
        "prescreen_candidates",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("ehr_person_key", sa.String(length=64), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column(
            "prescreen_status",
            _enum("prescreen_status", "candidate", "possible", "excluded"),
            nullable=False,
        ),
        sa.Column("criteria", _json(), nullable=False),
        sa.Column(
            "workflow_status",
            _enum("candidate_workflow", "new", "invited", "declined", "screened"),
            nullable=False,
        ),
        sa.Column("status_changed_on", sa.Date(), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("participant_id", sa.Integer(), nullable=True),
        sa.Column("screening_id", sa.Integer(), nullable=True),
        *_record_columns("prescreen_candidates"),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_prescreen_candidates_participant_id_participants"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["prescreen_runs.id"],
            name=op.f("fk_prescreen_candidates_run_id_prescreen_runs"),
        ),
        sa.ForeignKeyConstraint(
            ["screening_id"],
            ["screenings.id"],
            name=op.f("fk_prescreen_candidates_screening_id_screenings"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_prescreen_candidates_site_id_sites")
        ),
        sa.UniqueConstraint(
            "run_id",
            "ehr_person_key",
            name=op.f("uq_prescreen_candidates_run_id_ehr_person_key"),
        ),
    )
    with op.batch_alter_table("prescreen_candidates", schema=None) as batch_op:
        for column in ("ehr_person_key", "participant_id", "run_id", "site_id"):
            batch_op.create_index(
                batch_op.f(f"ix_prescreen_candidates_{column}"), [column], unique=False
            )


def downgrade() -> None:
    with op.batch_alter_table("prescreen_candidates", schema=None) as batch_op:
        for column in ("site_id", "run_id", "participant_id", "ehr_person_key"):
            batch_op.drop_index(batch_op.f(f"ix_prescreen_candidates_{column}"))
    op.drop_table("prescreen_candidates")
    with op.batch_alter_table("prescreen_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prescreen_runs_site_id"))
    op.drop_table("prescreen_runs")

"""Safety reporting (issue 14): the site's awareness date-time, the investigator's confirmations
of causality/expectedness and of the CTCAE grade on ``adverse_events``; ``safety_reports`` (each
report sent to the sponsor) and ``safety_assessments`` (judgements proposed and confirmed).
See `trialdesk.store.models.safety_reports`.

Revision ID: 0016_safety_reports
Revises: 0015_locks
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_safety_reports"
down_revision: str | None = "0015_locks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AE = "adverse_events"
AE_USERS = ("causality_confirmed_by", "grade_confirmed_by")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=40)


def _record_columns() -> list[sa.Column[object]]:
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
    ]


def _keys(table: str, users: Sequence[str]) -> list[sa.Constraint]:
    return [
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f(f"fk_{table}_participant_id_participants"),
        ),
        sa.ForeignKeyConstraint(
            ["adverse_event_id"],
            ["adverse_events.id"],
            name=op.f(f"fk_{table}_adverse_event_id_adverse_events"),
        ),
        *(
            sa.ForeignKeyConstraint([c], ["users.id"], name=op.f(f"fk_{table}_{c}_users"))
            for c in (*users, "created_by", "updated_by", "voided_by")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def _indexes(table: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in ("participant_id", "adverse_event_id"):
            batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column], unique=False)


def upgrade() -> None:
    with op.batch_alter_table(AE, schema=None) as batch_op:
        batch_op.add_column(sa.Column("aware_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("new_information_at", sa.DateTime(timezone=True), nullable=True)
        )
        for prefix in ("causality", "grade"):
            batch_op.add_column(sa.Column(f"{prefix}_confirmed_by", sa.Integer(), nullable=True))
            batch_op.add_column(
                sa.Column(f"{prefix}_confirmed_at", sa.DateTime(timezone=True), nullable=True)
            )
        for column in AE_USERS:
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{AE}_{column}_users"), "users", [column], ["id"]
            )
    op.create_table(
        "safety_reports",
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("adverse_event_id", sa.Integer(), nullable=False),
        sa.Column("kind", _enum("report_kind", "initial", "follow_up"), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_by", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        *_record_columns(),
        *_keys("safety_reports", ("sent_by",)),
    )
    _indexes("safety_reports")
    op.create_table(
        "safety_assessments",
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("adverse_event_id", sa.Integer(), nullable=False),
        sa.Column("subject", _enum("assessment_subject", "causality", "grade"), nullable=False),
        sa.Column("step", _enum("assessment_step", "proposed", "confirmed"), nullable=False),
        sa.Column(
            "relatedness",
            _enum("relatedness", "not_related", "unlikely", "possible", "probable", "definite"),
            nullable=True,
        ),
        sa.Column("expected", sa.Boolean(), nullable=True),
        sa.Column("grade", sa.Integer(), nullable=True),
        sa.Column("basis", sa.String(length=400), nullable=True),
        sa.Column("assessed_by", sa.Integer(), nullable=False),
        sa.Column("assessed_at", sa.DateTime(timezone=True), nullable=False),
        *_record_columns(),
        *_keys("safety_assessments", ("assessed_by",)),
    )
    _indexes("safety_assessments")


def downgrade() -> None:
    for table in ("safety_assessments", "safety_reports"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in ("adverse_event_id", "participant_id"):
                batch_op.drop_index(batch_op.f(f"ix_{table}_{column}"))
        op.drop_table(table)
    with op.batch_alter_table(AE, schema=None) as batch_op:
        for column in AE_USERS:
            batch_op.drop_constraint(batch_op.f(f"fk_{AE}_{column}_users"), type_="foreignkey")
        for column in (
            "grade_confirmed_at",
            "grade_confirmed_by",
            "causality_confirmed_at",
            "causality_confirmed_by",
            "new_information_at",
            "aware_at",
        ):
            batch_op.drop_column(column)

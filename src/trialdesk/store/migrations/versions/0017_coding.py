"""Medical coding (issue 14): dictionary releases and their terms (``coding_dictionaries``,
``meddra_terms``, ``drug_terms``), the study's synonym list (``coding_synonyms``), the coding of
AE terms and medications (``coding_assignments``), and the ``coder`` role (the role column's
CHECK constraint gains the value). See `trialdesk.store.models.coding`.

Revision ID: 0017_coding
Revises: 0016_safety_reports
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_coding"
down_revision: str | None = "0016_safety_reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


ROLES = ("admin", "investigator", "coordinator", "monitor", "statistician")
ROLE_CHECK = "ck_user_roles_role"


def _role_values(roles: Sequence[str]) -> str:
    return "role IN (" + ", ".join(f"'{r}'" for r in roles) + ")"


def _set_roles(roles: Sequence[str]) -> None:
    """Replace the CHECK constraint of ``user_roles.role`` (SQLite: by a batch table copy)."""
    with op.batch_alter_table("user_roles", schema=None) as batch_op:
        batch_op.drop_constraint(op.f(ROLE_CHECK), type_="check")
        batch_op.create_check_constraint(op.f(ROLE_CHECK), sa.text(_role_values(roles)))


def upgrade() -> None:
    _set_roles((*ROLES, "coder"))
    op.create_table(
        "coding_dictionaries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "meddra",
                "drug",
                name="dictionary_kind",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("language", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("term_count", sa.Integer(), nullable=False),
        sa.Column("loaded_by", sa.Integer(), nullable=True),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["loaded_by"], ["users.id"], name=op.f("fk_coding_dictionaries_loaded_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coding_dictionaries")),
        sa.UniqueConstraint("kind", "version", name=op.f("uq_coding_dictionaries_kind_version")),
    )
    op.create_table(
        "coding_synonyms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "meddra",
                "drug",
                name="dictionary_kind",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("verbatim_key", sa.String(length=200), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_coding_synonyms_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coding_synonyms")),
        sa.UniqueConstraint(
            "kind", "verbatim_key", name=op.f("uq_coding_synonyms_kind_verbatim_key")
        ),
    )
    op.create_table(
        "coding_assignments",
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("target_table", sa.String(length=64), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("verbatim", sa.String(length=200), nullable=False),
        sa.Column("dictionary_id", sa.Integer(), nullable=False),
        sa.Column("dictionary_version", sa.String(length=40), nullable=False),
        sa.Column(
            "method",
            sa.Enum(
                "autocoded",
                "manual",
                name="coding_method",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "current",
                "needs_review",
                "superseded",
                "cleared",
                name="coding_status",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("review_reason", sa.Text(), nullable=True),
        sa.Column("coded_by", sa.Integer(), nullable=True),
        sa.Column("coded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("llt_code", sa.Integer(), nullable=True),
        sa.Column("llt_name", sa.String(length=200), nullable=True),
        sa.Column("pt_code", sa.Integer(), nullable=True),
        sa.Column("pt_name", sa.String(length=200), nullable=True),
        sa.Column("hlt_code", sa.Integer(), nullable=True),
        sa.Column("hlt_name", sa.String(length=200), nullable=True),
        sa.Column("hlgt_code", sa.Integer(), nullable=True),
        sa.Column("hlgt_name", sa.String(length=200), nullable=True),
        sa.Column("soc_code", sa.Integer(), nullable=True),
        sa.Column("soc_name", sa.String(length=200), nullable=True),
        sa.Column("drug_code", sa.String(length=20), nullable=True),
        sa.Column("drug_name", sa.String(length=200), nullable=True),
        sa.Column("atc_code", sa.String(length=7), nullable=True),
        sa.Column("atc_text", sa.String(length=200), nullable=True),
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
            ["coded_by"], ["users.id"], name=op.f("fk_coding_assignments_coded_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_coding_assignments_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["dictionary_id"],
            ["coding_dictionaries.id"],
            name=op.f("fk_coding_assignments_dictionary_id_coding_dictionaries"),
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_coding_assignments_participant_id_participants"),
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["users.id"], name=op.f("fk_coding_assignments_updated_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["voided_by"], ["users.id"], name=op.f("fk_coding_assignments_voided_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coding_assignments")),
    )
    with op.batch_alter_table("coding_assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coding_assignments_participant_id"), ["participant_id"], unique=False
        )
        batch_op.create_index(
            "ix_coding_assignments_target", ["target_table", "target_id"], unique=False
        )

    op.create_table(
        "drug_terms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dictionary_id", sa.Integer(), nullable=False),
        sa.Column("drug_code", sa.String(length=20), nullable=False),
        sa.Column("drug_name", sa.String(length=200), nullable=False),
        sa.Column("drug_key", sa.String(length=200), nullable=False),
        sa.Column("atc_code", sa.String(length=7), nullable=False),
        sa.Column("atc_text", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["dictionary_id"],
            ["coding_dictionaries.id"],
            name=op.f("fk_drug_terms_dictionary_id_coding_dictionaries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drug_terms")),
        sa.UniqueConstraint(
            "dictionary_id", "drug_code", name=op.f("uq_drug_terms_dictionary_id_drug_code")
        ),
    )
    with op.batch_alter_table("drug_terms", schema=None) as batch_op:
        batch_op.create_index("ix_drug_terms_key", ["dictionary_id", "drug_key"], unique=False)

    op.create_table(
        "meddra_terms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dictionary_id", sa.Integer(), nullable=False),
        sa.Column("llt_code", sa.Integer(), nullable=False),
        sa.Column("llt_name", sa.String(length=200), nullable=False),
        sa.Column("llt_key", sa.String(length=200), nullable=False),
        sa.Column("llt_current", sa.Boolean(), nullable=False),
        sa.Column("pt_code", sa.Integer(), nullable=False),
        sa.Column("pt_name", sa.String(length=200), nullable=False),
        sa.Column("hlt_code", sa.Integer(), nullable=False),
        sa.Column("hlt_name", sa.String(length=200), nullable=False),
        sa.Column("hlgt_code", sa.Integer(), nullable=False),
        sa.Column("hlgt_name", sa.String(length=200), nullable=False),
        sa.Column("soc_code", sa.Integer(), nullable=False),
        sa.Column("soc_name", sa.String(length=200), nullable=False),
        sa.Column("soc_abbrev", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(
            ["dictionary_id"],
            ["coding_dictionaries.id"],
            name=op.f("fk_meddra_terms_dictionary_id_coding_dictionaries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meddra_terms")),
        sa.UniqueConstraint(
            "dictionary_id", "llt_code", name=op.f("uq_meddra_terms_dictionary_id_llt_code")
        ),
    )
    with op.batch_alter_table("meddra_terms", schema=None) as batch_op:
        batch_op.create_index("ix_meddra_terms_key", ["dictionary_id", "llt_key"], unique=False)


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM user_roles WHERE role = 'coder'"))
    _set_roles(ROLES)
    with op.batch_alter_table("meddra_terms", schema=None) as batch_op:
        batch_op.drop_index("ix_meddra_terms_key")

    op.drop_table("meddra_terms")
    with op.batch_alter_table("drug_terms", schema=None) as batch_op:
        batch_op.drop_index("ix_drug_terms_key")

    op.drop_table("drug_terms")
    with op.batch_alter_table("coding_assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_coding_assignments_target")
        batch_op.drop_index(batch_op.f("ix_coding_assignments_participant_id"))

    op.drop_table("coding_assignments")
    op.drop_table("coding_synonyms")
    op.drop_table("coding_dictionaries")

"""A missing-data code per ITT sample (issue #13).

``itt_samples.missing_code`` / ``missing_reason``: one sample of an insulin tolerance test that
was not taken (e.g. the 10-min glucose: haemolysed, line blocked), recorded with its REDCap/HL7
NullFlavor code and the site's reason (`trialdesk.catalogue.missing`); its glucose columns are
then empty, so they become nullable. KITT is computed from the remaining samples when the method
allows (`trialdesk.derive.itt`).

Revision ID: 0010_missing_labs
Revises: 0008_site_settings
Create Date: 2026-12-04 18:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_missing_labs"
down_revision: str | None = "0008_site_settings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # itt_samples is referenced by no other table, so SQLite's batch copy keeps every key.
    with op.batch_alter_table("itt_samples") as batch:
        batch.add_column(sa.Column("missing_code", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("missing_reason", sa.Text(), nullable=True))
        batch.alter_column("glucose_as_entered", existing_type=sa.Float(), nullable=True)
        batch.alter_column("glucose_mmol_l", existing_type=sa.Float(), nullable=True)


def downgrade() -> None:
    # A coded sample has no glucose to keep: it cannot live under NOT NULL columns.
    op.execute("DELETE FROM itt_samples WHERE missing_code IS NOT NULL")
    with op.batch_alter_table("itt_samples") as batch:
        batch.alter_column("glucose_mmol_l", existing_type=sa.Float(), nullable=False)
        batch.alter_column("glucose_as_entered", existing_type=sa.Float(), nullable=False)
        batch.drop_column("missing_reason")
        batch.drop_column("missing_code")

"""Missing-data codes and unscheduled visits (issue #13, part 2).

Adds ``measurements.missing_code`` / ``missing_reason`` (a value recorded as missing, with its
REDCap/HL7 NullFlavor code and the site's reason: `trialdesk.catalogue.missing`) and
``visits.unscheduled`` / ``unscheduled_reason`` (visits outside the schedule of assessments:
`trialdesk.protocol.unscheduled`).

Revision ID: 0007_missing_data
Revises: 0006_form_status
Create Date: 2026-12-04 15:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_missing_data"
down_revision: str | None = "0006_form_status"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("measurements") as batch:
        batch.add_column(sa.Column("missing_code", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("missing_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("visits") as batch:
        batch.add_column(
            sa.Column("unscheduled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("unscheduled_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+ in place): a batch copy of a table that others reference
    # fails its foreign keys on a database holding data.
    op.drop_column("visits", "unscheduled_reason")
    op.drop_column("visits", "unscheduled")
    op.drop_column("measurements", "missing_reason")
    op.drop_column("measurements", "missing_code")

"""Issue #16: the pre-screening run keeps its attrition funnel.

- ``prescreen_runs.attrition``: criterion by criterion, the persons remaining, removed and not
  assessable (the ATLAS-style funnel the console, CSV and PNG show), so the screening log
  holds the same numbers as the run's outputs. Existing runs get an empty list.

(The diabetes type itself is a screening finding, stored with the other findings: no column.)

Revision ID: 0013_diabetes_type
Revises: 0011_security_admin
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013_diabetes_type"
down_revision: str | None = "0011_security_admin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> Any:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("prescreen_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("attrition", _json(), nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("prescreen_runs", schema=None) as batch_op:
        batch_op.drop_column("attrition")

"""Issue #16: the stored pre-screen status uses the pre-screen's own verdicts.

``prescreen_candidates.prescreen_status`` allowed candidate / possible / excluded (0002), while
the pre-screen (`trialdesk.prescreen.query`) says candidate / incomplete / excluded; the log
mapped "incomplete" to "possible" on the way in. This renames the stored value:

- the CHECK constraint ``ck_prescreen_candidates_prescreen_status`` is replaced (dropped, rows
  updated, re-created: on SQLite through batch mode, which re-creates the table);
- existing rows "possible" → "incomplete", and the key "possible" of every run's
  ``prescreen_runs.status_counts`` → "incomplete" (same persons, same meaning: the verdict was
  renamed, no clinical value changes, so no audit entry is written).

The downgrade reverses both.

Revision ID: 0021_prescreen_verdicts
Revises: 0017_coding
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0021_prescreen_verdicts"
down_revision: str | None = "0017_coding"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "prescreen_candidates"
CONSTRAINT = "prescreen_status"  # named ck_prescreen_candidates_prescreen_status by convention
OLD = ("candidate", "possible", "excluded")
NEW = ("candidate", "incomplete", "excluded")


def _in(values: tuple[str, ...]) -> str:
    return "prescreen_status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _replace_constraint(values: tuple[str, ...], before: str, after: str) -> None:
    """Drop the CHECK, rename the stored value, add the CHECK for `values`."""
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_constraint(op.f(f"ck_{TABLE}_{CONSTRAINT}"), type_="check")
    op.execute(
        sa.text(
            f"UPDATE {TABLE} SET prescreen_status = :after WHERE prescreen_status = :before"
        ).bindparams(before=before, after=after)
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_check_constraint(op.f(f"ck_{TABLE}_{CONSTRAINT}"), _in(values))
    _rename_count_key(before, after)


def _json() -> Any:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _rename_count_key(before: str, after: str) -> None:
    """`status_counts` {"possible": n} ↔ {"incomplete": n}, run by run (portable JSON)."""
    bind = op.get_bind()
    runs = sa.table("prescreen_runs", sa.column("id", sa.Integer), sa.column("status_counts"))
    for run_id, raw in bind.execute(sa.select(runs.c.id, runs.c.status_counts)).all():
        counts: dict[str, Any] = raw if isinstance(raw, dict) else json.loads(raw or "{}")
        if before not in counts:
            continue
        renamed = {(after if k == before else k): v for k, v in counts.items()}
        bind.execute(
            sa.text("UPDATE prescreen_runs SET status_counts = :counts WHERE id = :id").bindparams(
                sa.bindparam("counts", type_=_json())
            ),
            {"counts": renamed, "id": run_id},
        )


def upgrade() -> None:
    _replace_constraint(NEW, "possible", "incomplete")


def downgrade() -> None:
    _replace_constraint(OLD, "incomplete", "possible")

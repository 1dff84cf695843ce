"""One active job per transcript (a partial unique index), and a count of a stage's starts.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_INDEX = "ux_jobs_active_transcript"
_WHERE = "status IN ('queued', 'running')"


def upgrade() -> None:
    # Two requests may have started two jobs for one transcript before the index existed:
    # keep the newest active one, cancel the others, so the index can be built.
    op.execute(
        f"""
        UPDATE jobs SET status = 'cancelled', lease_owner = NULL, lease_expires = NULL
        WHERE {_WHERE} AND EXISTS (
            SELECT 1 FROM jobs AS newer
            WHERE newer.transcript_id = jobs.transcript_id
              AND newer.status IN ('queued', 'running')
              AND (newer.created_at > jobs.created_at
                   OR (newer.created_at = jobs.created_at AND newer.id > jobs.id))
        )
        """
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("stage_attempts", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.alter_column("stage_attempts", server_default=None)
    op.create_index(
        _INDEX,
        "jobs",
        ["transcript_id"],
        unique=True,
        sqlite_where=sa.text(_WHERE),
        postgresql_where=sa.text(_WHERE),
    )


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="jobs")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("stage_attempts")

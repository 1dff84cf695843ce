"""Index transcripts in list order (owner, creation time, id) so pages need no sort.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_transcripts_user_created_id", "transcripts", ["user_id", "created_at", "id"]
    )
    op.drop_index("ix_transcripts_user_created", table_name="transcripts")


def downgrade() -> None:
    op.create_index("ix_transcripts_user_created", "transcripts", ["user_id", "created_at"])
    op.drop_index("ix_transcripts_user_created_id", table_name="transcripts")

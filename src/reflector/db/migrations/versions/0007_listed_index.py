"""Index the transcripts that lists show (out of the trash) by owner, creation time and id;
index room ids only where there is one.

A list's page and its count read only the first (partial) index, instead of every row of the
table (``deleted_at`` lies after the large ``text`` column in a row, and the old
``(user_id, created_at, id)`` index could not skip the trash); ``deleted_at`` comes last so
that SQLite needs nothing outside the index. The room index leaves out the many transcripts
in no room, whose NULLs made SQLite's statistics judge it useless.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_LISTED = "ix_transcripts_listed"
_LISTED_WHERE = "deleted_at IS NULL"
_ROOM = "ix_transcripts_room_id"
_ROOM_WHERE = "room_id IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        _LISTED,
        "transcripts",
        ["user_id", "created_at", "id", "deleted_at"],
        sqlite_where=sa.text(_LISTED_WHERE),
        postgresql_where=sa.text(_LISTED_WHERE),
    )
    op.drop_index("ix_transcripts_user_created_id", table_name="transcripts")
    op.drop_index(_ROOM, table_name="transcripts")
    op.create_index(
        _ROOM,
        "transcripts",
        ["room_id"],
        sqlite_where=sa.text(_ROOM_WHERE),
        postgresql_where=sa.text(_ROOM_WHERE),
    )


def downgrade() -> None:
    op.drop_index(_ROOM, table_name="transcripts")
    op.create_index(_ROOM, "transcripts", ["room_id"])
    op.create_index(
        "ix_transcripts_user_created_id", "transcripts", ["user_id", "created_at", "id"]
    )
    op.drop_index(_LISTED, table_name="transcripts")

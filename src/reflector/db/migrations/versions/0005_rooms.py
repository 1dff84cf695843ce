"""Rooms and their meetings on video platforms: participants, consent, platform recordings,
multitrack transcripts, email requests.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Plain ALTER TABLE ADD COLUMN, not a batch: on SQLite a batch copies the table into a new
    # one, which loses the full-text search triggers (and the rowids the index refers to).
    op.add_column("transcripts", sa.Column("meeting_id", sa.String(length=32), nullable=True))
    op.add_column("transcripts", sa.Column("tracks", sa.JSON(), nullable=True))
    op.add_column(
        "transcripts",
        sa.Column("audio_deleted", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("transcripts", sa.Column("zulip_message_id", sa.BigInteger(), nullable=True))
    op.create_index(op.f("ix_transcripts_room_id"), "transcripts", ["room_id"])
    op.create_index(op.f("ix_transcripts_meeting_id"), "transcripts", ["meeting_id"])

    op.create_table(
        "rooms",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("is_shared", sa.Boolean(), nullable=False),
        sa.Column("is_locked", sa.Boolean(), nullable=False),
        sa.Column("room_mode", sa.String(length=16), nullable=False),
        sa.Column("recording_type", sa.String(length=16), nullable=False),
        sa.Column("recording_trigger", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("skip_consent", sa.Boolean(), nullable=False),
        sa.Column("webhook_url", sa.String(length=2000), nullable=True),
        sa.Column("webhook_secret", sa.String(length=200), nullable=True),
        sa.Column("zulip_auto_post", sa.Boolean(), nullable=False),
        sa.Column("zulip_stream", sa.String(length=200), nullable=True),
        sa.Column("zulip_topic", sa.String(length=200), nullable=True),
        sa.Column("ics_url", sa.String(length=2000), nullable=True),
        sa.Column("ics_enabled", sa.Boolean(), nullable=False),
        sa.Column("ics_fetch_interval", sa.Integer(), nullable=False),
        sa.Column("ics_last_sync", _TZ, nullable=True),
        sa.Column("ics_etag", sa.String(length=500), nullable=True),
        sa.Column("ics_last_modified", sa.String(length=100), nullable=True),
        sa.Column("ics_status", sa.Text(), nullable=True),
        sa.Column("ics_events_found", sa.Integer(), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index(op.f("ix_rooms_user_id"), "rooms", ["user_id"])

    op.create_table(
        "meetings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("room_id", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("platform_meeting_id", sa.String(length=200), nullable=True),
        sa.Column("room_url", sa.String(length=2000), nullable=True),
        sa.Column("host_room_url", sa.String(length=2000), nullable=True),
        sa.Column("start_date", _TZ, nullable=False),
        sa.Column("end_date", _TZ, nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("room_mode", sa.String(length=16), nullable=False),
        sa.Column("recording_type", sa.String(length=16), nullable=False),
        sa.Column("recording_trigger", sa.String(length=32), nullable=False),
        sa.Column("num_clients", sa.Integer(), nullable=False),
        sa.Column("calendar_event_id", sa.String(length=500), nullable=True),
        sa.Column("calendar_data", sa.JSON(), nullable=True),
        sa.Column("created_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "platform_meeting_id"),
        sa.UniqueConstraint("room_id", "calendar_event_id"),
    )
    op.create_index(op.f("ix_meetings_room_id"), "meetings", ["room_id"])
    op.create_index("ix_meetings_room_active", "meetings", ["room_id", "is_active"])

    op.create_table(
        "meeting_participants",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("meeting_id", sa.String(length=32), nullable=False),
        sa.Column("participant_id", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("joined_at", _TZ, nullable=False),
        sa.Column("left_at", _TZ, nullable=True),
        sa.ForeignKeyConstraint(["meeting_id"], ["meetings.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("meeting_id", "participant_id"),
    )
    op.create_index(
        op.f("ix_meeting_participants_meeting_id"), "meeting_participants", ["meeting_id"]
    )

    op.create_table(
        "meeting_consents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("meeting_id", sa.String(length=32), nullable=False),
        sa.Column("participant_key", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("consent_given", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(["meeting_id"], ["meetings.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("meeting_id", "participant_key"),
    )
    op.create_index(op.f("ix_meeting_consents_meeting_id"), "meeting_consents", ["meeting_id"])

    op.create_table(
        "recordings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("platform_recording_id", sa.String(length=300), nullable=False),
        sa.Column("meeting_id", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("bucket", sa.String(length=300), nullable=True),
        sa.Column("keys", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("transcript_id", sa.String(length=32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("recorded_at", _TZ, nullable=True),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(["meeting_id"], ["meetings.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["transcript_id"], ["transcripts.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "platform_recording_id"),
    )
    op.create_index(op.f("ix_recordings_meeting_id"), "recordings", ["meeting_id"])
    op.create_index(op.f("ix_recordings_transcript_id"), "recordings", ["transcript_id"])
    op.create_index("ix_recordings_status", "recordings", ["status"])

    op.create_table(
        "email_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("meeting_id", sa.String(length=32), nullable=True),
        sa.Column("transcript_id", sa.String(length=32), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("sent_at", _TZ, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["meeting_id"], ["meetings.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["transcript_id"], ["transcripts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_email_requests_meeting_id"), "email_requests", ["meeting_id"])
    op.create_index(op.f("ix_email_requests_transcript_id"), "email_requests", ["transcript_id"])

    op.create_table(
        "notifications",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("transcript_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TZ, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("sent_at", _TZ, nullable=True),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(["transcript_id"], ["transcripts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("transcript_id", "kind"),
    )
    op.create_index(op.f("ix_notifications_transcript_id"), "notifications", ["transcript_id"])
    op.create_index("ix_notifications_due", "notifications", ["status", "next_attempt_at"])

    op.create_table(
        "transcript_shares",
        sa.Column("transcript_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("opened_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(["transcript_id"], ["transcripts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("transcript_id", "user_id"),
    )
    op.create_index(op.f("ix_transcript_shares_user_id"), "transcript_shares", ["user_id"])

    op.add_column("users", sa.Column("oidc_subject", sa.String(length=255), nullable=True))
    op.create_index(op.f("ix_users_oidc_subject"), "users", ["oidc_subject"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_users_oidc_subject"), table_name="users")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("oidc_subject")
    op.drop_table("transcript_shares")
    op.drop_table("notifications")
    op.drop_table("email_requests")
    op.drop_table("recordings")
    op.drop_table("meeting_consents")
    op.drop_table("meeting_participants")
    op.drop_table("meetings")
    op.drop_table("rooms")
    with op.batch_alter_table("transcripts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transcripts_meeting_id"))
        batch_op.drop_index(batch_op.f("ix_transcripts_room_id"))
        batch_op.drop_column("zulip_message_id")
        batch_op.drop_column("audio_deleted")
        batch_op.drop_column("tracks")
        batch_op.drop_column("meeting_id")

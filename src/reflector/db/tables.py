"""Database tables (SQLAlchemy 2, typed declarative mapping) for SQLite and PostgreSQL.

Durations and times are seconds (float). Transcript results are rows per segment, topic,
participant and action item, never one JSON document rewritten whole on every change; only small
leaf data (a segment's words, a waveform, an event's payload) is JSON.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """``moment`` with its time zone: SQLite gives back naive datetimes (stored in UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# SQLite keeps 64-bit integers in an INTEGER PRIMARY KEY only under that exact type name.
AutoId = BigInteger().with_variant(Integer(), "sqlite")


def transcript_ref() -> Mapped[str]:
    """The ``transcript_id`` column of a table that hangs off a transcript: indexed, and its
    rows go when the transcript does."""
    return mapped_column(ForeignKey("transcripts.id", ondelete="CASCADE"), index=True)


def meeting_ref() -> Mapped[str]:
    """The ``meeting_id`` column of a table that hangs off a meeting: indexed, and its rows go
    when the meeting does."""
    return mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {datetime: DateTime(timezone=True), dict[str, Any]: JSON}


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    """Kept lower-case (``db.accounts.normalize_email``), so uniqueness ignores case."""
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    """argon2id; ``None``: the account cannot sign in with a password (keys only)."""
    oidc_subject: Mapped[str | None] = mapped_column(String(255), index=True, unique=True)
    """The account's ``sub`` at the OpenID Connect issuer, once it signed in there."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None]
    """Set: the user's keys and sessions stop working at once."""


class ApiKey(Base):
    """A key for programs; only its SHA-256 is stored, the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    prefix: Mapped[str] = mapped_column(String(16))
    """The first characters, shown in lists so people can tell keys apart."""
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    """``None``: the key never expires."""
    revoked_at: Mapped[datetime | None]


class LoginSession(Base):
    """A signed-in browser: the cookie holds a random token, only its SHA-256 is stored."""

    __tablename__ = "sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


LISTED_INDEX = "ix_transcripts_listed"
LISTED_WHERE = "deleted_at IS NULL"
_LISTED_WHERE = text(LISTED_WHERE)  # the class below has a column named ``text``
_IN_A_ROOM = text("room_id IS NOT NULL")


class TranscriptRow(Base):
    __tablename__ = "transcripts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(16), default="idle")
    """``idle``, ``uploaded``, ``recording``, ``processing``, ``ended`` or ``error``."""
    source: Mapped[str] = mapped_column(String(16), default="file")
    """``file``, ``live`` or ``room``."""
    room_id: Mapped[str | None] = mapped_column(String(64))
    meeting_id: Mapped[str | None] = mapped_column(String(32), index=True)
    """The room meeting it was recorded in, if any."""
    tracks: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    """A multitrack recording: ``[{key, name, user_id, participant_id}]``, one per speaker,
    each ``key`` a file in the blob store; ``None`` for a single file (``upload_key``)."""
    audio_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    """The audio was deleted after transcription (a participant declined consent)."""
    zulip_message_id: Mapped[int | None] = mapped_column(BigInteger)
    """The Zulip message that announced it, edited when the transcript is reprocessed."""
    source_language: Mapped[str | None] = mapped_column(String(16))
    """Spoken language: set by the user, or detected."""
    target_language: Mapped[str | None] = mapped_column(String(16))
    """Language of summaries (and translations)."""
    title: Mapped[str | None] = mapped_column(String(500))
    short_summary: Mapped[str | None] = mapped_column(Text)
    long_summary: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text, default="")
    """The whole transcript as plain text, kept for full-text search."""
    duration: Mapped[float] = mapped_column(Float, default=0.0)
    share_mode: Mapped[str] = mapped_column(String(16), default="private")
    """``private``, ``semi-private`` (signed-in users) or ``public``."""
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    reviewed: Mapped[bool] = mapped_column(Boolean, default=False)
    upload_key: Mapped[str | None] = mapped_column(String(300))
    audio_key: Mapped[str | None] = mapped_column(String(300))
    """The MP3 every player gets."""
    waveform: Mapped[list[float] | None] = mapped_column(JSON)
    summary_backend: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None]

    __table_args__ = (
        # A user's transcripts out of the trash in list order (newest first, ties by id): a
        # page reads 20 index entries, a count only the index. Partial, since PostgreSQL does
        # not take ``deleted_at IS NULL`` as an equality that keeps the order of the columns
        # after it; ``deleted_at`` comes last only so that SQLite reads nothing but the index.
        Index(
            LISTED_INDEX,
            "user_id",
            "created_at",
            "id",
            "deleted_at",
            sqlite_where=_LISTED_WHERE,
            postgresql_where=_LISTED_WHERE,
        ),
        # Partial: most transcripts are in no room, and SQLite's statistics count their NULLs
        # as one value shared by every row, which made it read the whole table instead.
        Index(
            "ix_transcripts_room_id",
            "room_id",
            sqlite_where=_IN_A_ROOM,
            postgresql_where=_IN_A_ROOM,
        ),
        Index("ix_transcripts_user_status", "user_id", "status"),
    )


class SegmentRow(Base):
    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    transcript_id: Mapped[str] = transcript_ref()
    position: Mapped[int] = mapped_column(Integer)
    speaker: Mapped[int | None] = mapped_column(Integer)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float, default=1.0)
    words: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """``[{text, start, end, probability, speaker}]``."""

    __table_args__ = (UniqueConstraint("transcript_id", "position"),)


class TopicRow(Base):
    __tablename__ = "topics"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    transcript_id: Mapped[str] = transcript_ref()
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(500))
    summary: Mapped[str] = mapped_column(Text)
    start: Mapped[float] = mapped_column(Float)
    duration: Mapped[float] = mapped_column(Float)
    first_segment: Mapped[int] = mapped_column(Integer)
    last_segment: Mapped[int] = mapped_column(Integer)
    keyphrases: Mapped[list[str]] = mapped_column(JSON, default=list)


class ParticipantRow(Base):
    """A speaker number and who it is: a name, with how it was found."""

    __tablename__ = "participants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    transcript_id: Mapped[str] = transcript_ref()
    speaker: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[str | None] = mapped_column(String(64))
    confidence: Mapped[float] = mapped_column(Float, default=1.0)
    source: Mapped[str] = mapped_column(String(16), default="user")
    """``detected`` (from the talk) or ``user`` (set by a person)."""
    evidence: Mapped[list[str]] = mapped_column(JSON, default=list)


class ActionItemRow(Base):
    __tablename__ = "action_items"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    transcript_id: Mapped[str] = transcript_ref()
    kind: Mapped[str] = mapped_column(String(16))
    """``decision`` or ``next_step``."""
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    person: Mapped[str | None] = mapped_column(String(200))
    """Who decided (decision) or who does it (next step)."""
    deadline: Mapped[str | None] = mapped_column(String(200))
    context: Mapped[str | None] = mapped_column(Text)
    time: Mapped[float | None] = mapped_column(Float)
    done: Mapped[bool] = mapped_column(Boolean, default=False)


class EventRow(Base):
    """Everything a client was told about a transcript, in order, for replay."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    transcript_id: Mapped[str] = transcript_ref()
    type: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


ACTIVE_JOB_INDEX = "ux_jobs_active_transcript"
ACTIVE_JOB_WHERE = "status IN ('queued', 'running')"


class JobRow(Base):
    """A pipeline run. Finished stages are recorded, so a new worker resumes after the last one.

    A worker holds a job by a lease (``lease_owner`` until ``lease_expires``) that it renews
    while working; a job whose lease ran out (its worker died) can be taken by another.
    """

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    transcript_id: Mapped[str] = transcript_ref()
    pipeline: Mapped[str] = mapped_column(String(32), default="file")
    status: Mapped[str] = mapped_column(String(16), default="queued")
    """``queued``, ``running``, ``done``, ``failed`` or ``cancelled``."""
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    stages_done: Mapped[list[str]] = mapped_column(JSON, default=list)
    current_stage: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    """How many times a worker claimed the job (each Celery task of a job claims it once)."""
    stage_attempts: Mapped[int] = mapped_column(Integer, default=0)
    """How many times ``current_stage`` was started; a stage started
    ``job_max_attempts`` times without finishing (its worker died each time) ends the job."""
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_jobs_status", "status"),
        # One job per transcript at a time, whoever asks: two concurrent requests to process
        # a transcript cannot both create one.
        Index(
            ACTIVE_JOB_INDEX,
            "transcript_id",
            unique=True,
            sqlite_where=text(ACTIVE_JOB_WHERE),
            postgresql_where=text(ACTIVE_JOB_WHERE),
        ),
    )


class UploadRow(Base):
    """A resumable upload in progress: chunks must arrive in order at ``received`` bytes."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    transcript_id: Mapped[str] = transcript_ref()
    filename: Mapped[str] = mapped_column(String(500), default="")
    size: Mapped[int | None] = mapped_column(BigInteger)
    """Announced total, if the client knows it."""
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16), default="open")
    """``open``, ``complete``, ``rejected`` or ``expired`` (left unfinished too long)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TranscriptShareRow(Base):
    """A transcript that another user opened through its link while it was shared
    (``semi-private`` or ``public``): it shows in that user's list and search, marked as
    shared, for as long as its owner keeps sharing it."""

    __tablename__ = "transcript_shares"

    transcript_id: Mapped[str] = mapped_column(
        ForeignKey("transcripts.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoomRow(Base):
    """A named place for meetings on a video platform, with how they are recorded and where
    the results go."""

    __tablename__ = "rooms"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    """Lower-case letters, digits and dashes: it is part of the room's web address."""
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    is_shared: Mapped[bool] = mapped_column(Boolean, default=False)
    """Shared rooms are listed to (and their transcripts readable by) every signed-in user."""
    is_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    """Locked: people wait in a lobby until a host lets them in."""
    room_mode: Mapped[str] = mapped_column(String(16), default="normal")
    """``normal`` (2 to 4 people) or ``group`` (up to 200)."""
    recording_type: Mapped[str] = mapped_column(String(16), default="cloud")
    """``none``, ``local`` or ``cloud``."""
    recording_trigger: Mapped[str] = mapped_column(String(32), default="automatic-2nd-participant")
    """``none``, ``prompt``, ``automatic`` or ``automatic-2nd-participant``."""
    platform: Mapped[str] = mapped_column(String(16), default="daily")
    """``daily`` or ``whereby``."""
    skip_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    webhook_secret: Mapped[str | None] = mapped_column(String(200))
    zulip_auto_post: Mapped[bool] = mapped_column(Boolean, default=False)
    zulip_stream: Mapped[str | None] = mapped_column(String(200))
    zulip_topic: Mapped[str | None] = mapped_column(String(200))
    ics_url: Mapped[str | None] = mapped_column(String(2000))
    ics_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    ics_fetch_interval: Mapped[int] = mapped_column(Integer, default=300)
    """Seconds between two fetches of the calendar."""
    ics_last_sync: Mapped[datetime | None]
    ics_etag: Mapped[str | None] = mapped_column(String(500))
    ics_last_modified: Mapped[str | None] = mapped_column(String(100))
    ics_status: Mapped[str | None] = mapped_column(Text)
    """The last sync's outcome in words (``ok``, or why the calendar could not be read)."""
    ics_events_found: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MeetingRow(Base):
    """A meeting of a room on its platform: created when someone opens the room (or ahead of
    time from the room's calendar), active until it ends."""

    __tablename__ = "meetings"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    platform_meeting_id: Mapped[str | None] = mapped_column(String(200))
    """The platform's own name for it (Daily's room name, Whereby's meeting id); ``None``
    until an upcoming (calendar) meeting is created on the platform."""
    room_url: Mapped[str | None] = mapped_column(String(2000))
    host_room_url: Mapped[str | None] = mapped_column(String(2000))
    start_date: Mapped[datetime] = mapped_column(default=utcnow)
    end_date: Mapped[datetime | None]
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    room_mode: Mapped[str] = mapped_column(String(16), default="normal")
    """The room's settings when the meeting was created: a meeting is reused only while
    they still match."""
    recording_type: Mapped[str] = mapped_column(String(16), default="cloud")
    recording_trigger: Mapped[str] = mapped_column(String(32), default="automatic-2nd-participant")
    num_clients: Mapped[int] = mapped_column(Integer, default=0)
    calendar_event_id: Mapped[str | None] = mapped_column(String(500))
    """The calendar event (UID and recurrence id) this meeting was created for, if any."""
    calendar_data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The event's title, description and attendees (``[{name, email}]``)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_meetings_room_active", "room_id", "is_active"),
        UniqueConstraint("platform", "platform_meeting_id"),
        UniqueConstraint("room_id", "calendar_event_id"),
    )


class MeetingParticipantRow(Base):
    """Someone who joined a meeting, as the platform reported it; names the tracks."""

    __tablename__ = "meeting_participants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    meeting_id: Mapped[str] = meeting_ref()
    participant_id: Mapped[str] = mapped_column(String(200))
    """The platform's id for this presence (Daily's session id, Whereby's participant id)."""
    user_id: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    left_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("meeting_id", "participant_id"),)


class MeetingConsentRow(Base):
    """One participant's answer to "may this meeting's audio be kept?"."""

    __tablename__ = "meeting_consents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    meeting_id: Mapped[str] = meeting_ref()
    participant_key: Mapped[str] = mapped_column(String(200))
    """Who answered: ``user:<id>`` for a signed-in user, else a random id kept by the
    browser."""
    user_id: Mapped[str | None] = mapped_column(String(64))
    consent_given: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("meeting_id", "participant_key"),)


class RecordingRow(Base):
    """A recording a platform made, processed exactly once into a transcript."""

    __tablename__ = "recordings"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    platform: Mapped[str] = mapped_column(String(16))
    platform_recording_id: Mapped[str] = mapped_column(String(300))
    """Daily's recording id; for Whereby, the S3 object key."""
    meeting_id: Mapped[str | None] = mapped_column(
        ForeignKey("meetings.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16), default="file")
    """``tracks`` (one audio file per participant) or ``file`` (one mixed file)."""
    bucket: Mapped[str | None] = mapped_column(String(300))
    keys: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """The recording's files in the platform's bucket: ``[{key, size, participant_id}]``."""
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """``pending``, ``processing``, ``done``, ``error`` or ``ignored``."""
    transcript_id: Mapped[str | None] = mapped_column(
        ForeignKey("transcripts.id", ondelete="SET NULL"), index=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("platform", "platform_recording_id"),
        Index("ix_recordings_status", "status"),
    )


class EmailRequestRow(Base):
    """Someone asked for a meeting's summary by email."""

    __tablename__ = "email_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    meeting_id: Mapped[str | None] = meeting_ref()
    transcript_id: Mapped[str | None] = transcript_ref()
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)


class NotificationRow(Base):
    """A message about a transcript waiting to be sent in the background (a Zulip post, the
    summary emails), one per transcript and kind, with its tries and the last error in words."""

    __tablename__ = "notifications"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    transcript_id: Mapped[str] = transcript_ref()
    kind: Mapped[str] = mapped_column(String(16))
    """``zulip`` or ``email``."""
    target: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Where it goes: ``{stream, topic}`` for Zulip."""
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """``pending`` (waiting for its next try), ``sent`` or ``failed`` (given up)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    """When it may be tried next; a sender that takes it moves this past its own try, so a
    sender that died leaves it to another."""
    error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("transcript_id", "kind"),
        Index("ix_notifications_due", "status", "next_attempt_at"),
    )


class WebhookRow(Base):
    """Where a user (or a room) wants to be told about transcripts and meetings over HTTP.

    A room's webhook is the room's ``webhook_url``/``webhook_secret`` mirrored here (one row per
    room), so it has the same delivery log, failure tracking and notices as a user's."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    room_id: Mapped[str | None] = mapped_column(
        ForeignKey("rooms.id", ondelete="CASCADE"), unique=True
    )
    """Set: the room's webhook (its transcripts and meetings only); ``None``: everything of
    the user's."""
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))
    """Signs every delivery (HMAC-SHA256); kept as is, since signing needs it."""
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(String(200), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    failing_since: Mapped[datetime | None]
    """The first failed try since the last delivered one: disabled when it gets too old."""
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    """The notice shown to the owner when the endpoint was disabled automatically."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebhookEventRow(Base):
    """Something that happened, to be delivered to every subscribed endpoint; its payload is
    written at its first delivery and then sent unchanged on every retry."""

    __tablename__ = "webhook_events"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    type: Mapped[str] = mapped_column(String(40))
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    """The same happening reported twice (a resumed job finishing again) is queued once."""
    transcript_id: Mapped[str | None] = transcript_ref()
    meeting_id: Mapped[str | None] = meeting_ref()
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDeliveryRow(Base):
    """One event for one endpoint: its tries, and how the last one went."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_events.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """``pending`` (waiting for its next try), ``sending``, ``delivered`` or ``failed``."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    lease_expires: Mapped[datetime | None]
    """While ``sending``: a sender that died leaves the delivery to another after this."""
    last_attempt_at: Mapped[datetime | None]
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_preview: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook_created", "webhook_id", "created_at"),
    )

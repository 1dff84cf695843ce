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


# SQLite keeps 64-bit integers in an INTEGER PRIMARY KEY only under that exact type name.
AutoId = BigInteger().with_variant(Integer(), "sqlite")


def transcript_ref() -> Mapped[str]:
    """The ``transcript_id`` column of a table that hangs off a transcript: indexed, and its
    rows go when the transcript does."""
    return mapped_column(ForeignKey("transcripts.id", ondelete="CASCADE"), index=True)


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
        # With the id, the index yields pages in list order (newest first, ties by id).
        Index("ix_transcripts_user_created_id", "user_id", "created_at", "id"),
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

"""Reading and writing transcripts and everything that hangs off them, scoped to their owner.

Every query that takes a ``user_id`` only sees that user's rows (and the ones shared with them
where said, by the rule of :mod:`reflector.db.sharing`), so a guessed id of someone else's
transcript behaves exactly like an id that does not exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import delete, func, select, text, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

# Users and keys live in ``db.accounts``; callers reach these through here too.
from reflector.db.accounts import (
    API_KEY_PREFIX,
    LOCAL_USER_ID,
    create_api_key,
    ensure_user,
    list_api_keys,
    revoke_api_key,
)
from reflector.db.sharing import SHARED_WITH_SQL, Scope, access_to, listed_parts, shared_sql_params
from reflector.db.tables import (
    ActionItemRow,
    EventRow,
    JobRow,
    ParticipantRow,
    SegmentRow,
    TopicRow,
    TranscriptRow,
    UploadRow,
    utcnow,
)
from reflector.domain import MeetingSummary, Segment, Transcript
from reflector.domain.events import TranscriptEvent, transcript_event
from reflector.domain.status import TranscriptStatus, check_transition
from reflector.domain.summary import ActionItems, Decision, NextStep, Participant, Topic
from reflector.errors import NotFoundError


class NotFound(NotFoundError):
    """No such object for this user (or it was deleted); the message names it for people."""

    def __init__(self, identifier: str, what: str = "transcript") -> None:
        super().__init__(f"{what} {identifier!r} does not exist")
        self.identifier = identifier


# --- transcripts -------------------------------------------------------------------------------


async def get_transcript(
    session: AsyncSession,
    transcript_id: str,
    user_id: str | None,
    *,
    deleted: bool = False,
    for_update: bool = False,
) -> TranscriptRow:
    """The transcript if ``user_id`` owns it (``None``: any owner, for workers)."""
    query = select(TranscriptRow).where(TranscriptRow.id == transcript_id)
    if for_update:
        query = query.with_for_update()
    row = await session.scalar(query)
    if row is None or (user_id is not None and row.user_id != user_id):
        raise NotFound(transcript_id)
    if (row.deleted_at is not None) != deleted:
        raise NotFound(transcript_id)
    return row


async def get_readable_transcript(
    session: AsyncSession, transcript_id: str, user_id: str | None
) -> TranscriptRow:
    """The transcript if ``user_id`` (``None``: not signed in) may read it: their own, or one
    shared with them (:func:`reflector.db.sharing.access_to`)."""
    row = await session.get(TranscriptRow, transcript_id)
    if row is None or row.deleted_at is not None:
        raise NotFound(transcript_id)
    if await access_to(session, row, user_id) is None:
        raise NotFound(transcript_id)
    return row


@dataclass(frozen=True)
class TranscriptFilter:
    status: TranscriptStatus | None = None
    source: str | None = None
    room_id: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    deleted: bool = False
    """The trash (only ever the user's own transcripts)."""
    scope: Scope = "all"
    """The user's own transcripts, those shared with them, or both."""


SortKey = Literal["created_at", "-created_at", "duration", "-duration", "title", "-title"]


async def list_transcripts(
    session: AsyncSession,
    user_id: str,
    where: TranscriptFilter,
    sort: SortKey = "-created_at",
    offset: int = 0,
    limit: int = 50,
) -> tuple[Sequence[TranscriptRow], int]:
    conditions: list[Any] = [
        TranscriptRow.deleted_at.is_not(None)
        if where.deleted
        else TranscriptRow.deleted_at.is_(None)
    ]
    if where.status:
        conditions.append(TranscriptRow.status == where.status)
    if where.source:
        conditions.append(TranscriptRow.source == where.source)
    if where.room_id:
        conditions.append(TranscriptRow.room_id == where.room_id)
    if where.created_after:
        conditions.append(TranscriptRow.created_at >= where.created_after)
    if where.created_before:
        conditions.append(TranscriptRow.created_at < where.created_before)
    # Own, shared through a room, opened through a link: one index-friendly query each.
    parts = listed_parts(user_id, "mine" if where.deleted else where.scope)
    column = getattr(TranscriptRow, sort.lstrip("-"))

    def ordered(key: Any, id_: Any) -> tuple[Any, Any]:
        # The id breaks ties, so pages never repeat or skip rows with equal sort values.
        return (key.desc(), id_.desc()) if sort.startswith("-") else (key.asc(), id_.asc())

    counted = [select(TranscriptRow.id).where(*conditions, part) for part in parts]
    total = await session.scalar(
        select(func.count()).select_from(union_all(*counted).subquery())
        if len(counted) > 1
        else select(func.count()).select_from(counted[0].subquery())
    )
    page: Any
    if len(parts) == 1:
        page = select(TranscriptRow.id).where(*conditions, parts[0])
        page = page.order_by(*ordered(column, TranscriptRow.id)).offset(offset).limit(limit)
    else:
        # The page lies within the first ``offset + limit`` rows of each part, which an index
        # yields in order for the default sort; merging them sorts at most that many rows.
        tops = [
            select(TranscriptRow.id, column.label("key"))
            .where(*conditions, part)
            .order_by(*ordered(column, TranscriptRow.id))
            .limit(offset + limit)
            .subquery()
            for part in parts
        ]
        merged = union_all(*(select(top.c.id, top.c.key) for top in tops)).subquery()
        page = (
            select(merged.c.id)
            .order_by(*ordered(merged.c.key, merged.c.id))
            .offset(offset)
            .limit(limit)
        )
    rows = await session.scalars(
        select(TranscriptRow)
        .where(TranscriptRow.id.in_(page))
        .order_by(*ordered(column, TranscriptRow.id))
        # A list shows no transcript text or waveform: not reading them makes pages 5x cheaper.
        .options(defer(TranscriptRow.text), defer(TranscriptRow.waveform))
    )
    return rows.all(), int(total or 0)


async def destroy_transcript(session: AsyncSession, row: TranscriptRow) -> list[str]:
    """Delete the transcript and every row that hangs off it (not committed); returns the ids
    of its uploads, whose staged bytes the caller removes.

    Its jobs go first, explicitly: a running job's transactions lock the job's row before the
    transcript's (see ``jobs.fencing``), so taking them in the same order cannot deadlock.
    """
    uploads = await session.scalars(select(UploadRow.id).where(UploadRow.transcript_id == row.id))
    upload_ids = list(uploads)
    await session.execute(delete(JobRow).where(JobRow.transcript_id == row.id))
    await session.execute(delete(TranscriptRow).where(TranscriptRow.id == row.id))
    return upload_ids


async def move_status(
    session: AsyncSession,
    transcript_id: str,
    expected: TranscriptStatus,
    target: TranscriptStatus,
    **values: Any,
) -> bool:
    """Move the transcript from ``expected`` to ``target`` (and set the other columns in
    ``values``) only if it is still ``expected``: one conditional UPDATE, not committed, not
    announced. Whether it moved. Raises
    :class:`~reflector.domain.status.IllegalTransition` for a move the lifecycle forbids.

    For a status that works as a lock; announced changes go through
    ``reflector.pipelines.lifecycle``."""
    expected = TranscriptStatus(expected)
    target = check_transition(expected, target)
    result = await session.execute(
        update(TranscriptRow)
        .where(TranscriptRow.id == transcript_id, TranscriptRow.status == expected.value)
        .values(status=target.value, **values)
    )
    return result.rowcount == 1


async def claim_for_recording(session: AsyncSession, transcript_id: str) -> bool:
    """An idle transcript becomes a live recording; ``False`` when it is not idle (another
    stream or a job has it). One statement, so two streams cannot both claim it."""
    return await move_status(
        session, transcript_id, TranscriptStatus.IDLE, TranscriptStatus.RECORDING, source="live"
    )


async def live_recordings(session: AsyncSession, user_id: str) -> int:
    """How many of the user's transcripts are being recorded live right now."""
    count = await session.scalar(
        select(func.count())
        .select_from(TranscriptRow)
        .where(
            TranscriptRow.user_id == user_id,
            TranscriptRow.status == TranscriptStatus.RECORDING.value,
        )
    )
    return int(count or 0)


async def release_recording(session: AsyncSession, transcript_id: str) -> None:
    """A recording transcript whose stream kept no audio goes back to idle."""
    await move_status(session, transcript_id, TranscriptStatus.RECORDING, TranscriptStatus.IDLE)


async def touch_recording(session: AsyncSession, transcript_id: str) -> bool:
    """A live stream's heartbeat: its transcript's ``updated_at`` is now (not committed).
    ``False`` when the transcript is no longer ``recording``."""
    result = await session.execute(
        update(TranscriptRow)
        .where(
            TranscriptRow.id == transcript_id,
            TranscriptRow.status == TranscriptStatus.RECORDING.value,
        )
        .values(updated_at=utcnow())
    )
    return result.rowcount == 1


async def stale_recordings(session: AsyncSession, before: datetime) -> list[tuple[str, datetime]]:
    """Transcripts ``recording`` whose stream last gave a sign of life before ``before``: their
    ids, with that moment (for :func:`take_stale_recording`)."""
    rows = await session.execute(
        select(TranscriptRow.id, TranscriptRow.updated_at).where(
            TranscriptRow.status == TranscriptStatus.RECORDING.value,
            TranscriptRow.updated_at < before,
        )
    )
    return [(id_, updated_at) for id_, updated_at in rows]


async def take_stale_recording(session: AsyncSession, transcript_id: str, seen: datetime) -> bool:
    """Take over a recording whose last sign of life was ``seen``, unless it gave one since or
    someone took it (the take is a sign of life): one conditional statement, so two servers
    never both take it. Not committed."""
    result = await session.execute(
        update(TranscriptRow)
        .where(
            TranscriptRow.id == transcript_id,
            TranscriptRow.status == TranscriptStatus.RECORDING.value,
            TranscriptRow.updated_at <= seen,
        )
        .values(updated_at=utcnow())
    )
    return result.rowcount == 1


# --- results -----------------------------------------------------------------------------------


async def replace_segments(
    session: AsyncSession, transcript_id: str, segments: Sequence[Segment]
) -> None:
    """Store the transcript's segments (replacing earlier ones: a stage may run again)."""
    await session.execute(delete(SegmentRow).where(SegmentRow.transcript_id == transcript_id))
    session.add_all(
        SegmentRow(
            transcript_id=transcript_id,
            position=index,
            speaker=segment.speaker,
            start=segment.start,
            end=segment.end,
            text=segment.text,
            confidence=segment.confidence,
            words=[w.model_dump(mode="json") for w in segment.words],
        )
        for index, segment in enumerate(segments)
    )
    row = await session.get(TranscriptRow, transcript_id)
    if row is not None:
        row.text = " ".join(s.text.strip() for s in segments if s.text.strip())


async def load_segments(session: AsyncSession, transcript_id: str) -> list[Segment]:
    rows = await session.scalars(
        select(SegmentRow)
        .where(SegmentRow.transcript_id == transcript_id)
        .order_by(SegmentRow.position)
    )
    # The row's columns are the segment's fields (its words stored as their JSON).
    return [Segment.model_validate(r, from_attributes=True) for r in rows]


async def segment_rows(session: AsyncSession, transcript_id: str) -> Sequence[Any]:
    """The stored segments in order as plain rows (``speaker``, ``start``, ``end``, ``text``,
    ``confidence``, ``words`` as stored), for answers built without a model per word: a long
    meeting has tens of thousands of words, and validating each costs far more than reading
    them."""
    result = await session.execute(
        select(
            SegmentRow.speaker,
            SegmentRow.start,
            SegmentRow.end,
            SegmentRow.text,
            SegmentRow.confidence,
            SegmentRow.words,
        )
        .where(SegmentRow.transcript_id == transcript_id)
        .order_by(SegmentRow.position)
    )
    return result.all()


async def replace_summary(
    session: AsyncSession, transcript_id: str, summary: MeetingSummary
) -> None:
    """Title, summaries, topics, action items and detected participants (people's edits stay)."""
    row = await session.get(TranscriptRow, transcript_id)
    if row is None:
        raise NotFound(transcript_id)
    row.title = summary.title
    row.short_summary = summary.short_summary
    row.long_summary = summary.long_summary
    row.summary_backend = summary.backend
    for table in (TopicRow, ActionItemRow):
        await session.execute(delete(table).where(table.transcript_id == transcript_id))
    await session.execute(
        delete(ParticipantRow).where(
            ParticipantRow.transcript_id == transcript_id, ParticipantRow.source == "detected"
        )
    )
    session.add_all(
        TopicRow(transcript_id=transcript_id, position=i, **topic.model_dump())
        for i, topic in enumerate(summary.topics)
    )
    items = summary.action_items
    session.add_all(
        _action_row(transcript_id, kind, i, item)
        for kind, group in (("decision", items.decisions), ("next_step", items.next_steps))
        for i, item in enumerate(group)
    )
    taken = {p.speaker for p in await load_participants(session, transcript_id)}
    session.add_all(
        ParticipantRow(
            transcript_id=transcript_id,
            speaker=p.speaker,
            name=p.name,
            confidence=p.confidence,
            source="detected",
            evidence=p.evidence,
        )
        for p in summary.participants
        if p.name and p.speaker not in taken and p.speaker in summary.speaker_names
    )


# Decisions and next steps share one table; these columns hold fields of another name.
_ACTION_COLUMNS: dict[str, dict[str, str]] = {
    "decision": {"decided_by": "person"},
    "next_step": {"task": "text", "owner": "person"},
}
_Item = TypeVar("_Item", Decision, NextStep)


def _action_row(
    transcript_id: str, kind: str, position: int, item: Decision | NextStep
) -> ActionItemRow:
    renames = _ACTION_COLUMNS[kind]
    columns = {renames.get(name, name): value for name, value in item.model_dump().items()}
    return ActionItemRow(transcript_id=transcript_id, kind=kind, position=position, **columns)


def _action_item(row: ActionItemRow, model: type[_Item]) -> _Item:
    renames = _ACTION_COLUMNS[row.kind]
    return model(**{name: getattr(row, renames.get(name, name)) for name in model.model_fields})


async def load_topics(session: AsyncSession, transcript_id: str) -> list[TopicRow]:
    rows = await session.scalars(
        select(TopicRow).where(TopicRow.transcript_id == transcript_id).order_by(TopicRow.position)
    )
    return list(rows)


async def load_action_items(session: AsyncSession, transcript_id: str) -> list[ActionItemRow]:
    rows = await session.scalars(
        select(ActionItemRow)
        .where(ActionItemRow.transcript_id == transcript_id)
        .order_by(ActionItemRow.kind, ActionItemRow.position)
    )
    return list(rows)


async def load_participants(session: AsyncSession, transcript_id: str) -> list[ParticipantRow]:
    rows = await session.scalars(
        select(ParticipantRow)
        .where(ParticipantRow.transcript_id == transcript_id)
        .order_by(ParticipantRow.speaker.is_(None), ParticipantRow.speaker, ParticipantRow.name)
    )
    return list(rows)


async def to_domain(session: AsyncSession, row: TranscriptRow) -> Transcript:
    """The stored transcript as the domain model every exporter reads."""
    segments = await load_segments(session, row.id)
    participants = await load_participants(session, row.id)
    names = {p.speaker: p.name for p in participants if p.speaker is not None}
    summary = None
    if row.title is not None:
        topics = await load_topics(session, row.id)
        items = await load_action_items(session, row.id)
        summary = MeetingSummary(
            title=row.title,
            short_summary=row.short_summary or "",
            long_summary=row.long_summary or "",
            topics=[Topic.model_validate(t, from_attributes=True) for t in topics],
            action_items=ActionItems(
                decisions=[_action_item(i, Decision) for i in items if i.kind == "decision"],
                next_steps=[_action_item(i, NextStep) for i in items if i.kind == "next_step"],
            ),
            participants=[
                Participant(
                    speaker=p.speaker,
                    name=p.name,
                    confidence=p.confidence,
                    evidence=p.evidence,
                    source="override" if p.source == "user" else "detected",
                )
                for p in participants
                if p.speaker is not None
            ],
            speaker_names=names,
            language=row.target_language or row.source_language or "en",
            backend=row.summary_backend or "extractive",
        )
    return Transcript(
        language=row.source_language,
        duration=row.duration,
        segments=segments,
        speaker_names=names,
        notes=list(row.notes or []),
        summary=summary,
    )


# --- events ------------------------------------------------------------------------------------


async def add_event(session: AsyncSession, transcript_id: str, event: TranscriptEvent) -> EventRow:
    """Store ``event`` (its ``type`` and ``data`` as they go on the wire); the row's ``id`` is
    the event's position among the transcript's events."""
    data = event.model_dump(mode="json")["data"]
    row = EventRow(transcript_id=transcript_id, type=event.type, data=data)
    session.add(row)
    await session.flush()
    return row


async def stored_events(
    session: AsyncSession, transcript_id: str, after_id: int = 0
) -> list[TranscriptEvent]:
    """The transcript's stored events after ``after_id``, in order, as typed events."""
    rows = await session.scalars(
        select(EventRow)
        .where(EventRow.transcript_id == transcript_id, EventRow.id > after_id)
        .order_by(EventRow.id)
    )
    return [transcript_event(row.type, row.data, row.id) for row in rows]


# --- search ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchHit:
    transcript_id: str
    title: str | None
    rank: float
    snippet: str
    """Matched words wrapped in ``<mark>…</mark>``; the rest is escaped text."""
    shared: bool = False
    """Another user's transcript, shared with the searcher."""


async def search_transcripts(
    session: AsyncSession, user_id: str, query: str, offset: int = 0, limit: int = 20
) -> tuple[list[SearchHit], int]:
    """Ranked full-text search over title, name, summaries and transcript text, in the
    user's transcripts and those shared with them."""
    words = _search_words(query)
    if not words:
        return [], 0
    if session.bind.dialect.name == "postgresql":
        return await _search_postgres(session, user_id, " ".join(words), offset, limit)
    return await _search_sqlite(session, user_id, words, offset, limit)


def _search_words(query: str) -> list[str]:
    # Only letters and digits reach the engines: user input can never be query syntax.
    cleaned = "".join(ch if ch.isalnum() else " " for ch in query)
    return cleaned.split()[:16]


_SEARCHED = f"(t.user_id = :user OR {SHARED_WITH_SQL})"
"""The transcripts a user searches: their own and those shared with them."""


async def _search_postgres(
    session: AsyncSession, user_id: str, words: str, offset: int, limit: int
) -> tuple[list[SearchHit], int]:
    where = (
        f"{_SEARCHED} AND t.deleted_at IS NULL AND "
        "t.search_vector @@ plainto_tsquery('english', :q)"
    )
    return await _ranked_page(
        session,
        f"FROM transcripts t WHERE {where}",
        rank="ts_rank(t.search_vector, plainto_tsquery('english', :q))",
        snippet=(
            "ts_headline('english', coalesce(t.text, '') || ' ' || coalesce(t.short_summary, ''),"
            " plainto_tsquery('english', :q), 'StartSel=<mark>, StopSel=</mark>, MaxWords=30,"
            " MinWords=10, MaxFragments=2')"
        ),
        params={**shared_sql_params(user_id), "q": words},
        offset=offset,
        limit=limit,
    )


async def _search_sqlite(
    session: AsyncSession, user_id: str, words: list[str], offset: int, limit: int
) -> tuple[list[SearchHit], int]:
    match = " ".join(f'"{w}"' for w in words)  # all words, each quoted as a plain token
    where = f"transcripts_fts MATCH :q AND {_SEARCHED} AND t.deleted_at IS NULL"
    return await _ranked_page(
        session,
        f"FROM transcripts_fts f JOIN transcripts t ON t.rowid = f.rowid WHERE {where}",
        # bm25 weights: title 5, summaries 2, text 1; lower bm25 is better, so it is negated.
        rank="-bm25(transcripts_fts, 5.0, 2.0, 1.0)",
        snippet="snippet(transcripts_fts, -1, '<mark>', '</mark>', '…', 24)",
        params={**shared_sql_params(user_id), "q": match},
        offset=offset,
        limit=limit,
    )


async def _ranked_page(
    session: AsyncSession,
    source: str,
    *,
    rank: str,
    snippet: str,
    params: dict[str, object],
    offset: int,
    limit: int,
) -> tuple[list[SearchHit], int]:
    """The matches' count and one page of them, highest ``rank`` first, then the newest.

    ``source`` is the ``FROM … WHERE …`` clause; ``rank`` and ``snippet`` are SQL expressions
    over it (fixed text: the user's words only ever travel as ``params``)."""
    total = await session.scalar(text(f"SELECT count(*) {source}"), params)
    result = await session.execute(
        text(
            f"SELECT t.id, t.title, t.user_id <> :user AS shared, {rank} AS r, {snippet} AS s"
            f" {source}"
            " ORDER BY r DESC, t.created_at DESC LIMIT :limit OFFSET :offset"
        ),
        {**params, "offset": offset, "limit": limit},
    )
    hits = [SearchHit(r.id, r.title, float(r.r), r.s, bool(r.shared)) for r in result]
    return hits, int(total or 0)


__all__ = [
    "API_KEY_PREFIX",
    "LOCAL_USER_ID",
    "NotFound",
    "SearchHit",
    "TranscriptFilter",
    "add_event",
    "create_api_key",
    "destroy_transcript",
    "ensure_user",
    "get_readable_transcript",
    "get_transcript",
    "list_api_keys",
    "list_transcripts",
    "load_action_items",
    "load_participants",
    "load_segments",
    "load_topics",
    "move_status",
    "replace_segments",
    "replace_summary",
    "revoke_api_key",
    "search_transcripts",
    "segment_rows",
    "stored_events",
    "to_domain",
]

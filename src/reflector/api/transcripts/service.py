"""What the transcript routes do, apart from HTTP: rows changed and committed, events published,
rows turned into response bodies."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable, Sequence
from typing import Any

import pydantic_core
from sqlalchemy.ext.asyncio import AsyncSession

from reflector.api.auth import CurrentUser
from reflector.api.deps import ensure_unlocked, owned_transcript, transcript_child
from reflector.api.problems import Problem
from reflector.api.schemas import from_row
from reflector.api.state import AppState
from reflector.api.transcripts.schemas import (
    ActionItemOut,
    ParticipantOut,
    SearchHitOut,
    SegmentOut,
    SpeakerAssign,
    TranscriptCreate,
    TranscriptOut,
)
from reflector.blobs.staging import UploadStaging
from reflector.db import repository
from reflector.db.tables import ActionItemRow, ParticipantRow, TranscriptRow, utcnow
from reflector.domain import Segment, Word, assign_span, build_segments, relabel_turns
from reflector.domain.events import (
    CreatedData,
    LabelledSegmentsData,
    LongSummaryData,
    LongSummaryEvent,
    ParticipantEntriesData,
    ParticipantsEvent,
    SegmentsEvent,
    ShortSummaryData,
    ShortSummaryEvent,
    TitleData,
    TitleEvent,
    TranscriptCreatedEvent,
    TranscriptDeletedEvent,
    TranscriptEvent,
)
from reflector.pipelines.publish import publish_user_event, record_and_publish
from reflector.pipelines.speaker_turns import change_turns

_NOT_NULL = {"name", "share_mode", "locked", "reviewed"}
_FINAL_EVENTS: dict[str, Callable[[str | None], TranscriptEvent]] = {
    "title": lambda value: TitleEvent(data=TitleData(title=value)),
    "short_summary": lambda value: ShortSummaryEvent(data=ShortSummaryData(short_summary=value)),
    "long_summary": lambda value: LongSummaryEvent(data=LongSummaryData(long_summary=value)),
}
"""Fields a person may write over, and the event that tells listeners of the new value."""


# --- rows as responses -------------------------------------------------------------------------


def transcript_out(row: TranscriptRow, *, shared: bool = False) -> TranscriptOut:
    """``shared``: the caller reads it because it is shared with them (not their own)."""
    return from_row(
        TranscriptOut,
        row,
        has_audio=row.audio_key is not None,
        notes=list(row.notes or []),
        shared_with_me=shared,
    )


def participant_out(row: ParticipantRow) -> ParticipantOut:
    return from_row(ParticipantOut, row, evidence=list(row.evidence or []))


def action_item_out(row: ActionItemRow) -> ActionItemOut:
    return from_row(ActionItemOut, row)


def segments_out(segments: list[Segment], names: dict[int, str]) -> list[SegmentOut]:
    return [
        from_row(
            SegmentOut,
            segment,
            index=index,
            speaker_name=names.get(segment.speaker) if segment.speaker is not None else None,
        )
        for index, segment in enumerate(segments)
    ]


def _word_json(word: dict[str, Any]) -> dict[str, Any]:
    # A stored word as ``Word`` writes it: its fields in order, floats as floats, defaults
    # for the fields a word stored without them lacks.
    return {
        "start": float(word["start"]),
        "end": float(word["end"]),
        "text": word["text"],
        "probability": float(word.get("probability", 1.0)),
        "speaker": word.get("speaker"),
    }


async def segments_json(session: AsyncSession, transcript_id: str) -> bytes:
    """The transcript's segments as the JSON of ``list[SegmentOut]``, byte for byte, built
    from the stored rows without a model per word (the rows were validated when written)."""
    names = await speaker_names(session, transcript_id)
    rows = await repository.segment_rows(session, transcript_id)
    # Tens of milliseconds for a long meeting: in a thread, so the server goes on answering
    # meanwhile (the page's own script, loading beside it, first of all).
    return await asyncio.to_thread(_segments_bytes, rows, names)


def _segments_bytes(rows: Sequence[Any], names: dict[int, str]) -> bytes:
    return pydantic_core.to_json(
        [
            {
                "index": index,
                "speaker": row.speaker,
                "speaker_name": names.get(row.speaker) if row.speaker is not None else None,
                "start": float(row.start),
                "end": float(row.end),
                "text": row.text,
                "confidence": float(row.confidence),
                "words": [_word_json(word) for word in row.words or ()],
            }
            for index, row in enumerate(rows)
        ]
    )


def safe_snippet(snippet: str) -> str:
    """Escape everything, then restore only our own ``<mark>`` tags."""
    escaped = html.escape(snippet or "", quote=False)
    return escaped.replace("&lt;mark&gt;", "<mark>").replace("&lt;/mark&gt;", "</mark>")


def search_hit_out(hit: repository.SearchHit) -> SearchHitOut:
    return SearchHitOut(
        id=hit.transcript_id,
        title=hit.title,
        rank=hit.rank,
        snippet=safe_snippet(hit.snippet),
        shared_with_me=hit.shared,
    )


# --- transcripts -------------------------------------------------------------------------------


async def editable_transcript(
    session: AsyncSession, transcript_id: str, user: CurrentUser
) -> TranscriptRow:
    """The user's own transcript, if it is not locked against changes (else 404 or 423)."""
    row = await owned_transcript(session, transcript_id, user)
    ensure_unlocked(row)
    return row


async def create_transcript(
    state: AppState, session: AsyncSession, user_id: str, body: TranscriptCreate
) -> TranscriptRow:
    await repository.ensure_user(session, user_id)
    row = TranscriptRow(user_id=user_id, **body.model_dump())
    session.add(row)
    await session.commit()
    created = TranscriptCreatedEvent(transcript_id=row.id, data=CreatedData(name=row.name))
    await publish_user_event(state.bus, user_id, created)
    return row


async def change_transcript(
    state: AppState, session: AsyncSession, row: TranscriptRow, changes: dict[str, Any]
) -> None:
    """Write ``changes`` (only ``locked`` while the transcript is locked); a person's title or
    summary is published like the pipeline's."""
    if row.locked and set(changes) - {"locked"}:
        ensure_unlocked(row)
    for field, value in changes.items():
        if value is None and field in _NOT_NULL:
            raise Problem(422, "validation-error", f"{field} cannot be null")
        setattr(row, field, value)
    await session.commit()
    for field, event in _FINAL_EVENTS.items():
        if field in changes:
            await record_and_publish(session, state.bus, row.id, event(changes[field]))


async def delete_transcript(
    state: AppState, session: AsyncSession, transcript_id: str, user: CurrentUser, permanent: bool
) -> None:
    """To the trash (restorable); with ``permanent``, destroyed with its audio."""
    if permanent:
        try:
            row = await owned_transcript(session, transcript_id, user)  # 403 for readers
        except repository.NotFound:
            row = await owned_transcript(session, transcript_id, user, deleted=True)
        uploads = await repository.destroy_transcript(session, row)
        await session.commit()
        state.live.transcript_deleted(transcript_id)  # its live stream here, if any, ends
        # A job still running for it stops at its next write and removes what it wrote since.
        await state.blobs.delete_prefix(f"transcripts/{transcript_id}/")
        staged = UploadStaging.in_data_dir(state.settings.data_dir)
        for upload_id in uploads:
            await asyncio.to_thread(staged.remove, upload_id)
    else:
        row = await owned_transcript(session, transcript_id, user)
        ensure_unlocked(row)
        row.deleted_at = utcnow()
        await session.commit()
    await publish_user_event(
        state.bus, user.id, TranscriptDeletedEvent(transcript_id=transcript_id)
    )


async def restore_transcript(session: AsyncSession, row: TranscriptRow) -> None:
    row.deleted_at = None
    await session.commit()


# --- results -----------------------------------------------------------------------------------


async def speaker_names(session: AsyncSession, transcript_id: str) -> dict[int, str]:
    participants = await repository.load_participants(session, transcript_id)
    return {p.speaker: p.name for p in participants if p.speaker is not None}


async def topics_json(session: AsyncSession, transcript_id: str) -> bytes:
    """The transcript's topics as the JSON of ``list[TopicOut]``, byte for byte, each with
    the words of the segments it covers (all of them, and by speaker), built from the stored
    rows like :func:`segments_json`."""
    found = await repository.load_topics(session, transcript_id)
    if not found:
        # A long meeting's segments take a while to read: not for an empty answer.
        return b"[]"
    rows = await repository.segment_rows(session, transcript_id)
    words_of = [[_word_json(word) for word in row.words or ()] for row in rows]
    result = []
    for topic in found:
        covered = list(range(topic.first_segment, min(topic.last_segment + 1, len(rows))))
        words = [word for i in covered for word in words_of[i]]
        per_speaker: dict[str, list[dict[str, Any]]] = {}
        for word in words:
            per_speaker.setdefault(str(word["speaker"]), []).append(word)
        result.append(
            {
                "id": topic.id,
                "title": topic.title,
                "summary": topic.summary,
                "start": float(topic.start),
                "duration": float(topic.duration),
                "segments": covered,
                "words": words,
                "words_per_speaker": per_speaker,
            }
        )
    return pydantic_core.to_json(result)


async def participants(session: AsyncSession, transcript_id: str) -> list[ParticipantOut]:
    return [participant_out(p) for p in await repository.load_participants(session, transcript_id)]


async def action_items(session: AsyncSession, transcript_id: str) -> list[ActionItemOut]:
    return [action_item_out(i) for i in await repository.load_action_items(session, transcript_id)]


# --- participants ------------------------------------------------------------------------------


async def participant(
    session: AsyncSession, transcript_id: str, participant_id: str
) -> ParticipantRow:
    return await transcript_child(
        session, ParticipantRow, participant_id, transcript_id, "participant"
    )


async def _speaker_free(
    session: AsyncSession, transcript_id: str, speaker: int | None, keep: str | None = None
) -> None:
    """A speaker number has one name: a person's name replaces a detected one."""
    if speaker is None:
        return
    for other in await repository.load_participants(session, transcript_id):
        if other.speaker == speaker and other.id != keep:
            if other.source == "detected":
                await session.delete(other)
            else:
                raise Problem(
                    409,
                    "speaker-taken",
                    f"speaker {speaker} is already {other.name!r} (participant {other.id})",
                )


async def _participants_changed(state: AppState, session: AsyncSession, transcript_id: str) -> None:
    data = ParticipantEntriesData(participants=await participants(session, transcript_id))
    await record_and_publish(session, state.bus, transcript_id, ParticipantsEvent(data=data))


async def add_participant(
    state: AppState, session: AsyncSession, transcript_id: str, name: str, speaker: int | None
) -> ParticipantRow:
    await _speaker_free(session, transcript_id, speaker)
    row = ParticipantRow(transcript_id=transcript_id, speaker=speaker, name=name, source="user")
    session.add(row)
    await session.commit()
    await _participants_changed(state, session, transcript_id)
    return row


async def change_participant(
    state: AppState,
    session: AsyncSession,
    transcript_id: str,
    participant_id: str,
    changes: dict[str, Any],
) -> ParticipantRow:
    row = await participant(session, transcript_id, participant_id)
    if "speaker" in changes:
        await _speaker_free(session, transcript_id, changes["speaker"], keep=row.id)
    for field, value in changes.items():
        if field == "name" and value is None:
            raise Problem(422, "validation-error", "name cannot be null")
        setattr(row, field, value)
    row.source = "user"  # a person confirmed or corrected it
    row.confidence = 1.0
    await session.commit()
    await _participants_changed(state, session, transcript_id)
    return row


async def remove_participant(
    state: AppState, session: AsyncSession, transcript_id: str, participant_id: str
) -> None:
    await session.delete(await participant(session, transcript_id, participant_id))
    await session.commit()
    await _participants_changed(state, session, transcript_id)


# --- speakers ----------------------------------------------------------------------------------


async def _relabel(
    state: AppState,
    session: AsyncSession,
    row: TranscriptRow,
    speaker: int | None,
    chosen: Callable[[Word], bool],
) -> list[SegmentOut]:
    """Give the ``chosen`` words to ``speaker``, rebuild the segments, store and publish them."""
    words = [
        w.model_copy(update={"speaker": speaker}) if chosen(w) else w
        for s in await repository.load_segments(session, row.id)
        for w in s.words
    ]
    rebuilt = build_segments(words)
    await repository.replace_segments(session, row.id, rebuilt)
    await session.commit()
    out = segments_out(rebuilt, await speaker_names(session, row.id))
    event = SegmentsEvent(data=LabelledSegmentsData(segments=out))
    await record_and_publish(session, state.bus, row.id, event)
    return out


async def assign_speaker(
    state: AppState, session: AsyncSession, row: TranscriptRow, body: SpeakerAssign
) -> list[SegmentOut]:
    """Words whose middle lies in ``[start, end]`` get the speaker (or the participant's, who
    gets a new number if they had none)."""
    if body.end <= body.start:
        raise Problem(422, "validation-error", "end must be after start")
    if (body.speaker is None) == (body.participant_id is None):
        raise Problem(422, "validation-error", "give exactly one of speaker or participant_id")
    speaker = body.speaker
    if body.participant_id is not None:
        person = await participant(session, row.id, body.participant_id)
        if person.speaker is None:
            used = {
                w.speaker for s in await repository.load_segments(session, row.id) for w in s.words
            }
            person.speaker = max((s for s in used if s is not None), default=-1) + 1
        speaker = person.speaker
    if speaker is not None:
        start, end, chosen = body.start, body.end, speaker
        await change_turns(state.blobs, row.id, lambda t: assign_span(t, start, end, chosen))
    return await _relabel(
        state, session, row, speaker, lambda w: body.start <= (w.start + w.end) / 2 <= body.end
    )


async def merge_speakers(
    state: AppState, session: AsyncSession, row: TranscriptRow, speakers: list[int], into: int
) -> list[SegmentOut]:
    merged = set(speakers) - {into}
    for person in await repository.load_participants(session, row.id):
        if person.speaker in merged:
            await session.delete(person)
    mapping = dict.fromkeys(merged, into)
    await change_turns(state.blobs, row.id, lambda t: relabel_turns(t, mapping))
    return await _relabel(state, session, row, into, lambda w: w.speaker in merged)


# --- action items ------------------------------------------------------------------------------


async def change_action_item(
    session: AsyncSession, transcript_id: str, item_id: str, changes: dict[str, Any]
) -> ActionItemRow:
    item = await transcript_child(session, ActionItemRow, item_id, transcript_id, "action item")
    for field, value in changes.items():
        if value is None and field in {"text", "done"}:
            raise Problem(422, "validation-error", f"{field} cannot be null")
        setattr(item, field, value)
    await session.commit()
    return item

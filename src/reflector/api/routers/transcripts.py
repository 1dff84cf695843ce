"""``/v1/transcripts``: create, list, read, change, delete and restore transcripts; results."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from reflector.api.deps import (
    Session,
    State,
    User,
    owned_transcript,
    readable_transcript,
    transcript_child,
)
from reflector.api.events import emit_transcript_event, emit_user_event
from reflector.api.problems import Problem
from reflector.api.schemas import (
    ActionItemOut,
    ActionItemPatch,
    Page,
    ParticipantIn,
    ParticipantOut,
    ParticipantPatch,
    SegmentOut,
    SpeakerAssign,
    SpeakerMerge,
    TopicOut,
    TranscriptCreate,
    TranscriptOut,
    TranscriptPatch,
)
from reflector.db import repository
from reflector.db.tables import ActionItemRow, ParticipantRow, TranscriptRow, utcnow
from reflector.domain import Segment, Word, build_segments

router = APIRouter(prefix="/v1/transcripts", tags=["transcripts"])

SORTS = ("created_at", "-created_at", "duration", "-duration", "title", "-title")


def transcript_out(row: TranscriptRow) -> TranscriptOut:
    return TranscriptOut(
        id=row.id,
        name=row.name,
        status=row.status,  # type: ignore[arg-type]
        source=row.source,  # type: ignore[arg-type]
        room_id=row.room_id,
        source_language=row.source_language,
        target_language=row.target_language,
        title=row.title,
        short_summary=row.short_summary,
        long_summary=row.long_summary,
        duration=row.duration,
        share_mode=row.share_mode,  # type: ignore[arg-type]
        locked=row.locked,
        reviewed=row.reviewed,
        has_audio=row.audio_key is not None,
        error=row.error,
        notes=list(row.notes or []),
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted_at=row.deleted_at,
    )


def _unlocked(row: TranscriptRow) -> None:
    if row.locked:
        raise Problem(423, "locked", "the transcript is locked; unlock it first (locked: false)")


@router.post("", status_code=201, response_model=TranscriptOut)
async def create_transcript(
    body: TranscriptCreate, session: Session, state: State, user: User
) -> TranscriptOut:
    await repository.ensure_user(session, user.id)
    row = TranscriptRow(
        user_id=user.id,
        name=body.name,
        source=body.source,
        source_language=body.source_language,
        target_language=body.target_language,
        room_id=body.room_id,
    )
    session.add(row)
    await session.commit()
    await emit_user_event(state, user.id, "TRANSCRIPT_CREATED", row.id, name=row.name)
    return transcript_out(row)


def _in_range(moment: datetime | None, name: str) -> datetime | None:
    """A time the databases can compare: in UTC it must still fall within years 1 to 9999."""
    if moment is not None and moment.tzinfo is not None:
        try:
            moment.astimezone(UTC)
        except OverflowError:
            raise Problem(422, "validation-error", f"{name} is out of range") from None
    return moment


@router.get("", response_model=Page[TranscriptOut])
async def list_transcripts(
    session: Session,
    user: User,
    status: Annotated[
        str | None, Query(pattern="^(idle|uploaded|recording|processing|ended|error)$")
    ] = None,
    source: Annotated[str | None, Query(pattern="^(file|live|room)$")] = None,
    room_id: Annotated[str | None, Query(max_length=64)] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    deleted: bool = False,
    sort: Annotated[str, Query(pattern="^-?(created_at|duration|title)$")] = "-created_at",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[TranscriptOut]:
    where = repository.TranscriptFilter(
        status=status,
        source=source,
        room_id=room_id,
        created_after=_in_range(created_after, "created_after"),
        created_before=_in_range(created_before, "created_before"),
        deleted=deleted,
    )
    rows, total = await repository.list_transcripts(
        session,
        user.id,
        where,
        sort,
        (page - 1) * size,
        size,  # type: ignore[arg-type]
    )
    return Page[TranscriptOut](
        items=[transcript_out(r) for r in rows],
        total=total,
        page=page,
        size=size,
        pages=max(1, math.ceil(total / size)),
    )


@router.get("/{transcript_id}", response_model=TranscriptOut)
async def get_transcript(transcript_id: str, session: Session, user: User) -> TranscriptOut:
    return transcript_out(await readable_transcript(session, transcript_id, user))


@router.patch("/{transcript_id}", response_model=TranscriptOut)
async def patch_transcript(
    transcript_id: str, body: TranscriptPatch, session: Session, state: State, user: User
) -> TranscriptOut:
    row = await owned_transcript(session, transcript_id, user)
    changes = body.model_dump(exclude_unset=True)
    if row.locked and set(changes) - {"locked"}:
        _unlocked(row)
    for field, value in changes.items():
        if value is None and field in {"name", "share_mode", "locked", "reviewed"}:
            raise Problem(422, "validation-error", f"{field} cannot be null")
        setattr(row, field, value)
    await session.commit()
    for field, event in (
        ("title", "FINAL_TITLE"),
        ("short_summary", "FINAL_SHORT_SUMMARY"),
        ("long_summary", "FINAL_LONG_SUMMARY"),
    ):
        if field in changes:
            await emit_transcript_event(state, session, row.id, event, {field: changes[field]})
    return transcript_out(row)


@router.delete("/{transcript_id}", status_code=204)
async def delete_transcript(
    transcript_id: str,
    session: Session,
    state: State,
    user: User,
    permanent: bool = False,
) -> Response:
    """Move to the trash (restorable), or with ``permanent=true`` destroy it and its audio."""
    if permanent:
        try:
            row = await repository.get_transcript(session, transcript_id, user.id)
        except repository.NotFound:
            row = await owned_transcript(session, transcript_id, user, deleted=True)
        await repository.destroy_transcript(session, row)
        await session.commit()
        await state.blobs.delete_prefix(f"transcripts/{transcript_id}/")
    else:
        row = await owned_transcript(session, transcript_id, user)
        _unlocked(row)
        row.deleted_at = utcnow()
        await session.commit()
    await emit_user_event(state, user.id, "TRANSCRIPT_DELETED", transcript_id)
    return Response(status_code=204)


@router.post("/{transcript_id}/restore", response_model=TranscriptOut)
async def restore_transcript(transcript_id: str, session: Session, user: User) -> TranscriptOut:
    row = await owned_transcript(session, transcript_id, user, deleted=True)
    row.deleted_at = None
    await session.commit()
    return transcript_out(row)


# --- results -----------------------------------------------------------------------------------


async def _names(session: Session, transcript_id: str) -> dict[int, str]:
    participants = await repository.load_participants(session, transcript_id)
    return {p.speaker: p.name for p in participants if p.speaker is not None}


def _segments_out(segments: list[Segment], names: dict[int, str]) -> list[SegmentOut]:
    return [
        SegmentOut(
            index=i,
            speaker=s.speaker,
            speaker_name=names.get(s.speaker) if s.speaker is not None else None,
            start=s.start,
            end=s.end,
            text=s.text,
            confidence=s.confidence,
            words=s.words,
        )
        for i, s in enumerate(segments)
    ]


@router.get("/{transcript_id}/segments", response_model=list[SegmentOut])
async def get_segments(transcript_id: str, session: Session, user: User) -> list[SegmentOut]:
    row = await readable_transcript(session, transcript_id, user)
    segments = await repository.load_segments(session, row.id)
    return _segments_out(segments, await _names(session, row.id))


@router.get("/{transcript_id}/topics", response_model=list[TopicOut])
async def get_topics(transcript_id: str, session: Session, user: User) -> list[TopicOut]:
    row = await readable_transcript(session, transcript_id, user)
    segments = await repository.load_segments(session, row.id)
    result = []
    for topic in await repository.load_topics(session, row.id):
        covered = list(range(topic.first_segment, min(topic.last_segment + 1, len(segments))))
        words = [w for i in covered for w in segments[i].words]
        per_speaker: dict[str, list[Word]] = {}
        for word in words:
            per_speaker.setdefault(str(word.speaker), []).append(word)
        result.append(
            TopicOut(
                id=topic.id,
                title=topic.title,
                summary=topic.summary,
                start=topic.start,
                duration=topic.duration,
                segments=covered,
                words=words,
                words_per_speaker=per_speaker,
            )
        )
    return result


def _participant_out(row: ParticipantRow) -> ParticipantOut:
    return ParticipantOut(
        id=row.id,
        speaker=row.speaker,
        name=row.name,
        confidence=row.confidence,
        source=row.source,
        evidence=list(row.evidence or []),
    )


@router.get("/{transcript_id}/participants", response_model=list[ParticipantOut])
async def list_participants(
    transcript_id: str, session: Session, user: User
) -> list[ParticipantOut]:
    row = await readable_transcript(session, transcript_id, user)
    return [_participant_out(p) for p in await repository.load_participants(session, row.id)]


async def _speaker_free(
    session: Session, transcript_id: str, speaker: int | None, keep: str | None = None
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


async def _participants_changed(state: State, session: Session, transcript_id: str) -> None:
    participants = await repository.load_participants(session, transcript_id)
    data = {"participants": [_participant_out(p).model_dump() for p in participants]}
    await emit_transcript_event(state, session, transcript_id, "PARTICIPANTS", data)


@router.post("/{transcript_id}/participants", status_code=201, response_model=ParticipantOut)
async def add_participant(
    transcript_id: str, body: ParticipantIn, session: Session, state: State, user: User
) -> ParticipantOut:
    row = await owned_transcript(session, transcript_id, user)
    _unlocked(row)
    await _speaker_free(session, row.id, body.speaker)
    participant = ParticipantRow(
        transcript_id=row.id, speaker=body.speaker, name=body.name, source="user"
    )
    session.add(participant)
    await session.commit()
    await _participants_changed(state, session, row.id)
    return _participant_out(participant)


async def _participant(session: Session, transcript_id: str, participant_id: str):
    return await transcript_child(
        session, ParticipantRow, participant_id, transcript_id, "participant"
    )


@router.patch("/{transcript_id}/participants/{participant_id}", response_model=ParticipantOut)
async def patch_participant(
    transcript_id: str,
    participant_id: str,
    body: ParticipantPatch,
    session: Session,
    state: State,
    user: User,
) -> ParticipantOut:
    row = await owned_transcript(session, transcript_id, user)
    _unlocked(row)
    participant = await _participant(session, row.id, participant_id)
    changes = body.model_dump(exclude_unset=True)
    if "speaker" in changes:
        await _speaker_free(session, row.id, changes["speaker"], keep=participant.id)
    for field, value in changes.items():
        if field == "name" and value is None:
            raise Problem(422, "validation-error", "name cannot be null")
        setattr(participant, field, value)
    participant.source = "user"  # a person confirmed or corrected it
    participant.confidence = 1.0
    await session.commit()
    await _participants_changed(state, session, row.id)
    return _participant_out(participant)


@router.delete("/{transcript_id}/participants/{participant_id}", status_code=204)
async def delete_participant(
    transcript_id: str, participant_id: str, session: Session, state: State, user: User
) -> Response:
    row = await owned_transcript(session, transcript_id, user)
    _unlocked(row)
    await session.delete(await _participant(session, row.id, participant_id))
    await session.commit()
    await _participants_changed(state, session, row.id)
    return Response(status_code=204)


async def _rewrite_speakers(
    state: State, session: Session, row: TranscriptRow, segments: list[Segment]
) -> list[SegmentOut]:
    await repository.replace_segments(session, row.id, segments)
    await session.commit()
    out = _segments_out(segments, await _names(session, row.id))
    data = {"segments": [s.model_dump(mode="json") for s in out]}
    await emit_transcript_event(state, session, row.id, "SEGMENTS", data)
    return out


@router.post("/{transcript_id}/speakers/assign", response_model=list[SegmentOut])
async def assign_speaker(
    transcript_id: str, body: SpeakerAssign, session: Session, state: State, user: User
) -> list[SegmentOut]:
    """Words whose middle lies in ``[start, end]`` get the speaker; segments are rebuilt."""
    row = await owned_transcript(session, transcript_id, user)
    _unlocked(row)
    if body.end <= body.start:
        raise Problem(422, "validation-error", "end must be after start")
    if (body.speaker is None) == (body.participant_id is None):
        raise Problem(422, "validation-error", "give exactly one of speaker or participant_id")
    speaker = body.speaker
    if body.participant_id is not None:
        participant = await _participant(session, row.id, body.participant_id)
        if participant.speaker is None:
            used = {
                w.speaker for s in await repository.load_segments(session, row.id) for w in s.words
            }
            participant.speaker = max((s for s in used if s is not None), default=-1) + 1
        speaker = participant.speaker
    words = [
        w.model_copy(update={"speaker": speaker})
        if body.start <= (w.start + w.end) / 2 <= body.end
        else w
        for s in await repository.load_segments(session, row.id)
        for w in s.words
    ]
    return await _rewrite_speakers(state, session, row, build_segments(words))


@router.post("/{transcript_id}/speakers/merge", response_model=list[SegmentOut])
async def merge_speakers(
    transcript_id: str, body: SpeakerMerge, session: Session, state: State, user: User
) -> list[SegmentOut]:
    row = await owned_transcript(session, transcript_id, user)
    _unlocked(row)
    merged = set(body.speakers) - {body.into}
    words = [
        w.model_copy(update={"speaker": body.into}) if w.speaker in merged else w
        for s in await repository.load_segments(session, row.id)
        for w in s.words
    ]
    for participant in await repository.load_participants(session, row.id):
        if participant.speaker in merged:
            await session.delete(participant)
    return await _rewrite_speakers(state, session, row, build_segments(words))


def _action_item_out(item: ActionItemRow) -> ActionItemOut:
    return ActionItemOut(
        id=item.id,
        kind=item.kind,  # type: ignore[arg-type]
        text=item.text,
        person=item.person,
        deadline=item.deadline,
        context=item.context,
        time=item.time,
        done=item.done,
    )


@router.get("/{transcript_id}/action-items", response_model=list[ActionItemOut])
async def list_action_items(
    transcript_id: str, session: Session, user: User
) -> list[ActionItemOut]:
    row = await readable_transcript(session, transcript_id, user)
    return [_action_item_out(i) for i in await repository.load_action_items(session, row.id)]


@router.patch("/{transcript_id}/action-items/{item_id}", response_model=ActionItemOut)
async def patch_action_item(
    transcript_id: str, item_id: str, body: ActionItemPatch, session: Session, user: User
) -> ActionItemOut:
    row = await owned_transcript(session, transcript_id, user)
    item = await transcript_child(session, ActionItemRow, item_id, row.id, "action item")
    for field, value in body.model_dump(exclude_unset=True).items():
        if value is None and field in {"text", "done"}:
            raise Problem(422, "validation-error", f"{field} cannot be null")
        setattr(item, field, value)
    await session.commit()
    return _action_item_out(item)

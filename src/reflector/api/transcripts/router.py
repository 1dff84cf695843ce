"""``/v1/transcripts``: create, list, read, change, delete and restore transcripts; results."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from reflector.api.compressed import json_answer
from reflector.api.deps import (
    Reader,
    Session,
    State,
    User,
    owned_transcript,
    readable_transcript,
    transcript_access,
)
from reflector.api.problems import Problem
from reflector.api.schemas import Page, page_of
from reflector.api.transcripts import service
from reflector.api.transcripts.schemas import (
    ActionItemOut,
    ActionItemPatch,
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
from reflector.db import repository, sharing
from reflector.domain.status import TranscriptStatus

router = APIRouter(prefix="/v1/transcripts", tags=["transcripts"])

# A pattern rather than the enum keeps the parameter's schema (a string) and its error message.
_ANY_STATUS = f"^({'|'.join(TranscriptStatus)})$"


@router.post("", status_code=201, response_model=TranscriptOut)
async def create_transcript(
    body: TranscriptCreate, session: Session, state: State, user: User
) -> TranscriptOut:
    return service.transcript_out(await service.create_transcript(state, session, user.id, body))


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
    status: Annotated[str | None, Query(pattern=_ANY_STATUS)] = None,
    source: Annotated[str | None, Query(pattern="^(file|live|room)$")] = None,
    room_id: Annotated[str | None, Query(max_length=64)] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    deleted: bool = False,
    scope: Annotated[
        str,
        Query(
            pattern="^(all|mine|shared)$",
            description="`mine`, `shared` (others' transcripts shared with the caller: opened "
            "through their link, or recorded in a shared room) or `all` (both)",
        ),
    ] = "all",
    sort: Annotated[str, Query(pattern="^-?(created_at|duration|title)$")] = "-created_at",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[TranscriptOut]:
    where = repository.TranscriptFilter(
        status=TranscriptStatus(status) if status else None,
        source=source,
        room_id=room_id,
        created_after=_in_range(created_after, "created_after"),
        created_before=_in_range(created_before, "created_before"),
        deleted=deleted,
        scope=scope,  # type: ignore[arg-type]
    )
    rows, total = await repository.list_transcripts(
        session,
        user.id,
        where,
        sort,
        (page - 1) * size,
        size,  # type: ignore[arg-type]
    )
    items = [service.transcript_out(r, shared=r.user_id != user.id) for r in rows]
    return page_of(TranscriptOut, items, total, page, size)


@router.get("/{transcript_id}", response_model=TranscriptOut)
async def get_transcript(transcript_id: str, session: Session, user: Reader) -> TranscriptOut:
    """One transcript: the caller's own, or one shared with them (``shared_with_me``). A
    signed-in user who opens a shared link finds the transcript in their list afterwards."""
    row, access = await transcript_access(session, transcript_id, user)
    if (
        access == "shared"
        and user is not None
        and await sharing.remember_opened(session, row, user.id)
    ):
        await session.commit()
    return service.transcript_out(row, shared=access == "shared")


@router.patch("/{transcript_id}", response_model=TranscriptOut)
async def patch_transcript(
    transcript_id: str, body: TranscriptPatch, session: Session, state: State, user: User
) -> TranscriptOut:
    row = await owned_transcript(session, transcript_id, user)
    await service.change_transcript(state, session, row, body.model_dump(exclude_unset=True))
    return service.transcript_out(row)


@router.delete("/{transcript_id}", status_code=204)
async def delete_transcript(
    transcript_id: str,
    session: Session,
    state: State,
    user: User,
    permanent: bool = False,
) -> Response:
    """Move to the trash (restorable), or with ``permanent=true`` destroy it and its audio."""
    await service.delete_transcript(state, session, transcript_id, user, permanent)
    return Response(status_code=204)


@router.post("/{transcript_id}/restore", response_model=TranscriptOut)
async def restore_transcript(transcript_id: str, session: Session, user: User) -> TranscriptOut:
    row = await owned_transcript(session, transcript_id, user, deleted=True)
    await service.restore_transcript(session, row)
    return service.transcript_out(row)


# --- results -----------------------------------------------------------------------------------


@router.get("/{transcript_id}/segments", response_model=list[SegmentOut])
async def get_segments(
    transcript_id: str, request: Request, session: Session, user: Reader
) -> Response:
    # Built as bytes, without a model per word, and gzipped for clients that accept it: a
    # 2-hour meeting's 1.8 MB of JSON becomes about 250 KB. (A comment, not a docstring: the
    # docstring would become the route's description in the OpenAPI schema.)
    row = await readable_transcript(session, transcript_id, user)
    return await json_answer(request, await service.segments_json(session, row.id))


@router.get("/{transcript_id}/topics", response_model=list[TopicOut])
async def get_topics(
    transcript_id: str, request: Request, session: Session, user: Reader
) -> Response:
    # Each topic carries its words twice (all, and by speaker): built and sent like segments.
    row = await readable_transcript(session, transcript_id, user)
    return await json_answer(request, await service.topics_json(session, row.id))


@router.get("/{transcript_id}/participants", response_model=list[ParticipantOut])
async def list_participants(
    transcript_id: str, session: Session, user: Reader
) -> list[ParticipantOut]:
    row = await readable_transcript(session, transcript_id, user)
    return await service.participants(session, row.id)


@router.post("/{transcript_id}/participants", status_code=201, response_model=ParticipantOut)
async def add_participant(
    transcript_id: str, body: ParticipantIn, session: Session, state: State, user: User
) -> ParticipantOut:
    row = await service.editable_transcript(session, transcript_id, user)
    added = await service.add_participant(state, session, row.id, body.name, body.speaker)
    return service.participant_out(added)


@router.patch("/{transcript_id}/participants/{participant_id}", response_model=ParticipantOut)
async def patch_participant(
    transcript_id: str,
    participant_id: str,
    body: ParticipantPatch,
    session: Session,
    state: State,
    user: User,
) -> ParticipantOut:
    row = await service.editable_transcript(session, transcript_id, user)
    changes = body.model_dump(exclude_unset=True)
    changed = await service.change_participant(state, session, row.id, participant_id, changes)
    return service.participant_out(changed)


@router.delete("/{transcript_id}/participants/{participant_id}", status_code=204)
async def delete_participant(
    transcript_id: str, participant_id: str, session: Session, state: State, user: User
) -> Response:
    row = await service.editable_transcript(session, transcript_id, user)
    await service.remove_participant(state, session, row.id, participant_id)
    return Response(status_code=204)


@router.post("/{transcript_id}/speakers/assign", response_model=list[SegmentOut])
async def assign_speaker(
    transcript_id: str, body: SpeakerAssign, session: Session, state: State, user: User
) -> list[SegmentOut]:
    """Words whose middle lies in ``[start, end]`` get the speaker; segments are rebuilt."""
    row = await service.editable_transcript(session, transcript_id, user)
    return await service.assign_speaker(state, session, row, body)


@router.post("/{transcript_id}/speakers/merge", response_model=list[SegmentOut])
async def merge_speakers(
    transcript_id: str, body: SpeakerMerge, session: Session, state: State, user: User
) -> list[SegmentOut]:
    row = await service.editable_transcript(session, transcript_id, user)
    return await service.merge_speakers(state, session, row, body.speakers, body.into)


@router.get("/{transcript_id}/action-items", response_model=list[ActionItemOut])
async def list_action_items(
    transcript_id: str, session: Session, user: Reader
) -> list[ActionItemOut]:
    row = await readable_transcript(session, transcript_id, user)
    return await service.action_items(session, row.id)


@router.patch("/{transcript_id}/action-items/{item_id}", response_model=ActionItemOut)
async def patch_action_item(
    transcript_id: str, item_id: str, body: ActionItemPatch, session: Session, user: User
) -> ActionItemOut:
    row = await owned_transcript(session, transcript_id, user)
    changes = body.model_dump(exclude_unset=True)
    item = await service.change_action_item(session, row.id, item_id, changes)
    return service.action_item_out(item)

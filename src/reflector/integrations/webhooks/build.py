"""An event's payload, from the database as it is when the event is first sent."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession

from reflector.db import repository
from reflector.db.tables import MeetingRow, RoomRow, TranscriptRow, WebhookEventRow
from reflector.errors import NotFoundError
from reflector.integrations.webhooks.payloads import (
    TEST_EVENT,
    TRANSCRIPT_EVENTS,
    ActionItemsInfo,
    DecisionInfo,
    MeetingData,
    MeetingWebhook,
    NextStepInfo,
    ParticipantInfo,
    TestData,
    TestWebhook,
    TopicInfo,
    TranscriptData,
    TranscriptLinks,
    TranscriptWebhook,
    WebhookEventType,
)

EXPORT_FORMATS = ("text", "vtt", "srt", "json", "md", "zip")


class EventGone(NotFoundError, LookupError):
    """What the event is about no longer exists."""


def transcript_links(row: TranscriptRow, base_url: str) -> TranscriptLinks:
    api = f"{base_url}/v1/transcripts/{quote(row.id)}"
    has_audio = row.audio_key is not None and not row.audio_deleted
    return TranscriptLinks(
        web=f"{base_url}/transcripts/{quote(row.id)}",
        api=api,
        audio=f"{api}/audio.mp3" if has_audio else None,
        exports={fmt: f"{api}/export?format={fmt}" for fmt in EXPORT_FORMATS},
    )


async def transcript_data(
    session: AsyncSession, row: TranscriptRow, event_type: str, base_url: str
) -> TranscriptData:
    participants = await repository.load_participants(session, row.id)
    topics = await repository.load_topics(session, row.id)
    items = await repository.load_action_items(session, row.id)
    failed = event_type == WebhookEventType.TRANSCRIPT_FAILED
    return TranscriptData(
        id=row.id,
        name=row.name,
        title=row.title,
        status="error" if failed else "ended",
        error=row.error if failed else None,
        source=row.source,
        room_id=row.room_id,
        meeting_id=row.meeting_id,
        language=row.source_language,
        duration=row.duration,
        created_at=row.created_at,
        short_summary=row.short_summary,
        long_summary=row.long_summary,
        participants=[ParticipantInfo(speaker=p.speaker, name=p.name) for p in participants],
        topics=[
            TopicInfo(title=t.title, summary=t.summary, start=t.start, duration=t.duration)
            for t in topics
        ],
        action_items=ActionItemsInfo(
            decisions=[
                DecisionInfo(text=i.text, decided_by=i.person)
                for i in items
                if i.kind == "decision"
            ],
            next_steps=[
                NextStepInfo(task=i.text, owner=i.person, deadline=i.deadline)
                for i in items
                if i.kind == "next_step"
            ],
        ),
        links=transcript_links(row, base_url),
    )


def meeting_data(meeting: MeetingRow, room: RoomRow | None, base_url: str) -> MeetingData:
    calendar = meeting.calendar_data or {}
    title = calendar.get("title") if isinstance(calendar, dict) else None
    links = {"room": f"{base_url}/rooms/{quote(room.name)}"} if room is not None else {}
    return MeetingData(
        id=meeting.id,
        room_id=meeting.room_id,
        room_name=room.name if room is not None else None,
        platform=meeting.platform,
        title=title if isinstance(title, str) else None,
        started_at=meeting.start_date,
        ended_at=meeting.end_date,
        num_clients=meeting.num_clients,
        links=links,
    )


def test_payload(event_id: str, webhook_id: str, created_at: Any) -> dict[str, Any]:
    body = TestWebhook(
        id=event_id,
        created_at=created_at,
        data=TestData(
            webhook_id=webhook_id,
            message="A test delivery from Reflector: the endpoint is reachable.",
        ),
    )
    return body.model_dump(mode="json")


async def build_payload(
    session: AsyncSession, event: WebhookEventRow, base_url: str
) -> dict[str, Any]:
    """The JSON payload of ``event``; raises :class:`EventGone` when its transcript or
    meeting was deleted meanwhile."""
    if event.type == TEST_EVENT and event.payload is not None:
        return event.payload
    if event.type in TRANSCRIPT_EVENTS:
        row = await session.get(TranscriptRow, event.transcript_id) if event.transcript_id else None
        if row is None:
            raise EventGone(f"transcript {event.transcript_id} was deleted")
        data = await transcript_data(session, row, event.type, base_url)
        body: TranscriptWebhook | MeetingWebhook = TranscriptWebhook(
            id=event.id, type=event.type, created_at=event.created_at, data=data
        )
        return body.model_dump(mode="json")
    meeting = await session.get(MeetingRow, event.meeting_id) if event.meeting_id else None
    if meeting is None:
        raise EventGone(f"meeting {event.meeting_id} was deleted")
    room = await session.get(RoomRow, meeting.room_id)
    body = MeetingWebhook(
        id=event.id,
        type=event.type,  # type: ignore[arg-type]
        created_at=event.created_at,
        data=meeting_data(meeting, room, base_url),
    )
    return body.model_dump(mode="json")

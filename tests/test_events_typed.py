"""Typed events: each producer's payload as a model whose wire form is byte for byte what
clients got before, told apart by ``type`` (and by shape where two producers share a type),
stored and read back as the same model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from reflector.bus import MemoryBus, transcript_channel, user_channel
from reflector.bus.codec import encode_message
from reflector.db import repository
from reflector.db.tables import TranscriptRow
from reflector.domain import ActionItems, Decision, NextStep, Participant, Segment, Topic, Word
from reflector.domain.events import (
    TRANSCRIPT_EVENTS,
    USER_EVENTS,
    ActionItemsEvent,
    CaptionData,
    CreatedData,
    DurationData,
    DurationEvent,
    FileWordsData,
    LabelledSegment,
    LabelledSegmentsData,
    LiveTopicData,
    LiveWordsData,
    LongSummaryData,
    LongSummaryEvent,
    ParticipantEntriesData,
    ParticipantEntry,
    ParticipantsData,
    ParticipantsEvent,
    ProgressData,
    ProgressEvent,
    SegmentsData,
    SegmentsEvent,
    ShortSummaryData,
    ShortSummaryEvent,
    StatusData,
    StatusEvent,
    TitleData,
    TitleEvent,
    TopicEvent,
    TranscriptCreatedEvent,
    TranscriptDeletedEvent,
    TranscriptStatusEvent,
    TranscriptWordsEvent,
    TranslationEvent,
    UserStatusData,
    WaveformData,
    WaveformEvent,
    transcript_event,
)
from reflector.domain.status import TranscriptStatus
from reflector.pipelines.publish import (
    emit,
    publish_transcript_event,
    publish_user_event,
    record_and_publish,
)
from reflector_testkit.servers import sqlite_sessions

WORD = Word(start=0.5, end=0.9, text=" Hello", probability=0.93, speaker=1)
SEGMENT = Segment(start=0.5, end=0.9, text="Hello", speaker=1, words=[WORD], confidence=0.93)
TOPIC = Topic(
    title="Budget",
    summary="They agree on the budget.",
    start=0.0,
    duration=42.5,
    first_segment=0,
    last_segment=3,
    keyphrases=["budget"],
)


def _word_json(word: Word) -> dict[str, Any]:
    return word.model_dump(mode="json")


# Each typed event beside the dict its producer built by hand before events were typed.
CASES: list[tuple[Any, dict[str, Any]]] = [
    (StatusEvent(data=StatusData(value="processing")), {"value": "processing"}),
    (
        StatusEvent(data=StatusData(value="error", error="decode failed")),
        {"value": "error", "error": "decode failed"},
    ),
    (ProgressEvent(data=ProgressData(stage="transcribe")), {"stage": "transcribe"}),
    (
        TranscriptWordsEvent(data=FileWordsData(text="Hello", words=[WORD])),
        {"text": "Hello", "words": [_word_json(WORD)]},
    ),
    (
        TranscriptWordsEvent(
            data=LiveWordsData(final=[WORD], interim=[], audio_time=2.25, degraded=False)
        ),
        {
            "final": [_word_json(WORD)],
            "interim": [],
            "audio_time": 2.25,
            "degraded": False,
            "skipped": 0.0,
        },
    ),
    (
        SegmentsEvent(data=SegmentsData(segments=[SEGMENT])),
        {"segments": [SEGMENT.model_dump(mode="json")]},
    ),
    (
        SegmentsEvent(
            data=LabelledSegmentsData(
                segments=[
                    LabelledSegment(
                        index=0,
                        speaker=1,
                        speaker_name="Ana",
                        start=0.5,
                        end=0.9,
                        text="Hello",
                        confidence=0.93,
                        words=[WORD],
                    )
                ]
            )
        ),
        {
            "segments": [
                {
                    "index": 0,
                    "speaker": 1,
                    "speaker_name": "Ana",
                    "start": 0.5,
                    "end": 0.9,
                    "text": "Hello",
                    "confidence": 0.93,
                    "words": [_word_json(WORD)],
                }
            ]
        },
    ),
    (TopicEvent(data=TOPIC), TOPIC.model_dump(mode="json")),
    (
        TopicEvent(
            data=LiveTopicData(
                title="Budget",
                summary="Money.",
                start=1.5,
                duration=30.0,
                keyphrases=["budget"],
                speakers=[0, 1],
                index=0,
            )
        ),
        {
            "title": "Budget",
            "summary": "Money.",
            "start": 1.5,
            "duration": 30.0,
            "keyphrases": ["budget"],
            "speakers": [0, 1],
            "index": 0,
            "live": True,
        },
    ),
    (TitleEvent(data=TitleData(title="Weekly")), {"title": "Weekly"}),
    (TitleEvent(data=TitleData(title=None)), {"title": None}),
    (ShortSummaryEvent(data=ShortSummaryData(short_summary="Short.")), {"short_summary": "Short."}),
    (LongSummaryEvent(data=LongSummaryData(long_summary="# Long")), {"long_summary": "# Long"}),
    (
        ActionItemsEvent(
            data=ActionItems(
                decisions=[Decision(text="Ship it", decided_by="Ana", time=3.0)],
                next_steps=[NextStep(task="Write notes", owner="Bo", deadline="Friday")],
            )
        ),
        {
            "decisions": [{"text": "Ship it", "decided_by": "Ana", "time": 3.0}],
            "next_steps": [
                {
                    "task": "Write notes",
                    "owner": "Bo",
                    "deadline": "Friday",
                    "context": None,
                    "time": None,
                }
            ],
        },
    ),
    (
        ParticipantsEvent(
            data=ParticipantsData(
                participants=[
                    Participant(speaker=0, name="Ana", confidence=0.9, evidence=["I'm Ana"])
                ]
            )
        ),
        {
            "participants": [
                {
                    "speaker": 0,
                    "name": "Ana",
                    "confidence": 0.9,
                    "evidence": ["I'm Ana"],
                    "source": "detected",
                }
            ]
        },
    ),
    (
        ParticipantsEvent(
            data=ParticipantEntriesData(
                participants=[
                    ParticipantEntry(
                        id="p1", speaker=0, name="Ana", confidence=1.0, source="user", evidence=[]
                    )
                ]
            )
        ),
        {
            "participants": [
                {
                    "id": "p1",
                    "speaker": 0,
                    "name": "Ana",
                    "confidence": 1.0,
                    "source": "user",
                    "evidence": [],
                }
            ]
        },
    ),
    (DurationEvent(data=DurationData(duration=12.345)), {"duration": 12.345}),
    (WaveformEvent(data=WaveformData(waveform=[0.0, 0.5, 1.0])), {"waveform": [0.0, 0.5, 1.0]}),
    (
        TranslationEvent(
            data=CaptionData(
                language="de",
                index=2,
                text="Hallo",
                source_text="Hello",
                start=0.5,
                end=0.9,
                speaker=None,
            )
        ),
        {
            "language": "de",
            "index": 2,
            "text": "Hallo",
            "source_text": "Hello",
            "start": 0.5,
            "end": 0.9,
            "speaker": None,
        },
    ),
]
IDS = [f"{event.type}-{i}" for i, (event, _) in enumerate(CASES)]


@pytest.mark.parametrize(("event", "legacy"), CASES, ids=IDS)
def test_the_wire_form_is_byte_for_byte_what_producers_sent(event, legacy) -> None:
    for event_id in (None, 7):
        typed = event.model_copy(update={"id": event_id})
        wire = {"id": event_id, "type": event.type, "data": legacy}
        assert encode_message("c", typed.model_dump(mode="json")) == encode_message("c", wire)


@pytest.mark.parametrize(("event", "legacy"), CASES, ids=IDS)
def test_the_stored_form_reads_back_as_the_same_typed_event(event, legacy) -> None:
    back = transcript_event(event.type, legacy, 7)
    assert type(back) is type(event)
    assert type(back.data) is type(event.data)
    assert back == event.model_copy(update={"id": 7})


def test_every_event_type_is_covered() -> None:
    mapping = TRANSCRIPT_EVENTS.json_schema()["discriminator"]["mapping"]
    assert set(mapping) == {event.type for event, _ in CASES}
    assert len(mapping) == 13


def test_data_that_does_not_fit_its_type_is_refused() -> None:
    with pytest.raises(ValidationError):
        transcript_event("STATUS", {"value": "finished"})
    with pytest.raises(ValidationError):
        transcript_event("DURATION", {"duration": 1.0, "extra": 1})
    with pytest.raises(ValidationError):
        transcript_event("NOT_AN_EVENT", {})


def test_user_events_wire_form() -> None:
    cases = [
        (
            TranscriptCreatedEvent(transcript_id="t1", data=CreatedData(name="Weekly")),
            {"type": "TRANSCRIPT_CREATED", "transcript_id": "t1", "data": {"name": "Weekly"}},
        ),
        (
            TranscriptStatusEvent(transcript_id="t1", data=UserStatusData(value="ended")),
            {"type": "TRANSCRIPT_STATUS", "transcript_id": "t1", "data": {"value": "ended"}},
        ),
        (
            TranscriptDeletedEvent(transcript_id="t1"),
            {"type": "TRANSCRIPT_DELETED", "transcript_id": "t1", "data": {}},
        ),
    ]
    for event, legacy in cases:
        assert encode_message("c", event.model_dump(mode="json")) == encode_message("c", legacy)
        assert USER_EVENTS.validate_python(legacy) == event
    assert set(USER_EVENTS.json_schema()["discriminator"]["mapping"]) == {
        "TRANSCRIPT_CREATED",
        "TRANSCRIPT_STATUS",
        "TRANSCRIPT_DELETED",
    }


def test_status_values_are_the_lifecycle_statuses() -> None:
    assert StatusEvent(data=StatusData(value="ended")).data.value is TranscriptStatus.ENDED


# --- store and publish ---------------------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[Any]:
    async with sqlite_sessions(tmp_path / "events.db") as maker:
        yield maker


async def _make_transcript(sessions) -> str:
    async with sessions() as session:
        row = TranscriptRow(user_id="u")
        session.add(row)
        await session.commit()
        return row.id


@pytest.mark.anyio
async def test_events_are_stored_published_and_replayed_typed(sessions) -> None:
    bus = MemoryBus()
    tid = await _make_transcript(sessions)
    events = [event for event, _ in CASES]
    async with bus.subscribe(transcript_channel(tid)) as live:
        for event in events:
            await emit(sessions, bus, tid, event)
        interim = TranscriptWordsEvent(
            data=LiveWordsData(final=[], interim=[WORD], audio_time=1.0, degraded=True)
        )
        await publish_transcript_event(bus, tid, interim)
        received = [await asyncio.wait_for(anext(live), 3.0) for _ in range(len(events) + 1)]
    async with sessions() as session:
        stored = await repository.stored_events(session, tid)
    assert [e.model_copy(update={"id": None}) for e in stored] == events
    assert [m["id"] for m in received[:-1]] == [e.id for e in stored]
    assert received[:-1] == [e.model_dump(mode="json") for e in stored]
    assert received[-1] == interim.model_dump(mode="json")  # news that is not stored: no id
    assert received[-1]["id"] is None and len(stored) == len(events)


@pytest.mark.anyio
async def test_events_from_a_type_and_data_send_the_bytes_routes_sent(sessions) -> None:
    """A ``(type, data)`` turned into its typed event (checked against the model) goes out as
    the dictionaries routes published before events were typed."""
    bus = MemoryBus()
    tid = await _make_transcript(sessions)
    async with (
        bus.subscribe(transcript_channel(tid)) as live,
        bus.subscribe(user_channel("u")) as users,
    ):
        async with sessions() as session:
            typed_id = await record_and_publish(
                session, bus, tid, StatusEvent(data=StatusData(value="uploaded"))
            )
            legacy = transcript_event("STATUS", {"value": "uploaded"})
            legacy_id = await record_and_publish(session, bus, tid, legacy)
        await publish_transcript_event(bus, tid, transcript_event("DURATION", {"duration": 1.5}))
        await publish_user_event(
            bus,
            "u",
            USER_EVENTS.validate_python(
                {"type": "TRANSCRIPT_CREATED", "transcript_id": tid, "data": {"name": "Weekly"}}
            ),
        )
        await publish_user_event(
            bus, "u", TranscriptCreatedEvent(transcript_id=tid, data=CreatedData(name="Weekly"))
        )
        first, second, third = [await asyncio.wait_for(anext(live), 3.0) for _ in range(3)]
        user_first, user_second = [await asyncio.wait_for(anext(users), 3.0) for _ in range(2)]
    assert first == {"id": typed_id, "type": "STATUS", "data": {"value": "uploaded"}}
    assert second == {**first, "id": legacy_id}
    assert third == {"id": None, "type": "DURATION", "data": {"duration": 1.5}}
    assert (
        user_first
        == user_second
        == {
            "type": "TRANSCRIPT_CREATED",
            "transcript_id": tid,
            "data": {"name": "Weekly"},
        }
    )
    with pytest.raises(ValidationError):
        transcript_event("STATUS", {"value": "nope"})

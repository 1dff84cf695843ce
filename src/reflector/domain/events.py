"""Events: every change a client cares about, as typed data with a stable ``type`` name.

Transcript events are persisted in order and published on the bus, so a WebSocket client that
connects late replays the past and then follows along. On the wire a transcript event is
``{"id": ..., "type": ..., "data": {...}}`` (``id`` is its position among the transcript's stored
events, ``null`` for news that is not stored, such as interim words). User events tell a user's
other screens that a transcript appeared, changed status or went away:
``{"type": ..., "transcript_id": ..., "data": {...}}``.

The models below are that wire form exactly: ``event.model_dump(mode="json")`` is what is sent
and stored, field for field and in the same order. Where two producers send the same event type
with different data (the file pipeline and a live stream, or a pipeline and a person's edit), the
data is a union told apart by its fields.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter

from reflector.domain.status import TranscriptStatus
from reflector.domain.summary import ActionItems, Participant, Topic
from reflector.domain.transcript import Segment, Word


class _Data(BaseModel):
    # Unknown fields are refused so that the two shapes of one event never pass for each other.
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- event data ----------------------------------------------------------------------------------


class StatusData(_Data):
    value: TranscriptStatus
    error: str | None = Field(default=None, exclude_if=lambda error: error is None)
    """Why processing failed; only present with ``value`` ``error``."""


class ProgressData(_Data):
    stage: str
    """The pipeline stage that started, e.g. ``transcribe``."""


class FileWordsData(_Data):
    """Words as the file pipeline recognises them, a batch at a time."""

    text: str
    words: list[Word]


class LiveWordsData(_Data):
    """A live stream's words: ``final`` ones no longer change (and are stored); ``interim``
    ones may still change and only travel."""

    final: list[Word]
    interim: list[Word]
    audio_time: float
    """Seconds of audio received when the words were decided."""
    degraded: bool
    """The recogniser fell behind and works on longer steps for now."""
    skipped: float = 0.0
    """Seconds of audio lost before they were transcribed since the previous update (the
    server fell too far behind); ``0`` when every second was heard."""


class SegmentsData(_Data):
    """The pipeline's segments, replacing every earlier one."""

    segments: list[Segment]


class LabelledSegment(_Data):
    """A segment as people see it after an edit: its number and its speaker's name."""

    index: int
    speaker: int | None
    speaker_name: str | None
    start: float
    end: float
    text: str
    confidence: float
    words: list[Word]


class LabelledSegmentsData(_Data):
    """The segments after a person reassigned speakers."""

    segments: list[LabelledSegment]


class LiveTopicData(_Data):
    """A topic closed during a live stream; the pipeline writes the final topics afterwards."""

    title: str
    summary: str
    start: float
    duration: float
    keyphrases: list[str]
    speakers: list[int]
    index: int
    live: Literal[True] = True


class TitleData(_Data):
    title: str | None


class ShortSummaryData(_Data):
    short_summary: str | None


class LongSummaryData(_Data):
    long_summary: str | None


class ParticipantsData(_Data):
    """The participants the pipeline found."""

    participants: list[Participant]


class ParticipantEntry(_Data):
    """A stored participant, as a person's edit of the participants lists them."""

    id: str
    speaker: int | None
    name: str
    confidence: float
    source: str
    evidence: list[str]


class ParticipantEntriesData(_Data):
    """The participants after a person added, changed or removed one."""

    participants: list[ParticipantEntry]


class DurationData(_Data):
    duration: float
    """Seconds."""


class WaveformData(_Data):
    waveform: list[float]
    """Peak levels in [0, 1], evenly spread over the recording."""


class CaptionData(_Data):
    """One live sentence translated into one target language."""

    language: str
    index: int
    """The source sentence's number in the stream."""
    text: str
    source_text: str
    start: float
    end: float
    speaker: int | None


class CreatedData(_Data):
    name: str


class UserStatusData(_Data):
    value: TranscriptStatus


class DeletedData(_Data):
    pass


# --- telling the shapes of one event apart --------------------------------------------------------


def _first_item(value: Any, field: str) -> Any:
    items = value.get(field) if isinstance(value, dict) else getattr(value, field, None)
    return items[0] if items else None


def _words_shape(value: Any) -> str:
    live = isinstance(value, LiveWordsData) or (isinstance(value, dict) and "final" in value)
    return "live" if live else "file"


def _edited(value: Any, edited: type[_Data], field: str, item: type[_Data], key: str) -> bool:
    """Whether ``value`` has the shape a person's edit sends: a model says so by its class (also
    with an empty list), a dictionary by its first ``field`` item (an ``item``, or with ``key``)."""
    if isinstance(value, BaseModel):
        return isinstance(value, edited)
    first = _first_item(value, field)
    return isinstance(first, item) or (isinstance(first, dict) and key in first)


def _segments_shape(value: Any) -> str:
    labelled = _edited(value, LabelledSegmentsData, "segments", LabelledSegment, "index")
    return "labelled" if labelled else "pipeline"


def _topic_shape(value: Any) -> str:
    live = isinstance(value, LiveTopicData) or (isinstance(value, dict) and "live" in value)
    return "live" if live else "pipeline"


def _participants_shape(value: Any) -> str:
    entries = _edited(value, ParticipantEntriesData, "participants", ParticipantEntry, "id")
    return "entries" if entries else "pipeline"


WordsData = Annotated[
    Annotated[FileWordsData, Tag("file")] | Annotated[LiveWordsData, Tag("live")],
    Discriminator(_words_shape),
]
AnySegmentsData = Annotated[
    Annotated[SegmentsData, Tag("pipeline")] | Annotated[LabelledSegmentsData, Tag("labelled")],
    Discriminator(_segments_shape),
]
TopicData = Annotated[
    Annotated[Topic, Tag("pipeline")] | Annotated[LiveTopicData, Tag("live")],
    Discriminator(_topic_shape),
]
AnyParticipantsData = Annotated[
    Annotated[ParticipantsData, Tag("pipeline")]
    | Annotated[ParticipantEntriesData, Tag("entries")],
    Discriminator(_participants_shape),
]


# --- transcript events ---------------------------------------------------------------------------


class _TranscriptEvent(BaseModel):
    # Sent events always carry every field: the schema (OpenAPI) says so, defaults or not.
    model_config = ConfigDict(frozen=True, json_schema_serialization_defaults_required=True)

    id: int | None = None
    """Position among the transcript's stored events; ``None`` until stored, or never."""


class StatusEvent(_TranscriptEvent):
    type: Literal["STATUS"] = "STATUS"
    data: StatusData


class ProgressEvent(_TranscriptEvent):
    type: Literal["PROGRESS"] = "PROGRESS"
    data: ProgressData


class TranscriptWordsEvent(_TranscriptEvent):
    type: Literal["TRANSCRIPT"] = "TRANSCRIPT"
    data: WordsData


class SegmentsEvent(_TranscriptEvent):
    type: Literal["SEGMENTS"] = "SEGMENTS"
    data: AnySegmentsData


class TopicEvent(_TranscriptEvent):
    type: Literal["TOPIC"] = "TOPIC"
    data: TopicData


class TitleEvent(_TranscriptEvent):
    type: Literal["FINAL_TITLE"] = "FINAL_TITLE"
    data: TitleData


class ShortSummaryEvent(_TranscriptEvent):
    type: Literal["FINAL_SHORT_SUMMARY"] = "FINAL_SHORT_SUMMARY"
    data: ShortSummaryData


class LongSummaryEvent(_TranscriptEvent):
    type: Literal["FINAL_LONG_SUMMARY"] = "FINAL_LONG_SUMMARY"
    data: LongSummaryData


class ActionItemsEvent(_TranscriptEvent):
    type: Literal["ACTION_ITEMS"] = "ACTION_ITEMS"
    data: ActionItems


class ParticipantsEvent(_TranscriptEvent):
    type: Literal["PARTICIPANTS"] = "PARTICIPANTS"
    data: AnyParticipantsData


class DurationEvent(_TranscriptEvent):
    type: Literal["DURATION"] = "DURATION"
    data: DurationData


class WaveformEvent(_TranscriptEvent):
    type: Literal["WAVEFORM"] = "WAVEFORM"
    data: WaveformData


class TranslationEvent(_TranscriptEvent):
    type: Literal["TRANSLATION"] = "TRANSLATION"
    data: CaptionData


TranscriptEvent = Annotated[
    StatusEvent
    | ProgressEvent
    | TranscriptWordsEvent
    | SegmentsEvent
    | TopicEvent
    | TitleEvent
    | ShortSummaryEvent
    | LongSummaryEvent
    | ActionItemsEvent
    | ParticipantsEvent
    | DurationEvent
    | WaveformEvent
    | TranslationEvent,
    Field(discriminator="type"),
]
"""Any transcript event, told apart by ``type``."""


# --- user events ---------------------------------------------------------------------------------


class _UserEvent(BaseModel):
    model_config = ConfigDict(frozen=True, json_schema_serialization_defaults_required=True)


class TranscriptCreatedEvent(_UserEvent):
    type: Literal["TRANSCRIPT_CREATED"] = "TRANSCRIPT_CREATED"
    transcript_id: str
    data: CreatedData


class TranscriptStatusEvent(_UserEvent):
    type: Literal["TRANSCRIPT_STATUS"] = "TRANSCRIPT_STATUS"
    transcript_id: str
    data: UserStatusData


class TranscriptDeletedEvent(_UserEvent):
    type: Literal["TRANSCRIPT_DELETED"] = "TRANSCRIPT_DELETED"
    transcript_id: str
    data: DeletedData = Field(default_factory=DeletedData)


UserEvent = Annotated[
    TranscriptCreatedEvent | TranscriptStatusEvent | TranscriptDeletedEvent,
    Field(discriminator="type"),
]
"""Any user event, told apart by ``type``."""


TRANSCRIPT_EVENTS: TypeAdapter[TranscriptEvent] = TypeAdapter(TranscriptEvent)
USER_EVENTS: TypeAdapter[UserEvent] = TypeAdapter(UserEvent)


def transcript_event(
    event_type: str, data: dict[str, Any], event_id: int | None = None
) -> TranscriptEvent:
    """The typed event for a stored or received ``(type, data)``; raises
    ``pydantic.ValidationError`` when the data does not fit the type."""
    return TRANSCRIPT_EVENTS.validate_python({"id": event_id, "type": event_type, "data": data})

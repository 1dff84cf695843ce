"""The file pipeline as persisted, idempotent stages for the server.

prepare → transcribe → diarize → summarize → finish. Each stage reads what earlier stages stored
(the upload and JSON results in the blob store, rows in the database), writes its own output
(replacing any earlier output, so running a stage twice gives the same state) and emits events.
The job runner records each finished stage; a job resumed on another worker starts after the
last one. Heavy work runs in a thread, so the event loop keeps serving requests.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reflector.asr import ModelError
from reflector.audio import SAMPLE_RATE, AudioError, decode_file, encode_mp3, peak_waveform
from reflector.blobs import BlobStore
from reflector.bus import EventBus
from reflector.db import repository
from reflector.db.tables import TranscriptRow
from reflector.diarization import DiarizationOptions, make_diarizer
from reflector.domain import Transcript, Word, build_segments
from reflector.domain.events import (
    ActionItemsEvent,
    DurationData,
    DurationEvent,
    FileWordsData,
    LongSummaryData,
    LongSummaryEvent,
    ParticipantsData,
    ParticipantsEvent,
    SegmentsData,
    SegmentsEvent,
    ShortSummaryData,
    ShortSummaryEvent,
    TitleData,
    TitleEvent,
    TopicEvent,
    TranscriptEvent,
    TranscriptWordsEvent,
    WaveformData,
    WaveformEvent,
)
from reflector.domain.status import TranscriptStatus
from reflector.domain.summary import Topic
from reflector.errors import BadInputError
from reflector.integrations.attendees import expected_names
from reflector.intelligence import SummaryOptions, load_writer
from reflector.pipelines.consent import apply_consent
from reflector.pipelines.file import (
    AUTO_SUMMARY_SECONDS,
    NO_SPEECH_NOTE,
    TranscribeOptions,
    add_summary,
    damaged_audio_notes,
    identify_speakers,
    load_engine,
    recognize_speech,
)
from reflector.pipelines.lifecycle import set_status
from reflector.pipelines.publish import emit
from reflector.pipelines.speaker_turns import store_turns
from reflector.pipelines.transient import RetryBudget, retry_transient
from reflector.settings import Settings
from reflector.vad import SpeechRegion, shared_vad

log = structlog.get_logger(__name__)

FILE_STAGES = ("prepare", "transcribe", "diarize", "summarize", "finish")

T = TypeVar("T")


class StageFailed(BadInputError):
    """A failure that retrying cannot fix (bad audio, a missing model): the job ends in error."""


@dataclass(frozen=True)
class JobOptions:
    """What a job was asked to do; stored with the job so a resumed job does the same."""

    model: str = "base"
    language: str | None = None
    summary_language: str | None = None
    diarize: bool = True
    summarize: bool | None = None
    """``None``: for recordings over a minute."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobOptions:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class StageContext:
    transcript_id: str
    user_id: str
    options: JobOptions
    settings: Settings
    sessions: async_sessionmaker
    blobs: BlobStore
    bus: EventBus
    workdir: Path
    retry: RetryBudget = field(default_factory=lambda: RetryBudget(seconds=0.0))
    """How long a database write, an event or a blob operation failing for a transient reason
    is tried again (the runner passes ``job_retry_seconds``; the blob store and bus it passes
    retry on their own)."""
    _samples: np.ndarray | None = field(default=None, repr=False)
    decode_notes: list[str] = field(default_factory=list, repr=False)
    """What was wrong with a damaged upload whose readable part was decoded (for the notes)."""
    cache: dict[str, Any] = field(default_factory=dict, repr=False)
    """What a pipeline's stages share within one worker's run (e.g. padded tracks)."""

    def key(self, name: str) -> str:
        return f"transcripts/{self.transcript_id}/{name}"

    async def emit(self, event: TranscriptEvent) -> None:
        await retry_transient(
            self.retry,
            f"store a {event.type} event",
            lambda: emit(self.sessions, self.bus, self.transcript_id, event),
        )

    def emit_from_thread(self, loop: asyncio.AbstractEventLoop, event: TranscriptEvent) -> None:
        """For callbacks inside the worker thread: wait until the event is stored."""
        asyncio.run_coroutine_threadsafe(self.emit(event), loop).result()

    async def set_status(self, status: TranscriptStatus) -> None:
        """The row, the ``STATUS`` event and the owner's user event (see ``lifecycle``)."""
        # Tried again whole: a status may be set to itself, so a change that was committed
        # before its connection broke is simply made (and announced) once more.
        await retry_transient(
            self.retry,
            f"set status {status.value}",
            lambda: set_status(self.sessions, self.bus, self.transcript_id, status),
        )

    async def in_session(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """``work(session)`` in a session of its own, run again whole (a new session) while it
        fails for a transient reason; ``work`` commits what it writes."""

        async def attempt() -> T:
            async with self.sessions() as session:
                return await work(session)

        return await retry_transient(self.retry, "database work", attempt)

    async def transcript_row(self) -> TranscriptRow:
        return await self.in_session(
            lambda session: repository.get_transcript(session, self.transcript_id, None)
        )

    async def update(self, **values: Any) -> None:
        async def write(session: AsyncSession) -> None:
            row = await repository.get_transcript(session, self.transcript_id, None)
            for name, value in values.items():
                setattr(row, name, value)
            await session.commit()

        await self.in_session(write)

    async def samples(self) -> np.ndarray:
        """The recording as 16 kHz mono float32, decoded once per worker from the upload (a
        read-only memory map when it is long)."""
        if self._samples is None:
            row = await self.transcript_row()
            if row.upload_key is None:
                raise StageFailed("nothing was uploaded")
            local = self.workdir / ("upload" + Path(row.upload_key).suffix)
            if not local.exists():
                await self.blobs.download(row.upload_key, local)
            try:
                # A long recording is decoded to a file in the work folder, on the data
                # dir's disk, and read from there (see ``decode_file``).
                audio = await asyncio.to_thread(
                    decode_file,
                    local,
                    max_seconds=self.settings.max_audio_seconds,
                    spill_dir=self.workdir,
                )
            except AudioError as error:
                raise StageFailed(str(error)) from error
            self._samples, self.decode_notes = audio.samples, damaged_audio_notes(audio)
        return self._samples

    async def put_json(self, name: str, value: Any) -> None:
        await self.blobs.put_bytes(
            self.key(f"stages/{name}.json"), json.dumps(value).encode(), "application/json"
        )

    async def get_json(self, name: str) -> Any:
        return json.loads(await self.blobs.get_bytes(self.key(f"stages/{name}.json")))

    def transcribe_options(self) -> TranscribeOptions:
        return TranscribeOptions.for_asr(
            self.settings.asr_options(self.options.model),
            language=self.options.language,
            diarize=self.options.diarize,
            speakers=DiarizationOptions(),
            summarize=self.options.summarize,
            summary=SummaryOptions(language=self.options.summary_language),
        )


async def _prepare(ctx: StageContext) -> None:
    """Decode the upload, store the MP3 everyone plays, the waveform and the duration."""
    await ctx.set_status(TranscriptStatus.PROCESSING)
    samples = await ctx.samples()
    duration = round(len(samples) / SAMPLE_RATE, 3)
    mp3 = ctx.workdir / "audio.mp3"
    await asyncio.to_thread(encode_mp3, samples, mp3)
    await ctx.blobs.put_file(ctx.key("audio.mp3"), mp3, "audio/mpeg")
    peaks = [round(p, 4) for p in await asyncio.to_thread(peak_waveform, samples)]
    await ctx.update(audio_key=ctx.key("audio.mp3"), duration=duration, waveform=peaks)
    await ctx.emit(DurationEvent(data=DurationData(duration=duration)))
    await ctx.emit(WaveformEvent(data=WaveformData(waveform=peaks)))


async def _transcribe(ctx: StageContext) -> None:
    samples = await ctx.samples()
    options = ctx.transcribe_options()
    loop = asyncio.get_running_loop()

    def on_words(words: list[Word]) -> None:
        text = "".join(w.text for w in words).strip()
        ctx.emit_from_thread(loop, TranscriptWordsEvent(data=FileWordsData(text=text, words=words)))

    def work():
        try:
            engine = load_engine(options, ctx.settings.data_dir)
        except ModelError as error:
            raise StageFailed(str(error)) from error
        return recognize_speech(
            samples, len(samples) / SAMPLE_RATE, options, engine, shared_vad(), on_words=on_words
        )

    recognition = await asyncio.to_thread(work)
    await ctx.put_json(
        "recognition",
        {
            "words": [w.model_dump(mode="json") for w in recognition.words],
            "regions": [[r.start, r.end] for r in recognition.regions],
            "language": recognition.language,
            "language_probability": recognition.language_probability,
            "speech_duration": recognition.speech_duration,
            "notes": ctx.decode_notes + recognition.notes,
        },
    )
    if recognition.language and not ctx.options.language:
        await ctx.update(source_language=recognition.language)


async def _diarize(ctx: StageContext) -> None:
    """Speakers on the words, then sentence segments into the database."""
    stored = await ctx.get_json("recognition")
    words = [Word.model_validate(w) for w in stored["words"]]
    notes = list(stored["notes"])
    profiles, turns = [], []
    options = ctx.transcribe_options()
    if options.diarize and words and ctx.settings.diarization_backend != "off":
        samples = await ctx.samples()
        regions = [SpeechRegion(start, end) for start, end in stored["regions"]]
        diarizer = make_diarizer(
            ctx.settings.diarization_backend,
            url=ctx.settings.diarization_url,
            api_key=ctx.settings.diarization_api_key,
        )
        words, profiles, turns, note = await asyncio.to_thread(
            identify_speakers, words, samples, regions, options, diarizer
        )
        notes += [note] if note else []
    segments = build_segments(words)
    if not segments and NO_SPEECH_NOTE not in notes:
        notes.append(NO_SPEECH_NOTE)
    row = await ctx.transcript_row()
    transcript = Transcript(
        language=stored["language"],
        language_probability=stored["language_probability"],
        duration=row.duration,
        speech_duration=round(stored["speech_duration"], 3),
        segments=segments,
        model=options.model,
        speaker_profiles=profiles,
        speaker_turns=turns,
        notes=notes,
    )
    await ctx.put_json("transcript", transcript.model_dump(mode="json"))
    await store_turns(ctx.blobs, ctx.transcript_id, turns)

    async def write(session: AsyncSession) -> None:
        await repository.replace_segments(session, ctx.transcript_id, segments)
        row = await repository.get_transcript(session, ctx.transcript_id, None)
        row.notes = notes
        await session.commit()

    await ctx.in_session(write)
    await ctx.emit(SegmentsEvent(data=SegmentsData(segments=segments)))


def _writer_loader(settings: Settings) -> Callable[[], Any]:
    llm = settings.llm
    return lambda: load_writer(llm, settings.data_dir)


async def _summarize(ctx: StageContext) -> None:
    transcript = Transcript.model_validate(await ctx.get_json("transcript"))
    wanted = ctx.options.summarize
    if wanted is None:
        wanted = transcript.duration > AUTO_SUMMARY_SECONDS
    if not wanted or not transcript.segments:
        return

    async def read(session: AsyncSession) -> tuple[list, tuple[str, ...]]:
        people = await repository.load_participants(session, ctx.transcript_id)
        return people, await expected_names(session, ctx.transcript_id)

    people, expected = await ctx.in_session(read)
    overrides = {p.speaker: p.name for p in people if p.source == "user" and p.speaker is not None}
    options = SummaryOptions(
        language=ctx.options.summary_language, speaker_names=overrides, expected_names=expected
    )
    loop = asyncio.get_running_loop()

    def on_topic(topic: Topic) -> None:
        ctx.emit_from_thread(loop, TopicEvent(data=topic))

    def work() -> Transcript:
        writer = _writer_loader(ctx.settings)()
        return add_summary(transcript, options, writer, on_topic=on_topic)

    summarised = await asyncio.to_thread(work)
    summary = summarised.summary
    assert summary is not None

    async def write(session: AsyncSession) -> None:
        await repository.replace_summary(session, ctx.transcript_id, summary)
        row = await repository.get_transcript(session, ctx.transcript_id, None)
        row.notes = [*transcript.notes, *summary.notes]
        await session.commit()

    await ctx.in_session(write)
    await ctx.emit(TitleEvent(data=TitleData(title=summary.title)))
    await ctx.emit(ShortSummaryEvent(data=ShortSummaryData(short_summary=summary.short_summary)))
    await ctx.emit(LongSummaryEvent(data=LongSummaryData(long_summary=summary.long_summary)))
    await ctx.emit(ActionItemsEvent(data=summary.action_items))
    await ctx.emit(ParticipantsEvent(data=ParticipantsData(participants=summary.participants)))


async def _finish(ctx: StageContext) -> None:
    # A meeting participant who declined: the audio goes before anyone sees the transcript end.
    await apply_consent(ctx.sessions, ctx.blobs, ctx.settings, ctx.transcript_id)
    await ctx.set_status(TranscriptStatus.ENDED)


STAGE_FUNCTIONS: dict[str, Callable[[StageContext], Awaitable[None]]] = {
    "prepare": _prepare,
    "transcribe": _transcribe,
    "diarize": _diarize,
    "summarize": _summarize,
    "finish": _finish,
}


def new_workdir(settings: Settings, job_id: str) -> Path:
    root = settings.data_dir / "work"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{job_id}-", dir=root))

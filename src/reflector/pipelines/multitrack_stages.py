"""The multitrack pipeline as persisted stages: one audio file per participant.

prepare_tracks → transcribe_tracks → segments → summarize → finish. The transcript's
``tracks`` list the files (``[{key, name, user_id, participant_id}]``, in the blob store);
track ``i`` is speaker ``i``, named ``tracks[i].name``. The last two stages are the file
pipeline's own, reading what ``segments`` stored the way ``diarize`` stores it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from reflector.asr import ModelError
from reflector.audio import AudioError
from reflector.audio.multitrack import PaddedTrack, mix_tracks
from reflector.db import repository
from reflector.db.tables import ParticipantRow
from reflector.domain import Word
from reflector.domain.events import (
    DurationData,
    DurationEvent,
    FileWordsData,
    ParticipantsData,
    ParticipantsEvent,
    SegmentsData,
    SegmentsEvent,
    TranscriptWordsEvent,
    WaveformData,
    WaveformEvent,
)
from reflector.domain.status import TranscriptStatus
from reflector.domain.summary import Participant
from reflector.errors import BadInputError
from reflector.pipelines.multitrack import (
    TrackRecognition,
    TrackSource,
    TracksRecognition,
    assemble_transcript,
    damaged_notes,
    load_track_engine,
    pad_tracks,
    recognize_tracks,
    track_workers,
)
from reflector.pipelines.speaker_turns import store_turns
from reflector.pipelines.stages import STAGE_FUNCTIONS, StageContext, StageFailed
from reflector.vad import SpeechRegion, shared_vad

MULTITRACK_STAGES = ("prepare_tracks", "transcribe_tracks", "segments", "summarize", "finish")
_SAFE_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,6}")


def track_names(tracks: list[dict[str, Any]]) -> list[str]:
    return [str(t.get("name") or f"Speaker {i + 1}") for i, t in enumerate(tracks)]


async def _tracks(ctx: StageContext) -> list[dict[str, Any]]:
    row = await ctx.transcript_row()
    if not row.tracks:
        raise StageFailed("this transcript has no tracks to process")
    return list(row.tracks)


async def padded_tracks(ctx: StageContext) -> list[PaddedTrack]:
    """Every track on the meeting timeline, from the blob store: padded once per worker run
    (kept in its work folder), whichever stage asks first."""
    cached = ctx.cache.get("padded_tracks")
    if cached is not None:
        return cached
    tracks = await _tracks(ctx)
    folder = ctx.workdir / "tracks"
    folder.mkdir(exist_ok=True)
    sources = []
    for i, track in enumerate(tracks):
        suffix = Path(str(track["key"])).suffix
        local = folder / f"{i}{suffix if _SAFE_SUFFIX.fullmatch(suffix) else ''}"
        if not local.exists():
            await ctx.blobs.download(str(track["key"]), local)
        offset = track.get("offset")
        sources.append(
            TrackSource(
                local,
                track_names(tracks)[i],
                float(offset) if offset is not None else None,
                track.get("filename"),
            )
        )
    try:
        padded = await asyncio.to_thread(
            pad_tracks,
            sources,
            folder,
            ctx.settings.max_audio_seconds,
            track_workers(len(sources)),
        )
    except (AudioError, BadInputError) as error:
        raise StageFailed(str(error)) from error
    ctx.cache["padded_tracks"] = padded
    return padded


async def _prepare_tracks(ctx: StageContext) -> None:
    """The tracks on one timeline; their mix as the MP3 everyone plays, its waveform and the
    meeting's duration."""
    await ctx.set_status(TranscriptStatus.PROCESSING)
    padded = await padded_tracks(ctx)
    mp3 = ctx.workdir / "audio.mp3"
    mix = await asyncio.to_thread(mix_tracks, [p.chunks() for p in padded], mp3)
    await ctx.blobs.put_file(ctx.key("audio.mp3"), mp3, "audio/mpeg")
    await ctx.update(audio_key=ctx.key("audio.mp3"), duration=mix.duration, waveform=mix.waveform)
    await ctx.emit(DurationEvent(data=DurationData(duration=mix.duration)))
    await ctx.emit(WaveformEvent(data=WaveformData(waveform=mix.waveform)))


async def _transcribe_tracks(ctx: StageContext) -> None:
    padded = await padded_tracks(ctx)
    names = track_names(await _tracks(ctx))
    options = ctx.transcribe_options()
    workers = track_workers(len(padded))
    loop = asyncio.get_running_loop()

    def on_words(words: list[Word]) -> None:
        text = "".join(w.text for w in words).strip()
        ctx.emit_from_thread(loop, TranscriptWordsEvent(data=FileWordsData(text=text, words=words)))

    def work() -> TracksRecognition:
        try:
            engine = load_track_engine(options, ctx.settings.data_dir, workers)
        except ModelError as error:
            raise StageFailed(str(error)) from error
        return recognize_tracks(
            [p.samples() for p in padded], options, engine, shared_vad(), workers,
            on_words=on_words,
        )  # fmt: skip

    recognition = await asyncio.to_thread(work)
    await ctx.put_json(
        "recognition",
        {
            "tracks": [
                {
                    "words": [w.model_dump(mode="json") for w in track.words],
                    "regions": [[r.start, r.end] for r in track.regions],
                    "speech_duration": track.speech_duration,
                    "notes": track.notes,
                }
                for track in recognition.tracks
            ],
            "language": recognition.language,
            "language_probability": recognition.language_probability,
            "notes": damaged_notes(padded, names),
        },
    )
    if recognition.language and not ctx.options.language:
        await ctx.update(source_language=recognition.language)


def _stored_recognition(stored: dict[str, Any]) -> TracksRecognition:
    return TracksRecognition(
        [
            TrackRecognition(
                [Word.model_validate(w) for w in track["words"]],
                [SpeechRegion(start, end) for start, end in track["regions"]],
                track["speech_duration"],
                list(track["notes"]),
            )
            for track in stored["tracks"]
        ],
        stored["language"],
        stored["language_probability"],
    )


async def _segments(ctx: StageContext) -> None:
    """Sentence segments and speaker turns of all tracks, and one participant per track
    (kept as a person set it, if someone renamed it since)."""
    stored = await ctx.get_json("recognition")
    tracks = await _tracks(ctx)
    names = track_names(tracks)
    row = await ctx.transcript_row()
    transcript = assemble_transcript(
        _stored_recognition(stored), names, row.duration, ctx.options.model, stored["notes"]
    )
    await ctx.put_json("transcript", transcript.model_dump(mode="json"))
    await store_turns(ctx.blobs, ctx.transcript_id, transcript.speaker_turns)
    async with ctx.sessions() as session:
        await repository.replace_segments(session, ctx.transcript_id, transcript.segments)
        people = await repository.load_participants(session, ctx.transcript_id)
        named = {p.speaker for p in people if p.speaker is not None}
        session.add_all(
            ParticipantRow(
                transcript_id=ctx.transcript_id,
                speaker=i,
                name=names[i],
                user_id=track.get("user_id"),
                confidence=1.0,
                source="user",  # who speaks on a track is known, never guessed
            )
            for i, track in enumerate(tracks)
            if i not in named
        )
        row = await repository.get_transcript(session, ctx.transcript_id, None)
        row.notes = transcript.notes
        await session.commit()
        people = await repository.load_participants(session, ctx.transcript_id)
    await ctx.emit(SegmentsEvent(data=SegmentsData(segments=transcript.segments)))
    participants = [
        Participant(speaker=p.speaker, name=p.name, confidence=1.0, source="override")
        for p in people
        if p.speaker is not None
    ]
    await ctx.emit(ParticipantsEvent(data=ParticipantsData(participants=participants)))


MULTITRACK_STAGE_FUNCTIONS: dict[str, Callable[[StageContext], Awaitable[None]]] = {
    "prepare_tracks": _prepare_tracks,
    "transcribe_tracks": _transcribe_tracks,
    "segments": _segments,
    "summarize": STAGE_FUNCTIONS["summarize"],
    "finish": STAGE_FUNCTIONS["finish"],
}

"""Multitrack transcription: one recording per participant in, one transcript out, whose
speakers are the tracks (no diarization: who speaks is known).

pad every track onto the meeting timeline → voice detection per track (digital silence
skipped) → the language, once, from the track with the most speech → the same recogniser as
single files on each track, several at once → each track's words in sentence segments, all
segments in time order → summary.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import structlog

from reflector.asr import WhisperEngine, load_whisper, pack_windows, resolve_model
from reflector.audio import SAMPLE_RATE
from reflector.audio.multitrack import PaddedTrack, pad_track, probe_track
from reflector.domain import SpeakerProfile, Transcript, Turn, Word, build_segments, join_turns
from reflector.errors import BadInputError
from reflector.intelligence import MeetingWriter
from reflector.pipelines.file import NO_SPEECH_NOTE, TranscribeOptions, add_summary
from reflector.pipelines.file import recognize_speech as recognize_track
from reflector.pipelines.progress import ProgressCallback, StagedProgress
from reflector.vad import SileroVad, SpeechRegion, regions_from_probabilities, shared_vad
from reflector.vad.gated import KnownProbabilities, SilenceSkippingVad

log = structlog.get_logger(__name__)

MAX_TRACKS = 64
"""Most participants in one multitrack recording."""

_STAGES = (
    ("preparing tracks", 5.0),
    ("loading model", 2.0),
    ("detecting speech", 2.0),
    ("transcribing", 85.0),
    ("summarizing", 20.0),
)


class TracksError(BadInputError):
    """A multitrack recording that cannot be used as given (no tracks, too many)."""

    problem_type = "bad-tracks"


@dataclass(frozen=True)
class TrackSource:
    """One participant's recording."""

    path: Path
    name: str
    """Who speaks on it: the speaker's name in the transcript."""
    offset: float | None = None
    """Seconds from the meeting's start to the track's start; ``None``: from the file."""
    original_name: str | None = None
    """The file's name on the platform, when it is stored under another (Daily's names say
    when a track started)."""


def check_track_count(count: int) -> None:
    if count == 0:
        raise TracksError("no tracks: a multitrack recording needs one audio file per participant")
    if count > MAX_TRACKS:
        raise TracksError(f"{count} tracks: at most {MAX_TRACKS} participants are supported")


def track_workers(tracks: int, cpus: int | None = None) -> int:
    """Tracks worked on at once: two cores per track, at most one per track."""
    cpus = cpus or os.cpu_count() or 1
    return max(1, min(tracks, cpus // 2))


def load_track_engine(options: TranscribeOptions, data_dir: Path, workers: int) -> WhisperEngine:
    """Whisper with one replica per worker, the cores shared among them (one worker: the
    same shared model as single files)."""
    location = resolve_model(options.model, data_dir)
    threads = options.cpu_threads
    if workers > 1 and threads == 0:
        threads = max(1, (os.cpu_count() or 1) // workers)
    return load_whisper(location, options.device, options.compute_type, threads, workers)


# --- padding ---------------------------------------------------------------------------------


def pad_tracks(
    sources: Sequence[TrackSource],
    folder: Path,
    max_seconds: float | None = None,
    workers: int = 1,
    on_progress: Callable[[float], None] | None = None,
) -> list[PaddedTrack]:
    """Every track on the meeting timeline, as raw float32 files in ``folder``.

    Each file is checked first (it opens, it has audio), so a bad one is reported by name
    before anything long starts.
    """
    check_track_count(len(sources))
    infos = [probe_track(s.path, s.offset, s.original_name) for s in sources]
    done = [0]
    lock = threading.Lock()

    def pad(index: int) -> PaddedTrack:
        padded = pad_track(infos[index], folder / f"track-{index}.f32", max_seconds)
        with lock:
            done[0] += 1
            if on_progress:
                on_progress(done[0] / len(infos))
        return padded

    with ThreadPoolExecutor(max(1, workers)) as pool:
        return list(pool.map(pad, range(len(infos))))


# --- recognition -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackRecognition:
    """What the recogniser found on one track; the words carry the track's speaker number."""

    words: list[Word]
    regions: list[SpeechRegion]
    speech_duration: float
    notes: list[str]


@dataclass(frozen=True)
class TracksRecognition:
    tracks: list[TrackRecognition]
    language: str | None
    language_probability: float | None


def _with_speaker(words: list[Word], speaker: int) -> list[Word]:
    return [w.model_copy(update={"speaker": speaker}) for w in words]


def recognize_tracks(
    tracks: Sequence[np.ndarray],
    options: TranscribeOptions,
    engine: WhisperEngine,
    vad: SileroVad,
    workers: int = 1,
    on_stage: Callable[[str, float], None] | None = None,
    on_words: Callable[[list[Word]], None] | None = None,
) -> TracksRecognition:
    """Words of every padded track (16 kHz mono float32 on the meeting timeline); track ``i``
    is speaker ``i``. ``on_words`` gets each window's words as they are decoded (from worker
    threads, one call at a time)."""
    report = on_stage or (lambda _stage, _done: None)
    gate = SilenceSkippingVad(vad)
    lock = threading.Lock()
    with ThreadPoolExecutor(max(1, workers)) as pool:
        report("detecting speech", 0.0)
        probabilities = list(pool.map(gate.probabilities, tracks))
        report("detecting speech", 1.0)
        regions = [
            regions_from_probabilities(p, len(t) / SAMPLE_RATE, options.vad)
            for p, t in zip(probabilities, tracks, strict=True)
        ]
        speech = [sum(r.duration for r in rs) for rs in regions]
        language, probability = options.language, (1.0 if options.language else None)
        if language is None and any(speech):
            # One language for the meeting, from whoever speaks most: a participant who
            # says two words would be a poor judge.
            best = int(np.argmax(speech))
            windows = pack_windows(regions[best], probabilities[best])
            language, probability = engine.detect_language(tracks[best], windows)
        chosen = replace(options, language=language)
        done = [0.0] * len(tracks)
        total = sum(speech) or 1.0

        def progress(index: int, stage: str, fraction: float) -> None:
            if stage != "transcribing":
                return
            with lock:
                done[index] = fraction
                report(
                    "transcribing", sum(d * s for d, s in zip(done, speech, strict=True)) / total
                )

        def one(index: int) -> TrackRecognition:
            samples = tracks[index]

            def words_out(words: list[Word]) -> None:
                if on_words:
                    with lock:
                        on_words(_with_speaker(words, index))

            result = recognize_track(
                samples,
                len(samples) / SAMPLE_RATE,
                chosen,
                # Its own batched pipeline (it keeps state between calls) over the shared
                # model, whose replicas serve the threads.
                WhisperEngine(engine.model, engine.location),
                KnownProbabilities(probabilities[index]),  # type: ignore[arg-type]
                on_stage=lambda stage, fraction: progress(index, stage, fraction),
                on_words=words_out,
            )
            notes = [n for n in result.notes if n != NO_SPEECH_NOTE]
            return TrackRecognition(
                _with_speaker(result.words, index),
                result.regions,
                result.speech_duration,
                notes,
            )

        recognized = list(pool.map(one, range(len(tracks))))
    report("transcribing", 1.0)
    log.info(
        "tracks transcribed",
        tracks=len(tracks),
        words=[len(t.words) for t in recognized],
        language=language,
    )
    return TracksRecognition(recognized, language, probability)


# --- the transcript --------------------------------------------------------------------------


def assemble_transcript(
    recognition: TracksRecognition,
    names: Sequence[str],
    duration: float,
    model: str | None = None,
    notes: Sequence[str] = (),
) -> Transcript:
    """One transcript: each track's words in sentence segments (a sentence never mixes two
    people, even when they talk at once), all segments in time order, speaker ``i`` named
    ``names[i]``."""
    if len(names) != len(recognition.tracks):
        raise ValueError("one name per track")
    segments = sorted(
        (segment for track in recognition.tracks for segment in build_segments(track.words)),
        key=lambda s: (s.start, s.end, s.speaker or 0),
    )
    turns = join_turns(
        Turn(start=round(r.start, 3), end=round(r.end, 3), speaker=i)
        for i, track in enumerate(recognition.tracks)
        for r in track.regions
        if r.end > r.start
    )
    all_notes = list(notes)
    for i, track in enumerate(recognition.tracks):
        all_notes += track.notes
        if not track.words:
            all_notes.append(f"No speech was recognised on the track of {names[i]}.")
    if not segments:
        all_notes.append(NO_SPEECH_NOTE)
    return Transcript(
        language=recognition.language,
        language_probability=recognition.language_probability,
        duration=round(duration, 3),
        speech_duration=round(sum(t.speech_duration for t in recognition.tracks), 3),
        segments=segments,
        model=model,
        speaker_names=dict(enumerate(names)),
        speaker_profiles=[
            SpeakerProfile(speaker=i, speaking_time=round(t.speech_duration, 3))
            for i, t in enumerate(recognition.tracks)
        ],
        speaker_turns=turns,
        notes=all_notes,
    )


def damaged_notes(padded: Sequence[PaddedTrack], names: Sequence[str]) -> list[str]:
    return [
        f"{p.decode_errors} damaged audio packet(s) on the track of {name} could not be "
        "decoded; they are silent in the transcript."
        for p, name in zip(padded, names, strict=True)
        if p.decode_errors
    ]


def transcribe_tracks(
    sources: Sequence[TrackSource],
    options: TranscribeOptions,
    data_dir: Path,
    on_progress: ProgressCallback | None = None,
    engine: WhisperEngine | None = None,
    vad: SileroVad | None = None,
    load_writer: Callable[[], MeetingWriter] | None = None,
    workers: int | None = None,
    workdir: Path | None = None,
) -> Transcript:
    """Transcribe a multitrack recording; raises AudioError (naming the file) for a track
    that cannot be used, TracksError for none or too many, ModelError for a missing model.

    The padded tracks are kept in a temporary folder (in ``workdir`` if given; about 230 MB
    per track-hour) and mapped into memory, never loaded whole.
    """
    check_track_count(len(sources))
    names = [source.name for source in sources]
    workers = workers or track_workers(len(sources))
    progress = StagedProgress(_STAGES, on_progress)
    with tempfile.TemporaryDirectory(prefix="reflector-tracks-", dir=workdir) as folder:
        # The tracks first: a file that cannot be used is reported before a model loads.
        padded = pad_tracks(
            sources,
            Path(folder),
            options.max_audio_seconds,
            workers,
            on_progress=lambda done: progress.report("preparing tracks", done),
        )
        duration = max(p.end for p in padded)
        progress.report("loading model", 0.0)
        engine = engine or load_track_engine(options, data_dir, workers)
        progress.report("loading model", 1.0)
        recognition = recognize_tracks(
            [p.samples() for p in padded],
            options,
            engine,
            vad or shared_vad(),
            workers,
            on_stage=progress.report,
        )
    transcript = assemble_transcript(
        recognition, names, duration, engine.name, damaged_notes(padded, names)
    )
    if transcript.segments and options.wants_summary(duration):
        writer = load_writer() if load_writer else None
        progress.report("summarizing", 0.0)
        summary_options = replace(
            options.summary,
            speaker_names={**transcript.speaker_names, **options.summary.speaker_names},
        )
        transcript = add_summary(
            transcript,
            summary_options,
            writer,
            on_progress=lambda done: progress.report("summarizing", done),
        )
    progress.report("summarizing", 1.0)
    return transcript

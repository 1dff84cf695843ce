"""File transcription: decode → detect speech → batched Whisper → speakers → segments → summary."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from reflector.asr import (
    AsrConfig,
    AsrOptions,
    WhisperEngine,
    load_whisper,
    pack_windows,
    resolve_model,
)
from reflector.asr.whisper import AsrStats
from reflector.audio import DecodedAudio, decode_file
from reflector.diarization import (
    DiarizationError,
    DiarizationOptions,
    DiarizationResult,
    Diarizer,
    label_words,
    make_diarizer,
)
from reflector.domain import (
    SpeakerProfile,
    Topic,
    Transcript,
    Turn,
    Word,
    build_segments,
    join_turns,
    make_monotonic,
)
from reflector.intelligence import MeetingWriter, SummaryOptions, summarize_meeting
from reflector.pipelines.progress import ProgressCallback, StagedProgress
from reflector.vad import (
    SileroVad,
    SpeechRegion,
    VadOptions,
    regions_from_probabilities,
    shared_vad,
)

log = structlog.get_logger(__name__)

NO_SPEECH_NOTE = "No speech was detected in this recording."
AUTO_SUMMARY_SECONDS = 60.0
"""Recordings longer than this are summarised unless asked otherwise."""


@dataclass(frozen=True)
class TranscribeOptions:
    model: str = "base"
    language: str | None = None
    """ISO code, or ``None`` to detect it."""
    task: str = "transcribe"
    beam_size: int = 5
    batch_size: int = 4
    device: str = "cpu"
    compute_type: str = "auto"
    cpu_threads: int = 0
    vad: VadOptions = field(default_factory=VadOptions)
    diarize: bool = True
    speakers: DiarizationOptions = field(default_factory=DiarizationOptions)
    summarize: bool | None = None
    """Topics, title, summaries and names; ``None``: for recordings over a minute."""
    summary: SummaryOptions = field(default_factory=SummaryOptions)
    max_audio_seconds: float | None = None
    """Longest recording decoded; a longer one is refused early. ``None``: no limit."""

    @classmethod
    def for_asr(cls, asr: AsrConfig, **choices: Any) -> TranscribeOptions:
        """Options that run Whisper as ``asr`` says; ``choices`` set the other fields.

        Every field of :class:`AsrConfig` is a field of these options, by the same name.
        """
        return cls(**asdict(asr), **choices)

    def wants_summary(self, duration: float) -> bool:
        return self.summarize if self.summarize is not None else duration > AUTO_SUMMARY_SECONDS


# Relative cost of each stage on a CPU, so the overall bar moves at an even pace.
_STAGES = (
    ("loading model", 2.0),
    ("decoding", 4.0),
    ("detecting speech", 1.0),
    ("transcribing", 85.0),
    ("identifying speakers", 8.0),
    ("summarizing", 20.0),
)


def damaged_audio_notes(audio: DecodedAudio) -> list[str]:
    """The transcript's notes on a damaged file whose readable audio was kept: packets
    skipped, or much less audio than the container states (the rest unreadable)."""
    notes = []
    if audio.decode_errors:
        notes.append(
            f"{audio.decode_errors} damaged audio packet(s) could not be decoded and were skipped."
        )
    stated = audio.info.duration
    if stated and audio.duration < 0.9 * stated - 1.0:
        notes.append(
            f"Only {audio.duration:.0f} s of audio could be decoded, though the file states "
            f"{stated:.0f} s: the rest is damaged, or the stated length (an estimate in some "
            "files) is wrong."
        )
    return notes


def load_engine(options: TranscribeOptions, data_dir: Path) -> WhisperEngine:
    location = resolve_model(options.model, data_dir)
    return load_whisper(location, options.device, options.compute_type, options.cpu_threads)


def transcribe_file(
    path: str | os.PathLike[str],
    options: TranscribeOptions,
    data_dir: Path,
    on_progress: ProgressCallback | None = None,
    engine: WhisperEngine | None = None,
    vad: SileroVad | None = None,
    diarizer: Diarizer | None = None,
    load_writer: Callable[[], MeetingWriter] | None = None,
    on_words: Callable[[list[Word]], None] | None = None,
) -> Transcript:
    """Transcribe one recording; raises AudioError / ModelError with messages for people.

    ``load_writer`` gives the summary writer; it is called only when a summary is wanted, so an
    LLM is not loaded for short clips. Without it summaries are extractive. ``on_words`` gets
    each window's words as soon as they are decoded (for streaming answers).
    """
    progress = StagedProgress(_STAGES, on_progress)
    progress.report("loading model", 0.0)
    engine = engine or load_engine(options, data_dir)
    progress.report("loading model", 1.0)

    audio = decode_file(
        path,
        on_progress=lambda done: progress.report("decoding", done),
        max_seconds=options.max_audio_seconds,
    )
    samples = audio.samples
    duration = audio.duration
    notes = damaged_audio_notes(audio)

    recognition = recognize_speech(
        samples,
        duration,
        options,
        engine,
        vad or shared_vad(),
        on_stage=progress.report,
        on_words=on_words,
    )
    notes += recognition.notes
    words, profiles, turns = recognition.words, [], []
    if options.diarize and words:
        progress.report("identifying speakers", 0.0)
        words, profiles, turns, note = identify_speakers(
            words, samples, recognition.regions, options, diarizer or make_diarizer("local")
        )
        notes += [note] if note else []
        progress.report("identifying speakers", 1.0)
    segments = build_segments(words)
    if not segments and NO_SPEECH_NOTE not in notes:
        notes.append(NO_SPEECH_NOTE)
    transcript = Transcript(
        language=recognition.language,
        language_probability=recognition.language_probability,
        duration=round(duration, 3),
        speech_duration=round(recognition.speech_duration, 3),
        segments=segments,
        model=engine.name,
        speaker_profiles=profiles,
        speaker_turns=turns,
        notes=notes,
    )
    if segments and options.wants_summary(duration):
        writer = load_writer() if load_writer else None
        progress.report("summarizing", 0.0)
        transcript = add_summary(
            transcript,
            options.summary,
            writer,
            on_progress=lambda done: progress.report("summarizing", done),
        )
    progress.report("summarizing", 1.0)
    return transcript


@dataclass(frozen=True)
class Recognition:
    """What speech recognition found: timed words, where the speech is, and the language."""

    words: list[Word]
    regions: list[SpeechRegion]
    language: str | None
    language_probability: float | None
    speech_duration: float
    notes: list[str]


def recognize_speech(
    samples: np.ndarray,
    duration: float,
    options: TranscribeOptions,
    engine: WhisperEngine,
    vad: SileroVad,
    on_stage: Callable[[str, float], None] | None = None,
    on_words: Callable[[list[Word]], None] | None = None,
) -> Recognition:
    """Voice detection, then batched Whisper over the speech windows.

    ``on_stage(stage, fraction)`` reports ``detecting speech`` and ``transcribing``;
    ``on_words`` receives each window's words as soon as they are decoded (live progress).
    """
    report = on_stage or (lambda _stage, _done: None)
    report("detecting speech", 0.0)
    probs = vad.probabilities(samples)
    regions = regions_from_probabilities(probs, duration, options.vad)
    speech_duration = sum(r.duration for r in regions)
    windows = pack_windows(regions, probs)
    report("detecting speech", 1.0)
    log.info("speech detected", regions=len(regions), windows=len(windows), seconds=speech_duration)
    if not windows:
        report("transcribing", 1.0)
        return Recognition([], regions, options.language, None, 0.0, [NO_SPEECH_NOTE])

    language, language_probability = options.language, 1.0
    if language is None:
        language, language_probability = engine.detect_language(samples, windows)
    asr_options = AsrOptions(
        language=language,
        task=options.task,  # type: ignore[arg-type]
        beam_size=options.beam_size,
        batch_size=options.batch_size,
    )
    stats = AsrStats()
    words: list[Word] = []
    for window_words in engine.transcribe(
        samples,
        windows,
        asr_options,
        on_window=lambda done: report("transcribing", done / len(windows)),
        stats=stats,
    ):
        words.extend(window_words)
        if on_words and window_words:
            on_words(window_words)
    log.info(
        "transcribed",
        windows=stats.windows,
        retried=stats.retried_windows,
        rescued=stats.rescued_pieces,
    )
    words = make_monotonic(words, duration)
    return Recognition(words, regions, language, language_probability, speech_duration, [])


def identify_speakers(
    words: list[Word],
    samples: np.ndarray,
    regions: list[SpeechRegion],
    options: TranscribeOptions,
    diarizer: Diarizer,
) -> tuple[list[Word], list[SpeakerProfile], list[Turn], str | None]:
    """Words labelled with speakers, one profile per speaker, the speaker turns (numbered like
    the words) and a note if it failed."""
    try:
        result = diarizer.diarize(samples, regions, options.speakers)
    except DiarizationError as exc:
        # The words are still right; say why speakers are missing rather than fail.
        return words, [], [], f"Speakers could not be identified: {exc}"
    labelled, profiles, turns = _label_speakers(words, result)
    return labelled, profiles, turns, None


def add_summary(
    transcript: Transcript,
    options: SummaryOptions,
    writer: MeetingWriter | None,
    on_progress: Callable[[float], None] | None = None,
    on_topic: Callable[[Topic], None] | None = None,
) -> Transcript:
    """Add the summary and put the names people said on the speakers."""
    summary = summarize_meeting(
        transcript, writer, options, on_progress=on_progress, on_topic=on_topic
    )
    log.info("summarized", backend=summary.backend, topics=len(summary.topics), s=summary.seconds)
    return transcript.model_copy(
        update={"summary": summary, "speaker_names": {**summary.speaker_names}}
    )


def _label_speakers(
    words: list[Word], result: DiarizationResult
) -> tuple[list[Word], list[SpeakerProfile], list[Turn]]:
    """Give words their speakers, keep one profile (time, voice print) per speaker and the
    diarizer's turns, renumbered like the words."""
    words, result = label_words(words, result)
    # The diarizer's own regions cover the speech between words too (what a speaker-timing
    # score counts); a remote server may cut one turn in pieces, so touching ones are joined.
    turns = join_turns(
        Turn(start=round(t.start, 3), end=round(t.end, 3), speaker=t.speaker)
        for t in result.turns
        if t.end > t.start
    )
    speaking_time = result.speaking_time()
    profiles = [
        SpeakerProfile(
            speaker=speaker,
            speaking_time=round(speaking_time.get(speaker, 0.0), 3),
            embedding=[round(float(x), 6) for x in result.embeddings[speaker]]
            if speaker in result.embeddings
            else None,
        )
        for speaker in sorted(result.speakers)
    ]
    return words, profiles, turns

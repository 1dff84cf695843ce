"""File transcription: decode → detect speech → batched Whisper → speakers → segments."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from reflector.asr import AsrOptions, WhisperEngine, load_whisper, pack_windows, resolve_model
from reflector.asr.whisper import AsrStats
from reflector.audio import decode_file
from reflector.diarization import (
    DiarizationError,
    DiarizationOptions,
    DiarizationResult,
    Diarizer,
    label_words,
    make_diarizer,
)
from reflector.domain import SpeakerProfile, Transcript, Word, build_segments, make_monotonic
from reflector.pipelines.progress import ProgressCallback, StagedProgress
from reflector.vad import SileroVad, VadOptions, regions_from_probabilities

log = structlog.get_logger(__name__)

NO_SPEECH_NOTE = "No speech was detected in this recording."


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


# Relative cost of each stage on a CPU, so the overall bar moves at an even pace.
_STAGES = (
    ("loading model", 2.0),
    ("decoding", 4.0),
    ("detecting speech", 1.0),
    ("transcribing", 85.0),
    ("identifying speakers", 8.0),
)


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
) -> Transcript:
    """Transcribe one recording; raises AudioError / ModelError with messages for people."""
    progress = StagedProgress(_STAGES, on_progress)
    progress.report("loading model", 0.0)
    engine = engine or load_engine(options, data_dir)
    progress.report("loading model", 1.0)

    audio = decode_file(path, on_progress=lambda done: progress.report("decoding", done))
    samples = audio.samples
    duration = audio.duration
    notes: list[str] = []
    if audio.decode_errors:
        notes.append(
            f"{audio.decode_errors} damaged audio packet(s) could not be decoded and were skipped."
        )

    progress.report("detecting speech", 0.0)
    vad = vad or SileroVad()
    probs = vad.probabilities(samples)
    regions = regions_from_probabilities(probs, duration, options.vad)
    speech_duration = sum(r.duration for r in regions)
    windows = pack_windows(regions, probs)
    progress.report("detecting speech", 1.0)
    log.info("speech detected", regions=len(regions), windows=len(windows), seconds=speech_duration)

    if not windows:
        progress.report("transcribing", 1.0)
        return Transcript(
            language=options.language,
            duration=round(duration, 3),
            model=engine.name,
            notes=[*notes, NO_SPEECH_NOTE],
        )

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
    words = []
    for window_words in engine.transcribe(
        samples,
        windows,
        asr_options,
        on_window=lambda done: progress.report("transcribing", done / len(windows)),
        stats=stats,
    ):
        words.extend(window_words)
    log.info(
        "transcribed",
        windows=stats.windows,
        retried=stats.retried_windows,
        rescued=stats.rescued_pieces,
    )

    words = make_monotonic(words, duration)
    profiles: list[SpeakerProfile] = []
    if options.diarize and words:
        progress.report("identifying speakers", 0.0)
        try:
            result = (diarizer or make_diarizer("local")).diarize(
                samples, regions, options.speakers
            )
            words, profiles = _label_speakers(words, result)
        except DiarizationError as exc:
            # The words are still right; say why speakers are missing rather than fail.
            notes.append(f"Speakers could not be identified: {exc}")
        progress.report("identifying speakers", 1.0)
    segments = build_segments(words)
    if not segments:
        notes.append(NO_SPEECH_NOTE)
    return Transcript(
        language=language,
        language_probability=language_probability,
        duration=round(duration, 3),
        speech_duration=round(speech_duration, 3),
        segments=segments,
        model=engine.name,
        speaker_profiles=profiles,
        notes=notes,
    )


def _label_speakers(
    words: list[Word], result: DiarizationResult
) -> tuple[list[Word], list[SpeakerProfile]]:
    """Give words their speakers and keep one profile (time, voice print) per speaker."""
    words, result = label_words(words, result)
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
    return words, profiles

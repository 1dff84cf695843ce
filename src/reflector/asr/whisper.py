"""Batched Whisper inference with faster-whisper over packed windows, with hallucination guards."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import structlog

from reflector.asr.config import AsrConfig
from reflector.asr.registry import ModelLocation
from reflector.asr.windows import Window
from reflector.domain import Word
from reflector.vad import SpeechRegion

log = structlog.get_logger(__name__)

SAMPLE_RATE = 16_000
# Whisper's own quality gates (as in the reference implementation): text that compresses too
# well is a repetition loop; a low log-probability with a high no-speech probability is noise.
COMPRESSION_RATIO_LIMIT = 2.4
LOGPROB_LIMIT = -1.0
NO_SPEECH_LIMIT = 0.6
_FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
_LANGUAGE_PROBE_WINDOWS = 3
# A packed speech piece this long with fewer words than this per second is decoded again.
RESCUE_MIN_SECONDS = 1.0
RESCUE_MIN_WORDS_PER_SECOND = 0.8
# A stretch of packed speech this long without a word is decoded again on its own, with a
# little audio either side, for up to this many rounds (what a second decode still misses).
GAP_MIN_SECONDS = 1.0
GAP_MARGIN_SECONDS = 0.2
GAP_ROUNDS = 3
# Where Whisper jumps over speech, word alignment stretches a neighbouring word across it: a
# word this long is taken to cover nothing.
MAX_WORD_SECONDS = 1.2


@dataclass(frozen=True)
class AsrOptions:
    language: str | None = None
    """ISO code such as ``en``; ``None`` detects it (multilingual models)."""
    task: Literal["transcribe", "translate"] = "transcribe"
    beam_size: int = 5
    batch_size: int = 4
    initial_prompt: str | None = None
    hotwords: str | None = None


@dataclass
class AsrStats:
    windows: int = 0
    retried_windows: int = 0
    dropped_segments: int = 0
    rescued_pieces: int = 0
    filled_gaps: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class _Batch:
    """Windows decoded together and their words so far, which second looks may improve."""

    samples: np.ndarray
    windows: list[Window]
    words: list[list[Word]]

    def replace_if_more(self, index: int, new: list[Word], inside: Callable[[Word], bool]) -> bool:
        """Put ``new`` in place of window ``index``'s words ``inside`` a stretch if it has more."""
        words = self.words[index]
        if len(new) <= sum(1 for w in words if inside(w)):
            return False
        kept = [w for w in words if not inside(w)]
        self.words[index] = sorted(kept + new, key=lambda w: w.start)
        return True


_model_cache: dict[tuple[str, str, str, int, int], object] = {}
_model_cache_lock = threading.Lock()


def load_whisper(
    location: ModelLocation,
    device: str = "cpu",
    compute_type: str = "auto",
    cpu_threads: int = 0,
    replicas: int = 1,
) -> WhisperEngine:
    """Load a model once per process and share it (CTranslate2 models are thread-safe).

    ``replicas``: copies of the model that run at the same time for calls from different
    threads (more take more memory); with one, such calls wait for each other."""
    from faster_whisper import WhisperModel

    if device == "auto":
        import ctranslate2

        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    if compute_type == "auto":
        # int8 is the fastest exact-enough choice on CPUs; GPUs want half precision.
        compute_type = "int8" if device == "cpu" else "float16"

    key = (str(location.path), device, compute_type, cpu_threads, replicas)
    with _model_cache_lock:
        model = _model_cache.get(key)
        if model is None:
            model = WhisperModel(
                str(location.path),
                device=device,
                compute_type=compute_type,
                cpu_threads=cpu_threads,
                num_workers=replicas,
                local_files_only=True,
            )
            _model_cache[key] = model
    return WhisperEngine(model, location)


def load_whisper_for(
    config: AsrConfig, location: ModelLocation, replicas: int = 1
) -> WhisperEngine:
    """:func:`load_whisper` on the device, compute type and threads ``config`` names."""
    return load_whisper(location, config.device, config.compute_type, config.cpu_threads, replicas)


class WhisperEngine:
    """Transcribes windows of 16 kHz mono float32 audio into timed words."""

    def __init__(self, model: object, location: ModelLocation) -> None:
        from faster_whisper import BatchedInferencePipeline

        self.model = model
        self.location = location
        self._batched = BatchedInferencePipeline(model)

    @property
    def name(self) -> str:
        return self.location.name

    def detect_language(self, samples: np.ndarray, windows: Sequence[Window]) -> tuple[str, float]:
        """Average language probabilities over the longest few windows (one can mislead)."""
        if not self.location.multilingual:
            return "en", 1.0
        probe = sorted(windows, key=lambda w: w.duration, reverse=True)[:_LANGUAGE_PROBE_WINDOWS]
        totals: dict[str, float] = {}
        for window in probe:
            _, _, all_probs = self.model.detect_language(audio=window.audio(samples))
            for language, probability in all_probs:
                totals[language] = totals.get(language, 0.0) + probability / len(probe)
        language = max(totals, key=totals.__getitem__)
        return language, round(totals[language], 4)

    def transcribe(
        self,
        samples: np.ndarray,
        windows: Sequence[Window],
        options: AsrOptions,
        on_window: Callable[[int], None] | None = None,
        stats: AsrStats | None = None,
    ) -> Iterator[list[Word]]:
        """Yield each window's words in recording time, one batch of windows at a time."""
        if options.language is None:
            raise ValueError("detect the language first (AsrOptions.language is None)")
        stats = stats or AsrStats()
        done = 0
        for first in range(0, len(windows), options.batch_size):
            chosen = list(windows[first : first + options.batch_size])
            batch = _Batch(samples, chosen, self._decode_windows(samples, chosen, options, stats))
            self._rescue_missed_pieces(batch, options, stats)
            self._fill_gaps(batch, options, stats)
            for words in batch.words:
                stats.windows += 1
                done += 1
                yield words
                if on_window:
                    on_window(done)

    def _decode_windows(
        self, samples: np.ndarray, batch: list[Window], options: AsrOptions, stats: AsrStats
    ) -> list[list[Word]]:
        """Batched decoding, gated: failing windows are decoded again with fallback."""
        results = []
        for window, segments in zip(
            batch, self._decode_batch(samples, batch, options), strict=True
        ):
            if any(_looks_hallucinated(s) for s in segments):
                stats.retried_windows += 1
                segments = self._decode_with_fallback(window.audio(samples), options)
            kept = [s for s in segments if not _looks_hallucinated(s)]
            stats.dropped_segments += len(segments) - len(kept)
            results.append(
                [
                    _word_in_recording_time(w, window)
                    for s in kept
                    for w in (s.words or [])
                    if w.word.strip()
                ]
            )
        return results

    def _rescue_missed_pieces(self, batch: _Batch, options: AsrOptions, stats: AsrStats) -> None:
        """Decode again, on its own, any packed speech piece that came back (nearly) empty.

        Without timestamps Whisper sometimes stops early in a packed window or skips a quiet
        voice; a piece with far fewer words than speech has gets a second, undistracted look.
        """
        missed = [
            (index, piece)
            for index, window in enumerate(batch.windows)
            for piece in window.pieces
            if piece.duration >= RESCUE_MIN_SECONDS
            and len(_words_in(batch.words[index], piece))
            < RESCUE_MIN_WORDS_PER_SECOND * piece.duration
        ]
        for first in range(0, len(missed), options.batch_size):
            chunk = missed[first : first + options.batch_size]
            alone = [Window((piece,)) for _, piece in chunk]
            rescued = self._decode_windows(batch.samples, alone, options, stats)
            for (index, piece), words in zip(chunk, rescued, strict=True):
                if batch.replace_if_more(index, words, lambda w, piece=piece: _inside(w, piece)):
                    stats.rescued_pieces += 1

    def _fill_gaps(self, batch: _Batch, options: AsrOptions, stats: AsrStats) -> None:
        """Decode again the stretches of a window's speech that no word covers.

        Without timestamps, Whisper often ends a window early or jumps over a stretch, most
        of all where another voice takes over. Sequential Whisper carries on from its last
        timestamp; a batched window gets no second look, so a whole turn could vanish while
        the piece around it still had plenty of words. A stretch without words (or under one
        implausibly long word, which is how alignment spans skipped speech) is decoded on its
        own, and its words replace those inside it when there are more of them; what that
        decode misses in turn gets another round.
        """
        tried: set[tuple[int, float, float]] = set()
        for _ in range(GAP_ROUNDS):
            gaps = [
                (index, start, end)
                for index, window in enumerate(batch.windows)
                for start, end in _uncovered(window, batch.words[index])
                if (index, round(start, 1), round(end, 1)) not in tried
            ]
            if not gaps:
                return
            for first in range(0, len(gaps), options.batch_size):
                chunk = gaps[first : first + options.batch_size]
                for index, start, end in chunk:
                    tried.add((index, round(start, 1), round(end, 1)))
                spans = [
                    batch.windows[index].span(start - GAP_MARGIN_SECONDS, end + GAP_MARGIN_SECONDS)
                    for index, start, end in chunk
                ]
                found = self._decode_windows(batch.samples, [s for s in spans if s], options, stats)
                todo = [gap for gap, span in zip(chunk, spans, strict=True) if span]
                for (index, start, end), words in zip(todo, found, strict=True):
                    window = batch.windows[index]

                    def inside(word: Word, window: Window = window, a=start, b=end) -> bool:
                        return a <= window.to_window_time((word.start + word.end) / 2) < b

                    if batch.replace_if_more(index, [w for w in words if inside(w)], inside):
                        stats.filled_gaps += 1

    def _decode_batch(
        self, samples: np.ndarray, batch: list[Window], options: AsrOptions
    ) -> list[list]:
        """Run one batched forward pass; returns each window's segments in window-local time."""
        pieces = [w.audio(samples) for w in batch]
        bounds = np.cumsum([0] + [len(p) for p in pieces]) / SAMPLE_RATE
        clips = [{"start": float(a), "end": float(b)} for a, b in itertools.pairwise(bounds)]
        segments, _ = self._batched.transcribe(
            np.concatenate(pieces),
            language=options.language,
            task=options.task,
            beam_size=options.beam_size,
            batch_size=len(batch),
            word_timestamps=True,
            vad_filter=False,
            clip_timestamps=clips,
            initial_prompt=options.initial_prompt,
            hotwords=options.hotwords,
        )
        per_window: list[list] = [[] for _ in batch]
        starts = bounds[:-1]
        for segment in segments:
            # The midpoint, not the start: faster-whisper rounds times to the millisecond, so a
            # segment starting exactly at its clip can appear to start in the previous one.
            middle = (segment.start + segment.end) / 2
            index = int(np.searchsorted(starts, middle, side="right") - 1)
            offset = float(starts[index])
            per_window[index].append(_shift_segment(segment, -offset))
        return per_window

    def _decode_with_fallback(self, audio: np.ndarray, options: AsrOptions) -> list:
        """Sequential decoding with temperature fallback, for windows that failed the gates."""
        segments, _ = self.model.transcribe(
            audio,
            language=options.language,
            task=options.task,
            beam_size=options.beam_size,
            word_timestamps=True,
            vad_filter=False,
            condition_on_previous_text=False,
            temperature=_FALLBACK_TEMPERATURES,
            compression_ratio_threshold=COMPRESSION_RATIO_LIMIT,
            log_prob_threshold=LOGPROB_LIMIT,
            no_speech_threshold=NO_SPEECH_LIMIT,
            initial_prompt=options.initial_prompt,
            hotwords=options.hotwords,
        )
        return list(segments)


def _uncovered(window: Window, words: list[Word]) -> list[tuple[float, float]]:
    """Stretches of at least GAP_MIN_SECONDS on the window's time line that no word covers."""
    gaps, covered = [], 0.0
    for word in sorted(words, key=lambda w: w.start):
        if word.end - word.start > MAX_WORD_SECONDS:
            continue
        start = window.to_window_time(word.start)
        if start - covered >= GAP_MIN_SECONDS:
            gaps.append((covered, start))
        covered = max(covered, window.to_window_time(word.end))
    if window.duration - covered >= GAP_MIN_SECONDS:
        gaps.append((covered, window.duration))
    return gaps


def _inside(word: Word, piece: SpeechRegion) -> bool:
    return piece.start <= (word.start + word.end) / 2 < piece.end


def _words_in(words: list[Word], piece: SpeechRegion) -> list[Word]:
    return [w for w in words if _inside(w, piece)]


def _looks_hallucinated(segment) -> bool:
    if segment.compression_ratio > COMPRESSION_RATIO_LIMIT:
        return True
    return segment.no_speech_prob > NO_SPEECH_LIMIT and segment.avg_logprob < LOGPROB_LIMIT


def _shift_segment(segment, delta: float):
    words = [replace(w, start=w.start + delta, end=w.end + delta) for w in segment.words or []]
    return replace(segment, start=segment.start + delta, end=segment.end + delta, words=words)


def _word_in_recording_time(word, window: Window) -> Word:
    start = window.to_recording_time(word.start)
    end = max(start, window.to_recording_time(word.end, is_end=True))
    probability = min(max(float(word.probability), 0.0), 1.0)
    return Word(text=word.word, start=round(start, 3), end=round(end, 3), probability=probability)

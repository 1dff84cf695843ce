"""Silero VAD v6 over 32 ms frames, run in blocks so long recordings are never copied whole.

The ONNX file ships inside ``faster-whisper`` (``faster_whisper/assets``); nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000
FRAME_SAMPLES = 512
"""One Silero frame: 32 ms at 16 kHz."""
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
_CONTEXT_SAMPLES = 64
_FRAMES_PER_BLOCK = 1024  # ~33 s per ONNX call: small working memory, same speed


@dataclass(frozen=True)
class SpeechRegion:
    """A stretch of speech, in seconds."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class VadOptions:
    """How frame probabilities become speech regions.

    Hysteresis: speech starts at ``threshold`` and only ends after ``min_silence`` seconds
    below ``neg_threshold``, so short pauses inside a sentence do not split it.
    """

    threshold: float = 0.5
    neg_threshold: float = 0.35
    min_silence: float = 0.3
    min_speech: float = 0.25
    pad: float = 0.2

    def __post_init__(self) -> None:
        if not 0 < self.neg_threshold <= self.threshold < 1:
            raise ValueError("need 0 < neg_threshold <= threshold < 1")
        if min(self.min_silence, self.min_speech, self.pad) < 0:
            raise ValueError("durations must not be negative")


def _default_model_path() -> Path:
    from faster_whisper.utils import get_assets_path

    return Path(get_assets_path()) / "silero_vad_v6.onnx"


@dataclass
class _StreamState:
    """The recurrent state Silero carries from one frame to the next."""

    h: np.ndarray = field(default_factory=lambda: np.zeros((1, 1, 128), dtype=np.float32))
    c: np.ndarray = field(default_factory=lambda: np.zeros((1, 1, 128), dtype=np.float32))
    tail: np.ndarray = field(default_factory=lambda: np.zeros(_CONTEXT_SAMPLES, dtype=np.float32))


class SileroVad:
    """The Silero model loaded once; thread-safe for concurrent calls (ONNX sessions are)."""

    def __init__(self, model_path: Path | None = None, threads: int = 1) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = threads
        options.log_severity_level = 4
        self._session = onnxruntime.InferenceSession(
            str(model_path or _default_model_path()),
            providers=["CPUExecutionProvider"],
            sess_options=options,
        )

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        """Speech probability for each 32 ms frame of 16 kHz mono float32 ``audio``."""
        n_frames = -(-len(audio) // FRAME_SAMPLES)
        out = np.zeros(n_frames, dtype=np.float32)
        state = _StreamState()
        for first in range(0, n_frames, _FRAMES_PER_BLOCK):
            last = min(first + _FRAMES_PER_BLOCK, n_frames)
            block = audio[first * FRAME_SAMPLES : last * FRAME_SAMPLES]
            if len(block) < (last - first) * FRAME_SAMPLES:
                block = np.pad(block, (0, (last - first) * FRAME_SAMPLES - len(block)))
            out[first:last] = self.run_frames(block.reshape(-1, FRAME_SAMPLES), state)
        return out

    def run_frames(self, frames: np.ndarray, state: _StreamState) -> np.ndarray:
        """Probabilities of consecutive ``frames`` (n x 512), carrying ``state`` across calls."""
        # Each frame is fed with the 64 samples before it, as the model was trained.
        context = np.empty((len(frames), _CONTEXT_SAMPLES), dtype=np.float32)
        context[0] = state.tail
        context[1:] = frames[:-1, -_CONTEXT_SAMPLES:]
        batch = np.concatenate([context, frames], axis=1).astype(np.float32, copy=False)
        probs, state.h, state.c = self._session.run(
            None, {"input": batch, "h": state.h, "c": state.c}
        )
        state.tail = frames[-1, -_CONTEXT_SAMPLES:].astype(np.float32).copy()
        return np.asarray(probs).reshape(-1)[: len(frames)]

    def speech_regions(
        self, audio: np.ndarray, options: VadOptions | None = None
    ) -> list[SpeechRegion]:
        probs = self.probabilities(audio)
        return regions_from_probabilities(probs, len(audio) / SAMPLE_RATE, options)


class StreamingVad:
    """Frame probabilities for audio that arrives in pieces of any size (live streams)."""

    def __init__(self, vad: SileroVad) -> None:
        self._vad = vad
        self._state = _StreamState()
        self._pending = np.zeros(0, dtype=np.float32)

    def push(self, audio: np.ndarray) -> np.ndarray:
        """Probabilities of the 32 ms frames completed by ``audio`` (possibly none)."""
        self._pending = np.concatenate([self._pending, np.asarray(audio, dtype=np.float32)])
        whole = len(self._pending) // FRAME_SAMPLES
        if whole == 0:
            return np.zeros(0, dtype=np.float32)
        frames = self._pending[: whole * FRAME_SAMPLES].reshape(-1, FRAME_SAMPLES)
        self._pending = self._pending[whole * FRAME_SAMPLES :]
        return self._vad.run_frames(frames, self._state)


@lru_cache(maxsize=1)
def shared_vad() -> SileroVad:
    """The bundled Silero model, loaded once per process and shared by every job and stream
    (its ONNX session is thread-safe)."""
    return SileroVad()


def regions_from_probabilities(
    probs: np.ndarray, duration: float, options: VadOptions | None = None
) -> list[SpeechRegion]:
    """Turn per-frame probabilities into padded, merged speech regions (seconds)."""
    options = options or VadOptions()
    min_silence_frames = max(1, round(options.min_silence / FRAME_SECONDS))
    raw: list[tuple[int, int]] = []
    start: int | None = None
    silent_since: int | None = None
    for i, p in enumerate(probs):
        if start is None:
            if p >= options.threshold:
                start, silent_since = i, None
            continue
        if p >= options.neg_threshold:
            silent_since = None
        elif silent_since is None:
            silent_since = i
        elif i - silent_since >= min_silence_frames:
            raw.append((start, silent_since))
            start = silent_since = None
    if start is not None:
        raw.append((start, silent_since if silent_since is not None else len(probs)))

    regions: list[SpeechRegion] = []
    for first, last in raw:
        begin = max(0.0, first * FRAME_SECONDS - options.pad)
        end = min(duration, last * FRAME_SECONDS + options.pad)
        if last - first < options.min_speech / FRAME_SECONDS:
            continue
        if regions and begin <= regions[-1].end:
            regions[-1] = SpeechRegion(regions[-1].start, end)
        else:
            regions.append(SpeechRegion(begin, end))
    return regions

"""Loudness: normalise speech to a target level and even it out with a light compressor.

Level is the RMS over *speech*: 20 ms frames quieter than both an absolute floor and 40 dB
under the loudest frame are left out, so pauses between sentences do not drag it down (the
idea of a gated loudness measure, kept simple for one voice).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_FRAME_SECONDS = 0.020
_ABSOLUTE_GATE_DB = -60.0
_RELATIVE_GATE_DB = 40.0
_BLOCK_SECONDS = 0.001
"""The compressor's level detector runs on 1 ms blocks: smooth enough, and fast in numpy."""


@dataclass(frozen=True)
class LoudnessOptions:
    """How synthesized speech is levelled; part of the cache key."""

    target_dbfs: float | None = -20.0
    """RMS over speech to reach, in dBFS; ``None`` leaves the level alone."""
    compress: bool = False
    """Run the compressor before normalising (evens out loud and quiet words)."""
    threshold_dbfs: float = -24.0
    ratio: float = 3.0
    attack_ms: float = 5.0
    release_ms: float = 80.0
    ceiling_dbfs: float = -1.0
    """No sample ends up louder than this (a hard ceiling against clipping)."""

    def __post_init__(self) -> None:
        if self.target_dbfs is not None and not (-70.0 <= self.target_dbfs <= 0.0):
            raise ValueError(f"target_dbfs must be between -70 and 0, got {self.target_dbfs}")
        if not (-60.0 <= self.threshold_dbfs <= 0.0):
            raise ValueError(f"threshold_dbfs must be between -60 and 0, got {self.threshold_dbfs}")
        if not (1.0 <= self.ratio <= 50.0):
            raise ValueError(f"ratio must be between 1 and 50, got {self.ratio}")
        if self.attack_ms <= 0 or self.release_ms <= 0:
            raise ValueError("attack_ms and release_ms must be positive")
        if not (-20.0 <= self.ceiling_dbfs <= 0.0):
            raise ValueError(f"ceiling_dbfs must be between -20 and 0, got {self.ceiling_dbfs}")

    @property
    def active(self) -> bool:
        return self.target_dbfs is not None or self.compress

    def key(self) -> str:
        """A stable text form for cache keys."""
        if not self.active:
            return "off"
        parts = [f"target={self.target_dbfs}", f"ceiling={self.ceiling_dbfs}"]
        if self.compress:
            parts += [
                f"threshold={self.threshold_dbfs}",
                f"ratio={self.ratio}",
                f"attack={self.attack_ms}",
                f"release={self.release_ms}",
            ]
        return ",".join(parts)


def _db(value: np.ndarray | float) -> np.ndarray | float:
    return 20.0 * np.log10(np.maximum(value, 1e-10))


def speech_rms_dbfs(samples: np.ndarray, sample_rate: int) -> float | None:
    """RMS level of the speech in ``samples`` in dBFS; ``None`` when it is all silence."""
    pcm = np.asarray(samples, dtype=np.float64).reshape(-1)
    frame = max(1, round(sample_rate * _FRAME_SECONDS))
    count = len(pcm) // frame
    if count == 0:
        if len(pcm) == 0:
            return None
        frames = pcm.reshape(1, -1)
    else:
        frames = pcm[: count * frame].reshape(count, frame)
    power = np.mean(frames**2, axis=1)
    level = _db(np.sqrt(power))
    gate = max(_ABSOLUTE_GATE_DB, float(level.max()) - _RELATIVE_GATE_DB)
    speech = power[level > gate]
    if len(speech) == 0:
        return None
    return float(_db(np.sqrt(speech.mean())))


def _limit(samples: np.ndarray, ceiling_dbfs: float) -> np.ndarray:
    ceiling = 10 ** (ceiling_dbfs / 20.0)
    return np.clip(samples, -ceiling, ceiling)


def normalize_loudness(
    samples: np.ndarray, sample_rate: int, target_dbfs: float = -20.0, ceiling_dbfs: float = -1.0
) -> np.ndarray:
    """``samples`` scaled so the RMS over speech is ``target_dbfs`` (silence is returned as is).

    Peaks are held under ``ceiling_dbfs``; when that costs level (a very loud target), the gain
    is raised again, a few rounds at most.
    """
    out = np.asarray(samples, dtype=np.float32).copy()
    for _ in range(4):
        level = speech_rms_dbfs(out, sample_rate)
        if level is None or abs(level - target_dbfs) < 0.05:
            break
        out = _limit(out * np.float32(10 ** ((target_dbfs - level) / 20.0)), ceiling_dbfs)
    return out.astype(np.float32)


class Compressor:
    """Feed-forward downward compressor with attack and release, fed piece by piece.

    Above ``threshold_dbfs`` the level rises only ``1/ratio`` as fast; the gain moves towards
    more reduction within ``attack_ms`` and back within ``release_ms``. State carries over
    between :meth:`process` calls, so sentences of one stream join without a jump.
    """

    def __init__(
        self,
        sample_rate: int,
        threshold_dbfs: float = -24.0,
        ratio: float = 3.0,
        attack_ms: float = 5.0,
        release_ms: float = 80.0,
    ) -> None:
        self.sample_rate = sample_rate
        self.threshold = threshold_dbfs
        self.slope = 1.0 - 1.0 / ratio
        self._block = max(1, round(sample_rate * _BLOCK_SECONDS))
        block_seconds = self._block / sample_rate
        self._attack = float(np.exp(-block_seconds / (attack_ms / 1000.0)))
        self._release = float(np.exp(-block_seconds / (release_ms / 1000.0)))
        self._gain_db = 0.0

    def process(self, samples: np.ndarray) -> np.ndarray:
        pcm = np.asarray(samples, dtype=np.float32).reshape(-1)
        if len(pcm) == 0:
            return pcm.copy()
        count = -(-len(pcm) // self._block)
        padded = np.zeros(count * self._block, dtype=np.float32)
        padded[: len(pcm)] = np.abs(pcm)
        peaks = _db(padded.reshape(count, self._block).max(axis=1))
        wanted = np.minimum(0.0, (self.threshold - peaks) * self.slope)
        gains = np.empty(count, dtype=np.float64)
        gain = self._gain_db
        for index, target in enumerate(wanted):  # 1000 steps per second of audio
            coefficient = self._attack if target < gain else self._release
            gain = coefficient * gain + (1.0 - coefficient) * target
            gains[index] = gain
        self._gain_db = gain
        centres = (np.arange(count) + 0.5) * self._block
        per_sample = np.interp(np.arange(len(pcm)), centres, gains)
        return (pcm * (10 ** (per_sample / 20.0))).astype(np.float32)


def compress(samples: np.ndarray, sample_rate: int, **settings: float) -> np.ndarray:
    """One-shot :class:`Compressor` over ``samples``."""
    return Compressor(sample_rate, **settings).process(samples)


class LoudnessProcessor:
    """Applies :class:`LoudnessOptions` to the pieces of one stream (one sentence at a time)."""

    def __init__(self, options: LoudnessOptions, sample_rate: int) -> None:
        self.options = options
        self.sample_rate = sample_rate
        self._compressor = (
            Compressor(
                sample_rate,
                options.threshold_dbfs,
                options.ratio,
                options.attack_ms,
                options.release_ms,
            )
            if options.compress
            else None
        )

    def process(self, samples: np.ndarray) -> np.ndarray:
        out = np.asarray(samples, dtype=np.float32)
        if self._compressor is not None:
            out = self._compressor.process(out)
        if self.options.target_dbfs is not None:
            out = normalize_loudness(
                out, self.sample_rate, self.options.target_dbfs, self.options.ceiling_dbfs
            )
        return out


def apply_loudness(samples: np.ndarray, sample_rate: int, options: LoudnessOptions) -> np.ndarray:
    """``samples`` compressed and/or normalised as ``options`` say."""
    return LoudnessProcessor(options, sample_rate).process(samples)

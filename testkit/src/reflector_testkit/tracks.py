"""Per-participant tracks as video platforms record them: Opus in WebM (or Ogg), starting when
the participant joined, with no frames at all while they were muted."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np

from reflector.audio import SAMPLE_RATE, resample
from reflector_testkit.meetings import VoiceBank

OPUS_RATE = 48_000
OPUS_FRAME = 960
"""20 ms at 48 kHz: one Opus packet."""


@dataclass(frozen=True)
class Utterance:
    """Something a participant says, at ``start`` seconds on the meeting timeline."""

    start: float
    samples: np.ndarray
    """Mono float32 at 16 kHz."""
    text: str = ""

    @property
    def end(self) -> float:
        return self.start + len(self.samples) / SAMPLE_RATE


def track_audio(
    utterances: Iterable[Utterance], length: float, noise_dbfs: float | None = None, seed: int = 0
) -> np.ndarray:
    """A participant's microphone on the meeting timeline (16 kHz, ``length`` seconds): their
    utterances at their times over an optional noise floor."""
    samples = np.zeros(round(length * SAMPLE_RATE), dtype=np.float32)
    if noise_dbfs is not None:
        rng = np.random.default_rng(seed)
        samples += rng.normal(0.0, 10 ** (noise_dbfs / 20), len(samples)).astype(np.float32)
    for utterance in utterances:
        first = round(utterance.start * SAMPLE_RATE)
        piece = utterance.samples[: max(0, len(samples) - first)]
        samples[first : first + len(piece)] += piece
    return samples


def write_track(
    samples: np.ndarray,
    path: Path,
    start: float = 0.0,
    end: float | None = None,
    muted: Sequence[tuple[float, float]] = (),
    stamp_start: bool = True,
    bitrate: int = 24_000,
) -> Path:
    """Write the part of ``samples`` (16 kHz, on the meeting timeline) from ``start`` to
    ``end`` as Opus in a WebM (``.webm``) or Ogg (``.ogg``) file, as a platform records one
    participant.

    ``stamp_start``: the first packet's timestamp is ``start`` (the stream's ``start_time``),
    else zero (as in Daily files, whose name then carries the start). ``muted``: spans of the
    meeting timeline whose packets are left out entirely; the timestamps after them jump.
    """
    fmt = "ogg" if path.suffix == ".ogg" else "webm"
    end = len(samples) / SAMPLE_RATE if end is None else end
    piece = samples[round(start * SAMPLE_RATE) : round(end * SAMPLE_RATE)]
    audio = resample(piece, SAMPLE_RATE, OPUS_RATE).astype(np.float32)
    base = round(start * OPUS_RATE) if stamp_start else 0
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream("libopus", rate=OPUS_RATE, layout="mono")
        stream.bit_rate = bitrate
        stream.time_base = Fraction(1, OPUS_RATE)

        def mux(packets) -> None:
            for packet in packets:
                if packet.pts is not None:
                    # The packet's stretch of the meeting: one that touches a muted span is
                    # left out, as the platform wrote nothing while muted.
                    unit = float(packet.time_base or Fraction(1, OPUS_RATE))
                    at = packet.pts * unit - base / OPUS_RATE + start
                    until = at + (packet.duration or OPUS_FRAME) * unit
                    if any(a < until and at < b for a, b in muted):
                        continue
                container.mux(packet)

        for first in range(0, len(audio), OPUS_FRAME):
            block = np.zeros(OPUS_FRAME, dtype=np.float32)
            chunk = audio[first : first + OPUS_FRAME]
            block[: len(chunk)] = chunk
            frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate = OPUS_RATE
            frame.pts = base + first
            frame.time_base = Fraction(1, OPUS_RATE)
            mux(stream.encode(frame))
        mux(stream.encode(None))
    return path


def daily_track_name(recording_start_ms: int, participant: str, track_start_ms: int) -> str:
    """A Daily raw-track file name (``participant``: a UUID)."""
    return f"{recording_start_ms}-{participant}-cam-audio-{track_start_ms}.webm"


# --- whole meetings --------------------------------------------------------------------------


@dataclass(frozen=True)
class Speaker:
    """A participant: when they joined and left, when they were muted, and what they said."""

    name: str
    voice: str
    """A :data:`reflector_testkit.meetings.VOICES` name."""
    lines: tuple[tuple[float, str], ...]
    """``(start, sentence)`` on the meeting timeline."""
    joined: float = 0.0
    left: float | None = None
    muted: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class TrackMeeting:
    speakers: tuple[Speaker, ...]
    heard: tuple[np.ndarray, ...]
    """What each participant's track holds, on the meeting timeline (16 kHz): their speech
    over a faint noise floor while present and unmuted, exact zeros elsewhere."""
    utterances: tuple[tuple[Utterance, ...], ...]
    length: float

    def text(self, speaker: int) -> str:
        return " ".join(u.text for u in self.utterances[speaker])

    def mixed(self) -> np.ndarray:
        """Everyone together, as a single-file recording of the meeting would hold it."""
        return np.clip(np.sum(self.heard, axis=0), -1.0, 1.0).astype(np.float32)


def speak_meeting(
    speakers: Sequence[Speaker],
    length: float,
    bank: VoiceBank | None = None,
    noise_dbfs: float | None = -60.0,
) -> TrackMeeting:
    """Synthesize every line with its speaker's voice and lay out each participant's track."""
    bank = bank or VoiceBank()
    voices = {v.name: v for v in bank.voices}
    heard, spoken = [], []
    for index, speaker in enumerate(speakers):
        utterances = tuple(
            Utterance(start, bank.speak(voices[speaker.voice], text), text)
            for start, text in speaker.lines
        )
        audio = track_audio(utterances, length, noise_dbfs, seed=index)
        silent = [(0.0, speaker.joined), *speaker.muted]
        if speaker.left is not None:
            silent.append((speaker.left, length))
        for start, end in silent:
            audio[round(start * SAMPLE_RATE) : round(end * SAMPLE_RATE)] = 0.0
        heard.append(audio)
        spoken.append(utterances)
    return TrackMeeting(tuple(speakers), tuple(heard), tuple(spoken), length)


def write_tracks(
    meeting: TrackMeeting,
    folder: Path,
    start_from: Literal["stream", "daily name"] = "stream",
    suffix: str = ".webm",
    recording_start_ms: int = 1_700_000_000_000,
) -> list[Path]:
    """One file per participant, from when they joined to when they left, no packets while
    muted. ``stream``: the stream's timestamps start at the join time; ``daily name``: they
    start at zero and the Daily file name says when the track started."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, speaker in enumerate(meeting.speakers):
        if start_from == "daily name":
            participant = str(uuid.UUID(int=index + 1))
            started = recording_start_ms + round(speaker.joined * 1000)
            name = daily_track_name(recording_start_ms, participant, started)
        else:
            name = f"{speaker.name}{suffix}"
        paths.append(
            write_track(
                meeting.heard[index],
                folder / name,
                start=speaker.joined,
                end=speaker.left,
                muted=speaker.muted,
                stamp_start=start_from == "stream",
            )
        )
    return paths


# --- long tracks, streamed -------------------------------------------------------------------


def write_long_track(
    path: Path,
    length: float,
    utterances: Sequence[Utterance],
    start: float = 0.0,
    muted: Sequence[tuple[float, float]] = (),
    tone_hz: float | None = None,
    noise_dbfs: float = -60.0,
    seed: int = 0,
    block_seconds: float = 10.0,
) -> Path:
    """An hour-long participant track as cheaply as possible, never whole in memory: built
    and encoded 10 s at a time (a noise floor, an optional quiet tone, the utterances), and
    frames inside ``muted`` spans are not even encoded. WebM/Opus, timestamps from ``start``.
    """
    rng = np.random.default_rng(seed)
    clips = [(u.start, resample(u.samples, SAMPLE_RATE, OPUS_RATE)) for u in utterances]
    first_frame = round(start * OPUS_RATE) // OPUS_FRAME
    last_frame = round(length * OPUS_RATE) // OPUS_FRAME
    per_block = max(1, round(block_seconds * OPUS_RATE) // OPUS_FRAME)
    with av.open(str(path), "w", format="webm") as container:
        stream = container.add_stream("libopus", rate=OPUS_RATE, layout="mono")
        stream.bit_rate = 24_000
        stream.time_base = Fraction(1, OPUS_RATE)
        for block_first in range(first_frame, last_frame, per_block):
            frames = min(per_block, last_frame - block_first)
            at = block_first * OPUS_FRAME
            audio = rng.normal(0.0, 10 ** (noise_dbfs / 20), frames * OPUS_FRAME)
            if tone_hz:
                t = (at + np.arange(len(audio))) / OPUS_RATE
                audio += 0.01 * np.sin(2 * np.pi * tone_hz * t)
            for clip_start, clip in clips:
                offset = round(clip_start * OPUS_RATE) - at
                lo, hi = max(0, offset), min(len(audio), offset + len(clip))
                if lo < hi:
                    audio[lo:hi] += clip[lo - offset : hi - offset]
            audio = audio.astype(np.float32)
            for k in range(frames):
                pts = at + k * OPUS_FRAME
                t = pts / OPUS_RATE
                if any(a <= t < b for a, b in muted):
                    continue
                frame = av.AudioFrame.from_ndarray(
                    audio[k * OPUS_FRAME : (k + 1) * OPUS_FRAME].reshape(1, -1),
                    format="flt",
                    layout="mono",
                )
                frame.sample_rate = OPUS_RATE
                frame.pts = pts
                frame.time_base = Fraction(1, OPUS_RATE)
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path

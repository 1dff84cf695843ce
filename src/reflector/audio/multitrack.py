"""Multitrack recordings: one audio file per participant, put back on the meeting's timeline.

A video platform records each participant as their own file. A track starts when its
participant joined (its audio stream's ``start_time``, or for Daily files whose container starts
at zero the time in the file name ``{recording_start_ms}-{uuid}-cam-audio-{track_start_ms}``),
and has holes where they were muted: the platform writes no frames then, so the timestamps jump.
Played back to back, such a track would drift away from the others by every muted stretch.

:func:`iter_padded` decodes a track frame by frame and sends every frame, at its own timestamp,
through one FFmpeg filter graph (``aresample`` with ``async``/``first_pts`` to 16 kHz mono
float32), with silent frames pushed in where frames are missing (before the first one: the
participant had not joined yet; between two: they were muted). So the output starts at the
meeting's start and every sample sits where it was heard. Nothing is held but the current
frames: an hour-long track costs a few megabytes while it streams.

:func:`pad_track` writes that stream to a raw float32 file that :meth:`PaddedTrack.samples`
maps into memory; :func:`mix_tracks` sums any number of padded streams block by block into one
MP3 for playback and its peak waveform.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np

from reflector.audio.decode import (
    SAMPLE_RATE,
    MediaInfo,
    audio_stream,
    decoded_frames,
    media_info,
    nothing_decoded,
    open_media,
    too_long_error,
)
from reflector.audio.formats import audio_file_writer
from reflector.audio.waveform import WAVEFORM_BINS, PeakTracker

DAILY_TRACK_NAME = re.compile(
    r"(?P<recording>\d{10,16})-(?P<uuid>[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12})"
    r"-cam-audio-(?P<track>\d{10,16})"
)
"""Daily's raw-track names: ``{recording_start_ms}-{participant uuid}-cam-audio-{start_ms}``."""

MIN_STREAM_OFFSET = 0.05
"""A stream starting later than this (seconds) says when its participant joined; an earlier
start is the codec's own delay (Opus and AAC start a few milliseconds off zero), and the file
name, if it is Daily's, says more."""
GAP_TOLERANCE = 0.01
"""Seconds of missing audio between two frames below which nothing is inserted (timestamps in
milliseconds round a little); every longer hole becomes silence."""
_SILENCE_PIECE = SAMPLE_RATE // 2
"""Longest silent frame pushed at once (half a second, counted at 16 kHz): a muted hour streams
as many small frames, never as one huge one."""
_PULL_EVERY = 50
"""Frames pushed into a track's filter graph between two looks at its output (1 s of Opus)."""
_MIX_BLOCK = SAMPLE_RATE * 5
"""Samples mixed at once per track (5 s): what bounds the mixdown's memory."""

OffsetSource = Literal["given", "stream", "file name", "none"]


@dataclass(frozen=True)
class TrackInfo:
    """Where a track goes on the meeting's timeline, read without decoding it."""

    path: Path
    offset: float
    """Seconds from the meeting's start to the track's first sample."""
    offset_source: OffsetSource
    """``given`` by the caller, the audio ``stream``'s start time, the Daily ``file name``, or
    ``none`` (the track starts with the meeting)."""
    media: MediaInfo
    stream_start: float
    """The audio stream's own start time (seconds; 0 when the container states none)."""

    @property
    def shift(self) -> float:
        """Seconds added to every timestamp of the stream to put it on the meeting timeline:
        none when the stream's own timestamps say where it goes; else its start moves to the
        offset."""
        if self.offset_source in ("stream", "none"):
            return 0.0
        return self.offset - self.stream_start


def daily_track_offset(name: str) -> float | None:
    """The track's start from a Daily raw-track file name (seconds after the recording
    started), or ``None`` when ``name`` is not one."""
    match = DAILY_TRACK_NAME.search(Path(name).name)
    if match is None:
        return None
    return max(0, int(match["track"]) - int(match["recording"])) / 1000.0


def _stream_start(stream: av.AudioStream) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def probe_track(
    path: str | os.PathLike[str], offset: float | None = None, name: str | None = None
) -> TrackInfo:
    """Check that ``path`` has audio and find where it starts on the meeting timeline.

    ``offset`` (seconds), when given, wins; else the audio stream's start time when it is
    later than :data:`MIN_STREAM_OFFSET`; else the start in a Daily file name (``name``, when
    the file was stored under another one; else the file's own); else zero (the stream's own
    timestamps, as they are).
    """
    path = Path(path)
    with open_media(path) as container:
        stream = audio_stream(container, path)
        media = media_info(container, stream, path)
        start = _stream_start(stream)
    if offset is not None:
        if not math.isfinite(offset) or offset < 0:
            raise ValueError(f"a track's offset must be a number of seconds >= 0, not {offset}")
        return TrackInfo(path, offset, "given", media, start)
    if start > MIN_STREAM_OFFSET:
        return TrackInfo(path, start, "stream", media, start)
    from_name = daily_track_offset(name or path.name)
    if from_name is not None:
        return TrackInfo(path, from_name, "file name", media, start)
    return TrackInfo(path, 0.0, "none", media, start)


# --- one track -------------------------------------------------------------------------------

_DTYPES = {"u8": "u1", "s16": "<i2", "s32": "<i4", "s64": "<i8", "flt": "<f4", "dbl": "<f8"}


def _silent_frame(template: av.AudioFrame, samples: int, pts: int) -> av.AudioFrame:
    """``samples`` of silence in ``template``'s format, layout and rate, at ``pts``."""
    fmt = template.format
    channels = len(template.layout.channels)
    base = fmt.name.rstrip("p")
    dtype = np.dtype(_DTYPES[base])
    shape = (channels, samples) if fmt.is_planar else (1, samples * channels)
    fill = 128 if base == "u8" else 0  # unsigned 8-bit silence is the middle value
    frame = av.AudioFrame.from_ndarray(
        np.full(shape, fill, dtype=dtype), format=fmt.name, layout=template.layout.name
    )
    frame.sample_rate = template.sample_rate
    frame.pts = pts
    frame.time_base = Fraction(1, template.sample_rate)
    return frame


class _Timeline:
    """The filter graph of one track: frames in at their timestamps (in input samples), 16 kHz
    mono float32 out, silence where frames are missing. Rebuilt if the decoder changes format
    mid-stream; the new graph carries on where the output stands."""

    def __init__(self) -> None:
        self._graph: av.filter.Graph | None = None
        self._signature: tuple[str, str, int] | None = None
        self.expected: int | None = None
        """The pts (input samples) right after the last frame pushed."""
        self.produced = 0
        """Output samples so far: where the next one sits on the timeline."""
        self._unpulled = 0
        self._time_base = Fraction(1, SAMPLE_RATE)

    def _build(self, frame: av.AudioFrame) -> None:
        rate = frame.sample_rate
        graph = av.filter.Graph()
        source = graph.add_abuffer(
            format=frame.format.name,
            sample_rate=rate,
            layout=frame.layout.name,
            time_base=Fraction(1, rate),
        )
        # async: samples are placed by timestamp (any remaining hole is filled, overlap cut);
        # first_pts: the output starts at the timeline's current position.
        first = self.produced
        resample = graph.add("aresample", f"{SAMPLE_RATE}:async=1:first_pts={first}")
        to_mono = graph.add(
            "aformat", f"sample_fmts=flt:sample_rates={SAMPLE_RATE}:channel_layouts=mono"
        )
        sink = graph.add("abuffersink")
        graph.link_nodes(source, resample, to_mono, sink)
        graph.configure()
        self._graph = graph
        self._signature = (frame.format.name, frame.layout.name, rate)
        self._time_base = Fraction(1, rate)

    def push(self, frame: av.AudioFrame, pts: int) -> Iterator[np.ndarray]:
        """Place ``frame`` at ``pts`` (input samples from the meeting start); yield output."""
        signature = (frame.format.name, frame.layout.name, frame.sample_rate)
        if self._graph is None or signature != self._signature:
            yield from self.close()
            if self.expected is not None:
                # The new graph's clock: in its own rate, from where the output stands.
                self.expected = round(self.produced * frame.sample_rate / SAMPLE_RATE)
            self._build(frame)
        expected = self.expected if self.expected is not None else 0
        gap = pts - expected
        if gap > GAP_TOLERANCE * frame.sample_rate:
            # The participant had not joined yet, or was muted: silence, a piece at a time.
            piece = max(1, _SILENCE_PIECE * frame.sample_rate // SAMPLE_RATE)
            for start in range(expected, pts, piece):
                yield from self._send(_silent_frame(frame, min(piece, pts - start), start))
        frame.pts = pts
        frame.time_base = self._time_base
        yield from self._send(frame)
        self.expected = pts + frame.samples

    def _send(self, frame: av.AudioFrame | None) -> Iterator[np.ndarray]:
        """Push ``frame`` (``None``: the end); every :data:`_PULL_EVERY` frames, and at the
        end, yield what came out as one array (pulling after each 20 ms frame would cost
        more than the filtering)."""
        assert self._graph is not None
        self._graph.push(frame)
        self._unpulled += 1
        if frame is not None and self._unpulled < _PULL_EVERY:
            return
        self._unpulled = 0
        parts = []
        while True:
            try:
                out = self._graph.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                break
            # Packed mono float32: the plane's bytes are the samples (plus alignment).
            parts.append(np.frombuffer(out.planes[0], dtype=np.float32, count=out.samples))
        if parts:
            samples = np.concatenate(parts)  # a copy: the frames are let go
            self.produced += len(samples)
            yield samples

    def close(self) -> Iterator[np.ndarray]:
        if self._graph is not None:
            yield from self._send(None)
            self._graph = None


def iter_padded(
    track: TrackInfo,
    on_error: Callable[[Exception], None] | None = None,
    max_seconds: float | None = None,
) -> Iterator[np.ndarray]:
    """Yield the track as 16 kHz mono float32 chunks on the meeting timeline, from its start
    (silence until the track begins, and wherever frames are missing) to the track's end.

    Damaged packets are skipped (reported to ``on_error``) and heard as silence. With
    ``max_seconds``, a track reaching past that point of the timeline raises
    :class:`AudioTooLongError` before the silence up to it is made.
    """
    path = track.path
    timeline = _Timeline()
    with open_media(path) as container:
        stream = audio_stream(container, path)
        stream.thread_type = "AUTO"
        time_base = stream.time_base or Fraction(1, stream.codec_context.sample_rate or 1)
        # Plain float arithmetic per frame (Fractions would cost more than the filtering).
        unit = float(time_base)
        limit = math.inf if max_seconds is None else max_seconds
        for frame in decoded_frames(container, stream, on_error):
            if frame.pts is None:  # no timestamp: it follows the previous frame
                pts = timeline.expected if timeline.expected is not None else 0
            else:
                seconds = frame.pts * unit + track.shift
                if seconds > limit:
                    raise too_long_error(path, None, limit)
                pts = round(seconds * frame.sample_rate)
            yield from timeline.push(frame, pts)
        yield from timeline.close()


@dataclass(frozen=True)
class PaddedTrack:
    """A track on the meeting timeline, stored as raw 16 kHz mono float32 samples."""

    path: Path
    length: int
    """Samples: from the meeting's start to the track's end."""
    info: TrackInfo
    decode_errors: int = 0

    @property
    def end(self) -> float:
        """Seconds from the meeting's start to the track's end."""
        return self.length / SAMPLE_RATE

    def samples(self) -> np.ndarray:
        """The samples, mapped from the file (read on demand, not loaded)."""
        if self.length == 0:
            return np.zeros(0, dtype=np.float32)
        return np.memmap(self.path, dtype=np.float32, mode="r", shape=(self.length,))

    def chunks(self, block: int = _MIX_BLOCK) -> Iterator[np.ndarray]:
        """The samples in order, ``block`` at a time, read from the file (not mapped, so a
        pass over every track keeps only one block of each in memory)."""
        with self.path.open("rb") as handle:
            while piece := handle.read(block * 4):
                yield np.frombuffer(piece, dtype="<f4")


def pad_track(
    track: TrackInfo, target: str | os.PathLike[str], max_seconds: float | None = None
) -> PaddedTrack:
    """Write the track on the meeting timeline to ``target`` (raw float32), streaming.

    Raises :class:`AudioError` when nothing in the track can be decoded.
    """
    target = Path(target)
    errors: list[Exception] = []
    length = 0
    audible = False
    with target.open("wb") as out:
        for chunk in iter_padded(track, errors.append, max_seconds):
            np.clip(chunk, -1.0, 1.0, out=chunk)
            audible = audible or bool(chunk.any())
            out.write(chunk.astype("<f4", copy=False).tobytes())
            length += len(chunk)
    if length == 0 or (errors and not audible):
        target.unlink(missing_ok=True)
        raise nothing_decoded(track.path, corrupt=bool(errors))
    return PaddedTrack(target, length, track, len(errors))


# --- the mixdown -----------------------------------------------------------------------------


class _Blocks:
    """Fixed-size reads from a stream of chunks of any size; zeros once it has ended."""

    def __init__(self, chunks: Iterable[np.ndarray]) -> None:
        self._chunks = iter(chunks)
        self._pending = np.zeros(0, dtype=np.float32)
        self.ended = False

    def read_into(self, out: np.ndarray) -> int:
        """Add the next ``len(out)`` samples to ``out``; return how many the stream had."""
        filled = 0
        while filled < len(out):
            if len(self._pending) == 0:
                chunk = next(self._chunks, None)
                if chunk is None:
                    self.ended = True
                    break
                self._pending = np.asarray(chunk, dtype=np.float32).reshape(-1)
                continue
            take = min(len(out) - filled, len(self._pending))
            out[filled : filled + take] += self._pending[:take]
            self._pending = self._pending[take:]
            filled += take
        return filled


@dataclass(frozen=True)
class Mixdown:
    path: Path
    duration: float
    """Seconds: the end of the longest track."""
    waveform: list[float]
    """Peak per bin, the loudest bin 1.0 (see :func:`reflector.audio.peak_waveform`)."""


def mix_tracks(
    tracks: Sequence[Iterable[np.ndarray]],
    target: str | os.PathLike[str],
    bitrate: int = 64_000,
    bins: int = WAVEFORM_BINS,
    block: int = _MIX_BLOCK,
) -> Mixdown:
    """Sum padded tracks (chunks on the meeting timeline, e.g. :meth:`PaddedTrack.chunks` or
    :func:`iter_padded`) into one MP3 at ``target``, with its peak waveform.

    Works block by block: memory holds one block per track, whatever the meeting's length.
    Where several people talk at once the sum is clipped to full scale.
    """
    if not tracks:
        raise ValueError("mix_tracks needs at least one track")
    target = Path(target)
    readers = [_Blocks(chunks) for chunks in tracks]
    peaks = PeakTracker()
    mixed = np.zeros(block, dtype=np.float32)
    length = 0
    # LAME's quality 7: 40 % faster than its default, no difference one hears in speech.
    writer = audio_file_writer(
        target, "mp3", SAMPLE_RATE, bitrate=bitrate, codec_options={"compression_level": "7"}
    )
    try:
        while not all(reader.ended for reader in readers):
            mixed[:] = 0.0
            filled = max(reader.read_into(mixed) for reader in readers)
            if filled == 0:
                break
            piece = np.clip(mixed[:filled], -1.0, 1.0)
            writer.write(piece)
            peaks.add(piece)
            length += filled
    finally:
        writer.close()
    return Mixdown(target, round(length / SAMPLE_RATE, 3), peaks.waveform(bins))

"""Decoding with PyAV (FFmpeg): any audio or video container to 16 kHz mono float32.

Decoding streams frame by frame through a resampler. A recording up to :data:`SPILL_SECONDS`
is gathered in memory; a longer one is written on, as it is decoded, to an unnamed temporary
file and handed back as a read-only memory map of it. The stages read that map in pieces, so a
multi-hour recording (a 3-hour one is ~690 MB of float32) never has to fit in memory: what the
kernel keeps of it in memory is page cache it can drop at any time.

Input is hostile until decoded: FFmpeg opens only local files (no network or other protocols,
also not from inside a playlist) in audio and video container formats (:data:`CONTAINERS`),
and a caller's ``max_seconds`` stops a file that decodes to more audio than that (a few KB of
compressed silence can decode to days) as soon as the container states it or, when it does
not, as soon as that much has been decoded.
"""

from __future__ import annotations

import errno
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from reflector.errors import BadInputError

SAMPLE_RATE = 16_000
_CHUNK_SAMPLES = SAMPLE_RATE * 30
SPILL_SECONDS = 10 * 60.0
"""Decoded audio longer than this goes to disk (38 MB of float32 stay in memory at most)."""


class AudioError(BadInputError):
    """An input that cannot be turned into audio; the message is meant for people."""

    problem_type = "unreadable-audio"


class AudioTooLongError(AudioError):
    """The recording is longer than the caller allows (``max_seconds``)."""

    status = 413
    problem_type = "audio-too-long"


CONTAINERS = (
    "aac,ac3,aiff,amr,amrnb,amrwb,ape,asf,au,avi,caf,dts,eac3,flac,flv,gsm,matroska,webm,mov,"
    "mp4,m4a,3gp,3g2,mj2,mp3,mpeg,mpegts,mxf,nut,ogg,oma,rm,tta,voc,w64,wav,wv,xwma,dsf,tak,"
    "mpc,mpc8,loas,truehd,mlp,shorten,dv"
)
"""FFmpeg demuxers an input may be read with: audio and video containers only. Playlists
(HLS, DASH), concatenation scripts, image sequences and device or filter inputs, which can make
FFmpeg read other files or addresses, are refused."""

_OPEN_OPTIONS = {"protocol_whitelist": "file", "format_whitelist": CONTAINERS}


def _hms(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def too_long_error(path: Path, seconds: float | None, limit: float) -> AudioTooLongError:
    """The error for a recording longer than ``limit`` seconds (``seconds`` of audio, when
    known)."""
    length = f"{_hms(seconds)} of audio" if seconds is not None else "more audio than that"
    return AudioTooLongError(
        f"{path}: the recording is longer than the limit of {_hms(limit)} ({length})"
    )


@dataclass(frozen=True)
class MediaInfo:
    """What a container holds, read without decoding it."""

    path: Path
    format_name: str
    duration: float | None
    """Seconds, when the container states it."""
    audio_codec: str
    sample_rate: int
    channels: int
    has_video: bool


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray
    """Mono float32 samples in [-1, 1] at :data:`SAMPLE_RATE` (a read-only
    :class:`numpy.memmap` for a recording decoded to disk)."""
    info: MediaInfo
    decode_errors: int = 0
    """Packets that failed to decode and were skipped (a damaged but readable file)."""

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE


ProgressCallback = Callable[[float], None]
"""Called with the fraction of the file decoded so far (when its duration is known)."""


def open_media(path: Path) -> av.container.InputContainer:
    """``path`` opened for reading under the rules above; :class:`AudioError` in words for a
    missing, empty, unreadable or refused file."""
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if not os.access(path, os.R_OK):
        raise AudioError(f"{path}: permission denied")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: the file is empty")
    try:
        # "file:" so that no name is ever read as another protocol's address.
        return av.open(
            f"file:{path.resolve()}", metadata_errors="ignore", container_options=_OPEN_OPTIONS
        )
    except (av.error.InvalidDataError, UnicodeDecodeError) as exc:
        raise AudioError(
            f"{path}: not an audio or video file FFmpeg can read (or the file is corrupt)"
        ) from exc
    except av.error.FFmpegError as exc:
        if exc.errno == errno.EINVAL:  # what FFmpeg answers for a refused format
            raise AudioError(
                f"{path}: not an audio or video container (playlists, scripts and other inputs "
                "that point to further files are refused)"
            ) from exc
        raise AudioError(f"{path}: cannot be opened: {exc.strerror or exc}") from exc


def audio_stream(container: av.container.InputContainer, path: Path) -> av.AudioStream:
    """The container's first audio stream; :class:`AudioError` when it has none."""
    if not container.streams.audio:
        kinds = sorted({s.type for s in container.streams}) or ["no streams"]
        raise AudioError(f"{path}: has no audio stream (it contains: {', '.join(kinds)})")
    return container.streams.audio[0]


def media_info(
    container: av.container.InputContainer, stream: av.AudioStream, path: Path
) -> MediaInfo:
    """What ``container`` and its audio ``stream`` say about themselves (nothing decoded)."""
    duration: float | None = None
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    return MediaInfo(
        path=path,
        format_name=container.format.name,
        duration=duration,
        audio_codec=stream.codec_context.name,
        sample_rate=stream.codec_context.sample_rate or 0,
        channels=stream.codec_context.channels or 0,
        has_video=bool(container.streams.video),
    )


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Check that ``path`` is readable media with an audio stream, without decoding it."""
    path = Path(path)
    with open_media(path) as container:
        return media_info(container, audio_stream(container, path), path)


def iter_pcm_chunks(
    path: str | os.PathLike[str],
    on_error: Callable[[Exception], None] | None = None,
    max_seconds: float | None = None,
) -> Iterator[np.ndarray]:
    """Yield 16 kHz mono float32 chunks of ``path`` as they are decoded.

    Undecodable packets in the middle of a file are skipped (reported to ``on_error``),
    as FFmpeg does, so a damaged recording still yields what can be recovered. With
    ``max_seconds``, raises :class:`AudioTooLongError` once more than that has been decoded.
    """
    path = Path(path)
    limit = None if max_seconds is None else math.ceil(max_seconds * SAMPLE_RATE)
    yielded = 0
    for chunk in _pcm_chunks(path, on_error):
        yielded += len(chunk)
        if limit is not None and yielded > limit:
            raise too_long_error(path, None, max_seconds)  # type: ignore[arg-type]
        yield chunk


def _pcm_chunks(path: Path, on_error: Callable[[Exception], None] | None) -> Iterator[np.ndarray]:
    with open_media(path) as container:
        stream = audio_stream(container, path)
        stream.thread_type = "AUTO"
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        for frame in decoded_frames(container, stream, on_error):
            frame.pts = None  # let the resampler run on sample counts, not timestamps
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1)
        for out in resampler.resample(None):
            yield out.to_ndarray().reshape(-1)


def decoded_frames(
    container: av.container.InputContainer,
    stream: av.AudioStream,
    on_error: Callable[[Exception], None] | None = None,
) -> Iterator[av.AudioFrame]:
    """The frames of ``stream`` as they are decoded. A packet that cannot be decoded is skipped
    (reported to ``on_error``), as FFmpeg does; a demuxer that loses sync (a truncated or
    damaged container) ends the stream there, keeping everything decoded so far."""
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.error.FFmpegError as exc:
            if on_error:
                on_error(exc)
            break
        try:
            frames = packet.decode()
        except av.error.FFmpegError as exc:
            if on_error:
                on_error(exc)
            continue
        yield from frames


def nothing_decoded(path: Path, corrupt: bool) -> AudioError:
    """The error for a file that gave no audio: ``corrupt`` when its packets failed to
    decode, else empty."""
    if corrupt:
        return AudioError(f"{path}: the audio stream is corrupt: nothing could be decoded")
    return AudioError(f"{path}: the audio stream is empty (0 seconds of audio)")


class _GrowingBuffer:
    """A float32 array filled in place and grown geometrically, trimmed once at the end."""

    def __init__(self, expected_samples: int) -> None:
        self._data = np.empty(max(expected_samples, _CHUNK_SAMPLES), dtype=np.float32)
        self.size = 0

    def append(self, chunk: np.ndarray) -> None:
        needed = self.size + len(chunk)
        if needed > len(self._data):
            # resize() reallocates in place where it can; no second full copy is kept alive.
            self._data.resize(max(needed, int(len(self._data) * 1.5)), refcheck=False)
        self._data[self.size : needed] = chunk
        self.size = needed

    def finish(self) -> np.ndarray:
        self._data.resize(self.size, refcheck=False)
        return self._data


class _SampleSink:
    """Decoded samples in memory up to ``spill_after`` of them, then in an unnamed temporary
    file in ``folder`` (gone from the disk once the last map of it is released, also when the
    process dies)."""

    def __init__(self, expected: int, folder: Path | None, spill_after: float) -> None:
        self._folder = folder or Path(tempfile.gettempdir())
        self._spill_after = spill_after
        self._memory: _GrowingBuffer | None = _GrowingBuffer(int(min(expected, spill_after)))
        self._file: BinaryIO | None = None
        self.size = 0

    def append(self, chunk: np.ndarray) -> None:
        chunk = np.clip(chunk, -1.0, 1.0).astype(np.float32, copy=False)
        if self._memory is not None and self.size + len(chunk) > self._spill_after:
            self._file = tempfile.TemporaryFile(dir=self._folder)  # noqa: SIM115 (kept open)
            self._file.write(memoryview(self._memory.finish()))
            self._memory = None
        if self._file is not None:
            self._file.write(memoryview(chunk))
        else:
            assert self._memory is not None
            self._memory.append(chunk)
        self.size += len(chunk)

    def finish(self) -> np.ndarray:
        if self._file is None:
            assert self._memory is not None
            return self._memory.finish()
        self._file.flush()
        try:
            # The map holds the file open on its own; read-only, so nobody changes it by
            # accident (and no stage has to copy it).
            return np.memmap(self._file, dtype=np.float32, mode="r", shape=(self.size,))
        finally:
            self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def decode_file(
    path: str | os.PathLike[str],
    on_progress: ProgressCallback | None = None,
    max_seconds: float | None = None,
    spill_dir: Path | None = None,
    spill_after_seconds: float | None = None,
) -> DecodedAudio:
    """Decode ``path`` to 16 kHz mono float32, raising :class:`AudioError` with a clear message.

    ``max_seconds``: a longer recording raises :class:`AudioTooLongError`, before decoding
    when the container states its duration, else once that much has been decoded.
    A recording longer than ``spill_after_seconds`` (default :data:`SPILL_SECONDS`) is decoded
    to a temporary file in ``spill_dir`` (default: the system's temporary folder) and its
    samples are a read-only :class:`numpy.memmap` of it.
    """
    path = Path(path)
    info = probe(path)
    if max_seconds is not None and info.duration is not None and info.duration > max_seconds:
        raise too_long_error(path, info.duration, max_seconds)
    expected = math.ceil((info.duration or 0) * SAMPLE_RATE) + SAMPLE_RATE
    spill = SPILL_SECONDS if spill_after_seconds is None else spill_after_seconds
    sink = _SampleSink(expected, spill_dir, spill * SAMPLE_RATE)
    errors: list[Exception] = []
    try:
        for chunk in iter_pcm_chunks(path, on_error=errors.append, max_seconds=max_seconds):
            sink.append(chunk)
            if on_progress and info.duration:
                on_progress(min(sink.size / SAMPLE_RATE / info.duration, 1.0))
        samples = sink.finish()
    finally:
        sink.close()
    if len(samples) == 0:
        # A container that states a length but yields nothing is damaged, not empty.
        raise nothing_decoded(path, corrupt=bool(errors) or bool(info.duration))
    return DecodedAudio(samples=samples, info=info, decode_errors=len(errors))

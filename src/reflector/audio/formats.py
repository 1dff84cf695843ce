"""Encoding mono float32 audio to the formats speech clients ask for, at once or progressively.

Formats follow OpenAI's ``response_format`` names: ``mp3``, ``opus`` (Opus in an Ogg
container), ``aac`` (ADTS), ``flac``, ``wav`` and ``pcm`` (raw signed 16-bit little-endian
samples, no header); ``ogg`` is accepted as another name for ``opus``.

:class:`StreamingEncoder` takes audio a piece at a time (one sentence after another) and
returns the bytes ready so far, so a listener can start playing before the text is finished.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import av
import numpy as np

from reflector.errors import BadInputError

AudioFormat = Literal["mp3", "opus", "ogg", "aac", "flac", "wav", "pcm"]
AUDIO_FORMATS: tuple[str, ...] = get_args(AudioFormat)


class AudioFormatError(BadInputError, ValueError):
    """Audio in a format that cannot be used: one this module does not write (the message lists
    the ones it does), or bytes that are not the format they were announced as."""


@dataclass(frozen=True)
class _Container:
    muxer: str
    codec: str
    media_type: str
    bitrate: int | None
    rates: tuple[int, ...] | None = None
    """Sample rates the codec accepts (``None``: any); others are resampled to the nearest."""


_CONTAINERS: dict[str, _Container] = {
    "mp3": _Container("mp3", "libmp3lame", "audio/mpeg", 64_000),
    # Opus decoders always play at 48 kHz, so it is encoded at 48 kHz.
    "opus": _Container("ogg", "libopus", "audio/ogg", 32_000, (48000,)),
    "aac": _Container("adts", "aac", "audio/aac", 64_000),
    "flac": _Container("flac", "flac", "audio/flac", None),
}
_CONTAINERS["ogg"] = _CONTAINERS["opus"]
_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


def check_format(fmt: str) -> AudioFormat:
    """``fmt`` lower-cased if it is one of :data:`AUDIO_FORMATS`, else :class:`AudioFormatError`."""
    name = str(fmt).strip().lower()
    if name not in AUDIO_FORMATS:
        raise AudioFormatError(
            f"unknown audio format {fmt!r}; choose one of {', '.join(AUDIO_FORMATS)}"
        )
    return name  # type: ignore[return-value]


def media_type(fmt: str, sample_rate: int | None = None) -> str:
    """The HTTP ``Content-Type`` for ``fmt`` (raw PCM says its rate when given)."""
    fmt = check_format(fmt)
    if fmt == "pcm":
        return f"audio/L16;rate={sample_rate};channels=1" if sample_rate else "audio/pcm"
    if fmt == "wav":
        return "audio/wav"
    return _CONTAINERS[fmt].media_type


def output_rate(fmt: str, sample_rate: int) -> int:
    """The sample rate ``fmt`` is written at for input at ``sample_rate``."""
    fmt = check_format(fmt)
    rates = _MP3_RATES if fmt == "mp3" else (_CONTAINERS[fmt].rates if fmt in _CONTAINERS else None)
    if rates is None or sample_rate in rates:
        return sample_rate
    higher = [r for r in rates if r >= sample_rate]
    return min(higher) if higher else max(rates)


def _as_pcm(samples: np.ndarray) -> np.ndarray:
    pcm = np.asarray(samples, dtype=np.float32).reshape(-1)
    return np.ascontiguousarray(np.clip(pcm, -1.0, 1.0))


def _to_s16le(samples: np.ndarray) -> bytes:
    return (_as_pcm(samples) * 32767.0).round().astype("<i2").tobytes()


def wav_header(sample_rate: int, data_bytes: int | None = None) -> bytes:
    """A 44-byte mono 16-bit WAV header; ``data_bytes=None`` writes the "unknown length"
    sizes (0xFFFFFFFF) that streaming players accept."""
    data = 0xFFFFFFFF if data_bytes is None else data_bytes
    riff = 0xFFFFFFFF if data_bytes is None else 36 + data_bytes
    return (
        b"RIFF"
        + struct.pack("<I", riff)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data)
    )


class _DrainSink:
    """A write-only file for PyAV whose bytes are taken out as they arrive.

    It has no ``seek``, so muxers write straight through (no header rewritten at the end).
    """

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


class _ContainerWriter:
    """One PyAV output container fed with float32 mono pieces."""

    def __init__(
        self,
        target,
        fmt: str,
        sample_rate: int,
        bitrate: int | None = None,
        target_rate: int | None = None,
        codec_options: dict[str, str] | None = None,
    ) -> None:
        spec = _CONTAINERS[fmt]
        self._input_rate = sample_rate
        self.rate = output_rate(fmt, target_rate or sample_rate)
        options = {"page_duration": "100000"} if spec.muxer == "ogg" else {}
        self._container = av.open(target, mode="w", format=spec.muxer, options=options)
        self._stream = self._container.add_stream(
            spec.codec, rate=self.rate, layout="mono", options=codec_options or {}
        )
        if bitrate or spec.bitrate:
            self._stream.bit_rate = bitrate or spec.bitrate
        # The codec context resamples (rate and sample format) and re-frames the pieces to its
        # frame size itself, keeping state between pieces, so boundaries leave no clicks.
        self._closed = False

    def write(self, samples: np.ndarray) -> None:
        pcm = _as_pcm(samples)
        if len(pcm) == 0:
            return
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = self._input_rate
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()


class StreamingEncoder:
    """Encode audio piece by piece: ``write()`` returns the bytes ready so far, ``close()`` the
    rest. Concatenated, they are one valid file (WAV with an unknown-length header).

    >>> encoder = StreamingEncoder("mp3", 22050)
    >>> body = b"".join([encoder.write(sentence1), encoder.write(sentence2), encoder.close()])
    """

    def __init__(
        self,
        fmt: str,
        sample_rate: int,
        *,
        target_rate: int | None = None,
        bitrate: int | None = None,
    ) -> None:
        self.format = check_format(fmt)
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        self._input_rate = sample_rate
        self._resampler: av.AudioResampler | None = None
        self._closed = False
        if self.format in ("pcm", "wav"):
            self.sample_rate = target_rate or sample_rate
            if self.sample_rate != sample_rate:
                self._resampler = av.AudioResampler(
                    format="flt", layout="mono", rate=self.sample_rate
                )
            self._header_pending = self.format == "wav"
            self._writer = None
            self._sink = None
        else:
            self._sink = _DrainSink()
            self._writer = _ContainerWriter(
                self._sink, self.format, sample_rate, bitrate, target_rate
            )
            self.sample_rate = self._writer.rate

    @property
    def media_type(self) -> str:
        return media_type(self.format, self.sample_rate)

    def _resample(self, samples: np.ndarray | None) -> np.ndarray:
        if self._resampler is None:
            return _as_pcm(samples) if samples is not None else np.zeros(0, np.float32)
        frame = None
        if samples is not None:
            pcm = _as_pcm(samples)
            if len(pcm) == 0:
                return pcm
            frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate = self._input_rate
        parts = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def _raw(self, samples: np.ndarray | None) -> bytes:
        data = _to_s16le(self._resample(samples))
        if self._header_pending:
            self._header_pending = False
            data = wav_header(self.sample_rate) + data
        return data

    def write(self, samples: np.ndarray) -> bytes:
        """Encode ``samples`` (mono float32 at the constructor's rate); the bytes ready now."""
        if self._closed:
            raise RuntimeError("the encoder is closed")
        if self._writer is None:
            return self._raw(samples)
        self._writer.write(samples)
        return self._sink.drain()

    def close(self) -> bytes:
        """Flush the encoder; the last bytes of the file."""
        if self._closed:
            return b""
        self._closed = True
        if self._writer is None:
            return self._raw(None)
        self._writer.close()
        return self._sink.drain()


def iter_encoded(
    pieces: Iterable[np.ndarray], sample_rate: int, fmt: str, **options
) -> Iterator[bytes]:
    """Encode pieces as they come; yields non-empty byte chunks of one file."""
    encoder = StreamingEncoder(fmt, sample_rate, **options)
    for piece in pieces:
        data = encoder.write(piece)
        if data:
            yield data
    tail = encoder.close()
    if tail:
        yield tail


def encode_audio(
    samples: np.ndarray,
    sample_rate: int,
    fmt: str,
    *,
    target_rate: int | None = None,
    bitrate: int | None = None,
) -> bytes:
    """Mono float32 ``samples`` as one complete file in ``fmt`` (see :data:`AUDIO_FORMATS`).

    WAV and FLAC get exact lengths in their headers; raw ``pcm`` is s16le at ``target_rate``
    (default: ``sample_rate``).
    """
    fmt = check_format(fmt)
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if fmt in ("pcm", "wav"):
        encoder = StreamingEncoder("pcm", sample_rate, target_rate=target_rate)
        pcm = encoder.write(samples) + encoder.close()
        return pcm if fmt == "pcm" else wav_header(encoder.sample_rate, len(pcm)) + pcm
    buffer = io.BytesIO()  # seekable: muxers finish their headers (FLAC length, MP3 Xing)
    writer = _ContainerWriter(buffer, fmt, sample_rate, bitrate, target_rate)
    writer.write(samples)
    writer.close()
    return buffer.getvalue()


def write_audio_file(
    samples: np.ndarray,
    path: str | os.PathLike[str],
    sample_rate: int,
    fmt: str,
    *,
    bitrate: int | None = None,
    block: int = 1152 * 8,
) -> Path:
    """Encode straight into ``path`` in blocks, never holding the encoded file in memory."""
    fmt = check_format(fmt)
    path = Path(path)
    if fmt in ("pcm", "wav"):
        path.write_bytes(encode_audio(samples, sample_rate, fmt))
        return path
    writer = _ContainerWriter(str(path), fmt, sample_rate, bitrate)
    # Converted block by block (``write`` does it): a long recording may be a memory map of a
    # file, never to be copied whole.
    pcm = np.asarray(samples).reshape(-1)
    try:
        for offset in range(0, len(pcm), block):
            writer.write(pcm[offset : offset + block])
    finally:
        writer.close()
    return path


def audio_file_writer(
    path: str | os.PathLike[str],
    fmt: str,
    sample_rate: int,
    *,
    bitrate: int | None = None,
    codec_options: dict[str, str] | None = None,
) -> _ContainerWriter:
    """A file at ``path`` fed piece by piece (``write(samples)``, then ``close()``), for audio
    too long to hold in memory; compressed formats only (``mp3``, ``opus``, ``aac``, ``flac``).
    ``codec_options``: FFmpeg encoder options, e.g. ``{"compression_level": "7"}`` (LAME's
    faster, slightly coarser encoding)."""
    fmt = check_format(fmt)
    if fmt not in _CONTAINERS:
        raise AudioFormatError(f"{fmt} is not written piece by piece; use write_audio_file")
    return _ContainerWriter(str(Path(path)), fmt, sample_rate, bitrate, None, codec_options)


def decode_audio_bytes(
    data: bytes, fmt: str | None = None, *, sample_rate: int | None = None
) -> tuple[np.ndarray, int]:
    """Decode an encoded file held in memory to mono float32 at its own rate.

    Raw ``pcm`` has no header, so it needs ``sample_rate``.
    """
    if fmt is not None and check_format(fmt) == "pcm":
        if not sample_rate:
            raise ValueError("raw PCM has no header: give its sample_rate")
        usable = len(data) - len(data) % 2
        return np.frombuffer(data[:usable], dtype="<i2").astype(np.float32) / 32768.0, sample_rate
    muxer = _CONTAINERS[fmt].muxer if fmt in _CONTAINERS else None
    try:
        container = av.open(io.BytesIO(data), format=muxer)
    except av.error.FFmpegError as exc:
        raise AudioFormatError(
            f"cannot decode the audio ({fmt or 'unknown format'}): {exc}"
        ) from exc
    with container:
        if not container.streams.audio:
            raise AudioFormatError("the data holds no audio stream")
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        parts = []
        for frame in container.decode(stream):
            frame.pts = None
            parts.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
        parts.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    samples = np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
    return samples, rate

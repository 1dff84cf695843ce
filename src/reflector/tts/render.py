"""From a request to encoded audio bytes: synthesize, level, encode; whole or as a stream.

This is what the HTTP API and the CLI call. Everything here is synchronous and CPU-bound:
async callers run it in a worker thread (``asyncio.to_thread``, or ``iterate_in_threadpool``
for the stream).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from reflector.audio.formats import AudioFormat, StreamingEncoder, check_format, encode_audio
from reflector.audio.loudness import LoudnessOptions, LoudnessProcessor
from reflector.tts.text import split_lead
from reflector.tts.types import EmptySpeechError, SpeechAudio, SpeechSynthesizer, check_speed

_RATES = (8000, 48000)


@dataclass(frozen=True)
class SpeechRequest:
    """One text to speak and how; validated on construction (``ValueError`` subclasses)."""

    text: str
    voice: str | None = None
    language: str | None = None
    speed: float = 1.0
    format: AudioFormat = "mp3"
    sample_rate: int | None = None
    """Output rate; ``None`` keeps the voice's own (22.05 kHz for the local voices). OpenAI
    clients asking for ``pcm`` expect 24000."""
    loudness: LoudnessOptions | None = field(default=None)
    """Normalise and/or compress; ``None`` leaves the voice's level alone."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "format", check_format(self.format))
        object.__setattr__(self, "speed", check_speed(self.speed))
        if self.sample_rate is not None and not (_RATES[0] <= self.sample_rate <= _RATES[1]):
            raise ValueError(
                f"sample_rate must be between {_RATES[0]} and {_RATES[1]} Hz, "
                f"got {self.sample_rate}"
            )

    def cache_options(self) -> dict[str, str]:
        """Everything besides text and voice that changes the bytes (for the cache key)."""
        return {
            "format": self.format,
            "speed": f"{self.speed:.4f}",
            "language": (self.language or "").lower(),
            "sample_rate": str(self.sample_rate or ""),
            "loudness": self.loudness.key() if self.loudness else "off",
        }


@dataclass(frozen=True)
class RenderedSpeech:
    data: bytes
    format: str
    media_type: str
    sample_rate: int
    duration: float
    """Seconds of audio."""


@dataclass(frozen=True)
class SpeechPiece:
    """One sentence of a stream: its encoded bytes (possibly empty while an encoder buffers)."""

    data: bytes
    text: str
    duration: float


class SpeechStream:
    """Encoded speech sentence by sentence.

    Opening it (:func:`open_speech_stream`) synthesizes the first sentence, so bad input and
    a failing backend raise before any byte is sent, and :attr:`media_type` is known for the
    response headers. Iterating yields the bytes of one file.
    """

    def __init__(self, first: SpeechAudio, rest: Iterator[SpeechAudio], request: SpeechRequest):
        self.request = request
        self._first, self._rest = first, rest
        self._level = (
            LoudnessProcessor(request.loudness, first.sample_rate)
            if (request.loudness and request.loudness.active)
            else None
        )
        self._encoder = StreamingEncoder(
            request.format, first.sample_rate, target_rate=request.sample_rate
        )
        self.audio_rate = first.sample_rate
        """The rate of the synthesized audio (before the encoder resamples)."""
        self.media_type = self._encoder.media_type
        self.sample_rate = self._encoder.sample_rate
        self.format = request.format
        self.duration = 0.0
        """Seconds of audio yielded so far."""

    def _samples(self, audio: SpeechAudio) -> np.ndarray:
        if audio.sample_rate != self._first.sample_rate:
            from reflector.audio.resample import resample

            return resample(audio.samples, audio.sample_rate, self._first.sample_rate)
        return audio.samples

    def audio(self) -> Iterator[SpeechAudio]:
        """The levelled sentences before encoding (one rate: the first sentence's)."""
        audio: SpeechAudio | None = self._first
        while audio is not None:
            samples = self._samples(audio)
            if self._level is not None:
                samples = self._level.process(samples)
            self.duration += len(samples) / self._first.sample_rate
            yield SpeechAudio(samples, self._first.sample_rate, audio.text)
            audio = next(self._rest, None)

    def pieces(self) -> Iterator[SpeechPiece]:
        """Encoded sentences; the last piece may be the encoder's tail with no text."""
        for audio in self.audio():
            yield SpeechPiece(self._encoder.write(audio.samples), audio.text, audio.duration)
        tail = self._encoder.close()
        if tail:
            yield SpeechPiece(tail, "", 0.0)

    def as_rendered(self, data: bytes) -> RenderedSpeech:
        """The finished stream as one entry for the cache (``data``: every byte it yielded).

        Streamed WAV keeps its unknown-length header, which players and decoders accept.
        """
        return RenderedSpeech(data, self.format, self.media_type, self.sample_rate, self.duration)

    def __iter__(self) -> Iterator[bytes]:
        return (piece.data for piece in self.pieces() if piece.data)


def open_speech_stream(
    synthesizer: SpeechSynthesizer, request: SpeechRequest, *, fast_start: bool = False
) -> SpeechStream:
    """Start speaking ``request`` sentence by sentence (see :class:`SpeechStream`).

    ``fast_start`` speaks the opening phrase of a long first sentence on its own
    (:func:`~reflector.tts.text.split_lead`): the first audio comes several times sooner, at
    the price of a slight pause after that phrase. For streaming answers, not whole files.
    """
    lead, rest = split_lead(request.text) if fast_start else ("", request.text)

    def speak(text: str) -> Iterator[SpeechAudio]:
        return synthesizer.stream(
            text, voice=request.voice, language=request.language, speed=request.speed
        )

    def all_chunks() -> Iterator[SpeechAudio]:
        if lead:
            yield from speak(lead)
        yield from speak(rest)

    chunks = all_chunks()
    first = next(chunks, None)
    if first is None:
        raise EmptySpeechError(
            "the text has nothing to speak (only punctuation or symbols?): no audio was produced"
        )
    return SpeechStream(first, chunks, request)


def render_speech(synthesizer: SpeechSynthesizer, request: SpeechRequest) -> RenderedSpeech:
    """The whole of ``request`` as one encoded file."""
    stream = open_speech_stream(synthesizer, request)
    parts = [audio.samples for audio in stream.audio()]
    # Encoded in one go (not streamed), so WAV, FLAC and MP3 headers state the exact length.
    data = encode_audio(
        np.concatenate(parts), stream.audio_rate, request.format, target_rate=request.sample_rate
    )
    return RenderedSpeech(
        data, request.format, stream.media_type, stream.sample_rate, stream.duration
    )

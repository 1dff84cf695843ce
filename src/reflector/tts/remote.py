"""Remote speech servers: any OpenAI-compatible ``/v1/audio/speech`` and ElevenLabs streaming.

Both send one request per sentence from :meth:`stream`, so the first sentence plays while the
server works on the next. Every request goes through :func:`reflector.resilience.send_with_retries`
under a circuit breaker: connection errors, timeouts and 5xx answers are retried with backoff;
a 4xx answer fails at once; a dead server opens the breaker and later calls fail fast with
:class:`SpeechServerUnavailableError` (the fallback adapter then speaks locally).
"""

from __future__ import annotations

import io
import wave
from collections.abc import Callable, Iterator

import httpx
import numpy as np

from reflector.audio.tempo import change_tempo
from reflector.resilience import CircuitBreaker, CircuitOpenError, RetryPolicy, send_with_retries
from reflector.tts.text import split_sentences
from reflector.tts.types import (
    DEFAULT_MAX_CHARS,
    RemoteTtsError,
    SpeechAudio,
    SpeechServerUnavailableError,
    SpeechSynthesizer,
    Voice,
)

OPENAI_VOICE_NAMES = (
    "alloy", "ash", "ballad", "cedar", "coral", "echo", "fable", "marin", "nova", "onyx",
    "sage", "shimmer", "verse",
)  # fmt: skip
"""The voices of OpenAI's speech API; local backends answer them with their default voice."""
OPENAI_PCM_RATE = 24_000
"""OpenAI's ``pcm`` format: 24 kHz signed 16-bit little-endian mono."""
ELEVENLABS_URL = "https://api.elevenlabs.io"
ELEVENLABS_PCM_RATE = 16_000
ELEVENLABS_DEFAULT_MODEL = "eleven_multilingual_v2"
ELEVENLABS_DEFAULT_VOICE = "21m00Tcm4TlvDq8ikWAM"
"""ElevenLabs' premade voice "Rachel"."""
_ELEVENLABS_SPEEDS = (0.7, 1.2)
"""The range ElevenLabs' ``voice_settings.speed`` accepts; other speeds are applied here."""


def _pcm16(data: bytes) -> np.ndarray:
    usable = len(data) - len(data) % 2
    return np.frombuffer(data[:usable], dtype="<i2").astype(np.float32) / 32768.0


def _wav(data: bytes) -> tuple[np.ndarray, int]:
    try:
        with wave.open(io.BytesIO(data)) as handle:
            if handle.getsampwidth() != 2:
                raise RemoteTtsError("the speech server sent WAV that is not 16-bit")
            rate, channels = handle.getframerate(), handle.getnchannels()
            pcm = _pcm16(handle.readframes(2**31 - 1))
    except (wave.Error, EOFError) as exc:
        raise RemoteTtsError(f"the speech server sent a broken WAV file: {exc}") from exc
    if channels > 1:
        pcm = pcm[: len(pcm) - len(pcm) % channels].reshape(-1, channels).mean(axis=1)
    return pcm.astype(np.float32), rate


class _RemoteBackend(SpeechSynthesizer):
    """Shared plumbing: an HTTP client, the breaker, retries and error translation."""

    name = "remote"

    def __init__(
        self,
        *,
        breaker: CircuitBreaker,
        policy: RetryPolicy | None,
        client: httpx.Client | None,
        max_chars: int,
    ) -> None:
        self.breaker = breaker
        self.policy = policy or RetryPolicy()
        self._client = client or httpx.Client()
        self.max_chars = max_chars

    def _call(self, send: Callable[[], httpx.Response]) -> httpx.Response:
        try:
            return send_with_retries(self.breaker, self.policy, send)
        except CircuitOpenError as exc:
            raise SpeechServerUnavailableError(str(exc)) from exc
        except httpx.HTTPStatusError as exc:
            detail = exc.response.text[:300].strip()
            raise RemoteTtsError(
                f"{self.name} speech server answered {exc.response.status_code}: {detail}"
            ) from exc
        except httpx.HTTPError as exc:
            raise RemoteTtsError(
                f"{self.name} speech server at {exc.request.url.host if exc.request else '?'} "
                f"did not answer: {type(exc).__name__}: {exc}"
            ) from exc

    def supports(self, language: str) -> bool:
        return True  # remote voices are multilingual; the server refuses what it cannot do

    def _stream(
        self, text: str, voice: str | None, language: str | None, speed: float
    ) -> Iterator[SpeechAudio]:
        return (self._synthesize(s, voice, language, speed) for s in split_sentences(text))

    def close(self) -> None:
        self._client.close()


class OpenAiSpeechSynthesizer(_RemoteBackend):
    """``POST {base_url}/audio/speech`` of an OpenAI-compatible server.

    ``base_url`` ends in ``/v1`` as for the ``openai`` client (``https://api.openai.com/v1``,
    ``http://gpu-box:8000/v1``). Voice ids may carry an ``openai:`` prefix.
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        *,
        breaker: CircuitBreaker,
        api_key: str | None = None,
        model: str = "tts-1",
        default_voice: str = "alloy",
        response_format: str = "pcm",
        policy: RetryPolicy | None = None,
        client: httpx.Client | None = None,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> None:
        super().__init__(breaker=breaker, policy=policy, client=client, max_chars=max_chars)
        if response_format not in ("pcm", "wav"):
            raise ValueError(f"response_format must be 'pcm' or 'wav', got {response_format!r}")
        self.url = base_url.rstrip("/") + "/audio/speech"
        self.api_key, self.model = api_key, model
        self.default_voice, self.response_format = default_voice, response_format

    def voices(self) -> list[Voice]:
        names = dict.fromkeys([self.default_voice, *OPENAI_VOICE_NAMES])
        return [Voice(f"openai:{n}", n.capitalize(), "multilingual", "openai") for n in names]

    def _synthesize(
        self, text: str, voice: str | None, language: str | None, speed: float
    ) -> SpeechAudio:
        remote_voice = (voice or self.default_voice).removeprefix("openai:")
        body = {
            "model": self.model,
            "input": text,
            "voice": remote_voice,
            "response_format": self.response_format,
            "speed": speed,
        }
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        response = self._call(
            lambda: self._client.post(
                self.url, json=body, headers=headers, timeout=self.policy.timeout
            )
        )
        if self.response_format == "wav":
            samples, rate = _wav(response.content)
        else:
            samples, rate = _pcm16(response.content), OPENAI_PCM_RATE
        if len(samples) == 0:
            raise RemoteTtsError("the openai speech server sent no audio")
        return SpeechAudio(samples, rate, text)


class ElevenLabsSynthesizer(_RemoteBackend):
    """ElevenLabs' ``POST /v1/text-to-speech/{voice_id}/stream`` as raw 16 kHz PCM.

    Voice ids are ElevenLabs voice ids, optionally prefixed ``elevenlabs:``.
    """

    name = "elevenlabs"

    def __init__(
        self,
        *,
        breaker: CircuitBreaker,
        api_key: str | None = None,
        base_url: str = ELEVENLABS_URL,
        model_id: str = ELEVENLABS_DEFAULT_MODEL,
        default_voice: str = ELEVENLABS_DEFAULT_VOICE,
        voice_settings: dict[str, float | bool] | None = None,
        policy: RetryPolicy | None = None,
        client: httpx.Client | None = None,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> None:
        super().__init__(breaker=breaker, policy=policy, client=client, max_chars=max_chars)
        self.base_url = base_url.rstrip("/")
        self.api_key, self.model_id, self.default_voice = api_key, model_id, default_voice
        self.voice_settings = dict(voice_settings or {})

    def voices(self) -> list[Voice]:
        return [
            Voice(
                f"elevenlabs:{self.default_voice}", "ElevenLabs voice", "multilingual", "elevenlabs"
            )
        ]

    def _synthesize(
        self, text: str, voice: str | None, language: str | None, speed: float
    ) -> SpeechAudio:
        voice_id = (voice or self.default_voice).removeprefix("elevenlabs:")
        low, high = _ELEVENLABS_SPEEDS
        remote_speed = min(max(speed, low), high)
        settings = dict(self.voice_settings)
        if remote_speed != 1.0:
            settings["speed"] = remote_speed
        body: dict[str, object] = {"text": text, "model_id": self.model_id}
        if settings:
            body["voice_settings"] = settings
        url = f"{self.base_url}/v1/text-to-speech/{voice_id}/stream"
        headers = {"xi-api-key": self.api_key or "", "accept": "audio/pcm"}

        def send() -> httpx.Response:
            # The body arrives as chunks of raw PCM while ElevenLabs speaks; they are joined
            # here (one sentence), and the next sentence is requested by the stream.
            return self._client.post(
                url,
                params={"output_format": f"pcm_{ELEVENLABS_PCM_RATE}"},
                json=body,
                headers=headers,
                timeout=self.policy.timeout,
            )

        samples = _pcm16(self._call(send).content)
        if len(samples) == 0:
            raise RemoteTtsError("the elevenlabs speech server sent no audio")
        if abs(remote_speed - speed) > 1e-6:
            samples = change_tempo(samples, ELEVENLABS_PCM_RATE, speed / remote_speed)
        return SpeechAudio(samples, ELEVENLABS_PCM_RATE, text)

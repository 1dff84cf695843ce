"""Diarization on another machine (a GPU server) over a small HTTP contract.

Request: ``POST <url>`` with the recording as 16 kHz mono 16-bit PCM WAV
(``Content-Type: audio/wav``); the optional hints go in the query string as
``num_speakers``, ``min_speakers`` and ``max_speakers``; an API key, when configured, is sent
as ``Authorization: Bearer <key>``.

Response: ``200`` with a JSON array ``[{"start": 0.0, "end": 2.5, "speaker": 0}, …]`` (seconds;
``speaker`` an integer or a label such as ``"SPEAKER_01"``). An object ``{"turns": [...]}``
is accepted too. Speakers are renumbered 0, 1, … in order of first appearance.

:func:`turns_to_json` and :func:`wav_pieces` build both sides of the contract, so a Reflector
API endpoint can serve it for another Reflector.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np

from reflector.audio.formats import wav_header
from reflector.diarization.protocol import Diarizer
from reflector.diarization.types import (
    DiarizationError,
    DiarizationOptions,
    DiarizationResult,
    SpeakerTurn,
    sorted_turns,
)
from reflector.vad import SpeechRegion

SAMPLE_RATE = 16_000
_ERROR_BODY_CHARS = 300
_WAV_BLOCK = SAMPLE_RATE * 60


def wav_pieces(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Iterator[bytes]:
    """Mono float32 samples as a 16-bit PCM WAV file, a header and then a minute at a time:
    a long recording is a memory map, never copied whole (as float32 or as the WAV)."""
    yield wav_header(sample_rate, 2 * len(samples))
    for start in range(0, len(samples), _WAV_BLOCK):
        block = np.asarray(samples[start : start + _WAV_BLOCK], dtype=np.float32)
        yield (np.clip(block, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def turns_to_json(result: DiarizationResult) -> list[dict[str, Any]]:
    """The response body of the contract for ``result``."""
    return [
        {"start": round(t.start, 3), "end": round(t.end, 3), "speaker": t.speaker}
        for t in sorted_turns(result.turns)
    ]


def turns_from_json(payload: Any) -> list[SpeakerTurn]:
    """Parse a response body; raises :class:`DiarizationError` when it breaks the contract."""
    if isinstance(payload, dict) and "turns" in payload:
        payload = payload["turns"]
    if not isinstance(payload, list):
        raise DiarizationError("diarization server answered with JSON that is not a list of turns")
    raw: list[tuple[float, float, str]] = []
    for index, item in enumerate(payload):
        try:
            start, end = float(item["start"]), float(item["end"])
            label = item["speaker"]
        except (TypeError, KeyError, ValueError) as exc:
            raise DiarizationError(
                f"diarization server sent an invalid turn #{index}: {item!r} "
                "(need start, end and speaker)"
            ) from exc
        if isinstance(label, bool) or not isinstance(label, int | str):
            raise DiarizationError(f"turn #{index} has a speaker that is not a number or label")
        if not (np.isfinite(start) and np.isfinite(end)) or start < 0 or end < start:
            raise DiarizationError(f"turn #{index} has impossible times: {start} to {end}")
        raw.append((start, end, str(label)))
    raw.sort()
    numbers: dict[str, int] = {}
    turns = [SpeakerTurn(s, e, numbers.setdefault(label, len(numbers))) for s, e, label in raw]
    return turns


class RemoteDiarizer(Diarizer):
    """Sends the audio to a diarization server speaking the contract above."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 600.0) -> None:
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"diarization server URL must be http(s)://host/…, got {url!r}")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.url, self.api_key, self.timeout = url, api_key, timeout

    def _request_url(self, options: DiarizationOptions) -> str:
        hints = {
            name: getattr(options, name)
            for name in ("num_speakers", "min_speakers", "max_speakers")
            if getattr(options, name) is not None
        }
        if not hints:
            return self.url
        separator = "&" if urllib.parse.urlparse(self.url).query else "?"
        return f"{self.url}{separator}{urllib.parse.urlencode(hints)}"

    def _diarize(
        self, samples: np.ndarray, speech: list[SpeechRegion], options: DiarizationOptions
    ) -> DiarizationResult:
        if len(samples) == 0 or not speech:
            return DiarizationResult()
        headers = {
            "Content-Type": "audio/wav",
            "Accept": "application/json",
            # Sent a minute at a time as it is converted: an hour is 115 MB of WAV.
            "Content-Length": str(len(wav_header(SAMPLE_RATE, 0)) + 2 * len(samples)),
        }
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(
            self._request_url(options), data=wav_pieces(samples), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:_ERROR_BODY_CHARS].decode("utf-8", errors="replace").strip()
            raise DiarizationError(
                f"diarization server {self.url} answered HTTP {exc.code} {exc.reason}"
                + (f": {detail}" if detail else "")
            ) from exc
        except TimeoutError as exc:
            raise DiarizationError(
                f"diarization server {self.url} did not answer within {self.timeout:g} s"
            ) from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise DiarizationError(
                    f"diarization server {self.url} did not answer within {self.timeout:g} s"
                ) from exc
            raise DiarizationError(
                f"cannot reach diarization server {self.url}: {exc.reason}"
            ) from exc
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise DiarizationError(
                f"diarization server {self.url} did not answer with JSON: "
                f"{body[:_ERROR_BODY_CHARS].decode('utf-8', errors='replace')!r}"
            ) from exc
        return DiarizationResult(tuple(turns_from_json(payload)))

"""The voice API: ``POST /api/stt``, ``POST /api/tts``, ``GET /api/voices`` and ``GET /stats``.

``/api/stt`` takes a multipart file (field ``file``) or JSON with base64 audio; both answer with
the text, the language, timed segments and the sentiment of what was said.
"""

from __future__ import annotations

import base64
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import iterate_in_threadpool

from reflector.api.deps import State, User
from reflector.api.problems import Problem
from reflector.api.rate_limits import ExpensiveUser
from reflector.api.schemas import validation_details
from reflector.api.voice.schemas import SttJson, SttResponse, TtsBody, VoiceOut
from reflector.api.voice.service import recognize, stt_response
from reflector.api.voice.speech_input import save_base64, save_upload, too_large
from reflector.api.voice.speech_output import open_stream, render_cached, speech_request
from reflector.audio.loudness import LoudnessOptions
from reflector.nlp import Sentiment, analyze_sentiment
from reflector.pipelines.speech import RecognitionRequest

router = APIRouter(tags=["voice"])

_MULTIPART_OVERHEAD = 64 * 1024
"""Bytes of form fields and boundaries allowed on top of the audio limit."""


def _form_value(form: Any, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) and value else None


@router.post("/api/stt", response_model=SttResponse)
async def speech_to_text(state: State, user: ExpensiveUser, request: Request) -> SttResponse:
    """Transcribe a short recording (multipart ``file``, or JSON ``{"audio": base64}``)."""
    started = time.perf_counter()
    limit = state.settings.max_audio_bytes
    declared = int(request.headers.get("content-length") or 0)
    if declared > limit * 4 // 3 + _MULTIPART_OVERHEAD:
        raise too_large(declared, limit)  # refused before reading a byte
    content_type = request.headers.get("content-type", "")
    with state.voice.stats.timed("stt"), tempfile.TemporaryDirectory() as folder:
        if content_type.startswith("multipart/form-data"):
            form = await request.form(max_files=1, max_fields=8)
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise Problem(422, "missing-file", "send the audio in a multipart field 'file'")
            path = await save_upload(upload, Path(folder), limit)
            speech = RecognitionRequest(
                language=_form_value(form, "language"),
                model=_form_value(form, "model"),
                diarize=_form_value(form, "diarize") in ("true", "1"),
            )
        elif content_type.startswith("application/json"):
            raw = await _read_capped(request, limit * 4 // 3 + _MULTIPART_OVERHEAD, limit)
            try:
                body = SttJson.model_validate_json(raw)
            except ValidationError as error:
                raise Problem(422, "validation-error", _describe(error)) from None
            path = save_base64(body.audio, Path(folder), limit)
            speech = RecognitionRequest(
                language=body.language, model=body.model, diarize=body.diarize
            )
        else:
            raise Problem(
                415, "unsupported-media-type",
                "send multipart/form-data with a 'file' field, or application/json with "
                "base64 'audio'",
            )  # fmt: skip
        transcript = await recognize(state, path, speech)
    return stt_response(transcript, started)


async def _read_capped(request: Request, cap: int, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes ``cap`` bytes (a chunked request has
    no Content-Length to check up front)."""
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > cap:
            raise too_large(len(body) * 3 // 4, limit)
    return bytes(body)


def _describe(error: ValidationError) -> str:
    if any(e.get("type") == "json_invalid" for e in error.errors()):
        return "the request body is not valid JSON"
    return validation_details(error)


def _loudness(body: TtsBody) -> LoudnessOptions | None:
    if not (body.normalize or body.compress):
        return None
    try:
        return LoudnessOptions(
            target_dbfs=body.target_dbfs if body.normalize else None, compress=body.compress
        )
    except ValueError as error:
        raise Problem(400, "bad-speech-request", str(error)) from None


def _sentiment_headers(sentiment: Sentiment | None) -> dict[str, str]:
    if sentiment is None:
        return {}
    return {"X-Sentiment": sentiment.label, "X-Sentiment-Score": str(sentiment.score)}


@router.post("/api/tts", response_model=None)
async def text_to_speech(state: State, user: User, body: TtsBody, request: Request) -> Response:
    """Speak ``text``. The answer is the audio, with ``X-Audio-Duration``, ``X-Latency-Ms``,
    ``X-Cached`` and ``X-Sentiment`` headers; with ``Accept: application/json`` it is JSON with
    the audio in base64 instead."""
    voice = state.voice
    speech = speech_request(state.settings.max_tts_chars, body, _loudness(body))
    sentiment = analyze_sentiment(body.text, body.language or "en")
    with voice.stats.timed("tts"):
        if body.stream:
            stream = await open_stream(voice, speech)
            headers = {"X-Cached": "false", **_sentiment_headers(sentiment)}
            return StreamingResponse(
                iterate_in_threadpool(iter(stream)), media_type=stream.media_type,
                headers=headers,
            )  # fmt: skip
        answer = await render_cached(voice, speech)
    latency_ms = round(answer.seconds * 1000, 2)
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({
            "audio": base64.b64encode(answer.speech.data).decode(),
            "format": answer.speech.format,
            "media_type": answer.speech.media_type,
            "sample_rate": answer.speech.sample_rate,
            "duration": round(answer.speech.duration, 3),
            "latency_ms": latency_ms,
            "cached": answer.cached,
            "sentiment": asdict(sentiment) if sentiment else None,
        })  # fmt: skip
    headers = {
        "X-Audio-Duration": f"{answer.speech.duration:.3f}",
        "X-Latency-Ms": str(latency_ms),
        "X-Cached": str(answer.cached).lower(),
        **_sentiment_headers(sentiment),
    }
    return Response(answer.speech.data, media_type=answer.speech.media_type, headers=headers)


@router.get("/api/voices", response_model=list[VoiceOut])
async def list_voices(state: State, user: User) -> list[VoiceOut]:
    synthesizer = await state.voice.shared_synthesizer()
    return [VoiceOut(**asdict(v)) for v in synthesizer.voices()]


@router.get("/stats")
async def voice_stats(state: State, user: User) -> dict[str, Any]:
    """Requests and latencies per voice endpoint, the speech cache, and remote backends."""
    voice = state.voice
    cache = await voice.cache.stats()
    return {
        "endpoints": {name: asdict(s) for name, s in voice.stats.snapshot().items()},
        "cache": {**asdict(cache), "hit_rate": round(cache.hit_rate, 4)},
        "breakers": [
            {**asdict(snapshot), "state": snapshot.state.value}
            for snapshot in voice.breakers.snapshots()
        ],
        "fallbacks": dict(voice.fallbacks),
    }

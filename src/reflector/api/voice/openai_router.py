"""OpenAI-compatible audio API: ``/v1/audio/transcriptions``, ``/v1/audio/translations``,
``/v1/audio/speech`` and ``/v1/models``, so the official ``openai`` client works with
``base_url=<server>/v1``.

Errors keep the server's problem documents and add OpenAI's ``error`` object, which its
clients read the message from.
"""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from reflector.api.deps import State, User
from reflector.api.problems import Problem, openai_error
from reflector.api.rate_limits import ExpensiveUser
from reflector.api.state import AppState
from reflector.api.voice.openai_shapes import diarized, rendered, usage, verbose
from reflector.api.voice.schemas import SpeechBody
from reflector.api.voice.service import check_recognition, recognize
from reflector.api.voice.services import SPEECH_MODELS
from reflector.api.voice.speech_input import save_upload
from reflector.api.voice.speech_output import open_stream, render_cached, speech_request
from reflector.domain import Transcript, Word
from reflector.pipelines.speech import DIARIZING_MODELS, RecognitionRequest
from reflector.tts import SpeechStream, split_sentences

router = APIRouter(prefix="/v1", tags=["openai-compatible"])

TranscriptionFormat = Literal["json", "text", "srt", "verbose_json", "vtt", "diarized_json"]
TranslationFormat = Literal["json", "text", "srt", "verbose_json", "vtt"]
_CONTENT_TYPES = {"text": "text/plain", "srt": "application/x-subrip", "vtt": "text/vtt"}
_CREATED = 1_700_000_000
"""``created`` of every listed model (a fixed time: the models ship with the server)."""


def openai_problem(
    status: int, slug: str, message: str, param: str | None = None, code: str | None = None
) -> Problem:
    return Problem(status, slug, message, error=openai_error(status, slug, message, param, code))


def _granularities(values: list[str] | None) -> set[str]:
    chosen = set(values or [])
    unknown = chosen - {"word", "segment"}
    if unknown:
        raise openai_problem(
            400, "bad-granularity", f"unknown timestamp granularities {sorted(unknown)}: "
            "use 'word' and/or 'segment'", param="timestamp_granularities[]",
        )  # fmt: skip
    return chosen


def _check_request(state: AppState, request: RecognitionRequest) -> None:
    try:
        check_recognition(state, request)
    except Problem as problem:
        raise openai_problem(problem.status, problem.slug, problem.detail, param="model") from None


async def _recognize(
    state: AppState,
    upload: UploadFile,
    request: RecognitionRequest,
    endpoint: str,
    on_words: Callable[[list[Word]], None] | None = None,
) -> Transcript:
    _check_request(state, request)  # before the upload is read
    with state.voice.stats.timed(endpoint), tempfile.TemporaryDirectory() as folder:
        path = await save_upload(upload, Path(folder), state.settings.max_audio_bytes)
        return await recognize(state, path, request, on_words)


def _answer(
    transcript: Transcript, response_format: str, task: str, granularities: set[str]
) -> Response:
    if response_format == "json":
        return JSONResponse({"text": transcript.text, "usage": usage(transcript)})
    if response_format == "verbose_json":
        return JSONResponse(verbose(transcript, task, granularities))
    if response_format == "diarized_json":
        return JSONResponse(diarized(transcript))
    return PlainTextResponse(
        rendered(transcript, response_format), media_type=_CONTENT_TYPES[response_format]
    )


def _sse(event: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(event)}\n\n".encode()


async def _streamed_transcription(
    state: AppState, upload: UploadFile, request: RecognitionRequest
) -> AsyncIterator[bytes]:
    """``transcript.text.delta`` events as windows are decoded, then ``transcript.text.done``."""
    loop = asyncio.get_running_loop()
    pieces: asyncio.Queue[list[Word]] = asyncio.Queue()

    def on_words(words: list[Word]) -> None:
        loop.call_soon_threadsafe(pieces.put_nowait, words)

    work = asyncio.create_task(
        _recognize(state, upload, request, "transcriptions", on_words=on_words)
    )
    try:
        while not (work.done() and pieces.empty()):
            getter = asyncio.ensure_future(pieces.get())
            await asyncio.wait({getter, work}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                delta = "".join(word.text for word in getter.result())
                yield _sse({"type": "transcript.text.delta", "delta": delta})
            else:
                getter.cancel()
        transcript = work.result()
    except Problem as problem:
        yield _sse({"type": "error", "error": problem.extra.get("error") or
                    {"message": problem.detail, "code": problem.slug}})  # fmt: skip
        return
    finally:
        if not work.done():
            work.cancel()
    yield _sse({"type": "transcript.text.done", "text": transcript.text,
                "usage": usage(transcript)})  # fmt: skip


@router.post("/audio/transcriptions", response_model=None)
async def create_transcription(
    state: State,
    user: ExpensiveUser,
    file: Annotated[UploadFile, File(description="audio in any format ffmpeg reads")],
    model: Annotated[str, Form()] = "whisper-1",
    language: Annotated[str | None, Form()] = None,
    prompt: Annotated[str | None, Form()] = None,
    response_format: Annotated[TranscriptionFormat, Form()] = "json",
    temperature: Annotated[float, Form(ge=0, le=1)] = 0.0,
    timestamp_granularities: Annotated[
        list[str] | None, Form(alias="timestamp_granularities[]")
    ] = None,
    stream: Annotated[bool, Form()] = False,
) -> Response:
    """Speech to text in the language spoken. ``prompt`` and ``temperature`` are accepted for
    compatibility; decoding is always greedy-to-beam with temperature fallback."""
    granularities = _granularities(timestamp_granularities)
    diarize = response_format == "diarized_json" or model in DIARIZING_MODELS
    request = RecognitionRequest(language=language or None, model=model, diarize=diarize)
    if stream:
        if response_format not in ("json", "text"):
            raise openai_problem(400, "stream-format", "streaming answers are json or text only",
                                 param="stream")  # fmt: skip
        _check_request(state, request)  # a wrong model is a 400, not an event in a 200 stream
        return StreamingResponse(
            _streamed_transcription(state, file, request), media_type="text/event-stream"
        )
    transcript = await _recognize(state, file, request, "transcriptions")
    return _answer(transcript, response_format, "transcribe", granularities)


@router.post("/audio/translations", response_model=None)
async def create_translation(
    state: State,
    user: ExpensiveUser,
    file: Annotated[UploadFile, File(description="audio in any language")],
    model: Annotated[str, Form()] = "whisper-1",
    prompt: Annotated[str | None, Form()] = None,
    response_format: Annotated[TranslationFormat, Form()] = "json",
    temperature: Annotated[float, Form(ge=0, le=1)] = 0.0,
) -> Response:
    """Speech in any language to English text."""
    request = RecognitionRequest(task="translate", model=model)
    transcript = await _recognize(state, file, request, "translations")
    return _answer(transcript, response_format, "translate", set())


def _model_entry(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": _CREATED, "owned_by": "reflector"}


def _model_ids(state: AppState) -> list[str]:
    return state.voice.model_ids()


@router.get("/models")
async def list_models(state: State, user: User) -> dict[str, Any]:
    return {"object": "list", "data": [_model_entry(m) for m in _model_ids(state)]}


@router.get("/models/{model_id:path}")
async def get_model(state: State, user: User, model_id: str) -> dict[str, Any]:
    if model_id not in _model_ids(state):
        raise openai_problem(404, "model-not-found", f"the model {model_id!r} does not exist",
                             param="model", code="model_not_found")  # fmt: skip
    return _model_entry(model_id)


async def _sse_speech(stream: SpeechStream, characters: int) -> AsyncIterator[bytes]:
    async for data in iterate_in_threadpool(iter(stream)):
        yield _sse({"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()})
    yield _sse({"type": "speech.audio.done", "usage": {
        "input_tokens": characters, "output_tokens": 0, "total_tokens": characters,
    }})  # fmt: skip


@router.post("/audio/speech", response_model=None)
async def create_speech(state: State, user: User, body: SpeechBody) -> Response:
    """Text to speech. One-sentence texts are answered from the cache when they were spoken
    before; longer ones stream sentence by sentence, so the first audio comes early."""
    voice = state.voice
    if body.model not in SPEECH_MODELS:
        raise openai_problem(404, "model-not-found", f"the model {body.model!r} does not exist; "
                             f"use one of {', '.join(SPEECH_MODELS)}", param="model",
                             code="model_not_found")  # fmt: skip
    try:
        speech = speech_request(state.settings.max_tts_chars, body)
    except Problem as problem:
        raise openai_problem(problem.status, problem.slug, problem.detail) from None
    with voice.stats.timed("speech"):
        if body.stream_format == "audio" and len(split_sentences(speech.text)) <= 1:
            answer = await render_cached(voice, speech)
            return Response(answer.speech.data, media_type=answer.speech.media_type,
                            headers={"X-Cached": str(answer.cached).lower()})  # fmt: skip
        stream = await open_stream(voice, speech)
    if body.stream_format == "sse":
        return StreamingResponse(
            _sse_speech(stream, len(body.input)), media_type="text/event-stream"
        )
    return StreamingResponse(iterate_in_threadpool(iter(stream)), media_type=stream.media_type)

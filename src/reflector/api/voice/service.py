"""Speech recognition for the voice endpoints: the request checked, the recogniser run off the
event loop, the transcript in the shape of ``/api/stt``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from reflector.api.problems import Problem
from reflector.api.state import AppState
from reflector.api.voice.schemas import SentimentOut, SttResponse, SttSegment, SttWord
from reflector.api.voice.speech_input import unusable_audio
from reflector.audio import AudioError
from reflector.domain import Transcript, Word
from reflector.nlp import Sentiment, analyze_sentiment
from reflector.pipelines.speech import RecognitionRequest, RecognitionRequestError


def check_recognition(state: AppState, request: RecognitionRequest) -> None:
    """400 for a request the recogniser cannot serve (an unknown model, translation with an
    English-only one), before any audio is decoded."""
    try:
        state.voice.recognizer.check(request)
    except RecognitionRequestError as error:
        raise Problem(400, "unsupported-request", str(error)) from None


async def recognize(
    state: AppState,
    path: Path,
    request: RecognitionRequest,
    on_words: Callable[[list[Word]], None] | None = None,
) -> Transcript:
    """Run the recogniser off the event loop; bad requests and bad audio become 400s."""
    check_recognition(state, request)
    try:
        return await asyncio.to_thread(state.voice.recognizer.recognize, path, request, on_words)
    except AudioError as error:
        raise unusable_audio(error) from None


def sentiment_out(sentiment: Sentiment | None) -> SentimentOut | None:
    return SentimentOut(**asdict(sentiment)) if sentiment else None


def stt_response(transcript: Transcript, started: float) -> SttResponse:
    return SttResponse(
        text=transcript.text,
        language=transcript.language,
        language_probability=transcript.language_probability,
        duration=transcript.duration,
        segments=[
            SttSegment(
                start=s.start,
                end=s.end,
                text=s.text.strip(),
                speaker=s.speaker,
                words=[
                    SttWord(
                        word=w.text.strip(), start=w.start, end=w.end, probability=w.probability
                    )
                    for w in s.words
                ],
            )
            for s in transcript.segments
        ],
        sentiment=sentiment_out(analyze_sentiment(transcript.text, transcript.language)),
        latency_ms=round((time.perf_counter() - started) * 1000, 1),
    )

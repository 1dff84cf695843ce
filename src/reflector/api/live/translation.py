"""Translated captions and speech for a live session, published as the session goes.

Final words become sentences; each sentence is translated into every target language and
published as a ``TRANSLATION`` event (stored, so late subscribers replay them), then spoken, and
the speech is published on the language's speech channel for listeners
(``WS /v1/transcripts/{id}/translations/{language}/speech``). Sentences are handled one at a
time, in order, off the event loop; a slow synthesiser delays speech, never captions of later
sentences beyond the one being spoken.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Sequence

import numpy as np
import structlog

from reflector.api.live.metrics import CAPTION_DELAY_SECONDS, SPEECH_DELAY_SECONDS
from reflector.api.state import AppState
from reflector.bus import EventBus
from reflector.bus.channels import speech_channel
from reflector.domain import Word
from reflector.domain.events import TranslationEvent
from reflector.live.translation import Caption, CaptionTranslator, Sentence, SentenceAssembler
from reflector.pipelines.publish import emit
from reflector.translation import Translator
from reflector.tts import SpeechSynthesizer

log = structlog.get_logger(__name__)


class LiveTranslation:
    """One live session's translation chain; feed it final words, close it at the end."""

    def __init__(
        self,
        state: AppState,
        transcript_id: str,
        translator: Translator,
        synthesizer: SpeechSynthesizer | None,
        source: str,
        targets: Sequence[str],
    ) -> None:
        self.state = state
        self.bus: EventBus = state.bus
        self.transcript_id = transcript_id
        self.synthesizer = synthesizer
        self.assembler = SentenceAssembler()
        self.captions = CaptionTranslator(translator, source, targets)
        self._queue: asyncio.Queue[tuple[Sentence, float] | None] = asyncio.Queue()
        self._worker = asyncio.create_task(self._run())

    async def add_final_words(self, words: Sequence[Word]) -> None:
        finalised = time.monotonic()
        for sentence in self.assembler.add(words):
            self._queue.put_nowait((sentence, finalised))

    async def close(self) -> None:
        """Translate what is left (a last sentence without a full stop) and wait for it."""
        finalised = time.monotonic()
        for sentence in self.assembler.flush():
            self._queue.put_nowait((sentence, finalised))
        self._queue.put_nowait(None)
        await self._worker
        for language in self.captions.targets:
            # Listeners of the translated speech hear that the session is over.
            await self.bus.publish(speech_channel(self.transcript_id, language), {"end": True})

    async def _run(self) -> None:
        while (item := await self._queue.get()) is not None:
            sentence, finalised = item
            try:
                await self._handle(sentence, finalised)
            except Exception:  # one bad sentence must not end the session's translations
                log.exception("live translation failed", transcript=self.transcript_id)

    async def _handle(self, sentence: Sentence, finalised: float) -> None:
        captions = await asyncio.to_thread(self.captions.translate, sentence)
        for caption in captions:
            # A caption is its event's data (plus its timing, which is not sent).
            event = TranslationEvent(data=caption)
            await emit(self.state.sessions, self.bus, self.transcript_id, event)
            CAPTION_DELAY_SECONDS.observe(time.monotonic() - finalised)
        if self.synthesizer is not None:
            for caption in captions:
                await self._speak(caption, finalised)

    async def _speak(self, caption: Caption, finalised: float) -> None:
        pieces = self.synthesizer.stream(caption.text, language=caption.language)
        channel = speech_channel(self.transcript_id, caption.language)
        first = True
        while (piece := await asyncio.to_thread(next, pieces, None)) is not None:
            pcm = (np.clip(piece.samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
            await self.bus.publish(channel, {
                "index": caption.index,
                "text": piece.text or caption.text,
                "format": "s16le",
                "sample_rate": piece.sample_rate,
                "audio": base64.b64encode(pcm).decode(),
            })  # fmt: skip
            if first:
                SPEECH_DELAY_SECONDS.observe(time.monotonic() - finalised)
                first = False

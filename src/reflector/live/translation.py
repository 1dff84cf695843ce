"""Live translation: final words → sentences → a caption per target language → speech.

Only *final* words are translated (interim ones may still change), a sentence at a time, as
soon as its last word is final. Each sentence is translated with the few sentences before it as
context, which backends that can use it (an LLM) use to keep pronouns and terms consistent.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from reflector.domain import Word
from reflector.domain.events import CaptionData
from reflector.domain.segmentation import is_sentence_end
from reflector.translation import Translator

MAX_SENTENCE_WORDS = 40
"""A run of final words this long without a full stop is translated anyway (people do not
always finish sentences, and Whisper does not always punctuate)."""
MAX_PAUSE = 1.2
"""A pause this long between final words ends the sentence being collected."""


@dataclass(frozen=True)
class Sentence:
    index: int
    text: str
    start: float
    end: float
    speaker: int | None = None


@dataclass
class SentenceAssembler:
    """Collects final words and hands out complete sentences, in order."""

    _words: list[Word] = field(default_factory=list)
    _count: int = 0

    def add(self, words: Sequence[Word]) -> list[Sentence]:
        done: list[Sentence] = []
        for word in words:
            if self._words and word.start - self._words[-1].end > MAX_PAUSE:
                done += self.flush()
            self._words.append(word)
            if is_sentence_end(word) or len(self._words) >= MAX_SENTENCE_WORDS:
                done += self.flush()
        return done

    def flush(self) -> list[Sentence]:
        """The words collected so far as one sentence (at a pause or the end of the stream)."""
        words, self._words = self._words, []
        text = "".join(word.text for word in words).strip()
        if not text:
            return []
        sentence = Sentence(self._count, text, words[0].start, words[-1].end, words[0].speaker)
        self._count += 1
        return [sentence]


class Caption(CaptionData):
    """A translated sentence: what its ``TRANSLATION`` event carries, and how long it took."""

    seconds: float
    """How long translating took."""


class CaptionTranslator:
    """Translates sentences of one stream into every target language, with rolling context."""

    def __init__(
        self,
        translator: Translator,
        source: str,
        targets: Sequence[str],
        context_sentences: int = 3,
    ) -> None:
        self.translator = translator
        self.source = source
        self.targets = [t for t in dict.fromkeys(targets) if t != source]
        self._context: deque[str] = deque(maxlen=context_sentences)

    def translate(self, sentence: Sentence) -> list[Caption]:
        """One caption per target language (blocking: run it off the event loop)."""
        captions = []
        context = tuple(self._context)
        for target in self.targets:
            started = time.perf_counter()
            text = self.translator.translate(sentence.text, self.source, target, context)
            captions.append(
                Caption(
                    language=target,
                    index=sentence.index,
                    text=text,
                    source_text=sentence.text,
                    start=sentence.start,
                    end=sentence.end,
                    speaker=sentence.speaker,
                    seconds=round(time.perf_counter() - started, 4),
                )
            )
        self._context.append(sentence.text)
        return captions

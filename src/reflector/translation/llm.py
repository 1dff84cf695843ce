"""Any pair through a chat model (:mod:`reflector.llm`): the last resort, and the only backend
that reads the rolling context.

Live speech arrives sentence by sentence; a sentence alone often misleads ("It was closed" -
the bank or the deal?). The previous few sentences go into the prompt as context, marked as
not to be translated, and the model is told to answer with the translation of the new sentence
only. Small local models still add quotes, labels or a second line now and then; the answer
is cleaned of those before it is returned.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence

from reflector.languages import LANGUAGE_NAMES
from reflector.llm import ChatMessage, ChatModel, ChatOptions, LlmError
from reflector.translation.types import (
    DEFAULT_MAX_CHARS,
    CheckedTranslator,
    Pair,
    TranslationError,
    TranslationUnavailableError,
    UnsupportedPairError,
)

CONTEXT_SENTENCES = 3
"""Previous sentences put in the prompt: enough to resolve a pronoun, cheap to read."""
CONTEXT_CHARS = 1200

ChatModelSource = ChatModel | Callable[[], ChatModel | None]
"""A loaded chat model, or a function that loads it on first use (``None``: no model)."""

_LABEL = re.compile(
    r"^(?:translation|translated text|traducci[oó]n|traduction|tradução)\s*:\s*", re.I
)
_QUOTES = ('"', "“", "”", "«", "»", "'", "`")


def clean_answer(answer: str) -> str:
    """The translation out of a model's answer: first non-empty line, no label, no quotes."""
    lines = [line.strip() for line in answer.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    text = _LABEL.sub("", lines[0]).strip()
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    return text


class LlmTranslator(CheckedTranslator):
    """:class:`~reflector.translation.types.Translator` for every pair of
    :data:`~reflector.languages.LANGUAGE_NAMES` through a chat model, loaded on the first
    translation when given as a function."""

    name = "llm"

    def __init__(
        self,
        model: ChatModelSource,
        *,
        languages: dict[str, str] | None = None,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> None:
        self._source = model
        self._model: ChatModel | None = model if isinstance(model, ChatModel) else None
        self._load_lock = threading.Lock()
        self.languages = dict(languages or LANGUAGE_NAMES)
        self.max_chars = max_chars

    @property
    def model(self) -> ChatModel:
        """The chat model, loaded now if it was not yet."""
        with self._load_lock:
            if self._model is None:
                loader = self._source
                assert callable(loader)
                try:
                    model = loader()
                except LlmError as error:
                    raise TranslationUnavailableError(
                        f"the language model for translation cannot be loaded: {error}"
                    ) from error
                if model is None:
                    raise TranslationUnavailableError(
                        "no language model is configured (REFLECTOR_LLM_BACKEND=extractive)"
                    )
                self._model = model
            return self._model

    def pairs(self) -> set[Pair]:
        return {(s, t) for s in self.languages for t in self.languages if s != t}

    def messages(
        self, text: str, source: str, target: str, context: Sequence[str] = ()
    ) -> list[ChatMessage]:
        """The prompt for one sentence (public so it can be inspected and tuned)."""
        source_name, target_name = self.languages[source], self.languages[target]
        system = (
            f"You translate {source_name} speech into {target_name}. Reply with the "
            f"{target_name} translation of the text you are given and nothing else: no notes, "
            "no quotes, no explanations."
        )
        previous = _recent_context(context)
        if previous:
            lines = "\n".join(previous)
            user = (
                f"Earlier in the same speech (for context only; do not translate it):\n{lines}\n\n"
                f"Translate this into {target_name}:\n{text}"
            )
        else:
            user = f"Translate this into {target_name}:\n{text}"
        return [ChatMessage("system", system), ChatMessage("user", user)]

    def _translate(self, text: str, source: str, target: str, context: Sequence[str]) -> str:
        missing = [code for code in (source, target) if code not in self.languages]
        if missing:
            raise UnsupportedPairError(
                f"the language-model translator does not know {', '.join(missing)}; known: "
                f"{', '.join(sorted(self.languages))}"
            )
        model = self.model
        messages = self.messages(text, source, target, context)
        # Room for a translation somewhat longer than the original (tokens differ by script).
        budget = min(1024, 2 * model.count_tokens(text) + 32)
        try:
            result = model.chat(messages, ChatOptions(max_tokens=budget))
        except LlmError as error:
            raise TranslationError(f"the language model could not translate: {error}") from error
        translation = clean_answer(result.text)
        if not translation:
            raise TranslationError("the language model answered with no translation")
        return translation


def _recent_context(context: Sequence[str]) -> list[str]:
    """The last few non-empty context sentences that fit :data:`CONTEXT_CHARS`, in order."""
    kept: list[str] = []
    size = 0
    for sentence in reversed([s.strip() for s in context if s and s.strip()]):
        if len(kept) == CONTEXT_SENTENCES or size + len(sentence) > CONTEXT_CHARS:
            break
        kept.append(sentence)
        size += len(sentence)
    return list(reversed(kept))

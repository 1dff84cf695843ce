"""The chat-model contract every LLM backend fulfils, and its data types."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from reflector.errors import UnavailableError

Role = Literal["system", "user", "assistant"]
JsonSchema = dict[str, Any]


class LlmError(UnavailableError):
    """A model that cannot be loaded or reached, or an answer that cannot be used."""


class LlmUnavailable(LlmError):
    """The backend cannot answer at all (not installed, server down); callers fall back."""


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class ChatOptions:
    """How one completion is decoded."""

    json_schema: JsonSchema | None = None
    """Constrain the answer to this schema where the backend can enforce it."""
    max_tokens: int = 512
    temperature: float = 0.0


@dataclass(frozen=True)
class ChatResult:
    """One completion and what it cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    finish_reason: str | None = None
    """``stop`` when the model ended by itself, ``length`` when ``max_tokens`` cut it off."""
    cached_tokens: int = 0
    """Prompt tokens reused from the previous call instead of read again (local backend)."""


@runtime_checkable
class ChatModel(Protocol):
    """A chat model, in process (llama.cpp) or behind an OpenAI-compatible endpoint.

    :attr:`ChatOptions.json_schema` asks for output constrained to that schema where the backend
    can enforce it (a llama.cpp grammar, an OpenAI ``response_format``); callers still validate
    the answer, because not every server enforces it.
    """

    @property
    def name(self) -> str: ...

    @property
    def context_tokens(self) -> int:
        """Prompt plus completion tokens the model accepts in one call."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes in a prompt (exact or a safe over-estimate)."""
        ...

    def chat(
        self, messages: Sequence[ChatMessage], options: ChatOptions = ChatOptions()
    ) -> ChatResult: ...

"""What the LLM engine needs to know to pick and reach a chat model, and the one place that
turns it into one.

``reflector.settings.Settings.llm`` builds :class:`LlmConfig` from ``REFLECTOR_LLM_*``; the
engine itself reads no environment. Every default works offline (the bundled GGUF in process).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from reflector.llm.llamacpp import DEFAULT_CONTEXT_TOKENS, LlamaCppChat, LlamaCppOptions
from reflector.llm.openai_compat import OpenAiChat, OpenAiOptions
from reflector.llm.protocol import ChatModel, LlmUnavailable
from reflector.llm.registry import DEFAULT_LLM, resolve_gguf

Backend = Literal["local", "openai", "extractive"]


@dataclass(frozen=True)
class LlmConfig:
    """Which engine writes summaries, and how to reach it."""

    backend: Backend = "local"
    """``local`` (bundled GGUF via llama.cpp), ``openai`` (any compatible server) or
    ``extractive`` (no model)."""
    model: str = DEFAULT_LLM
    """Bundled model name or a path to a ``.gguf`` file (local backend)."""
    context_tokens: int = DEFAULT_CONTEXT_TOKENS
    threads: int = 0
    """CPU threads for the local backend; 0 uses every core."""
    openai_base_url: str = "http://127.0.0.1:8000/v1"
    openai_model: str = "default"
    openai_api_key: str | None = field(default=None, repr=False)
    openai_timeout: float = 120.0
    openai_context_tokens: int = 8192
    condense: bool = True
    """Let the model read a fact-preserving excerpt of each topic instead of all of it: on a
    CPU reading dominates. Turn off for a remote GPU backend with a large context."""
    attempts: int = 2
    """Tries per answer; later tries see why the previous answer was rejected."""
    summary_language: str | None = None
    """ISO code of the summaries' language; unset: the transcript's language."""
    name_threshold: float = 0.6


def load_chat_model(config: LlmConfig, data_dir: Path) -> ChatModel | None:
    """The configured chat model, loaded once per process; ``None`` for ``extractive``.

    Raises :class:`LlmUnavailable` with a message for people when it cannot be loaded.
    """
    if config.backend == "extractive":
        return None
    if config.backend == "openai":
        return OpenAiChat(
            OpenAiOptions(
                base_url=config.openai_base_url,
                model=config.openai_model,
                api_key=config.openai_api_key,
                timeout=config.openai_timeout,
                context_tokens=config.openai_context_tokens,
            )
        )
    location = resolve_gguf(config.model, data_dir)
    if location.info.context_length and config.context_tokens > location.info.context_length:
        raise LlmUnavailable(
            f"{location.name} accepts {location.info.context_length} tokens of context, "
            f"not {config.context_tokens}"
        )
    return LlamaCppChat(
        location.path,
        LlamaCppOptions(context_tokens=config.context_tokens, threads=config.threads),
        name=location.name,
    )

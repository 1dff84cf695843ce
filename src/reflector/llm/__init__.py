"""LLM engine: a chat-model protocol with local (llama.cpp) and OpenAI-compatible backends,
structured output, bundled GGUF models, and model-free extractive ranking."""

from reflector.llm.config import Backend, LlmConfig, load_chat_model
from reflector.llm.gguf import GgufInfo, read_gguf_info
from reflector.llm.llamacpp import LlamaCppChat, LlamaCppOptions
from reflector.llm.openai_compat import OpenAiChat, OpenAiOptions
from reflector.llm.protocol import (
    ChatMessage,
    ChatModel,
    ChatOptions,
    ChatResult,
    LlmError,
    LlmUnavailable,
)
from reflector.llm.registry import (
    BUNDLED_LLMS,
    DEFAULT_LLM,
    GgufLocation,
    LlmModelStatus,
    llm_model_status,
    resolve_gguf,
)
from reflector.llm.structured import StructuredOutputError, generate_structured, schema_for

__all__ = [
    "BUNDLED_LLMS",
    "DEFAULT_LLM",
    "Backend",
    "ChatMessage",
    "ChatModel",
    "ChatOptions",
    "ChatResult",
    "GgufInfo",
    "GgufLocation",
    "LlamaCppChat",
    "LlamaCppOptions",
    "LlmConfig",
    "LlmError",
    "LlmModelStatus",
    "LlmUnavailable",
    "OpenAiChat",
    "OpenAiOptions",
    "StructuredOutputError",
    "generate_structured",
    "llm_model_status",
    "load_chat_model",
    "read_gguf_info",
    "resolve_gguf",
    "schema_for",
]

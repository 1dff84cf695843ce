"""Typed answers from a chat model: constrained decoding, Pydantic validation, retry with feedback.

The schema is sent to the backend (a grammar in llama.cpp, ``response_format`` over HTTP), the
answer is validated with the Pydantic model, and then checked by the caller's own rules (e.g. the
grounding guard). When either fails, the conversation continues with the bad answer and a message
that names the problems, so the model corrects itself instead of starting from scratch; after
``attempts`` the last problems are raised as :class:`StructuredOutputError` for the caller's
fallback.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from reflector.llm.protocol import ChatMessage, ChatModel, ChatOptions, JsonSchema, LlmError

T = TypeVar("T", bound=BaseModel)

Check = Callable[[T], list[str]]
"""Extra rules on a valid answer; returns the problems (empty when the answer is fine)."""


class StructuredOutputError(LlmError):
    """No valid answer within the allowed attempts."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


@dataclass
class StructuredStats:
    """What answering cost, summed over calls; shared by one summarisation run."""

    calls: int = 0
    retries: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def _inline_refs(schema: JsonSchema) -> JsonSchema:
    """The schema with ``$defs`` references replaced by their definitions.

    Grammar compilers and some servers handle references poorly; our models are small trees.
    """
    definitions = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                name = node["$ref"].rsplit("/", 1)[-1]
                return resolve(definitions[name])
            # A "title" string is schema metadata; a "title" dict is a property called title.
            resolved = {
                k: resolve(v)
                for k, v in node.items()
                if k != "$defs" and not (k in ("title", "default") and not isinstance(v, dict))
            }
            if resolved.get("type") == "object" and "properties" in resolved:
                # Every key is always written (null where unknown): a grammar that lets the
                # model skip keys lets it skip the work, e.g. never list next steps.
                resolved["required"] = list(resolved["properties"])
            return resolved
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    inlined = resolve(schema)
    inlined["title"] = schema.get("title", "answer")
    return inlined


def schema_for(model: type[BaseModel]) -> JsonSchema:
    """The JSON schema sent to a backend for ``model``."""
    return _inline_refs(model.model_json_schema())


def _validation_problems(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors()[:6]:
        where = ".".join(str(part) for part in item["loc"]) or "answer"
        problems.append(f"{where}: {item['msg']}")
    return problems


def generate_structured(
    model: ChatModel,
    messages: Sequence[ChatMessage],
    output: type[T],
    *,
    check: Check[T] | None = None,
    attempts: int = 2,
    max_tokens: int = 512,
    stats: StructuredStats | None = None,
) -> T:
    """Ask ``model`` for an ``output`` and return it once it validates and passes ``check``."""
    schema = schema_for(output)
    conversation = list(messages)
    problems: list[str] = []
    stats = stats if stats is not None else StructuredStats()
    for attempt in range(attempts):
        if attempt:
            stats.retries += 1
        result = model.chat(conversation, ChatOptions(json_schema=schema, max_tokens=max_tokens))
        stats.calls += 1
        stats.prompt_tokens += result.prompt_tokens
        stats.cached_tokens += result.cached_tokens
        stats.completion_tokens += result.completion_tokens
        stats.seconds += result.seconds
        try:
            answer = output.model_validate_json(result.text)
        except ValidationError as error:
            problems = _validation_problems(error)
            if result.finish_reason == "length":
                problems.insert(0, f"the answer was cut off at {max_tokens} tokens: be shorter")
        else:
            problems = check(answer) if check else []
            if not problems:
                return answer
        stats.problems.extend(problems)
        conversation = [
            *messages,
            ChatMessage("assistant", result.text),
            ChatMessage(
                "user",
                "That answer cannot be used:\n- "
                + "\n- ".join(problems)
                + "\nAnswer again with corrected JSON only.",
            ),
        ]
    stats.failures += 1
    raise StructuredOutputError(
        f"no valid {output.__name__} after {attempts} attempts: {json.dumps(problems)}", problems
    )

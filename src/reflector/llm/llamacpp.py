"""The ``local`` backend: a GGUF model run in process by llama.cpp (``llama-cpp-python``).

A model is loaded once per process and shared (keyed by file and options); a llama.cpp context is
not thread-safe, so calls on one model are serialised by a lock. Decoding is greedy (summaries
should be reproducible) in a small loop of our own rather than ``create_chat_completion``, for
two reasons measured on 2 cores: the grammar for JSON output is checked lazily
(:mod:`reflector.llm.grammar`, about 3x faster than llama-cpp-python's eager grammar sampler), and
the longest common prefix with the previous prompt stays in the KV cache, so a system prompt
shared by all calls is read once.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reflector.llm.grammar import GrammarConstraint, gbnf_for_schema
from reflector.llm.protocol import (
    ChatMessage,
    ChatOptions,
    ChatResult,
    LlmError,
    LlmUnavailable,
)

DEFAULT_CONTEXT_TOKENS = 4096
"""Enough for a topic-sized chunk plus the answer; larger contexts cost memory and attention
time on a CPU, and map-reduce makes long meetings fit anyway."""


@dataclass(frozen=True)
class LlamaCppOptions:
    """How to run a GGUF model; frozen so it can key the model cache."""

    context_tokens: int = DEFAULT_CONTEXT_TOKENS
    threads: int = 0
    """0: all cores."""
    batch_tokens: int = 512
    seed: int = 0

    def __post_init__(self) -> None:
        if self.context_tokens < 512:
            raise ValueError("context_tokens must be at least 512")
        if self.threads < 0 or self.batch_tokens < 1:
            raise ValueError("threads must be >= 0 and batch_tokens >= 1")


@dataclass
class _Loaded:
    llama: Any
    formatter: Any
    lock: threading.Lock


_models: dict[tuple[str, LlamaCppOptions], _Loaded] = {}
_models_lock = threading.Lock()


@atexit.register
def _close_models() -> None:
    """Free models while the interpreter is whole; freed later, llama.cpp's finaliser fails
    with noise on stderr because the library's bindings are already gone."""
    with _models_lock:
        for loaded in _models.values():
            with contextlib.suppress(Exception):
                loaded.llama.close()
        _models.clear()


def _load(path: Path, options: LlamaCppOptions) -> _Loaded:
    key = (str(Path(path).resolve()), options)
    with _models_lock:
        loaded = _models.get(key)
        if loaded is None:
            try:
                from llama_cpp import Llama
                from llama_cpp.llama_chat_format import Jinja2ChatFormatter
            except ImportError as error:
                raise LlmUnavailable(
                    "the local LLM backend needs llama-cpp-python (see the install script)"
                ) from error
            threads = options.threads or os.cpu_count() or 1
            try:
                llama = Llama(
                    model_path=str(path),
                    n_ctx=options.context_tokens,
                    n_batch=options.batch_tokens,
                    n_threads=threads,
                    n_threads_batch=threads,
                    seed=options.seed,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as error:
                raise LlmUnavailable(f"cannot load {path}: {error}") from error
            template = llama.metadata.get("tokenizer.chat_template")
            if not template:
                raise LlmUnavailable(f"{path} has no chat template; use an instruct model")
            model = llama._model
            formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=model.token_get_text(model.token_eos()),
                bos_token=model.token_get_text(model.token_bos())
                if model.token_bos() != -1
                else "",
            )
            loaded = _Loaded(llama, formatter, threading.Lock())
            _models[key] = loaded
    return loaded


class LlamaCppChat:
    """A :class:`~reflector.llm.protocol.ChatModel` backed by an in-process llama.cpp model."""

    def __init__(self, path: Path, options: LlamaCppOptions | None = None, name: str | None = None):
        self.path = Path(path)
        self.options = options or LlamaCppOptions()
        self._name = name or self.path.stem
        self._loaded = _load(self.path, self.options)

    @property
    def name(self) -> str:
        return self._name

    @property
    def context_tokens(self) -> int:
        return self.options.context_tokens

    def count_tokens(self, text: str) -> int:
        return len(self._loaded.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _prompt_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        formatted = self._loaded.formatter(
            messages=[{"role": m.role, "content": m.content} for m in messages]
        )
        return self._loaded.llama.tokenize(
            formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True
        )

    def chat(
        self, messages: Sequence[ChatMessage], options: ChatOptions = ChatOptions()
    ) -> ChatResult:
        if options.temperature != 0.0:
            raise ValueError("the local backend decodes greedily; temperature must be 0")
        started = time.perf_counter()
        schema, max_tokens = options.json_schema, options.max_tokens
        gbnf = gbnf_for_schema(json.dumps(schema)) if schema is not None else None
        with self._loaded.lock:
            prompt = self._prompt_tokens(messages)
            if len(prompt) + max_tokens > self.options.context_tokens:
                raise LlmError(
                    f"prompt of {len(prompt)} tokens plus {max_tokens} to answer does not fit "
                    f"the {self.options.context_tokens}-token context"
                )
            tokens, finish, cached = self._generate(prompt, gbnf, max_tokens)
            text = self._loaded.llama.detokenize(tokens).decode("utf-8", errors="replace")
        return ChatResult(
            text=text,
            prompt_tokens=len(prompt),
            completion_tokens=len(tokens),
            seconds=time.perf_counter() - started,
            finish_reason=finish,
            cached_tokens=cached,
        )

    def _evaluate_prompt(self, prompt: list[int]) -> int:
        """Put ``prompt`` in the KV cache, keeping what it shares with the previous one."""
        llama = self._loaded.llama
        cached = llama._input_ids
        shared = 0
        for old, new in zip(cached, prompt, strict=False):
            if old != new:
                break
            shared += 1
        shared = min(shared, len(prompt) - 1)  # always decode one token to get fresh logits
        if shared > 0 and llama._ctx.kv_cache_seq_rm(-1, shared, -1):
            llama.n_tokens = shared
        else:
            llama.reset()
            shared = 0
        llama.eval(prompt[shared:])
        return shared

    def _decode(self, tokens: list[int], n_past: int) -> None:
        """Evaluate ``tokens`` at ``n_past`` in one batch, keeping logits for every position."""
        llama = self._loaded.llama
        llama._batch.set_batch(batch=tokens, n_past=n_past, logits_all=True)
        llama._ctx.decode(llama._batch)
        llama.input_ids[n_past : n_past + len(tokens)] = tokens
        llama.n_tokens = n_past + len(tokens)

    def _generate(
        self, prompt: list[int], gbnf: str | None, max_tokens: int
    ) -> tuple[list[int], str, int]:
        """Greedy decoding with prompt-lookup drafts, optionally under a grammar.

        Answers copy a lot from their prompt (names, phrases of the transcript, the JSON keys of
        the example), so the tokens that followed the last few generated tokens the previous
        time they occurred are a good guess for what comes next. Up to ``DRAFT_TOKENS`` guesses
        are evaluated in one batch, which on a CPU costs about as much as one token, and kept as
        far as they match what greedy decoding picks, so the output is exactly greedy decoding.
        """
        import llama_cpp

        llama = self._loaded.llama
        vocab = llama._model.vocab
        n_vocab = llama.n_vocab()
        cached = self._evaluate_prompt(prompt)
        constraint = GrammarConstraint(vocab, n_vocab, gbnf) if gbnf else None
        lookup = _NgramLookup(prompt)
        out: list[int] = []
        finish = "length"

        def choose(position: int) -> int:
            logits = np.ctypeslib.as_array(llama._ctx.get_logits_ith(position), shape=(n_vocab,))
            return constraint.next_token(logits) if constraint else int(np.argmax(logits))

        try:
            pending = choose(-1)
            n_past = llama.n_tokens
            while True:
                if llama_cpp.llama_vocab_is_eog(vocab, pending):
                    finish = "stop"
                    break
                if constraint:
                    constraint.accept(pending)
                out.append(pending)
                lookup.add(pending)
                if len(out) >= max_tokens or n_past + 1 >= self.options.context_tokens:
                    break
                room = min(
                    DRAFT_TOKENS,
                    max_tokens - len(out) - 1,
                    self.options.context_tokens - n_past - 2,
                )
                draft = lookup.draft(room) if room > 0 else []
                batch = [pending, *draft]
                self._decode(batch, n_past)
                position = 0
                while True:
                    token = choose(position)
                    if position < len(draft) and token == draft[position]:
                        if llama_cpp.llama_vocab_is_eog(vocab, token):
                            break
                        if constraint:
                            constraint.accept(token)
                        out.append(token)
                        lookup.add(token)
                        position += 1
                        if len(out) >= max_tokens:
                            break
                        continue
                    break
                # batch[0..position] are now valid context; anything drafted after is dropped.
                n_past += position + 1
                if n_past < llama.n_tokens:
                    llama._ctx.kv_cache_seq_rm(-1, n_past, -1)
                    llama.n_tokens = n_past
                if len(out) >= max_tokens:
                    break
                pending = token
        finally:
            if constraint:
                constraint.close()
        return out, finish, cached


DRAFT_TOKENS = 4
"""Guesses checked per step; more rarely pays on a CPU, where a batch is not free."""


class _NgramLookup:
    """Where each recent n-gram of prompt and answer occurred last: the draft source."""

    def __init__(self, tokens: list[int], sizes: tuple[int, ...] = (3, 2)) -> None:
        self.tokens = list(tokens)
        self.sizes = sizes
        self.index: dict[tuple[int, ...], int] = {}
        for end in range(1, len(self.tokens)):
            self._remember(end)

    def _remember(self, end: int) -> None:
        # Key: the n tokens ending before position ``end``; value: ``end``, the next token.
        for size in self.sizes:
            if end >= size:
                self.index[tuple(self.tokens[end - size : end])] = end

    def add(self, token: int) -> None:
        self._remember(len(self.tokens))
        self.tokens.append(token)

    def draft(self, count: int) -> list[int]:
        for size in self.sizes:
            if len(self.tokens) < size:
                continue
            start = self.index.get(tuple(self.tokens[-size:]))
            if start is not None and start < len(self.tokens):
                return self.tokens[start : start + count]
        return []

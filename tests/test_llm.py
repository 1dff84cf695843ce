"""The LLM engine: GGUF header, model assembly, and both model backends on the bundled model.

The ``local`` backend runs the bundled GGUF in process; the ``openai`` backend talks to a real
OpenAI-compatible server (``python -m llama_cpp.server`` serving the same GGUF on 127.0.0.1,
started by a fixture). Nothing is mocked: answers come from the model.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from reflector.intelligence import LlmWriter, summarize_meeting
from reflector.llm import (
    BUNDLED_LLMS,
    DEFAULT_LLM,
    ChatMessage,
    ChatOptions,
    LlamaCppChat,
    LlamaCppOptions,
    LlmConfig,
    LlmUnavailable,
    OpenAiChat,
    OpenAiOptions,
    StructuredOutputError,
    generate_structured,
    llm_model_status,
    load_chat_model,
    read_gguf_info,
    resolve_gguf,
    schema_for,
)
from reflector.llm.gguf import GgufError
from reflector.llm.registry import BundledGguf, join_verified
from reflector.llm.structured import StructuredStats
from reflector_testkit.llama import LlamaServer, LlamaServerError
from reflector_testkit.meeting_scripts import generate_meeting, score_meeting_summary
from reflector_testkit.ports import free_port

# --- a GGUF header written here, byte by byte ---------------------------------------------------


def _gguf_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def write_gguf(path: Path, metadata: dict[str, object], padding: int = 0) -> Path:
    """A header-only GGUF v3 file (no tensors), enough for the metadata reader."""
    body = b"GGUF" + struct.pack("<IQQ", 3, 0, len(metadata))
    for key, value in metadata.items():
        body += _gguf_string(key)
        if isinstance(value, str):
            body += struct.pack("<I", 8) + _gguf_string(value)
        elif isinstance(value, bool):
            body += struct.pack("<I?", 7, value)
        elif isinstance(value, int):
            body += struct.pack("<IQ", 10, value)  # uint64
        elif isinstance(value, list):  # array of strings, like a tokenizer vocabulary
            body += struct.pack("<IIQ", 9, 8, len(value))
            body += b"".join(_gguf_string(item) for item in value)
    path.write_bytes(body + b"\0" * padding)
    return path


def test_gguf_header_is_read_without_loading(tmp_path):
    path = write_gguf(
        tmp_path / "tiny.gguf",
        {
            "general.architecture": "qwen2",
            "general.name": "Tiny Test",
            "qwen2.context_length": 2048,
            "general.file_type": 15,
            "tokenizer.ggml.tokens": ["a", "b", "c"],
            "tokenizer.ggml.add_bos_token": False,
        },
    )
    info = read_gguf_info(path)
    assert (info.architecture, info.name, info.context_length, info.file_type) == (
        "qwen2",
        "Tiny Test",
        2048,
        15,
    )
    assert info.metadata["tokenizer.ggml.tokens"] == "<array of 3>"
    (tmp_path / "bad.gguf").write_bytes(b"GGML" + b"\0" * 20)
    with pytest.raises(GgufError, match="not a GGUF"):
        read_gguf_info(tmp_path / "bad.gguf")
    (tmp_path / "short.gguf").write_bytes(path.read_bytes()[:40])
    with pytest.raises(GgufError, match="truncated"):
        read_gguf_info(tmp_path / "short.gguf")


def _split(path: Path, parts: int) -> list[Path]:
    data = path.read_bytes()
    size = -(-len(data) // parts)
    result = []
    for index in range(parts):
        part = path.with_suffix(f".part{index}")
        part.write_bytes(data[index * size : (index + 1) * size])
        result.append(part)
    return result


def _spec_for(path: Path, architecture: str = "qwen2", sha256: str | None = None) -> BundledGguf:
    data = path.read_bytes()
    return BundledGguf(
        name="tiny",
        description="test",
        packages=("tiny-part1", "tiny-part2", "tiny-part3"),
        files=(),
        size=len(data),
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        architecture=architecture,
    )


def test_parts_are_joined_verified_and_atomically(tmp_path):
    model = write_gguf(tmp_path / "m.gguf", {"general.architecture": "qwen2"}, padding=50_000)
    parts = _split(model, 3)
    target = tmp_path / "data" / "models" / "llm" / "tiny.gguf"
    progress: list[float] = []
    assert join_verified(parts, target, _spec_for(model), progress.append) == target
    assert target.read_bytes() == model.read_bytes()
    assert progress[-1] == pytest.approx(1.0) and progress == sorted(progress)

    # A corrupt part: the checksum fails, and neither the target nor a temporary file is left.
    broken = tmp_path / "broken"
    parts[1].write_bytes(b"x" * parts[1].stat().st_size)
    with pytest.raises(LlmUnavailable, match="checksum"):
        join_verified(parts, broken / "tiny.gguf", _spec_for(model))
    assert list(broken.iterdir()) == []


def test_assembled_file_must_be_the_expected_model(tmp_path):
    model = write_gguf(tmp_path / "m.gguf", {"general.architecture": "llama"})
    with pytest.raises(LlmUnavailable, match="architecture 'llama'"):
        join_verified(_split(model, 2), tmp_path / "out" / "x.gguf", _spec_for(model, "qwen2"))
    assert not (tmp_path / "out" / "x.gguf").exists()


def test_unknown_model_names_and_paths(tmp_path):
    with pytest.raises(LlmUnavailable, match="unknown LLM 'gpt-7'"):
        resolve_gguf("gpt-7", tmp_path)
    own = write_gguf(tmp_path / "own.gguf", {"general.architecture": "llama"})
    assert resolve_gguf(str(own), tmp_path).info.architecture == "llama"
    with pytest.raises(ValueError):
        LlamaCppOptions(context_tokens=100)
    with pytest.raises(ValueError):
        OpenAiOptions(base_url="localhost:8000", model="m")


def test_schema_sent_to_backends_has_no_references():
    class Item(BaseModel):
        name: str

    class Answer(BaseModel):
        items: list[Item] = Field(max_length=3)
        note: str | None = None

    schema = schema_for(Answer)
    assert "$defs" not in json.dumps(schema) and "$ref" not in json.dumps(schema)
    assert schema["properties"]["items"]["items"]["properties"]["name"]["type"] == "string"


def test_extractive_backend_needs_no_model(tmp_path):
    assert load_chat_model(LlmConfig(backend="extractive"), tmp_path) is None


# --- the bundled model -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def gguf_path(data_dir) -> Path:
    """The default GGUF, joined from its six packages into a fresh data dir (as on first use)."""
    location = resolve_gguf(DEFAULT_LLM, data_dir)
    assert location.info.architecture == "qwen2"
    assert location.path.stat().st_size == BUNDLED_LLMS[DEFAULT_LLM].size
    return location.path


@pytest.fixture(scope="session")
def local_chat(gguf_path) -> LlamaCppChat:
    return LlamaCppChat(gguf_path, LlamaCppOptions(context_tokens=4096), name=DEFAULT_LLM)


class Verdict(BaseModel):
    city: str
    population_millions: float
    facts: list[str] = Field(max_length=2)


@pytest.mark.slow
def test_bundled_model_is_assembled_once_and_listed(gguf_path, data_dir):
    before = gguf_path.stat().st_mtime_ns
    assert resolve_gguf(DEFAULT_LLM, data_dir).path == gguf_path
    assert gguf_path.stat().st_mtime_ns == before, "joined once, not on every use"
    status = {s.name: s for s in llm_model_status(data_dir)}
    assert status[DEFAULT_LLM].note == "assembled and verified"
    assert hashlib.sha256(gguf_path.read_bytes()).hexdigest() == BUNDLED_LLMS[DEFAULT_LLM].sha256


@pytest.mark.slow
def test_local_backend_answers_in_the_requested_shape(local_chat):
    messages = [
        ChatMessage("system", "Answer with JSON only."),
        ChatMessage("user", "Describe Paris: city name, population in millions, two facts."),
    ]
    stats = StructuredStats()
    verdict = generate_structured(local_chat, messages, Verdict, max_tokens=160, stats=stats)
    assert verdict.city.lower().startswith("paris")
    assert stats.calls == 1 and stats.completion_tokens > 5
    assert local_chat.count_tokens("hello world") in (2, 3)
    assert LlamaCppChat(local_chat.path, local_chat.options)._loaded is local_chat._loaded


@pytest.mark.slow
def test_rejected_answers_are_retried_with_the_reason(local_chat):
    seen: list[str] = []

    def never_good_enough(answer: Verdict) -> list[str]:
        seen.append(answer.city)
        return [f"city {answer.city!r} is not the one asked for"]

    messages = [ChatMessage("user", "Describe Rome as JSON.")]
    stats = StructuredStats()
    with pytest.raises(StructuredOutputError) as error:
        generate_structured(
            local_chat, messages, Verdict, check=never_good_enough, attempts=2, stats=stats,
            max_tokens=120,
        )  # fmt: skip
    assert len(seen) == 2 and stats.retries == 1 and stats.failures == 1
    assert "is not the one asked for" in error.value.problems[0]


# --- the openai backend against a real OpenAI-compatible server ---------------------------------


@pytest.fixture(scope="session")
def llama_server(gguf_path, tmp_path_factory):
    """``python -m llama_cpp.server`` on 127.0.0.1 serving the bundled GGUF."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    try:
        server = LlamaServer(gguf_path, os.cpu_count() or 1, 4096, log=log)
    except LlamaServerError as exc:
        pytest.fail(str(exc))
    try:
        yield server.base_url
    finally:
        server.close()


@pytest.mark.slow
def test_openai_backend_gets_structured_answers_from_a_real_server(llama_server):
    chat = OpenAiChat(OpenAiOptions(base_url=llama_server, model="bundled", timeout=60))
    messages = [ChatMessage("user", "Describe Madrid: city, population in millions, facts.")]
    verdict = generate_structured(chat, messages, Verdict, max_tokens=160)
    assert verdict.city.lower().startswith("madrid")
    # llama.cpp's server knows `json_object` + schema, not `json_schema`: the backend switched.
    assert chat._schema_mode == "json_object"
    plain = chat.chat([ChatMessage("user", "Say hello.")], ChatOptions(max_tokens=8))
    assert plain.text and plain.completion_tokens <= 8 and plain.finish_reason in {"stop", "length"}


@pytest.mark.slow
def test_openai_backend_summarises_a_meeting(llama_server):
    meeting = generate_meeting(11, minutes=2.5, speakers=3, subjects=1)
    settings = LlmConfig(backend="openai", openai_base_url=llama_server, openai_model="bundled")
    chat = load_chat_model(settings, Path("."))
    summary = summarize_meeting(meeting.transcript, LlmWriter(chat, backend="openai"))
    assert summary.backend == "openai:bundled"
    score = score_meeting_summary(meeting, summary)
    assert score.invented_names == [] and score.invented_dates == []
    assert score.fact_recall >= 0.5, score.as_dict()  # 1 decision + 1 next step, rules on


def test_openai_backend_reports_a_dead_server_quickly():
    port = free_port()  # nothing listens here
    chat = OpenAiChat(
        OpenAiOptions(base_url=f"http://127.0.0.1:{port}/v1", model="m", retries=1, backoff=0.05)
    )
    started = time.monotonic()
    with pytest.raises(LlmUnavailable, match="not answering"):
        chat.chat([ChatMessage("user", "hi")])
    with pytest.raises(LlmUnavailable, match="failed recently"):
        chat.chat([ChatMessage("user", "hi")])  # cool-down: no new connection attempts
    assert time.monotonic() - started < 5
    # The summary still comes out, written extractively, with a note saying why.
    meeting = generate_meeting(2, minutes=3, speakers=2)
    summary = summarize_meeting(meeting.transcript, LlmWriter(chat, backend="openai"))
    assert summary.topics and any("unavailable" in note for note in summary.notes)


def test_settings_give_the_engine_its_own_defaults(monkeypatch):
    from dataclasses import fields

    from reflector.settings import Settings

    for name in [n for n in os.environ if n.upper().startswith("REFLECTOR_LLM_")]:
        monkeypatch.delenv(name)
    assert Settings(_env_file=None).llm == LlmConfig()
    assert {f"llm_{field.name}" for field in fields(LlmConfig)} <= set(Settings.model_fields)
    monkeypatch.setenv("REFLECTOR_LLM_BACKEND", "openai")
    monkeypatch.setenv("REFLECTOR_LLM_OPENAI_API_KEY", "secret")
    config = Settings(_env_file=None).llm
    assert (config.backend, config.openai_api_key) == ("openai", "secret")
    assert "secret" not in repr(config)

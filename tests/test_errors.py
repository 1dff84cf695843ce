"""One error root with two families, unique class names, and the HTTP answer each family gets."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from collections import Counter
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import reflector
from reflector.api.problems import PROBLEM_BASE, PROBLEM_JSON, install_problem_handlers
from reflector.blobs import BlobError
from reflector.domain.status import IllegalTransition, TranscriptStatus
from reflector.errors import BadInputError, ReflectorError, UnavailableError
from reflector.llm import LlmUnavailable
from reflector.pipelines.speech import RecognitionRequestError
from reflector.tts import SpeechTooLongError, TtsError

SOURCE = Path(reflector.__file__).parent


def _modules() -> list[str]:
    names = [
        info.name
        for info in pkgutil.walk_packages(reflector.__path__, prefix="reflector.")
        # __main__ runs the CLI when imported; migrations run only inside Alembic.
        if not info.name.endswith("__main__") and ".db.migrations" not in info.name
    ]
    return ["reflector", *names]


def _exception_classes() -> list[type[BaseException]]:
    found = []
    for name in _modules():
        module = importlib.import_module(name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if value.__module__ == name and issubclass(value, BaseException):
                found.append(value)
    return found


def test_every_exception_class_has_the_one_root():
    classes = _exception_classes()
    assert len(classes) > 40
    orphans = [
        f"{c.__module__}.{c.__qualname__}" for c in classes if not issubclass(c, ReflectorError)
    ]
    assert orphans == []


def test_no_exception_class_is_in_both_families():
    both = [
        c.__qualname__
        for c in _exception_classes()
        if issubclass(c, BadInputError) and issubclass(c, UnavailableError)
    ]
    assert both == []


def test_no_two_classes_share_a_name():
    names: Counter[str] = Counter()
    for path in SOURCE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names.update(node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef))
    assert [name for name, count in names.items() if count > 1] == []


def test_code_catching_value_error_still_catches_bad_input():
    for error in (RecognitionRequestError("x"), SpeechTooLongError("x")):
        assert isinstance(error, ValueError) and isinstance(error, BadInputError)


def _app() -> TestClient:
    app = FastAPI()
    install_problem_handlers(app)
    raised = {
        "unsupported": RecognitionRequestError("model 'x' is not available"),
        "too-long": SpeechTooLongError("the text is 5 characters long; the limit is 4"),
        "no-model": LlmUnavailable("the local LLM backend needs llama-cpp-python"),
        "illegal": IllegalTransition(TranscriptStatus.IDLE, TranscriptStatus.ENDED),
        "speech-failed": TtsError("the voice model could not be loaded"),
        "store-broken": BlobError("bucket /srv/secret/blobs refused the write"),
    }

    @app.get("/boom/{kind}")
    @app.get("/v1/audio/boom/{kind}")
    def boom(kind: str) -> None:
        raise raised[kind]

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("kind", "status", "slug"),
    [
        ("unsupported", 400, "unsupported-request"),
        ("too-long", 413, "text-too-long"),
        ("no-model", 503, "unavailable"),
        ("illegal", 409, "illegal-transition"),
        ("speech-failed", 503, "speech-unavailable"),
    ],
)
def test_each_family_is_answered_with_its_status_and_type(kind, status, slug):
    client = _app()
    response = client.get(f"/boom/{kind}")
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["type"] == PROBLEM_BASE + slug
    assert body["status"] == status
    assert body["instance"] == f"/boom/{kind}"
    assert "error" not in body
    # OpenAI-compatible paths also carry OpenAI's error object.
    openai = client.get(f"/v1/audio/boom/{kind}").json()
    assert openai["type"] == PROBLEM_BASE + slug
    assert openai["error"]["code"] == slug
    assert openai["error"]["type"] == ("server_error" if status >= 500 else "invalid_request_error")


def test_an_error_declaring_no_answer_is_an_internal_error_that_reveals_nothing():
    response = _app().get("/boom/store-broken")
    assert response.status_code == 500
    assert response.json()["type"] == PROBLEM_BASE + "internal-error"
    assert "/srv/secret" not in response.text

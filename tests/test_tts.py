"""Speech synthesis: real Piper and eSpeak NG, remote backends against local servers that speak
the OpenAI and ElevenLabs APIs, the fallback and circuit breaker, streaming, audio formats and
loudness."""

from __future__ import annotations

import inspect
import json
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from reflector.audio import (
    AUDIO_FORMATS,
    AudioFormatError,
    LoudnessOptions,
    StreamingEncoder,
    apply_loudness,
    change_tempo,
    compress,
    decode_audio_bytes,
    encode_audio,
    normalize_loudness,
    resample,
    speech_rms_dbfs,
)
from reflector.resilience import BreakerBoard, CircuitState, RetryPolicy
from reflector.settings import Settings
from reflector.tts import (
    OPENAI_PCM_RATE,
    ElevenLabsSynthesizer,
    EmptyTextError,
    EspeakSynthesizer,
    FallbackSynthesizer,
    InvalidSpeedError,
    OpenAiSpeechSynthesizer,
    PiperSynthesizer,
    RemoteTtsError,
    SpeechRequest,
    SpeechRouter,
    SpeechSynthesizer,
    TextTooLongError,
    TtsError,
    UnknownVoiceError,
    UnsupportedLanguageError,
    build_synthesizer,
    open_speech_stream,
    render_speech,
    shared_piper,
    split_sentences,
)
from reflector.tts.text import split_lead
from reflector_testkit.ports import free_port

ENGLISH = (
    "Good morning everyone, thanks for joining the weekly planning meeting. "
    "The new billing service went live on Tuesday without any problems. "
    "We still need someone to review the security checklist before Friday. "
    "Finally, please send me your travel plans for the conference in March."
)
SPANISH = "Hola a todos. Gracias por venir a la reunión de hoy. Empezamos con el presupuesto."
FAST_RETRIES = RetryPolicy(attempts=3, initial_backoff=0.01, max_backoff=0.02, timeout=5.0)


def _voiced(audio_samples: np.ndarray, rate: int) -> float:
    """Seconds louder than -40 dBFS in 20 ms frames: how much is actually spoken."""
    frame = rate // 50
    n = len(audio_samples) // frame
    rms = np.sqrt(np.mean(audio_samples[: n * frame].reshape(n, frame) ** 2, axis=1))
    return float((rms > 0.01).sum() * frame / rate)


@pytest.fixture(scope="module")
def piper_synth() -> PiperSynthesizer:
    # Without sampling noise: the same text gives the same audio, so durations compare exactly.
    return PiperSynthesizer(shared_piper(), varied=False)


@pytest.fixture(scope="module")
def espeak_synth() -> EspeakSynthesizer:
    return EspeakSynthesizer()


@pytest.fixture(scope="module")
def router(piper_synth, espeak_synth) -> SpeechRouter:
    return SpeechRouter(english=piper_synth, other=espeak_synth)


@pytest.fixture(scope="module")
def spanish_clip(espeak_synth) -> tuple[np.ndarray, int]:
    audio = espeak_synth.synthesize(SPANISH, voice="espeak:es")
    return audio.samples, audio.sample_rate


# -- local servers speaking the remote APIs ---------------------------------------------------


@dataclass
class FakeSpeechServer:
    """An HTTP server answering the OpenAI speech API and ElevenLabs' streaming API.

    Audio is a 220 Hz tone lasting 50 ms per character of input divided by the speed, so a
    test can tell from the duration and rate that the answer was decoded right.
    """

    api_key: str = "secret-key"
    mode: str = "ok"
    """``ok``, ``fail`` (500), ``refuse`` (400 / 401) or ``slow`` (answers after 2 s)."""
    requests: list[dict] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _tone(seconds: float, rate: int) -> bytes:
    t = np.arange(round(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2").tobytes()


def _handler(state: FakeSpeechServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(
                {"path": url.path, "query": parse_qs(url.query), "body": body,
                 "headers": dict(self.headers)}
            )  # fmt: skip
            if state.mode == "fail":
                self._reply(500, b'{"error": "model crashed"}', "application/json")
            elif state.mode == "slow":
                time.sleep(2.0)
                self._reply(500, b"late", "text/plain")
            elif url.path == "/v1/audio/speech":
                self._openai(body)
            elif url.path.startswith("/v1/text-to-speech/") and url.path.endswith("/stream"):
                self._elevenlabs(url.path.split("/")[3], parse_qs(url.query), body)
            else:
                self._reply(404, b'{"detail": "Not Found"}', "application/json")

        def _openai(self, body: dict) -> None:
            if self.headers.get("Authorization") != f"Bearer {state.api_key}":
                error = {"error": {"message": "Incorrect API key provided", "type": "invalid"}}
                self._reply(401, json.dumps(error).encode(), "application/json")
                return
            if state.mode == "refuse" or body.get("voice") not in ("alloy", "nova", "shimmer"):
                error = {"error": {"message": "Invalid voice", "type": "invalid_request_error"}}
                self._reply(400, json.dumps(error).encode(), "application/json")
                return
            pcm = _tone(0.05 * len(body["input"]) / body.get("speed", 1.0), OPENAI_PCM_RATE)
            if body["response_format"] == "wav":
                from reflector.audio.formats import wav_header

                self._reply(200, wav_header(OPENAI_PCM_RATE, len(pcm)) + pcm, "audio/wav")
            else:
                self._reply(200, pcm, "audio/pcm")

        def _elevenlabs(self, voice_id: str, query: dict, body: dict) -> None:
            if self.headers.get("xi-api-key") != state.api_key or state.mode == "refuse":
                detail = {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}
                self._reply(401, json.dumps(detail).encode(), "application/json")
                return
            rate = int(query.get("output_format", ["mp3_44100_128"])[0].split("_")[1])
            speed = body.get("voice_settings", {}).get("speed", 1.0)
            pcm = _tone(0.05 * len(body["text"]) / speed, rate)
            # Streamed as it is generated: chunked transfer encoding, several chunks.
            self.send_response(200)
            self.send_header("Content-Type", "audio/pcm")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(pcm), 3001):  # odd sizes split samples across chunks
                chunk = pcm[start : start + 3001]
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")

    return Handler


@pytest.fixture
def speech_server() -> Iterator[FakeSpeechServer]:
    state = FakeSpeechServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def _openai(server: FakeSpeechServer, board: BreakerBoard, **options) -> OpenAiSpeechSynthesizer:
    return OpenAiSpeechSynthesizer(
        server.url + "/v1",
        breaker=board.get("tts-openai"),
        api_key=server.api_key,
        policy=FAST_RETRIES,
        **options,
    )


# -- sentences --------------------------------------------------------------------------------


def test_split_sentences_keeps_abbreviations_and_numbers_together() -> None:
    text = "Dr. Smith arrived at 3.30 p.m. today. Is it ready? Yes!\nNext line without a stop"
    assert split_sentences(text) == [
        "Dr. Smith arrived at 3.30 p.m. today.",
        "Is it ready?",
        "Yes!",
        "Next line without a stop",
    ]


def test_split_sentences_cuts_a_very_long_sentence_at_clauses() -> None:
    text = ", ".join(["a clause of several words"] * 40) + "."
    parts = split_sentences(text)
    assert len(parts) > 1 and all(len(p) <= 400 for p in parts)
    assert " ".join(parts) == text


# -- Piper ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_piper_speaks_english_one_chunk_per_sentence(piper_synth) -> None:
    assert piper_synth.voices()[0].id == "joe"
    chunks = list(piper_synth.stream(ENGLISH))
    assert len(chunks) == 4
    whole = piper_synth.synthesize(ENGLISH)
    assert whole.sample_rate == 22050
    assert whole.duration == pytest.approx(sum(c.duration for c in chunks), rel=0.01)
    assert 9.0 < whole.duration < 20.0
    assert _voiced(whole.samples, whole.sample_rate) > 0.5 * whole.duration


@pytest.mark.slow
def test_piper_speed_changes_length(piper_synth) -> None:
    text = "The quarterly report is due next week, so please send your numbers early."
    normal = piper_synth.synthesize(text).duration
    assert piper_synth.synthesize(text, speed=2.0).duration < 0.75 * normal
    assert piper_synth.synthesize(text, speed=0.5).duration > 1.4 * normal


def test_piper_model_is_loaded_once_per_process() -> None:
    assert shared_piper() is shared_piper()
    assert PiperSynthesizer().engine is PiperSynthesizer().engine is shared_piper()


@pytest.mark.slow
def test_stream_yields_first_sentence_before_the_rest_is_synthesized(piper_synth) -> None:
    stream = piper_synth.stream(ENGLISH)
    assert inspect.isgenerator(stream)  # nothing is synthesized before it is asked for
    first = next(stream)
    assert inspect.getgeneratorstate(stream) == inspect.GEN_SUSPENDED
    rest = list(stream)
    # The first piece is the first of four sentences only, not the whole text.
    assert first.duration > 0.5 and len(rest) == 3
    assert first.duration < 0.5 * (first.duration + sum(piece.duration for piece in rest))


@pytest.mark.slow
def test_encoded_stream_sends_bytes_per_sentence(router) -> None:
    stream = open_speech_stream(router, SpeechRequest(ENGLISH, format="mp3"))
    assert stream.media_type == "audio/mpeg"
    pieces = list(stream.pieces())
    spoken = [p for p in pieces if p.duration > 0]
    assert len(spoken) == 4 and all(p.data for p in spoken)
    samples, rate = decode_audio_bytes(b"".join(p.data for p in pieces), "mp3")
    assert len(samples) / rate == pytest.approx(stream.duration, abs=0.2)


@pytest.mark.parametrize(
    ("text", "lead"),
    [
        ("Hello there. How are you?", ""),  # a short first sentence is not cut
        ("Good morning everyone, thanks for joining the weekly planning meeting.",
         "Good morning everyone,"),  # after a comma
        ("Please send the quarterly report to the finance team before Friday morning.",
         "Please send the quarterly report"),  # before a preposition
        ("Numbers nine ten eleven twelve thirteen fourteen fifteen sixteen.",
         "Numbers nine ten eleven twelve"),  # no natural break: after five words
    ],
)  # fmt: skip
def test_split_lead_cuts_long_first_sentences_where_a_speaker_could_pause(text, lead) -> None:
    got_lead, rest = split_lead(text)
    assert got_lead == lead
    assert " ".join(f"{got_lead} {rest}".split()) == " ".join(text.split())


@pytest.mark.slow
def test_fast_start_gets_the_first_audio_out_sooner(piper_synth) -> None:
    text = "Please send the quarterly report to the finance team before Friday morning."
    request = SpeechRequest(text, format="pcm")
    whole = next(open_speech_stream(piper_synth, request).audio())
    fast = open_speech_stream(piper_synth, request, fast_start=True)
    pieces = list(fast.audio())
    assert [p.text for p in pieces][:1] in (["Please send the quarterly report"], [""])
    assert len(pieces) == 2 and pieces[0].duration < 0.6 * whole.duration
    # Nothing is lost: both parts together are about as long as the sentence said at once.
    assert sum(p.duration for p in pieces) == pytest.approx(whole.duration, rel=0.25)


# -- eSpeak NG --------------------------------------------------------------------------------


def test_espeak_lists_the_installed_voices(espeak_synth) -> None:
    ids = {v.id for v in espeak_synth.voices()}
    assert {"espeak:es", "espeak:fr-fr", "espeak:pt", "espeak:pt-br", "espeak:de"} <= ids
    assert all(v.backend == "espeak" for v in espeak_synth.voices())
    assert len(ids) == len(espeak_synth.voices())  # unique
    assert espeak_synth.supports("fr") and espeak_synth.supports("pt-BR")
    assert not espeak_synth.supports("xx")


@pytest.mark.parametrize(
    ("voice", "language", "speaks"),
    [("espeak:es", None, "es"), ("fr", None, "fr-fr"), (None, "pt-BR", "pt-br"),
     (None, "de", "de"), ("zh", None, "cmn")],
)  # fmt: skip
def test_espeak_finds_voices_by_id_or_language(espeak_synth, voice, language, speaks) -> None:
    assert espeak_synth.resolve(voice, language).language == speaks
    audio = espeak_synth.synthesize("uno dos tres", voice=voice, language=language)
    assert audio.duration > 0.3 and np.abs(audio.samples).max() > 0.05


def test_espeak_streams_sentences_with_their_text(espeak_synth) -> None:
    chunks = list(espeak_synth.stream(SPANISH, voice="es"))
    assert [c.text for c in chunks] == split_sentences(SPANISH)
    assert all(c.duration > 0.3 for c in chunks)


def test_espeak_speed_covers_the_whole_range(espeak_synth) -> None:
    text = "Hola a todos, gracias por venir a la reunión de hoy."
    normal = espeak_synth.synthesize(text, voice="es").duration
    # 0.25 is below eSpeak's slowest rate: the audio is stretched to reach it.
    assert espeak_synth.synthesize(text, voice="es", speed=0.25).duration == pytest.approx(
        4 * normal, rel=0.15
    )
    assert espeak_synth.synthesize(text, voice="es", speed=2.0).duration == pytest.approx(
        normal / 2, rel=0.15
    )
    assert espeak_synth.synthesize(text, voice="es", speed=4.0).duration < 0.4 * normal


# -- routing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("voice", "language", "backend"),
    [(None, None, "piper"), ("joe", None, "piper"), ("alloy", None, "piper"),
     ("nova", "es", "espeak"), ("espeak:de", None, "espeak"), ("es", None, "espeak"),
     (None, "fr", "espeak"), ("en", None, "piper"), (None, "en-GB", "piper")],
)  # fmt: skip
def test_router_picks_piper_for_english_and_espeak_for_the_rest(
    router, voice, language, backend
) -> None:
    assert router.resolve(voice, language).backend.name == backend


def test_router_lists_voices_of_every_backend(router) -> None:
    ids = [v.id for v in router.voices()]
    assert ids[0] == "joe" and "espeak:es" in ids and len(ids) == len(set(ids))
    assert isinstance(router, SpeechSynthesizer)


def test_default_voice_setting_is_used_when_a_request_names_none() -> None:
    synth = build_synthesizer(Settings(tts_default_voice="espeak:de"), BreakerBoard())
    assert synth.resolve(None, None).backend.name == "espeak"
    assert synth.resolve("alloy", None).voice == "espeak:de"  # OpenAI names → the default
    assert synth.resolve(None, "en").backend.name == "piper"  # the default speaks German only


def test_build_synthesizer_rejects_misconfiguration() -> None:
    with pytest.raises(ValueError, match="REFLECTOR_TTS_URL"):
        build_synthesizer(Settings(tts_backend="openai"), BreakerBoard())
    with pytest.raises(ValueError, match="REFLECTOR_TTS_API_KEY"):
        build_synthesizer(Settings(tts_backend="elevenlabs"), BreakerBoard())
    with pytest.raises(UnknownVoiceError, match="klingon"):
        build_synthesizer(Settings(tts_default_voice="klingon"), BreakerBoard())


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "options", "error", "message"),
    [
        ("", {}, EmptyTextError, "empty"),
        ("  \n\t ", {}, EmptyTextError, "empty"),
        ("... !!! —", {}, EmptyTextError, "nothing to speak"),
        ("x" * 101, {}, TextTooLongError, "101 characters long; the limit is 100"),
        ("hello", {"speed": 0.0}, InvalidSpeedError, "between 0.25 and 4.0"),
        ("hello", {"speed": 4.5}, InvalidSpeedError, "between 0.25 and 4.0"),
        ("hello", {"speed": math.nan}, InvalidSpeedError, "between 0.25 and 4.0"),
        ("hello", {"speed": "fast"}, InvalidSpeedError, "must be a number"),
        ("hello", {"voice": "darth"}, UnknownVoiceError, "unknown voice 'darth'"),
        ("hello", {"voice": "espeak:klingon"}, UnknownVoiceError, "klingon"),
        ("hello", {"language": "xx"}, UnsupportedLanguageError, "'xx'"),
        ("hola", {"voice": "joe", "language": "es"}, UnsupportedLanguageError, "English"),
        ("hello", {"voice": "openai:nova"}, UnknownVoiceError, "no remote speech server"),
    ],
)
def test_bad_input_gets_a_clear_error(piper_synth, espeak_synth, text, options, error, message):
    router = SpeechRouter(english=piper_synth, other=espeak_synth, max_chars=100)
    for call in (router.synthesize, lambda t, **o: list(router.stream(t, **o))):
        with pytest.raises(error, match=message) as raised:
            call(text, **options)
        assert isinstance(raised.value, TtsError) and isinstance(raised.value, ValueError)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"format": "wma"}, "unknown audio format 'wma'"), ({"speed": 9}, "between 0.25"),
     ({"sample_rate": 4000}, "sample_rate must be between")],
)  # fmt: skip
def test_bad_request_options_are_refused_up_front(options, message) -> None:
    with pytest.raises(ValueError, match=message):
        SpeechRequest("hello", **options)


# -- remote: OpenAI-compatible ----------------------------------------------------------------


@pytest.mark.parametrize("response_format", ["pcm", "wav"])
def test_openai_backend_speaks_the_openai_api(speech_server, response_format) -> None:
    synth = _openai(speech_server, BreakerBoard(), model="tts-1-hd",
                    response_format=response_format)  # fmt: skip
    audio = synth.synthesize("Hello there.", voice="openai:nova", speed=2.0)
    request = speech_server.requests[-1]
    assert request["path"] == "/v1/audio/speech"
    assert request["body"] == {"model": "tts-1-hd", "input": "Hello there.", "voice": "nova",
                               "response_format": response_format, "speed": 2.0}  # fmt: skip
    assert audio.sample_rate == OPENAI_PCM_RATE
    assert audio.duration == pytest.approx(0.05 * 12 / 2.0, abs=0.01)


def test_openai_backend_streams_one_request_per_sentence(speech_server) -> None:
    synth = _openai(speech_server, BreakerBoard())
    stream = synth.stream("First sentence here. Second one. And the third.")
    first = next(stream)
    assert first.text == "First sentence here." and len(speech_server.requests) == 1
    assert [c.text for c in stream] == ["Second one.", "And the third."]
    assert [r["body"]["input"] for r in speech_server.requests] == [
        "First sentence here.", "Second one.", "And the third."
    ]  # fmt: skip


def test_openai_backend_refusal_is_not_retried(speech_server) -> None:
    board = BreakerBoard()
    synth = _openai(speech_server, board)
    with pytest.raises(RemoteTtsError, match=r"answered 400.*Invalid voice"):
        synth.synthesize("Hello.", voice="darth")
    assert len(speech_server.requests) == 1
    assert board.get("tts-openai").state is CircuitState.CLOSED


def test_openai_backend_wrong_key_is_reported(speech_server) -> None:
    synth = OpenAiSpeechSynthesizer(
        speech_server.url + "/v1", breaker=BreakerBoard().get("x"), api_key="wrong",
        policy=FAST_RETRIES,
    )  # fmt: skip
    with pytest.raises(RemoteTtsError, match=r"401.*Incorrect API key"):
        synth.synthesize("Hello.")


def test_remote_timeouts_are_retried(speech_server) -> None:
    speech_server.mode = "slow"
    policy = RetryPolicy(attempts=2, initial_backoff=0.01, timeout=0.3)
    synth = OpenAiSpeechSynthesizer(speech_server.url + "/v1", breaker=BreakerBoard().get("t"),
                                    api_key=speech_server.api_key, policy=policy)  # fmt: skip
    with pytest.raises(RemoteTtsError, match=r"did not answer.*Timeout"):
        synth.synthesize("Hello.")
    assert len(speech_server.requests) == 2


def test_unreachable_server_is_retried_then_reported() -> None:
    board = BreakerBoard()
    synth = OpenAiSpeechSynthesizer(
        f"http://127.0.0.1:{free_port()}/v1", breaker=board.get("down"), policy=FAST_RETRIES
    )
    with pytest.raises(RemoteTtsError, match=r"did not answer.*ConnectError"):
        synth.synthesize("Hello.")
    assert board.get("down").snapshot().failures == 1  # one call of three tries


# -- remote: ElevenLabs -----------------------------------------------------------------------


def _elevenlabs(server: FakeSpeechServer, board: BreakerBoard, **options):
    return ElevenLabsSynthesizer(
        breaker=board.get("tts-elevenlabs"), api_key=server.api_key, base_url=server.url,
        policy=FAST_RETRIES, **options,
    )  # fmt: skip


def test_elevenlabs_backend_speaks_the_streaming_api(speech_server) -> None:
    synth = _elevenlabs(speech_server, BreakerBoard(), model_id="eleven_flash_v2_5",
                        voice_settings={"stability": 0.5, "similarity_boost": 0.75})  # fmt: skip
    audio = synth.synthesize("Hello from the other side.", voice="elevenlabs:pNInz6obpgDQGcFmaJgB")
    request = speech_server.requests[-1]
    assert request["path"] == "/v1/text-to-speech/pNInz6obpgDQGcFmaJgB/stream"
    assert request["query"] == {"output_format": ["pcm_16000"]}
    assert request["headers"]["xi-api-key"] == speech_server.api_key
    assert request["body"] == {
        "text": "Hello from the other side.",
        "model_id": "eleven_flash_v2_5",
        "voice_settings": {"stability": 0.5, "similarity_boost": 0.75},
    }
    assert audio.sample_rate == 16000
    assert audio.duration == pytest.approx(0.05 * 26, abs=0.01)


def test_elevenlabs_speed_outside_its_range_is_applied_locally(speech_server) -> None:
    synth = _elevenlabs(speech_server, BreakerBoard())
    audio = synth.synthesize("Twenty characters!!", speed=0.25)
    sent = speech_server.requests[-1]["body"]["voice_settings"]["speed"]
    assert sent == 0.7  # the slowest ElevenLabs accepts; the rest is stretched here
    assert audio.duration == pytest.approx(0.05 * 19 / 0.25, rel=0.05)


def test_elevenlabs_bad_key_is_not_retried(speech_server) -> None:
    speech_server.mode = "refuse"
    with pytest.raises(RemoteTtsError, match=r"401.*invalid_api_key"):
        _elevenlabs(speech_server, BreakerBoard()).synthesize("Hello.")
    assert len(speech_server.requests) == 1


# -- fallback and circuit breaker -------------------------------------------------------------


@pytest.mark.slow
def test_failing_server_opens_the_breaker_falls_back_and_is_probed_back(
    speech_server, router
) -> None:
    board = BreakerBoard(failure_threshold=2, reset_timeout=0.5)
    breaker = board.get("tts-openai")
    fallbacks: list[str] = []
    synth = FallbackSynthesizer(
        _openai(speech_server, board), router, on_fallback=lambda name, _: fallbacks.append(name)
    )
    speech_server.mode = "fail"

    # Each failing call is tried three times (5xx is retried), then speaks locally.
    for call in (1, 2):
        audio = synth.synthesize("Hello there.", voice="alloy")
        assert audio.sample_rate == 22050  # Piper's rate: the local voice spoke
        assert len(speech_server.requests) == 3 * call
    assert breaker.state is CircuitState.OPEN and fallbacks == ["openai", "openai"]

    # Open: the server is not called at all; the local voice answers.
    audio = synth.synthesize("Hello again.", voice="alloy")
    assert audio.sample_rate == 22050 and len(speech_server.requests) == 6
    assert breaker.snapshot().rejected == 1 and synth.fallbacks == 3

    # After the reset timeout one probe goes through; success closes the breaker.
    speech_server.mode = "ok"
    time.sleep(0.6)
    assert breaker.state is CircuitState.HALF_OPEN
    audio = synth.synthesize("Back online.", voice="alloy")
    assert audio.sample_rate == OPENAI_PCM_RATE and len(speech_server.requests) == 7
    assert breaker.state is CircuitState.CLOSED


@pytest.mark.slow
def test_stream_falls_back_mid_text_and_keeps_the_local_voice(speech_server, router) -> None:
    synth = FallbackSynthesizer(_openai(speech_server, BreakerBoard()), router)
    stream = synth.stream("One sentence. Another sentence. A third sentence.", voice="nova")
    assert next(stream).sample_rate == OPENAI_PCM_RATE
    speech_server.mode = "fail"
    rest = list(stream)
    assert [c.sample_rate for c in rest] == [22050, 22050]  # Piper, sentence by sentence


def test_fallback_does_not_hide_bad_input(speech_server, router) -> None:
    synth = FallbackSynthesizer(_openai(speech_server, BreakerBoard()), router)
    with pytest.raises(EmptyTextError):
        synth.synthesize("   ")
    with pytest.raises(InvalidSpeedError):
        synth.synthesize("Hello.", speed=10)
    assert speech_server.requests == [] and synth.fallbacks == 0


def test_configured_remote_backend_routes_and_falls_back(speech_server) -> None:
    settings = Settings(tts_backend="openai", tts_url=speech_server.url + "/v1",
                        tts_api_key=speech_server.api_key, tts_default_voice="shimmer")  # fmt: skip
    board = BreakerBoard()
    synth = build_synthesizer(settings, board, policy=FAST_RETRIES)
    assert synth.name == "openai"
    synth.synthesize("Hi.")
    assert speech_server.requests[-1]["body"]["voice"] == "shimmer"
    synth.synthesize("Hi.", voice="nova")
    assert speech_server.requests[-1]["body"]["voice"] == "nova"
    # A local voice id goes to the local backend directly.
    assert synth.synthesize("Hola.", voice="espeak:es").sample_rate == 22050
    assert len(speech_server.requests) == 2
    assert "openai:alloy" in {v.id for v in synth.voices()}
    assert [s.name for s in board.snapshots()] == ["tts-openai"]


# -- formats ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", AUDIO_FORMATS)
def test_every_format_decodes_back_to_the_same_speech(spanish_clip, fmt) -> None:
    samples, rate = spanish_clip
    data = encode_audio(samples, rate, fmt)
    decoded, decoded_rate = decode_audio_bytes(data, fmt, sample_rate=rate)
    if decoded_rate != rate:  # Opus is always 48 kHz
        decoded = resample(decoded, decoded_rate, rate)
    if fmt in ("wav", "pcm", "flac"):
        assert len(decoded) == len(samples)
        assert np.abs(decoded - samples).max() < 2 / 32768  # lossless (16-bit)
        return
    # Lossy codecs add a little delay and padding: line the signals up, then compare.
    assert len(decoded) / rate == pytest.approx(len(samples) / rate, abs=0.15)
    lag = int(np.argmax(np.correlate(decoded[:4000], samples[:2000], "valid")))
    aligned = decoded[lag : lag + len(samples)]
    n = min(len(aligned), len(samples))
    similarity = np.dot(aligned[:n], samples[:n]) / (
        np.linalg.norm(aligned[:n]) * np.linalg.norm(samples[:n])
    )
    assert similarity > 0.9, similarity
    assert speech_rms_dbfs(decoded, rate) == pytest.approx(speech_rms_dbfs(samples, rate), abs=1)


@pytest.mark.parametrize("fmt", AUDIO_FORMATS)
def test_streaming_encoder_emits_bytes_as_sentences_arrive(spanish_clip, fmt) -> None:
    samples, rate = spanish_clip
    half = len(samples) // 2
    encoder = StreamingEncoder(fmt, rate)
    first = encoder.write(samples[:half])
    second = encoder.write(samples[half:])
    tail = encoder.close()
    if fmt in ("pcm", "wav", "mp3", "opus", "ogg", "aac"):
        assert first and second  # bytes before the end: a player can start
    decoded, decoded_rate = decode_audio_bytes(first + second + tail, fmt, sample_rate=rate)
    assert decoded_rate == encoder.sample_rate
    assert len(decoded) / decoded_rate == pytest.approx(len(samples) / rate, abs=0.15)


def test_pcm_stream_resamples_for_openai_clients(spanish_clip) -> None:
    samples, rate = spanish_clip
    encoder = StreamingEncoder("pcm", rate, target_rate=24000)
    data = b"".join([encoder.write(samples[:5000]), encoder.write(samples[5000:]), encoder.close()])
    assert encoder.media_type == "audio/L16;rate=24000;channels=1"
    assert len(data) / 2 / 24000 == pytest.approx(len(samples) / rate, abs=0.01)


def test_unknown_format_and_undecodable_bytes_are_refused() -> None:
    with pytest.raises(AudioFormatError, match="choose one of mp3, opus"):
        encode_audio(np.zeros(100, np.float32), 16000, "wma")
    with pytest.raises(AudioFormatError, match="cannot decode"):
        decode_audio_bytes(b"this is not audio at all" * 10, "mp3")


@pytest.mark.parametrize("factor", [0.25, 0.5, 2.0])
def test_change_tempo_keeps_pitch_and_scales_length(factor) -> None:
    rate = 16000
    tone = np.sin(2 * np.pi * 300 * np.arange(rate) / rate).astype(np.float32) * 0.5
    out = change_tempo(tone, rate, factor)
    assert len(out) / rate == pytest.approx(1 / factor, rel=0.03)
    window = out[rate // 10 : rate // 10 + 6000]
    peak = np.fft.rfftfreq(len(window), 1 / rate)[np.argmax(np.abs(np.fft.rfft(window)))]
    assert peak == pytest.approx(300, abs=4)


# -- loudness ---------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [-14.0, -20.0, -30.0])
def test_normalise_reaches_the_target_level_within_1_db(spanish_clip, target) -> None:
    samples, rate = spanish_clip
    quiet = np.concatenate([np.zeros(rate, np.float32), samples * 0.05])  # silence, then speech
    out = normalize_loudness(quiet, rate, target)
    assert speech_rms_dbfs(out, rate) == pytest.approx(target, abs=1.0)
    assert np.abs(out).max() <= 10 ** (-1 / 20) + 1e-6  # the ceiling holds
    assert np.abs(out[: rate // 2]).max() == 0.0  # silence stays silent


def test_compressor_evens_out_loud_and_quiet_speech(spanish_clip) -> None:
    samples, rate = spanish_clip
    uneven = np.concatenate([samples * 0.9, samples * 0.05])
    spread_before = speech_rms_dbfs(uneven[: len(samples)], rate) - speech_rms_dbfs(
        uneven[len(samples) :], rate
    )
    out = compress(uneven, rate, threshold_dbfs=-30.0, ratio=4.0)
    spread_after = speech_rms_dbfs(out[: len(samples)], rate) - speech_rms_dbfs(
        out[len(samples) :], rate
    )
    assert spread_before == pytest.approx(25.0, abs=1.0)
    assert spread_after < spread_before - 8.0


def test_loudness_leaves_silence_alone_and_validates_options() -> None:
    silence = np.zeros(16000, np.float32)
    assert np.array_equal(apply_loudness(silence, 16000, LoudnessOptions(compress=True)), silence)
    assert speech_rms_dbfs(silence, 16000) is None
    with pytest.raises(ValueError, match="target_dbfs must be between"):
        LoudnessOptions(target_dbfs=6.0)
    with pytest.raises(ValueError, match="ratio"):
        LoudnessOptions(ratio=0.5)


@pytest.mark.slow
@pytest.mark.parametrize("compress_too", [False, True])
def test_rendered_speech_hits_the_requested_level(router, compress_too) -> None:
    request = SpeechRequest(
        ENGLISH, format="wav", loudness=LoudnessOptions(target_dbfs=-23.0, compress=compress_too)
    )
    speech = render_speech(router, request)
    samples, rate = decode_audio_bytes(speech.data, "wav")
    assert speech.media_type == "audio/wav" and rate == speech.sample_rate == 22050
    assert len(samples) / rate == pytest.approx(speech.duration, abs=0.01)
    assert speech_rms_dbfs(samples, rate) == pytest.approx(-23.0, abs=1.0)

"""Speech to text over the voice API: the official ``openai`` client and ``POST /api/stt``."""

from __future__ import annotations

import base64
import json

import httpx
import openai
import pytest
import srt
import webvtt

from reflector.api.threaded import ThreadedServer
from reflector_testkit.ports import free_port
from reflector_testkit.scoring import word_error_rate
from reflector_testkit.servers import openai_client, server_settings

pytestmark = pytest.mark.slow

AUDIO_LIMIT = 2_000_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    settings = server_settings(
        tmp_path_factory.mktemp("voice"),
        None,
        port=free_port(),
        stt_model="tiny.en",
        max_audio_bytes=AUDIO_LIMIT,
    )
    with ThreadedServer(settings) as running:
        yield running


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return openai_client(server.url)


def test_the_openai_client_transcribes_speech(client, piper_clip):
    with piper_clip.path.open("rb") as audio:
        result = client.audio.transcriptions.create(model="whisper-1", file=audio)
    assert word_error_rate(piper_clip.text, result.text) <= 0.15, result.text


def test_verbose_json_has_timed_words_and_segments(client, piper_clip):
    with piper_clip.path.open("rb") as audio:
        result = client.audio.transcriptions.create(
            model="whisper-1",
            file=audio,
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
        )
    assert result.language == "en"
    assert abs(result.duration - piper_clip.duration) < 0.1
    starts = [w.start for w in result.words]
    assert starts == sorted(starts) and all(w.end >= w.start for w in result.words)
    assert 0.5 < result.words[0].start < 2.0  # the clip starts with a second of silence
    assert len(result.words) >= 40
    assert result.segments and result.segments[-1].end <= piper_clip.duration + 0.1
    assert " ".join(w.word for w in result.words).startswith("Good morning")


def test_subtitle_and_text_formats(client, piper_clip):
    answers = {}
    for fmt in ("srt", "vtt", "text"):
        with piper_clip.path.open("rb") as audio:
            answers[fmt] = client.audio.transcriptions.create(
                model="whisper-1", file=audio, response_format=fmt
            )
    cues = list(srt.parse(answers["srt"]))
    assert len(cues) >= 2 and cues[0].start.total_seconds() >= 0.5
    captions = webvtt.from_string(answers["vtt"])
    assert len(captions) == len(cues)
    assert word_error_rate(piper_clip.text, answers["text"]) <= 0.15


def test_diarized_json_names_speakers(client, piper_clip):
    with piper_clip.path.open("rb") as audio:
        raw = client.audio.transcriptions.with_raw_response.create(
            model="gpt-4o-transcribe-diarize", file=audio, response_format="diarized_json"
        )
    body = json.loads(raw.http_response.text)
    assert body["segments"] and {s["speaker"] for s in body["segments"]} == {"A"}
    assert all(s["type"] == "transcript.text.segment" for s in body["segments"])


def test_streamed_transcription_sends_deltas_then_the_whole_text(client, piper_clip):
    with piper_clip.path.open("rb") as audio:
        events = list(
            client.audio.transcriptions.create(model="whisper-1", file=audio, stream=True)
        )
    kinds = [event.type for event in events]
    assert kinds[-1] == "transcript.text.done" and "transcript.text.delta" in kinds
    deltas = "".join(e.delta for e in events if e.type == "transcript.text.delta")
    assert " ".join(deltas.split()) == " ".join(events[-1].text.split())
    assert word_error_rate(piper_clip.text, events[-1].text) <= 0.15


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
def test_translation_turns_spanish_speech_into_english(client, espeak_spanish_clip):
    with espeak_spanish_clip.open("rb") as audio:
        result = client.audio.translations.create(model="base", file=audio)
    words = set(result.text.lower().replace(".", " ").replace(",", " ").split())
    assert words & {"morning", "good", "friends", "thank", "thanks"}, result.text


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
def test_translation_with_an_english_only_model_is_refused_clearly(client, piper_clip):
    with piper_clip.path.open("rb") as audio, pytest.raises(openai.BadRequestError) as caught:
        client.audio.translations.create(model="tiny.en", file=audio)
    assert "English only" in caught.value.message


def test_models_are_listed_and_unknown_ones_are_404(client):
    ids = {model.id for model in client.models.list()}
    assert {"whisper-1", "tiny.en", "base"} <= ids
    assert client.models.retrieve("whisper-1").owned_by == "reflector"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_api_stt_multipart_and_base64_agree(server, piper_clip):
    data = piper_clip.path.read_bytes()
    multipart = httpx.post(f"{server.url}/api/stt", files={"file": ("clip.wav", data)}, timeout=120)
    assert multipart.status_code == 200, multipart.text
    as_json = httpx.post(
        f"{server.url}/api/stt",
        json={"audio": base64.b64encode(data).decode(), "language": "en"},
        timeout=120,
    )
    assert as_json.status_code == 200, as_json.text
    first, second = multipart.json(), as_json.json()
    assert first["text"] == second["text"]
    assert word_error_rate(piper_clip.text, first["text"]) <= 0.15
    assert first["language"] == "en" and first["duration"] == pytest.approx(
        piper_clip.duration, abs=0.1
    )
    assert first["segments"][0]["words"][0]["start"] >= 0.5
    assert first["sentiment"]["label"] in {"positive", "neutral", "negative"}


def test_api_stt_reports_sentiment_of_what_was_said(server, piper, tmp_path):
    from reflector.audio import SAMPLE_RATE, resample, write_wav

    def say(text: str, name: str) -> dict:
        speech = piper.synthesize(text, varied=False)
        samples = resample(speech.samples, speech.sample_rate, SAMPLE_RATE)
        path = write_wav(samples, tmp_path / name)
        response = httpx.post(
            f"{server.url}/api/stt", files={"file": (name, path.read_bytes())}, timeout=120
        )
        return response.json()

    happy = say("This is wonderful news, I love it and I am very happy.", "happy.wav")
    sad = say("This is terrible. I hate the delays and the awful crashes.", "sad.wav")
    assert happy["sentiment"]["label"] == "positive", happy
    assert sad["sentiment"]["label"] == "negative", sad


@pytest.mark.parametrize(
    ("request_kwargs", "status", "slug"),
    [
        ({"files": {"file": ("empty.wav", b"")}}, 400, "empty-audio"),
        ({"files": {"file": ("noise.wav", b"not audio at all" * 100)}}, 400, "unreadable-audio"),
        ({"files": {"file": ("big.wav", b"\0" * (AUDIO_LIMIT + 10))}}, 413, "audio-too-large"),
        ({"json": {"audio": "%%% not base64 %%%"}}, 400, "bad-base64"),
        ({"json": {"audio": ""}}, 400, "empty-audio"),
        ({"json": {"audio": "AAAA", "colour": "red"}}, 422, "validation-error"),
        (
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            422,
            "validation-error",
        ),
        (
            {"content": b"RIFF", "headers": {"content-type": "audio/wav"}},
            415,
            "unsupported-media-type",
        ),
        ({"files": {"other": ("clip.wav", b"RIFF")}}, 422, "missing-file"),
    ],
)
def test_api_stt_bad_input_gets_a_clear_error(server, request_kwargs, status, slug):
    response = httpx.post(f"{server.url}/api/stt", timeout=60, **request_kwargs)
    assert response.status_code == status, response.text
    assert response.json()["type"].endswith("/" + slug)
    assert response.headers["content-type"].startswith("application/problem+json")


def test_openai_errors_carry_a_message_the_client_shows(client, piper_clip):
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(model="whisper-1", file=("noise.mp3", b"garbage" * 50))
    assert "cannot be used" in caught.value.message
    with piper_clip.path.open("rb") as audio, pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(model="no-such-model", file=audio)
    assert "no-such-model" in caught.value.message
    with piper_clip.path.open("rb") as audio, pytest.raises(openai.BadRequestError):
        client.audio.transcriptions.create(model="no-such-model", file=audio, stream=True)


def test_a_huge_chunked_json_body_is_refused_while_it_streams(server):
    def body():
        yield b'{"audio": "'
        for _ in range(40):  # 40 MiB of base64, far over the limit, with no Content-Length
            yield b"A" * 1024 * 1024
        yield b'"}'

    response = httpx.post(
        f"{server.url}/api/stt",
        content=body(),
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 413
    assert response.json()["type"].endswith("/audio-too-large")

"""Shared fixtures: generated speech with known text, real recordings, loaded models."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from reflector_testkit import speech
from reflector_testkit.daily import FakeDaily, running_daily
from reflector_testkit.seaweed import SeaweedS3, SeaweedUnavailable, running_seaweed
from reflector_testkit.speech import TEST_DATA, SpokenClip

REPO = Path(__file__).resolve().parent.parent

# As `reflector` (the CLI entry) does: OpenMP threads of the models loaded in this process wait
# passively instead of spinning against each other on shared cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(scope="session")
def piper():
    from reflector.tts import PiperTts

    return PiperTts()


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("audio")


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """A private data dir so assembling the base model is exercised from scratch."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def piper_clip(piper, audio_dir) -> SpokenClip:
    """Four sentences by the Piper voice with a second of silence around them."""
    return speech.piper_clip(piper, audio_dir)


@pytest.fixture(scope="session")
def espeak_spanish_clip(audio_dir) -> Path:
    """Spanish speech by eSpeak NG, for translation."""
    return speech.espeak_spanish_clip(audio_dir)


@pytest.fixture(scope="session")
def librivox_clips() -> list[SpokenClip]:
    """Real human read speech (LibriVox, in the PocketSphinx source) with reference text."""
    folder = TEST_DATA / "pocketsphinx" / "librivox"
    clips = speech.librivox_clips(folder)
    if not clips:
        pytest.fail(
            f"real-speech test data missing in {folder}: run `bash scripts/install.sh --dev`"
        )
    return clips


@pytest.fixture(scope="session")
def tiny_engine(data_dir):
    from reflector.asr import load_whisper, resolve_model

    return load_whisper(resolve_model("tiny.en", data_dir), cpu_threads=os.cpu_count() or 1)


@pytest.fixture(scope="session")
def base_engine(data_dir):
    from reflector.asr import load_whisper, resolve_model

    return load_whisper(resolve_model("base", data_dir), cpu_threads=os.cpu_count() or 1)


@pytest.fixture(scope="session")
def vad():
    from reflector.vad import SileroVad

    return SileroVad()


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """A real S3-compatible server (SeaweedFS) for storage tests; when the binary is missing
    or the server does not start, the tests that need it fail with the reason."""
    try:
        with running_seaweed(tmp_path_factory.mktemp("seaweedfs")) as server:
            yield server
    except SeaweedUnavailable as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def daily() -> Iterator[FakeDaily]:
    """A local Daily speaking its documented REST API, one per test module (point a server at
    it with ``daily.settings(secret)``)."""
    with running_daily() as server:
        yield server

"""Shared fixtures: generated speech with known text, real recordings, loaded models."""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

import jiwer
import numpy as np
import pytest

from reflector.audio import SAMPLE_RATE, resample, write_wav

# The `seaweed` fixture: a real S3-compatible server for storage tests.
pytest_plugins = ("tests.seaweed_support",)

REPO = Path(__file__).resolve().parent.parent
TEST_DATA = Path(os.environ.get("REFLECTOR_TEST_DATA", REPO / ".cache" / "testdata"))

PIPER_TEXT = (
    "Good morning everyone, thanks for joining the weekly planning meeting. "
    "First, the new billing service went live on Tuesday without any problems. "
    "Second, we still need someone to review the security checklist before Friday. "
    "Finally, please send me your travel plans for the conference in March."
)


# Whisper writes titles abbreviated; references spell them out.
_SPOKEN_FORMS = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint"}


@dataclass(frozen=True)
class SpokenClip:
    path: Path
    text: str
    duration: float


def free_port() -> int:
    """A local TCP port nothing listens on now: for a server a test starts, or to show how a
    client copes with a server that is not there."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER after lower-casing and removing punctuation, as is usual for ASR scoring."""

    def normalise(text: str) -> str:
        text = text.lower().replace("-", " ")
        text = re.sub(r"[^\w\s']", " ", text)
        return " ".join(_SPOKEN_FORMS.get(word, word) for word in text.split())

    return jiwer.wer(normalise(reference), normalise(hypothesis))


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SAMPLE_RATE), dtype=np.float32)


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
    speech = piper.synthesize(PIPER_TEXT, varied=False)  # the same clip on every run
    samples = np.concatenate(
        [_silence(1.0), resample(speech.samples, speech.sample_rate, SAMPLE_RATE), _silence(1.0)]
    )
    path = write_wav(samples, audio_dir / "piper_meeting.wav")
    return SpokenClip(path, PIPER_TEXT, len(samples) / SAMPLE_RATE)


SPANISH_TEXT = "Buenos días, amigos. Muchas gracias por venir a la reunión de hoy."


@pytest.fixture(scope="session")
def espeak_spanish_clip(audio_dir) -> Path:
    """Spanish speech by eSpeak NG, for translation."""
    from reflector.tts import EspeakTts

    speech = EspeakTts("es", words_per_minute=140).synthesize(SPANISH_TEXT)
    samples = np.concatenate(
        [_silence(0.5), resample(speech.samples, speech.sample_rate, SAMPLE_RATE), _silence(0.5)]
    )
    return write_wav(samples, audio_dir / "espeak_spanish.wav")


@pytest.fixture(scope="session")
def librivox_clips() -> list[SpokenClip]:
    """Real human read speech (LibriVox, in the PocketSphinx source) with reference text."""
    folder = TEST_DATA / "pocketsphinx" / "librivox"
    wavs = sorted(folder.glob("*.wav"))
    if not wavs:
        pytest.fail(
            f"real-speech test data missing in {folder}: run `bash scripts/install.sh --dev`"
        )
    clips = []
    for wav in wavs:
        text = wav.with_suffix(".txt").read_text().strip()
        from reflector.audio import probe

        clips.append(SpokenClip(wav, text, probe(wav).duration or 0.0))
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

"""Decoding any container to 16 kHz mono, and clear errors for everything that is not audio."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from reflector.audio import (
    SAMPLE_RATE,
    AudioError,
    decode_file,
    encode_mp3,
    peak_waveform,
    probe,
    resample,
    write_wav,
)


def _tone(seconds: float, rate: int, frequency: float = 440.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def _dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def tone_wav(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tones") / "tone_44k.wav"
    return write_wav(_tone(2.0, 44_100), path, sample_rate=44_100)


def test_wav_at_44k_becomes_16k_mono_float32_with_same_pitch(tone_wav):
    audio = decode_file(tone_wav)
    assert audio.samples.dtype == np.float32
    assert audio.samples.ndim == 1
    assert audio.duration == pytest.approx(2.0, abs=0.02)
    assert _dominant_frequency(audio.samples, SAMPLE_RATE) == pytest.approx(440, abs=2)


@pytest.mark.parametrize("suffix", [".m4a", ".mp3", ".ogg", ".flac", ".webm"])
def test_stereo_containers_decode_to_the_same_duration(tone_wav, tmp_path, suffix):
    target = tmp_path / f"tone{suffix}"
    _ffmpeg("-i", str(tone_wav), "-ac", "2", str(target))
    audio = decode_file(target)
    assert audio.duration == pytest.approx(2.0, abs=0.08)
    assert audio.info.channels == 2
    assert _dominant_frequency(audio.samples, SAMPLE_RATE) == pytest.approx(440, abs=3)


def test_video_file_audio_track_is_used(tone_wav, tmp_path):
    video = tmp_path / "talk.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=duration=2:size=64x64:rate=10", "-i", str(tone_wav),
            "-shortest", str(video))  # fmt: skip
    audio = decode_file(video)
    assert audio.info.has_video
    assert audio.duration == pytest.approx(2.0, abs=0.1)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        decode_file(tmp_path / "nope.wav")


def test_directory_is_not_audio(tmp_path):
    with pytest.raises(AudioError, match="is a directory"):
        decode_file(tmp_path)


def test_empty_file(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.touch()
    with pytest.raises(AudioError, match="the file is empty"):
        decode_file(empty)


def test_text_file_is_not_audio(tmp_path):
    notes = tmp_path / "notes.mp3"
    notes.write_text("These are my meeting notes, not a recording.\n" * 20)
    with pytest.raises(AudioError, match="not an audio or video file"):
        decode_file(notes)


def test_video_without_audio_stream(tmp_path):
    video = tmp_path / "silent_movie.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=duration=1:size=64x64:rate=10", str(video))
    with pytest.raises(AudioError, match=r"has no audio stream.*video"):
        decode_file(video)


def test_wav_with_no_samples(tmp_path):
    path = write_wav(np.zeros(0, dtype=np.float32), tmp_path / "zero.wav")
    with pytest.raises(AudioError, match="empty"):
        decode_file(path)


def test_truncated_wav_keeps_what_was_recorded(tone_wav, tmp_path):
    """A recorder that crashed leaves a short file: decode what is there."""
    truncated = tmp_path / "crashed.wav"
    truncated.write_bytes(tone_wav.read_bytes()[: 44 + 44_100 * 2])  # header + ~1 s
    audio = decode_file(truncated)
    assert audio.duration == pytest.approx(1.0, abs=0.05)


def test_corrupt_header_is_reported(tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF" + bytes(200))
    with pytest.raises(AudioError, match=r"corrupt|not an audio"):
        decode_file(broken)


def test_probe_reads_without_decoding(tone_wav):
    info = probe(tone_wav)
    assert info.sample_rate == 44_100
    assert info.duration == pytest.approx(2.0, abs=0.01)
    assert info.audio_codec == "pcm_s16le"


def test_mp3_round_trip_keeps_duration(tmp_path):
    samples = _tone(3.0, SAMPLE_RATE)
    path = encode_mp3(samples, tmp_path / "out.mp3")
    with av.open(str(path)) as container:
        assert container.format.name == "mp3"
    decoded = decode_file(path)
    assert decoded.duration == pytest.approx(3.0, abs=0.1)
    assert _dominant_frequency(decoded.samples, SAMPLE_RATE) == pytest.approx(440, abs=3)


def test_resample_preserves_pitch_and_length():
    out = resample(_tone(1.0, 48_000, 1000.0), 48_000, SAMPLE_RATE)
    assert len(out) == pytest.approx(SAMPLE_RATE, abs=64)
    assert _dominant_frequency(out, SAMPLE_RATE) == pytest.approx(1000, abs=3)


def test_waveform_has_255_bins_scaled_to_loudest():
    samples = np.concatenate([np.zeros(16_000), 0.25 * np.ones(16_000)]).astype(np.float32)
    bins = peak_waveform(samples)
    assert len(bins) == 255
    assert max(bins) == 1.0
    assert bins[0] == 0.0
    assert peak_waveform(np.zeros(100, dtype=np.float32)) == [0.0] * 255
    assert peak_waveform(np.zeros(0, dtype=np.float32)) == [0.0] * 255

"""Decoding any container to 16 kHz mono, and clear errors for everything that is not audio."""

from __future__ import annotations

import subprocess
import sys
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


# --- long recordings: decoded to disk, read as a memory map ------------------------------------


def test_a_long_recording_is_decoded_to_disk_and_read_as_a_memory_map(tone_wav, tmp_path):
    in_memory = decode_file(tone_wav, spill_after_seconds=float("inf"))
    spilled = decode_file(tone_wav, spill_dir=tmp_path, spill_after_seconds=0.5)
    assert not isinstance(in_memory.samples, np.memmap)
    assert isinstance(spilled.samples, np.memmap)
    assert not spilled.samples.flags.writeable  # no stage changes (or copies) it by accident
    assert np.array_equal(spilled.samples, in_memory.samples)
    assert list(tmp_path.iterdir()) == []  # an unnamed file: nothing to clean up
    # What the prepare stage does with it.
    assert peak_waveform(spilled.samples) == peak_waveform(in_memory.samples)
    decoded = decode_file(encode_mp3(spilled.samples, tmp_path / "out.mp3"))
    assert decoded.duration == pytest.approx(in_memory.duration, abs=0.1)


_PEAK_ANON = """
import sys, threading, time
from pathlib import Path
from reflector.audio import decode_file

def anon() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon")

base, peak, done = anon(), [0], threading.Event()
def sample() -> None:
    while not done.is_set():
        peak[0] = max(peak[0], anon())
        time.sleep(0.005)
threading.Thread(target=sample, daemon=True).start()
spill = float(sys.argv[2])
audio = decode_file(sys.argv[1], spill_dir=Path(sys.argv[3]), spill_after_seconds=spill)
done.set()
peak[0] = max(peak[0], anon())
print(round(audio.duration), peak[0] - base)
"""


def test_decoding_an_hour_holds_only_a_bounded_part_of_it_in_memory(tmp_path):
    """An hour of float32 is 230 MB; decoded to disk, the process grows by far less (what it
    holds: the first minutes before it spills, the decoder and one chunk)."""
    rate, block = SAMPLE_RATE, SAMPLE_RATE * 600
    path = tmp_path / "hour.flac"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("flac", rate=rate, layout="mono")
        # A quiet tone, so that the file is small but every sample has to be decoded.
        tone = (_tone(600, rate, 220.0) * 300).astype(np.int16).reshape(1, -1)
        for index in range(6):
            frame = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
            frame.sample_rate, frame.pts = rate, index * block
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)

    def growth(spill_after: float) -> int:
        run = subprocess.run(
            [sys.executable, "-c", _PEAK_ANON, str(path), str(spill_after), str(tmp_path)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        seconds, grown = map(int, run.stdout.split())
        assert seconds == 3600
        return grown

    mb = 1024 * 1024
    assert growth(float("inf")) > 200 * mb  # held whole (230 MB): the check can tell
    assert growth(600.0) < 100 * mb


# --- what FFmpeg may open ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("local.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1.0,\nseg.mp3\n#EXT-X-ENDLIST\n"),
        (
            "remote.m3u8",
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1.0,\nhttp://127.0.0.1:9/a.mp3\n",
        ),
        ("list.ffconcat", "ffconcat version 1.0\nfile 'seg.wav'\n"),
    ],
)
def test_playlists_and_scripts_that_name_other_files_are_refused(tmp_path, name, text):
    """A file that makes FFmpeg read another file or an address is not audio, even when what
    it names is (FFmpeg itself would play these two local ones)."""
    encode_mp3(_tone(1.0, SAMPLE_RATE), tmp_path / "seg.mp3")
    write_wav(_tone(1.0, SAMPLE_RATE), tmp_path / "seg.wav")
    path = tmp_path / name
    path.write_text(text)
    refused = r"not an audio or video container \(playlists, scripts"
    with pytest.raises(AudioError, match=refused):
        probe(path)
    with pytest.raises(AudioError, match=refused):
        decode_file(path)

"""Voice activity detection and packing speech into Whisper windows."""

from __future__ import annotations

import numpy as np
import pytest

from reflector.asr import pack_windows
from reflector.audio import SAMPLE_RATE, decode_file
from reflector.vad import SpeechRegion, VadOptions, regions_from_probabilities


def test_silence_and_hum_have_no_speech(vad):
    rng = np.random.default_rng(0)
    hum = 0.05 * np.sin(2 * np.pi * 50 * np.arange(5 * SAMPLE_RATE) / SAMPLE_RATE)
    noise = 0.003 * rng.standard_normal(5 * SAMPLE_RATE)
    assert vad.speech_regions(np.zeros(5 * SAMPLE_RATE, dtype=np.float32)) == []
    assert vad.speech_regions((hum + noise).astype(np.float32)) == []


def test_speech_is_found_where_it_was_placed(vad, piper_clip):
    samples = decode_file(piper_clip.path).samples
    regions = vad.speech_regions(samples)
    assert regions, "the spoken clip must contain speech"
    # The clip has 1 s of silence on both sides.
    assert regions[0].start == pytest.approx(1.0, abs=0.35)
    assert regions[-1].end == pytest.approx(piper_clip.duration - 1.0, abs=0.35)


def test_probabilities_do_not_depend_on_block_boundaries(vad, piper_clip):
    """Long files are scored block by block; the result must match one pass."""
    samples = decode_file(piper_clip.path).samples
    long = np.tile(samples, 20)  # > one internal block
    probs = vad.probabilities(long)
    assert len(probs) == -(-len(long) // 512)
    first = vad.probabilities(samples)
    np.testing.assert_allclose(probs[: len(first) - 1], first[:-1], atol=0.05)


def test_short_pauses_do_not_split_speech():
    frame = 512 / SAMPLE_RATE
    probs = np.array([0.9] * 40 + [0.1] * 5 + [0.9] * 40 + [0.0] * 40, dtype=np.float32)
    regions = regions_from_probabilities(probs, len(probs) * frame, VadOptions(min_silence=0.3))
    assert len(regions) == 1  # 5 frames = 160 ms pause < 300 ms


def test_invalid_vad_options_are_rejected():
    with pytest.raises(ValueError):
        VadOptions(threshold=0.3, neg_threshold=0.5)


def test_windows_hold_at_most_30_seconds_and_keep_everything():
    regions = [SpeechRegion(i * 7.0, i * 7.0 + 5.0) for i in range(20)]
    regions.append(SpeechRegion(200.0, 275.0))  # a 75 s monologue without pauses
    windows = pack_windows(regions)
    assert all(w.duration <= 29.5 + 1e-6 for w in windows)
    covered = sum(w.duration for w in windows)
    assert covered == pytest.approx(sum(r.duration for r in regions), abs=1e-3)
    starts = [p.start for w in windows for p in w.pieces]
    assert starts == sorted(starts)
    # Short regions are packed together, so far fewer windows than regions.
    assert len(windows) <= 8


def test_window_time_maps_back_to_the_recording():
    window = pack_windows([SpeechRegion(10.0, 12.0), SpeechRegion(50.0, 53.0)])[0]
    assert window.duration == pytest.approx(5.0)
    assert window.to_recording_time(0.5) == pytest.approx(10.5)
    assert window.to_recording_time(2.0, is_end=True) == pytest.approx(12.0)
    assert window.to_recording_time(2.0) == pytest.approx(50.0)
    assert window.to_recording_time(4.0) == pytest.approx(52.0)
    assert window.to_recording_time(99.0) == pytest.approx(53.0)


def test_window_audio_is_the_concatenated_pieces():
    samples = np.arange(60 * SAMPLE_RATE, dtype=np.float32)
    window = pack_windows([SpeechRegion(1.0, 2.0), SpeechRegion(5.0, 5.5)])[0]
    audio = window.audio(samples)
    assert len(audio) == round(1.5 * SAMPLE_RATE)
    assert audio[0] == SAMPLE_RATE and audio[SAMPLE_RATE] == 5 * SAMPLE_RATE

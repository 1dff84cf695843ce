"""File transcription loses no turn that a bare faster-whisper call with its own VAD keeps.

Both read the same audio with the same model files; the bare call is
``WhisperModel.transcribe(audio, vad_filter=True)`` (sequential decoding, timestamps, the
previous text as prompt). Voices that alternate are where packed, batched windows used to lose
whole turns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reflector.audio import decode_file
from reflector.pipelines.file import TranscribeOptions, recognize_speech
from reflector_testkit.meetings import Clip, MeetingPlan, compose_meeting, generate_meeting
from reflector_testkit.scoring import deleted_words, word_error_rate

pytestmark = pytest.mark.slow

ALSA_SOUNDS = Path("/usr/share/sounds/alsa")
ALSA_NAMES = ("Front_Center", "Front_Left", "Front_Right", "Rear_Center", "Rear_Left")
LOST_WORDS_MARGIN = 8
"""Words the pipeline may leave out beyond the bare call's (of 271). A lost turn is 10 to 20
words. Word error rates are not compared on this one run: on the eight 90-second meetings of
``bench/file_pipeline.py``, one run's WER moves by up to 4 points with a 40 ms later start or
another CPU's kernels, for both systems (seed 1 here: 12.9 % against the bare call's 8.1 % on
one AMD EPYC with AVX-512, 11.4 % against 10.3 % on another), so a one-run WER margin passes
or fails by the machine; the mean over seeds and shifts is measured there. Over those eight
meetings at 0 and 40 ms (16 runs) the pipeline left out at most 5 words more than the bare
call (1 to 13 words, the bare call 2 to 10)."""
REAL_CHAIN_MARGIN = 0.05
"""Not yet the one-point goal on real voices: one round of the chain has 5 errors in 81 words
against the bare call's 2 (two rounds: 4.9 % against 9.3 %). This bound still fails on a lost
turn (a reading is 15-20 words)."""


def _both(engine, vad, samples: np.ndarray) -> tuple[str, str]:
    options = TranscribeOptions(model=engine.name, language="en", diarize=False)
    duration = len(samples) / 16_000
    words = recognize_speech(samples, duration, options, engine, vad).words
    segments, _ = engine.model.transcribe(
        samples, language="en", beam_size=5, word_timestamps=True, vad_filter=True
    )
    return " ".join(w.text for w in words), " ".join(s.text for s in segments)


def test_alternating_voices_lose_no_words(base_engine, vad):
    meeting = generate_meeting(MeetingPlan(num_speakers=3, duration=90, seed=1))
    reference = " ".join(t.text for t in sorted(meeting.turns, key=lambda t: t.start))
    ours, bare = _both(base_engine, vad, meeting.samples)
    lost, lost_by_bare = deleted_words(reference, ours), deleted_words(reference, bare)
    assert lost <= lost_by_bare + LOST_WORDS_MARGIN, (lost, lost_by_bare, ours, bare)


def test_chained_real_voices_lose_no_words(tiny_engine, vad, librivox_clips):
    if not ALSA_SOUNDS.is_dir():
        pytest.skip("the ALSA test voices are not installed")
    clips = []
    for clip, name in zip(librivox_clips, ALSA_NAMES, strict=False):
        clips.append(Clip(0, decode_file(clip.path).samples, clip.text))
        voice = decode_file(ALSA_SOUNDS / f"{name}.wav").samples
        clips.append(Clip(1, voice, name.replace("_", " ")))
    meeting = compose_meeting(clips, seed=2)
    reference = " ".join(t.text for t in meeting.turns)
    ours, bare = _both(tiny_engine, vad, meeting.samples)
    assert (
        word_error_rate(reference, ours) <= word_error_rate(reference, bare) + REAL_CHAIN_MARGIN
    ), (
        ours,
        bare,
    )

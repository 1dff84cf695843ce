"""Real-speech recordings with known speaker turns, for checking the speaker count on real voices.

Built from recordings that are on the machine without a network: the LibriVox reader of the
PocketSphinx test data (``.cache/testdata/pocketsphinx``) and the voice that reads the ALSA
channel names (``/usr/share/sounds/alsa``, shipped with ``alsa-utils``). Real voices vary
more within one speaker than generated ones, which is what these recordings are for:

* :func:`two_voice_stream`: the two real readers taking turns, with pauses;
* :func:`telephone_band`: any recording squeezed through an 8 kHz telephone channel;
* :func:`one_voice_conditions`: one real reader whose clips are "re-recorded" with different
  gain and equalisation (a quiet thin microphone, a loud muffled one, a bright one, …).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from reflector.audio import SAMPLE_RATE
from reflector_testkit.meetings import Clip, Meeting, compose_meeting

ALSA_SOUNDS = Path(os.environ.get("REFLECTOR_ALSA_SOUNDS", "/usr/share/sounds/alsa"))
LIBRIVOX_CLIPS = tuple(
    f"librivox/sense_and_sensibility_01_austen_64kb-{n}.wav"
    for n in ("0870", "0880", "0890", "0920", "0930")
)
ALSA_CLIPS = (
    "Front_Center.wav",
    "Front_Left.wav",
    "Front_Right.wav",
    "Rear_Center.wav",
    "Rear_Left.wav",
    "Rear_Right.wav",
    "Side_Left.wav",
    "Side_Right.wav",
)


def _load(path: Path) -> np.ndarray:
    from reflector.audio import decode_file

    if not path.is_file():
        raise FileNotFoundError(f"real recording missing: {path}")
    return decode_file(path).samples


def two_voice_stream(pocketsphinx_dir: Path, alsa_dir: Path = ALSA_SOUNDS) -> Meeting:
    """~40 s of two real people: the LibriVox reader's five sentences, and between them the
    ALSA voice saying two channel names each time (each clip one reference turn)."""
    reader = [_load(pocketsphinx_dir / name) for name in LIBRIVOX_CLIPS]
    other = [_load(alsa_dir / name) for name in ALSA_CLIPS]
    clips: list[Clip] = []
    for i, sentence in enumerate(reader):
        clips.append(Clip(0, sentence))
        clips += [Clip(1, words) for words in other[2 * i : 2 * i + 2]]
    return compose_meeting(
        clips, seed=1, name="real-two-voices", voices=("librivox-reader", "alsa-voice")
    )


def one_voice_conditions(pocketsphinx_dir: Path) -> Meeting:
    """One real reader (~25 s) whose five clips sound as if recorded on five different
    devices: as is, 18 dB quieter through a thin microphone, louder and muffled, bright, and
    with a boomy low end."""
    conditions = (
        lambda x: x,
        lambda x: _high_pass(x, 300.0) * 10 ** (-18 / 20),
        lambda x: np.clip(_low_pass(x, 2500.0) * 10 ** (9 / 20), -1.0, 1.0),
        lambda x: x + 1.5 * _high_pass(x, 3000.0),
        lambda x: 0.6 * x + 1.2 * _low_pass(x, 250.0),
    )
    clips = [
        Clip(0, condition(_load(pocketsphinx_dir / name)).astype(np.float32))
        for name, condition in zip(LIBRIVOX_CLIPS, conditions, strict=True)
    ]
    return compose_meeting(clips, seed=2, name="real-one-voice-conditions", voices=("reader",))


def telephone_band(meeting: Meeting, rate: int = 8000) -> Meeting:
    """The same recording after a round trip through ``rate`` Hz (a telephone channel's band),
    with the same reference turns."""
    from scipy.signal import resample_poly

    down = resample_poly(meeting.samples, rate, SAMPLE_RATE)
    back = resample_poly(down, SAMPLE_RATE, rate)[: len(meeting.samples)]
    back = np.pad(back, (0, len(meeting.samples) - len(back))).astype(np.float32)
    return replace(meeting, samples=back, name=f"{meeting.name}-{rate // 1000}k")


def _low_pass(x: np.ndarray, hz: float) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    return sosfilt(butter(4, hz, "lowpass", fs=SAMPLE_RATE, output="sos"), x)


def _high_pass(x: np.ndarray, hz: float) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    return sosfilt(butter(4, hz, "highpass", fs=SAMPLE_RATE, output="sos"), x)

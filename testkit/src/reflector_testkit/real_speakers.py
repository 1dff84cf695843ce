"""Real-speech recordings with known speaker turns, for checking the speaker count on real voices.

Built from recordings that are on the machine without a network: the LibriVox reader of the
PocketSphinx test data (``.cache/testdata/pocketsphinx``) and the voice that reads the ALSA
channel names (``/usr/share/sounds/alsa``, shipped with ``alsa-utils``). Real voices vary
more within one speaker than generated ones, which is what these recordings are for:

* :func:`two_voice_stream`: the two real readers taking turns, with pauses;
* :func:`telephone_band`: any recording squeezed through an 8 kHz telephone channel;
* :func:`one_voice_conditions`: one real reader whose clips are "re-recorded" with different
  gain and equalisation (a quiet thin microphone, a loud muffled one, a bright one, …);
* :func:`real_conversations`: real people talking with each other, with their reference
  turns (RTTM): the pyannote.audio source distribution's 30 s sample of two people and its
  30 s excerpts of AMI meetings (``.cache/testdata/pyannote``).
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import replace
from pathlib import Path

import numpy as np

from reflector.audio import SAMPLE_RATE
from reflector_testkit.meetings import Clip, Meeting, MeetingTurn, compose_meeting

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


def read_rttm(path: Path) -> dict[str, list[tuple[float, float, str]]]:
    """``(start, end, speaker)`` of each ``SPEAKER`` line of an RTTM file, by file id."""
    turns: dict[str, list[tuple[float, float, str]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) >= 8 and fields[0] == "SPEAKER":
            start, duration = float(fields[3]), float(fields[4])
            turns.setdefault(fields[1], []).append((start, start + duration, fields[7]))
    return turns


def rttm_meeting(audio: Path, turns: list[tuple[float, float, str]], name: str) -> Meeting:
    """A recording with reference turns from RTTM lines; speakers numbered by first turn.

    Lines of one speaker that overlap or touch become one turn, so overlap in the reference
    is only ever between different people.
    """
    numbers: dict[str, int] = {}
    spans: dict[int, list[list[float]]] = {}
    for start, end, who in sorted(turns):
        own = spans.setdefault(numbers.setdefault(who, len(numbers)), [])
        if own and start <= own[-1][1]:
            own[-1][1] = max(own[-1][1], end)
        else:
            own.append([start, end])
    meeting_turns = sorted(
        (
            MeetingTurn(speaker, a, b, "", ((a, b, ""),))
            for speaker, own in spans.items()
            for a, b in own
        ),
        key=lambda t: (t.start, t.end),
    )
    return Meeting(_load(audio), tuple(meeting_turns), tuple(numbers), SAMPLE_RATE, name)


def two_person_conversation(data_dir: Path) -> Meeting:
    """30 s of two people talking with each other, with overlaps: the pyannote.audio sample
    (``sample.wav`` and ``sample.rttm`` in ``data_dir``, ``.cache/testdata/pyannote``)."""
    turns = read_rttm(data_dir / "sample.rttm")["sample"]
    return rttm_meeting(data_dir / "sample.wav", turns, "pyannote-sample")


def real_conversations(data_dir: Path) -> list[Meeting]:
    """Real conversations with reference turns, from ``data_dir`` (``.cache/testdata/pyannote``):

    * ``pyannote-sample``: :func:`two_person_conversation`;
    * ``ami-<file>``: the 30 s excerpts of AMI meetings in pyannote.audio's test data
      (``ami/``) that have at least two speakers: 2 to 4 people each, some of whom say only
      a word or two.
    """
    meetings = [two_person_conversation(data_dir)]
    # One file is spelt with an accent (the package tests non-ASCII names) but not in its RTTM.
    audio = {_ascii(path.stem): path for path in (data_dir / "ami").glob("*.wav")}
    for rttm in sorted((data_dir / "ami").glob("debug.*.rttm")):
        for uri, turns in sorted(read_rttm(rttm).items()):
            if len({who for *_, who in turns}) >= 2:
                name = _ascii(uri)
                meetings.append(rttm_meeting(audio[name], turns, f"ami-{name}"))
    return meetings


def _ascii(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()


def through_telephone_band(samples: np.ndarray, rate: int = 8000) -> np.ndarray:
    """16 kHz ``samples`` after a round trip through ``rate`` Hz (a telephone channel's band),
    as long as they were."""
    from scipy.signal import resample_poly

    down = resample_poly(samples, rate, SAMPLE_RATE)
    back = resample_poly(down, SAMPLE_RATE, rate)[: len(samples)]
    return np.pad(back, (0, len(samples) - len(back))).astype(np.float32)


def telephone_band(meeting: Meeting, rate: int = 8000) -> Meeting:
    """The same recording through :func:`through_telephone_band`, with the same reference
    turns."""
    samples = through_telephone_band(meeting.samples, rate)
    return replace(meeting, samples=samples, name=f"{meeting.name}-{rate // 1000}k")


def _low_pass(x: np.ndarray, hz: float) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    return sosfilt(butter(4, hz, "lowpass", fs=SAMPLE_RATE, output="sos"), x)


def _high_pass(x: np.ndarray, hz: float) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    return sosfilt(butter(4, hz, "highpass", fs=SAMPLE_RATE, output="sos"), x)

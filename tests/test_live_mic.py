"""``reflector live --mic``: captions from a microphone, through ALSA's ``arecord``.

Machines without a sound card (CI, servers) must get a clear "no microphone found". A real
recording path is still exercised: ALSA's ``file`` plugin, configured in a private
``~/.asoundrc``, is a capture device whose samples come from a file of generated speech.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from reflector.audio import decode_file
from reflector.cli.main import main
from reflector.live.microphone import (
    MicrophoneError,
    list_microphones,
    open_microphone,
    parse_capture_list,
)
from reflector_testkit.scoring import word_error_rate

ARECORD_LIST = """\
**** List of CAPTURE Hardware Devices ****
card 0: PCH [HDA Intel PCH], device 0: ALC3246 Analog [ALC3246 Analog]
  Subdevices: 1/1
  Subdevice #0: subdevice #0
card 2: Webcam [C920 HD Pro Webcam], device 0: USB Audio [USB Audio]
  Subdevices: 1/1
  Subdevice #0: subdevice #0
"""


def test_the_capture_list_of_arecord_is_read():
    devices = parse_capture_list(ARECORD_LIST)
    assert [(d.number, d.alsa_name) for d in devices] == [(0, "plughw:0,0"), (1, "plughw:2,0")]
    assert devices[1].description == "C920 HD Pro Webcam: USB Audio"
    assert parse_capture_list("") == []


@pytest.fixture
def no_sound_card():
    if list_microphones():
        pytest.skip("this machine has a sound card that can record")
    try:  # a sound server may record through ALSA's default device without a card
        open_microphone(seconds=0.1).close()
    except MicrophoneError:
        return
    pytest.skip("this machine can record through ALSA's default device")


def test_no_microphone_is_a_clear_error(no_sound_card, capsys):
    started = time.monotonic()
    assert main(["live", "--mic"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("reflector: error: no microphone found"), error
    assert "arecord -l" in error
    assert time.monotonic() - started < 10  # said at once, before any model loads


def test_a_missing_device_is_a_clear_error(no_sound_card, capsys):
    assert main(["live", "--mic", "--device", "3"]) == 1
    assert "no microphone number 3 found: ALSA lists no capture device" in capsys.readouterr().err
    assert main(["live", "--mic", "--device", "plughw:7,0"]) == 1
    error = capsys.readouterr().err
    assert "no microphone found: ALSA device plughw:7,0 cannot record" in error, error


@pytest.mark.parametrize(
    "argv",
    [["live"], ["live", "x.wav", "--mic"], ["live", "x.wav", "--seconds", "3"]],
    ids=["nothing", "file-and-mic", "seconds-without-mic"],
)
def test_wrong_command_lines_are_usage_errors(argv, capsys):
    assert main(argv) == 2
    assert "reflector: error:" in capsys.readouterr().err


@pytest.fixture
def speech_device(tmp_path, piper_clip) -> dict[str, str]:
    """An environment in which the ALSA device ``speech`` records ``piper_clip``."""
    samples = decode_file(piper_clip.path).samples
    raw = tmp_path / "speech.raw"
    (np.clip(samples, -1, 1) * 32767).astype("<i2").tofile(raw)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".asoundrc").write_text(
        "pcm.speech {\n  type file\n  slave.pcm null\n  file /dev/null\n"
        f'  infile "{raw}"\n  format raw\n}}\n'
    )
    return {**os.environ, "HOME": str(home), "PYTHONUNBUFFERED": "1"}


def _reflector(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "reflector", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_microphone_audio_becomes_captions(speech_device, piper_clip):
    seconds = f"{piper_clip.duration:.2f}"
    process = _reflector("live", "--mic", "--device", "speech", "--seconds", seconds,
                         env=speech_device)  # fmt: skip
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert "listening to ALSA device speech" in err
    assert word_error_rate(piper_clip.text, out) <= 0.25, out
    assert f"{piper_clip.duration:.1f} s of audio" in err


@pytest.mark.slow
def test_ctrl_c_stops_and_prints_the_final_transcript(speech_device, piper_clip):
    seconds = f"{piper_clip.duration:.2f}"
    process = _reflector("live", "--mic", "--device", "speech", "--seconds", seconds,
                         env=speech_device)  # fmt: skip
    assert process.stderr is not None
    seen = ""
    while "listening" not in seen:  # said once the model has loaded and decoding starts
        line = process.stderr.readline()
        assert line, seen + process.stderr.read()
        seen += line
    time.sleep(1.0)  # decoding is under way
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert "reflector: stopped" in err
    # What the microphone had captured before Ctrl-C is decoded, and every word made final.
    assert word_error_rate(piper_clip.text, out) <= 0.25, out

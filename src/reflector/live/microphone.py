"""Audio from a microphone, captured by ALSA's ``arecord`` (Debian ``alsa-utils``).

``arecord`` needs no library beyond ALSA itself, which every Linux desktop has, and it reaches
PulseAudio or PipeWire through ALSA's ``default`` device where they run. It writes 16 kHz mono
16-bit PCM to a pipe; a thread drains the pipe as fast as the sound card fills it, so a slow
decode never makes the card overrun: captured audio waits in memory (bounded) instead.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from reflector.audio import SAMPLE_RATE
from reflector.errors import UnavailableError
from reflector.live.streaming import LiveUpdate, StreamingTranscriber

ARECORD = "arecord"
MAX_WAITING_SECONDS = 60.0
"""Captured audio kept while decoding lags behind; beyond this the oldest is dropped."""

_DEVICE_LINE = re.compile(
    r"^card (?P<card>\d+): (?P<card_id>\S+) \[(?P<card_name>[^\]]*)\], "
    r"device (?P<device>\d+): (?P<device_id>.*?) \[(?P<device_name>[^\]]*)\]"
)


class MicrophoneError(UnavailableError):
    """No microphone, or it cannot record; the message says which and what to do."""


@dataclass(frozen=True)
class CaptureDevice:
    number: int
    """Position in the list (what ``--device N`` takes)."""
    alsa_name: str
    """What ``arecord -D`` takes, e.g. ``plughw:1,0`` (converts rate and channels)."""
    description: str


def parse_capture_list(text: str) -> list[CaptureDevice]:
    """The capture devices in the output of ``arecord -l``."""
    devices = []
    for line in text.splitlines():
        match = _DEVICE_LINE.match(line.strip())
        if match:
            devices.append(
                CaptureDevice(
                    number=len(devices),
                    alsa_name=f"plughw:{match['card']},{match['device']}",
                    description=f"{match['card_name']}: {match['device_name']}",
                )
            )
    return devices


def _arecord() -> str:
    path = shutil.which(ARECORD)
    if path is None:
        raise MicrophoneError(
            "no microphone found: recording needs `arecord` (Debian/Ubuntu package alsa-utils)"
        )
    return path


def list_microphones() -> list[CaptureDevice]:
    """Sound cards that can record, as ALSA lists them."""
    result = subprocess.run(
        [_arecord(), "-l"], capture_output=True, text=True, timeout=10, check=False
    )
    return parse_capture_list(result.stdout)


def choose_device(device: str | None, found: list[CaptureDevice]) -> tuple[str, str]:
    """``(ALSA device name, description)`` for ``--device``: a number from ``found``, an ALSA
    name (``plughw:1,0``, ``pulse``, ``default``), or nothing for the system default."""
    if device is None:
        return "default", found[0].description if found else "the default ALSA device"
    if device.isdigit():
        number = int(device)
        if number >= len(found):
            listed = "; ".join(f"{d.number}: {d.description}" for d in found)
            raise MicrophoneError(
                f"no microphone number {number} found"
                + (f" (there are: {listed})" if found else ": ALSA lists no capture device")
            )
        return found[number].alsa_name, found[number].description
    return device, f"ALSA device {device}"


class Microphone:
    """A running capture; iterate :meth:`pieces` for float32 audio at 16 kHz."""

    def __init__(
        self,
        alsa_name: str,
        description: str,
        seconds: float | None = None,
        chunk_seconds: float = 0.1,
    ) -> None:
        self.alsa_name = alsa_name
        self.description = description
        self.dropped_seconds = 0.0
        """Audio lost because decoding fell more than a minute behind."""
        self._chunk_bytes = round(chunk_seconds * SAMPLE_RATE) * 2
        self._waiting: deque[np.ndarray] = deque()
        self._waiting_samples = 0
        self._ended = False
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._failure: str | None = None
        command = [_arecord(), "-q", "-D", alsa_name, "-t", "raw", "-f", "S16_LE", "-c", "1"]
        if seconds is not None:  # arecord stops by itself after that many samples
            command += ["-s", str(max(1, round(seconds * SAMPLE_RATE)))]
        # Messages go to a file: a pipe nobody reads could fill up and stall the recording.
        self._messages = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self._process = subprocess.Popen(
            [*command, "-r", str(SAMPLE_RATE)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._messages,
            # Its own process group: Ctrl-C reaches only us, and we stop it after the last read.
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, name="microphone", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        while not self._stop.is_set():
            data = self._process.stdout.read(self._chunk_bytes)
            if len(data) < 2:
                break
            samples = np.frombuffer(data[: len(data) // 2 * 2], "<i2").astype(np.float32)
            self._put(samples / 32768.0)
        failure = None
        if not self._stop.is_set():
            self._process.wait()
            if self._process.returncode:
                self._messages.seek(0)
                lines = self._messages.read().decode(errors="replace").strip().splitlines()
                failure = lines[-1] if lines else f"arecord exit {self._process.returncode}"
        with self._changed:
            self._failure = failure
            self._ended = True
            self._changed.notify_all()

    def _put(self, samples: np.ndarray) -> None:
        with self._changed:
            self._waiting.append(samples)
            self._waiting_samples += len(samples)
            while self._waiting_samples > MAX_WAITING_SECONDS * SAMPLE_RATE:
                oldest = self._waiting.popleft()
                self._waiting_samples -= len(oldest)
                self.dropped_seconds += len(oldest) / SAMPLE_RATE
            self._changed.notify_all()

    def pieces(self, stop: threading.Event | None = None) -> Iterator[np.ndarray]:
        """Audio as it is captured (all that waits, in one piece), until ``stop`` is set (what
        was captured before still comes) or the capture ends; a device that fails raises
        :class:`MicrophoneError`."""
        taken = 0
        while True:
            stopping = stop is not None and stop.is_set()
            samples, ended = self._take_waiting(block=not stopping)
            if samples.size:
                taken += len(samples)
                yield samples
            elif ended:
                if self._failure is not None:
                    raise MicrophoneError(self.explain(self._failure, taken))
                return
            elif stopping:
                return

    def _take_waiting(self, block: bool) -> tuple[np.ndarray, bool]:
        """Every captured piece not yet taken, joined (decoding may have been slower than
        capture), and whether the device has ended."""
        with self._changed:
            if block and not self._waiting and not self._ended:
                self._changed.wait(timeout=0.2)
            pieces = list(self._waiting)
            self._waiting.clear()
            self._waiting_samples = 0
            ended = self._ended
        if not pieces:
            return np.zeros(0, np.float32), ended
        return (np.concatenate(pieces) if len(pieces) > 1 else pieces[0]), False

    def wait_until_recording(self, wait: float = 2.0) -> str | None:
        """``None`` once audio flows; else why not (``arecord`` fails at once when the device
        cannot be opened)."""
        deadline = time.monotonic() + wait
        with self._changed:
            while not self._waiting and not self._ended:
                left = deadline - time.monotonic()
                if left <= 0:
                    return "the device gave no audio"
                self._changed.wait(timeout=left)
            if self._ended and not self._waiting:
                return self._failure or "the device gave no audio"
        return None

    def explain(self, failure: str, taken: int) -> str:
        if taken:
            return f"the microphone stopped after {taken / SAMPLE_RATE:.1f} s: {failure}"
        return (
            f"no microphone found: {self.description} cannot record ({failure}); "
            "`arecord -l` lists the sound cards that can"
        )

    def close(self) -> None:
        self._stop.set()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._reader.join(timeout=5)
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._messages.close()

    def __enter__(self) -> Microphone:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_microphone(
    device: str | None = None, seconds: float | None = None, chunk_seconds: float = 0.1
) -> Microphone:
    """Start capturing from ``device`` (see :func:`choose_device`), for ``seconds`` or until
    closed.

    Raises :class:`MicrophoneError` ("no microphone found …") when ALSA lists no capture
    device and the default one cannot record, or the device asked for does not exist.
    """
    found = list_microphones()
    alsa_name, description = choose_device(device, found)
    microphone = Microphone(alsa_name, description, seconds, chunk_seconds)
    failure = microphone.wait_until_recording()
    if failure is None:
        return microphone
    microphone.close()
    if device is None and not found:
        # A sound server (PulseAudio, PipeWire) could have recorded through ``default``.
        raise MicrophoneError(
            "no microphone found: ALSA lists no capture device (`arecord -l`) and the "
            f"default device cannot record ({failure})"
        )
    raise MicrophoneError(microphone.explain(failure, 0))


def stream_microphone(
    transcriber: StreamingTranscriber,
    microphone: Microphone,
    stop: threading.Event | None = None,
    on_update: Callable[[LiveUpdate], None] | None = None,
) -> list[LiveUpdate]:
    """Transcribe what ``microphone`` captures until ``stop`` or the capture ends, then finish
    (pending words become final). Audio captured before ``stop`` is still decoded."""
    updates: list[LiveUpdate] = []

    def deliver(batch: list[LiveUpdate]) -> None:
        for update in batch:
            updates.append(update)
            if on_update:
                on_update(update)

    reported = 0.0
    for piece in microphone.pieces(stop):
        if microphone.dropped_seconds > reported:  # the updates say what was never heard
            transcriber.skip(microphone.dropped_seconds - reported)
            reported = microphone.dropped_seconds
        deliver(transcriber.push(piece))
    deliver(transcriber.finish())
    return updates

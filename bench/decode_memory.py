"""Benchmark: memory while a long recording is decoded and read by the stages.

Usage (from the repository root)::

    .venv/bin/python bench/decode_memory.py                # a 2-hour MP3, ~2 min
    .venv/bin/python bench/decode_memory.py --hours 4 --encode

A ``--hours`` MP3 (16 kHz mono, 32 kbit/s, a quiet tone in noise; cached in
``bench/out/decode-memory/``) is decoded by ``decode_file`` in a fresh process per way:

* ``in_memory``: ``spill_after_seconds=inf``, the whole float32 array in memory (what every
  recording got before long ones went to disk);
* ``spilled``: the default (past ``SPILL_SECONDS``, on to an unnamed file in the work folder,
  read back as a memory map).

After decoding, the process reads the whole recording the way ``prepare`` does
(``peak_waveform``; with ``--encode`` also ``encode_mp3``). A thread samples
``/proc/self/status`` every 10 ms: ``RssAnon`` (memory only the process holds, which the kernel
cannot drop) and ``VmRSS`` (with the file pages of the map, page cache the kernel may drop at any
time); ``VmHWM`` is the kernel's own peak of ``VmRSS``. Progress goes to stderr, one JSON object
to stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from reflector_testkit.machine import process_memory

OUT = Path(__file__).resolve().parent / "out" / "decode-memory"
MB = 1024 * 1024


class PeakSampler:
    """The highest ``RssAnon`` and ``VmRSS`` seen, sampled every 10 ms in a thread."""

    def __init__(self) -> None:
        self.anon = self.rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(0.01)

    def sample(self) -> None:
        now = process_memory()
        self.anon = max(self.anon, now["RssAnon"])
        self.rss = max(self.rss, now["VmRSS"])

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def generate(path: Path, hours: float) -> None:
    from reflector.audio.formats import audio_file_writer

    rate, block = 16_000, 16_000 * 10
    rng = np.random.default_rng(0)
    t = np.arange(block) / rate
    tone = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    writer = audio_file_writer(path, "mp3", rate, bitrate=32_000)
    for _ in range(math.ceil(hours * 3600 / 10)):
        writer.write(tone + 0.05 * rng.standard_normal(block).astype(np.float32))
    writer.close()


def child(path: Path, way: str, encode: bool) -> dict:
    """Decode and read ``path`` in this process; the peaks of each step."""
    from reflector.audio import decode_file, encode_mp3, peak_waveform

    result: dict = {"way": way, "baseline_anon_mb": round(process_memory()["RssAnon"] / MB, 1)}
    spill = math.inf if way == "in_memory" else None
    with tempfile.TemporaryDirectory(dir=OUT) as work:
        with PeakSampler() as decoding:
            started = time.perf_counter()
            audio = decode_file(path, spill_dir=Path(work), spill_after_seconds=spill)
            result["decode_s"] = round(time.perf_counter() - started, 1)
        result["audio_s"] = round(audio.duration, 1)
        result["memory_map"] = isinstance(audio.samples, np.memmap)
        result["decode_peak_anon_mb"] = round(decoding.anon / MB, 1)
        result["decode_peak_rss_mb"] = round(decoding.rss / MB, 1)
        with PeakSampler() as reading:
            started = time.perf_counter()
            peak_waveform(audio.samples)
            if encode:
                encode_mp3(audio.samples, Path(work) / "audio.mp3")
            result["read_s"] = round(time.perf_counter() - started, 1)
        result["read_peak_anon_mb"] = round(reading.anon / MB, 1)
        result["read_peak_rss_mb"] = round(reading.rss / MB, 1)
        result["vm_hwm_mb"] = round(process_memory()["VmHWM"] / MB, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--encode", action="store_true", help="also encode the MP3 (slow)")
    parser.add_argument("--child", nargs=2, metavar=("WAY", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.child:
        way, file = args.child
        print(json.dumps(child(Path(file), way, args.encode)))
        return
    path = OUT / f"tone-noise-{args.hours:g}h.mp3"
    if not path.exists():
        print(f"generating {path.name}", file=sys.stderr)
        generate(path, args.hours)
    runs = []
    for way in ("in_memory", "spilled"):
        print(f"decoding {way}", file=sys.stderr)
        command = [sys.executable, __file__, "--child", way, str(path)]
        command += ["--encode"] if args.encode else []
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(output.strip().splitlines()[-1]))
    size_mb = round(path.stat().st_size / MB, 1)
    print(json.dumps({"file": path.name, "file_mb": size_mb, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()

"""Benchmark: the memory Piper's voice keeps, and its speed, as Piper loads it and as Reflector
does, under each allocator.

Usage (from the repository root, after ``bash scripts/install.sh --dev``)::

    .venv/bin/python bench/tts_memory.py                 # ~15 min on 2 cores
    .venv/bin/python bench/tts_memory.py --short 400     # more short sentences

Each of four fresh processes loads the bundled voice one way (``as_loaded``: ``PiperVoice.load``,
ONNX Runtime's arena as it comes; ``reflector``: ``reflector.tts.piper``, no arena under jemalloc,
an arena that gives back after long sentences under glibc) under one allocator (``system``:
glibc; ``jemalloc``: preloaded as ``reflector serve`` does), then measures, noise off:

* speed: 30 sentences of 5-20 words and 30 of 5-30 words, each set three times, the best;
* short sentences: RSS after a warm-up, then after ``--short`` sentences of 10-15 words such as
  the voice API gets ("Item 48213 of the agenda is done, thank you all."), spoken from two
  threads like two requests at once, and the highest reading between;
* one long sentence: RSS before and after 150 words in one sentence.

The ratios compare Reflector's voice with Piper's under the same allocator, in the same run.
Prints one JSON object on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import threading
import time

from reflector_testkit.machine import allocator_env, process_memory

VOCABULARY = (
    "the meeting will start at nine and we will talk about budgets plans people time places "
    "numbers reports ideas"
)
WORDS = VOCABULARY.split()
VOICES = ("as_loaded", "reflector")
ALLOCATORS = ("system", "jemalloc")


def rss_mb() -> float:
    return round(process_memory()["VmRSS"] / 2**20, 1)


def sentences(seed: int, longest: int) -> list[str]:
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, longest))).capitalize() + "."
        for _ in range(30)
    ]


def load_voice(kind: str):
    from piper import PiperVoice

    from reflector.tts.piper import PiperTts, _bundled_voice

    if kind == "as_loaded":
        return PiperVoice.load(str(_bundled_voice()))
    return PiperTts()._voice


def child(kind: str, short: int) -> dict:
    """Runs inside one fresh process: every measurement for one voice and one allocator."""
    from piper import SynthesisConfig

    from reflector.memory import jemalloc_in_use

    voice = load_voice(kind)
    quiet = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    lock = threading.Lock()  # Piper's phonemizer is not thread-safe (as in reflector.tts.piper)

    def speak(text: str) -> None:
        with lock:
            list(voice.synthesize(text, syn_config=quiet))

    speak("A short sentence first.")
    speed = {}
    for longest in (20, 30):
        texts = sentences(5, longest)
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            for text in texts:
                speak(text)
            best = min(best, time.perf_counter() - started)
        speed[f"5-{longest}_words_s"] = round(best, 2)

    start = rss_mb()
    readings: list[float] = []

    def agenda(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(short // 2):
            speak(f"Item {rng.randrange(10**6)} of the agenda is done, thank you all.")

    threads = [threading.Thread(target=agenda, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        time.sleep(2)
        readings.append(rss_mb())
    short_end = rss_mb()

    before_long = rss_mb()
    speak(" ".join(WORDS[i % len(WORDS)] for i in range(150)) + ".")
    speak("And a short one after it.")
    return {
        "jemalloc": jemalloc_in_use(),
        "speed": speed,
        "short_sentences": {
            "count": short // 2 * 2,
            "rss_start_mb": start,
            "rss_end_mb": short_end,
            "rss_peak_mb": max(readings, default=short_end),
            "growth_mb": round(short_end - start, 1),
        },
        "long_sentence": {"rss_before_mb": before_long, "rss_after_mb": rss_mb()},
    }


def run_child(kind: str, allocator: str, short: int) -> dict | None:
    environ = allocator_env(allocator)
    if environ is None:
        return None  # jemalloc is not installed here
    print(f"[tts_memory] {kind} under {allocator}", file=sys.stderr, flush=True)
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--short", str(short)],
        capture_output=True, text=True, check=True, env=environ,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--short", type=int, default=200, help="short sentences (default 200)")
    parser.add_argument("--child", choices=VOICES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.short)))
        return
    report: dict = {"benchmark": "tts_memory", "short_sentences": args.short, "allocators": {}}
    for allocator in ALLOCATORS:
        results = {kind: run_child(kind, allocator, args.short) for kind in VOICES}
        if None in results.values():
            report["allocators"][allocator] = "not installed"
            continue
        ours, piper = results["reflector"], results["as_loaded"]
        results["ratios_reflector_over_as_loaded"] = {
            **{k: round(ours["speed"][k] / piper["speed"][k], 3) for k in ours["speed"]},
            "short_sentences_growth_mb": [
                ours["short_sentences"]["growth_mb"],
                piper["short_sentences"]["growth_mb"],
            ],
        }
        report["allocators"][allocator] = results
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

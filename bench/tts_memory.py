"""Benchmark: what Piper's memory release costs, and what it saves.

Usage (from the repository root, after ``bash scripts/install.sh --dev``)::

    .venv/bin/python bench/tts_memory.py

The bundled Piper voice is loaded twice in one process: as ``PiperVoice.load`` builds it (ONNX
Runtime's arena keeps the peak of the longest sentence for good) and as Reflector builds it
(``reflector.tts.piper``: a run on a sentence over ``RELEASE_ABOVE_IDS`` phoneme ids gives back
what it took). Speed: 30 sentences of 5-20 words (most speech) and 30 of 5-30 words, each set
spoken three times by each in turn, noise off; the best of three, and the ratio. Memory: each
voice in a fresh process speaks a short sentence, then 150 words in one sentence, then a short
one; its RSS after the first and after the last. Prints one JSON object on stdout.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time

from piper import PiperConfig, PiperVoice, SynthesisConfig

from reflector.tts.piper import _bundled_voice, _shrinking_session

VOCABULARY = (
    "the meeting will start at nine and we will talk about budgets plans people time places "
    "numbers reports ideas"
)
WORDS = VOCABULARY.split()

_MEMORY = """
import json, sys
from piper import PiperConfig, PiperVoice, SynthesisConfig
from reflector.tts.piper import _bundled_voice, _shrinking_session

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024)

path = _bundled_voice()
config = PiperConfig.from_dict(json.load(open(f"{path}.json")))
voice = (PiperVoice(config=config, session=_shrinking_session(path)) if sys.argv[1] == "releasing"
         else PiperVoice.load(str(path)))
quiet = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
speak = lambda text: list(voice.synthesize(text, syn_config=quiet))
speak("A short sentence first.")
before = rss_mb()
words = sys.argv[2].split()
speak(" ".join(words[i % len(words)] for i in range(150)) + ".")
speak("And a short one after it.")
print(json.dumps({"after_short_mb": before, "after_long_mb": rss_mb()}))
"""


def sentences(seed: int, longest: int) -> list[str]:
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, longest))).capitalize() + "."
        for _ in range(30)
    ]


def speed(longest: int) -> dict:
    path = _bundled_voice()
    config = PiperConfig.from_dict(json.loads(path.with_name(path.name + ".json").read_text()))
    voices = {
        "as_loaded": PiperVoice.load(str(path)),
        "releasing": PiperVoice(config=config, session=_shrinking_session(path)),
    }
    quiet = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    texts = sentences(5, longest)
    for voice in voices.values():
        for text in texts[:3]:
            list(voice.synthesize(text, syn_config=quiet))
    best = {name: float("inf") for name in voices}
    for _ in range(3):
        for name, voice in voices.items():
            started = time.perf_counter()
            for text in texts:
                list(voice.synthesize(text, syn_config=quiet))
            best[name] = min(best[name], time.perf_counter() - started)
    return {
        "sentence_words": f"5-{longest}",
        "seconds_best_of_3": {name: round(value, 2) for name, value in best.items()},
        "ratio_releasing_over_as_loaded": round(best["releasing"] / best["as_loaded"], 3),
    }


def memory(kind: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY, kind, VOCABULARY],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    report = {
        "benchmark": "tts_memory",
        "speed": [speed(20), speed(30)],
        "memory_150_words": {kind: memory(kind) for kind in ("as_loaded", "releasing")},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

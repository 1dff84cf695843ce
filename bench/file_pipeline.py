"""Benchmark: ``reflector transcribe`` versus a bare sequential faster-whisper call.

Usage (from the repository root)::

    .venv/bin/python bench/file_pipeline.py [--model tiny.en|base] [--minutes 10] [--hour-memory]

Builds (once, cached in ``bench/out/``) a meeting-like recording with known words: many
different sentences spoken mostly by Piper with some eSpeak NG voices, natural pauses, a few
long silences and a light noise floor, mixed at 16 kHz. Then, each in its own process so peak
memory is per run:

* the real CLI, ``reflector transcribe FILE -f json --model M -q``;
* ``transcribe_file`` in a process with the model preloaded, timing its stages (decode, VAD,
  ASR), which is "Reflector's whole ASR stage" without imports and model load;
* the baseline: ``faster_whisper.WhisperModel(...).transcribe(FILE, word_timestamps=True,
  beam_size=5)`` with every segment consumed (sequential, no VAD, default options), same model
  files, compute type and thread count.

Other cases (``--cases``), each against ``WhisperModel.transcribe(FILE, vad_filter=True)`` (the
bare call with its own VAD) on the same file, ``--repeats`` times: ``alternating``, generated
3-voice meetings with quick turns; ``real``, LibriVox readings with the ALSA test voice
between them; and ``phone``, the same readings through an 8 kHz telephone band. The CLI runs
with ``--no-summarize``; summaries get a row of their own. ``--shifts 0,40,90`` runs each of
these cases again started 40 and 90 ms later and pairs the two systems over all the runs
(``over_shifts`` in the output): a single run per file moves by points with such a shift.

Prints one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SAMPLE_RATE = 16_000
GOAL_SPEEDUP = 1.5
GOAL_PEAK_RSS_MB_1H = 1536
_T0 = time.monotonic()

# --------------------------------------------------------------------------------------------
# The recording: meeting talk with known words. No digits or number words, no spellings that
# Whisper writes in several ways (okay/OK, e-mail), so the WER measures recognition only.
# --------------------------------------------------------------------------------------------

SENTENCES = [
    "Good morning everyone, thanks for joining on such short notice.",
    "Let's start with a quick round of updates from each team.",
    "I can go first if nobody minds.",
    "We finished the migration of the billing service last night.",
    "There were a few hiccups with the database, but nothing customers noticed.",
    "The new search page is live for internal users now.",
    "We are still waiting on legal to approve the updated privacy policy.",
    "Could you share your screen so we can all see the roadmap?",
    "I think the timeline for the mobile release is too aggressive.",
    "We should talk about hiring before the end of the quarter.",
    "The design team wants more feedback on the onboarding flow.",
    "Has anyone looked at the support tickets from last week?",
    "Most of the complaints were about slow loading on older phones.",
    "I would like to propose that we freeze new features for a sprint.",
    "That sounds reasonable, but marketing already announced the launch date.",
    "Maybe we can ship a smaller version and follow with the rest later.",
    "Let me check with the sales team and get back to you tomorrow.",
    "The budget review is scheduled for Thursday afternoon.",
    "We need someone to own the security audit this time.",
    "I can take that, as long as I get help with the documentation.",
    "Sarah mentioned that the partner integration is blocked on their side.",
    "Their engineers are on holiday until the middle of next month.",
    "So realistically we will not see any progress there for a while.",
    "What is the status of the customer research interviews?",
    "We talked to a dozen customers and the feedback was mostly positive.",
    "People love the export feature but find the settings page confusing.",
    "One customer asked for a dark mode, which comes up a lot.",
    "Let's add that to the backlog and discuss priority next time.",
    "I'm a little worried about the load on the servers during the launch.",
    "We ran a stress test on Monday and the results looked fine.",
    "The slowest part was the report generation, as usual.",
    "Could we cache those reports instead of building them every time?",
    "That would help, but the data changes quite often during the day.",
    "We could refresh the cache every few minutes and call it good enough.",
    "I like that idea, it is simple and easy to roll back.",
    "Moving on, the office move is planned for the spring.",
    "Everyone should pack their desks by the end of the previous week.",
    "The new building has more meeting rooms and a much better kitchen.",
    "Parking will be a problem though, so please take the train if you can.",
    "Does anybody have questions about the travel policy changes?",
    "I do, are we still allowed to book flights without approval?",
    "Only for trips within the country, anything else needs a manager.",
    "Fair enough, that seems like a sensible rule to me.",
    "Let's go back to the product roadmap for a minute.",
    "The analytics dashboard is the most requested feature this year.",
    "We have a prototype, but it needs a lot of polish before release.",
    "Who is going to present the prototype at the all hands meeting?",
    "I think Daniel should do it, he built most of it.",
    "I'm happy to present, but I will need the slides by Wednesday.",
    "The marketing team can help with the slides and the demo script.",
    "We also need to decide which metrics to show on the first screen.",
    "Revenue and active users are the obvious candidates.",
    "I would add retention, since that is what the board keeps asking about.",
    "Good point, retention is the number everyone cares about right now.",
    "The mobile team found a crash that only happens on tablets.",
    "It seems to be related to the new image library we adopted.",
    "We rolled back to the previous version while we investigate.",
    "Please write a short summary of the incident for the wiki.",
    "We should also add a test so this does not happen again.",
    "The customer success team wants a heads up before every release.",
    "That's fair, we have surprised them a few times this year.",
    "Let's put the release notes in the shared channel a day ahead.",
    "I'll set up a reminder so we do not forget.",
    "Next topic is the conference in the autumn.",
    "We have been invited to give a talk about our architecture.",
    "It would be great exposure, but preparing a good talk takes time.",
    "Maybe two of us could share the work and split the presentation.",
    "I would be interested, especially in the part about scaling.",
    "Great, let's talk after the meeting about the outline.",
    "The finance team asked us to reduce cloud costs this quarter.",
    "We are paying for a lot of servers that sit idle at night.",
    "Scaling down automatically in the evening could save quite a bit.",
    "We tried that before and it caused problems with the nightly jobs.",
    "Then we need to move the nightly jobs to a separate cluster.",
    "That is a bigger project than it sounds, so let's estimate it first.",
    "Can someone take the action item to write a proposal?",
    "I'll draft something and share it by the end of the week.",
    "Thank you, that would be really helpful.",
    "How are we doing on the accessibility improvements?",
    "Screen reader support is much better, but keyboard navigation needs work.",
    "We hired a consultant who will review the whole application.",
    "Their report should arrive before the holidays.",
    "Let's make sure we leave time in the plan to act on it.",
    "I noticed the build has been failing randomly this week.",
    "It is a flaky test in the payment module, we are on it.",
    "If it keeps failing we should disable it until it is fixed.",
    "I'd rather fix it properly, disabled tests tend to stay disabled.",
    "True, but it is blocking everybody else in the meantime.",
    "Let's give it until tomorrow and then decide.",
    "The quarterly planning session is coming up soon.",
    "Please bring a list of the biggest risks for your area.",
    "We will also review the goals we set at the start of the year.",
    "Honestly, I think we were too ambitious with some of them.",
    "That's normal, the point is to learn from it and adjust.",
    "Is there anything else anyone wants to bring up today?",
    "Just a reminder that the team dinner is on Friday evening.",
    "Please let me know about any dietary restrictions by Wednesday.",
    "I think we covered everything on the agenda.",
    "Thanks everyone, see you all next week.",
    "Sorry, I was on mute, could you repeat the last question?",
    "We were asking whether the vendor contract has been signed.",
    "Not yet, they sent back a few changes that we need to review.",
    "The main sticking point is the support response time.",
    "They want a full day, and we are asking for a few hours at most.",
    "Let's hold firm on that, it matters a lot to our customers.",
    "Agreed, I will tell them we cannot accept the current terms.",
    "On a different note, the intern program starts next month.",
    "Each team will get one intern for the summer.",
    "Please think about a small project they could finish on their own.",
    "Something with a clear goal and a demo at the end works best.",
    "Last year the interns built the internal status page, which we still use.",
    "Let's wrap up here and continue the discussion in the channel.",
]

# (engine, parameters, loudness in dBFS RMS). Piper's one voice at several speaking rates
# stands for most speakers; eSpeak NG voices add some very different ones.
SPEAKERS = [
    ("piper", {"length_scale": 1.0}, -20.0),
    ("piper", {"length_scale": 1.12}, -22.0),
    ("piper", {"length_scale": 0.92}, -19.0),
    ("piper", {"length_scale": 1.05}, -24.0),
    ("espeak", {"voice": "en-us+f3", "words_per_minute": 160, "pitch": 60}, -21.0),
    ("espeak", {"voice": "en-gb+m3", "words_per_minute": 150, "pitch": 40}, -23.0),
]
SPEAKER_WEIGHTS = [0.3, 0.2, 0.15, 0.1, 0.15, 0.1]
NOISE_DBFS = -45.0
GENERATOR_VERSION = 1


def _log(message: str) -> None:
    print(f"[bench {time.monotonic() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


def _recording_key(minutes: float, seed: int) -> str:
    blob = json.dumps(
        [GENERATOR_VERSION, minutes, seed, SENTENCES, SPEAKERS, SPEAKER_WEIGHTS, NOISE_DBFS]
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def _plan(seed: int):
    """Yield (speaker, sentence, pause_before_seconds) until the speech plan is long enough.

    Durations are only known after synthesis, so the caller stops the plan.
    """
    rng = random.Random(seed)
    order: list[str] = []
    previous = None
    next_long_silence = rng.uniform(90, 150)
    elapsed_estimate = 0.0
    while True:
        speaker = previous
        while speaker == previous:
            speaker = rng.choices(range(len(SPEAKERS)), SPEAKER_WEIGHTS)[0]
        previous = speaker
        for index in range(rng.choice([1, 1, 2, 2, 3])):
            if not order:
                order = SENTENCES[:]
                rng.shuffle(order)
            sentence = order.pop()
            # Short pauses inside one speaker's turn, longer ones between speakers.
            pause = rng.uniform(0.3, 0.8) if index else rng.uniform(0.5, 2.5)
            if elapsed_estimate >= next_long_silence:
                pause = rng.uniform(5.0, 20.0)  # someone is typing, sharing a screen...
                next_long_silence = elapsed_estimate + rng.uniform(90, 150)
            elapsed_estimate = yield speaker, sentence, pause


def _pink_noise(n: int, dbfs: float, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1]
    noise = np.fft.irfft(spectrum / np.sqrt(freqs), n).astype(np.float32)
    noise *= 10 ** (dbfs / 20) / float(np.sqrt(np.mean(noise.astype(np.float64) ** 2)))
    return noise


def generate_recording(minutes: float, seed: int, wav: Path, manifest: Path) -> None:
    """Synthesize the meeting (runs in its own process: see ``--child generate``)."""
    import numpy as np

    from reflector.audio import resample, write_wav
    from reflector.tts import EspeakTts, PiperTts

    piper = PiperTts()
    engines = []
    for kind, params, _ in SPEAKERS:
        engines.append(piper if kind == "piper" else EspeakTts(**params))
    target = minutes * 60
    pieces: list[tuple[int, np.ndarray]] = []
    turns = []
    cursor = 0.5  # seconds
    plan = _plan(seed)
    step = next(plan)
    while True:
        speaker, sentence, pause = step
        kind, params, level = SPEAKERS[speaker]
        if kind == "piper":
            speech = engines[speaker].synthesize(sentence, length_scale=params["length_scale"])
        else:
            speech = engines[speaker].synthesize(sentence)
        samples = resample(speech.samples, speech.sample_rate, SAMPLE_RATE)
        rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) or 1.0
        samples = samples * (10 ** (level / 20) / rms)
        samples = np.clip(samples, -0.95, 0.95).astype(np.float32)
        start = cursor + pause
        end = start + len(samples) / SAMPLE_RATE
        if end + 1.0 > target and pieces:
            break
        pieces.append((round(start * SAMPLE_RATE), samples))
        turns.append(
            {"speaker": speaker, "start": round(start, 3), "end": round(end, 3), "text": sentence}
        )
        cursor = end
        if len(turns) % 20 == 0:
            _log(f"synthesized {cursor / 60:.1f} of {minutes:g} minutes")
        step = plan.send(cursor)
    total = max(round(target * SAMPLE_RATE), pieces[-1][0] + len(pieces[-1][1]))
    mix = _pink_noise(total, NOISE_DBFS, seed)
    for offset, samples in pieces:
        mix[offset : offset + len(samples)] += samples
    wav.parent.mkdir(parents=True, exist_ok=True)
    write_wav(mix, wav, SAMPLE_RATE)
    speech_seconds = sum(t["end"] - t["start"] for t in turns)
    manifest.write_text(
        json.dumps(
            {
                "key": wav.stem,
                "duration": total / SAMPLE_RATE,
                "speech_seconds": round(speech_seconds, 3),
                "sentences": len(turns),
                "distinct_sentences": len({t["text"] for t in turns}),
                "turns": turns,
                "text": " ".join(t["text"] for t in turns),
            },
            indent=1,
        )
    )


def ensure_recording(minutes: float, seed: int) -> tuple[Path, dict]:
    stem = f"meeting-{minutes:g}min-seed{seed}-{_recording_key(minutes, seed)}"
    wav, manifest = OUT / f"{stem}.wav", OUT / f"{stem}.json"
    if not (wav.exists() and manifest.exists()):
        _log(f"generating a {minutes:g}-minute recording (Piper + eSpeak NG) -> {wav.name}")
        result = _run_child(["generate", str(minutes), str(seed), str(wav), str(manifest)])
        if result["returncode"] != 0:
            raise SystemExit(f"generation failed:\n{result['stderr'][-3000:]}")
    else:
        _log(f"using cached recording {wav.name}")
    meta = json.loads(manifest.read_text())
    (OUT / f"{stem}.txt").write_text(meta["text"] + "\n")
    return wav, meta


def ensure_repeated(wav: Path, meta: dict, seconds: float) -> tuple[Path, dict]:
    """The recording repeated (pauses included) until it lasts ``seconds``: the 1-hour file."""
    copies = math.ceil(seconds / meta["duration"] - 1e-9)
    target = OUT / f"{wav.stem}-x{copies}.wav"
    if not target.exists():
        _log(f"building {target.name} ({copies} copies)")
        with wave.open(str(wav), "rb") as source:
            params = source.getparams()
            frames = source.readframes(source.getnframes())
        partial = target.with_suffix(".partial")
        with wave.open(str(partial), "wb") as out:
            out.setparams(params)
            for _ in range(copies):
                out.writeframes(frames)
        os.replace(partial, target)
    repeated = dict(meta)
    repeated["duration"] = meta["duration"] * copies
    repeated["text"] = " ".join([meta["text"]] * copies)
    repeated["copies"] = copies
    return target, repeated


# --------------------------------------------------------------------------------------------
# Word error rate
# --------------------------------------------------------------------------------------------

# fmt: off
_ONES_WORDS = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
]
# fmt: on
_TENS_WORDS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SPELLINGS = {"ok": "okay", "alright": "all right", "everybody's": "everybody is"}


def _number_words(match: re.Match[str]) -> str:
    n = int(match.group())
    if n < 20:
        return _ONES_WORDS[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS_WORDS[tens] + ("" if ones == 0 else " " + _ONES_WORDS[ones])
    return " ".join(_ONES_WORDS[int(d)] for d in match.group())


def normalize(text: str) -> str:
    """Lowercase, numbers as words, punctuation removed (apostrophes inside words kept), titles
    spelt out as the LibriVox references spell them ("mister john")."""
    from reflector_testkit.scoring import SPOKEN_FORMS

    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"\d+", _number_words, text)
    text = re.sub("[-\u2013\u2014/]", " ", text)
    text = re.sub(r"[^a-z' ]+", " ", text)
    text = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", text)
    words = [_SPELLINGS.get(w) or SPOKEN_FORMS.get(w, w) for w in text.split()]
    return " ".join(words)


def word_error_rate(reference: str, hypothesis: str) -> dict:
    import jiwer

    ref, hyp = normalize(reference), normalize(hypothesis)
    out = jiwer.process_words(ref, hyp)
    return {
        "wer": round(out.wer, 4),
        "substitutions": out.substitutions,
        "deletions": out.deletions,
        "insertions": out.insertions,
        "reference_words": len(ref.split()),
    }


# --------------------------------------------------------------------------------------------
# Child processes: each run is its own process; peak RSS comes from wait4() for that child
# (and, where the code is ours, from VmHWM read inside it).
# --------------------------------------------------------------------------------------------


def _vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _child_baseline(model: str, wav: str, threads: int, beam_size: int, vad: bool = False) -> dict:
    t0 = time.perf_counter()
    from faster_whisper import WhisperModel

    from reflector.asr import resolve_model
    from reflector.settings import get_settings

    path = resolve_model(model, get_settings().data_dir).path
    t1 = time.perf_counter()
    whisper = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=threads)
    t2 = time.perf_counter()
    segments, info = whisper.transcribe(
        wav, word_timestamps=True, beam_size=beam_size, vad_filter=vad
    )
    texts = [segment.text for segment in segments]
    t3 = time.perf_counter()
    return {
        "import_s": t1 - t0,
        "load_s": t2 - t1,
        "transcribe_s": t3 - t2,
        "language": info.language,
        "segments": len(texts),
        "text": " ".join(t.strip() for t in texts),
        "vm_hwm_mb": _vm_hwm_mb(),
    }


def _child_stages(
    model: str, wav: str, threads: int, beam_size: int, batch_size: int, language: str
) -> dict:
    """``transcribe_file`` with model and VAD preloaded, timing each stage from its progress."""
    t0 = time.perf_counter()
    from reflector.pipelines.file import TranscribeOptions, load_engine, transcribe_file
    from reflector.settings import get_settings
    from reflector.vad import SileroVad

    settings = get_settings()
    options = TranscribeOptions(
        model=model,
        language=None if language == "auto" else language,
        beam_size=beam_size,
        batch_size=batch_size,
        device="cpu",
        compute_type="int8",
        cpu_threads=threads,
        diarize=False,
    )
    t1 = time.perf_counter()
    engine = load_engine(options, settings.data_dir)
    vad = SileroVad()
    t2 = time.perf_counter()
    marks: dict[str, float] = {}

    def on_progress(progress) -> None:
        marks.setdefault(f"{progress.stage}:first", time.perf_counter())
        marks[f"{progress.stage}:last"] = time.perf_counter()

    transcript = transcribe_file(
        wav, options, settings.data_dir, on_progress=on_progress, engine=engine, vad=vad
    )
    t3 = time.perf_counter()
    decoded = marks.get("detecting speech:first", t2)
    vad_done = marks.get("detecting speech:last", decoded)
    return {
        "import_s": t1 - t0,
        "load_s": t2 - t1,
        "transcribe_s": t3 - t2,
        "decode_s": decoded - t2,
        "vad_s": vad_done - decoded,
        "asr_s": t3 - vad_done,
        "speech_seconds": transcript.speech_duration,
        "language": transcript.language,
        "text": transcript.text,
        "vm_hwm_mb": _vm_hwm_mb(),
    }


def _child_main(argv: list[str]) -> None:
    kind, *args = argv
    if kind == "generate":
        generate_recording(float(args[0]), int(args[1]), Path(args[2]), Path(args[3]))
        return
    if kind == "alternating":
        generate_alternating(float(args[0]), int(args[1]), Path(args[2]), Path(args[3]))
        return
    if kind in ("real", "phone"):
        generate_real_chain(int(args[0]), Path(args[1]), Path(args[2]), kind == "phone")
        return
    if kind == "baseline":
        vad = len(args) > 4 and args[4] == "vad"
        result = _child_baseline(args[0], args[1], int(args[2]), int(args[3]), vad)
    elif kind == "stages":
        result = _child_stages(args[0], args[1], int(args[2]), int(args[3]), int(args[4]), args[5])
    else:
        raise SystemExit(f"unknown child {kind}")
    print("\n" + json.dumps(result))


def _wait(command: list[str], env: dict[str, str] | None = None) -> dict:
    """Run ``command``; wall time, CPU time and peak RSS (wait4) of exactly that process.

    The parent stays small (no audio, no models), so the fork-time RSS it hands to the
    child (which Linux folds into the child's ru_maxrss) is far below any run's peak.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {
            "returncode": process.returncode,
            "wall_s": wall,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mb": usage.ru_maxrss / 1024,
            "stdout": out.read().decode(errors="replace"),
            "stderr": err.read().decode(errors="replace"),
        }


def _run_child(args: list[str]) -> dict:
    result = _wait([sys.executable, str(Path(__file__).resolve()), "--child", *args])
    if result["returncode"] == 0 and args[0] in ("baseline", "stages"):
        result["child"] = json.loads(result["stdout"].strip().splitlines()[-1])
    return result


def _env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(REFLECTOR_ASR_CPU_THREADS=str(threads), REFLECTOR_LOG_LEVEL="warning")
    return env


def _check(result: dict, what: str) -> None:
    if result["returncode"] != 0:
        raise SystemExit(f"{what} failed ({result['returncode']}):\n{result['stderr'][-3000:]}")


def _save_hypothesis(wav: Path, model: str, run: str, text: str) -> None:
    """Keep each run's text next to the recording, for a look at the errors."""
    (wav.parent / f"{wav.stem}.{model}.{run}.txt").write_text(text + "\n")


def run_reflector_cli(
    model: str, wav: Path, threads: int, duration: float, ref: str, summarize: bool = False
) -> dict:
    _log(f"reflector transcribe {wav.name} --model {model} (summaries: {summarize}) ...")
    cli = str(Path(sys.executable).parent / "reflector")
    # The ASR stage is what is compared: speakers are benchmarked in bench/diarization.py and
    # summaries (on by default for recordings over a minute) get a row of their own.
    command = [cli, "transcribe", str(wav), "-f", "json", "--model", model, "-q", "--no-diarize"]
    command.append("--summarize" if summarize else "--no-summarize")
    result = _wait(command, env=_env(threads))
    _check(result, "reflector transcribe")
    transcript = json.loads(result["stdout"])
    text = " ".join(s["text"].strip() for s in transcript["segments"] if s["text"].strip())
    _save_hypothesis(wav, model, "reflector", text)
    _log(f"  done in {result['wall_s']:.1f}s, peak RSS {result['peak_rss_mb']:.0f} MB")
    return {
        "wall_s": round(result["wall_s"], 2),
        "rtf": round(result["wall_s"] / duration, 4),
        "cpu_s": round(result["cpu_s"], 1),
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
        "wer": word_error_rate(ref, text)["wer"],
        "wer_detail": word_error_rate(ref, text),
        "language": transcript.get("language"),
        "speech_seconds": transcript.get("speech_duration"),
    }


def run_stages(args, wav: Path, duration: float, ref: str) -> dict:
    _log(f"transcribe_file (model preloaded) batch={args.batch_size} beam={args.beam_size} ...")
    result = _run_child(
        [
            "stages", args.model, str(wav), str(args.threads), str(args.beam_size),
            str(args.batch_size), args.language,
        ]
    )  # fmt: skip
    _check(result, "transcribe_file child")
    child = result["child"]
    _log(f"  done in {child['transcribe_s']:.1f}s (ASR stage {child['asr_s']:.1f}s)")
    return {
        "transcribe_s": round(child["transcribe_s"], 2),
        "rtf_transcribe": round(child["transcribe_s"] / duration, 4),
        "decode_s": round(child["decode_s"], 2),
        "vad_s": round(child["vad_s"], 2),
        "asr_s": round(child["asr_s"], 2),
        "load_s": round(child["load_s"], 2),
        "import_s": round(child["import_s"], 2),
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
        "wer": word_error_rate(ref, child["text"])["wer"],
        "speech_seconds": child["speech_seconds"],
    }


def run_baseline(args, wav: Path, duration: float, ref: str, vad: bool = False) -> dict:
    _log(f"baseline faster_whisper.WhisperModel.transcribe (beam={args.beam_size}, vad={vad}) ...")
    command = ["baseline", args.model, str(wav), str(args.threads), str(args.beam_size)]
    result = _run_child([*command, "vad" if vad else "novad"])
    _check(result, "baseline child")
    child = result["child"]
    _log(f"  done in {result['wall_s']:.1f}s, peak RSS {result['peak_rss_mb']:.0f} MB")
    _save_hypothesis(wav, args.model, "baseline-vad" if vad else "baseline", child["text"])
    wer = word_error_rate(ref, child["text"])
    return {
        "wall_s": round(result["wall_s"], 2),
        "rtf": round(result["wall_s"] / duration, 4),
        "cpu_s": round(result["cpu_s"], 1),
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
        "wer": wer["wer"],
        "wer_detail": wer,
        "import_s": round(child["import_s"], 2),
        "load_s": round(child["load_s"], 2),
        "transcribe_s": round(child["transcribe_s"], 2),
        "rtf_transcribe": round(child["transcribe_s"] / duration, 4),
        "language": child["language"],
    }


# --------------------------------------------------------------------------------------------
# Voices that alternate: a generated meeting (quick turns between three synthetic voices, a few
# overlaps) and real speech (LibriVox readings with the ALSA test voice between them).
# --------------------------------------------------------------------------------------------

LIBRIVOX = ROOT / ".cache" / "testdata" / "pocketsphinx" / "librivox"
ALSA_SOUNDS = Path("/usr/share/sounds/alsa")
ALSA_NAMES = (
    "Front_Center", "Front_Left", "Front_Right", "Rear_Center", "Rear_Left", "Rear_Right",
    "Side_Left", "Side_Right",
)  # fmt: skip


def generate_alternating(seconds: float, seed: int, wav: Path, ref: Path) -> None:
    from reflector.audio import write_wav
    from reflector_testkit.meetings import MeetingPlan, generate_meeting

    meeting = generate_meeting(MeetingPlan(num_speakers=3, duration=seconds, seed=seed))
    write_wav(meeting.samples, wav, SAMPLE_RATE)
    ref.write_text(" ".join(t.text for t in sorted(meeting.turns, key=lambda t: t.start)))


def generate_real_chain(rounds: int, wav: Path, ref: Path, telephone: bool = False) -> None:
    """LibriVox readings (one man) with a woman's voice saying ALSA's channel names between them,
    joined with 0.2-0.7 s pauses, ``rounds`` times over; ``telephone``: then through an 8 kHz
    telephone band (down to 8 kHz and back), as a phone call's recording sounds."""
    from reflector.audio import decode_file, write_wav
    from reflector_testkit.meetings import Clip, compose_meeting

    readings = [
        Clip(0, decode_file(path).samples, path.with_suffix(".txt").read_text().strip())
        for path in sorted(LIBRIVOX.glob("*.wav"))
    ]
    names = [Clip(1, decode_file(ALSA_SOUNDS / f"{n}.wav").samples, n.replace("_", " "))
             for n in ALSA_NAMES]  # fmt: skip
    clips = []
    for round_ in range(rounds):
        for i, reading in enumerate(readings):
            clips += [reading, names[(round_ * len(readings) + i) % len(names)]]
    meeting = compose_meeting(clips, seed=rounds, name="real-chain")
    if telephone:
        from reflector_testkit.real_speakers import telephone_band

        meeting = telephone_band(meeting)
    write_wav(meeting.samples, wav, SAMPLE_RATE)
    ref.write_text(" ".join(t.text for t in meeting.turns))


def ensure_case(name: str, *params: str) -> tuple[Path, str]:
    """The case's recording and reference text, generated once into ``bench/out``."""
    stem = "-".join([name, *params])
    wav, ref = OUT / f"{stem}.wav", OUT / f"{stem}.ref.txt"
    if not (wav.exists() and ref.exists()):
        _log(f"generating {wav.name}")
        OUT.mkdir(parents=True, exist_ok=True)
        result = _run_child([name, *params, str(wav), str(ref)])
        if result["returncode"] != 0:
            raise SystemExit(f"generation failed:\n{result['stderr'][-3000:]}")
    return wav, ref.read_text().strip()


def ensure_shifted(wav: Path, milliseconds: int) -> Path:
    """The recording started ``milliseconds`` later, after that much of the generated meetings'
    noise floor: the same speech, which no listener would hear as different, in other
    positions inside Whisper's windows and the voice detector's frames."""
    if milliseconds == 0:
        return wav
    import numpy as np

    shifted = wav.with_name(f"{wav.stem}-shift{milliseconds}ms.wav")
    if shifted.exists():
        return shifted
    with wave.open(str(wav), "rb") as f:
        params, frames = f.getparams(), f.readframes(f.getnframes())
    lead = _pink_noise(milliseconds * SAMPLE_RATE // 1000, NOISE_DBFS, milliseconds)
    lead_pcm = np.clip(np.round(lead * 32767), -32768, 32767).astype("<i2").tobytes()
    with wave.open(str(shifted), "wb") as f:
        f.setparams(params)
        f.writeframes(lead_pcm + frames)
    return shifted


def compare_over_shifts(cases: dict, kind: str) -> dict | None:
    """Reflector minus the bare call with its VAD, paired file by file and shift by shift.

    One file's WER moves by points when the same speech starts a few milliseconds later, for
    either system, so a single run per file cannot say which is better there. Paired over many
    (file, shift) runs, the mean difference has an interval that can."""
    import statistics

    from reflector_testkit.scoring import paired_difference

    chosen = [c for c in cases.values() if c["kind"] == kind]
    if not chosen:
        return None
    per_file: dict[str, dict[str, list[float]]] = {}
    for case in chosen:
        runs = per_file.setdefault(case["recording"], {"reflector": [], "bare_vad": []})
        runs["reflector"].append(round(100 * case["reflector_wer"], 2))
        runs["bare_vad"].append(round(100 * case["bare_vad_wer"], 2))
    return {
        # Reflector minus the bare call, in WER points: "above" runs are Reflector's worse ones.
        **paired_difference([c["wer_points_over_bare"] for c in chosen]),
        "per_file": {
            name: {
                **runs,
                "reflector_mean": round(statistics.mean(runs["reflector"]), 2),
                "bare_vad_mean": round(statistics.mean(runs["bare_vad"]), 2),
                "reflector_range": round(max(runs["reflector"]) - min(runs["reflector"]), 2),
                "bare_vad_range": round(max(runs["bare_vad"]) - min(runs["bare_vad"]), 2),
            }
            for name, runs in per_file.items()
        },
    }


def _wav_seconds(wav: Path) -> float:
    with wave.open(str(wav), "rb") as f:
        return f.getnframes() / f.getframerate()


def run_case(args, wav: Path, ref: str, kind: str, recording: str) -> dict:
    """Reflector (the CLI, no summaries) against bare faster-whisper with its VAD, on the same
    file, ``args.repeats`` times in turn; WER comes from the first run (decoding is
    deterministic), every wall time is kept."""
    duration = _wav_seconds(wav)
    runs = []
    for _ in range(args.repeats):
        reflector = run_reflector_cli(args.model, wav, args.threads, duration, ref)
        bare = run_baseline(args, wav, duration, ref, vad=True)
        runs.append(
            {
                "reflector_wer": reflector["wer"],
                "bare_vad_wer": bare["wer"],
                "reflector_wall_s": reflector["wall_s"],
                "bare_vad_wall_s": bare["wall_s"],
                "reflector_cpu_s": reflector["cpu_s"],
                "bare_vad_cpu_s": bare["cpu_s"],
                "time_ratio": round(bare["wall_s"] / reflector["wall_s"], 3),
            }
        )
    return {
        "kind": kind,
        "recording": recording,
        "file": str(wav.relative_to(ROOT)),
        "audio_seconds": round(duration, 2),
        "reference_words": len(normalize(ref).split()),
        "reflector_wer": runs[0]["reflector_wer"],
        "bare_vad_wer": runs[0]["bare_vad_wer"],
        "wer_points_over_bare": round(
            100 * (runs[0]["reflector_wer"] - runs[0]["bare_vad_wer"]), 2
        ),
        "time_ratio": [r["time_ratio"] for r in runs],
        "runs": runs,
    }


def _loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def _versions() -> dict:
    from importlib.metadata import version

    return {p: version(p) for p in ("faster-whisper", "ctranslate2", "onnxruntime", "av")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny.en", help="tiny.en or base (default tiny.en)")
    parser.add_argument("--minutes", type=float, default=10.0, help="recording length (>= 10)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads")
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=4, help="for the preloaded run")
    parser.add_argument("--language", default="auto", help="for the preloaded run")
    parser.add_argument("--hour-memory", action="store_true", help="also a 1-hour Reflector run")
    parser.add_argument("--hour-model", default="tiny.en")
    parser.add_argument("--hour-only", action="store_true", help="skip the 10-minute comparison")
    parser.add_argument("--no-stages", action="store_true", help="skip the preloaded run")
    parser.add_argument("--no-baseline", action="store_true", help="skip the baseline run")
    parser.add_argument(
        "--cases",
        default="meeting,alternating,real,phone",
        help="comma list: meeting (the long one), alternating (generated, 3 voices taking "
        "turns), real (LibriVox readings with another real voice between them), phone (the "
        "same through an 8 kHz telephone band)",
    )
    parser.add_argument("--alternating-seconds", type=float, default=150.0)
    parser.add_argument(
        "--shifts",
        default="0",
        help="comma list of milliseconds: each generated and real case also runs started that "
        "much later (after the noise floor), to pair the two systems over more runs",
    )
    parser.add_argument("--alternating-seeds", default="22,3", help="comma list")
    parser.add_argument("--real-rounds", type=int, default=2, help="times the readings repeat")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each comparison")
    parser.add_argument("--no-summaries", action="store_true", help="skip the summaries row")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child_main(args.child)
        return

    load_before = _loadavg()
    cases = set(args.cases.split(","))
    report: dict = {"model": args.model, "repeats": args.repeats}
    if "meeting" in cases or args.hour_memory or args.hour_only:
        wav, meta = ensure_recording(args.minutes, args.seed)
        duration, ref = meta["duration"], meta["text"]
        report["audio_seconds"] = round(duration, 2)
        report["audio"] = {
            "file": str(wav.relative_to(ROOT)),
            "speech_seconds": meta["speech_seconds"],
            "sentences": meta["sentences"],
            "distinct_sentences": meta["distinct_sentences"],
            "reference_words": len(normalize(ref).split()),
        }
    if "meeting" in cases and not args.hour_only:
        report["runs"] = []
        for _ in range(args.repeats):
            run: dict = {
                "reflector": run_reflector_cli(args.model, wav, args.threads, duration, ref)
            }
            if not args.no_baseline:
                run["baseline_faster_whisper"] = run_baseline(args, wav, duration, ref)
                run["baseline_faster_whisper_vad"] = run_baseline(args, wav, duration, ref, True)
                wall = run["reflector"]["wall_s"]
                run["speedup"] = {
                    "wall": round(run["baseline_faster_whisper"]["wall_s"] / wall, 3),
                    "wall_vs_vad": round(run["baseline_faster_whisper_vad"]["wall_s"] / wall, 3),
                }
            if not args.no_summaries:
                summarized = run_reflector_cli(args.model, wav, args.threads, duration, ref, True)
                run["reflector_with_summaries"] = summarized
                run["summaries_s"] = round(summarized["wall_s"] - run["reflector"]["wall_s"], 2)
            report["runs"].append(run)
        if not args.no_stages:
            report["preloaded"] = run_stages(args, wav, duration, ref)
        if not args.no_baseline:
            report["speedup"] = {
                "wall": min(r["speedup"]["wall"] for r in report["runs"]),
                "wall_vs_vad": min(r["speedup"]["wall_vs_vad"] for r in report["runs"]),
            }
    report["cases"] = {}
    shifts = [int(ms) for ms in args.shifts.split(",")]

    def run_shifted(name: str, wav: Path, ref: str, kind: str) -> None:
        for ms in shifts:
            shifted = ensure_shifted(wav, ms)
            label = name if ms == 0 else f"{name}-shift{ms}ms"
            report["cases"][label] = run_case(args, shifted, ref, kind, name)

    if "alternating" in cases:
        for seed in args.alternating_seeds.split(","):
            name = f"alternating-{args.alternating_seconds:g}s-seed{seed}"
            wav_a, ref_a = ensure_case("alternating", f"{args.alternating_seconds:g}", seed)
            run_shifted(name, wav_a, ref_a, "generated")
    for kind in ("real", "phone"):
        if kind not in cases:
            continue
        if not (LIBRIVOX.is_dir() and ALSA_SOUNDS.is_dir()):
            _log("real speech missing (scripts/install.sh --dev, alsa-utils): case skipped")
            continue
        wav_r, ref_r = ensure_case(kind, str(args.real_rounds))
        name = f"{'real-chain' if kind == 'real' else 'phone-chain'}-x{args.real_rounds}"
        run_shifted(name, wav_r, ref_r, "real")
    report["over_shifts"] = {
        kind: summary
        for kind in ("generated", "real")
        if (summary := compare_over_shifts(report["cases"], kind))
    }
    report["goal"] = {"speedup_min": GOAL_SPEEDUP, "peak_rss_mb_max_1h": GOAL_PEAK_RSS_MB_1H}
    if "speedup" in report:
        report["goal"]["speedup_met"] = min(report["speedup"].values()) >= GOAL_SPEEDUP
    if args.hour_memory or args.hour_only:
        hour_wav, hour_meta = ensure_repeated(wav, meta, 3600)
        hour = run_reflector_cli(
            args.hour_model, hour_wav, args.threads, hour_meta["duration"], hour_meta["text"]
        )
        hour = {"model": args.hour_model, "audio_seconds": round(hour_meta["duration"], 2), **hour}
        report["hour"] = hour
        report["goal"]["peak_rss_met_1h"] = hour["peak_rss_mb"] <= GOAL_PEAK_RSS_MB_1H
    report["machine"] = {
        "cpus": os.cpu_count(),
        "threads": args.threads,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_before": load_before,
        "loadavg_after": _loadavg(),
        **_versions(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

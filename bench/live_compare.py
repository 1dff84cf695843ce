"""Benchmark: Reflector's live transcriber beside ufal/whisper_streaming, on the same files.

Usage (from the repository root)::

    .venv/bin/python bench/live_compare.py --whisper-streaming PATH/whisper_online.py \\
        [--seconds 180] [--rounds 2] [--busy]

Both stream each file at real-time pace, one after the other, with the same tiny.en model files
on the CPU:

* **Reflector**: :class:`reflector.live.streaming.StreamingTranscriber` fed 100 ms chunks by
  :func:`reflector.live.harness.stream_samples` (no live speakers or topics: transcription only);
* **whisper_streaming**: ``whisper_online.py``'s own ``OnlineASRProcessor`` (LocalAgreement-2,
  its faster-whisper backend with beam 5 as it ships, buffer trimmed at segments after 15 s,
  no VAD) driven by the loop of its default computation-aware simulation: wait until at least
  1.0 s of new audio has arrived, give it all the audio that arrived meanwhile, decode, repeat.
  Its model is loaded from the same directory on the CPU (int8); nothing is downloaded.
  ``whisper_online.py`` is not part of Reflector: point ``--whisper-streaming`` at a copy of it;
  without the option only Reflector runs (and the report says so).

``--previous`` also runs an earlier version's ``live/streaming.py`` on each file, just before
the current one, as the baseline of the same run. ``--option KEY=VALUE`` (repeatable) also runs
the current version with those :class:`~reflector.live.streaming.LiveOptions` changed, after the
shipped one (``reflector_options`` in the report). ``--shifts 0,40,90`` also streams each file
started 40 and 90 ms later (silence first) and pairs the systems over all the runs
(``over_shifts``): a single run's WER moves by points with such a shift.

``--replay`` ranks versions and settings by their text alone: each file is streamed as fast as
possible with a decode every ``step`` (0.5 s) of audio, the step held fixed instead of growing
with the decode time. Such replays give the same words on every run on one machine (with the
adapting step, two runs of one version differed by up to 1.4 points), so two settings can be
compared file by file; their delays and CPU figures say nothing about real time.
`CT2_FORCE_CPU_ISA` and `ONEDNN_MAX_CPU_ISA` (e.g. ``AVX2``) show how the decodes of CPUs with
other instruction sets fare.

Files: *real*, the LibriVox readings shipped in the PocketSphinx source, chained ``--rounds``
times with natural pauses (0.5-1.5 s); *phone*, the same through an 8 kHz telephone band (down
to 8 kHz and back); *generated*, a two-voice meeting (``--seconds``).
Measured per file and system: confirmed WER (final words only, against the reference text),
final-word delay p50 / p95 (from the moment the audio holding a word's end was due to the
moment the word was final), and CPU seconds per audio second (the process's CPU time over the
run: decoding, voice detection and everything else). Baselines in the same run: offline
transcription of the whole file with the same model, bare faster-whisper (beam 5) and
``transcribe_file`` (the file pipeline). ``--busy`` keeps one core busy with a second process
while streaming. Prints one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import multiprocessing
import os
import pickle
import sys
import tempfile
import time
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Before the speech engines load: their OpenMP threads sleep instead of spinning when idle.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from reflector.asr import load_whisper, resolve_model
from reflector.audio import SAMPLE_RATE, decode_file, write_wav
from reflector.live.harness import first_word_delays, stream_samples
from reflector.live.streaming import LiveOptions, StreamingTranscriber
from reflector.logging_setup import configure_logging
from reflector.vad import SileroVad
from reflector_testkit.real_speakers import through_telephone_band
from reflector_testkit.scoring import paired_difference, word_error_rate
from reflector_testkit.speech import TEST_DATA, librivox_clips

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PAUSES = [0.7, 1.2, 0.5, 1.5, 0.9]


def say(message: str) -> None:
    print(f"[live-compare] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


@dataclass(frozen=True)
class StreamFile:
    name: str
    kind: str
    """``real`` or ``generated``."""
    samples: np.ndarray
    reference: str
    onsets: tuple[float, ...]
    """Where each turn (or reading) begins: first-word delays are measured from there."""

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def chained_readings(rounds: int) -> StreamFile:
    """The real LibriVox readings one after another with natural pauses, ``rounds`` times
    over (the later rounds repeat sentence patterns, where decoders repeat themselves)."""
    clips = librivox_clips(TEST_DATA / "pocketsphinx" / "librivox")
    if not clips:
        raise SystemExit("real-speech test data missing: run `bash scripts/install.sh --dev`")
    parts, texts, onsets = [np.zeros(SAMPLE_RATE, np.float32)], [], []
    for round_ in range(rounds):
        for index, clip in enumerate(clips):
            onsets.append(sum(len(part) for part in parts) / SAMPLE_RATE)
            parts.append(decode_file(clip.path).samples)
            pause = PAUSES[(index + round_) % len(PAUSES)]
            parts.append(np.zeros(round(pause * SAMPLE_RATE), np.float32))
            texts.append(clip.text)
    samples = np.concatenate(parts)
    return StreamFile(f"librivox-x{rounds}", "real", samples, " ".join(texts), tuple(onsets))


def through_telephone(file: StreamFile, rate: int = 8000) -> StreamFile:
    """``file`` as a phone call carries it: down to ``rate`` Hz and back."""
    samples = through_telephone_band(file.samples, rate)
    return dataclasses.replace(file, name=f"{file.name}-{rate // 1000}k", samples=samples)


def started_later(file: StreamFile, milliseconds: int) -> StreamFile:
    """``file`` after ``milliseconds`` more of silence: the same speech, in other positions
    relative to the decodes' steps."""
    lead = np.zeros(milliseconds * SAMPLE_RATE // 1000, np.float32)
    return dataclasses.replace(
        file,
        name=f"{file.name}-shift{milliseconds}ms",
        samples=np.concatenate([lead, file.samples]),
        onsets=tuple(onset + milliseconds / 1000 for onset in file.onsets),
    )


def compare_over_shifts(files: dict, shifted_from: dict[str, str]) -> dict:
    """Per file, each system's confirmed WER over the shifts, and live minus each other system
    paired run by run (mean, 95 % interval and how often live was worse): one run's WER moves
    by points when the speech starts a little later, so single runs cannot rank them."""

    def wer_of(entry: dict, system: str) -> float | None:
        if system in ("bare_faster_whisper_beam5_wer", "transcribe_file_wer"):
            value = entry.get("offline", {}).get(system)
        else:
            value = entry[system].get("confirmed_wer") if isinstance(entry[system], dict) else None
        return None if value is None else round(100 * value, 2)

    systems = ("whisper_streaming", "bare_faster_whisper_beam5_wer", "transcribe_file_wer")
    summary: dict = {}
    for base in dict.fromkeys(shifted_from.values()):
        entries = [files[name] for name, origin in shifted_from.items() if origin == base]
        live = [wer_of(entry, "reflector") for entry in entries]
        row: dict = {"runs": len(entries), "reflector": live}
        for system in systems:
            other = [wer_of(entry, system) for entry in entries]
            pairs = [(a - b) for a, b in zip(live, other, strict=True) if b is not None]
            if not pairs:
                continue
            # Live minus the other system: "above" runs are live's worse ones.
            row[system] = {"wer": other, **paired_difference(pairs)}
        summary[base] = row
    return summary


def generated_meeting(seconds: float, seed: int) -> StreamFile:
    """A two-voice generated meeting, cached in bench/out (synthesis takes a while)."""
    cache = OUT / f"live-meeting-{seconds:g}s-seed{seed}-v2.pkl"
    if cache.exists():
        samples, reference, onsets = pickle.loads(cache.read_bytes())
    else:
        from reflector_testkit.meetings import MeetingPlan, generate_meeting

        plan = MeetingPlan(num_speakers=2, duration=seconds, overlaps=0, seed=seed)
        meeting = generate_meeting(plan)
        samples = meeting.samples.astype(np.float32)
        reference = " ".join(turn.text for turn in meeting.turns)
        onsets = tuple(turn.start for turn in meeting.turns)
        OUT.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps((samples, reference, onsets)))
    return StreamFile(f"meeting-{seconds:g}s", "generated", samples, reference, onsets)


@dataclass(frozen=True)
class RunResult:
    text: str
    final_delays: list[float]
    first_delays: list[float] | None
    """Per turn: from its first audio to the first word of it shown (interim or final;
    whisper_streaming shows only final words)."""
    cpu_seconds: float
    wall_seconds: float

    def summary(self, file: StreamFile) -> dict:
        first = self.first_delays
        return {
            "confirmed_wer": round(word_error_rate(file.reference, self.text), 4),
            "first_word_s": None
            if first is None
            else {"p50": percentile(first, 50), "p95": percentile(first, 95)},
            "final_word_delay_s": {
                "p50": percentile(self.final_delays, 50),
                "p95": percentile(self.final_delays, 95),
            },
            "cpu_s_per_audio_s": round(self.cpu_seconds / file.seconds, 3),
            "wall_s": round(self.wall_seconds, 1),
            "final_text": self.text.strip(),
        }


def load_previous(path: Path) -> type:
    """``StreamingTranscriber`` of an earlier version's ``streaming.py`` (e.g. extracted with
    ``git show REV:src/reflector/live/streaming.py``), to measure it in the same run: on
    shared cores, timings of different runs do not compare."""
    spec = importlib.util.spec_from_file_location("previous_live_streaming", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.StreamingTranscriber


def with_fixed_step(transcriber_class: type) -> type:
    """``transcriber_class`` with its step held at ``LiveOptions.step`` (for ``--replay``)."""
    return type(transcriber_class.__name__, (transcriber_class,), {"_adapt_step": _never})


def _never(self, elapsed: float) -> bool:
    return False


def parse_options(pairs: list[str]) -> dict:
    """``KEY=VALUE`` pairs as ``LiveOptions`` fields; values are read as JSON where they can be."""
    options = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in {f.name for f in dataclasses.fields(LiveOptions)}:
            raise SystemExit(f"--option {pair}: LiveOptions has no field {key!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def run_reflector(
    engine,
    vad: SileroVad,
    file: StreamFile,
    transcriber_class: type = StreamingTranscriber,
    options: dict | None = None,
    replay: bool = False,
) -> RunResult:
    if replay:
        transcriber_class = with_fixed_step(transcriber_class)
    extra = {"options": LiveOptions(**options)} if options else {}
    transcriber = transcriber_class(engine, vad, speakers=None, topics=None, **extra)
    cpu, started = time.process_time(), time.perf_counter()
    updates = stream_samples(transcriber, file.samples, speed=0.0 if replay else 1.0)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - started
    finals = [(timed.wall, word) for timed in updates for word in timed.update.final]
    return RunResult(
        text="".join(word.text for _, word in finals),
        final_delays=[wall_at - word.end for wall_at, word in finals],
        first_delays=first_word_delays(updates, list(file.onsets)),
        cpu_seconds=cpu,
        wall_seconds=wall,
    )


def load_whisper_online(path: Path) -> types.ModuleType:
    """Import ``whisper_online.py`` from ``path``. It imports librosa and soundfile at the top
    for reading files, which this bench does itself: stand-ins are used when they are not
    installed."""
    for name in ("librosa", "soundfile"):
        if importlib.util.find_spec(name) is None:
            sys.modules[name] = types.ModuleType(name)
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("whisper_online", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def whisper_streaming_asr(module: types.ModuleType, model_path: Path, threads: int):
    """Its FasterWhisperASR (transcribe() unchanged: beam 5, word timestamps, conditioned on
    the previous text), with the model loaded on the CPU from ``model_path``: the shipped
    loader asks for CUDA."""

    class CpuFasterWhisperASR(module.FasterWhisperASR):
        def load_model(self, modelsize=None, cache_dir=None, model_dir=None):
            from faster_whisper import WhisperModel

            return WhisperModel(
                str(model_path), device="cpu", compute_type="int8", cpu_threads=threads
            )

    return CpuFasterWhisperASR(lan="en", model_dir=str(model_path), logfile=sys.stderr)


def run_whisper_streaming(module: types.ModuleType, asr, file: StreamFile) -> RunResult:
    """The computation-aware simulation of ``whisper_online.py`` (its ``__main__`` loop with
    the default ``--min-chunk-size 1.0``), recording when each word was committed."""
    online = module.OnlineASRProcessor(asr, None, buffer_trimming=("segment", 15))
    asr.transcribe(file.samples[:SAMPLE_RATE])  # its warm-up, before the clock starts
    min_chunk, duration = 1.0, file.seconds
    finals: list[tuple[float, tuple[float, float, str]]] = []
    cpu, start = time.process_time(), time.perf_counter()
    beg = end = 0.0
    while True:
        now = time.perf_counter() - start
        if now < end + min_chunk:
            time.sleep(min_chunk + end - now)
        end = min(time.perf_counter() - start, duration)
        online.insert_audio_chunk(
            file.samples[int(beg * SAMPLE_RATE) : int(end * SAMPLE_RATE)].astype(np.float32)
        )
        beg = end
        committed = len(online.commited)
        online.process_iter()
        emitted = time.perf_counter() - start
        finals += [(emitted, word) for word in online.commited[committed:]]
        if end >= duration:
            break
    rest = list(online.transcript_buffer.complete())
    online.finish()
    emitted = time.perf_counter() - start
    finals += [(emitted, word) for word in rest]
    cpu, wall = time.process_time() - cpu, time.perf_counter() - start
    return RunResult(
        text=module.FasterWhisperASR.sep.join(word[2] for _, word in finals),
        final_delays=[at - word[1] for at, word in finals],
        first_delays=_first_committed(finals, file.onsets),
        cpu_seconds=cpu,
        wall_seconds=wall,
    )


def _first_committed(
    finals: list[tuple[float, tuple[float, float, str]]], onsets: tuple[float, ...]
) -> list[float]:
    """First-word delays of a system that shows only final words, measured as
    :func:`first_word_delays` measures them (a word ending at most 0.3 s before the onset)."""
    delays = []
    for onset in onsets:
        for emitted, (_, end, _) in finals:
            if end >= onset - 0.3 and emitted >= onset:
                delays.append(emitted - onset)
                break
    return delays


def offline_baselines(engine, file: StreamFile, work: Path) -> dict:
    from reflector.pipelines.file import TranscribeOptions, transcribe_file

    segments, _ = engine.model.transcribe(file.samples, language="en", beam_size=5)
    bare = " ".join(segment.text for segment in segments)
    wav = write_wav(file.samples, work / f"{file.name}.wav")
    options = TranscribeOptions(model="tiny.en", language="en", diarize=False, summarize=False)
    piped = transcribe_file(wav, options, work / "data")
    return {
        "bare_faster_whisper_beam5_wer": round(word_error_rate(file.reference, bare), 4),
        "transcribe_file_wer": round(word_error_rate(file.reference, piped.text), 4),
    }


def _spin(stop) -> None:  # pragma: no cover - runs in the helper process
    while not stop.is_set():
        sum(range(10_000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--whisper-streaming", type=Path, help="path to whisper_online.py")
    parser.add_argument("--seconds", type=float, default=180.0, help="generated meeting length")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2, help="times the readings are chained")
    parser.add_argument("--files", default="real,generated")
    parser.add_argument("--busy", action="store_true", help="keep one core busy meanwhile")
    parser.add_argument(
        "--previous", type=Path, help="an earlier live/streaming.py to measure in the same run"
    )
    parser.add_argument("--no-offline", action="store_true", help="skip the offline baselines")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="also run the current version with this LiveOptions field changed (repeatable)",
    )
    parser.add_argument(
        "--shifts",
        default="0",
        help="comma list of milliseconds: each file also runs started that much later, and "
        "the systems are paired over all the runs (over_shifts in the report)",
    )
    parser.add_argument(
        "--replay",
        action="store_true",
        help="Reflector only, as fast as possible with the step held fixed: text only",
    )
    args = parser.parse_args()
    configure_logging("warning")  # stdout carries only the JSON report
    changed = parse_options(args.option)

    kinds = set(args.files.split(","))
    files = []
    if kinds & {"real", "phone"}:
        readings = chained_readings(args.rounds)
        if "real" in kinds:
            files.append(readings)
        if "phone" in kinds:
            files.append(through_telephone(readings))
    if "generated" in kinds:
        say("preparing the generated meeting")
        files.append(generated_meeting(args.seconds, args.seed))
    shifts = [int(ms) for ms in args.shifts.split(",") if int(ms)]
    shifted_from: dict[str, str] = {}
    for file in list(files):
        shifted_from[file.name] = file.name
        for ms in shifts:
            later = started_later(file, ms)
            files.append(later)
            shifted_from[later.name] = file.name
    work = Path(tempfile.mkdtemp(prefix="reflector-live-compare-"))
    threads = os.cpu_count() or 1
    location = resolve_model("tiny.en", work / "data")
    engine = load_whisper(location, cpu_threads=threads, replicas=2)
    vad = SileroVad()
    module = asr = None
    if args.replay:
        say("replay: Reflector only, the step held fixed")
    elif args.whisper_streaming is None:
        say("whisper_streaming skipped: pass --whisper-streaming PATH/whisper_online.py")
    else:
        module = load_whisper_online(args.whisper_streaming)
        asr = whisper_streaming_asr(module, location.path, threads)

    stop = multiprocessing.Event()
    spinner = None
    if args.busy:
        spinner = multiprocessing.Process(target=_spin, args=(stop,), daemon=True)
        spinner.start()
    report: dict = {
        "machine": {"cpus": threads, "busy_core": args.busy},
        "model": "tiny.en",
        "whisper_streaming": str(args.whisper_streaming) if module else None,
        "replay": args.replay,
        "options_changed": changed,
        "files": {},
    }
    try:
        for file in files:
            entry: dict = {"kind": file.kind, "audio_seconds": round(file.seconds, 1)}
            pace = "replayed" if args.replay else "at real-time pace"
            if args.previous is not None:
                say(f"{file.name}: the previous version {pace}")
                previous = run_reflector(
                    engine, vad, file, load_previous(args.previous), replay=args.replay
                )
                entry["reflector_previous"] = previous.summary(file)
                say(json.dumps(entry["reflector_previous"]))
            say(f"{file.name}: Reflector {pace} ({file.seconds:.0f} s)")
            entry["reflector"] = run_reflector(engine, vad, file, replay=args.replay).summary(file)
            say(json.dumps(entry["reflector"]))
            if changed:
                say(f"{file.name}: Reflector with {changed} {pace}")
                run = run_reflector(engine, vad, file, options=changed, replay=args.replay)
                entry["reflector_options"] = run.summary(file)
                say(json.dumps(entry["reflector_options"]))
            if module is not None and not args.replay:
                say(f"{file.name}: whisper_streaming at real-time pace")
                entry["whisper_streaming"] = run_whisper_streaming(module, asr, file).summary(file)
                say(json.dumps(entry["whisper_streaming"]))
            else:
                entry["whisper_streaming"] = (
                    "skipped: replay"
                    if args.replay
                    else "skipped: no --whisper-streaming PATH given"
                )
            if not args.no_offline:
                entry["offline"] = offline_baselines(engine, file, work)
            entry["reference"] = file.reference
            report["files"][file.name] = entry
    finally:
        stop.set()
        if spinner is not None:
            spinner.join(timeout=5)
    if len(shifted_from) > len(set(shifted_from.values())):
        report["over_shifts"] = compare_over_shifts(report["files"], shifted_from)
    report["machine"]["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

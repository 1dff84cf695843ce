"""Benchmark: multitrack recordings (one WebM/Opus file per participant).

Usage (from the repository root)::

    .venv/bin/python bench/multitrack.py                      # 4 one-hour tracks, 10 min e2e
    .venv/bin/python bench/multitrack.py --hours 0.25 --minutes 4   # a quick run

(a) ``mixdown``: 4 tracks of ``--hours`` each (a noise floor, a quiet tone on some, a few
sentences every couple of minutes, the participants joining at different times and muted
for long stretches, written as Opus WebM without packets while muted) are put on one timeline
and mixed to one MP3 with its waveform, each way in its own process (peak RSS from wait4):

* ``streamed``: ``mix_tracks([iter_padded(track) ...])``, decoding straight into the mix;
* ``server``: what the ``prepare_tracks`` stage does: every track padded to a raw float32
  file first (they are transcribed from those), then mixed from the files;
* ``ffmpeg``: the baseline, the ``ffmpeg`` command with the same filter per input
  (``aresample=16000:async=1:first_pts=0``), ``amix`` and the MP3 encoder.

Goal: under 1 minute and 300 MB for 4 one-hour tracks.

(b) ``end_to_end``: a ``--minutes`` meeting of 4 voices, each speaking about a quarter of the
time, as 4 tracks and as the single mixed file of the same meeting (also Opus WebM):
``reflector transcribe --multitrack`` against ``reflector transcribe`` of the mixed file, with
speaker identification (what a single file needs to tell the speakers apart) and without
(``--no-diarize``: the recogniser alone), all with ``--no-summarize``. Goal: multitrack at most
1.2x the single file's time.

Generated files are cached in ``bench/out/multitrack/``. Progress goes to stderr, one JSON
object to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "multitrack"
GOAL_MIX_SECONDS = 60.0
GOAL_MIX_RSS_MB = 300.0
GOAL_RATIO = 1.2
_T0 = time.monotonic()

VOICES = ("joe", "klatt", "rp-f2", "andy")
SENTENCES = (
    "The quarterly numbers look better than we expected, mostly because of new contracts.",
    "I think we should move the release to next week, because testing needs more time.",
    "Could you send me the slides after the call, so I can share them with the board?",
    "We talked about hiring more engineers, but the budget is not approved yet.",
    "The customer asked for a demo of the reporting feature before they sign anything.",
    "Our support queue doubled last month, and most tickets are about password resets.",
    "I spoke with the design team yesterday and they want to simplify the sign up page.",
    "The migration to the new database finished on Sunday night without any data loss.",
    "We need a clear owner for the security review, otherwise it will slip again.",
    "Marketing would like the launch date fixed by the end of this week.",
    "The mobile app crashes on older phones when the network connection drops.",
    "I would rather fix the billing bug first, since it affects every invoice we send.",
    "Our partner in Berlin wants to extend the pilot for another three months.",
    "The dashboard loads slowly because every widget runs its own query.",
    "We should write down the decision, so the new people understand why we made it.",
    "Legal reviewed the contract and only asked for small changes in the payment terms.",
    "Please add your holiday plans to the shared calendar before the end of the month.",
    "We could run the experiment with a small share of the traffic and compare results.",
    "The vendor promised a fix for the printer driver, but nothing has arrived yet.",
    "The last release reduced the loading time by almost half on the main page.",
    "I can take the action item on documentation, but I need help with the examples.",
    "Finance asked us to report cloud costs per team starting from next quarter.",
    "The interviews went well and two candidates will come back for a second round.",
    "We still have not decided whether to build the search feature or buy a service.",
    "Our backups run every night, but nobody has tested a full restore this year.",
    "Customers in Japan would like the interface translated before the summer.",
    "The team retrospective showed that meetings take too much of our time.",
    "The pricing page confuses people, because the plans look almost the same.",
    "Our error rate went up after the last deployment, so we rolled it back.",
    "I suggest we meet again on Thursday to look at the first prototype together.",
    "The accessibility audit found problems with contrast and keyboard navigation.",
    "We promised the client a written proposal by Monday morning at the latest.",
    "The onboarding guide is out of date, and new hires keep asking the same questions.",
    "We could reduce costs by turning off the test servers during the weekend.",
    "The board wants a one page summary instead of the long report we sent last time.",
    "Let us keep the scope small and ship something useful before the holidays.",
)


def _log(message: str) -> None:
    print(f"[{time.monotonic() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


# --- child processes -------------------------------------------------------------------------


def _wait(command: list[str], env: dict[str, str] | None = None) -> dict:
    """Run ``command``; wall time, CPU time and peak RSS (wait4) of exactly that process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        result = {
            "returncode": os.waitstatus_to_exitcode(status),
            "wall_s": round(wall, 2),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        }
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if result["returncode"] != 0:
        raise SystemExit(f"{' '.join(command[:4])} failed:\n{stderr[-3000:]}")
    result["stdout"] = stdout
    return result


def _child(*args: str) -> dict:
    return _wait([sys.executable, str(Path(__file__).resolve()), "--child", *args])


def _child_main(argv: list[str]) -> None:
    kind, *args = argv
    if kind == "mix-streamed":
        from reflector.audio.multitrack import iter_padded, mix_tracks, probe_track

        tracks = [probe_track(p) for p in args[1:]]
        mix = mix_tracks([iter_padded(t) for t in tracks], args[0])
        print(json.dumps({"duration": mix.duration}))
    elif kind == "mix-server":
        from reflector.audio.multitrack import mix_tracks
        from reflector.pipelines.multitrack import TrackSource, pad_tracks, track_workers

        sources = [TrackSource(Path(p), Path(p).stem) for p in args[1:]]
        with tempfile.TemporaryDirectory(dir=OUT) as folder:
            padded = pad_tracks(sources, Path(folder), workers=track_workers(len(sources)))
            mix = mix_tracks([p.chunks() for p in padded], args[0])
        print(json.dumps({"duration": mix.duration}))
    elif kind == "generate-long":
        _generate_long(Path(args[0]), float(args[1]), int(args[2]))
    elif kind == "generate-meeting":
        _generate_meeting(Path(args[0]), float(args[1]))
    else:
        raise SystemExit(f"unknown child {kind}")


# --- (a) the mixdown -------------------------------------------------------------------------


def _long_plan(hours: float, index: int) -> tuple[float, list[tuple[float, float]], list[float]]:
    """Where a long track starts, its muted spans and when it speaks: it joins a little later
    than the previous one, is muted for 3 of every 10 minutes, and says a sentence every
    couple of minutes."""
    length = hours * 3600
    joined = 37.0 * index
    muted = [(t + 60.0 * index, t + 60.0 * index + 180.0) for t in range(300, int(length), 600)]
    lines = [t + 11.0 * index for t in range(int(joined) + 20, int(length) - 20, 120)]
    return joined, muted, lines


def _generate_long(folder: Path, hours: float, index: int) -> None:
    from reflector_testkit.meetings import VOICES as ALL_VOICES
    from reflector_testkit.meetings import VoiceBank
    from reflector_testkit.tracks import Utterance, write_long_track

    bank = VoiceBank()
    voice = {v.name: v for v in ALL_VOICES}["klatt"]  # eSpeak NG: quick to synthesize
    clips = [bank.speak(voice, s) for s in SENTENCES[index * 3 : index * 3 + 3]]
    joined, muted, lines = _long_plan(hours, index)
    utterances = [Utterance(t, clips[k % len(clips)]) for k, t in enumerate(lines)]
    path = folder / f"long-{hours:g}h-{index}.webm"
    write_long_track(path, hours * 3600, utterances, start=joined, muted=muted,
                     tone_hz=220.0 * (index + 1) if index % 2 else None, seed=index)  # fmt: skip


def ensure_long_tracks(hours: float, count: int) -> list[Path]:
    OUT.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = OUT / f"long-{hours:g}h-{index}.webm"
        if not path.exists():
            _log(f"writing {path.name}")
            _child("generate-long", str(OUT), str(hours), str(index))
        paths.append(path)
    return paths


def _ffmpeg_mix(paths: list[Path], target: Path) -> list[str]:
    chains = [f"[{i}:a]aresample=16000:async=1:first_pts=0[a{i}]" for i in range(len(paths))]
    inputs = "".join(f"[a{i}]" for i in range(len(paths)))
    graph = ";".join(
        [*chains, f"{inputs}amix=inputs={len(paths)}:normalize=0:duration=longest,"
                  "aformat=sample_fmts=fltp:channel_layouts=mono[out]"]
    )  # fmt: skip
    command = ["ffmpeg", "-loglevel", "error", "-y"]
    for path in paths:
        command += ["-i", str(path)]
    return [*command, "-filter_complex", graph, "-map", "[out]", "-b:a", "64k", str(target)]


def run_mixdown(hours: float, count: int) -> dict:
    paths = ensure_long_tracks(hours, count)
    result: dict = {"tracks": count, "hours_per_track": hours}
    with tempfile.TemporaryDirectory(dir=OUT) as folder:
        for name, run in (
            ("streamed", lambda t: _child("mix-streamed", str(t), *map(str, paths))),
            ("server", lambda t: _child("mix-server", str(t), *map(str, paths))),
            ("ffmpeg", lambda t: _wait(_ffmpeg_mix(paths, t))),
        ):
            _log(f"mixdown: {name}")
            target = Path(folder) / f"{name}.mp3"
            measured = run(target)
            measured.pop("stdout")
            measured["mp3_mb"] = round(target.stat().st_size / 1e6, 1)
            result[name] = measured
    streamed, ffmpeg = result["streamed"], result["ffmpeg"]
    result["vs_ffmpeg"] = {
        "wall": round(streamed["wall_s"] / ffmpeg["wall_s"], 3),
        "peak_rss": round(streamed["peak_rss_mb"] / ffmpeg["peak_rss_mb"], 3),
    }
    for name in ("streamed", "server", "ffmpeg"):
        # Per hour of each track: the goal's size (4 one-hour tracks) from a shorter run.
        result[name]["cpu_s_per_track_hour"] = round(result[name]["cpu_s"] / hours, 1)
    # The goal is the mixdown's; the server's run also writes the padded tracks it transcribes.
    streamed = result["streamed"]
    result["goal_met"] = (
        streamed["wall_s"] < GOAL_MIX_SECONDS * hours and streamed["peak_rss_mb"] < GOAL_MIX_RSS_MB
    )
    return result


# --- (b) end to end --------------------------------------------------------------------------


def _meeting_plan(minutes: float) -> list[tuple[int, float, str]]:
    """``(speaker, start, sentence)``: turns of 1-3 sentences in a rotating order, so each of
    the four voices speaks about a quarter of the time."""
    import numpy as np

    rng = np.random.default_rng(11)
    plan, t, k = [], 2.0, 0
    while t < minutes * 60 - 15:
        speaker = int(k % len(VOICES)) if rng.random() < 0.7 else int(rng.integers(len(VOICES)))
        for _ in range(int(rng.integers(1, 4))):
            plan.append((speaker, t, SENTENCES[int(rng.integers(len(SENTENCES)))]))
            t += 4.0  # about a sentence; the real lengths are laid out when synthesized
        t += float(rng.uniform(0.3, 1.5))
        k += 1
    return plan


def _generate_meeting(folder: Path, minutes: float) -> None:
    import numpy as np

    from reflector.audio import SAMPLE_RATE
    from reflector_testkit.meetings import VOICES as ALL_VOICES
    from reflector_testkit.meetings import VoiceBank
    from reflector_testkit.tracks import Utterance, write_long_track, write_track

    bank = VoiceBank()
    voices = {v.name: v for v in ALL_VOICES}
    utterances: list[list[Utterance]] = [[] for _ in VOICES]
    cursor = 2.0
    order = []
    for speaker, _, text in _meeting_plan(minutes):
        clip = bank.speak(voices[VOICES[speaker]], text)
        if order and order[-1][0] != speaker:
            cursor += 0.6  # a turn change
        utterances[speaker].append(Utterance(cursor, clip, text))
        order.append((speaker, cursor, text))
        cursor += len(clip) / SAMPLE_RATE + 0.3
    length = cursor + 2.0
    mixed = np.zeros(round(length * SAMPLE_RATE), dtype=np.float32)
    for index, spoken in enumerate(utterances):
        # Joined just before their first sentence; muted for every long stretch the
        # odd-numbered participants do not speak (the others stay open on their noise floor).
        joined = max(0.0, spoken[0].start - 1.0) if spoken else 0.0
        muted = []
        if index % 2:
            ends = [joined, *[u.end for u in spoken]]
            starts = [u.start for u in spoken] + [length]
            muted = [(a + 1.0, b - 1.0) for a, b in zip(ends, starts, strict=True) if b - a > 20]
        write_long_track(folder / f"meeting-{minutes:g}m-{VOICES[index]}.webm", length,
                         spoken, start=joined, muted=muted, seed=index)  # fmt: skip
        for u in spoken:
            first = round(u.start * SAMPLE_RATE)
            mixed[first : first + len(u.samples)] += u.samples
    mixed += np.random.default_rng(5).normal(0, 10 ** (-60 / 20), len(mixed)).astype(np.float32)
    write_track(np.clip(mixed, -1, 1), folder / f"meeting-{minutes:g}m-mixed.webm")
    reference = " ".join(text for _, _, text in sorted(order, key=lambda o: o[1]))
    (folder / f"meeting-{minutes:g}m.txt").write_text(reference)
    (folder / f"meeting-{minutes:g}m.json").write_text(
        json.dumps(
            {
                "seconds": round(length, 2),
                "speech_seconds": [
                    round(sum(len(u.samples) for u in s) / SAMPLE_RATE, 1) for s in utterances
                ],
            }
        )
    )


def ensure_meeting(minutes: float) -> tuple[list[Path], Path, str, dict]:
    OUT.mkdir(parents=True, exist_ok=True)
    tracks = [OUT / f"meeting-{minutes:g}m-{v}.webm" for v in VOICES]
    mixed = OUT / f"meeting-{minutes:g}m-mixed.webm"
    if not all(p.exists() for p in [*tracks, mixed]):
        _log(f"generating a {minutes:g}-minute meeting")
        _child("generate-meeting", str(OUT), str(minutes))
    meta = json.loads((OUT / f"meeting-{minutes:g}m.json").read_text())
    return tracks, mixed, (OUT / f"meeting-{minutes:g}m.txt").read_text(), meta


def _cli(model: str, threads: int, reference: str, *args: str) -> dict:
    """``reflector transcribe`` in its own process: time, memory, speakers and WER."""
    from reflector_testkit.scoring import word_error_rate

    env = dict(os.environ, REFLECTOR_ASR_CPU_THREADS=str(threads), REFLECTOR_LOG_LEVEL="warning")
    command = [str(ROOT / ".venv" / "bin" / "reflector"), "transcribe", *args,
               "-m", model, "-f", "json", "-q", "--no-summarize"]  # fmt: skip
    result = _wait(command, env)
    transcript = json.loads(result.pop("stdout"))
    text = " ".join(s["text"] for s in transcript["segments"])
    result["speakers"] = len({s["speaker"] for s in transcript["segments"]})
    result["wer"] = round(word_error_rate(reference, text), 4)
    return result


def run_end_to_end(minutes: float, model: str, threads: int) -> dict:
    tracks, mixed, reference, meta = ensure_meeting(minutes)
    result: dict = {"model": model, "audio_seconds": meta["seconds"],
                    "speech_seconds_per_track": meta["speech_seconds"]}  # fmt: skip
    runs = {
        "multitrack": ["--multitrack", *map(str, tracks)],
        "mixed_file": [str(mixed)],
        "mixed_file_no_diarize": [str(mixed), "--no-diarize"],
    }
    for name, args in runs.items():
        _log(f"end to end: {name}")
        result[name] = _cli(model, threads, reference, *args)
    multitrack = result["multitrack"]["wall_s"]
    result["ratio"] = {
        "vs_mixed_file": round(multitrack / result["mixed_file"]["wall_s"], 3),
        "vs_mixed_file_no_diarize": round(
            multitrack / result["mixed_file_no_diarize"]["wall_s"], 3
        ),
    }
    result["goal_met"] = result["ratio"]["vs_mixed_file"] <= GOAL_RATIO
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=1.0, help="length of each mixdown track")
    parser.add_argument("--tracks", type=int, default=4, help="tracks in the mixdown")
    parser.add_argument("--minutes", type=float, default=10.0, help="end-to-end meeting length")
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip-mixdown", action="store_true")
    parser.add_argument("--skip-end-to-end", action="store_true")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child_main(args.child)
        return
    from reflector_testkit.machine import machine_report

    load_before = os.getloadavg()[0]
    report: dict = {}
    if not args.skip_mixdown:
        report["mixdown"] = run_mixdown(args.hours, args.tracks)
    if not args.skip_end_to_end:
        report["end_to_end"] = run_end_to_end(args.minutes, args.model, args.threads)
    report["machine"] = machine_report(load_before)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

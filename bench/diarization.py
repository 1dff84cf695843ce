"""Benchmark: speaker diarization speed and accuracy, ours versus a naive baseline.

Usage (from the repository root)::

    .venv/bin/python bench/diarization.py [--long-minutes 10] [--threads N] [--quick]
    .venv/bin/python bench/diarization.py --turns [--quick] [--only conversations]

Meetings (generated once, cached in ``bench/out/diarization/``): 2, 3 and 4 speakers of 2-3
minutes each and one 4-speaker meeting of ``--long-minutes`` (default 10), all with long and
short turns, quick exchanges and overlaps (``reflector_testkit.meetings``); plus the
four-person meeting composed from real PocketSphinx recordings when the test data is present.

For each meeting, in the same process and on the same voice-detector regions:

* **ours**: ``LocalDiarizer`` (CAM++ on 1.5 s windows, hop 0.75 s; spectral clustering with an
  automatic count; resegmentation);
* **baseline**: the same CAM++ embeddings on fixed, non-overlapping 1.5 s windows, k-means with
  the *true* number of speakers, each window one turn.

DER comes from ``pyannote.metrics``: "collar 0.25" forgives ±0.25 s around reference
boundaries (NIST convention; ``collar=0.5`` in pyannote, whose collar is the total width),
"collar 0" forgives nothing; overlapped speech is scored. RTF is diarization wall time over
audio duration (voice detection excluded: the file pipeline runs it anyway, reported apart).

Prints one JSON object on stdout; progress goes to stderr.

``--turns`` measures the transcript's outputs instead: each recording goes through the file
pipeline (``transcribe_file``, Whisper ``--model``, speakers on, no summary), and DER is scored
twice, on ``speaker_turns`` (the diarizer's regions) and on the segments (which span only their
words), with the count of speakers found. Real recordings (``reflector_testkit.real_speakers``:
two real readers taking turns, one reader under five recording conditions, single real
speakers, the four-person PocketSphinx meeting, each also through an 8 kHz telephone band) are
reported apart from the generated meetings, and real conversations (people talking with each
other: the pyannote.audio sample and its AMI meeting excerpts, reference turns from their RTTM,
also through the telephone band) apart from both. ``--only conversations`` (repeatable) runs
one set.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "diarization"
TEST_DATA = Path(os.environ.get("REFLECTOR_TEST_DATA", ROOT / ".cache" / "testdata"))
CACHE_VERSION = 1
GOAL_RTF = 0.1
GOAL_DER = 0.08
_T0 = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


# Everything that may load an OpenMP runtime is imported late, after main() sets its policy.


def meeting_plans(long_minutes: float, quick: bool):
    from reflector_testkit.meetings import MeetingPlan

    if quick:
        return [MeetingPlan(num_speakers=n, duration=40, seed=n) for n in (2, 3, 4)]
    plans = [
        MeetingPlan(num_speakers=2, duration=120, seed=21),
        MeetingPlan(num_speakers=3, duration=150, seed=22),
        MeetingPlan(num_speakers=4, duration=180, seed=23),
        MeetingPlan(
            num_speakers=3, duration=120, seed=24, short_turn_share=0.4, exchange_share=0.35
        ),
    ]
    if long_minutes > 0:
        seconds = long_minutes * 60
        plans.append(
            MeetingPlan(num_speakers=4, duration=seconds, seed=25, overlaps=round(seconds / 50))
        )
    return plans


def load_meetings(long_minutes: float, quick: bool):
    from reflector_testkit.meetings import (
        VoiceBank,
        generate_meeting,
        pocketsphinx_voices_meeting,
    )

    OUT.mkdir(parents=True, exist_ok=True)
    bank = VoiceBank()
    meetings = []
    for plan in meeting_plans(long_minutes, quick):
        # Bump CACHE_VERSION when the generator changes what a plan produces.
        key = hashlib.sha256(f"{CACHE_VERSION}{plan!r}".encode()).hexdigest()[:16]
        cache = OUT / f"meeting-{key}.pkl"
        if cache.exists():
            meetings.append(pickle.loads(cache.read_bytes()))
            continue
        log(f"generating {plan.num_speakers}-speaker meeting of {plan.duration:.0f} s")
        meeting = generate_meeting(plan, bank)
        cache.write_bytes(pickle.dumps(meeting))
        meetings.append(meeting)
    real = TEST_DATA / "pocketsphinx"
    if (real / "librivox").is_dir():
        meetings.append(pocketsphinx_voices_meeting(real))
    else:
        log(f"no real recordings in {real} (bash scripts/install.sh --dev): skipping them")
    return meetings


def speakers_over(meeting, seconds: float) -> int:
    """Speakers with at least ``seconds`` of reference speech: the ones a diarizer can count
    (its clusters need about 2 s); real meetings have people who say only "yeah"."""
    talk: dict[int, float] = {}
    for start, end, speaker in meeting.reference_segments():
        talk[speaker] = talk.get(speaker, 0.0) + end - start
    return sum(total >= seconds for total in talk.values())


def der(meeting, turns, collar: float) -> float:
    from reflector_testkit.scoring import diarization_error_rate

    return round(diarization_error_rate(meeting, turns, collar), 4)


@dataclass
class Timed:
    turns: list
    speakers: int
    wall: float
    cpu: float


def run_ours(diarizer, meeting, regions) -> Timed:
    wall, cpu = time.perf_counter(), time.process_time()
    result = diarizer.diarize(meeting.samples, regions)
    return Timed(
        list(result.turns),
        result.num_speakers,
        time.perf_counter() - wall,
        time.process_time() - cpu,
    )


def run_baseline(embedder, meeting, regions, window: float = 1.5) -> Timed:
    """Fixed 1.5 s windows tiling the speech, CAM++ embeddings, k-means with the true k."""
    from reflector.diarization.campplus import log_mel_features
    from reflector.diarization.clustering import kmeans
    from reflector.diarization.types import SpeakerTurn

    wall, cpu = time.perf_counter(), time.process_time()
    pieces, slices = [], []
    frames = round(window * 100)
    for region in regions:
        first = round(region.start * 16_000)
        features = log_mel_features(meeting.samples[first : round(region.end * 16_000)])
        region_first = len(pieces)
        for begin in range(0, len(features), frames):
            piece = features[begin : begin + frames]
            end = min(region.end, region.start + (begin + len(piece) + 2) / 100)
            if len(piece) < 40 and len(pieces) > region_first:
                # A tail under 0.4 s joins the previous window rather than being embedded.
                pieces[-1] = (pieces[-1][0], end)
                continue
            slices.append(piece)
            pieces.append((region.start + begin / 100, end))
    x = embedder.embed(slices)
    labels = kmeans(x, meeting.num_speakers)
    turns = [SpeakerTurn(a, b, int(k)) for (a, b), k in zip(pieces, labels, strict=True)]
    return Timed(
        turns, len(set(labels.tolist())), time.perf_counter() - wall, time.process_time() - cpu
    )


def real_recordings() -> list:
    """Real voices with known turns, each also through an 8 kHz telephone band."""
    from reflector.audio import decode_file
    from reflector_testkit.meetings import (
        POCKETSPHINX_SPEAKERS,
        Clip,
        compose_meeting,
        pocketsphinx_voices_meeting,
    )
    from reflector_testkit.real_speakers import (
        ALSA_CLIPS,
        ALSA_SOUNDS,
        one_voice_conditions,
        telephone_band,
        two_voice_stream,
    )

    def clip(path: Path):
        if path.suffix == ".raw":
            return np.fromfile(path, dtype="<i2").astype(np.float32) / 32768.0
        return decode_file(path).samples

    data = TEST_DATA / "pocketsphinx"
    recordings = []
    if ALSA_SOUNDS.is_dir():
        recordings.append(two_voice_stream(data))
        alsa = [Clip(0, clip(ALSA_SOUNDS / name)) for name in ALSA_CLIPS]
        recordings.append(compose_meeting(alsa, name="real-one-voice-alsa"))
    recordings.append(one_voice_conditions(data))
    for name, files in POCKETSPHINX_SPEAKERS.items():
        clips = [Clip(0, clip(data / f)) for f in files]
        recordings.append(compose_meeting(clips, name=f"real-one-voice-{name}"))
    recordings.append(pocketsphinx_voices_meeting(data))
    return [m for meeting in recordings for m in (meeting, telephone_band(meeting))]


def conversation_recordings() -> list:
    """Real conversations with RTTM references, each also through an 8 kHz telephone band."""
    from reflector_testkit.real_speakers import real_conversations, telephone_band

    data = TEST_DATA / "pyannote"
    if not (data / "sample.rttm").is_file():
        log(f"no real conversations in {data} (bash scripts/install.sh --dev): skipping them")
        return []
    return [m for meeting in real_conversations(data) for m in (meeting, telephone_band(meeting))]


def turns_report(model: str, quick: bool, only: set[str]) -> dict:
    """DER of ``speaker_turns`` and of word-spanning segments, per recording, real apart."""
    import tempfile

    from reflector.asr import AsrConfig
    from reflector.audio import write_wav
    from reflector.diarization.types import SpeakerTurn
    from reflector.logging_setup import configure_logging
    from reflector.pipelines.file import TranscribeOptions, load_engine, transcribe_file
    from reflector.settings import get_settings

    configure_logging("warning")  # stdout carries only the JSON report
    settings = get_settings()
    options = TranscribeOptions.for_asr(AsrConfig(model=model), summarize=False)
    engine = load_engine(options, settings.data_dir)
    from reflector.diarization import make_diarizer

    diarizer = make_diarizer("local")
    sets = {
        "real": real_recordings,
        "conversations": conversation_recordings,
        "generated": lambda: [
            m for m in load_meetings(0, quick=quick) if m.name != "pocketsphinx-voices"
        ],
    }
    rows: dict[str, list] = {kind: [] for kind in sets}
    with tempfile.TemporaryDirectory() as folder:
        for kind, recordings in sets.items():
            if kind not in only:
                continue
            for meeting in recordings():
                path = write_wav(meeting.samples, Path(folder) / "audio.wav")
                transcript = transcribe_file(
                    path, options, settings.data_dir, engine=engine, diarizer=diarizer
                )
                turns = [SpeakerTurn(t.start, t.end, t.speaker) for t in transcript.speaker_turns]
                segments = [
                    SpeakerTurn(s.start, s.end, s.speaker)
                    for s in transcript.segments
                    if s.speaker is not None
                ]
                found = len({t.speaker for t in turns})
                row = {
                    "recording": meeting.name,
                    "duration_s": round(meeting.duration, 1),
                    "speakers": meeting.num_speakers,
                    "speakers_over_2s": speakers_over(meeting, 2.0),
                    "speakers_found": found,
                    "count_right": found == meeting.num_speakers,
                    "der_collar_0.25": {
                        "speaker_turns": der(meeting, turns, 0.25),
                        "segments": der(meeting, segments, 0.25),
                    },
                    "der_collar_0": {
                        "speaker_turns": der(meeting, turns, 0.0),
                        "segments": der(meeting, segments, 0.0),
                    },
                }
                log(json.dumps(row))
                rows[kind].append(row)

    def summary(kind: str) -> dict:
        chosen = rows[kind]
        if not chosen:
            return {}
        return {
            "count_right": f"{sum(r['count_right'] for r in chosen)}/{len(chosen)}",
            "count_right_speakers_over_2s": (
                f"{sum(r['speakers_found'] == r['speakers_over_2s'] for r in chosen)}/{len(chosen)}"
            ),
            "der_collar_0.25_mean": {
                who: round(float(np.mean([r["der_collar_0.25"][who] for r in chosen])), 4)
                for who in ("speaker_turns", "segments")
            },
        }

    return {
        "benchmark": "diarization-turns",
        "model": model,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        **rows,
        "summary": {kind: summary(kind) for kind in rows},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--long-minutes", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true", help="three short meetings, no long one")
    parser.add_argument(
        "--turns", action="store_true", help="DER of speaker_turns vs segments, real apart"
    )
    parser.add_argument("--model", default="tiny.en", help="Whisper model for --turns")
    parser.add_argument(
        "--only",
        action="append",
        choices=("real", "conversations", "generated"),
        help="with --turns: run only this set of recordings (repeatable; default all)",
    )
    args = parser.parse_args()

    # OpenMP threads spin while waiting by default; on a machine shared with other work that
    # makes 2 threads far slower than 1. Must be set before torch loads its OpenMP runtime.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch.set_num_threads(args.threads)
    if args.turns:
        only = set(args.only or ("real", "conversations", "generated"))
        print(json.dumps(turns_report(args.model, args.quick, only), indent=2))
        return
    from reflector.diarization.campplus import SpeakerEmbedder
    from reflector.diarization.local import LocalDiarizer
    from reflector.vad import SileroVad

    meetings = load_meetings(args.long_minutes, args.quick)
    load_start = time.perf_counter()
    diarizer = LocalDiarizer()
    load_seconds = time.perf_counter() - load_start
    embedder = SpeakerEmbedder()
    vad = SileroVad(threads=args.threads)
    # Warm up oneDNN kernels so the first meeting is not charged for them.
    diarizer.diarize(
        meetings[0].samples[: 20 * 16_000], vad.speech_regions(meetings[0].samples[: 20 * 16_000])
    )

    rows = []
    for meeting in meetings:
        log(f"{meeting.name}: {meeting.duration:.0f} s, {meeting.num_speakers} speakers")
        vad_start = time.perf_counter()
        regions = vad.speech_regions(meeting.samples)
        vad_seconds = time.perf_counter() - vad_start
        ours = run_ours(diarizer, meeting, regions)
        base = run_baseline(embedder, meeting, regions)
        row = {"meeting": meeting.name, "duration_s": round(meeting.duration, 1)}
        row["speakers"] = meeting.num_speakers
        row["real_voices"] = meeting.name == "pocketsphinx-voices"
        row["vad_rtf"] = round(vad_seconds / meeting.duration, 4)
        for name, run in (("ours", ours), ("baseline", base)):
            row[name] = {
                "speakers_found": run.speakers,
                "der_collar_0.25": der(meeting, run.turns, 0.25),
                "der_collar_0": der(meeting, run.turns, 0.0),
                "rtf": round(run.wall / meeting.duration, 4),
                "cpu_seconds_per_audio_second": round(run.cpu / meeting.duration, 4),
            }
        log(json.dumps(row))
        rows.append(row)

    def mean(key: str, who: str, rows=rows) -> float:
        return round(float(np.mean([r[who][key] for r in rows])), 4)

    generated = [r for r in rows if not r["real_voices"]]
    three_four = [r for r in generated if r["speakers"] in (3, 4)]
    longest = max(generated, key=lambda r: r["duration_s"])
    correct = sum(r["ours"]["speakers_found"] == r["speakers"] for r in rows)
    summary = {
        "der_collar_0.25_mean": {w: mean("der_collar_0.25", w) for w in ("ours", "baseline")},
        "der_collar_0_mean": {w: mean("der_collar_0", w) for w in ("ours", "baseline")},
        "der_collar_0.25_max_3_4_speakers_generated": max(
            r["ours"]["der_collar_0.25"] for r in three_four
        ),
        "speaker_count_correct": f"{correct}/{len(rows)}",
        "rtf_longest_meeting": {
            "meeting": longest["meeting"],
            "ours": longest["ours"]["rtf"],
            "baseline": longest["baseline"]["rtf"],
        },
        "rtf_ratio_ours_over_baseline": round(
            sum(r["ours"]["rtf"] * r["duration_s"] for r in rows)
            / sum(r["baseline"]["rtf"] * r["duration_s"] for r in rows),
            3,
        ),
        "der_ratio_ours_over_baseline_collar_0.25": round(
            mean("der_collar_0.25", "ours") / max(mean("der_collar_0.25", "baseline"), 1e-9), 3
        ),
        "goals": {
            "rtf<=0.1": longest["ours"]["rtf"] <= GOAL_RTF,
            "der<=0.08_on_3_4_speakers": all(
                r["ours"]["der_collar_0.25"] <= GOAL_DER for r in three_four
            ),
            "count_correct_on_all": all(r["ours"]["speakers_found"] == r["speakers"] for r in rows),
        },
    }
    report = {
        "benchmark": "diarization",
        "machine": {
            "cpus": os.cpu_count(),
            "threads": args.threads,
            "platform": platform.platform(),
        },
        "model_load_s": round(load_seconds, 2),
        "der_collar_note": "collar 0.25 = ±0.25 s around boundaries (pyannote collar=0.5)",
        "baseline": "fixed 1.5 s windows, same CAM++ embeddings, k-means with the true k",
        "meetings": rows,
        "summary": summary,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

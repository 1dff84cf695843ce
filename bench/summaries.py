"""Benchmark: meeting intelligence per backend, in seconds per hour of meeting, with fact recall.

Usage (from the repository root)::

    .venv/bin/python bench/summaries.py [--minutes 60] [--seed 1]
        [--backends extractive,local,openai] [--model qwen2.5-coder-0.5b] [--threads 0]

Generates a meeting with planted facts (``reflector_testkit.meeting_scripts``: decisions with a
date or number, next steps with owner and weekday deadline, names revealed by introductions and
addresses), then summarises it with each backend, each run in this process after a warm-up load:

* ``extractive``: no model; also the **baseline** every other backend is compared with
  (``seconds_ratio`` and ``recall_delta``);
* ``local``: the GGUF in process via llama.cpp;
* ``openai``: the same GGUF behind ``python -m llama_cpp.server`` on 127.0.0.1, through the
  OpenAI-compatible backend (HTTP and JSON overhead on top of ``local``).

Each result has the processing time, seconds per hour of meeting, LLM calls and tokens, fallbacks,
and the fact score: recall of decisions and owned next steps, names, invented names and dates.
The goal for ``local`` is an hour of meeting in at most 180 s on 2 cores. Prints one JSON object
on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

from reflector.intelligence import (
    ExtractiveWriter,
    LlmWriter,
    MeetingSummary,
    MeetingWriter,
    summarize_meeting,
)
from reflector.llm import (
    DEFAULT_LLM,
    LlamaCppChat,
    LlamaCppOptions,
    OpenAiChat,
    OpenAiOptions,
    resolve_gguf,
)
from reflector_testkit.llama import LlamaServer
from reflector_testkit.meeting_scripts import (
    SyntheticMeeting,
    generate_meeting,
    score_meeting_summary,
)

ROOT = Path(__file__).resolve().parent.parent

GOAL_SECONDS_PER_HOUR = 180.0
BASELINE = "extractive"


def log(message: str) -> None:
    print(f"[summaries] {message}", file=sys.stderr, flush=True)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # this process, all its threads
    return usage.ru_utime + usage.ru_stime


def run_backend(
    writer: MeetingWriter, meeting: SyntheticMeeting, threads: int
) -> dict[str, object]:
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    summary: MeetingSummary = summarize_meeting(meeting.transcript, writer)
    seconds = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_started
    hours = meeting.transcript.duration / 3600
    score = score_meeting_summary(meeting, summary)
    return {
        "writer": summary.backend,
        "seconds": round(seconds, 2),
        "seconds_per_hour": round(seconds / hours, 1),
        # CPU time of this process (for the openai backend the server's work is not in it):
        # with other load on the machine, cpu_seconds / threads estimates the time alone.
        "cpu_seconds": round(cpu, 1),
        "seconds_per_hour_alone_estimate": round(cpu / threads / hours, 1),
        "topics": len(summary.topics),
        "title": summary.title,
        "llm": summary.usage.model_dump(),
        "fallbacks": len([n for n in summary.notes if not n.startswith("dropped")]),
        "dropped_claims": len([n for n in summary.notes if n.startswith("dropped")]),
        "score": score.as_dict(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backends", default="extractive,local,openai")
    parser.add_argument("--model", default=DEFAULT_LLM, help="bundled LLM name or .gguf path")
    parser.add_argument("--threads", type=int, default=0, help="0: all cores")
    parser.add_argument("--context", type=int, default=4096)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "bench" / "out" / "data")
    args = parser.parse_args()
    threads = args.threads or os.cpu_count() or 1
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]

    meeting = generate_meeting(args.seed, minutes=args.minutes)
    transcript = meeting.transcript
    log(
        f"meeting: {transcript.duration / 60:.1f} min, {len(transcript.words)} words, "
        f"{len(meeting.subjects)} subjects, {len(meeting.decisions)} decisions, "
        f"{len(meeting.actions)} next steps"
    )
    results: dict[str, dict[str, object]] = {}
    load_seconds: dict[str, float] = {}
    model_path: Path | None = None
    if any(b in backends for b in ("local", "openai")):
        started = time.perf_counter()
        model_path = resolve_gguf(args.model, args.data_dir).path
        load_seconds["assemble_or_find"] = round(time.perf_counter() - started, 2)

    for backend in [BASELINE, *[b for b in backends if b != BASELINE]]:
        log(f"running {backend}")
        server: LlamaServer | None = None
        started = time.perf_counter()
        if backend == "extractive":
            writer: MeetingWriter = ExtractiveWriter()
        elif backend == "local":
            assert model_path is not None
            chat = LlamaCppChat(
                model_path, LlamaCppOptions(context_tokens=args.context, threads=threads)
            )
            writer = LlmWriter(chat, backend="local")
        elif backend == "openai":
            assert model_path is not None
            server = LlamaServer(
                model_path, threads, args.context, batch_threads=threads, start_timeout=120
            )
            writer = LlmWriter(
                OpenAiChat(OpenAiOptions(base_url=server.base_url, model="bundled", timeout=600)),
                backend="openai",
            )
        else:
            raise SystemExit(f"unknown backend {backend!r}")
        load_seconds[backend] = round(time.perf_counter() - started, 2)
        try:
            results[backend] = run_backend(writer, meeting, threads)
        finally:
            if server:
                server.close()
        log(f"{backend}: {json.dumps(results[backend])}")

    baseline = results[BASELINE]
    for result in results.values():
        result["seconds_ratio"] = round(
            float(result["seconds"]) / max(float(baseline["seconds"]), 1e-6), 1
        )
        result["recall_delta"] = round(
            float(result["score"]["fact_recall"]) - float(baseline["score"]["fact_recall"]), 3
        )
    local = results.get("local")
    print(
        json.dumps(
            {
                "machine": {
                    "cpus": os.cpu_count(),
                    "load_average_1m_at_end": round(os.getloadavg()[0], 2),
                    "threads": threads,
                    "python": platform.python_version(),
                    "processor": platform.processor() or platform.machine(),
                },
                "meeting": {
                    "minutes": round(transcript.duration / 60, 1),
                    "words": len(transcript.words),
                    "seed": args.seed,
                    "subjects": len(meeting.subjects),
                    "planted_decisions": len(meeting.decisions),
                    "planted_next_steps": len(meeting.actions),
                    "speakers": len(meeting.participants),
                },
                "model": args.model,
                "context_tokens": args.context,
                "baseline": BASELINE,
                "load_seconds": load_seconds,
                "results": results,
                "goal": {
                    "local_seconds_per_hour_max": GOAL_SECONDS_PER_HOUR,
                    "met": None
                    if local is None
                    else float(local["seconds_per_hour"]) <= GOAL_SECONDS_PER_HOUR,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

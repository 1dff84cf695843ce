"""Benchmark: how fast the web app's heaviest pages come up in Chromium, and what it ships.

Usage (from the repository root, after ``bash scripts/install.sh --dev``)::

    .venv/bin/python bench/web_pages.py            # 10,000 transcripts, 5 loads of each page
    .venv/bin/python bench/web_pages.py --quick    # 1,000 transcripts, 2 loads of each page

A fresh SQLite database gets the generated transcripts of ``bench/api.py`` (inserted in bulk)
and one long meeting: 2 hours, 18,000 words in about 1,500 segments, 6 named speakers (no
audio, so no player). The real server (``reflector serve``) runs on 127.0.0.1 and Debian's
``chromium`` (headless, through Playwright) opens, in a new browser context each time:

* ``transcript``: the long meeting's page. ``interactive_ms`` is from the start of the
  navigation until every word is in the page (the moment the last word's element is attached,
  by the page's own clock: a mutation observer) and the main thread has had no task over 50 ms
  for 0.5 s after that (the page answers input from then on); ``longest_task_ms`` is the
  longest main-thread task while loading. Then the page is scrolled from top to bottom in
  steps of one screen: ``scroll_long_tasks`` counts the tasks over 50 ms while scrolling.
* ``browse``: the home page: ``first_page_ms`` from the start of the navigation until the
  first page of transcripts (20 cards) is in the page, by the page's clock too.

``bundle`` is the JavaScript and CSS the first page loads (the files ``index.html`` names),
each gzipped at level 9, against the budget of 250 KB. Prints one JSON object on stdout
(medians over the loads, and each load); progress goes to stderr. The temporary directory is
removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api import build_database, generate_corpus  # bench/api.py, beside this one

from reflector.api.webapp import WEB_DIST
from reflector.db import repository
from reflector.db.engine import make_engine, make_sessionmaker
from reflector.db.tables import ParticipantRow, TranscriptRow
from reflector.domain.transcript import Segment, Word
from reflector_testkit.browser import chromium
from reflector_testkit.machine import machine_report
from reflector_testkit.servers import running_server, wait_for_live_models

BUDGET_KB = 250
LONG_WORDS = 18_000
LONG_SECONDS = 2 * 3600
SPEAKERS = ("Ana", "Ben", "Chloe", "David", "Emma", "Farid")
VOCABULARY = (
    "we",
    "the",
    "budget",
    "needs",
    "a",
    "review",
    "before",
    "Friday",
    "and",
    "team",
    "agreed",
    "to",
    "move",
    "customers",
    "new",
    "billing",
    "plan",
    "while",
    "support",
    "keeps",
    "old",
    "invoices",
    "open",
    "until",
    "March",
    "so",
    "nobody",
    "loses",
    "access",
    "during",
    "migration",
)


def log(message: str) -> None:
    print(f"[web_pages] {message}", file=sys.stderr, flush=True)


def long_meeting(seed: int) -> list[Segment]:
    """18,000 words over two hours: turns of one to three sentences by six speakers."""
    rng = random.Random(seed)
    step = LONG_SECONDS / LONG_WORDS
    segments: list[Segment] = []
    made = 0
    speaker = 0
    while made < LONG_WORDS:
        if rng.random() < 0.4:
            speaker = rng.randrange(len(SPEAKERS))
        count = min(rng.randint(6, 18), LONG_WORDS - made)
        words = []
        for i in range(count):
            start = (made + i) * step
            text = rng.choice(VOCABULARY)
            if i == count - 1:
                text += "."
            words.append(
                Word(
                    text=(" " if i else "") + text,
                    start=start,
                    end=start + step * 0.8,
                    speaker=speaker,
                )
            )
        made += count
        text = "".join(w.text for w in words)
        segments.append(
            Segment(
                text=text, speaker=speaker, start=words[0].start, end=words[-1].end, words=words
            )
        )
    return segments


async def _add_long(url: str, segments: list[Segment]) -> str:
    transcript_id = uuid.uuid4().hex
    now = datetime.now(UTC)
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(TranscriptRow),
                [
                    {
                        "id": transcript_id,
                        "user_id": repository.LOCAL_USER_ID,
                        "name": "Two-hour planning meeting",
                        "status": "ended",
                        "source": "file",
                        "source_language": "en",
                        "title": "Two-hour planning meeting",
                        "short_summary": "Six people planned the billing migration.",
                        "long_summary": "## Plan\nThe team agreed on the migration plan.",
                        "duration": float(LONG_SECONDS),
                        "share_mode": "private",
                        "locked": False,
                        "reviewed": False,
                        "notes": [],
                        "created_at": now,
                        "updated_at": now,
                    }
                ],
            )
            await connection.execute(
                insert(ParticipantRow),
                [
                    {
                        "id": uuid.uuid4().hex,
                        "transcript_id": transcript_id,
                        "speaker": i,
                        "name": name,
                        "confidence": 1.0,
                        "source": "user",
                        "evidence": [],
                    }
                    for i, name in enumerate(SPEAKERS)
                ],
            )
        sessions = make_sessionmaker(engine)
        async with sessions() as session:
            await repository.replace_segments(session, transcript_id, segments)
            await session.commit()
    finally:
        await engine.dispose()
    return transcript_id


# Long tasks, from the start of the navigation: a PerformanceObserver set up before any of the
# page's own scripts runs.
_OBSERVE = """
window.__long = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__long.push([entry.startTime, entry.duration]);
}).observe({ type: 'longtask', buffered: true });
"""


# When the last word went into the page, by the page's own clock: read after the fact, a
# selector that Playwright polls for is seen 250-400 ms after it appears.
_SHOWN = """
window.__rendered = null;
new MutationObserver((changes, observer) => {
  if (%s) {
    window.__rendered = performance.now();
    observer.disconnect();
  }
}).observe(document, { subtree: true, childList: true });
"""


def transcript_load(browser, base: str, transcript_id: str) -> dict:
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 800})
    context.add_init_script(_OBSERVE)
    last_word = f"document.querySelector('.segments [data-w=\"{LONG_WORDS - 1}\"]')"
    context.add_init_script(_SHOWN % last_word)
    page = context.new_page()
    try:
        page.goto(f"/transcripts/{transcript_id}")
        page.wait_for_function("() => window.__rendered !== null", timeout=120_000)
        rendered = page.evaluate("window.__rendered")
        # Quiet: 0.5 s with no task over 50 ms.
        while True:
            page.wait_for_timeout(500)
            now = page.evaluate("performance.now()")
            tasks = page.evaluate("window.__long")
            end = max((s + d for s, d in tasks), default=0.0)
            if now - end >= 500:
                break
        interactive = max(rendered, end)
        longest = max((d for _, d in tasks), default=0.0)
        before = len(tasks)
        height = page.evaluate("document.documentElement.scrollHeight")
        steps = 0
        for _ in range(0, height, 700):
            page.mouse.wheel(0, 700)
            page.wait_for_timeout(50)
            steps += 1
        page.wait_for_timeout(300)
        scrolled = page.evaluate("window.__long")[before:]
        return {
            "rendered_ms": round(rendered, 1),
            "interactive_ms": round(interactive, 1),
            "longest_task_ms": round(longest, 1),
            "scroll_steps": steps,
            "scroll_long_tasks": len(scrolled),
            "scroll_longest_task_ms": round(max((d for _, d in scrolled), default=0.0), 1),
            "dom_nodes": page.evaluate("document.getElementsByTagName('*').length"),
        }
    finally:
        context.close()


def browse_load(browser, base: str) -> dict:
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 800})
    context.add_init_script(_SHOWN % "document.querySelectorAll('li.card').length >= 20")
    page = context.new_page()
    try:
        page.goto("/")
        page.wait_for_function("() => window.__rendered !== null")
        return {"first_page_ms": round(page.evaluate("window.__rendered"), 1)}
    finally:
        context.close()


def bundle() -> dict:
    html = (WEB_DIST / "index.html").read_text()
    files = re.findall(r'(?:src|href)="/?(assets/[^"]+\.(?:js|css))"', html)
    sizes = {
        name: len(gzip.compress((WEB_DIST / name).read_bytes(), compresslevel=9)) for name in files
    }
    total = sum(sizes.values())
    return {
        "files_gzip_bytes": sizes,
        "total_gzip_kb": round(total / 1000, 1),
        "budget_kb": BUDGET_KB,
        "within_budget": total <= BUDGET_KB * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 transcripts, 2 loads")
    args = parser.parse_args()
    count, loads = (1_000, 2) if args.quick else (10_000, 5)
    load_before = os.getloadavg()[0]
    if not (WEB_DIST / "index.html").is_file():
        sys.exit("the web app is not built: run `bash scripts/install.sh --dev`")

    with tempfile.TemporaryDirectory(prefix="reflector-web-bench-") as folder:
        data_dir = Path(folder)
        url = f"sqlite:///{data_dir / 'reflector.db'}"
        log(f"filling the database with {count} transcripts and a 2-hour meeting")
        started = time.perf_counter()
        build_database(url, generate_corpus(count, seed=7))
        long_id = asyncio.run(_add_long(url, long_meeting(seed=7)))
        log(f"filled in {time.perf_counter() - started:.1f} s; starting the server")
        with running_server(data_dir, url) as server, chromium() as browser:
            wait_for_live_models(server.base_url)  # their loading would take the CPU
            transcript_load(browser, server.base_url, long_id)  # warm: caches, JIT
            browse_load(browser, server.base_url)
            transcript = []
            browse = []
            for n in range(loads):
                log(f"load {n + 1} of {loads}")
                transcript.append(transcript_load(browser, server.base_url, long_id))
                browse.append(browse_load(browser, server.base_url))

    def median(rows: list[dict], key: str) -> float:
        return round(statistics.median(row[key] for row in rows), 1)

    print(
        json.dumps(
            {
                "machine": machine_report(load_before),
                "transcripts": count,
                "transcript_page": {
                    "words": LONG_WORDS,
                    "speakers": len(SPEAKERS),
                    "interactive_ms": median(transcript, "interactive_ms"),
                    "rendered_ms": median(transcript, "rendered_ms"),
                    "longest_task_ms": median(transcript, "longest_task_ms"),
                    "scroll_long_tasks": median(transcript, "scroll_long_tasks"),
                    "scroll_longest_task_ms": median(transcript, "scroll_longest_task_ms"),
                    "loads": transcript,
                },
                "browse_page": {
                    "first_page_ms": median(browse, "first_page_ms"),
                    "loads": browse,
                },
                "bundle": bundle(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

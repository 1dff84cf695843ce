"""Benchmark: a browser upload through the web app's New page, against httpx on the same API.

Usage (from the repository root, after ``bash scripts/install.sh --dev``)::

    .venv/bin/python bench/web_upload.py            # 1 GiB, and 100 MiB for the memory ratio
    .venv/bin/python bench/web_upload.py --quick    # 200 MiB and 20 MiB

A file of random bytes named ``meeting.wav`` is written to a temporary directory, and a real
``reflector serve`` (empty SQLite database, default chunk size) runs on 127.0.0.1. Debian's
``chromium`` (headless, through Playwright) opens ``/new``, is given the file and presses
*Upload and transcribe*: the page sends it as the app always does (``PUT …?offset=`` chunks of
``min(32 MiB, the server's chunk size)`` by XMLHttpRequest, each with its SHA-256 from the
browser's own digest, the next chunk hashed while one goes out). ``seconds`` runs from the start
of the first chunk's request to the end of the last chunk's response (the browser's own Resource
Timing); the server then refuses the file at ``complete`` (not audio), which is not measured.
The browser's memory is the RSS of every Chromium process of the run, summed, sampled every 50
ms: ``growth_mb`` is its peak minus its value before the upload. The small upload is the
baseline for the memory: a flat memory gives about the same growth for a file ten times larger.

The baseline for the speed, in the same run and against the same server: httpx sending the same
file in the same chunks through the same API (each chunk read from disk, then PUT). Prints one
JSON object on stdout; progress goes to stderr. The temporary directory is removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from reflector.api.webapp import WEB_DIST
from reflector_testkit.browser import chromium
from reflector_testkit.machine import machine_report, process_memory
from reflector_testkit.servers import ServeProcess, running_server, wait_for_live_models

MIB = 1024 * 1024
WEB_CHUNK = 32 * MIB
"""The web app's chunk (``CHUNK_BYTES`` in ``web/src/upload.ts``), below the server's 64 MiB."""
TARGET_MB_PER_S = 100.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def write_random(path: Path, size: int) -> None:
    with path.open("wb") as out:
        left = size
        while left:
            block = os.urandom(min(8 * MIB, left))
            out.write(block)
            left -= len(block)


def _descendants(root: int) -> list[int]:
    """Every process under ``root`` (from ``/proc``), however deep."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def chromium_rss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += process_memory(pid)["VmRSS"]
        except OSError:
            continue  # a process that ended
    return total


class BrowserMemory:
    """The summed RSS of this run's Chromium processes, sampled in a thread."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def pids() -> list[int]:
        chromium_pids = []
        for pid in _descendants(os.getpid()):
            try:
                name = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                continue
            if name.startswith("chrom"):
                chromium_pids.append(pid)
        return chromium_pids

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(chromium_rss(self.pids()))
            self._stop.wait(self.interval)

    def __enter__(self) -> BrowserMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# The chunks' Resource Timing entries: first start to last response end, and how many.
CHUNK_TIMING = """() => {
  const chunks = performance.getEntriesByType('resource')
    .filter((e) => /\\/uploads\\/[^/?]+\\?offset=\\d+$/.test(e.name));
  if (!chunks.length) return null;
  return {
    count: chunks.length,
    start: Math.min(...chunks.map((e) => e.startTime)),
    end: Math.max(...chunks.map((e) => e.responseEnd)),
  };
}"""


def browser_upload(browser, server: ServeProcess, path: Path) -> dict:
    size = path.stat().st_size
    context = browser.new_context(base_url=server.base_url)
    try:
        page = context.new_page()
        page.goto("/new")
        page.get_by_role("heading", name="New transcript").wait_for()
        page.locator("#file").set_input_files(str(path))
        rss_before = chromium_rss(BrowserMemory.pids())
        completed = page.expect_response(lambda r: r.url.endswith("/complete"), timeout=600_000)
        with BrowserMemory() as memory, completed:
            page.get_by_role("button", name="Upload and transcribe").click()
        timing = page.evaluate(CHUNK_TIMING)
    finally:
        context.close()
    seconds = (timing["end"] - timing["start"]) / 1000
    return {
        "size_mib": round(size / MIB, 1),
        "chunks": timing["count"],
        "seconds": round(seconds, 2),
        "mb_per_s": round(size / 1e6 / seconds, 1),
        "mib_per_s": round(size / MIB / seconds, 1),
        **_memory(rss_before, memory.samples),
    }


def _memory(before: int, samples: list[int]) -> dict:
    """Peak and growth, and the course of the RSS in ten steps (flat or climbing?)."""
    peak = max(samples, default=before)
    step = max(1, len(samples) // 10)
    return {
        "browser_rss_before_mb": round(before / MIB, 1),
        "browser_peak_rss_mb": round(peak / MIB, 1),
        "browser_growth_mb": round((peak - before) / MIB, 1),
        "browser_rss_course_mb": [round(rss / MIB) for rss in samples[::step]],
        "memory_samples": len(samples),
    }


# The same chunks PUT by the page's own script, with nothing else: what the browser itself
# manages, without the app's progress, retries and checksum worker.
RAW_UPLOAD = """async (chunk) => {
  const file = document.querySelector('#bench-file').files[0];
  const json = { 'Content-Type': 'application/json' };
  const post = async (url, body) =>
    (await fetch(url, { method: 'POST', headers: json, body: JSON.stringify(body) })).json();
  const transcript = await post('/v1/transcripts', { name: 'raw upload' });
  const upload = await post(`/v1/transcripts/${transcript.id}/uploads`,
    { filename: file.name, size: file.size });
  const url = `/v1/transcripts/${transcript.id}/uploads/${upload.id}`;
  const started = performance.now();
  let offset = 0, chunks = 0;
  while (offset < file.size) {
    const answer = await fetch(`${url}?offset=${offset}`,
      { method: 'PUT', body: file.slice(offset, offset + chunk) });
    offset = (await answer.json()).received;
    chunks += 1;
  }
  const seconds = (performance.now() - started) / 1000;
  await fetch(`/v1/transcripts/${transcript.id}?permanent=true`, { method: 'DELETE' });
  return { seconds, chunks };
}"""


def browser_raw_upload(browser, server: ServeProcess, path: Path) -> dict:
    size = path.stat().st_size
    context = browser.new_context(base_url=server.base_url)
    try:
        page = context.new_page()
        page.goto("/new")
        page.evaluate(
            "() => { const input = document.createElement('input');"
            " input.type = 'file'; input.id = 'bench-file'; input.hidden = true;"
            " document.body.append(input); }"
        )
        page.locator("#bench-file").set_input_files(str(path))
        rss_before = chromium_rss(BrowserMemory.pids())
        with BrowserMemory() as memory:
            result = page.evaluate(RAW_UPLOAD, WEB_CHUNK)
    finally:
        context.close()
    seconds = result["seconds"]
    return {
        "size_mib": round(size / MIB, 1),
        "chunks": result["chunks"],
        "seconds": round(seconds, 2),
        "mb_per_s": round(size / 1e6 / seconds, 1),
        "mib_per_s": round(size / MIB / seconds, 1),
        **_memory(rss_before, memory.samples),
    }


def httpx_upload(server: ServeProcess, path: Path) -> dict:
    size = path.stat().st_size
    with httpx.Client(base_url=server.base_url, timeout=600) as client:
        created = client.post("/v1/transcripts", json={"name": "httpx upload"})
        created.raise_for_status()
        tid = created.json()["id"]
        opened = client.post(
            f"/v1/transcripts/{tid}/uploads", json={"filename": path.name, "size": size}
        )
        opened.raise_for_status()
        upload = opened.json()["id"]
        started = time.perf_counter()
        offset = 0
        chunks = 0
        with path.open("rb") as source:
            while offset < size:
                source.seek(offset)
                answer = client.put(
                    f"/v1/transcripts/{tid}/uploads/{upload}",
                    params={"offset": offset},
                    content=source.read(WEB_CHUNK),
                )
                answer.raise_for_status()
                offset = answer.json()["received"]
                chunks += 1
        seconds = time.perf_counter() - started
        client.delete(f"/v1/transcripts/{tid}", params={"permanent": "true"})
    return {
        "size_mib": round(size / MIB, 1),
        "chunks": chunks,
        "seconds": round(seconds, 2),
        "mb_per_s": round(size / 1e6 / seconds, 1),
        "mib_per_s": round(size / MIB / seconds, 1),
    }


def _clean(data_dir: Path) -> None:
    for leftover in (data_dir / "uploads").glob("*.part"):
        leftover.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 MiB and 20 MiB")
    parser.add_argument("--mib", type=int, help="the large upload; default 1024 (--quick: 200)")
    parser.add_argument("--small-mib", type=int, help="default 100 (--quick: 20)")
    args = parser.parse_args()
    large = (args.mib or (200 if args.quick else 1024)) * MIB
    small = (args.small_mib or (20 if args.quick else 100)) * MIB
    if not (WEB_DIST / "index.html").is_file():
        sys.exit("the web app is not built: run `bash scripts/install.sh --dev`")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="reflector-web-upload-") as tmp:
        folder = Path(tmp)
        files = {}
        for label, size in (("small", small), ("large", large)):
            files[label] = folder / label / "meeting.wav"
            files[label].parent.mkdir()
            log(f"writing {size / MIB:.0f} MiB of random bytes")
            write_random(files[label], size)
        data_dir = folder / "data"
        data_dir.mkdir()
        with running_server(data_dir, None) as server, chromium() as browser:
            wait_for_live_models(server.base_url)  # their loading would take the CPU
            log("warm-up: a 4 MiB browser upload")
            warm = folder / "warm" / "meeting.wav"
            warm.parent.mkdir()
            write_random(warm, 4 * MIB)
            browser_upload(browser, server, warm)
            results: dict[str, dict] = {}
            for label in ("small", "large"):
                log(f"browser upload: {label}")
                results[f"browser_{label}"] = browser_upload(browser, server, files[label])
                log(json.dumps(results[f"browser_{label}"]))
                _clean(data_dir)
            log("browser upload without the app: large (baseline)")
            results["browser_raw_large"] = browser_raw_upload(browser, server, files["large"])
            log(json.dumps(results["browser_raw_large"]))
            _clean(data_dir)
            log("httpx upload: large (baseline)")
            results["httpx_large"] = httpx_upload(server, files["large"])
            log(json.dumps(results["httpx_large"]))
            _clean(data_dir)
    browser_large, browser_small = results["browser_large"], results["browser_small"]
    print(
        json.dumps(
            {
                "benchmark": "web_upload",
                "machine": machine_report(load_before),
                "chunk_mib": WEB_CHUNK // MIB,
                **results,
                "browser_over_raw_browser_speed": round(
                    browser_large["mb_per_s"] / results["browser_raw_large"]["mb_per_s"], 3
                ),
                "browser_over_httpx_speed": round(
                    browser_large["mb_per_s"] / results["httpx_large"]["mb_per_s"], 3
                ),
                "browser_growth_ratio_large_over_small": round(
                    browser_large["browser_growth_mb"]
                    / max(browser_small["browser_growth_mb"], 1.0),
                    2,
                ),
                "size_ratio_large_over_small": round(large / small, 1),
                "target_mb_per_s": TARGET_MB_PER_S,
                "meets_target": browser_large["mb_per_s"] >= TARGET_MB_PER_S,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

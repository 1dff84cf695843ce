"""The web app, served by the real server: its routes, and its pages in a real browser.

The browser tests drive Debian's ``chromium`` (Playwright for Python, never a downloaded browser)
against ``reflector serve`` on 127.0.0.1, with a two-voice meeting uploaded and processed through
the API (tiny.en, extractive summaries). Every page is also saved as a screenshot, desktop and
phone width, light and dark, under ``.cache/screenshots/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from reflector.api.app import create_app
from reflector.api.webapp import NOT_BUILT_PAGE, WEB_DIST, install_web_app
from reflector.audio import write_wav
from reflector.settings import Settings
from reflector_testkit.browser import WatchedPage, chromium
from reflector_testkit.meetings import VOICES, Clip, VoiceBank, compose_meeting
from reflector_testkit.servers import running_server

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / ".cache" / "screenshots"
SCRIPT = (
    (0, "Good morning everyone. I'm Daniel, and today we plan the billing migration."),
    (1, "Thanks, Daniel. Hi, I'm Maria. The invoice converter is almost finished."),
    (0, "Great. We agreed to move the remaining customers before the end of March."),
    (1, "I will send the customer notice with the newsletter on Friday."),
)
MEETING_NAME = "Billing sync"


# --- the route, without a browser ----------------------------------------------------------


def _dist(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>app</title>")
    (dist / "assets" / "app-1234.js").write_text("export {};")
    (dist / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("not served")
    return dist


def test_app_files_and_page_paths_are_served_with_their_caching(tmp_path):
    app = FastAPI()
    install_web_app(app, _dist(tmp_path))
    client = TestClient(app)
    page = client.get("/transcripts/abc")
    assert page.status_code == 200 and "<title>app</title>" in page.text
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    script = client.get("/assets/app-1234.js")
    assert script.status_code == 200 and "immutable" in script.headers["cache-control"]
    assert script.headers["content-type"].startswith("text/javascript")
    assert client.get("/favicon.svg").headers["content-type"] == "image/svg+xml"
    # A missing asset is a 404, not the page (a browser would run HTML as a script).
    assert client.get("/assets/gone.js").status_code == 404
    # Nothing outside the folder, however the path is spelled.
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt"):
        answer = client.get(path)
        assert "not served" not in answer.text
    assert client.head("/").status_code == 200


def test_each_page_load_gets_its_own_style_nonce(tmp_path):
    """The waveform player styles its shadow DOM with one `<style>` element: the page's
    Content-Security-Policy lets in only a style carrying this load's nonce."""
    dist = _dist(tmp_path)
    (dist / "index.html").write_text("<!doctype html><html><head><title>app</title></head></html>")
    app = FastAPI()
    install_web_app(app, dist)
    client = TestClient(app)
    nonces = []
    for path in ("/", "/index.html", "/transcripts/abc", "/transcripts/abc"):
        page = client.get(path)
        meta = re.search(r'<meta name="csp-nonce" content="([A-Za-z0-9_-]{20,})" />', page.text)
        assert meta, page.text
        policy = page.headers["content-security-policy"]
        assert policy.endswith(f"style-src 'self' 'nonce-{meta.group(1)}'")
        assert "default-src 'self'" in policy and "unsafe-inline" not in policy
        assert page.headers["cache-control"] == "no-cache"
        nonces.append(meta.group(1))
    assert len(set(nonces)) == len(nonces)
    # Files are served as they are.
    script = client.get("/assets/app-1234.js")
    assert "nonce" not in script.headers.get("content-security-policy", "")


def test_without_a_build_the_page_says_how_to_build_it(tmp_path):
    app = FastAPI()
    install_web_app(app, tmp_path / "missing")
    answer = TestClient(app).get("/")
    assert answer.status_code == 503
    assert answer.text == NOT_BUILT_PAGE
    assert "bash scripts/install.sh" in answer.text and answer.text.count("\n") == 1


def test_the_app_never_shadows_the_server_routes(tmp_path):
    with TestClient(create_app(Settings(data_dir=tmp_path, trusted_hosts=["testserver"]))) as c:
        missing = c.get("/v1/no-such-thing")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert c.get("/healthz").json()
        assert c.get("/openapi.json").json()["paths"]
        assert c.get("/docs").text.count("swagger-ui") >= 1
        # Writes and wrong methods answer as if the app were not there.
        assert c.post("/v1/no-such-thing").status_code == 404
        assert c.put("/v1/transcripts").status_code == 405
        assert c.post("/transcripts/abc").status_code == 404
        # Page paths get the app (or the line that says how to build it).
        page = c.get("/transcripts/abc")
        assert page.headers["content-type"].startswith("text/html")
        assert "content-security-policy" in page.headers


def test_api_types_cover_every_route_of_the_server(tmp_path):
    """`web/src/api/schema.d.ts` is generated (`npm run gen:api`); a new route or export format
    the server has but the committed types lack means they are stale."""
    schema = create_app(Settings(data_dir=tmp_path)).openapi()
    types = (REPO / "web" / "src" / "api" / "schema.d.ts").read_text()
    missing = [path for path in schema["paths"] if f'"{path}"' not in types]
    assert not missing, f"run `npm run gen:api` in web/: {missing}"
    formats = (REPO / "web" / "src" / "api" / "exportFormats.ts").read_text()
    assert json.dumps(_export_formats(schema), separators=(",", ":")) in formats


def _export_formats(schema: dict) -> list[str]:
    operation = schema["paths"]["/v1/transcripts/{transcript_id}/export"]["get"]
    pattern = next(p for p in operation["parameters"] if p["name"] == "format")["schema"]
    return re.fullmatch(r"\^\((.*)\)\$", pattern["pattern"]).group(1).split("|")


def test_the_built_page_has_no_inline_script_or_style():
    """The server's Content-Security-Policy allows only its own files."""
    index = WEB_DIST / "index.html"
    if not index.is_file():
        pytest.fail("the web app is not built: run `bash scripts/install.sh --dev`")
    html = index.read_text()
    assert "<style" not in html and "style=" not in html
    for tag in re.findall(r"<script[^>]*>", html):
        assert 'type="module"' in tag and "src=" in tag
    assert not re.search(r"https?://", html)


# --- in the browser -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def meeting_wav(audio_dir) -> Path:
    bank = VoiceBank()
    voices = (VOICES[0], VOICES[2])  # Piper's joe and eSpeak's rp-f2: clearly two people
    clips = [Clip(speaker, bank.speak(voices[speaker], text), text) for speaker, text in SCRIPT]
    return write_wav(compose_meeting(clips, seed=1).samples, audio_dir / "web_meeting.wav")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    if not (WEB_DIST / "index.html").is_file():
        pytest.fail("the web app is not built: run `bash scripts/install.sh --dev`")
    env = {
        "REFLECTOR_ASR_MODEL": "tiny.en",
        "REFLECTOR_ASR_BEAM_SIZE": "1",
        "REFLECTOR_LLM_BACKEND": "extractive",
    }
    with running_server(tmp_path_factory.mktemp("web-server"), None, env) as process:
        yield process.base_url


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


class Watched(WatchedPage):
    """A watched page (see ``WatchedPage``) that may download exports."""

    def __init__(self, browser, base_url: str, **options) -> None:
        super().__init__(browser, base_url, accept_downloads=True, **options)


AXE = REPO / "web" / "node_modules" / "axe-core" / "axe.min.js"
# What axe-core may find and still pass: minor and moderate issues are reported, not failed.
AXE_FAILS = ("serious", "critical")


def axe_violations(page) -> list[dict]:
    """axe-core (the pinned devDependency in web/package.json) run on the page as it is now:
    its violations, each with the first few elements it names."""
    if not AXE.is_file():
        pytest.fail("axe-core is missing: run `bash scripts/install.sh --dev`")
    if not page.evaluate("typeof window.axe === 'object'"):
        # Evaluated through the browser's debugging protocol rather than a `<script>` tag: the
        # page's Content-Security-Policy rightly refuses inline scripts, and stays on.
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;void 0")
    return page.evaluate(
        """async () => {
          // No preload: it would copy shadow roots' styles into new `<style>` elements, which the
          // page's Content-Security-Policy refuses (a console error of axe's, not the app's).
          const options = { resultTypes: ['violations'], preload: false };
          const result = await axe.run(document, options);
          return result.violations.map((v) => ({
            id: v.id,
            impact: v.impact,
            help: v.help,
            nodes: v.nodes.slice(0, 4).map((n) => `${n.target.join(' ')}: ${n.failureSummary}`),
          }));
        }"""
    )


def assert_accessible(page, name: str) -> None:
    """No serious or critical axe-core violation on the page (``name`` says which, when not)."""
    found = [v for v in axe_violations(page) if v["impact"] in AXE_FAILS]
    assert not found, f"{name}: " + json.dumps(found, indent=1)


@pytest.fixture
def watched(browser, server) -> Iterator[Watched]:
    session = Watched(browser, server, viewport={"width": 1280, "height": 800})
    yield session
    session.close()


@pytest.fixture(scope="module")
def meeting(server, meeting_wav, browser) -> dict:
    """Created through the API; the first browser test uploads it and watches it finish."""
    answer = httpx.post(f"{server}/v1/transcripts", json={"name": MEETING_NAME}, timeout=30)
    answer.raise_for_status()
    return {"id": answer.json()["id"], "wav": meeting_wav}


def _card(page, transcript_id: str):
    return page.locator(f'li.card[data-id="{transcript_id}"]')


def _wait_ended(server: str, transcript_id: str, timeout: float = 240.0) -> dict:
    import time

    deadline = time.monotonic() + timeout
    while True:
        body = httpx.get(f"{server}/v1/transcripts/{transcript_id}", timeout=30).json()
        if body["status"] in {"ended", "error"}:
            return body
        assert time.monotonic() < deadline, f"still {body['status']}"
        time.sleep(0.5)


@pytest.mark.slow
def test_browse_lists_the_transcript_and_follows_its_status_live(watched, server, meeting):
    page = watched.page
    page.goto("/")
    card = _card(page, meeting["id"])
    card.get_by_role("link", name=MEETING_NAME).wait_for()
    assert card.locator(".status").get_attribute("data-status") == "idle"
    # A mark that a reload would wipe out: the status must change on this very page.
    page.evaluate("window.__still_this_page = true")

    body = meeting["wav"].read_bytes()
    upload = httpx.post(
        f"{server}/v1/transcripts/{meeting['id']}/upload",
        params={"filename": "meeting.wav", "summarize": "true"},
        content=body,
        timeout=60,
    )
    assert upload.status_code == 200, upload.text
    page.wait_for_function(
        "id => document.querySelector(`li.card[data-id='${id}'] .status`)"
        "?.dataset.status === 'processing'",
        arg=meeting["id"],
        timeout=60_000,
    )
    ended = _wait_ended(server, meeting["id"])
    assert ended["status"] == "ended", ended
    page.wait_for_function(
        "id => document.querySelector(`li.card[data-id='${id}'] .status`)"
        "?.dataset.status === 'ended'",
        arg=meeting["id"],
        timeout=30_000,
    )
    assert page.evaluate("window.__still_this_page") is True
    # The finished transcript's title and duration replace its name.
    title = ended["title"] or MEETING_NAME
    card.get_by_role("link", name=title).wait_for()
    assert re.search(r"\d+:\d\d", card.locator(".meta").inner_text())

    # Search, by its label, with the matched words highlighted.
    page.get_by_role("searchbox", name="Search").fill("invoice converter")
    page.get_by_role("searchbox", name="Search").press("Enter")
    page.locator(".snippet mark").first.wait_for()
    marked = {m.lower() for m in page.locator(".snippet mark").all_inner_texts()}
    assert marked & {"invoice", "converter"}
    assert "q=invoice+converter" in page.url
    page.get_by_role("button", name="Clear search").click()
    _card(page, meeting["id"]).wait_for()

    # The status filter narrows the list.
    page.get_by_label("Status").select_option("error")
    page.get_by_text("No transcript is").wait_for()
    page.get_by_label("Status").select_option("ended")
    _card(page, meeting["id"]).wait_for()


@pytest.mark.slow
def test_transcript_page_shows_text_speakers_and_exports(watched, server, meeting, tmp_path):
    _wait_ended(server, meeting["id"])
    segments = httpx.get(f"{server}/v1/transcripts/{meeting['id']}/segments", timeout=30).json()
    speakers = {s["speaker"] for s in segments if s["speaker"] is not None}
    page = watched.page
    page.goto("/")
    _card(page, meeting["id"]).get_by_role("link").click()
    page.wait_for_url(f"**/transcripts/{meeting['id']}")
    page.locator("#transcript-heading").wait_for()
    text = page.locator(".segments").inner_text().lower()
    # The page shows every segment the API has (what the small model heard may vary by a word).
    assert "billing" in text
    for segment in segments:
        assert segment["text"].strip().lower() in text
    # One colour and one name per speaker, in the legend and on every segment.
    assert len(speakers) >= 2
    assert page.locator(".legend li").count() == len(speakers)
    names = set(page.locator(".segment .speaker-name").all_inner_texts())
    assert len(names) == len(speakers)
    assert page.locator(".segment.spk-0").count() and page.locator(".segment.spk-1").count()
    page.get_by_role("heading", name="Summary").wait_for()

    # The export menu lists every format the API has, and a download parses.
    schema = httpx.get(f"{server}/openapi.json", timeout=30).json()
    page.get_by_text("Export", exact=True).click()
    links = page.get_by_role("list", name="Export formats").locator("a")
    assert [a.get_attribute("data-format") for a in links.all()] == _export_formats(schema)
    with page.expect_download() as download:
        page.locator('a[data-format="json"]').click()
    saved = tmp_path / "export.json"
    download.value.save_as(saved)
    exported = json.loads(saved.read_text())
    assert "billing" in json.dumps(exported).lower()
    with page.expect_download() as download:
        page.locator('a[data-format="vtt"]').click()
    download.value.save_as(tmp_path / "export.vtt")
    assert (tmp_path / "export.vtt").read_text().startswith("WEBVTT")


@pytest.mark.slow
def test_summary_markdown_is_rendered_without_raw_html(watched, server, meeting):
    url = f"{server}/v1/transcripts/{meeting['id']}"
    original = _wait_ended(server, meeting["id"])["long_summary"]
    summary = (
        "## Decisions\n\n- Move the **remaining** customers\n- Send the notice\n\n"
        '<img src=x onerror="window.__owned=1"> [a link](https://example.com) <b>raw</b>'
    )
    patch = httpx.patch(url, json={"long_summary": summary}, timeout=30)
    assert patch.status_code == 200, patch.text
    try:
        page = watched.page
        page.goto(f"/transcripts/{meeting['id']}")
        page.get_by_text("Full summary").click()
        panel = page.locator("details.long-summary")
        panel.get_by_role("heading", name="Decisions").wait_for()
        assert panel.locator("li strong").inner_text() == "remaining"
        assert panel.locator("img, b, a").count() == 0
        assert "<b>raw</b>" in panel.inner_text()
        assert page.evaluate("window.__owned") is None
    finally:
        httpx.patch(url, json={"long_summary": original}, timeout=30).raise_for_status()


@pytest.mark.slow
def test_keyboard_reaches_the_pages_controls(watched, server, meeting):
    page = watched.page
    page.goto("/")
    _card(page, meeting["id"]).wait_for()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    focused = []
    for _ in range(10):  # past the header's links
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
    assert "search" in focused and "status" in focused
    # Opening a transcript with Enter, then its export menu with the keyboard.
    _card(page, meeting["id"]).get_by_role("link").focus()
    page.keyboard.press("Enter")
    page.locator("#transcript-heading").wait_for()
    page.locator("details.menu summary").focus()
    page.keyboard.press("Enter")
    assert page.locator("details.menu").get_attribute("open") is not None
    outline = page.evaluate(
        "getComputedStyle(document.querySelector('details.menu summary')).outlineStyle"
    )
    assert outline != "none"


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1280, 375])
def test_screenshots_of_every_page(browser, server, meeting, scheme, width):
    _wait_ended(server, meeting["id"])
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    session = Watched(
        browser,
        server,
        viewport={"width": width, "height": 800 if width > 500 else 812},
        color_scheme=scheme,
    )
    try:
        page = session.page
        for name, path, ready in (
            ("browse", "/", "li.card"),
            ("transcript", f"/transcripts/{meeting['id']}", ".segments"),
        ):
            page.goto(path)
            page.locator(ready).first.wait_for()
            # Nothing wider than the screen: no sideways scrolling on a phone.
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            assert_accessible(page, f"{name} at {width} px, {scheme}")
            target = SCREENSHOTS / f"{name}-{width}-{scheme}.png"
            page.screenshot(path=str(target), full_page=True)
            assert target.stat().st_size > 0
    finally:
        session.close()

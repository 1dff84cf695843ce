"""The web app's New, Processing, player, editing and Settings views, in a real browser.

As in ``test_web.py``: Debian's ``chromium`` through Playwright for Python, against a real
``reflector serve`` on 127.0.0.1 with real models (tiny.en, CAM++, extractive summaries). This
server takes upload chunks of 64 KiB, so a recording of a few hundred KB goes in many chunks. A
second server, whose Whisper model is missing, makes a real processing failure. Screenshots of
each view go to ``.cache/screenshots/`` (desktop and phone width, light and dark).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from reflector.api.webapp import WEB_DIST
from reflector.audio import write_wav
from reflector_testkit.browser import launch, playwright
from reflector_testkit.meetings import VOICES, Clip, VoiceBank, compose_meeting
from reflector_testkit.servers import running_server
from tests.test_web import (
    SCREENSHOTS,
    SCRIPT,
    Watched,
    _card,
    _wait_ended,
    assert_accessible,
)

CHUNK_BYTES = 64 * 1024
PUT_CHUNK = re.compile(r"/v1/transcripts/[^/]+/uploads/[^/?]+\?offset=\d+$")
BASE_ENV = {
    "REFLECTOR_ASR_MODEL": "tiny.en",
    "REFLECTOR_ASR_BEAM_SIZE": "1",
    "REFLECTOR_LLM_BACKEND": "extractive",
    "REFLECTOR_LIVE_PRELOAD": "false",  # no live pages here: no live models to load
}


def _built() -> None:
    if not (WEB_DIST / "index.html").is_file():
        pytest.fail("the web app is not built: run `bash scripts/install.sh --dev`")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    _built()
    env = {**BASE_ENV, "REFLECTOR_UPLOAD_CHUNK_BYTES": str(CHUNK_BYTES)}
    with running_server(tmp_path_factory.mktemp("web-pages"), None, env) as process:
        yield process.base_url


@pytest.fixture(scope="module")
def broken_server(tmp_path_factory) -> Iterator[str]:
    """Every job fails at transcription: the Whisper model it names does not exist."""
    _built()
    folder = tmp_path_factory.mktemp("web-broken")
    env = {**BASE_ENV, "REFLECTOR_ASR_MODEL": str(folder / "no-such-model")}
    with running_server(folder, None, env) as process:
        yield process.base_url


@pytest.fixture(scope="module")
def pw():
    """Playwright, once per module: its sync API cannot run twice at a time."""
    with playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(pw):
    chromium = launch(pw)
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def meeting_wav(audio_dir) -> Path:
    bank = VoiceBank()
    voices = (VOICES[0], VOICES[2])
    clips = [Clip(speaker, bank.speak(voices[speaker], text), text) for speaker, text in SCRIPT]
    return write_wav(compose_meeting(clips, seed=1).samples, audio_dir / "web_pages_meeting.wav")


def _upload(server: str, wav: Path, name: str) -> str:
    created = httpx.post(f"{server}/v1/transcripts", json={"name": name}, timeout=30)
    created.raise_for_status()
    transcript_id = created.json()["id"]
    answer = httpx.post(
        f"{server}/v1/transcripts/{transcript_id}/upload",
        params={"filename": wav.name, "summarize": "true"},
        content=wav.read_bytes(),
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return transcript_id


@pytest.fixture(scope="module")
def meeting(server, meeting_wav) -> str:
    """A processed two-voice meeting, uploaded through the API."""
    transcript_id = _upload(server, meeting_wav, "Billing sync")
    assert _wait_ended(server, transcript_id, timeout=600)["status"] == "ended"
    return transcript_id


@pytest.fixture(scope="module")
def failed(broken_server, meeting_wav) -> str:
    """A transcript whose processing failed (the model is missing)."""
    transcript_id = _upload(broken_server, meeting_wav, "Doomed")
    assert _wait_ended(broken_server, transcript_id, timeout=600)["status"] == "error"
    return transcript_id


@pytest.fixture
def watched(browser, server) -> Iterator[Watched]:
    session = Watched(browser, server, viewport={"width": 1280, "height": 800})
    yield session
    expected = getattr(session, "expected", ())
    session.errors[:] = [e for e in session.errors if not any(p in e for p in expected)]
    session.close()


def _expect_console_errors(watched: Watched, *patterns: str) -> None:
    """Chromium logs every refused request as a console error: the ones a test causes on
    purpose (and only those) are dropped when it ends, so any other error still fails it."""
    watched.expected = patterns  # type: ignore[attr-defined]


def _audio_time(page) -> float:
    return page.evaluate("document.querySelector('.player audio').currentTime")


def _wait_audio_at(page, low: float, high: float) -> None:
    """The player's position comes to lie in ``[low, high]`` seconds (a seek lands once the
    media has data there)."""
    page.wait_for_function(
        "([low, high]) => { const t = document.querySelector('.player audio').currentTime;"
        " return t >= low && t <= high; }",
        arg=[low, high],
    )


# --- New ---------------------------------------------------------------------------------------


def _start_upload(page, wav: Path, name: str, summary: str) -> None:
    """Choose ``wav`` on the New page and press upload."""
    page.goto("/new")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Title, topics and summary").select_option(summary)
    page.locator("#file").set_input_files(wav)
    page.get_by_role("button", name="Upload and transcribe").click()


@pytest.mark.slow
def test_a_chunk_damaged_on_the_way_is_refused_and_sent_again(watched, server, meeting_wav):
    """Each chunk carries its own SHA-256 (the browser's native digest): the server refuses a
    chunk whose bytes changed on the way, keeps nothing of it, and the page sends it again."""
    _expect_console_errors(watched, "422")
    page = watched.page
    data = meeting_wav.read_bytes()
    sent: list[tuple[int, str | None]] = []
    damaged: list[int] = []

    def damage_the_second_chunk(route) -> None:
        offset = int(parse_qs(urlsplit(route.request.url).query)["offset"][0])
        sent.append((offset, route.request.headers.get("upload-checksum")))
        body = route.request.post_data_buffer
        if offset == CHUNK_BYTES and not damaged:
            damaged.append(offset)
            spoiled = bytearray(body)
            spoiled[100] ^= 0xFF
            route.continue_(post_data=bytes(spoiled))
        else:
            route.continue_()

    page.route(PUT_CHUNK, damage_the_second_chunk)
    _start_upload(page, meeting_wav, "Damaged chunk", "no")
    page.wait_for_url("**/transcripts/*", timeout=120_000)
    transcript_id = page.url.rsplit("/", 1)[1]

    offsets = [offset for offset, _ in sent]
    assert damaged and offsets.count(CHUNK_BYTES) == 2, offsets  # refused once, sent again
    for offset, checksum in sent:
        chunk = data[offset : offset + CHUNK_BYTES]
        assert checksum == f"sha256 {hashlib.sha256(chunk).hexdigest()}", offset
    # The file the server assembled is the meeting: it is transcribed as such.
    assert _wait_ended(server, transcript_id, timeout=600)["status"] == "ended"
    segments = httpx.get(f"{server}/v1/transcripts/{transcript_id}/segments", timeout=30)
    assert "billing" in segments.text.lower()


@pytest.mark.slow
def test_upload_in_chunks_survives_a_lost_connection_and_a_reload(watched, server, meeting_wav):
    _expect_console_errors(watched, "ERR_CONNECTION_RESET")
    page = watched.page
    offsets: list[int] = []
    page.on(
        "request",
        lambda r: (
            r.method == "PUT"
            and PUT_CHUNK.search(r.url)
            and offsets.append(int(parse_qs(urlsplit(r.url).query)["offset"][0]))
        ),
    )
    # The connection drops after three chunks: every later one fails on the way.
    passed = []

    def drop_after_three(route) -> None:
        if len(passed) < 3:
            passed.append(route.request.url)
            route.continue_()
        else:
            route.abort("connectionreset")

    page.route(PUT_CHUNK, drop_after_three)
    _start_upload(page, meeting_wav, "Browser upload", "yes")

    # The page says so and keeps trying; the bar stands where the server does.
    page.get_by_text("Connection lost; trying again").wait_for()
    shown = int(page.locator(".upload-percent").inner_text().rstrip("%"))
    size = meeting_wav.stat().st_size
    assert 0 < shown < 100 and abs(shown - 3 * CHUNK_BYTES * 100 // size) <= 1
    assert offsets[:3] == [0, CHUNK_BYTES, 2 * CHUNK_BYTES]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "new-uploading-1280-light.png"), full_page=True)

    # A reload loses the file, not the upload: choosing the same file again goes on.
    page.unroute(PUT_CHUNK)
    page.reload()
    page.get_by_text("stopped before it finished").wait_for()
    offsets.clear()
    page.locator("#file").set_input_files(meeting_wav)
    page.wait_for_url("**/transcripts/*", timeout=60_000)
    assert offsets and offsets[0] == 3 * CHUNK_BYTES, offsets  # not from byte 0
    assert offsets == list(range(3 * CHUNK_BYTES, size, CHUNK_BYTES))
    assert page.evaluate("localStorage.getItem('reflector.upload')") is None
    transcript_id = page.url.rsplit("/", 1)[1]

    # Processing, followed live: the stages tick off without a reload.
    page.evaluate("window.__still_this_page = true")
    page.locator(".processing").wait_for()
    page.locator('.stage[data-stage="prepare"][data-state="done"]').wait_for(timeout=60_000)
    page.screenshot(path=str(SCREENSHOTS / "processing-1280-light.png"), full_page=True)
    page.locator('.status[data-status="ended"]').wait_for(timeout=600_000)
    # The words are fetched once the page hears of the end, and rendered a piece at a time.
    page.locator(".segments").filter(has_text="invoice").wait_for(timeout=30_000)
    text = page.locator(".segments").inner_text().lower()
    assert "billing" in text and "invoice" in text
    assert page.locator(".processing").count() == 0
    assert page.evaluate("window.__still_this_page") is True
    body = httpx.get(f"{server}/v1/transcripts/{transcript_id}", timeout=30).json()
    assert body["name"] == "Browser upload" and body["status"] == "ended"


@pytest.mark.slow
def test_bad_files_are_refused_in_words_and_keep_what_was_typed(watched, server, tmp_path):
    _expect_console_errors(watched, "status of 415")
    page = watched.page
    page.goto("/new")
    page.get_by_label("Name").fill("Not a recording")

    empty = tmp_path / "silence.wav"
    empty.write_bytes(b"")
    page.locator("#file").set_input_files(empty)
    page.get_by_role("alert").filter(has_text="“silence.wav” is empty").wait_for()

    notes = tmp_path / "notes.txt"
    notes.write_text("Agenda: billing, invoices, newsletter.\n" * 40)
    page.locator("#file").set_input_files(notes)
    page.get_by_role("button", name="Upload and transcribe").click()
    alert = page.get_by_role("alert").filter(has_text="cannot be used")
    alert.wait_for(timeout=30_000)
    assert page.get_by_label("Name").input_value() == "Not a recording"
    assert page.get_by_role("button", name="Upload and transcribe").is_enabled()
    # The transcript made for the refused file is gone again, and nothing is left to resume.
    deadline = time.monotonic() + 10
    while True:
        items = httpx.get(f"{server}/v1/transcripts", params={"size": 200}, timeout=30).json()
        if not any(item["name"] == "Not a recording" for item in items["items"]):
            break
        assert time.monotonic() < deadline, "the refused upload's transcript was left behind"
        time.sleep(0.2)
    assert page.evaluate("localStorage.getItem('reflector.upload')") is None


@pytest.mark.slow
def test_the_new_page_works_with_the_keyboard(watched, server):
    page = watched.page
    page.goto("/new")
    page.locator("#file").wait_for(state="attached")
    reached = []
    for _ in range(12):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id"))
        if reached[-1] == "file":
            break
    assert reached[-1] == "file", reached
    # The hidden file input shows its focus on the drop zone.
    outline = page.evaluate(
        "getComputedStyle(document.querySelector('.dropzone-label')).outlineStyle"
    )
    assert outline != "none"
    for expected in ("name", "language", "summaries"):
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == expected
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent").strip() == "Upload and transcribe"


# --- Record ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_record_from_a_microphone_shows_live_words_then_processes(pw, server, meeting_wav):
    """Chromium's fake microphone plays the meeting (over and over) into the page."""
    fake_microphone = [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-audio-capture={meeting_wav}",
    ]
    chromium = launch(pw, fake_microphone)
    session = Watched(chromium, server, viewport={"width": 1280, "height": 800})
    try:
        session.context.grant_permissions(["microphone"])
        page = session.page
        page.goto("/new")
        page.get_by_role("link", name="record from a microphone").click()
        page.get_by_role("heading", name="Record").wait_for()

        # A test first: the level meter moves with the sound.
        page.get_by_role("button", name="Test the microphone").click()
        page.wait_for_function("() => document.querySelector('meter.level').value > 0.05")
        assert page.locator("#microphone option").count() >= 2  # the devices, by name

        page.get_by_label("Name", exact=True).fill("Recorded live")
        page.get_by_role("button", name="Start recording").click()
        page.get_by_role("timer").wait_for()
        # Words come while it records: final ones, and interim ones set apart.
        page.wait_for_function(
            "() => /march|daniel|billing|customers/i.test("
            "[...document.querySelectorAll('.live-text .final')].map(e => e.textContent)"
            ".join(' '))",
            timeout=90_000,
        )
        page.locator(".live-text .interim").first.wait_for(state="attached", timeout=30_000)
        # Six seconds of audio at least, then stop.
        page.wait_for_function(
            "() => Number(document.querySelector('[role=timer]').textContent.split(':')[1]) >= 6"
        )
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "recording-1280-light.png"), full_page=True)

        page.get_by_role("button", name="Stop").click()
        page.wait_for_url("**/transcripts/*", timeout=60_000)
        transcript_id = page.url.rsplit("/", 1)[1]
        page.locator('.status[data-status="ended"]').wait_for(timeout=600_000)
        text = page.locator(".segments").inner_text().lower()
        assert any(word in text for word in ("march", "daniel", "billing", "customers"))
        body = httpx.get(f"{server}/v1/transcripts/{transcript_id}", timeout=30).json()
        assert body["name"] == "Recorded live" and body["source"] == "live"
        assert body["duration"] >= 6
    finally:
        session.close()
        chromium.close()


# --- Processing --------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_failed_job_shows_why_and_runs_again(browser, broken_server, failed):
    transcript_id = failed
    session = Watched(browser, broken_server, viewport={"width": 1280, "height": 800})
    try:
        page = session.page
        page.goto(f"/transcripts/{transcript_id}")
        alert = page.get_by_role("alert").filter(has_text="Processing failed")
        alert.wait_for(timeout=120_000)
        assert "no-such-model" in alert.inner_text()
        # Where it stopped, from the replayed events: decoded, then failed transcribing.
        page.locator('.stage[data-stage="transcribe"][data-state="failed"]').wait_for()
        assert page.locator('.stage[data-stage="prepare"]').get_attribute("data-state") == "done"

        with page.expect_response(lambda r: r.url.endswith("/process")) as answer:
            page.get_by_role("button", name="Try again").click()
        assert answer.value.status == 202
        # The new run fails the same way, and the page says so again.
        deadline = time.monotonic() + 120
        while True:
            events = httpx.get(f"{broken_server}/v1/transcripts/{transcript_id}/events", timeout=30)
            statuses = [e["data"]["value"] for e in events.json() if e["type"] == "STATUS"]
            if statuses.count("error") == 2:
                break
            assert time.monotonic() < deadline, statuses
            time.sleep(0.2)
        alert.wait_for()
        assert "no-such-model" in alert.inner_text()
        assert page.get_by_role("button", name="Try again").is_enabled()
    finally:
        session.close()


# --- Player ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_player_plays_from_a_clicked_word_and_follows_it(watched, server, meeting):
    page = watched.page
    media_requests = []
    page.on(
        "request",
        lambda r: "/audio.mp3" in r.url and media_requests.append(r.resource_type),
    )
    with page.expect_response(lambda r: r.url.endswith("/waveform")) as peaks:
        page.goto(f"/transcripts/{meeting}")
    assert peaks.value.status == 200
    # The waveform is drawn from the server's peaks.
    page.wait_for_function(
        "() => document.querySelector('.waveform > div')?.shadowRoot?.querySelector('canvas')"
    )

    # Which words get highlighted, in order, as the page marks them.
    page.evaluate(
        """() => {
        window.__lit = [];
        new MutationObserver((changes) => changes.forEach(({ target }) => {
          if (target.classList.contains('current')) window.__lit.push(+target.dataset.w);
        })).observe(document.querySelector('.segments'),
                    { subtree: true, attributes: true, attributeFilter: ['class'] });
      }"""
    )
    word = page.locator(".segments .word").filter(has_text="invoice").first
    start = float(word.get_attribute("data-t"))
    index = int(word.get_attribute("data-w"))
    word.click()
    _wait_audio_at(page, start - 0.05, start + 3)
    page.get_by_role("button", name="Pause").wait_for()  # it plays
    # The clicked word lights up, then the ones after it as they are said.
    page.wait_for_function("i => window.__lit[0] === i", arg=index)
    page.wait_for_function("i => window.__lit.some((w) => w > i)", arg=index)
    assert page.locator(".segments .current").count() == 1
    page.get_by_role("button", name="Pause").click()

    # The position is a slider: keys move it.
    slider = page.get_by_role("slider", name="Position in the recording")
    slider.focus()
    page.keyboard.press("Home")
    _wait_audio_at(page, 0, 0.2)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    _wait_audio_at(page, 9.9, 10.1)
    assert slider.get_attribute("aria-valuenow") == "10"

    # Topic markers and the time buttons move the player too.
    topic = httpx.get(f"{server}/v1/transcripts/{meeting}/topics", timeout=30).json()[0]
    page.locator(".topic-marker").first.click()
    _wait_audio_at(page, topic["start"] - 0.1, topic["start"] + 3)
    page.get_by_role("button", name=re.compile(r"^Play from 0:1\d$")).first.click()
    _wait_audio_at(page, 10, 20)
    # The recording streams as media (Range requests); no script downloads it to decode it.
    assert media_requests and set(media_requests) == {"media"}


# --- Editing -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_title_summary_speakers_and_action_items_are_edited_in_place(watched, server, meeting):
    _expect_console_errors(watched, "status of 423")
    page = watched.page
    url = f"{server}/v1/transcripts/{meeting}"
    page.goto(f"/transcripts/{meeting}")

    page.get_by_role("button", name="Rename the transcript").click()
    page.get_by_label("Title").fill("Billing plan review")
    page.get_by_label("Title").press("Enter")
    page.get_by_role("heading", level=1, name="Billing plan review").wait_for()
    assert httpx.get(url, timeout=30).json()["title"] == "Billing plan review"

    page.get_by_role("button", name="Edit the summary").click()
    page.locator("#short-summary").fill("**Agreed**: move the remaining customers.")
    page.get_by_role("button", name="Save").click()
    page.locator("[aria-labelledby=summary-heading] .markdown strong", has_text="Agreed").wait_for()
    assert httpx.get(url, timeout=30).json()["short_summary"].startswith("**Agreed**")

    # A speaker renamed in the legend is renamed everywhere, the exports included.
    legend = page.locator(".legend li").first
    old_name = legend.locator(".speaker-label").inner_text()
    legend.get_by_role("button", name=f"Rename {old_name}").click()
    page.get_by_label(f"Name of {old_name}").fill("Dana Scully")
    page.get_by_label("Name of").press("Enter")
    page.locator(".legend .speaker-label", has_text="Dana Scully").wait_for()
    page.locator(".segment .speaker-name", has_text="Dana Scully").first.wait_for()
    exported = httpx.get(f"{url}/export", params={"format": "text"}, timeout=30).text
    assert "Dana Scully" in exported

    items = httpx.get(f"{url}/action-items", timeout=30).json()
    steps = [item for item in items if item["kind"] == "next_step"]
    assert steps, f"the summary found no next step to edit: {items}"
    step = page.locator(f'.action-item[data-id="{steps[0]["id"]}"]')
    step.get_by_role("checkbox").check()
    page.wait_for_function(
        "id => document.querySelector(`.action-item[data-id='${id}']`)?.classList.contains('done')",
        arg=steps[0]["id"],
    )
    step.get_by_role("button", name=re.compile("^Edit")).click()
    page.get_by_label("Owner").fill("Maria")
    page.get_by_label("Deadline").fill("Friday")
    page.get_by_role("button", name="Save").click()
    step.get_by_text("Due: Friday").wait_for()
    saved = next(
        i for i in httpx.get(f"{url}/action-items", timeout=30).json() if i["id"] == steps[0]["id"]
    )
    assert saved["done"] is True and saved["person"] == "Maria" and saved["deadline"] == "Friday"

    # A refused change says why and keeps what was typed.
    httpx.patch(url, json={"locked": True}, timeout=30).raise_for_status()
    try:
        page.get_by_role("button", name="Rename the transcript").click()
        page.get_by_label("Title").fill("A title that must survive")
        page.get_by_role("button", name="Save").click()
        page.get_by_role("alert").filter(has_text="locked").wait_for()
        assert page.get_by_label("Title").input_value() == "A title that must survive"
    finally:
        httpx.patch(url, json={"locked": False}, timeout=30).raise_for_status()
    page.get_by_role("button", name="Save").click()
    page.get_by_role("heading", level=1, name="A title that must survive").wait_for()


def _select_words(page, first_word, last_word) -> None:
    """Chooses words in the text with the mouse, from one word's start to another's end."""
    first = first_word.bounding_box()
    last = last_word.bounding_box()
    page.mouse.move(first["x"] + 2, first["y"] + first["height"] / 2)
    page.mouse.down()
    page.mouse.move(last["x"] + last["width"] - 2, last["y"] + last["height"] / 2, steps=5)
    page.mouse.up()


def _export_text(server: str, transcript_id: str) -> str:
    """The plain-text export's turns (the summary above them names who was detected how)."""
    url = f"{server}/v1/transcripts/{transcript_id}/export"
    text = httpx.get(url, params={"format": "text"}, timeout=30).text
    return text.split("\nTranscript\n\n", 1)[-1]


def _speakers_of_words(server: str, transcript_id: str) -> list[int | None]:
    url = f"{server}/v1/transcripts/{transcript_id}/segments"
    return [
        w["speaker"] if w.get("speaker") is not None else s["speaker"]
        for s in httpx.get(url, timeout=30).json()
        for w in s["words"]
    ]


@pytest.mark.slow
def test_speakers_are_renamed_reassigned_merged_and_each_change_undone(watched, server, meeting):
    page = watched.page
    segments = httpx.get(f"{server}/v1/transcripts/{meeting}/segments", timeout=30).json()
    speakers = sorted({s["speaker"] for s in segments if s["speaker"] is not None})
    assert len(speakers) == 2, segments
    last = next(s for s in reversed(segments) if len(s["words"]) >= 3)
    other = next(speaker for speaker in speakers if speaker != last["speaker"])
    original_words = _speakers_of_words(server, meeting)
    original_text = _export_text(server, meeting)
    page.goto(f"/transcripts/{meeting}")
    page.locator(".segments").wait_for()

    # Rename the last turn's speaker: the legend, the text and the export follow.
    legend = page.locator(".legend li").nth(speakers.index(last["speaker"]))
    old_name = legend.locator(".speaker-label").inner_text()
    legend.get_by_role("button", name=f"Rename {old_name}").click()
    page.get_by_label(f"Name of {old_name}").fill("Fox Mulder")
    page.get_by_label(f"Name of {old_name}").press("Enter")
    page.locator(".legend .speaker-label", has_text="Fox Mulder").wait_for()
    page.locator(".segment .speaker-name", has_text="Fox Mulder").last.wait_for()
    assert "Fox Mulder:" in _export_text(server, meeting)
    other_name = (
        page.locator(".legend li").nth(speakers.index(other)).locator(".speaker-label").inner_text()
    )

    # The last three words, chosen with the mouse, go to the other speaker by its number key.
    page.get_by_text("Correct speakers").click()
    assert_accessible(page, "the transcript with the speaker tools open")
    words = page.locator(".segments .word")
    count = words.count()
    first = words.nth(count - 3)
    _select_words(page, first, words.nth(count - 1))
    page.wait_for_function("() => document.querySelector('#assign-from').value !== ''")
    start = float(first.get_attribute("data-t"))
    assert abs(_seconds(page.locator("#assign-from").input_value()) - start) < 0.11
    page.keyboard.press(str(speakers.index(other) + 1))
    turn = page.locator(".segment").last
    turn.locator(".speaker-name", has_text=other_name).wait_for()
    moved = turn.locator(".word").all_inner_texts()
    assert len(moved) == 3, moved
    # The server has it: the words, the turn in the export.
    after = _speakers_of_words(server, meeting)
    assert after[-3:] == [other] * 3 and after[:-3] == original_words[:-3]
    last_turn = _export_text(server, meeting).rstrip().rsplit("\n\n", 1)[1]
    assert last_turn.startswith(f"{other_name}:"), last_turn
    assert all(word in last_turn for word in moved), (moved, last_turn)

    # Ctrl+Z takes it back, in the page and on the server.
    page.get_by_role("status").filter(has_text="given to").wait_for()
    page.keyboard.press("Control+z")
    page.get_by_role("status").filter(has_text="Undone").wait_for()
    page.locator(".segment").last.locator(".speaker-name", has_text="Fox Mulder").wait_for()
    assert _speakers_of_words(server, meeting) == original_words

    # A typed range, with the keyboard alone, to a new speaker; then undone by the button.
    page.get_by_label("From", exact=True).fill("0:00")
    page.get_by_label("To", exact=True).fill("0:02.5")
    page.get_by_label("Said by", exact=True).select_option(label="A new speaker (N)")
    page.get_by_role("button", name="Assign").click()
    page.locator(".legend li").nth(2).wait_for()
    new_speaker = max(speakers) + 1
    assert new_speaker in _speakers_of_words(server, meeting)
    page.get_by_role("button", name=re.compile("^Undo")).click()
    page.get_by_role("status").filter(has_text="Undone").wait_for()
    page.wait_for_function("() => document.querySelectorAll('.legend li').length === 2")
    assert _speakers_of_words(server, meeting) == original_words

    # Merge the renamed speaker into the other: one speaker left; undone, both are back.
    page.get_by_label("Merge", exact=True).select_option(label="Fox Mulder")
    page.get_by_label("into", exact=True).select_option(label=other_name)
    page.get_by_role("button", name="Merge", exact=True).click()
    page.wait_for_function("() => document.querySelectorAll('.legend li').length === 1")
    assert set(_speakers_of_words(server, meeting)) == {other}
    assert "Fox Mulder" not in _export_text(server, meeting)
    page.keyboard.press("Control+z")
    page.locator(".legend .speaker-label", has_text="Fox Mulder").wait_for()
    assert _speakers_of_words(server, meeting) == original_words
    assert "Fox Mulder:" in _export_text(server, meeting)

    # And the rename itself is taken back last.
    page.keyboard.press("Control+z")
    page.locator(".legend .speaker-label", has_text=old_name).wait_for()
    assert _export_text(server, meeting) == original_text
    assert page.get_by_role("button", name=re.compile("^Undo")).count() == 0


def _seconds(text: str) -> float:
    minutes, seconds = text.split(":")
    return int(minutes) * 60 + float(seconds)


@pytest.mark.slow
def test_sharing_and_the_trash(watched, server, meeting):
    page = watched.page
    watched.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"/transcripts/{meeting}")
    page.get_by_text("Share", exact=True).click()
    page.get_by_label(re.compile("^Public")).check()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.meta span')].some(s => s.textContent === 'Public')"
    )
    assert httpx.get(f"{server}/v1/transcripts/{meeting}", timeout=30).json()["share_mode"] == (
        "public"
    )
    link = page.get_by_label("Link", exact=True).input_value()
    assert link == f"{server}/transcripts/{meeting}"
    page.get_by_role("button", name="Copy").click()
    page.get_by_role("button", name="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == link
    page.keyboard.press("Escape")  # closes the menu, back on its button
    assert page.locator("details.share").get_attribute("open") is None
    assert page.evaluate("document.activeElement.textContent").strip() == "Share"
    httpx.patch(
        f"{server}/v1/transcripts/{meeting}", json={"share_mode": "private"}, timeout=30
    ).raise_for_status()

    created = httpx.post(f"{server}/v1/transcripts", json={"name": "Throwaway"}, timeout=30)
    throwaway = created.json()["id"]
    page.goto(f"/transcripts/{throwaway}")
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Move to trash").click()
    page.wait_for_url(f"{server}/")
    assert httpx.get(f"{server}/v1/transcripts/{throwaway}", timeout=30).status_code == 404
    trash = httpx.get(f"{server}/v1/transcripts", params={"deleted": "true"}, timeout=30).json()
    assert throwaway in [item["id"] for item in trash["items"]]


@pytest.mark.slow
def test_the_list_trashes_restores_deletes_for_good_and_processes_again(
    watched, server, meeting_wav
):
    page = watched.page
    done = _upload(server, meeting_wav, "Process me again")
    assert _wait_ended(server, done, timeout=600)["status"] == "ended"
    junk = httpx.post(f"{server}/v1/transcripts", json={"name": "Junk"}, timeout=30).json()["id"]
    trash = {"deleted": "true", "size": 200}

    def trashed() -> list[str]:
        listed = httpx.get(f"{server}/v1/transcripts", params=trash, timeout=30).json()
        return [item["id"] for item in listed["items"]]

    page.goto("/")
    card = _card(page, junk)
    # To the trash, and back with Undo.
    card.get_by_role("button", name=re.compile("^Move to trash")).click()
    notice = page.get_by_role("status").filter(has_text="was moved to the trash")
    notice.wait_for()
    card.wait_for(state="detached")
    assert junk in trashed()
    assert httpx.get(f"{server}/v1/transcripts/{junk}", timeout=30).status_code == 404
    notice.get_by_role("button", name="Undo").click()
    page.get_by_role("status").filter(has_text="Restored").wait_for()
    card.wait_for()
    assert junk not in trashed()

    # To the trash again, then restored from the trash page.
    card.get_by_role("button", name=re.compile("^Move to trash")).click()
    card.wait_for(state="detached")
    page.get_by_role("link", name="Trash").click()
    page.get_by_role("heading", level=1, name="Trash").wait_for()
    card.wait_for()
    assert_accessible(page, "the trash")
    card.get_by_role("button", name=re.compile("^Restore")).click()
    page.get_by_role("status").filter(has_text="was restored").wait_for()
    card.wait_for(state="detached")
    assert httpx.get(f"{server}/v1/transcripts/{junk}", timeout=30).status_code == 200

    # Deleted for good, after a confirmation: gone from both lists.
    httpx.delete(f"{server}/v1/transcripts/{junk}", timeout=30).raise_for_status()
    page.reload()
    card.get_by_role("button", name=re.compile("^Delete for good")).click()
    confirm = card.get_by_role("group", name="Confirm deletion")
    assert_accessible(page, "the trash, asking before a deletion")
    confirm.get_by_role("button", name="Delete for good").click()
    page.get_by_role("status").filter(has_text="deleted for good").wait_for()
    card.wait_for(state="detached")
    assert junk not in trashed()
    listed = httpx.get(f"{server}/v1/transcripts", params={"size": 200}, timeout=30).json()
    assert junk not in [item["id"] for item in listed["items"]]

    # Processed again from its card: the status moves on in the list, live.
    page.get_by_role("link", name="All transcripts").click()
    card = _card(page, done)
    card.get_by_role("button", name=re.compile("^Process again")).click()
    with page.expect_response(lambda r: r.url.endswith("/process")) as answer:
        card.get_by_role("group", name="Confirm processing").get_by_role(
            "button", name="Process again"
        ).click()
    assert answer.value.status == 202
    page.get_by_role("status").filter(has_text="is being processed again").wait_for()
    page.wait_for_function(
        "id => document.querySelector(`li.card[data-id='${id}'] .status`)"
        "?.dataset.status !== 'ended'",
        arg=done,
        timeout=60_000,
    )
    assert _wait_ended(server, done, timeout=600)["status"] == "ended"
    card.locator('.status[data-status="ended"]').wait_for(timeout=60_000)
    events = httpx.get(f"{server}/v1/transcripts/{done}/events", timeout=30).json()
    statuses = [e["data"]["value"] for e in events if e["type"] == "STATUS"]
    assert statuses.count("ended") == 2, statuses


# --- Settings ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_api_keys_are_shown_once_listed_and_revoked(watched, server):
    page = watched.page
    page.goto("/settings")
    page.get_by_text("No keys yet.").wait_for()
    # With the keyboard alone: name, expiry, create.
    page.get_by_label("Name").focus()
    page.keyboard.type("Calendar sync")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    shown = page.get_by_label("The new key")
    shown.wait_for()
    assert page.evaluate("document.activeElement.id") == "new-key"
    key = shown.input_value()
    me = httpx.get(f"{server}/v1/me", headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert me.status_code == 200

    page.get_by_role("button", name="Done").click()
    assert page.get_by_label("The new key").count() == 0
    assert key not in page.content()
    row = page.locator(".key", has_text="Calendar sync")
    listed = httpx.get(f"{server}/v1/api-keys", timeout=30).json()
    assert [k["name"] for k in listed] == ["Calendar sync"]
    assert listed[0]["prefix"] in row.inner_text() and "Does not expire" in row.inner_text()

    row.get_by_role("button", name="Revoke Calendar sync").click()
    page.get_by_role("button", name="Revoke key").click()
    page.get_by_text("No keys yet.").wait_for()
    assert httpx.get(f"{server}/v1/api-keys", timeout=30).json() == []


@pytest.mark.slow
def test_settings_show_the_server_version_and_models(watched, server):
    page = watched.page
    page.goto("/settings")
    facts = page.locator(".facts")
    facts.wait_for()
    info = httpx.get(f"{server}/v1/server", timeout=30).json()
    text = facts.inner_text()
    assert info["version"] in text and "tiny.en" in text and "extractive" in text


# --- Screenshots -------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1280, 375])
def test_screenshots_of_the_new_views(
    browser, server, broken_server, meeting, failed, scheme, width
):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    sessions = []
    try:
        for base, name, path, ready in (
            (server, "new", "/new", ".dropzone"),
            (server, "record", "/record", "#microphone"),
            (server, "settings", "/settings", ".facts"),
            (server, "player", f"/transcripts/{meeting}", ".waveform > div"),
            (broken_server, "processing-failed", f"/transcripts/{failed}", ".stage-failed"),
        ):
            session = Watched(
                browser,
                base,
                viewport={"width": width, "height": 800 if width > 500 else 812},
                color_scheme=scheme,
            )
            sessions.append(session)
            page = session.page
            page.goto(path)
            page.locator(ready).first.wait_for(timeout=60_000)
            if name == "player":
                page.locator(".segments .word").nth(5).click()
                page.get_by_role("button", name="Pause").click()
                page.wait_for_function(
                    "() => document.querySelector('.waveform > div')?.shadowRoot"
                    "?.querySelector('canvas')"
                )
            assert page.evaluate("document.documentElement.scrollWidth") <= width, name
            assert_accessible(page, f"{name} at {width} px, {scheme}")
            target = SCREENSHOTS / f"{name}-{width}-{scheme}.png"
            page.screenshot(path=str(target), full_page=True)
            assert target.stat().st_size > 0
    finally:
        for session in sessions:
            session.close()

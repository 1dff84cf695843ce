"""Live translated captions on the Record page, and the Listen page, in a real browser.

Chromium's fake microphone plays an English meeting into the Record page of a real ``reflector
serve`` with Spanish chosen as a translation target (Apertium, en→es); a second browser context,
as a listener would, opens the Listen page from the transcript page and hears the Spanish speech
(eSpeak NG) with its captions. Screenshots go to ``.cache/screenshots/`` (390 and 1280 px, light
and dark).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reflector.api.webapp import WEB_DIST
from reflector.audio import write_wav
from reflector_testkit.browser import launch, playwright
from reflector_testkit.meetings import VOICES, Clip, VoiceBank, compose_meeting
from reflector_testkit.servers import running_server
from tests.test_web import SCREENSHOTS, SCRIPT, Watched, assert_accessible

ENV = {
    "REFLECTOR_ASR_MODEL": "tiny.en",
    "REFLECTOR_ASR_BEAM_SIZE": "1",
    "REFLECTOR_LLM_BACKEND": "extractive",
    "REFLECTOR_LIVE_PRELOAD": "false",
    "REFLECTOR_TRANSLATION_BACKEND": "apertium",
}
# Words of the meeting's sentences as Apertium puts them in Spanish.
SPANISH = re.compile(r"\b(buenos|días|todo|el|la|los|de|que|y|clientes|marzo|viernes)\b", re.I)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    if not (WEB_DIST / "index.html").is_file():
        pytest.fail("the web app is not built: run `bash scripts/install.sh --dev`")
    with running_server(tmp_path_factory.mktemp("web-listen"), None, ENV) as process:
        yield process.base_url


@pytest.fixture(scope="module")
def meeting_wav(audio_dir) -> Path:
    bank = VoiceBank()
    voices = (VOICES[0], VOICES[2])
    clips = [Clip(speaker, bank.speak(voices[speaker], text), text) for speaker, text in SCRIPT]
    return write_wav(compose_meeting(clips, seed=1).samples, audio_dir / "web_listen_meeting.wav")


def _translations(server: str, transcript_id: str, language: str) -> list[dict]:
    events = httpx.get(f"{server}/v1/transcripts/{transcript_id}/events", timeout=30).json()
    return [
        e["data"]
        for e in events
        if e["type"] == "TRANSLATION" and e["data"]["language"] == language
    ]


def _shoot(page, name: str) -> None:
    """The page at both widths in both schemes: nothing wider than the screen, axe-clean."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 800 if width > 500 else 844})
            assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
            assert_accessible(page, f"{name} at {width} px, {scheme}")
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}-{scheme}.png"), full_page=True)
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 1280, "height": 800})


@pytest.mark.slow
def test_record_with_spanish_captions_and_listen_to_them(server, meeting_wav):
    with playwright() as driver:
        chromium = launch(
            driver,
            [
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-audio-capture={meeting_wav}",
            ],
        )
        speaker = Watched(chromium, server, viewport={"width": 1280, "height": 800})
        listener = Watched(chromium, server, viewport={"width": 1280, "height": 800})
        try:
            speaker.context.grant_permissions(["microphone"])
            page = speaker.page
            page.goto("/record")
            page.get_by_role("heading", name="Record").wait_for()
            page.get_by_label("Name", exact=True).fill("Translated live")
            # A language this server cannot translate into is refused in words, and the form
            # keeps what was chosen.
            page.get_by_label("Translate captions into").select_option("de")
            page.get_by_role("button", name="Start recording").click()
            page.get_by_role("alert").filter(has_text="cannot translate").wait_for(timeout=60_000)
            assert "German" in page.get_by_role("alert").inner_text()
            page.get_by_role("button", name="Remove German").click()
            assert page.get_by_label("Name", exact=True).input_value() == "Translated live"
            # Spanish and French chosen, French taken back: one chip left, removable by name.
            page.get_by_label("Translate captions into").select_option("es")
            page.get_by_label("Translate captions into").select_option("fr")
            page.get_by_role("button", name="Remove French").click()
            chips = page.get_by_role("list", name="Translation languages")
            assert chips.get_by_role("listitem").count() == 1
            assert chips.get_by_role("button", name="Remove Spanish").is_enabled()

            page.get_by_role("button", name="Start recording").click()
            page.get_by_role("timer").wait_for()
            spanish = page.locator('.captions[data-language="es"] .caption-text')
            spanish.first.wait_for(timeout=180_000)
            transcript_id = page.evaluate(
                "new URL(document.querySelector('.captions a').href).pathname.split('/')[2]"
            )
            # What the page shows is what the server translated, in Spanish. Read the page
            # first: every caption it shows has been stored by then, while the stream goes on.
            shown = spanish.all_inner_texts()
            stored = _translations(server, transcript_id, "es")
            assert stored and all(c["text"] != c["source_text"] for c in stored)
            assert set(shown) <= {c["text"] for c in stored}
            assert SPANISH.search(" ".join(shown)), shown
            _shoot(page, "record-captions")

            # The listener finds the Listen page from the transcript page.
            other = listener.page
            speech_frames: list[int] = []

            def on_socket(socket) -> None:
                if socket.url.endswith("/translations/es/speech"):
                    socket.on(
                        "framereceived",
                        lambda frame: speech_frames.append(
                            len(frame) if isinstance(frame, bytes) else 0
                        ),
                    )

            other.on("websocket", on_socket)
            other.goto(f"/transcripts/{transcript_id}")
            link = other.get_by_role("link", name="Listen live in another language")
            link.wait_for()
            assert_accessible(other, "transcript page while recording")
            other.screenshot(path=str(SCREENSHOTS / "transcript-recording-1280-light.png"))
            link.click()
            other.get_by_role("heading", name="Listen").wait_for()
            language = other.get_by_label("Language")
            # The language the meeting is translated into is offered first, and chosen.
            other.wait_for_function(
                "() => document.querySelector('#listen-language').value === 'es'"
            )
            assert language.locator("optgroup").first.get_attribute("label") == (
                "Translated in this meeting"
            )
            other.locator(".caption-list .caption").first.wait_for()
            # Keyboard alone: from the language to the button, Enter starts listening.
            language.focus()
            other.keyboard.press("Tab")
            assert other.evaluate("document.activeElement.textContent") == "Listen"
            other.keyboard.press("Enter")
            other.get_by_role("button", name="Stop listening").wait_for()
            # Speech comes for sentences translated from now on: PCM bytes after their header.
            deadline = time.monotonic() + 180
            while not any(size > 0 for size in speech_frames):
                assert time.monotonic() < deadline, "no translated speech arrived"
                other.wait_for_timeout(250)
            other.get_by_role("status").filter(has_text="of speech so far").wait_for()
            other.locator(".caption.speaking").wait_for(timeout=30_000)
            _shoot(other, "listen")

            page.get_by_role("button", name="Stop").click()
            page.wait_for_url("**/transcripts/*", timeout=60_000)
            # The listener hears that the session is over; the captions stay.
            other.get_by_role("status").filter(has_text="The session is over").wait_for(
                timeout=120_000
            )
            assert other.locator(".caption-list .caption").count() >= 1
        finally:
            speaker.close()
            listener.close()
            chromium.close()

"""The web app's rooms, in a real browser against the real server and a local Daily.

``reflector serve`` runs with its Daily settings pointing at ``reflector_testkit.daily`` (which
speaks Daily's REST API and serves each room's address as a page), and lets its pages embed
that address (``REFLECTOR_MEETING_FRAME_SOURCES``). Debian's ``chromium`` (Playwright for
Python, never a downloaded browser) creates a room, changes it, opens it (the call embedded),
answers the consent question and deletes the room; what the pages did is checked through the
API. Every page is saved as a screenshot, desktop and phone width, light and dark, under
``.cache/screenshots/`` (``rooms-1280-light.png``, ``room-375-dark.png``, …).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from reflector.api.webapp import WEB_DIST, install_web_app
from reflector.settings import Settings
from reflector_testkit.browser import WatchedPage, chromium
from reflector_testkit.daily import new_secret, running_daily
from reflector_testkit.servers import running_server
from tests.test_web import assert_accessible

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / ".cache" / "screenshots"
CONSENT_QUESTION = "May this meeting's audio be kept?"
API_REFUSAL = "Failed to load resource: the server responded with a status of 4"
FOCUSED = "document.activeElement.id || document.activeElement.textContent"
TAB_STOPS = (
    "room-is_shared",
    "room-platform",
    "room-recording_trigger",
    "room-is_locked",
    "room-skip_consent",
    "room-webhook_secret",
    "room-ics_fetch_interval",
)


# --- where a page may embed a call from, without a browser ---------------------------------


def _app_with_frames(tmp_path: Path, sources: list[str] | None) -> TestClient:
    dist = tmp_path / "dist"
    dist.mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><html><head><title>app</title></head></html>")
    app = FastAPI()
    install_web_app(app, dist, frame_sources=sources)
    return TestClient(app)


def test_pages_may_embed_calls_only_from_the_configured_sources(tmp_path):
    client = _app_with_frames(tmp_path, ["https://team.daily.co", "https://team.whereby.com"])
    policy = client.get("/rooms/team-sync").headers["content-security-policy"]
    assert "; frame-src https://team.daily.co https://team.whereby.com;" in policy
    # Everything else of the policy is as strict as before.
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert re.search(r"style-src 'self' 'nonce-[A-Za-z0-9_-]+'$", policy)
    # None configured: no frame at all.
    nothing = _app_with_frames(tmp_path / "none", [])
    assert "frame-src 'none'" in nothing.get("/").headers["content-security-policy"]


def test_the_default_lets_rooms_embed_any_https_call():
    assert Settings().meeting_frame_sources == ["https:"]


@pytest.mark.parametrize(
    "source", ["https://a.example; script-src *", "'unsafe-inline'", "https://a b", ""]
)
def test_a_frame_source_that_would_change_the_policy_is_refused(source):
    with pytest.raises(ValidationError, match="is not a CSP source"):
        Settings(meeting_frame_sources=[source])


# --- in the browser -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def daily():
    with running_daily() as server:
        yield server


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("web-rooms-server")


@pytest.fixture(scope="module")
def server(data_dir, daily) -> Iterator[str]:
    if not (WEB_DIST / "index.html").is_file():
        pytest.fail("the web app is not built: run `bash scripts/install.sh --dev`")
    env = {
        "REFLECTOR_ASR_MODEL": "tiny.en",
        "REFLECTOR_LLM_BACKEND": "extractive",
        "REFLECTOR_DAILY_API_URL": daily.api_url,
        "REFLECTOR_DAILY_API_KEY": daily.state.api_key,
        "REFLECTOR_DAILY_WEBHOOK_SECRET": new_secret(),
        "REFLECTOR_MEETING_FRAME_SOURCES": json.dumps([daily.room_base]),
    }
    with running_server(data_dir, None, env) as process:
        yield process.base_url


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def _api_refusal(text: str, path: str) -> bool:
    # An API call the page refused is expected here (a taken name, an unknown room): the
    # tests check it is said in words.
    return text.startswith(API_REFUSAL) and path.startswith("/v1/")


class Watched(WatchedPage):
    """A watched page (the local Daily is on 127.0.0.1 too) where the API's 4xx are expected."""

    def __init__(self, browser, base_url: str, **options) -> None:
        super().__init__(browser, base_url, _api_refusal, **options)


@pytest.fixture
def watched(browser, server) -> Iterator[Watched]:
    session = Watched(browser, server, viewport={"width": 1280, "height": 900})
    yield session
    session.close()


def _room(server: str, name: str) -> httpx.Response:
    return httpx.get(f"{server}/v1/rooms/{name}", timeout=30)


def _error_of(page, field_id: str) -> str:
    """The message shown next to a field, found the way a screen reader finds it."""
    described = page.locator(f"#{field_id}").get_attribute("aria-describedby") or ""
    assert f"{field_id}-error" in described.split()
    return page.locator(f"#{field_id}-error").inner_text()


@pytest.mark.slow
def test_a_room_is_created_changed_opened_consented_and_deleted(watched, server, daily):
    page = watched.page
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Rooms").click()
    page.get_by_role("heading", name="Rooms").wait_for()
    page.get_by_role("link", name="New room").first.click()
    page.wait_for_url("**/new-room")

    # What the API refuses is said next to its field, and nothing typed is lost.
    page.get_by_label("Name").fill("Team Sync")
    page.get_by_label("Stream").fill("general")
    page.get_by_label("Webhook URL").fill("ftp://hooks.example")
    page.get_by_label("Read every (seconds)").fill("30")
    page.get_by_role("button", name="Create room").click()
    page.locator("#room-name-error").wait_for()
    assert "lower-case letters" in _error_of(page, "room-name")
    assert "http:// or https://" in _error_of(page, "room-webhook_url")
    assert "60 and 86,400" in _error_of(page, "room-ics_fetch_interval")
    assert page.locator("#room-name").get_attribute("aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "room-name"
    assert page.get_by_label("Stream").input_value() == "general"
    assert page.get_by_label("Name").input_value() == "Team Sync"

    # A webhook into the server's own network: the server's reason, next to the webhook.
    page.get_by_label("Name").fill("taken")
    page.get_by_label("Webhook URL").fill("http://127.0.0.1:9/hook")
    page.get_by_label("Read every (seconds)").fill("600")
    page.get_by_role("button", name="Create room").click()
    page.get_by_text("webhooks may only call public addresses").wait_for()
    assert "loopback" in _error_of(page, "room-webhook_url")
    assert page.locator("#room-name-error").count() == 0

    # A name somebody else has: said next to the name.
    httpx.post(f"{server}/v1/rooms", json={"name": "taken"}, timeout=30).raise_for_status()
    page.get_by_label("Webhook URL").fill("")
    page.get_by_role("button", name="Create room").click()
    page.get_by_text("Another room has this name").wait_for()
    assert page.locator("#room-webhook_url-error").count() == 0

    page.get_by_label("Name").fill("team-sync")
    page.get_by_label("Shared").check()
    page.get_by_label("Video platform").select_option("daily")
    page.get_by_role("button", name="Create room").click()
    page.wait_for_url("**/rooms?created=team-sync")
    card = page.locator('li.room-card[data-room="team-sync"]')
    card.wait_for()
    assert "Shared" in card.inner_text()
    created = _room(server, "team-sync").json()
    assert created["is_shared"] is True and created["zulip_stream"] == "general"
    assert created["webhook_url"] is None and created["is_locked"] is False
    assert created["ics_fetch_interval"] == 600 and created["platform"] == "daily"

    # Changed in its settings: only what changed is sent, and the page says it is saved.
    card.get_by_role("link", name="Settings of team-sync").click()
    page.wait_for_url("**/rooms/team-sync/settings")
    page.get_by_label("Locked").check()
    page.get_by_label("Recording starts").select_option("automatic")
    page.get_by_label("Stream").fill("")
    page.get_by_role("button", name="Save changes").click()
    page.get_by_text("Saved.").wait_for()
    changed = _room(server, "team-sync").json()
    assert changed["is_locked"] is True and changed["recording_trigger"] == "automatic"
    assert changed["zulip_stream"] is None and changed["is_shared"] is True

    # Opened: the call is the local Daily's room, embedded, with this user's meeting token.
    page.get_by_role("link", name="Back to the room").click()
    page.wait_for_url("**/rooms/team-sync")
    page.get_by_role("button", name="Join the meeting").click()
    frame = page.locator("iframe.call-frame")
    frame.wait_for()
    src = frame.get_attribute("src")
    assert src.startswith(daily.room_base + "/")
    assert parse_qs(urlsplit(src).query)["t"][0] in daily.state.tokens
    assert "camera" in frame.get_attribute("allow") and "microphone" in frame.get_attribute("allow")
    assert frame.get_attribute("title")
    page.frame_locator("iframe.call-frame").get_by_text("The call of the room").wait_for()
    meetings = httpx.get(f"{server}/v1/rooms/team-sync/meetings", timeout=30).json()["active"]
    assert len(meetings) == 1
    meeting_id = meetings[0]["id"]
    page.locator(f'li[data-meeting="{meeting_id}"]').get_by_text("You are in it").wait_for()

    # The consent question, asked at once and answered; the server keeps the answer.
    page.get_by_role("heading", name=CONSENT_QUESTION).wait_for()
    page.wait_for_function("document.activeElement.id === 'consent-heading'")
    page.get_by_role("button", name="No, delete the audio").click()
    page.get_by_text("You asked that this meeting's audio be deleted").wait_for()
    key = page.evaluate("localStorage.getItem('reflector.participant-key')")
    stored = httpx.get(
        f"{server}/v1/meetings/{meeting_id}/consent",
        params={"participant_key": key},
        timeout=30,
    ).json()
    assert stored["consent_given"] is False and stored["audio_kept"] is False

    # Back later: the same meeting, and the question is not asked again; the answer can change.
    page.reload()
    page.get_by_role("button", name="Join the meeting").click()
    page.get_by_text("You asked that this meeting's audio be deleted").wait_for()
    assert page.get_by_role("heading", name=CONSENT_QUESTION).count() == 0
    assert page.locator("iframe.call-frame").get_attribute("src").startswith(src.split("?")[0])
    page.get_by_role("button", name="Change your answer").click()
    page.get_by_role("button", name="Yes, keep the audio").click()
    page.get_by_text("You agreed that this meeting's audio may be kept").wait_for()
    stored = httpx.get(
        f"{server}/v1/meetings/{meeting_id}/consent", params={"participant_key": key}, timeout=30
    ).json()
    assert stored["consent_given"] is True

    # Deleted from its settings, after a confirmation.
    page.locator(".room-page").get_by_role("link", name="Settings").click()
    page.get_by_role("button", name="Delete room").click()
    page.get_by_role("button", name="Delete “team-sync”").click()
    page.wait_for_url("**/rooms?deleted=team-sync")
    page.get_by_text("Room “team-sync” deleted").wait_for()
    assert page.locator('li.room-card[data-room="team-sync"]').count() == 0
    assert _room(server, "team-sync").status_code == 404


@pytest.mark.slow
def test_a_room_that_keeps_audio_regardless_never_asks(watched, server):
    body = {"name": "all-hands", "skip_consent": True}
    httpx.post(f"{server}/v1/rooms", json=body, timeout=30).raise_for_status()
    page = watched.page
    page.goto("/rooms/all-hands")
    page.get_by_text("Their audio is kept without asking each participant").wait_for()
    page.get_by_role("button", name="Join the meeting").click()
    page.locator("iframe.call-frame").wait_for()
    page.frame_locator("iframe.call-frame").get_by_text("The call of the room").wait_for()
    assert page.get_by_role("heading", name=CONSENT_QUESTION).count() == 0
    assert page.get_by_role("button", name="No, delete the audio").count() == 0


@pytest.mark.slow
def test_a_room_recorded_on_request_starts_its_recording_from_the_page(watched, server, daily):
    body = {"name": "on-request", "recording_type": "cloud", "recording_trigger": "prompt"}
    httpx.post(f"{server}/v1/rooms", json=body, timeout=30).raise_for_status()
    automatic = {"name": "always-on", "recording_type": "cloud", "recording_trigger": "automatic"}
    httpx.post(f"{server}/v1/rooms", json=automatic, timeout=30).raise_for_status()
    page = watched.page
    page.goto("/rooms/always-on")
    page.get_by_role("button", name="Join the meeting").click()
    page.locator("iframe.call-frame").wait_for()
    assert page.get_by_role("button", name="Start recording").count() == 0

    page.goto("/rooms/on-request")
    page.get_by_role("button", name="Join the meeting").click()
    page.locator("iframe.call-frame").wait_for()
    started_before = len(daily.state.recordings_started)
    page.get_by_role("button", name="Start recording").click()
    page.get_by_role("status").filter(has_text="Recording").wait_for()
    assert page.get_by_role("button", name="Start recording").count() == 0
    started = daily.state.recordings_started[started_before:]
    assert [entry.get("type") for entry in started] == ["raw-tracks"], started
    assert_accessible(page, "a room recorded on request, recording")


@pytest.mark.slow
def test_an_unknown_room_says_so_in_words(watched, server):
    page = watched.page
    page.goto("/rooms/nobody-made-this")
    page.get_by_role("button", name="Join the meeting").click()
    page.get_by_role("alert").get_by_text("There is no room named “nobody-made-this”").wait_for()
    assert page.locator("iframe").count() == 0


@pytest.mark.slow
def test_the_room_pages_work_with_the_keyboard_and_label_every_control(watched, server):
    httpx.post(f"{server}/v1/rooms", json={"name": "keyboard-room"}, timeout=30)
    page = watched.page
    for path in ("/new-room", "/rooms/keyboard-room/settings"):
        page.goto(path)
        page.locator("#room-name").wait_for()
        unlabelled = page.evaluate(
            """() => [...document.querySelectorAll('main input, main select, main button')]
                .filter((el) => !(el.labels && el.labels.length) && !el.textContent.trim()
                                && !el.getAttribute('aria-label'))
                .map((el) => el.outerHTML)"""
        )
        assert unlabelled == [], unlabelled
        # Tab goes through the form in order, and every control shows where the focus is.
        page.locator("#room-name").focus()
        seen: list[str] = []
        while not any(s in ("Create room", "Save changes") for s in seen):
            assert len(seen) < 30, seen
            seen.append(
                page.evaluate("document.activeElement.id || document.activeElement.textContent")
            )
            outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
            assert outline != "none", seen[-1]
            page.keyboard.press("Tab")
        for field in TAB_STOPS:
            assert field in seen, (field, seen)
    # A checkbox toggles with Space and the form sends with Enter.
    page.locator("#room-is_locked").focus()
    page.keyboard.press("Space")
    page.locator("#room-name").press("Enter")
    page.get_by_text("Saved.").wait_for()
    assert _room(server, "keyboard-room").json()["is_locked"] is True

    # The room page: Join with Enter, then the consent answers with the keyboard.
    page.goto("/rooms/keyboard-room")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    join = page.get_by_role("button", name="Join the meeting")
    join.focus()
    page.keyboard.press("Enter")
    page.get_by_role("heading", name=CONSENT_QUESTION).wait_for()
    page.wait_for_function("document.activeElement.id === 'consent-heading'")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Yes, keep the audio"
    page.keyboard.press("Enter")
    page.get_by_text("You agreed that this meeting's audio may be kept").wait_for()


@pytest.fixture(scope="module")
def room_transcripts(server, data_dir) -> dict:
    """A room with a finished transcript whose audio was deleted after a participant declined
    (what the consent stage leaves behind, set in the server's database as that stage does),
    and a transcript recorded elsewhere."""
    room = httpx.post(f"{server}/v1/rooms", json={"name": "filter-room"}, timeout=30).json()
    inside = httpx.post(
        f"{server}/v1/transcripts",
        json={"name": "Recorded in the room", "room_id": room["id"]},
        timeout=30,
    ).json()
    outside = httpx.post(f"{server}/v1/transcripts", json={"name": "Elsewhere"}, timeout=30)
    with sqlite3.connect(data_dir / "reflector.db") as db:
        db.execute(
            "UPDATE transcripts SET status = 'ended', audio_deleted = 1 WHERE id = ?",
            (inside["id"],),
        )
    return {"room": room, "inside": inside, "outside": outside.json()}


@pytest.mark.slow
def test_the_transcript_list_filters_by_room_and_a_deleted_audio_is_said(watched, room_transcripts):
    room, inside, outside = (room_transcripts[k] for k in ("room", "inside", "outside"))
    page = watched.page
    page.goto("/")
    page.locator(f'li.card[data-id="{outside["id"]}"]').wait_for()
    page.get_by_label("Room").select_option(label="filter-room")
    page.wait_for_url(re.compile(rf".*[?&]room={room['id']}"))
    page.locator(f'li.card[data-id="{inside["id"]}"]').wait_for()
    assert page.locator(f'li.card[data-id="{outside["id"]}"]').count() == 0

    # The room page lists it and links to the list filtered by the room.
    page.goto("/rooms/filter-room")
    transcripts = page.get_by_role("list", name="Transcripts of this room")
    transcripts.get_by_role("link", name="Recorded in the room").wait_for()
    assert transcripts.locator("li").count() == 1
    page.get_by_role("link", name="See them with the others").click()
    page.wait_for_url(re.compile(rf".*/\?room={room['id']}$"))
    assert page.get_by_label("Room").input_value() == room["id"]
    page.locator(f'li.card[data-id="{inside["id"]}"]').get_by_role("link").click()
    page.locator("#transcript-heading").wait_for()
    page.get_by_text("The audio of this meeting was deleted").wait_for()
    assert page.locator(".player").count() == 0


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1280, 375])
def test_screenshots_of_the_room_pages(browser, server, room_transcripts, scheme, width):
    name = "design-review"
    if _room(server, name).status_code == 404:
        body = {"name": name, "is_shared": True, "zulip_stream": "meetings"}
        httpx.post(f"{server}/v1/rooms", json=body, timeout=30).raise_for_status()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    session = Watched(
        browser,
        server,
        viewport={"width": width, "height": 900 if width > 500 else 812},
        color_scheme=scheme,
    )
    try:
        page = session.page

        def shot(label: str) -> None:
            # Nothing wider than the screen: no sideways scrolling on a phone.
            assert page.evaluate("document.documentElement.scrollWidth") <= width, label
            assert_accessible(page, f"{label} at {width} px, {scheme}")
            target = SCREENSHOTS / f"{label}-{width}-{scheme}.png"
            page.screenshot(path=str(target), full_page=True)
            assert target.stat().st_size > 0

        page.goto("/rooms")
        page.locator("li.room-card").first.wait_for()
        shot("rooms")
        page.goto(f"/rooms/{name}/settings")
        page.locator("#room-name").wait_for()
        page.get_by_label("Read every (seconds)").fill("5")
        page.get_by_role("button", name="Save changes").click()
        page.locator("#room-ics_fetch_interval-error").wait_for()
        shot("room-settings")
        page.goto(f"/rooms/{name}")
        page.get_by_role("button", name="Join the meeting").wait_for()
        shot("room")
        page.get_by_role("button", name="Join the meeting").click()
        page.frame_locator("iframe.call-frame").get_by_text("The call of the room").wait_for()
        page.locator(".consent, .consent-answer").first.wait_for()
        shot("room-call")
        page.goto(f"/?room={room_transcripts['room']['id']}")
        page.locator("#room-filter").wait_for()
        page.locator("li.card").first.wait_for()
        shot("browse-by-room")
        page.goto(f"/transcripts/{room_transcripts['inside']['id']}")
        page.locator(".audio-deleted").wait_for()
        shot("transcript-audio-deleted")
    finally:
        session.close()

"""The web app's webhooks page and a room's integrations, in a real browser against the real
server, a local Zulip, a local webhook receiver and ICS files served locally.

``reflector serve`` runs with its Zulip bot pointing at ``reflector_testkit.zulip`` and allowed
to call and read from 127.0.0.1 (``REFLECTOR_WEBHOOK_ALLOW_PRIVATE_NETWORKS``,
``REFLECTOR_ICS_ALLOW_PRIVATE_NETWORKS``); a second, strict server has neither Zulip nor those
allowances, to show the refusals. Debian's ``chromium`` (Playwright for Python) adds an endpoint,
sends tests (delivered, refused with a 500, unreachable) and reads them in the delivery log,
enables an endpoint the server had disabled, picks a room's Zulip stream and topic, reads a
room's calendar, and sends a test to a room's webhook; what the pages did is checked through the
API and at the receivers. Screenshots: ``webhooks-*`` and ``room-integrations-*`` under
``.cache/screenshots/``, desktop and phone width, light and dark.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from reflector.api.webapp import WEB_DIST
from reflector.integrations.webhooks.signing import verify
from reflector_testkit.browser import WatchedPage, chromium
from reflector_testkit.calendars import calendar_server
from reflector_testkit.ports import free_port
from reflector_testkit.servers import running_server
from reflector_testkit.webhook_receiver import WebhookReceiver
from reflector_testkit.zulip import Message, fake_zulip
from tests.test_web import assert_accessible

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / ".cache" / "screenshots"
REFUSED = "Failed to load resource: the server responded with a status of "
BOT_KEY = "bot-api-key-0123456789abcdef"
pytestmark = pytest.mark.slow


# --- local stand-ins for the outside world -----------------------------------------------------


@pytest.fixture(scope="module")
def zulip():
    with fake_zulip(api_key=BOT_KEY, streams={1: "general", 2: "meetings", 3: "releases"}) as fake:
        fake.messages[1000] = Message(1000, "meetings", "Weekly sync", "hello", fake.bot_email)
        fake.messages[1001] = Message(1001, "meetings", "Design review", "hi", fake.bot_email)
        yield fake


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hooks:
        yield hooks


@pytest.fixture(scope="module")
def calendars():
    with calendar_server() as served:
        yield served


def ics(*events: str) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", *events, "END:VCALENDAR"]
    return "\r\n".join("\r\n".join(lines).splitlines()) + "\r\n"


def event(uid: str, start: datetime, minutes: int, summary: str, location: str) -> str:
    stamp = "%Y%m%dT%H%M%SZ"
    return "\r\n".join(
        [
            "BEGIN:VEVENT",
            f"UID:{uid}",
            f"DTSTART:{start.astimezone(UTC).strftime(stamp)}",
            f"DTEND:{(start + timedelta(minutes=minutes)).astimezone(UTC).strftime(stamp)}",
            f"SUMMARY:{summary}",
            f"LOCATION:{location}",
            "END:VEVENT",
        ]
    )


# --- the servers -------------------------------------------------------------------------------


def _built() -> None:
    if not (WEB_DIST / "index.html").is_file():
        pytest.fail("the web app is not built: run `bash scripts/install.sh --dev`")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("web-integrations-server")


@pytest.fixture(scope="module")
def server(data_dir, zulip) -> Iterator[str]:
    _built()
    env = {
        "REFLECTOR_ASR_MODEL": "tiny.en",
        "REFLECTOR_LLM_BACKEND": "extractive",
        "REFLECTOR_ZULIP_SITE": zulip.base_url,
        "REFLECTOR_ZULIP_BOT_EMAIL": zulip.bot_email,
        "REFLECTOR_ZULIP_API_KEY": BOT_KEY,
        "REFLECTOR_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
        "REFLECTOR_ICS_ALLOW_PRIVATE_NETWORKS": "true",
    }
    with running_server(data_dir, None, env) as process:
        yield process.base_url


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory) -> Iterator[str]:
    """No Zulip, and nothing inside the network may be called or read."""
    _built()
    env = {"REFLECTOR_ASR_MODEL": "tiny.en", "REFLECTOR_LLM_BACKEND": "extractive"}
    with running_server(tmp_path_factory.mktemp("web-strict-server"), None, env) as process:
        yield process.base_url


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def _provoked(text: str, path: str) -> bool:
    """The API's refusals the tests provoke (a 4xx, and Zulip's 502/503 passed on by the
    server): the tests check they are said in words."""
    if not (text.startswith(REFUSED) and path.startswith("/v1/")):
        return False
    status = text[len(REFUSED) :][:3]
    return status.startswith("4") or (path.startswith("/v1/zulip/") and status in ("502", "503"))


class Watched(WatchedPage):
    """A watched page that may use the clipboard, where provoked refusals are expected."""

    def __init__(self, browser, base_url: str, **options) -> None:
        super().__init__(browser, base_url, _provoked, **options)
        self.context.grant_permissions(["clipboard-read", "clipboard-write"])


@pytest.fixture
def watched(browser, server) -> Iterator[Watched]:
    session = Watched(browser, server, viewport={"width": 1280, "height": 900})
    yield session
    session.close()


@pytest.fixture
def strict(browser, strict_server) -> Iterator[Watched]:
    session = Watched(browser, strict_server, viewport={"width": 1280, "height": 900})
    yield session
    session.close()


def _api(server: str, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, f"{server}{path}", timeout=30, **kwargs)


def _room(server: str, body: dict) -> dict:
    response = _api(server, "POST", "/v1/rooms", json=body)
    response.raise_for_status()
    return response.json()


def _error_of(page, field_id: str) -> str:
    """The message shown next to a field, found the way a screen reader finds it."""
    described = page.locator(f"#{field_id}").get_attribute("aria-describedby") or ""
    assert f"{field_id}-error" in described.split()
    return page.locator(f"#{field_id}-error").inner_text()


def _webhooks(server: str) -> list[dict]:
    return _api(server, "GET", "/v1/webhooks").json()


# --- the webhooks page -------------------------------------------------------------------------


def test_an_endpoint_is_added_tested_and_its_deliveries_logged(watched, server, receiver):
    page = watched.page
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks").click()
    page.get_by_role("heading", name="Webhooks", exact=True).wait_for()
    page.get_by_text("No endpoints yet").wait_for()

    # A URL that is not one, a short secret and no event: said next to each, nothing sent.
    page.get_by_label("Receiver URL").fill("hooks.example.org/reflector")
    page.get_by_label("Signing secret (optional)").fill("too-short")
    page.get_by_role("button", name="Add endpoint").click()
    page.locator("#new-endpoint-secret-error").wait_for()
    assert "16 characters" in _error_of(page, "new-endpoint-secret")
    page.get_by_label("Signing secret (optional)").fill("")
    for label in (
        "A transcript is ready",
        "A transcript was processed again",
        "A transcript failed",
        "A room's meeting started",
        "A room's meeting ended",
    ):
        page.get_by_label(label).uncheck()
    page.get_by_role("button", name="Add endpoint").click()
    page.get_by_text("Choose at least one event.").wait_for()
    page.get_by_label("A transcript is ready").check()
    page.get_by_label("A transcript failed").check()
    page.get_by_role("button", name="Add endpoint").click()
    page.locator("#new-endpoint-url-error").wait_for()
    assert "http:// or https://" in _error_of(page, "new-endpoint-url")
    assert page.evaluate("document.activeElement.id") == "new-endpoint-url"
    assert _webhooks(server) == []

    # Added: the secret is shown once, with a Copy button.
    page.get_by_label("Receiver URL").fill(receiver.url)
    page.get_by_label("Description (optional)").fill("CI receiver")
    page.get_by_role("button", name="Add endpoint").click()
    shown = page.locator("#created-secret")
    shown.wait_for()
    secret = shown.input_value()
    assert secret.startswith("whsec_")
    page.get_by_role("button", name="Copy the secret").click()
    page.get_by_role("button", name="Copied the secret").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    [hook] = _webhooks(server)
    assert hook["url"] == receiver.url and hook["description"] == "CI receiver"
    assert hook["events"] == ["transcript.completed", "transcript.failed"]
    assert hook["secret"] is None and secret.startswith(hook["secret_prefix"])
    page.get_by_role("button", name="Done").click()
    assert page.locator("#created-secret").count() == 0
    card = page.locator(f'li.endpoint[data-id="{hook["id"]}"]')
    assert "A transcript is ready · A transcript failed" in card.inner_text()
    page.reload()
    card.wait_for()
    assert secret not in page.content()  # shown once: not after a reload

    # Send a test: the result in words, the delivery at the receiver (signed with the secret)
    # and at the top of the log.
    before = receiver.count()
    card.get_by_role("button", name="Send a test").click()
    result = card.locator(".test-result")
    result.wait_for()
    delivered = r"The test was delivered: the receiver answered 200 OK in \d+"
    assert re.match(delivered, result.inner_text())
    [request] = receiver.wait_for(before + 1)[before:]
    assert request.headers["reflector-event"] == "webhook.test"
    assert verify(secret, request.body, request.headers["reflector-signature"])
    log = card.get_by_role("list", name=f"Deliveries to {receiver.url}")
    log.locator("li.delivery").first.wait_for()
    first = log.locator("li.delivery").first
    assert first.get_attribute("data-status") == "delivered"
    assert "Delivered" in first.inner_text() and "Answer: 200 OK" in first.inner_text()

    # A receiver that fails: said in words, with what it answered; newest first in the log.
    receiver.respond(500, body=b'{"error": "database is down"}')
    card.get_by_role("button", name="Send a test").click()
    card.locator('.test-result[data-status="failed"]').wait_for()
    assert "The test failed. The receiver answered 500 Internal Server Error" in result.inner_text()
    card.locator(".test-result-box").get_by_text("What the receiver answered").click()
    card.locator(".test-result-box").get_by_text("database is down").wait_for()
    log.locator('li.delivery[data-status="failed"]').first.wait_for()
    assert log.locator("li.delivery").count() == 2
    assert log.locator("li.delivery").first.get_attribute("data-status") == "failed"
    receiver.respond(200)

    # The log follows deliveries made elsewhere by itself (it is read again every few seconds).
    sent = _api(server, "POST", f"/v1/webhooks/{hook['id']}/test").json()
    log.locator(f'li.delivery[data-id="{sent["id"]}"]').wait_for(timeout=20_000)
    assert log.locator("li.delivery").count() == 3

    # Only the failures, through the log's filter.
    card.get_by_label("Show deliveries").select_option("failed")
    page.wait_for_function(
        "() => [...document.querySelectorAll('li.delivery')].every("
        "(li) => li.dataset.status === 'failed')"
    )
    assert log.locator("li.delivery").count() == 1
    card.get_by_label("Show deliveries").select_option("")

    # Moved to an address where nothing listens: the test says the receiver could not be reached.
    card.get_by_role("button", name="Edit CI receiver").click()
    edit_url = card.get_by_label("Receiver URL")
    unreachable = f"http://127.0.0.1:{free_port()}/hook"
    edit_url.fill(unreachable)
    card.get_by_role("button", name="Save changes").click()
    card.locator("h3").get_by_text(unreachable).wait_for()
    assert _api(server, "GET", f"/v1/webhooks/{hook['id']}").json()["url"] == unreachable
    card.get_by_role("button", name="Send a test").click()
    card.locator('.test-result[data-status="failed"]').wait_for()
    assert "could not be reached" in result.inner_text()

    # A new secret: shown once, and the server signs with it from now on.
    card.get_by_role("button", name="New secret for CI receiver").click()
    card.get_by_role("button", name="Make a new secret").click()
    renewed = card.locator(f"#secret-{hook['id']}")
    renewed.wait_for()
    new_secret = renewed.input_value()
    assert new_secret.startswith("whsec_") and new_secret != secret
    prefix = _api(server, "GET", f"/v1/webhooks/{hook['id']}").json()["secret_prefix"]
    assert new_secret.startswith(prefix)
    card.get_by_role("button", name="Done").click()

    # Deleted, after a confirmation.
    card.get_by_role("button", name="Delete CI receiver").click()
    card.get_by_role("button", name="Delete the endpoint").click()
    card.wait_for(state="detached")
    assert _api(server, "GET", f"/v1/webhooks/{hook['id']}").status_code == 404


def _disable(data_dir: Path, webhook_id: str) -> str:
    """What the sender leaves when an endpoint's every try failed for a day (written into the
    server's database as the sender writes it; a day of failures is not waited for here)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    since = now - timedelta(days=1, minutes=5)
    reason = (
        f"Disabled automatically on {now:%Y-%m-%d %H:%M} UTC: every delivery since "
        f"{since:%Y-%m-%d %H:%M} UTC failed (last: HTTP 503). Fix the receiver, "
        "send a test, then enable the endpoint again."
    )
    with sqlite3.connect(data_dir / "reflector.db") as db:
        db.execute(
            "UPDATE webhooks SET enabled = 0, failing_since = ?, disabled_at = ?,"
            " disabled_reason = ? WHERE id = ?",
            (since.isoformat(" "), now.isoformat(" "), reason, webhook_id),
        )
    return reason


def test_a_disabled_endpoint_says_why_and_is_enabled_again(watched, server, data_dir, receiver):
    hook = _api(server, "POST", "/v1/webhooks", json={"url": receiver.url, "description": "Flaky"})
    hook = hook.json()
    reason = _disable(data_dir, hook["id"])
    page = watched.page
    page.goto("/webhooks")
    card = page.locator(f'li.endpoint[data-id="{hook["id"]}"]')
    card.wait_for()
    assert card.get_attribute("data-enabled") == "false"
    notice = card.locator(".endpoint-off")
    assert "Disabled: nothing is sent to this endpoint" in notice.inner_text()
    assert reason in notice.inner_text()
    # A test still goes (to check the fix), then the endpoint is enabled again.
    card.get_by_role("button", name="Send a test").click()
    card.locator('.test-result[data-status="delivered"]').wait_for()
    card.get_by_role("button", name="Enable again").click()
    notice.wait_for(state="detached")
    assert card.get_attribute("data-enabled") == "true"
    after = _api(server, "GET", f"/v1/webhooks/{hook['id']}").json()
    assert after["enabled"] is True and after["disabled_reason"] is None
    _api(server, "DELETE", f"/v1/webhooks/{hook['id']}")


def test_unsafe_webhook_urls_are_refused_in_words(strict, strict_server):
    page = strict.page
    page.goto("/webhooks")
    page.get_by_label("Receiver URL").fill("http://127.0.0.1:9/hook")
    page.get_by_role("button", name="Add endpoint").click()
    page.locator("#new-endpoint-url-error").wait_for()
    message = _error_of(page, "new-endpoint-url")
    assert "public addresses" in message and "loopback" in message
    assert page.locator("#new-endpoint-url").get_attribute("aria-invalid") == "true"
    page.get_by_label("Receiver URL").fill("https://hooks.invalid/reflector")
    page.get_by_role("button", name="Add endpoint").click()
    page.get_by_text("could not be resolved").wait_for()
    assert page.get_by_label("Receiver URL").input_value() == "https://hooks.invalid/reflector"
    assert _webhooks(strict_server) == []


# --- a room's integrations -----------------------------------------------------------------------


def test_the_zulip_stream_and_topic_are_picked_from_what_the_bot_sees(watched, server, zulip):
    _room(server, {"name": "zulip-room"})
    page = watched.page
    page.goto("/rooms/zulip-room/settings")
    stream = page.locator("select#room-zulip_stream")
    stream.wait_for()
    assert page.get_by_label("Stream").evaluate("el => el.tagName") == "SELECT"
    options = stream.locator("option").all_inner_texts()
    assert options == ["No stream", "general", "meetings", "releases"]
    page.get_by_text("The 3 streams the Zulip bot sees.").wait_for()
    page.get_by_label("Stream").select_option("meetings")
    # The stream's topics are offered, most recently active first; any other may be typed.
    choices = page.locator("#room-zulip_topic-choices option")
    choices.first.wait_for(state="attached")
    assert [choices.nth(i).get_attribute("value") for i in range(choices.count())] == [
        "Design review",
        "Weekly sync",
    ]
    assert page.get_by_label("Topic").get_attribute("list") == "room-zulip_topic-choices"
    page.get_by_label("Topic").fill("Weekly sync")
    page.get_by_label("Post each transcript's summary to Zulip").check()
    page.get_by_role("button", name="Save changes").click()
    page.get_by_text("Saved.").wait_for()
    saved = _api(server, "GET", "/v1/rooms/zulip-room").json()
    assert (saved["zulip_stream"], saved["zulip_topic"], saved["zulip_auto_post"]) == (
        "meetings",
        "Weekly sync",
        True,
    )

    # Wrong credentials: the stream is typed instead, and Zulip's refusal is said in words.
    zulip.api_key = "another-key-0123456789"
    try:
        page.reload()
        hint = page.locator("#room-zulip_stream-hint")
        hint.get_by_text("The streams could not be listed").wait_for()
        assert "refused the bot's credentials" in hint.inner_text()
        assert "Invalid API key" in hint.inner_text()
        assert page.get_by_label("Stream").evaluate("el => el.tagName") == "INPUT"
        assert page.get_by_label("Stream").input_value() == "meetings"
        described = page.get_by_label("Stream").get_attribute("aria-describedby")
        assert "room-zulip_stream-hint" in described.split()
        # Zulip down: said too.
        zulip.unavailable = True
        page.get_by_role("button", name="Ask Zulip again").click()
        hint.get_by_text("cannot serve now (503)").wait_for()
    finally:
        zulip.api_key = BOT_KEY
        zulip.unavailable = False
    page.get_by_role("button", name="Ask Zulip again").click()
    stream.wait_for()
    assert stream.input_value() == "meetings"


def test_without_zulip_the_stream_is_typed_and_the_reason_said(strict, strict_server):
    _room(strict_server, {"name": "no-zulip"})
    page = strict.page
    page.goto("/rooms/no-zulip/settings")
    hint = page.locator("#room-zulip_stream-hint")
    hint.get_by_text("Zulip is not set up on this server").wait_for()
    assert "REFLECTOR_ZULIP_SITE" in hint.inner_text()
    page.get_by_label("Stream").fill("general")
    page.get_by_role("button", name="Save changes").click()
    page.get_by_text("Saved.").wait_for()
    assert _api(strict_server, "GET", "/v1/rooms/no-zulip").json()["zulip_stream"] == "general"


def test_the_calendar_status_shows_what_was_found_and_what_went_wrong(watched, server, calendars):
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    link = f"{server}/rooms/cal-room"
    good = calendars.put(
        "/team.ics",
        ics(
            event("planning@test", soon, 30, "Planning", link),
            event("retro@test", soon + timedelta(hours=3), 45, "Retro", link),
            event("other@test", soon, 30, "Elsewhere", "Room 4"),
        ),
    )
    _room(server, {"name": "cal-room"})
    page = watched.page
    page.goto("/rooms/cal-room/settings")
    page.locator("#room-name").wait_for()
    assert page.locator(".calendar-status").count() == 0  # no calendar yet

    # Saved: read at once, and the outcome is shown next to the calendar's fields.
    page.get_by_label("Calendar (ICS) URL").fill(good)
    page.get_by_label("Read the calendar", exact=True).check()
    page.get_by_role("button", name="Save changes").click()
    status = page.locator(".calendar-status")
    status.locator('dd[data-ok="true"]').wait_for()
    assert "Read without problems." in status.inner_text()
    page.get_by_text("Read now: 2 events for this room").wait_for()
    facts = status.locator("dl").inner_text()
    assert "2 events for this room" in facts and "Not yet" not in facts
    upcoming = _api(server, "GET", "/v1/rooms/cal-room/meetings").json()["upcoming"]
    assert len(upcoming) == 2

    # Read again with the button: the calendar had not changed (304).
    page.get_by_role("button", name="Read the calendar now").click()
    page.get_by_text("the calendar had not changed").wait_for()
    # Opening the page again shows the kept status.
    page.reload()
    status.locator('dd[data-ok="true"]').wait_for()
    assert "2 events for this room" in status.inner_text()

    # A page that is not a calendar: said in words; the meetings stay.
    broken = calendars.put("/not-a-calendar.ics", "<html><body>Sign in</body></html>")
    page.get_by_label("Calendar (ICS) URL").fill(broken)
    page.get_by_role("button", name="Save changes").click()
    problem = status.locator('dd[data-ok="false"]')
    problem.wait_for()
    assert "The calendar could not be read: this is not an iCalendar file" in problem.inner_text()
    assert "No meeting was changed" in status.inner_text()
    assert len(_api(server, "GET", "/v1/rooms/cal-room/meetings").json()["upcoming"]) == 2

    # An address where nothing answers: said in words too.
    page.get_by_label("Calendar (ICS) URL").fill(f"http://127.0.0.1:{free_port()}/team.ics")
    page.get_by_role("button", name="Save changes").click()
    status.locator('dd[data-ok="false"]').get_by_text("could not be fetched").wait_for()


def test_a_calendar_inside_the_network_is_refused_in_words(strict, strict_server, calendars):
    url = calendars.put("/inside.ics", ics())
    _room(strict_server, {"name": "inside-cal", "ics_url": url, "ics_enabled": True})
    page = strict.page
    page.goto("/rooms/inside-cal/settings")
    page.get_by_role("button", name="Read the calendar now").click()
    problem = page.locator('.calendar-status dd[data-ok="false"]')
    problem.wait_for()
    assert "REFLECTOR_ICS_ALLOW_PRIVATE_NETWORKS" in problem.inner_text()


def test_a_rooms_webhook_is_tested_and_its_deliveries_shown(watched, server, receiver):
    room = _room(server, {"name": "hook-room", "webhook_url": receiver.url})
    page = watched.page
    page.goto("/rooms/hook-room/settings")
    box = page.locator(".room-webhook")
    box.get_by_role("button", name="Send a test").wait_for()
    assert receiver.url in box.inner_text()
    before = receiver.count()
    box.get_by_role("button", name="Send a test").click()
    box.locator('.test-result[data-status="delivered"]').wait_for()
    assert "The test was delivered" in box.locator(".test-result").inner_text()
    [request] = receiver.wait_for(before + 1)[before:]
    secret = _api(server, "GET", "/v1/rooms/hook-room").json()["webhook_secret"]
    assert verify(secret, request.body, request.headers["reflector-signature"])
    box.locator('li.delivery[data-status="delivered"]').wait_for()

    # A receiver that refuses: the test's words say so, and the log lists both, newest first.
    receiver.respond(404)
    box.get_by_role("button", name="Send a test").click()
    box.locator('.test-result[data-status="failed"]').wait_for()
    assert "404 Not Found" in box.locator(".test-result").inner_text()
    box.locator('li.delivery[data-status="failed"]').wait_for()
    assert [item.get_attribute("data-status") for item in box.locator("li.delivery").all()] == [
        "failed",
        "delivered",
    ]
    receiver.respond(200)

    # The same endpoint on the webhooks page, named after its room.
    page.get_by_role("link", name="Webhooks", exact=True).last.click()
    [hook] = [w for w in _webhooks(server) if w["room_id"] == room["id"]]
    card = page.locator(f'li.endpoint[data-id="{hook["id"]}"]')
    card.get_by_role("link", name="hook-room").wait_for()
    card.get_by_role("button", name="Delivery log", exact=True).click()
    card.locator("li.delivery").nth(1).wait_for()
    assert card.locator("li.delivery").count() == 2


# --- keyboard and labels -------------------------------------------------------------------

UNLABELLED = """() => [...document.querySelectorAll(
        'main input, main select, main button, main summary')]
    .filter((el) => !(el.labels && el.labels.length) && !el.textContent.trim()
                    && !el.getAttribute('aria-label'))
    .map((el) => el.outerHTML)"""


def test_the_pages_work_with_the_keyboard_and_label_every_control(watched, server, receiver):
    room = "keys-room"
    if _api(server, "GET", f"/v1/rooms/{room}").status_code == 404:
        _room(server, {"name": room, "webhook_url": receiver.url})
    page = watched.page
    page.goto("/webhooks")
    page.get_by_label("Receiver URL").wait_for()

    # An endpoint added with the keyboard alone: type, Enter sends the form.
    page.get_by_label("Receiver URL").focus()
    page.keyboard.type(receiver.url + "?keyboard")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "new-endpoint-description"
    page.keyboard.type("Typed")
    page.keyboard.press("Enter")
    page.locator("#created-secret").wait_for()
    assert page.evaluate("document.activeElement.id") == "created-secret"
    [hook] = [w for w in _webhooks(server) if w["description"] == "Typed"]
    card = page.locator(f'li.endpoint[data-id="{hook["id"]}"]')
    # "Send a test" with Enter, the log opened with Space; every stop shows where the focus is.
    card.get_by_role("button", name="Send a test").focus()
    page.keyboard.press("Enter")
    card.locator(".test-result").wait_for()
    card.get_by_role("button", name="Delivery log", exact=True).focus()
    assert (
        card.get_by_role("button", name="Delivery log", exact=True).get_attribute("aria-expanded")
        == "true"
    )
    page.keyboard.press("Space")
    assert card.locator(".delivery-log").count() == 0
    page.keyboard.press("Space")
    card.locator(".delivery-log").wait_for()
    page.locator("#new-endpoint-url").focus()
    stops: list[str] = []
    wanted = ("Send a test", "Refresh the delivery log", "Delete Typed")
    while not all(any(w in stop for stop in stops) for w in wanted):
        assert len(stops) < 80, stops
        page.keyboard.press("Tab")
        label = page.evaluate("document.activeElement.id || document.activeElement.textContent")
        stops.append(label)
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none", label
    assert page.evaluate(UNLABELLED) == []

    # The room's settings, with its streams, calendar and webhook: every control labelled.
    page.goto(f"/rooms/{room}/settings")
    page.locator("select#room-zulip_stream").wait_for()
    page.locator(".room-webhook").get_by_role("button", name="Delivery log", exact=True).click()
    page.locator(".room-webhook .delivery-log").wait_for()
    assert page.evaluate(UNLABELLED) == []
    page.locator("#room-zulip_stream").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "room-zulip_topic"
    _api(server, "DELETE", f"/v1/webhooks/{hook['id']}")


# --- screenshots ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def showcase(server, data_dir, receiver, calendars) -> dict:
    """Endpoints with deliveries of each kind, a disabled one, and a room with every
    integration set (its calendar read, one meeting found)."""
    made = {}
    for description in ("Release notes bot", "Old CRM"):
        body = {"url": receiver.url, "description": description}
        if description == "Release notes bot":
            body["events"] = ["transcript.completed", "transcript.reprocessed"]
        made[description] = _api(server, "POST", "/v1/webhooks", json=body).json()
    live = made["Release notes bot"]["id"]
    _api(server, "POST", f"/v1/webhooks/{live}/test")
    receiver.respond(502, body=b"<html><body><h1>502 Bad Gateway</h1></body></html>")
    _api(server, "POST", f"/v1/webhooks/{live}/test")
    receiver.respond(200)
    _disable(data_dir, made["Old CRM"]["id"])
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    url = calendars.put(
        "/design.ics",
        ics(event("design@test", soon, 60, "Design review", f"{server}/rooms/design-sync")),
    )
    if _api(server, "GET", "/v1/rooms/design-sync").status_code == 404:
        _room(
            server,
            {
                "name": "design-sync",
                "webhook_url": receiver.url,
                "zulip_auto_post": True,
                "zulip_stream": "meetings",
                "zulip_topic": "Weekly sync",
                "ics_url": url,
                "ics_enabled": True,
            },
        )
        _api(server, "POST", "/v1/rooms/design-sync/ics/sync").raise_for_status()
    return {"live": live}


@pytest.fixture(scope="module")
def refusals(strict_server, calendars) -> str:
    """A room of the strict server whose calendar is inside the network (refused)."""
    name = "refused-room"
    if _api(strict_server, "GET", f"/v1/rooms/{name}").status_code == 404:
        url = calendars.put("/refused.ics", ics())
        _room(strict_server, {"name": name, "ics_url": url, "ics_enabled": True})
        _api(strict_server, "POST", f"/v1/rooms/{name}/ics/sync").raise_for_status()
    return name


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1280, 375])
def test_screenshots_of_the_integrations(
    browser, server, strict_server, showcase, refusals, scheme, width
):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    options = {
        "viewport": {"width": width, "height": 900 if width > 500 else 812},
        "color_scheme": scheme,
    }
    sessions = [Watched(browser, server, **options), Watched(browser, strict_server, **options)]
    try:

        def shot(page, label: str) -> None:
            # Nothing wider than the screen: no sideways scrolling on a phone.
            assert page.evaluate("document.documentElement.scrollWidth") <= width, label
            assert_accessible(page, f"{label} at {width} px, {scheme}")
            target = SCREENSHOTS / f"{label}-{width}-{scheme}.png"
            page.screenshot(path=str(target), full_page=True)
            assert target.stat().st_size > 0

        page = sessions[0].page
        page.goto("/webhooks")
        card = page.locator(f'li.endpoint[data-id="{showcase["live"]}"]')
        card.wait_for()
        card.get_by_role("button", name="Send a test").click()
        card.locator(".test-result").wait_for()
        card.locator('li.delivery[data-status="failed"]').first.wait_for()
        card.locator("li.delivery details summary").first.click()
        shot(page, "webhooks")
        page.goto("/rooms/design-sync/settings")
        page.locator("select#room-zulip_stream").wait_for()
        page.locator('.calendar-status dd[data-ok="true"]').wait_for()
        box = page.locator(".room-webhook")
        box.get_by_role("button", name="Send a test").click()
        box.locator(".test-result").wait_for()
        box.locator("li.delivery").first.wait_for()
        shot(page, "room-integrations")

        # What the strict server refuses, in words where it is set.
        page = sessions[1].page
        page.goto("/webhooks")
        page.get_by_label("Receiver URL").fill("http://10.0.0.8/hook")
        page.get_by_role("button", name="Add endpoint").click()
        page.locator("#new-endpoint-url-error").wait_for()
        shot(page, "webhooks-refused")
        page.goto(f"/rooms/{refusals}/settings")
        page.locator("#room-zulip_stream-hint .zulip-problem").wait_for()
        page.locator('.calendar-status dd[data-ok="false"]').wait_for()
        page.get_by_label("Webhook URL").fill("http://192.168.1.20/hook")
        page.get_by_role("button", name="Save changes").click()
        page.locator("#room-webhook_url-error").wait_for()
        shot(page, "room-integrations-refused")
    finally:
        for session in sessions:
            session.close()

"""Debian's Chromium driven by Playwright, as the browser tests and the page benchmark use it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

CHROMIUM = Path("/usr/bin/chromium")
# As root in a sandboxed, offline machine: no sandbox, no GPU, and none of Chromium's own
# background requests (they would leave 127.0.0.1).
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


class ChromiumMissing(RuntimeError):
    """Debian's chromium is not installed."""


@contextmanager
def playwright() -> Iterator[Playwright]:
    """Playwright's sync API (it cannot run twice at a time in one thread)."""
    if not CHROMIUM.exists():
        raise ChromiumMissing(
            "Debian's chromium is needed: run `bash scripts/install.sh --dev` as root"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


def launch(driver: Playwright, extra_args: Sequence[str] = ()) -> Browser:
    """Chromium with :data:`CHROMIUM_ARGS` and ``extra_args``."""
    return driver.chromium.launch(executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *extra_args])


@contextmanager
def chromium(extra_args: Sequence[str] = ()) -> Iterator[Browser]:
    """A launched Chromium, closed at the end."""
    with playwright() as driver:
        browser = launch(driver, extra_args)
        try:
            yield browser
        finally:
            browser.close()


def no_error_expected(text: str, path: str) -> bool:
    """Every console error fails the page."""
    return False


class WatchedPage:
    """A browser context and page whose console errors are kept, and whose requests and
    WebSockets that would leave 127.0.0.1 are refused and noted; :meth:`close` fails on either.

    ``expected_error(text, path)`` lets through console errors a test provokes on purpose (the
    browser logs every 4xx answer as one); ``path`` is the URL path the error came from."""

    def __init__(
        self,
        browser: Browser,
        base_url: str,
        expected_error: Callable[[str, str], bool] = no_error_expected,
        **options: Any,
    ) -> None:
        self.context = browser.new_context(base_url=base_url, **options)
        self.expected_error = expected_error
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.on("websocket", self._websocket)

    def _route(self, route: Any) -> None:
        if urlsplit(route.request.url).hostname != "127.0.0.1":
            self.outside.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        path = urlsplit((message.location or {}).get("url", "")).path
        if not self.expected_error(message.text, path):
            self.errors.append(message.text)

    def _websocket(self, socket: Any) -> None:
        if urlsplit(socket.url).hostname != "127.0.0.1":
            self.outside.append(socket.url)

    def close(self) -> None:
        self.context.close()
        assert not self.outside, f"requests left 127.0.0.1: {self.outside}"
        assert not self.errors, f"console errors: {self.errors}"

"""Debian's Chromium driven by Playwright, as the browser tests and the page benchmark use it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

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

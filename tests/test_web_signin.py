"""The sign-in page of a multi-user server, in a real browser (Debian's ``chromium``).

A user with a password is added with ``reflector users add``; the browser is sent to sign-in
from a page that needs it, is told when the password is wrong, lands back where it started
after signing in, sees who is signed in, and signs out.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reflector.api.webapp import WEB_DIST
from reflector_testkit.browser import chromium
from reflector_testkit.servers import running_server
from tests.test_web import assert_accessible

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / ".cache" / "screenshots"
PASSWORD = "correct horse battery staple"
ENV = {"REFLECTOR_AUTH_MODE": "multi-user", "REFLECTOR_LLM_BACKEND": "extractive"}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """(base URL, email of a user with a password) of a multi-user ``reflector serve``."""
    if not (WEB_DIST / "index.html").is_file():
        pytest.fail("the web app is not built: run `bash scripts/install.sh --dev`")
    data_dir = tmp_path_factory.mktemp("signin-server")
    with running_server(data_dir, None, ENV) as process:
        email = f"ann-{uuid.uuid4().hex[:8]}@example.org"
        env = {**os.environ, **ENV, "REFLECTOR_DATA_DIR": str(data_dir)}
        env.pop("REFLECTOR_DATABASE_URL", None)
        command = "from reflector.cli.main import cli; cli()"
        added = subprocess.run(
            [sys.executable, "-c", command, "users", "add", email, "--password-stdin"],
            input=PASSWORD + "\n",
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert added.returncode == 0, added.stderr
        yield process.base_url, email


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser, server):
    context = browser.new_context(
        base_url=server[0], viewport={"width": 1280, "height": 800}, color_scheme="light"
    )
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"page errors: {errors}"


def _path(page) -> str:
    return page.evaluate("location.pathname + location.search")


def test_the_server_says_how_to_sign_in(server):
    methods = httpx.get(f"{server[0]}/v1/auth/methods", timeout=30).json()
    assert methods == {"multi_user": True, "oidc": False}


def test_sign_in_wrong_password_then_right_then_sign_out(page, server):
    email = server[1]
    page.goto("/rooms")
    page.wait_for_url("**/sign-in?next=%2Frooms")
    heading = page.get_by_role("heading", name="Sign in")
    heading.wait_for()
    # No single sign-on is set up here, so no button for it.
    assert page.get_by_text("Sign in with single sign-on").count() == 0
    # The header shows nobody before signing in.
    assert page.get_by_role("button", name="Sign out").count() == 0

    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "password is wrong" in alert.inner_text()
    assert _path(page) == "/sign-in?next=%2Frooms"

    assert_accessible(page, "sign-in with a refused password")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "signin-1280-light.png"), full_page=True)

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/rooms")
    page.locator(".account-email", has_text=email).wait_for()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/sign-in")
    # Signed out for real: the next page that needs an account sends the browser back.
    page.goto("/")
    page.wait_for_url("**/sign-in?next=%2F")
    assert page.get_by_role("button", name="Sign out").count() == 0


def test_after_sign_in_the_browser_lands_on_the_home_page(page, server):
    base_url, email = server
    page.goto("/")
    page.wait_for_url("**/sign-in?next=%2F")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/")
    page.locator(".account-email", has_text=email).wait_for()


def test_sign_in_never_goes_to_another_site(page, server):
    base_url, email = server
    page.goto("/sign-in?next=//example.org/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/")


def test_a_public_link_shows_the_transcript_without_edit_controls(page, server):
    base_url, email = server
    page.goto("/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/")
    made = page.evaluate(
        """async () => {
            const csrf = document.cookie.match(/reflector_csrf=([^;]+)/)?.[1] ?? "";
            const headers = {"content-type": "application/json", "x-csrf-token": csrf};
            const created = await fetch("/v1/transcripts", {
                method: "POST", headers, body: JSON.stringify({name: "Board review"}),
            }).then((r) => r.json());
            const shared = await fetch(`/v1/transcripts/${created.id}`, {
                method: "PATCH", headers, body: JSON.stringify({share_mode: "public"}),
            });
            return {id: created.id, status: shared.status};
        }"""
    )
    assert made["status"] == 200, made
    rename = page.get_by_role("button", name="Rename the transcript")
    page.goto(f"/transcripts/{made['id']}")
    page.get_by_role("heading", name="Board review").wait_for()
    assert rename.count() == 1  # the owner edits
    assert page.locator("summary", has_text="Share").count() == 1

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/sign-in")
    page.goto(f"/transcripts/{made['id']}")  # anyone with the link
    page.get_by_role("heading", name="Board review").wait_for()
    assert rename.count() == 0
    assert page.locator("summary", has_text="Share").count() == 0
    assert page.get_by_role("button", name="Delete").count() == 0
    assert_accessible(page, "a public transcript, read by someone signed out")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "public-transcript-1280-light.png"), full_page=True)

"""A real OpenID Connect issuer for tests: the npm package ``oidc-provider`` run by Node on
127.0.0.1 (see ``oidc_provider.mjs``), and a browser's way through its sign-in pages.

The package is fetched by pinned version with ``npm pack``, its tarball checked against a
SHA-256, and installed with its dependencies into ``.cache/oidc-provider/`` (once:
``python -m reflector_testkit.oidc --install``, which ``scripts/install.sh --dev`` runs; a test
that finds it missing installs it the same way).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
from joserfc.jwk import KeySet, RSAKey

from reflector_testkit.ports import free_port

VERSION = "9.13.3"
TARBALL_SHA256 = "25a6501c86be63d0747cf70601712510445013fc8fda4ab63d22e63bae4acc09"
REPO = Path(__file__).resolve().parents[3]
HOME = Path(os.environ.get("REFLECTOR_OIDC_PROVIDER_DIR", REPO / ".cache" / "oidc-provider"))
SCRIPT = Path(__file__).with_name("oidc_provider.mjs")


class ProviderUnavailable(RuntimeError):
    """Node, npm or the package cannot be had; the message says what to do."""


def install(home: Path = HOME) -> Path:
    """The folder holding ``node_modules/oidc-provider`` at ``VERSION``, installed if needed."""
    folder = home / VERSION
    if (folder / "node_modules" / "oidc-provider" / "package.json").is_file():
        return folder
    if shutil.which("npm") is None or shutil.which("node") is None:
        raise ProviderUnavailable("the OIDC tests need Node.js and npm (apt-get install npm)")
    home.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=home) as work:
        work_dir = Path(work)
        packed = _npm(["pack", f"oidc-provider@{VERSION}", "--silent"], work_dir).strip()
        tarball = work_dir / packed.splitlines()[-1]
        digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
        if digest != TARBALL_SHA256:
            raise ProviderUnavailable(
                f"oidc-provider {VERSION} has SHA-256 {digest}, expected {TARBALL_SHA256}"
            )
        staging = work_dir / "install"
        staging.mkdir()
        (staging / "package.json").write_text('{"private": true, "type": "module"}\n')
        _npm(["install", "--no-audit", "--no-fund", "--omit=dev", "--silent", str(tarball)],
             staging)  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)
        shutil.move(str(staging), folder)
    return folder


def _npm(args: list[str], cwd: Path) -> str:
    result = subprocess.run(
        ["npm", *args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    if result.returncode != 0:
        raise ProviderUnavailable(f"npm {' '.join(args[:2])} failed: {result.stderr.strip()}")
    return result.stdout


def signing_keys(*kids: str) -> KeySet:
    """New RSA signing keys with these key ids."""
    return KeySet([RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig"})
                   for kid in kids])  # fmt: skip


@dataclass
class OidcIssuer:
    url: str
    client_id: str
    client_secret: str
    audience: str
    process: subprocess.Popen


@contextmanager
def running_oidc_provider(
    redirect_uris: list[str],
    keys: KeySet,
    *,
    port: int | None = None,
    client_id: str = "reflector",
    client_secret: str = "reflector-test-secret-0123456789",
    audience: str = "urn:reflector:api",
) -> Iterator[OidcIssuer]:
    """The issuer on ``127.0.0.1:port`` signing with ``keys``, stopped on exit."""
    folder = install()
    script = folder / SCRIPT.name
    shutil.copyfile(SCRIPT, script)  # next to its node_modules, where Node resolves imports
    port = port or free_port()
    env = {**os.environ, "OIDC_TEST_JWKS": json.dumps(keys.as_dict(private=True)),
           "NODE_ENV": "development"}  # fmt: skip
    process = subprocess.Popen(
        ["node", str(script), str(port), client_id, client_secret, audience, *redirect_uris],
        cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process)
        yield OidcIssuer(url, client_id, client_secret, audience, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(url: str, process: subprocess.Popen, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise ProviderUnavailable(f"oidc-provider stopped: {output[-2000:]}")
        try:
            if httpx.get(f"{url}/.well-known/openid-configuration", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise ProviderUnavailable(f"oidc-provider did not answer at {url} in {seconds} s")


def sign_in_at_issuer(authorize_url: str, login: str, stop_at: str) -> str:
    """Go through the issuer's sign-in and consent pages as a browser would, as ``login``;
    the URL it finally sends the browser to (the first that starts with ``stop_at``)."""
    with httpx.Client(follow_redirects=False, timeout=30) as browser:
        url = authorize_url
        for _ in range(20):
            if url.startswith(stop_at):
                return url
            response = browser.get(url)
            if response.is_redirect:
                url = urljoin(url, response.headers["location"])
                continue
            assert response.status_code == 200, response.text
            page = response.text
            data = _form_fields(page)
            if "login" in data:  # the sign-in page; the other one asks for consent
                data.update(login=login, password="any")
            sent = browser.post(urljoin(url, _form_action(page)), data=data)
            assert sent.is_redirect, sent.text
            url = urljoin(url, sent.headers["location"])
        raise AssertionError(f"the issuer never sent the browser to {stop_at}")


def _form_fields(page: str) -> dict[str, str]:
    """The named inputs of the page's form, with their values."""
    fields = {}
    for tag in re.findall(r"<input[^>]*>", page):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            fields[name.group(1)] = html.unescape(value.group(1)) if value else ""
    return fields


def _form_action(page: str) -> str:
    start = page.index('action="') + len('action="')
    return page[start : page.index('"', start)]


def code_flow_token(issuer: OidcIssuer, login: str, redirect_uri: str) -> dict:
    """Tokens a program gets for ``login`` by the code flow with PKCE, straight from the
    issuer (the access token is a JWT for ``issuer.audience``)."""
    metadata = httpx.get(f"{issuer.url}/.well-known/openid-configuration", timeout=30).json()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    query = urlencode({
        "response_type": "code", "client_id": issuer.client_id, "redirect_uri": redirect_uri,
        "scope": "openid email profile", "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256", "resource": issuer.audience, "nonce": "n",
        "state": "s",
    })  # fmt: skip
    back = sign_in_at_issuer(f"{metadata['authorization_endpoint']}?{query}", login, redirect_uri)
    code = parse_qs(urlsplit(back).query)["code"][0]
    answer = httpx.post(
        metadata["token_endpoint"],
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
              "code_verifier": verifier, "resource": issuer.audience},
        auth=(issuer.client_id, issuer.client_secret), timeout=30,
    )  # fmt: skip
    answer.raise_for_status()
    return answer.json()


if __name__ == "__main__":
    if sys.argv[1:] == ["--install"]:
        print(install())
    else:
        print("usage: python -m reflector_testkit.oidc --install", file=sys.stderr)
        sys.exit(2)

"""Benchmark: what authentication adds to a request.

Usage (from the repository root)::

    .venv/bin/python bench/auth_cost.py              # SQLite and PostgreSQL, 3,000 rounds
    .venv/bin/python bench/auth_cost.py --rounds 500 --databases sqlite

The real app runs in this process and is called through its ASGI interface (``httpx`` with an
ASGI transport, one request at a time), so the numbers are the server's own work, without
sockets. The route is ``GET /v1/me``, which reads the caller's user row whoever it is. Each
round sends one request of every kind, in turn, so every kind meets the same machine load:

* ``anonymous`` (the baseline): no credentials on a single-user server, which acts as the
  local user without looking anything up;
* ``api_key``: ``Authorization: Bearer rk_…``: the key's hash looked up with its user, the
  ``last_used_at`` check, and the key-use rate limit counted per address and per user (memory
  storage, the default);
* ``api_key_no_limits``: the same with ``REFLECTOR_RATE_LIMITS_ENABLED=false``, to show what
  the counting costs;
* ``session``: a signed-in browser's cookie (the session's hash looked up with its user);
* ``jwt``: an OpenID Connect issuer's RS256 access token as the bearer, on a multi-user app
  whose issuer keys are already fetched (the issuer's discovery document and keys are served
  to it in process): the signature and claims checked, the user found by its subject.

For each kind: p50 and p95 latency (ms); for the authenticated kinds, what they add at p50
over ``anonymous`` (ms) and the ratio of p50s. PostgreSQL databases are created on
``REFLECTOR_BENCH_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432``) and dropped
afterwards. Prints one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack, contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from reflector.api.app import create_app
from reflector.api.auth import SESSION_COOKIE
from reflector.api.oidc import OidcProvider
from reflector.db import accounts
from reflector_testkit.machine import machine_report
from reflector_testkit.servers import postgres_database, server_settings

KINDS = ("anonymous", "api_key", "api_key_no_limits", "session", "jwt")
ISSUER = "https://issuer.bench.invalid"
UNLIMITED = "1000000/minute"
"""The key-use limit while measuring: counted on every request, never reached."""


def log(message: str) -> None:
    print(f"[auth_cost] {message}", file=sys.stderr, flush=True)


@contextmanager
def _database(kind: str):
    if kind == "sqlite":
        yield None
    else:
        os.environ.setdefault("REFLECTOR_TEST_POSTGRES", os.environ.get(
            "REFLECTOR_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432"))  # fmt: skip
        with postgres_database() as url:
            yield url


def _issuer(keys: KeySet) -> httpx.MockTransport:
    """The issuer's discovery document and public keys, answered in process."""
    documents = {
        "/.well-known/openid-configuration": {
            "issuer": ISSUER, "jwks_uri": f"{ISSUER}/jwks",
            "authorization_endpoint": f"{ISSUER}/auth", "token_endpoint": f"{ISSUER}/token",
        },
        "/jwks": keys.as_dict(private=False),
    }  # fmt: skip

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=documents[request.url.path])

    return httpx.MockTransport(answer)


async def _client(stack: AsyncExitStack, data_dir: Path, url: str | None, limits: bool,
                  keys: KeySet | None = None):  # fmt: skip
    oidc = {"auth_mode": "multi-user", "oidc_issuer": ISSUER, "oidc_client_id": "bench"}
    settings = server_settings(
        data_dir, url, live_preload=False, rate_limits_enabled=limits,
        rate_limit_api_key=UNLIMITED, log_level="warning", **(oidc if keys else {}),
    )  # fmt: skip
    app = create_app(settings)
    await stack.enter_async_context(app.router.lifespan_context(app))
    if keys is not None:
        await app.state.reflector.oidc.aclose()
        app.state.reflector.oidc = OidcProvider(settings, transport=_issuer(keys))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    client = await stack.enter_async_context(
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")
    )
    return app, client


async def _credentials(app) -> tuple[str, str]:
    """An API key and a session token of one user."""
    async with app.state.reflector.sessions() as session:
        user = await accounts.create_user(session, "bench@example.org")
        _, key = await accounts.create_api_key(session, user.id, "bench")
        _, token = await accounts.create_login_session(session, user.id, timedelta(hours=1))
        await session.commit()
    return key, token


async def _measure(database: str, url: str | None, rounds: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        async with AsyncExitStack() as stack:
            data_dir = Path(folder)
            # Two apps on one database: with the default limits, and with them off.
            limited_app, limited = await _client(stack, data_dir, url, True)
            _, unlimited = await _client(stack, data_dir, url, False)
            keys = KeySet([RSAKey.generate_key(2048, parameters={"kid": "bench"})])
            _, with_issuer = await _client(stack, data_dir, url, True, keys)
            key, token = await _credentials(limited_app)
            claims = {"iss": ISSUER, "aud": "bench", "sub": "bench-user", "exp": 4102444800}
            bearer = jwt.encode({"alg": "RS256", "kid": "bench"}, claims, keys)
            calls = {
                "anonymous": (limited, {}),
                "api_key": (limited, {"Authorization": f"Bearer {key}"}),
                "api_key_no_limits": (unlimited, {"Authorization": f"Bearer {key}"}),
                "session": (limited, {"Cookie": f"{SESSION_COOKIE}={token}"}),
                "jwt": (with_issuer, {"Authorization": f"Bearer {bearer}"}),
            }
            for client, headers in calls.values():  # warm up: connections, caches
                for _ in range(50):
                    assert (await client.get("/v1/me", headers=headers)).status_code == 200
            times: dict[str, list[float]] = {kind: [] for kind in KINDS}
            for index in range(rounds):
                for kind in KINDS[index % len(KINDS) :] + KINDS[: index % len(KINDS)]:
                    client, headers = calls[kind]
                    started = time.perf_counter()
                    response = await client.get("/v1/me", headers=headers)
                    times[kind].append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, response.text
    return _report(times, rounds)


def _report(times: dict[str, list[float]], rounds: int) -> dict:
    def p(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100)[q - 1]

    report: dict = {"rounds": rounds}
    base = statistics.median(times["anonymous"])
    for kind, values in times.items():
        p50 = statistics.median(values)
        entry = {"p50_ms": round(p50, 3), "p95_ms": round(p(values, 95), 3)}
        if kind != "anonymous":
            entry["added_p50_ms"] = round(p50 - base, 3)
            entry["ratio_p50_over_anonymous"] = round(p50 / base, 3)
        report[kind] = entry
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3000)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgres"],
                        choices=["sqlite", "postgres"])  # fmt: skip
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    results = {}
    for database in args.databases:
        log(f"{database}: {args.rounds} rounds of {len(KINDS)} requests")
        with _database(database) as url:
            results[database] = asyncio.run(_measure(database, url, args.rounds))
    report = {
        "benchmark": "auth_cost",
        "route": "GET /v1/me",
        "baseline": "anonymous (single-user server, no credentials)",
        "results": results,
        "machine": machine_report(load_before),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

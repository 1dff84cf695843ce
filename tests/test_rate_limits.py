"""Rate limits and the cap on live streams: sign-in attempts, API-key use and heavy work are
limited per user and per address with a clear 429 and ``Retry-After``; counts are shared by
servers through the real Redis when the bus is Redis; the limits can be tuned and turned off;
a user runs at most ``max_live_sessions_per_user`` live streams at once."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator

import pytest
from pydantic import ValidationError
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from reflector.api.rate_limits import RateLimiter
from reflector.db import accounts
from reflector.passwords import hash_password
from reflector.settings import Settings
from reflector_testkit.people import make_person, make_transcript
from reflector_testkit.servers import running_client, server_settings

PASSWORD = "correct horse battery staple"


def _settings(tmp_path, **overrides) -> Settings:
    values = {"auth_mode": "multi-user", "live_preload": False, **overrides}
    return server_settings(tmp_path, None, **values)


@contextlib.contextmanager
def from_address(client, host: str) -> Iterator[None]:
    """Requests of ``client`` come from ``host`` meanwhile (as seen by the server)."""
    transport = client._transport
    before = transport.client
    transport.client = (host, 40000)
    try:
        yield
    finally:
        transport.client = before


def _rate_limited(response) -> int:
    """The ``Retry-After`` of a 429 ``rate-limited`` answer (checked to be one)."""
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"].endswith("/rate-limited") and body["status"] == 429
    wait = int(response.headers["retry-after"])
    assert 1 <= wait <= 3600 and body["retry_after"] == wait
    assert f"try again in {wait} s" in body["detail"]
    return wait


def _user_with_password(client) -> str:
    email = f"ann-{uuid.uuid4().hex[:8]}@example.org"

    async def make() -> None:
        async with client.app.state.reflector.sessions() as session:
            await accounts.create_user(session, email, password_hash=hash_password(PASSWORD))
            await session.commit()

    client.portal.call(make)
    return email


def _login(client, email: str, password: str = "wrong password"):
    response = client.post("/v1/auth/login", json={"email": email, "password": password})
    client.cookies.clear()
    return response


def test_sign_in_is_limited_per_account_and_per_address(tmp_path):
    with running_client(_settings(tmp_path, rate_limit_login="3/minute")) as client:
        ann = _user_with_password(client)
        with from_address(client, "10.0.0.1"):
            for _ in range(3):
                assert _login(client, ann).status_code == 401
            # The fourth try is refused whatever the password: guessing gets nowhere.
            wait = _rate_limited(_login(client, ann, PASSWORD))
            assert wait <= 60
        # Per account: from another address, Ann's account is still closed for a while...
        with from_address(client, "10.0.0.2"):
            _rate_limited(_login(client, ann, PASSWORD))
            # ...while Bob signs in from there.
            bob = _user_with_password(client)
            assert _login(client, bob, PASSWORD).status_code == 200
        # Per address: one address trying many accounts is stopped too.
        with from_address(client, "10.0.0.3"):
            for _ in range(3):
                assert _login(client, f"nobody-{uuid.uuid4().hex}@example.org").status_code == 401
            _rate_limited(_login(client, _user_with_password(client), PASSWORD))


def test_api_key_use_is_limited_per_user_and_per_address(tmp_path):
    with running_client(_settings(tmp_path, rate_limit_api_key="4/minute")) as client:
        ann, bob = make_person(client, "ann"), make_person(client, "bob")
        with from_address(client, "10.0.1.1"):
            for _ in range(4):
                assert client.get("/v1/me", headers=ann.key_headers()).status_code == 200
            _rate_limited(client.get("/v1/me", headers=ann.key_headers()))
        with from_address(client, "10.0.1.2"):
            _rate_limited(client.get("/v1/me", headers=ann.key_headers()))  # per user
            assert client.get("/v1/me", headers=bob.key_headers()).status_code == 200
            # The same user signed in with a browser is not counted as key use.
            assert client.get("/v1/me", headers=ann.browser_headers()).status_code == 200
        # Wrong keys count per address, so keys cannot be guessed at speed.
        with from_address(client, "10.0.1.3"):
            for _ in range(4):
                wrong = client.get("/v1/me", headers={"Authorization": "Bearer rk_guess"})
                assert wrong.status_code == 401
            _rate_limited(client.get("/v1/me", headers=bob.key_headers()))
        # WebSockets with a key count too; over the limit they are refused before opening.
        with (
            from_address(client, "10.0.1.3"),
            pytest.raises(WebSocketDisconnect) as refused,
            client.websocket_connect("/v1/events", headers=bob.key_headers()),
        ):
            pass
        assert refused.value.code == 1008 and "try again" in refused.value.reason


def test_heavy_work_is_limited_per_user_and_per_address(tmp_path):
    with running_client(_settings(tmp_path, rate_limit_expensive="2/minute")) as client:
        ann, bob = make_person(client, "ann"), make_person(client, "bob")
        with from_address(client, "10.0.2.1"):
            for _ in range(2):  # a bad request still counts: it reached the heavy route
                assert client.post("/api/stt", headers=ann.key_headers()).status_code < 429
            _rate_limited(client.post("/api/stt", headers=ann.key_headers()))
            refused = client.post("/v1/audio/transcriptions", headers=ann.key_headers())
            _rate_limited(refused)
            # OpenAI's clients read the message from their own error object.
            assert refused.json()["error"]["code"] == "rate-limited"
            # Per user: Ann's processing is refused too; Bob's is not (yet: same address).
            tid = make_transcript(client, ann.id).id
            _rate_limited(client.post(f"/v1/transcripts/{tid}/process", headers=ann.key_headers()))
            bob_tid = make_transcript(client, bob.id).id
            late = client.post(f"/v1/transcripts/{bob_tid}/process", headers=bob.key_headers())
            _rate_limited(late)  # per address: the address used its two
        with from_address(client, "10.0.2.2"):
            early = client.post(f"/v1/transcripts/{bob_tid}/process", headers=bob.key_headers())
            assert early.status_code == 409 and early.json()["type"].endswith("/no-audio")
        # Reading is never heavy work.
        with from_address(client, "10.0.2.1"):
            assert client.get("/v1/transcripts", headers=ann.key_headers()).status_code == 200


def test_limits_can_be_turned_off(tmp_path):
    settings = _settings(tmp_path, rate_limits_enabled=False, rate_limit_login="1/hour",
                         rate_limit_api_key="1/hour")  # fmt: skip
    with running_client(settings) as client:
        ann = make_person(client, "ann")
        for _ in range(3):
            assert _login(client, "nobody@example.org").status_code == 401
            assert client.get("/v1/me", headers=ann.key_headers()).status_code == 200


def test_limits_are_checked_when_read():
    with pytest.raises(ValidationError, match="is not a rate limit"):
        Settings(rate_limit_login="lots", _env_file=None)
    with pytest.raises(ValidationError, match="is not a rate limit"):
        Settings(rate_limit_expensive="5 per fortnight", _env_file=None)
    assert Settings(rate_limit_api_key="100/second;1000/hour", _env_file=None)


def test_servers_share_counts_in_redis(tmp_path):
    """Two servers on one Redis bus: sign-ins at one count at the other."""
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    common = {"bus_backend": "redis", "celery_key_prefix": prefix, "rate_limit_login": "3/minute"}
    with (
        running_client(_settings(tmp_path / "a", **common)) as first,
        running_client(_settings(tmp_path / "b", **common)) as second,
    ):
        email = f"shared-{uuid.uuid4().hex[:8]}@example.org"
        for _ in range(2):
            assert _login(first, email).status_code == 401
        assert _login(second, email).status_code == 401
        _rate_limited(_login(second, email))
        _rate_limited(_login(first, email))


def test_a_lost_redis_lets_requests_through(tmp_path):
    """The limits protect the server; a Redis that went away must not take it down."""
    settings = Settings(
        data_dir=tmp_path, bus_backend="redis", redis_url="redis://127.0.0.1:1/0",
        rate_limit_login="1/minute", _env_file=None,
    )  # fmt: skip
    limiter = RateLimiter.from_settings(settings)

    async def hits() -> None:
        try:
            for _ in range(3):
                await limiter.hit("login", "ip", "10.0.0.1")
        finally:
            await limiter.aclose()

    asyncio.run(hits())


# --- live streams --------------------------------------------------------------------------------


def test_live_streams_per_user_are_capped(tmp_path):
    with running_client(_settings(tmp_path, max_live_sessions_per_user=1)) as client:
        ann, bob = make_person(client, "ann"), make_person(client, "bob")
        first, second, third = (make_transcript(client, ann.id).id for _ in range(3))
        path = "/v1/transcripts/{}/record/ws"
        with client.websocket_connect(path.format(first), headers=ann.key_headers()):
            # Ann runs one stream: the next is refused at the handshake with a 429 problem.
            with (
                pytest.raises(WebSocketDenialResponse) as refused,
                client.websocket_connect(path.format(second), headers=ann.key_headers()),
            ):
                pass
            assert refused.value.status_code == 429
            problem = refused.value.json()
            assert problem["type"].endswith("/too-many-live-sessions") and problem["limit"] == 1
            offer = {"sdp": "v=0", "type": "offer"}  # refused before the offer is read
            webrtc = client.post(
                f"/v1/transcripts/{third}/record/webrtc", json=offer, headers=ann.key_headers()
            )
            assert webrtc.status_code == 429, webrtc.text
            assert webrtc.json()["type"].endswith("/too-many-live-sessions")
            # Bob's streams are his own.
            bob_tid = make_transcript(client, bob.id).id
            with client.websocket_connect(path.format(bob_tid), headers=bob.key_headers()):
                pass
            statuses = [client.get(f"/v1/transcripts/{t}", headers=ann.key_headers()).json()
                        ["status"] for t in (second, third)]  # fmt: skip
            assert statuses == ["idle", "idle"]  # nothing was claimed by the refused ones
        # The first stream ended (no audio: its transcript is idle again): room for another.
        with client.websocket_connect(path.format(second), headers=ann.key_headers()):
            pass

"""Safe when exposed: no open single-user server on a network, trusted hosts, WebSocket origins
and subprotocol keys, CORS, security headers, body limits, and no secrets or paths leaked."""

from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner
from starlette.websockets import WebSocketDisconnect

from reflector.cli.main import cli, main
from reflector.logging_setup import configure_logging
from reflector.settings import get_settings
from reflector_testkit.servers import running_client, server_settings

FOREIGN = "http://evil.example"
ALLOWED = "https://app.example.org"
ORIGIN_REFUSED = (1008, "origin not allowed")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("exposure")
    settings = server_settings(data_dir, None, cors_origins=[ALLOWED], max_request_bytes=4096)
    with running_client(settings) as client:
        yield client


@pytest.fixture(scope="module")
def key_client(tmp_path_factory):
    """A server where every request needs a key, and the key."""
    settings = server_settings(tmp_path_factory.mktemp("keys"), None, auth_mode="api-key")
    with running_client(settings) as client:
        from reflector.db import repository

        async def make_key() -> str:
            state = client.app.state.reflector
            async with state.sessions() as session:
                _, key = await repository.create_api_key(session, repository.LOCAL_USER_ID, "t")
                await session.commit()
            return key

        key = client.portal.call(make_key)
        yield client, key


# --- serve on a network ------------------------------------------------------------------


def _serve(monkeypatch, *args: str, **env: str) -> tuple[int, str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    started = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: started.append(k))
    try:
        code = main(["serve", *args])
    finally:
        get_settings.cache_clear()
    return code, "started" if started else ""


def test_single_user_serve_refuses_a_network_address(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("REFLECTOR_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("REFLECTOR_AUTH_MODE", raising=False)
    code, started = _serve(monkeypatch, "--host", "0.0.0.0")
    err = capsys.readouterr().err
    assert code == 2 and not started
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "0.0.0.0" in err and "REFLECTOR_AUTH_MODE=api-key" in err
    assert "REFLECTOR_ALLOW_UNAUTHENTICATED_NETWORK=true" in err


def test_the_refusal_through_clicks_runner(tmp_path):
    env = {"REFLECTOR_DATA_DIR": str(tmp_path), "REFLECTOR_HOST": "192.168.1.20"}
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["serve"], env=env)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "192.168.1.20" in result.output


@pytest.mark.parametrize(
    ("host", "env"),
    [
        ("0.0.0.0", {"REFLECTOR_ALLOW_UNAUTHENTICATED_NETWORK": "true"}),
        ("0.0.0.0", {"REFLECTOR_AUTH_MODE": "api-key"}),
        ("127.0.0.1", {}),
        ("::1", {}),
        ("localhost", {}),
    ],
)
def test_serve_starts_when_it_is_safe_or_allowed(monkeypatch, tmp_path, host, env):
    monkeypatch.setenv("REFLECTOR_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("REFLECTOR_AUTH_MODE", raising=False)
    code, started = _serve(monkeypatch, "--host", host, **env)
    assert code == 0 and started


def test_serve_on_every_interface_says_how_other_machines_get_answered(
    monkeypatch, capsys, tmp_path
):
    monkeypatch.setenv("REFLECTOR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REFLECTOR_AUTH_MODE", "api-key")
    code, started = _serve(monkeypatch, "--host", "0.0.0.0")
    assert code == 0 and started
    assert "REFLECTOR_PUBLIC_URL or REFLECTOR_TRUSTED_HOSTS" in capsys.readouterr().err
    code, started = _serve(
        monkeypatch, "--host", "0.0.0.0", REFLECTOR_PUBLIC_URL="https://meet.example.org"
    )
    assert code == 0 and started
    assert "TRUSTED_HOSTS" not in capsys.readouterr().err


# --- trusted hosts -----------------------------------------------------------------------


def test_a_foreign_host_header_is_refused(client):
    response = client.get("/healthz", headers={"host": "rebound.example"})
    assert response.status_code == 400
    assert response.json()["type"].endswith("/untrusted-host")
    assert response.headers["x-content-type-options"] == "nosniff"
    for host in ("testserver", "localhost:1250", "127.0.0.1", "[::1]:1250"):
        assert client.get("/healthz", headers={"host": host}).status_code == 200, host


def _refusal(client, path: str, **options) -> tuple[int, str]:
    """The close code of a socket refused before it was accepted."""
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(path, **options):
        pass
    return refused.value.code, refused.value.reason


def test_a_foreign_host_cannot_open_a_websocket(client):
    refusal = _refusal(client, "/v1/events", headers={"host": "rebound.example"})
    assert refusal == (1008, "untrusted host")


def test_default_trusted_hosts_are_loopback_and_the_servers_own(tmp_path):
    from reflector.api.hosts import trusted_hosts
    from reflector.settings import Settings

    plain = Settings(data_dir=tmp_path, _env_file=None)
    assert trusted_hosts(plain) == ["localhost", "127.0.0.1", "::1"]
    assert "testserver" not in trusted_hosts(plain)
    public = Settings(
        data_dir=tmp_path, host="0.0.0.0", public_url="https://notes.example.org", _env_file=None
    )
    assert trusted_hosts(public) == ["localhost", "127.0.0.1", "::1", "notes.example.org"]
    listed = Settings(data_dir=tmp_path, trusted_hosts=["*.example.org"], _env_file=None)
    assert trusted_hosts(listed) == ["*.example.org"]


# --- WebSocket origins and keys --------------------------------------------------------------


@pytest.mark.parametrize("origin", [FOREIGN, "null", "http://testserver.evil.example"])
def test_a_websocket_from_a_foreign_origin_is_refused_before_any_data(client, origin):
    assert _refusal(client, "/v1/events", headers={"origin": origin}) == ORIGIN_REFUSED


@pytest.mark.parametrize(
    "path",
    [
        "/v1/events",
        "/ws/voice",
        "/v1/transcripts/any/events",
        "/v1/transcripts/any/record/ws",
        "/v1/transcripts/any/translations/es/speech",
    ],
)
def test_every_websocket_route_checks_the_origin(client, path):
    assert _refusal(client, path, headers={"origin": FOREIGN}) == ORIGIN_REFUSED


@pytest.mark.parametrize("origin", [None, "http://testserver", ALLOWED])
def test_same_origin_an_allowed_origin_and_no_origin_connect(client, origin):
    headers = {"origin": origin} if origin else {}
    with client.websocket_connect("/v1/events", headers=headers) as socket:
        socket.send_text("ping")  # accepted: the user's event stream is open


def test_the_origin_of_the_public_url_is_the_servers_own(tmp_path):
    settings = server_settings(
        tmp_path, None, public_url="https://notes.example.org", trusted_hosts=["*"]
    )
    with running_client(settings) as client:
        headers = {"origin": "https://notes.example.org", "host": "10.0.0.5:1250"}
        with client.websocket_connect("/v1/events", headers=headers):
            pass


def test_a_websocket_key_as_a_subprotocol(key_client):
    client, key = key_client
    protocols = ["reflector.v1", f"bearer.{key}"]
    with client.websocket_connect("/v1/events", subprotocols=protocols) as socket:
        assert socket.accepted_subprotocol == "reflector.v1"
    wrong = ["reflector.v1", "bearer.rk_no"]
    assert _refusal(client, "/v1/events", subprotocols=wrong)[0] == 1008


def test_a_websocket_key_in_the_query_still_works(key_client):
    client, key = key_client
    with client.websocket_connect(f"/v1/events?api_key={key}") as socket:
        assert socket.accepted_subprotocol is None
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/v1/events"):
        pass


# --- CORS and headers ------------------------------------------------------------------


def test_cors_answers_only_allowed_origins(client):
    preflight = {"access-control-request-method": "POST"}
    allowed = client.options("/v1/transcripts", headers={"origin": ALLOWED, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    foreign = client.get("/v1/transcripts", headers={"origin": FOREIGN})
    assert "access-control-allow-origin" not in foreign.headers


def test_no_cors_headers_by_default(tmp_path):
    with running_client(server_settings(tmp_path, None)) as client:
        response = client.get("/healthz", headers={"origin": ALLOWED})
        assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("path", ["/healthz", "/v1/transcripts", "/no-such-route", "/docs"])
def test_security_headers_on_every_response(client, path):
    response = client.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cross-origin-opener-policy"] == "same-origin"
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src" not in policy and "unsafe-eval" not in policy


def test_the_api_docs_are_served_locally(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "<script>" not in page.text  # no inline script
    assert "//" not in page.text.split("<body>")[1]  # nothing from another host
    for asset in (
        "docs/assets/swagger-ui-bundle.js",
        "docs/assets/swagger-ui.css",
        "docs/start.js",
    ):
        assert asset in page.text
        assert client.get("/" + asset).status_code == 200, asset
    assert "openapi.json" in client.get("/docs/start.js").text


def test_an_unexpected_error_carries_the_headers_too(tmp_path):
    from fastapi.testclient import TestClient

    from reflector.api.app import create_app

    app = create_app(server_settings(tmp_path, None))

    # POST: the web app's catch-all answers page paths for GET only, so this route is reached.
    @app.post("/boom")
    def boom() -> None:
        raise RuntimeError("/srv/secret/path went wrong")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/boom")
    assert response.status_code == 500
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "/srv/secret" not in response.text


# --- body limits -----------------------------------------------------------------------


def test_a_json_body_over_the_limit_is_refused(client):
    response = client.post("/v1/transcripts", json={"name": "x" * 5000})
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/request-too-large")
    assert client.post("/v1/transcripts", json={"name": "small"}).status_code == 201


def test_a_chunked_body_is_counted_while_it_is_read(client):
    def chunks():
        for _ in range(10):
            yield b" " * 1000  # 10 kB of whitespace, no Content-Length

    response = client.post(
        "/v1/transcripts", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["type"].endswith("/request-too-large")


def test_routes_with_limits_of_their_own_keep_them(tmp_path):
    from reflector.api.body_limit import body_limit
    from reflector.settings import Settings

    settings = Settings(data_dir=tmp_path, _env_file=None)
    assert body_limit("/v1/transcripts", settings) == 1024**2
    assert body_limit("/v1/transcripts/{transcript_id}/uploads/{upload_id}", settings) is None
    assert body_limit("/v1/transcripts/{transcript_id}/upload", settings) is None
    assert body_limit("/v1/audio/transcriptions", settings) > settings.max_audio_bytes


# --- secrets and paths -------------------------------------------------------------------


def test_logs_mask_keys_and_tokens_and_print_no_locals(capsys):
    import structlog

    configure_logging("info", "console")
    try:

        def fail(api_key: str = "rk_localvariable") -> None:
            raise ValueError("refused rk_inthemessage")

        try:
            fail()
        except ValueError:
            structlog.get_logger("t").exception(
                "failed",
                url="ws://h/v1/events?api_key=rk_inthequery",
                authorization="Bearer sometoken",
            )
        logging.getLogger("uvicorn.access").warning(
            '%s "%s"', "127.0.0.1", "GET /v1/events?api_key=rk_accesslog"
        )
    finally:
        configure_logging("warning", "console")
    err = capsys.readouterr().err
    assert "Traceback" in err and "refused rk_***" in err
    for secret in ("rk_localvariable", "rk_inthemessage", "rk_inthequery", "sometoken"):
        assert secret not in err
    assert "rk_accesslog" not in err


def test_a_request_cannot_name_a_path_as_its_model(client):
    for model in ("/etc", "../x", "/tmp"):
        response = client.post(
            "/v1/audio/transcriptions",
            files={"file": ("a.wav", b"RIFF")},
            data={"model": model},
        )
        assert response.status_code == 400, model
        body = response.text
        assert "/etc" not in body and "../x" not in body and "/tmp" not in body
        assert response.json()["type"].endswith("/unsupported-request")


def test_over_real_http_a_foreign_origin_gets_403_and_the_subprotocol_is_answered(tmp_path):
    import asyncio

    import websockets

    from reflector.api.threaded import ThreadedServer
    from reflector_testkit.ports import free_port

    settings = server_settings(tmp_path, None, port=free_port())
    with ThreadedServer(settings) as server:
        url = server.url.replace("http", "ws") + "/v1/events"

        async def talk() -> None:
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with websockets.connect(url, origin=FOREIGN):
                    pass
            assert refused.value.response.status_code == 403
            async with websockets.connect(
                url, origin=server.url, subprotocols=["reflector.v1"]
            ) as socket:
                assert socket.subprotocol == "reflector.v1"

        asyncio.run(talk())

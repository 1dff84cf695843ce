"""Accounts, API keys and signing in, on SQLite and PostgreSQL: the CLI's users and keys work
against the API, admins alone manage users, keys belong to their user (and expire, and die with
a disabled user), a browser signs in with a password and a cookie and writes only with its CSRF
token, and a single-user server takes any bearer token as the local user."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from click.testing import CliRunner
from starlette.websockets import WebSocketDisconnect

from reflector import passwords
from reflector.cli.main import cli
from reflector.db import accounts
from reflector.db.tables import User, utcnow
from reflector.passwords import hash_password
from reflector.settings import Settings, get_settings
from reflector_testkit.servers import postgres_database, running_client, server_settings

PROBLEM = "application/problem+json"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request, tmp_path_factory):
    """A multi-user server and the environment under which the CLI uses its database."""
    data_dir = tmp_path_factory.mktemp(f"accounts-{request.param}")
    env = {"REFLECTOR_DATA_DIR": str(data_dir), "REFLECTOR_DATABASE_URL": None}
    if request.param == "sqlite":
        with running_client(server_settings(data_dir, None, auth_mode="multi-user")) as client:
            client.cli_env = env
            yield client
    else:
        with (
            postgres_database() as url,
            running_client(server_settings(data_dir, url, auth_mode="multi-user")) as client,
        ):
            client.cli_env = {**env, "REFLECTOR_DATABASE_URL": url}
            yield client


@pytest.fixture(scope="module")
def single_user(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("accounts-single")
    settings = server_settings(data_dir, None, public_url="https://notes.example.org")
    with running_client(settings) as client:
        yield client


def _problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["type"].endswith("/" + slug) and body["status"] == status
    return body


def _cli(client, *args: str, stdin: str | None = None):
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, list(args), env=client.cli_env, input=stdin)
    finally:
        get_settings.cache_clear()
    return result


def _email(who: str) -> str:
    return f"{who}-{uuid.uuid4().hex[:8]}@example.org"


def _account(client, who: str, *, admin: bool = False, password: str | None = None):
    """(email, user id, API key) of a new user made in the database."""
    email = _email(who)

    async def make() -> tuple[str, str]:
        async with client.app.state.reflector.sessions() as session:
            user = await accounts.create_user(
                session,
                email,
                is_admin=admin,
                password_hash=hash_password(password) if password else None,
            )
            _, key = await accounts.create_api_key(session, user.id, "test")
            await session.commit()
            return user.id, key

    user_id, key = client.portal.call(make)
    return email, user_id, key


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --- the CLI -----------------------------------------------------------------------------------


def test_cli_users_and_keys_round_trip_with_the_api(server):
    email = _email("Ann").replace("ann", "Ann")
    added = _cli(server, "users", "add", email, "--name", "Ann", "--admin", "--password-stdin",
                 stdin=PASSWORD + "\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    again = _cli(server, "users", "add", email.upper())
    assert again.exit_code == 1 and "exists already" in again.output
    listed = _cli(server, "users", "list")
    assert listed.exit_code == 0 and email.lower() in listed.output

    created = _cli(server, "keys", "create", "--user", email.upper(), "--name", "ci")
    assert created.exit_code == 0, created.output
    key = created.output.split()[-1]
    assert key.startswith("rk_")
    me = server.get("/v1/me", headers=_bearer(key))
    assert me.status_code == 200, me.text
    assert me.json() == {"id": me.json()["id"], "email": email.lower(), "name": "Ann",
                         "is_admin": True}  # fmt: skip
    key_id = next(k["id"] for k in server.get("/v1/api-keys", headers=_bearer(key)).json())
    keys = _cli(server, "keys", "list", "--user", email)
    assert keys.exit_code == 0 and key_id in keys.output and key not in keys.output
    assert key_id in _cli(server, "keys", "list").output

    revoked = _cli(server, "keys", "revoke", key_id)
    assert revoked.exit_code == 0, revoked.output
    _problem(server.get("/v1/me", headers=_bearer(key)), 401, "invalid-api-key")
    assert _cli(server, "keys", "revoke", key_id).exit_code == 1  # gone already
    assert key_id not in _cli(server, "keys", "list").output

    # A password given on stdin signs in (the email in any case), and is stored as argon2id.
    signed = server.post("/v1/auth/login", json={"email": email.upper(), "password": PASSWORD})
    server.cookies.clear()
    assert signed.status_code == 200, signed.text

    async def stored_hash() -> str | None:
        async with server.app.state.reflector.sessions() as session:
            user = await accounts.user_by_email(session, email)
            return user.password_hash if user else None

    assert server.portal.call(stored_hash).startswith("$argon2id$")


def test_cli_disable_and_expiring_keys(server):
    email = _email("cli")
    assert _cli(server, "users", "add", email).exit_code == 0
    created = _cli(server, "keys", "create", "--user", email, "--expires-in-days", "2")
    key = created.output.split()[-1]
    listed = server.get("/v1/api-keys", headers=_bearer(key)).json()
    expires = listed[0]["expires_at"]
    assert expires is not None and expires[:10] == (utcnow() + timedelta(days=2)).date().isoformat()
    disabled = _cli(server, "users", "disable", email)
    assert disabled.exit_code == 0, disabled.output
    _problem(server.get("/v1/me", headers=_bearer(key)), 401, "invalid-api-key")
    assert "disabled" in _cli(server, "users", "list").output
    assert _cli(server, "keys", "create", "--user", email).exit_code == 1
    assert _cli(server, "keys", "create", "--user", _email("nobody")).exit_code == 1
    assert _cli(server, "users", "add", _email("x"), "--password-stdin", stdin="").exit_code == 1


# --- who is calling, and administrators ----------------------------------------------------------


def test_me_needs_credentials_in_multi_user_mode(server):
    _problem(server.get("/v1/me"), 401, "authentication-required")
    _problem(server.get("/v1/me", headers=_bearer("anything")), 401, "invalid-api-key")
    email, user_id, key = _account(server, "me")
    assert server.get("/v1/me", headers=_bearer(key)).json() == {
        "id": user_id, "email": email, "name": email, "is_admin": False
    }  # fmt: skip


def test_only_admins_list_and_disable_users(server):
    _, admin_id, admin_key = _account(server, "admin", admin=True)
    bob_email, bob_id, bob_key = _account(server, "bob")
    _problem(server.get("/v1/users", headers=_bearer(bob_key)), 403, "admin-only")
    _problem(server.post(f"/v1/users/{admin_id}/disable", headers=_bearer(bob_key)), 403,
             "admin-only")  # fmt: skip

    users = server.get("/v1/users", headers=_bearer(admin_key))
    assert users.status_code == 200, users.text
    assert {admin_id, bob_id} <= {u["id"] for u in users.json()}
    _problem(server.post("/v1/users/nobody/disable", headers=_bearer(admin_key)), 404,
             "not-found")  # fmt: skip
    _problem(server.post(f"/v1/users/{admin_id}/disable", headers=_bearer(admin_key)), 409,
             "cannot-disable-self")  # fmt: skip

    assert server.get("/v1/me", headers=_bearer(bob_key)).status_code == 200
    disabled = server.post(f"/v1/users/{bob_id}/disable", headers=_bearer(admin_key))
    assert disabled.status_code == 200 and disabled.json()["disabled_at"] is not None
    # The disabled user's key stops working at once.
    _problem(server.get("/v1/me", headers=_bearer(bob_key)), 401, "invalid-api-key")
    assert bob_email in [
        u["email"] for u in server.get("/v1/users", headers=_bearer(admin_key)).json()
    ]


# --- API keys ----------------------------------------------------------------------------------


def test_keys_belong_to_their_user(server):
    _, _, ann_key = _account(server, "ann")
    _, _, bob_key = _account(server, "bob")
    made = server.post("/v1/api-keys", json={"name": "laptop"}, headers=_bearer(ann_key))
    assert made.status_code == 201, made.text
    ann_new = made.json()
    assert ann_new["expires_at"] is None
    assert server.get("/v1/me", headers=_bearer(ann_new["key"])).json()["email"].startswith("ann-")

    bob_keys = server.get("/v1/api-keys", headers=_bearer(bob_key)).json()
    assert ann_new["id"] not in [k["id"] for k in bob_keys] and len(bob_keys) == 1
    _problem(server.delete(f"/v1/api-keys/{ann_new['id']}", headers=_bearer(bob_key)), 404,
             "not-found")  # fmt: skip
    assert server.get("/v1/me", headers=_bearer(ann_new["key"])).status_code == 200
    # No way to name another owner: the body has no such field.
    _problem(server.post("/v1/api-keys", json={"name": "x", "user_id": "someone"},
                         headers=_bearer(bob_key)), 422, "validation-error")  # fmt: skip
    assert (
        server.delete(f"/v1/api-keys/{ann_new['id']}", headers=_bearer(ann_key)).status_code == 204
    )
    _problem(server.get("/v1/me", headers=_bearer(ann_new["key"])), 401, "invalid-api-key")


def test_expired_keys_are_refused(server):
    _, user_id, key = _account(server, "exp")

    async def expired_key() -> str:
        async with server.app.state.reflector.sessions() as session:
            _, plain = await accounts.create_api_key(
                session, user_id, "old", expires_at=utcnow() - timedelta(seconds=1)
            )
            await session.commit()
            return plain

    _problem(server.get("/v1/me", headers=_bearer(server.portal.call(expired_key))), 401,
             "invalid-api-key")  # fmt: skip
    made = server.post("/v1/api-keys", json={"expires_in_days": 1}, headers=_bearer(key)).json()
    assert made["expires_at"] is not None
    assert server.get("/v1/me", headers=_bearer(made["key"])).status_code == 200
    _problem(server.post("/v1/api-keys", json={"expires_in_days": 0}, headers=_bearer(key)), 422,
             "validation-error")  # fmt: skip


# --- signing in --------------------------------------------------------------------------------


def _cookie_headers(response) -> dict[str, str]:
    return {
        value.split("=", 1)[0]: value.lower() for value in response.headers.get_list("set-cookie")
    }


def test_sign_in_with_a_cookie_and_csrf_for_writes(server):
    email, _, key = _account(server, "web", password=PASSWORD)
    try:
        signed = server.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert signed.status_code == 200, signed.text
        body = signed.json()
        assert body["email"] == email and body["csrf_token"]
        cookies = _cookie_headers(signed)
        session_cookie, csrf_cookie = cookies["reflector_session"], cookies["reflector_csrf"]
        assert "httponly" in session_cookie and "samesite=lax" in session_cookie
        assert "secure" not in session_cookie  # plain http, and no https public URL
        assert "httponly" not in csrf_cookie
        assert server.cookies["reflector_csrf"] == body["csrf_token"]

        assert server.get("/v1/me").json()["email"] == email
        with server.websocket_connect("/v1/events") as socket:  # the cookie opens sockets too
            assert socket.accepted_subprotocol is None
        _problem(server.post("/v1/transcripts", json={"name": "x"}), 403, "csrf-token-invalid")
        forged = {"X-CSRF-Token": "forged"}
        _problem(server.post("/v1/transcripts", json={"name": "x"}, headers=forged), 403,
                 "csrf-token-invalid")  # fmt: skip
        written = server.post("/v1/transcripts", json={"name": "from the page"},
                              headers={"X-CSRF-Token": body["csrf_token"]})  # fmt: skip
        assert written.status_code == 201, written.text
        # A key carries no ambient credentials: no token needed, even next to the cookie.
        assert (
            server.post("/v1/transcripts", json={"name": "k"}, headers=_bearer(key)).status_code
            == 201
        )

        _problem(server.post("/v1/auth/logout"), 403, "csrf-token-invalid")
        old_cookie = server.cookies["reflector_session"]
        out = server.post("/v1/auth/logout", headers={"X-CSRF-Token": body["csrf_token"]})
        assert out.status_code == 204
        assert "reflector_session" not in server.cookies
        server.cookies.set("reflector_session", old_cookie)
        _problem(server.get("/v1/me"), 401, "authentication-required")
        with pytest.raises(WebSocketDisconnect), server.websocket_connect("/v1/events"):
            pass
    finally:
        server.cookies.clear()


def test_bearer_writes_need_no_csrf_token(server):
    _, _, key = _account(server, "bearer")
    assert (
        server.post("/v1/transcripts", json={"name": "b"}, headers=_bearer(key)).status_code == 201
    )
    assert server.post("/v1/api-keys", json={}, headers={"X-API-Key": key}).status_code == 201


def test_wrong_password_and_unknown_email_are_the_same_401(server, monkeypatch):
    email, _, _ = _account(server, "pw", password=PASSWORD)
    _, _, _ = _account(server, "nopw")  # an account without a password cannot sign in
    verified: list[str] = []
    real = passwords._hasher

    class CountingHasher:
        def verify(self, password_hash: str, password: str) -> bool:
            verified.append(password_hash)
            return real.verify(password_hash, password)

    # Counted, not timed: an unknown email must cost the same argon2 verification as a wrong
    # password, so response times do not tell which emails have accounts.
    monkeypatch.setattr(passwords, "_hasher", CountingHasher())

    def attempt(login: str, password: str) -> dict:
        verified.clear()
        response = server.post("/v1/auth/login", json={"email": login, "password": password})
        assert "set-cookie" not in response.headers
        body = _problem(response, 401, "invalid-credentials")
        assert len(verified) == 1, "each sign-in verifies exactly one argon2 hash"
        return {k: v for k, v in body.items() if k != "instance"}

    assert attempt(email, "wrong password") == attempt(_email("ghost"), "wrong password")
    assert attempt(_email("nopw"), "wrong password") == attempt(email, "wrong password")
    _problem(server.post("/v1/auth/login", json={"email": email}), 422, "validation-error")


def test_a_disabled_user_is_signed_out_and_cannot_sign_in(server):
    _, _, admin_key = _account(server, "root", admin=True)
    email, user_id, _ = _account(server, "leaver", password=PASSWORD)
    try:
        login = {"email": email, "password": PASSWORD}
        assert server.post("/v1/auth/login", json=login).status_code == 200
        assert server.get("/v1/me").json()["id"] == user_id
        server.post(f"/v1/users/{user_id}/disable", headers=_bearer(admin_key))
        _problem(server.get("/v1/me"), 401, "authentication-required")
        _problem(server.post("/v1/auth/login", json={"email": email, "password": PASSWORD}), 401,
                 "invalid-credentials")  # fmt: skip
    finally:
        server.cookies.clear()


# --- single-user mode --------------------------------------------------------------------------


def test_single_user_takes_any_bearer_token_as_the_local_user(single_user):
    local = single_user.get("/v1/me").json()
    assert local["id"] == accounts.LOCAL_USER_ID and local["is_admin"] is True
    for headers in (_bearer("anything"), {"X-API-Key": "sk-local"}):
        assert single_user.get("/v1/me", headers=headers).json() == local
    # A mistyped Reflector key is still an error, never silently somebody else.
    _problem(single_user.get("/v1/me", headers=_bearer("rk_mistyped")), 401, "invalid-api-key")
    assert single_user.get("/v1/users").status_code == 200

    import openai

    client = openai.OpenAI(
        base_url="http://testserver/v1", api_key="anything", http_client=single_user, max_retries=0
    )
    assert any(model.id == "whisper-1" for model in client.models.list())


def test_cookies_are_secure_when_the_public_url_is_https(single_user):
    async def make() -> str:
        async with single_user.app.state.reflector.sessions() as session:
            user = await accounts.create_user(
                session, _email("tls"), password_hash=hash_password(PASSWORD)
            )
            await session.commit()
            return user.email or ""

    email = single_user.portal.call(make)
    try:
        signed = single_user.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert signed.status_code == 200, signed.text
        cookies = _cookie_headers(signed)
        assert "secure" in cookies["reflector_session"] and "secure" in cookies["reflector_csrf"]
    finally:
        single_user.cookies.clear()


def test_api_key_is_another_name_for_multi_user(monkeypatch):
    assert Settings(auth_mode="api-key").auth_mode == "multi-user"
    monkeypatch.setenv("REFLECTOR_AUTH_MODE", "api-key")
    assert Settings().auth_mode == "multi-user"
    monkeypatch.setenv("REFLECTOR_AUTH_MODE", "multi-user")
    assert Settings().auth_mode == "multi-user"


def test_user_rows_keep_emails_lower_case(server):
    email = _email("Case").replace("case", "CaSe")

    async def make() -> User:
        async with server.app.state.reflector.sessions() as session:
            user = await accounts.create_user(session, email)
            await session.commit()
            return user

    assert server.portal.call(make).email == email.lower()

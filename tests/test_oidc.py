"""Signing in with OpenID Connect against a real issuer (the npm ``oidc-provider``, run on
127.0.0.1), on SQLite and PostgreSQL: the browser's authorization code flow with PKCE ends in
an ordinary session; the issuer's JWTs work as bearer tokens; expired, foreign, tampered and
wrongly addressed tokens are refused; a rotated key is picked up; accounts are made at the
first sign-in and joined to an existing one only on a verified email."""

from __future__ import annotations

import time
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt

from reflector.api.app import create_app
from reflector.db import accounts
from reflector_testkit.oidc import (
    code_flow_token,
    running_oidc_provider,
    sign_in_at_issuer,
    signing_keys,
)
from reflector_testkit.people import make_person
from reflector_testkit.servers import postgres_database, running_client, server_settings

CALLBACK = "http://testserver/v1/auth/oidc/callback"
PROGRAM = "http://127.0.0.1:9/program-callback"
"""Where the issuer sends a program's code (never followed: the test reads the code)."""


def _server_settings(data_dir, url, issuer, **overrides):
    return server_settings(
        data_dir, url, auth_mode="multi-user", live_preload=False,
        oidc_issuer=issuer.url, oidc_client_id=issuer.client_id,
        oidc_client_secret=issuer.client_secret, oidc_audience=issuer.audience, **overrides,
    )  # fmt: skip


@pytest.fixture(scope="module")
def keys():
    return signing_keys("first")


@pytest.fixture(scope="module")
def issuer(keys):
    with running_oidc_provider([CALLBACK, PROGRAM], keys) as running:
        yield running


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request, tmp_path_factory, issuer):
    data_dir = tmp_path_factory.mktemp(f"oidc-{request.param}")
    if request.param == "sqlite":
        with running_client(_server_settings(data_dir, None, issuer)) as client:
            yield client
    else:
        with (
            postgres_database() as url,
            running_client(_server_settings(data_dir, url, issuer)) as client,
        ):
            yield client


def _login_name(who: str) -> str:
    return f"{who}-{uuid.uuid4().hex[:8]}"


def _problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"].endswith("/" + slug), body
    return body


def _browser_sign_in(server, login: str, next_page: str = "/transcripts"):
    """The browser's whole way: our login route, the issuer's pages, our callback."""
    started = server.get("/v1/auth/oidc/login", params={"next": next_page},
                         follow_redirects=False)  # fmt: skip
    assert started.status_code == 303, started.text
    authorize = started.headers["location"]
    back = sign_in_at_issuer(authorize, login, CALLBACK)
    parts = urlsplit(back)
    return authorize, server.get(f"{parts.path}?{parts.query}", follow_redirects=False)


def test_a_browser_signs_in_at_the_issuer_with_pkce(server, issuer):
    login = _login_name("ann")
    authorize, finished = _browser_sign_in(server, login)
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(issuer.url)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["state"][0] and query["nonce"][0] and query["redirect_uri"] == [CALLBACK]
    assert finished.status_code == 303, finished.text
    assert finished.headers["location"] == "/transcripts"
    me = server.get("/v1/me")
    assert me.status_code == 200, me.text
    assert me.json()["email"] == f"{login}@example.org" and me.json()["name"] == login
    # An ordinary session: writes need its CSRF token.
    csrf = server.cookies.get("reflector_csrf")
    assert server.post("/v1/transcripts", json={}).status_code == 403
    assert server.post("/v1/transcripts", json={}, headers={"X-CSRF-Token": csrf}).status_code \
        == 201  # fmt: skip
    first_id = me.json()["id"]
    server.cookies.clear()
    # Signing in again is the same account.
    _browser_sign_in(server, login)
    assert server.get("/v1/me").json()["id"] == first_id
    server.cookies.clear()


def test_a_callback_that_is_not_this_sign_ins_is_refused(server, issuer):
    started = server.get("/v1/auth/oidc/login", params={"next": "//evil.example/x"},
                         follow_redirects=False)  # fmt: skip
    back = urlsplit(sign_in_at_issuer(started.headers["location"], _login_name("eve"), CALLBACK))
    code = parse_qs(back.query)["code"][0]
    callback = "/v1/auth/oidc/callback"
    _problem(server.get(callback, params={"code": code, "state": "forged"},
                        follow_redirects=False), 400, "oidc-failed")  # fmt: skip
    _problem(server.get(callback, params={"error": "access_denied"}, follow_redirects=False),
             400, "oidc-failed")  # fmt: skip
    done = server.get(f"{back.path}?{back.query}", follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/"  # never off-site
    # The code is spent: a replay is refused by the issuer.
    server.cookies.clear()
    _problem(server.get(f"{back.path}?{back.query}", follow_redirects=False), 400, "oidc-failed")
    assert server.get("/v1/me").status_code == 401


def test_the_issuers_jwts_are_bearer_tokens(server, issuer):
    login = _login_name("bob")
    tokens = code_flow_token(issuer, login, PROGRAM)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    me = server.get("/v1/me", headers=bearer)
    assert me.status_code == 200, me.text
    made = server.post("/v1/transcripts", json={"name": "from a program"}, headers=bearer)
    assert made.status_code == 201  # no CSRF token: no cookie involved
    assert server.get("/v1/me", headers=bearer).json()["id"] == me.json()["id"]
    # The ID token is addressed to the web client, not to this API.
    _problem(server.get("/v1/me", headers={"Authorization": f"Bearer {tokens['id_token']}"}),
             401, "invalid-token")  # fmt: skip
    # A tampered signature.
    head, body, signature = tokens["access_token"].split(".")
    forged = f"{head}.{body}.{signature[:-4]}AAAA"
    _problem(server.get("/v1/me", headers={"Authorization": f"Bearer {forged}"}), 401,
             "invalid-token")  # fmt: skip


def _signed(keys, issuer, **claims) -> str:
    now = int(time.time())
    values = {"iss": issuer.url, "aud": issuer.audience, "sub": "someone", "iat": now,
              "exp": now + 300, **claims}  # fmt: skip
    return jwt.encode({"alg": "RS256", "kid": "first"}, values, keys)


def test_expired_foreign_and_odd_tokens_are_refused(server, issuer, keys):
    def refused(token: str) -> None:
        _problem(server.get("/v1/me", headers={"Authorization": f"Bearer {token}"}), 401,
                 "invalid-token")  # fmt: skip

    assert server.get("/v1/me", headers={
        "Authorization": f"Bearer {_signed(keys, issuer, sub=_login_name('ok'))}"
    }).status_code == 200  # fmt: skip
    refused(_signed(keys, issuer, exp=int(time.time()) - 3600))  # expired (beyond the skew)
    assert server.get("/v1/me", headers={  # a few seconds late: within the clock skew
        "Authorization": f"Bearer {_signed(keys, issuer, exp=int(time.time()) - 5)}"
    }).status_code == 200  # fmt: skip
    refused(_signed(keys, issuer, aud="someone-else"))
    refused(_signed(signing_keys("first"), issuer))  # right kid, another issuer's key
    foreign = signing_keys("foreign")
    refused(jwt.encode({"alg": "RS256", "kid": "foreign"},
                       {"iss": "https://issuer.invalid", "aud": issuer.audience, "sub": "x",
                        "exp": int(time.time()) + 60}, foreign))  # fmt: skip
    refused("not.a.jwt")
    # A revoked or mistyped Reflector key is still an API-key problem.
    _problem(server.get("/v1/me", headers={"Authorization": "Bearer rk_nope"}), 401,
             "invalid-api-key")  # fmt: skip


def test_accounts_are_joined_only_on_a_verified_email(server, issuer):
    person = make_person(server, "carol")  # a local account, carol-…@example.org
    login = person.email.split("@")[0]
    _browser_sign_in(server, login)
    assert server.get("/v1/me").json()["id"] == person.id  # the issuer vouches for the email
    server.cookies.clear()
    other = make_person(server, "dave")
    name = other.email.split("@")[0]
    _browser_sign_in(server, f"{name}-unverified")
    me = server.get("/v1/me").json()
    assert me["id"] != other.id and me["email"] is None  # not Dave's account
    server.cookies.clear()


def test_disabled_accounts_cannot_sign_in(server, issuer):
    login = _login_name("frank")
    tokens = code_flow_token(issuer, login, PROGRAM)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    user_id = server.get("/v1/me", headers=bearer).json()["id"]

    async def disable() -> None:
        async with server.app.state.reflector.sessions() as session:
            user = await session.get(accounts.User, user_id)
            await accounts.disable_user(session, user)
            await session.commit()

    server.portal.call(disable)
    _problem(server.get("/v1/me", headers=bearer), 401, "invalid-token")
    _, finished = _browser_sign_in(server, login)
    _problem(finished, 403, "account-disabled")
    server.cookies.clear()


def test_a_rotated_key_is_fetched_when_first_seen(tmp_path):
    first, second = signing_keys("old"), signing_keys("new")
    with running_oidc_provider([CALLBACK, PROGRAM], first) as issuer:
        port = issuer.url.rsplit(":", 1)[1]
        with running_client(_server_settings(tmp_path, None, issuer)) as client:
            # Not what this test is about: unknown key ids may fetch the keys at once.
            client.app.state.reflector.oidc.refresh_interval = 0.0
            old = code_flow_token(issuer, _login_name("gil"), PROGRAM)["access_token"]
            assert client.get("/v1/me", headers={"Authorization": f"Bearer {old}"}).status_code \
                == 200  # fmt: skip
            issuer.process.terminate()
            issuer.process.wait()
            with running_oidc_provider([CALLBACK, PROGRAM], second, port=int(port)) as rotated:
                new = code_flow_token(rotated, _login_name("gil"), PROGRAM)["access_token"]
                assert jwt.decode(new, second).header["kid"] == "new"
                answer = client.get("/v1/me", headers={"Authorization": f"Bearer {new}"})
                assert answer.status_code == 200, answer.text


def test_issuer_settings_are_checked_at_start(tmp_path):
    with pytest.raises(ValueError, match="https"):
        create_app(server_settings(tmp_path, None, oidc_issuer="http://auth.example.org",
                                   oidc_client_id="reflector"))  # fmt: skip
    with pytest.raises(ValueError, match="CLIENT_ID"):
        create_app(server_settings(tmp_path, None, oidc_issuer="https://auth.example.org"))
    plain = server_settings(tmp_path, None, auth_mode="multi-user", live_preload=False)
    with running_client(plain) as client:
        _problem(client.get("/v1/auth/oidc/login", follow_redirects=False), 404,
                 "oidc-not-configured")  # fmt: skip

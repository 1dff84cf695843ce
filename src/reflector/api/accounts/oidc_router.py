"""``/v1/auth/oidc``: signing in at the OpenID Connect issuer (authorization code with PKCE).

1. ``GET /v1/auth/oidc/login?next=/page`` sends the browser to the issuer, with a random
   ``state`` and ``nonce`` and a PKCE challenge; the verifier, the state, the nonce and where
   to go afterwards wait in a signed, HttpOnly cookie that lasts ten minutes.
2. The issuer sends the browser back to ``GET /v1/auth/oidc/callback?code=…&state=…``: the
   state must be the cookie's, the code is exchanged (with the verifier) for tokens, the ID
   token is checked (signature, issuer, audience, expiry, nonce), the user is found or made
   (:func:`reflector.db.accounts.user_for_oidc`), and the browser gets the same session and
   CSRF cookies as a password sign-in, then goes to ``next``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse

from reflector.api.accounts import service
from reflector.api.auth import oidc_account
from reflector.api.deps import Session, State
from reflector.api.oidc import InvalidToken, OidcProvider, pkce_pair
from reflector.api.problems import Problem
from reflector.api.rate_limits import client_address
from reflector.api.state import AppState

router = APIRouter(prefix="/v1/auth/oidc", tags=["accounts"])

FLOW_COOKIE = "reflector_oidc"
FLOW_SECONDS = 600
_COOKIE_PATH = "/v1/auth/oidc"


def _provider(state: AppState) -> OidcProvider:
    if state.oidc is None:
        raise Problem(404, "oidc-not-configured", "this server has no sign-in issuer (OIDC)")
    return state.oidc


def _redirect_uri(state: AppState, request: Request) -> str:
    base = state.settings.public_url or str(request.base_url)
    return base.rstrip("/") + _COOKIE_PATH + "/callback"


def _local_path(value: str | None) -> str:
    """Only a path on this server (never ``//host`` or a URL): no open redirect."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"


def _sign(secret: bytes, payload: bytes) -> str:
    return hmac.new(secret, b"oidc-flow\n" + payload, hashlib.sha256).hexdigest()


def _flow_cookie(secret: bytes, flow: dict[str, Any]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(flow).encode())
    return f"{payload.decode()}.{_sign(secret, payload)}"


def _read_flow(secret: bytes, value: str | None) -> dict[str, Any]:
    payload, _, signature = (value or "").partition(".")
    if not payload or not hmac.compare_digest(signature, _sign(secret, payload.encode())):
        raise Problem(400, "oidc-failed", "this sign-in was not started here; start it again")
    flow = json.loads(base64.urlsafe_b64decode(payload))
    if flow["expires"] < time.time():
        raise Problem(400, "oidc-failed", "this sign-in took too long; start it again")
    return flow


@router.get("/login", response_class=RedirectResponse, status_code=303)
async def oidc_login(
    request: Request,
    state: State,
    next: Annotated[str | None, Query(max_length=2000, description="A path to go to after")] = None,
) -> RedirectResponse:
    """Go to the issuer to sign in; it sends the browser back to the callback."""
    provider = _provider(state)
    verifier, challenge = pkce_pair()
    flow = {
        "state": secrets.token_urlsafe(24),
        "nonce": secrets.token_urlsafe(24),
        "verifier": verifier,
        "next": _local_path(next),
        "expires": time.time() + FLOW_SECONDS,
    }
    url = await provider.authorization_url(
        _redirect_uri(state, request), flow["state"], flow["nonce"], challenge
    )
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        FLOW_COOKIE, _flow_cookie(state.secret_key, flow), max_age=FLOW_SECONDS,
        path=_COOKIE_PATH, secure=service.secure_cookies(request, state), httponly=True,
        samesite="lax",
    )  # fmt: skip
    return response


@router.get("/callback", response_class=RedirectResponse, status_code=303)
async def oidc_callback(
    request: Request,
    state: State,
    session: Session,
    code: Annotated[str | None, Query(max_length=4000)] = None,
    flow_state: Annotated[str | None, Query(alias="state", max_length=200)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
    error_description: Annotated[str | None, Query(max_length=2000)] = None,
) -> RedirectResponse:
    """Where the issuer sends the browser back: on success, signed in (the session and CSRF
    cookies), on to the page the sign-in started from."""
    provider = _provider(state)
    await state.rate_limiter.hit("login", "ip", client_address(request))
    flow = _read_flow(state.secret_key, request.cookies.get(FLOW_COOKIE))
    if error:
        raise Problem(400, "oidc-failed", f"the issuer said: {error_description or error}")
    if not code or not flow_state or not hmac.compare_digest(flow_state, flow["state"]):
        raise Problem(400, "oidc-failed", "the issuer's answer is not this sign-in's")
    tokens = await provider.exchange(code, flow["verifier"], _redirect_uri(state, request))
    try:
        claims = await provider.verify(
            tokens["id_token"], audience=provider.client_id, nonce=flow["nonce"]
        )
    except InvalidToken as invalid:
        raise Problem(400, "oidc-failed", f"the ID token does not check out: {invalid}") from None
    user = await oidc_account(session, provider.identity(claims))
    if user is None:
        raise Problem(403, "account-disabled", "this account is disabled")
    _, token = await service.open_session(state, session, user)
    response = RedirectResponse(flow["next"], status_code=303)
    service.set_session_cookies(response, request, state, token)
    response.delete_cookie(FLOW_COOKIE, path=_COOKIE_PATH)
    return response

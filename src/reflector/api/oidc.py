"""OpenID Connect: signing in at an issuer (Authentik, Keycloak, any standard one) and its JWTs
as bearer tokens.

* **Browsers** sign in with the authorization code flow and PKCE (S256): the login route
  sends them to the issuer with a random ``state``, ``nonce`` and code verifier (kept in a
  short-lived signed cookie), the callback exchanges the code at the token endpoint and checks
  the ID token, and the user gets an ordinary session (see :mod:`reflector.api.accounts`).
* **Programs** send the issuer's JWT access tokens as ``Authorization: Bearer``. A token is
  accepted when its signature checks against the issuer's published keys (RS256 or ES256), its
  ``iss`` is the issuer, its ``aud`` names this server (``oidc_audience``, default the client
  id) and it is within ``exp``/``nbf`` (a small clock skew allowed).

The issuer's discovery document and keys are fetched once and kept (keys for
``oidc_jwks_cache_seconds``); a token signed with a key id the server does not know fetches the
keys again (at most every few seconds, so made-up key ids cannot make it hammer the issuer),
which is how a rotation at the issuer is picked up. JOSE itself is ``joserfc``'s.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from reflector.errors import BadInputError, UnavailableError
from reflector.settings import Settings

ALGORITHMS = ("RS256", "ES256")
REFRESH_AT_MOST_EVERY = 5.0
"""Seconds between two fetches of the keys for an unknown key id."""
HTTP_TIMEOUT = 10.0


class InvalidToken(BadInputError):
    """A bearer JWT or an ID token that does not check out (401)."""

    status = 401
    problem_type = "invalid-token"


class OidcUnavailable(UnavailableError):
    """The issuer cannot be reached or answers nonsense (503)."""

    problem_type = "oidc-unavailable"


def check_issuer_url(issuer: str) -> None:
    """Raise ``ValueError`` unless the issuer is https (plain http on loopback only)."""
    parts = urlsplit(issuer)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname:
        try:
            if parts.hostname == "localhost" or ip_address(parts.hostname).is_loopback:
                return
        except ValueError:
            pass
    raise ValueError(
        f"REFLECTOR_OIDC_ISSUER must be an https URL (http only on a loopback address): {issuer!r}"
    )


@dataclass(frozen=True)
class Identity:
    """Who a checked token says the caller is."""

    subject: str
    email: str | None
    email_verified: bool
    name: str


def pkce_pair() -> tuple[str, str]:
    """A code verifier and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class OidcProvider:
    """One configured issuer: discovery, keys, token checks and the code exchange."""

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None):
        if not settings.oidc_issuer or not settings.oidc_client_id:
            raise ValueError(
                "OpenID Connect needs REFLECTOR_OIDC_ISSUER and REFLECTOR_OIDC_CLIENT_ID"
            )
        check_issuer_url(settings.oidc_issuer)
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id
        secret = settings.oidc_client_secret
        self.client_secret = secret.get_secret_value() if secret else None
        self.audience = settings.oidc_audience or settings.oidc_client_id
        self.scopes = settings.oidc_scopes
        self.leeway = int(settings.oidc_clock_skew_seconds)
        self.keys_ttl = settings.oidc_jwks_cache_seconds
        self._http = httpx.AsyncClient(timeout=HTTP_TIMEOUT, transport=transport)
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._keys_at = 0.0
        self._lock = asyncio.Lock()
        self.refresh_interval = REFRESH_AT_MOST_EVERY
        """Least seconds between two fetches of the keys for unknown key ids."""

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- what the issuer publishes -------------------------------------------------------------

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url)
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise OidcUnavailable(f"the sign-in issuer did not answer {url}: {error}") from None
        if not isinstance(body, dict):
            raise OidcUnavailable(f"the sign-in issuer answered {url} with no JSON object")
        return body

    async def metadata(self) -> dict[str, Any]:
        """The issuer's discovery document (fetched once)."""
        if self._metadata is None:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            document = await self._get_json(url)
            if document.get("issuer") != self.issuer:
                raise OidcUnavailable(
                    f"the discovery document names the issuer {document.get('issuer')!r}, not "
                    f"{self.issuer!r} (REFLECTOR_OIDC_ISSUER must be written exactly as it does)"
                )
            for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(document.get(field), str):
                    raise OidcUnavailable(f"the discovery document has no {field}")
            self._metadata = document
        return self._metadata

    async def keys(self, *, unknown_kid: bool = False) -> KeySet:
        """The issuer's signing keys: kept for ``keys_ttl``; fetched sooner for an unknown key
        id, at most every ``refresh_interval`` seconds."""
        now = time.monotonic()
        stale = self._keys is None or now - self._keys_at > self.keys_ttl
        if unknown_kid and now - self._keys_at >= self.refresh_interval:
            stale = True
        if not stale:
            return self._keys  # type: ignore[return-value]
        async with self._lock:
            if self._keys is not None and self._keys_at > now:  # fetched while we waited
                return self._keys
            document = await self._get_json((await self.metadata())["jwks_uri"])
            try:
                keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError, KeyError) as error:
                raise OidcUnavailable(f"the issuer's keys cannot be read: {error}") from None
            self._keys, self._keys_at = keys, time.monotonic()
            return keys

    # --- checking tokens -----------------------------------------------------------------------

    async def verify(
        self, token: str, *, audience: str | None = None, nonce: str | None = None
    ) -> dict[str, Any]:
        """The claims of a JWT the issuer signed for ``audience`` (default: this server's);
        :class:`InvalidToken` otherwise."""
        try:
            compact = jws.extract_compact(token.encode())
            header = compact.headers()
            claimed = json.loads(compact.payload)
        except (JoseError, ValueError, TypeError) as error:
            raise InvalidToken(f"the token is not a JWT: {error}") from None
        # A token from elsewhere is refused before anything is fetched for it.
        if not isinstance(claimed, dict) or claimed.get("iss") != self.issuer:
            raise InvalidToken("the token was not issued by this server's sign-in issuer")
        keys = await self.keys()
        kid = header.get("kid")
        if kid is not None and kid not in {key.kid for key in keys}:
            keys = await self.keys(unknown_kid=True)
        try:
            checked = jwt.decode(token, keys, algorithms=list(ALGORITHMS))
            claims = dict(checked.claims)
            jwt.JWTClaimsRegistry(
                leeway=self.leeway,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": audience or self.audience},
                exp={"essential": True},
                sub={"essential": True},
            ).validate(claims)
        except JoseError as error:
            raise InvalidToken(f"the token is not valid: {error.description or error}") from None
        if nonce is not None and claims.get("nonce") != nonce:
            raise InvalidToken("the ID token's nonce is not the one this sign-in sent")
        return claims

    @staticmethod
    def identity(claims: dict[str, Any]) -> Identity:
        email = claims.get("email")
        return Identity(
            subject=str(claims["sub"]),
            email=email if isinstance(email, str) and "@" in email else None,
            email_verified=claims.get("email_verified") is True,
            name=str(claims.get("name") or claims.get("preferred_username") or ""),
        )

    # --- the authorization code flow -----------------------------------------------------------

    async def authorization_url(
        self, redirect_uri: str, state: str, nonce: str, challenge: str
    ) -> str:
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        endpoint = (await self.metadata())["authorization_endpoint"]
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}"

    async def exchange(self, code: str, verifier: str, redirect_uri: str) -> dict[str, Any]:
        """The token endpoint's answer for the code (with the PKCE verifier)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        auth = None
        if self.client_secret is not None:
            auth = httpx.BasicAuth(self.client_id, self.client_secret)
        else:
            form["client_id"] = self.client_id
        endpoint = (await self.metadata())["token_endpoint"]
        try:
            response = await self._http.post(endpoint, data=form, auth=auth)
        except httpx.HTTPError as error:
            raise OidcUnavailable(f"the sign-in issuer did not answer: {error}") from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not isinstance(body.get("id_token"), str):
            reason = body.get("error_description") or body.get("error") or response.status_code
            raise InvalidToken(f"the issuer refused the sign-in code: {reason}")
        return body

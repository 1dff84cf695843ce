"""Request and response bodies of ``/v1/me``, ``/v1/users`` and ``/v1/auth``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from reflector.api.schemas import StrictBody
from reflector.passwords import MAX_PASSWORD_CHARS


class MeOut(BaseModel):
    id: str
    email: str | None
    name: str
    is_admin: bool


class UserOut(MeOut):
    created_at: datetime
    disabled_at: datetime | None
    """Set: the user can no longer sign in, and their keys stopped working."""


class LoginBody(StrictBody):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_CHARS)


class SignInMethods(BaseModel):
    """How a browser may sign in here; public, so a sign-in page can ask before anyone is in."""

    multi_user: bool
    """False: a single-user server, where nobody signs in."""
    oidc: bool
    """True: ``GET /v1/auth/oidc/login`` sends the browser to the single sign-on issuer."""


class SignedIn(MeOut):
    csrf_token: str
    """Send it as ``X-CSRF-Token`` on every write made with the session cookie (it is also in
    the ``reflector_csrf`` cookie)."""
    expires_at: datetime

"""Signing in and out: checking a password, opening a session, its cookies."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from reflector.api.auth import CSRF_COOKIE, SESSION_COOKIE, csrf_token
from reflector.api.problems import Problem
from reflector.api.state import AppState
from reflector.db import accounts
from reflector.db.tables import LoginSession, User
from reflector.passwords import verify_password


async def check_password(session: AsyncSession, email: str, password: str) -> User:
    """The user with this email and password; one 401 for every failure (unknown email,
    wrong password, no password, disabled), after the same work, so none can be told apart."""
    user = await accounts.user_by_email(session, email)
    usable = user is not None and user.disabled_at is None
    stored = user.password_hash if usable and user is not None else None
    # argon2 takes tens of milliseconds of CPU: off the event loop.
    if not await asyncio.to_thread(verify_password, stored, password) or user is None:
        raise Problem(401, "invalid-credentials", "the email or the password is wrong")
    return user


async def open_session(
    state: AppState, session: AsyncSession, user: User
) -> tuple[LoginSession, str]:
    lifetime = timedelta(seconds=state.settings.session_expiry_seconds)
    row, token = await accounts.create_login_session(session, user.id, lifetime)
    await session.commit()
    return row, token


def secure_cookies(request: Request, state: AppState) -> bool:
    """Whether cookies are marked ``Secure`` (the browser reaches the server over https)."""
    return _secure(request, state)


def _secure(request: Request, state: AppState) -> bool:
    """Cookies only over https when the browser reaches the server that way."""
    public = state.settings.public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def set_session_cookies(response: Response, request: Request, state: AppState, token: str) -> str:
    """Put the session (HttpOnly) and its CSRF token (readable by the page) in cookies; the
    token is returned too."""
    secure = _secure(request, state)
    max_age = int(state.settings.session_expiry_seconds)
    csrf = csrf_token(state.secret_key, token)
    response.set_cookie(
        SESSION_COOKIE, token, max_age=max_age, path="/", secure=secure, httponly=True,
        samesite="lax",
    )  # fmt: skip
    response.set_cookie(
        CSRF_COOKIE, csrf, max_age=max_age, path="/", secure=secure, httponly=False,
        samesite="lax",
    )  # fmt: skip
    return csrf


def clear_session_cookies(response: Response, request: Request, state: AppState) -> None:
    secure = _secure(request, state)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="lax")
    response.delete_cookie(CSRF_COOKIE, path="/", secure=secure, samesite="lax")

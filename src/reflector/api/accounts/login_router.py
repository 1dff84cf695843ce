"""``/v1/auth``: a browser signs in with an email and a password and gets a session cookie."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from reflector.api.accounts import service
from reflector.api.accounts.schemas import LoginBody, SignedIn, SignInMethods
from reflector.api.auth import SESSION_COOKIE, check_csrf, client_address
from reflector.api.deps import Session, State
from reflector.db import accounts

router = APIRouter(prefix="/v1/auth", tags=["accounts"])


@router.get("/methods", response_model=SignInMethods)
async def sign_in_methods(state: State) -> SignInMethods:
    """Whether this server has accounts at all, and whether single sign-on (OIDC) is set up:
    the sign-in page shows its button only then."""
    return SignInMethods(
        multi_user=state.settings.auth_mode == "multi-user", oidc=state.oidc is not None
    )


@router.post("/login", response_model=SignedIn)
async def login(
    body: LoginBody, request: Request, response: Response, session: Session, state: State
) -> SignedIn:
    """Sign in: sets the session cookie (HttpOnly) and the CSRF cookie. A wrong email or
    password is the same 401 ``invalid-credentials``. Attempts are limited per address and per
    account (429 ``rate-limited`` with ``Retry-After``)."""
    await state.rate_limiter.hit("login", "ip", client_address(request))
    await state.rate_limiter.hit("login", "account", accounts.normalize_email(body.email))
    user = await service.check_password(session, body.email, body.password)
    row, token = await service.open_session(state, session, user)
    csrf = service.set_session_cookies(response, request, state, token)
    return SignedIn(
        id=user.id,
        email=user.email,
        name=user.name,
        is_admin=user.is_admin,
        csrf_token=csrf,
        expires_at=row.expires_at,
    )


@router.post("/logout", status_code=204)
async def logout(request: Request, session: Session, state: State) -> Response:
    """End the browser's session (with its CSRF token) and clear its cookies."""
    token = request.cookies.get(SESSION_COOKIE)
    if token and await accounts.user_for_session(session, token) is not None:
        check_csrf(request, state.secret_key, token)
        await accounts.end_login_session(session, token)
        await session.commit()
    response = Response(status_code=204)
    service.clear_session_cookies(response, request, state)
    return response

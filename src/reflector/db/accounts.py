"""Users, their API keys and their sign-in sessions.

Secrets (API keys, session tokens) are 256 random bits shown once; only their SHA-256 is stored.
Every lookup that authenticates a request also checks that the key or session has not been
revoked or expired and that its user is not disabled, in the same query.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from reflector.db.tables import ApiKey, LoginSession, User, as_utc, utcnow
from reflector.errors import BadInputError, NotFoundError

API_KEY_PREFIX = "rk_"
LOCAL_USER_ID = "local"
LAST_USED_RESOLUTION = timedelta(minutes=1)
"""``last_used_at`` is written at most this often per key, not on every request."""


class AccountExists(BadInputError):
    """A user with this email exists already."""

    status = 409
    problem_type = "account-exists"


class UnknownAccount(NotFoundError):
    def __init__(self, what: str, identifier: str) -> None:
        super().__init__(f"{what} {identifier!r} does not exist")


def normalize_email(email: str) -> str:
    return email.strip().lower()


def _token_hash(token: str) -> str:
    # Tokens are 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


# --- users -------------------------------------------------------------------------------------


async def ensure_user(session: AsyncSession, user_id: str, name: str = "") -> User:
    user = await session.get(User, user_id)
    if user is None:
        user = User(id=user_id, name=name or user_id)
        session.add(user)
        await session.flush()
    return user


async def create_user(
    session: AsyncSession,
    email: str,
    *,
    name: str = "",
    is_admin: bool = False,
    password_hash: str | None = None,
) -> User:
    email = normalize_email(email)
    if await user_by_email(session, email) is not None:
        raise AccountExists(f"a user with the email {email!r} exists already")
    user = User(email=email, name=name or email, is_admin=is_admin, password_hash=password_hash)
    session.add(user)
    await session.flush()
    return user


async def user_for_oidc(
    session: AsyncSession,
    subject: str,
    *,
    email: str | None = None,
    email_verified: bool = False,
    name: str = "",
) -> User | None:
    """The user who signs in at the OpenID Connect issuer as ``subject``, made at their first
    sign-in (committed then); ``None`` for a disabled user.

    An existing account with the same email is taken over only when the issuer vouches for
    the email (``email_verified``) and the account is not linked to another subject: an
    unverified email claim must not hand over someone else's account. Otherwise the new user
    gets the email if nobody has it yet, or none."""
    user = await session.scalar(select(User).where(User.oidc_subject == subject))
    if user is not None:
        return None if user.disabled_at is not None else user
    if email:
        existing = await user_by_email(session, email)
        if existing is not None and email_verified and existing.oidc_subject is None:
            existing.oidc_subject = subject
            user = existing
        elif existing is not None:
            email = None
    if user is None:
        address = normalize_email(email) if email else None
        user = User(email=address, name=name or address or subject, oidc_subject=subject)
        session.add(user)
    try:
        await session.commit()
    except IntegrityError:  # the same first sign-in, twice at once: the other one made it
        await session.rollback()
        user = await session.scalar(select(User).where(User.oidc_subject == subject))
        if user is None:
            raise
    return None if user.disabled_at is not None else user


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == normalize_email(email)))


async def list_users(session: AsyncSession) -> Sequence[User]:
    return (await session.scalars(select(User).order_by(User.created_at, User.id))).all()


async def disable_user(session: AsyncSession, user: User) -> None:
    """Disable the user (once): keys and sessions stop working; sessions are also removed."""
    if user.disabled_at is None:
        user.disabled_at = utcnow()
    await session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))


# --- API keys ----------------------------------------------------------------------------------


def hash_api_key(key: str) -> str:
    return _token_hash(key)


async def create_api_key(
    session: AsyncSession, user_id: str, name: str, expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """A new key; the plain key is returned once and never stored."""
    plain = API_KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        user_id=user_id,
        name=name,
        prefix=plain[:10],
        key_hash=hash_api_key(plain),
        expires_at=expires_at,
    )
    session.add(row)
    await session.flush()
    return row, plain


@dataclass(frozen=True)
class KeyOwner:
    """Who a valid API key belongs to: what authenticating a request needs, nothing more."""

    user_id: str
    is_admin: bool


async def key_owner(session: AsyncSession, key: str) -> KeyOwner | None:
    """The owner of ``key`` if it authenticates (known, not revoked or expired, its user
    not disabled), for every request: one indexed query for a few columns (no
    objects built), and a write only when ``last_used_at`` is due (then committed)."""
    now = utcnow()
    found = (
        await session.execute(
            select(ApiKey.id, ApiKey.last_used_at, User.id, User.is_admin)
            .join(User, User.id == ApiKey.user_id)
            .where(
                ApiKey.key_hash == hash_api_key(key),
                ApiKey.revoked_at.is_(None),
                or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
                User.disabled_at.is_(None),
            )
        )
    ).first()
    if found is None:
        return None
    key_id, last_used, user_id, is_admin = found
    if last_used is None or as_utc(last_used) < now - LAST_USED_RESOLUTION:
        await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
        await session.commit()
    return KeyOwner(user_id, bool(is_admin))


async def list_api_keys(session: AsyncSession, user_id: str | None) -> Sequence[ApiKey]:
    """Keys not revoked (expired ones too, with their ``expires_at``); ``None``: everyone's."""
    query = select(ApiKey).where(ApiKey.revoked_at.is_(None))
    if user_id is not None:
        query = query.where(ApiKey.user_id == user_id)
    return (await session.scalars(query.order_by(ApiKey.created_at, ApiKey.id))).all()


async def revoke_api_key(session: AsyncSession, user_id: str | None, key_id: str) -> ApiKey:
    """Revoke a key of ``user_id`` (``None``: of anyone); another user's key is not found."""
    row = await session.get(ApiKey, key_id)
    if row is None or (user_id is not None and row.user_id != user_id) or row.revoked_at:
        raise UnknownAccount("API key", key_id)
    row.revoked_at = utcnow()
    return row


# --- sign-in sessions --------------------------------------------------------------------------


async def create_login_session(
    session: AsyncSession, user_id: str, lifetime: timedelta
) -> tuple[LoginSession, str]:
    """A new session and its token (for the cookie); expired sessions are cleared on the way."""
    now = utcnow()
    await session.execute(delete(LoginSession).where(LoginSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    row = LoginSession(
        token_hash=_token_hash(token), user_id=user_id, created_at=now, expires_at=now + lifetime
    )
    session.add(row)
    await session.flush()
    return row, token


async def user_for_session(session: AsyncSession, token: str) -> User | None:
    """The session's user, unless the session is unknown or expired or the user disabled."""
    return await session.scalar(
        select(User)
        .join(LoginSession, LoginSession.user_id == User.id)
        .where(
            LoginSession.token_hash == _token_hash(token),
            LoginSession.expires_at > utcnow(),
            User.disabled_at.is_(None),
        )
    )


async def end_login_session(session: AsyncSession, token: str) -> None:
    await session.execute(delete(LoginSession).where(LoginSession.token_hash == _token_hash(token)))

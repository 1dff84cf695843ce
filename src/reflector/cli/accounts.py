"""``reflector users`` and ``reflector keys``: local accounts and their API keys.

They work on the database ``serve`` uses (``REFLECTOR_DATABASE_URL``, else the SQLite file in
the data dir), bringing its schema up to date first, as ``serve`` does.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

import click

from reflector.errors import ReflectorError
from reflector.settings import get_settings

if TYPE_CHECKING:  # the database libraries load only when a command runs
    from sqlalchemy.ext.asyncio import AsyncSession

Result = TypeVar("Result")


def _run(work: Callable[[AsyncSession], Awaitable[Result]]) -> Result:
    """``work`` in one database session, committed when it returns."""
    from reflector.db.engine import make_engine, make_sessionmaker, upgrade_database

    url = get_settings().resolved_database_url()
    upgrade_database(url)

    async def run() -> Result:
        engine = make_engine(url, pool_size=1)
        try:
            async with make_sessionmaker(engine)() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except ReflectorError as exc:
        raise click.ClickException(str(exc)) from exc


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo(line.rstrip())


def _read_password() -> str:
    """The first line of stdin: a password never goes on the command line (shell history,
    the process list)."""
    from reflector.passwords import MAX_PASSWORD_CHARS

    lines = sys.stdin.read().splitlines()
    password = lines[0] if lines else ""
    if not password:
        raise click.ClickException("--password-stdin: no password on standard input")
    if len(password) > MAX_PASSWORD_CHARS:
        raise click.ClickException(f"the password is longer than {MAX_PASSWORD_CHARS} characters")
    return password


@click.group()
def users() -> None:
    """Local accounts: add, list and disable users."""


@users.command("add")
@click.argument("email")
@click.option("--name", default="", help="Display name (default: the email).")
@click.option("--admin", is_flag=True, help="May list and disable users.")
@click.option("--password-stdin", is_flag=True, help="Read a sign-in password from standard input.")
def add_user(email: str, name: str, admin: bool, password_stdin: bool) -> None:
    """Add a user with this EMAIL (unique, whatever its case)."""
    from reflector.db import accounts
    from reflector.passwords import hash_password

    if "@" not in email or len(email) > 320:
        raise click.BadParameter(f"{email!r} is not an email address", param_hint="EMAIL")
    password_hash = hash_password(_read_password()) if password_stdin else None

    async def add(session: AsyncSession) -> str:
        user = await accounts.create_user(
            session, email, name=name, is_admin=admin, password_hash=password_hash
        )
        return f"added {user.email} (id {user.id}{', admin' if admin else ''})"

    click.echo(_run(add))


@users.command("list")
def list_users() -> None:
    """Every user, oldest first."""
    from reflector.db import accounts

    async def rows(session: AsyncSession) -> list[tuple[str, ...]]:
        return [
            (
                user.email or "-",
                user.name,
                "yes" if user.is_admin else "no",
                "yes" if user.password_hash else "no",
                f"disabled {_when(user.disabled_at)}" if user.disabled_at else "active",
                _when(user.created_at),
                user.id,
            )
            for user in await accounts.list_users(session)
        ]

    _table(("EMAIL", "NAME", "ADMIN", "PASSWORD", "STATUS", "CREATED", "ID"), _run(rows))


@users.command("disable")
@click.argument("email")
def disable_user(email: str) -> None:
    """Disable the user: their keys and sessions stop working at once."""
    from reflector.db import accounts

    async def disable(session: AsyncSession) -> str:
        user = await accounts.user_by_email(session, email)
        if user is None:
            raise accounts.UnknownAccount("user", email)
        await accounts.disable_user(session, user)
        return f"disabled {user.email}: their keys and sessions no longer work"

    click.echo(_run(disable))


@click.group()
def keys() -> None:
    """API keys: create, list and revoke them for users."""


@keys.command("create")
@click.option("--user", "email", required=True, help="Email of the key's owner.")
@click.option("--name", default="", help="What the key is for.")
@click.option(
    "--expires-in-days", type=click.IntRange(1, 3650), help="Stop working after this many days."
)
def create_key(email: str, name: str, expires_in_days: int | None) -> None:
    """Create a key; it is printed once, as the last word of the output."""
    from reflector.db import accounts
    from reflector.db.tables import utcnow

    expires = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None

    async def create(session: AsyncSession) -> str:
        user = await accounts.user_by_email(session, email)
        if user is None:
            raise accounts.UnknownAccount("user", email)
        if user.disabled_at is not None:
            raise click.ClickException(f"{user.email} is disabled")
        row, plain = await accounts.create_api_key(session, user.id, name, expires)
        until = f", expires {_when(expires)} UTC" if expires else ""
        return f"API key {row.id} for {user.email}{until} (shown this once): {plain}"

    click.echo(_run(create))


@keys.command("list")
@click.option("--user", "email", help="Only this user's keys.")
def list_keys(email: str | None) -> None:
    """Keys not revoked (the key itself is never shown again; its first characters are)."""
    from reflector.db import accounts
    from reflector.db.tables import User

    async def rows(session: AsyncSession) -> list[tuple[str, ...]]:
        owner = None
        if email is not None:
            owner = await accounts.user_by_email(session, email)
            if owner is None:
                raise accounts.UnknownAccount("user", email)
        found = []
        for key in await accounts.list_api_keys(session, owner.id if owner else None):
            user = await session.get(User, key.user_id)
            found.append(
                (
                    key.id,
                    (user.email or user.id) if user else key.user_id,
                    key.name or "-",
                    key.prefix + "…",
                    _when(key.created_at),
                    _when(key.expires_at),
                    _when(key.last_used_at),
                )
            )
        return found

    _table(("ID", "USER", "NAME", "KEY", "CREATED", "EXPIRES", "LAST USED"), _run(rows))


@keys.command("revoke")
@click.argument("key_id")
def revoke_key(key_id: str) -> None:
    """Revoke the key with this id (see ``keys list``): it stops working at once."""
    from reflector.db import accounts

    async def revoke(session: AsyncSession) -> str:
        row = await accounts.revoke_api_key(session, None, key_id)
        return f"revoked API key {row.id}"

    click.echo(_run(revoke))

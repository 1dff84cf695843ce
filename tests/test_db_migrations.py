"""Migrations build exactly the tables the code expects, on SQLite and PostgreSQL, and undo."""

from __future__ import annotations

import asyncio

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from reflector.db.engine import alembic_config, make_engine, upgrade_database
from reflector.db.tables import Base
from reflector_testkit.servers import postgres_database

# The search index lives outside the ORM: an FTS5 table (SQLite) or a generated column (PG).
_SEARCH_ONLY = ("transcripts_fts", "search_vector")


def _inspect(url: str) -> tuple[list, set[str]]:
    """(differences between database and models, tables present)."""

    def read(connection) -> tuple[list, set[str]]:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        return diff, set(inspect(connection).get_table_names())

    async def run() -> tuple[list, set[str]]:
        engine = make_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    diff, tables = asyncio.run(run())
    return [d for d in diff if not any(name in str(d) for name in _SEARCH_ONLY)], tables


def _roundtrip(url: str) -> None:
    upgrade_database(url)
    differences, tables = _inspect(url)
    assert differences == []
    assert {"transcripts", "segments", "events", "jobs"} <= tables
    command.downgrade(alembic_config(url), "base")
    assert _inspect(url)[1] - {"alembic_version"} == set()
    upgrade_database(url)  # and up again, from nothing
    assert _inspect(url)[0] == []


def test_sqlite_migrations_match_the_models_and_downgrade(tmp_path):
    _roundtrip(f"sqlite:///{tmp_path / 'm.db'}")


def test_postgres_migrations_match_the_models_and_downgrade():
    with postgres_database() as url:
        _roundtrip(url)


def test_unsupported_database_urls_are_refused():
    with pytest.raises(ValueError, match="unsupported database URL"):
        upgrade_database("mysql://root@127.0.0.1/test")

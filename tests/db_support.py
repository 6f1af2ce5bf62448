"""The database as the store tests see it: a Database on a temporary file, the
settings keys it holds, a foreign key that fails only at COMMIT, a newer Moot
upgrading the file, and a site's rows read through a connection of their own."""

from __future__ import annotations

import sqlite3

import pytest

from moot.store import migrate
from moot.store.db import Database, fetch_all


@pytest.fixture
async def db(tmp_path):
    database = await Database(str(tmp_path / "db.sqlite"), read_connections=1).open()
    yield database
    await database.close()


async def keys(db: Database) -> set[str]:
    async with db.read() as conn:
        return {r[0] for r in await fetch_all(conn, "SELECT key FROM settings")}


def newer_moot_upgrades(path: str) -> None:
    """What a newer Moot's migration does to the file: it takes the write lock
    and raises the schema version past this Moot's."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute(f"PRAGMA user_version={migrate.SCHEMA_VERSION + 1}")
    other.execute("COMMIT")
    other.close()


async def add_deferred_foreign_key(db: Database) -> None:
    """Tables parent and child whose foreign key is checked only at COMMIT: an
    action that inserts a child of no parent fails after its body has returned."""
    async with db.transaction() as conn:
        await conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        await conn.execute(
            "CREATE TABLE child (p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)"
        )


def rows(site, sql: str, params: tuple = ()) -> list[tuple]:
    """The rows `sql` selects from the site's file, read through a connection of its own."""
    conn = sqlite3.connect(site.config.db_path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()

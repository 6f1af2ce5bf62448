"""The database as the store tests see it: a Database on a temporary file, the
settings keys it holds, a foreign key that fails only at COMMIT, a newer Moot
upgrading the file, and a site's rows read through a connection of their own."""

from __future__ import annotations

import sqlite3

import pytest

from moot.articles import groups, posting
from moot.people import accounts
from moot.store import migrate
from moot.store.db import Database, fetch_all
from tests.conftest import PASSWORD, password_hash


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


async def one_thread_file(path: str, subject: str, body: str, *replies: str) -> dict:
    """A site's file written before any server starts: Ada, comp.lang.python,
    and one thread of hers (`replies` from her under its first article).
    Returns the thread's `{thread, article}`."""
    db = await Database(path, read_connections=1).open()
    try:
        ada = await accounts.create_user(db, "ada", PASSWORD, "Ada", password_hash=password_hash())
        async with db.transaction() as conn:
            await groups.create_group(conn, None, "comp.lang.python", "Python")
            new = posting.Submission(body=body, subject=subject, group="comp.lang.python")
            started = await posting.submit(conn, "test.moot", ada, new)
            for text in replies:
                reply = posting.Submission(body=text, parent=started["article"]["id"])
                await posting.submit(conn, "test.moot", ada, reply)
        return started
    finally:
        await db.close()

"""Reading by article number and Message-ID, as a news reader does (RFC 3977).

Numbers are per group and only grow (groups.last_number); articles moved to
another group take new numbers there and leave gaps behind. Every query here
is an index seek or range over articles_number (group_id, number),
articles.message_id or articles_by_date, so its cost is what it returns."""

from __future__ import annotations

import sqlite3

from aiosqlite import Connection

from ..articles.exports import EXPORT_SELECT, SERVED
from ..store.db import fetch_all, fetch_one, fetch_value

# Rows one range read returns at most; a client pages through bigger ranges.
RANGE_MAX = 100_000
# Message-IDs one NEWNEWS answer holds at most (oldest first).
NEWNEWS_MAX = 100_000

GROUP_SELECT = (
    "SELECT g.id, g.name, g.description, g.status, g.created_at, g.last_number, g.article_count,"
    " (SELECT min(number) FROM articles WHERE group_id = g.id) AS low FROM groups g"
)


def group_marks(row: sqlite3.Row) -> tuple[int, int, int]:
    """(count, low, high) of a group row from GROUP_SELECT; an empty group has
    low = high + 1 (RFC 3977 §6.1.1.2)."""
    high = row["last_number"]
    if row["low"] is None:
        return 0, high + 1, high
    return row["article_count"], row["low"], high


async def groups(conn: Connection) -> list[sqlite3.Row]:
    """Every group, by name, with its low water mark."""
    return await fetch_all(conn, GROUP_SELECT + " ORDER BY g.name")


async def group(conn: Connection, name: str) -> sqlite3.Row | None:
    return await fetch_one(conn, GROUP_SELECT + " WHERE g.name = ?", (name,))


async def groups_since(conn: Connection, since: str) -> list[sqlite3.Row]:
    """Groups created at or after `since` (stored time form), by name."""
    return await fetch_all(conn, GROUP_SELECT + " WHERE g.created_at >= ? ORDER BY g.name", (since,))


async def numbers(conn: Connection, group_id: int, low: int, high: int) -> list[int]:
    """The article numbers in [low, high] that exist, ascending (an import's
    placeholders for missing messages are no articles to a newsreader)."""
    rows = await conn.execute_fetchall(
        "SELECT number FROM articles a WHERE group_id = ? AND number BETWEEN ? AND ?"
        + SERVED
        + " ORDER BY number LIMIT ?",
        (group_id, low, high, RANGE_MAX),
    )
    return [r[0] for r in rows]


async def by_number(conn: Connection, group_id: int, number: int) -> sqlite3.Row | None:
    return await fetch_one(
        conn, EXPORT_SELECT + " WHERE a.group_id = ? AND a.number = ?" + SERVED, (group_id, number)
    )


async def by_message_id(conn: Connection, message_id: str) -> sqlite3.Row | None:
    return await fetch_one(conn, EXPORT_SELECT + " WHERE a.message_id = ?" + SERVED, (message_id,))


async def in_range(conn: Connection, group_id: int, low: int, high: int) -> list[sqlite3.Row]:
    """Articles numbered in [low, high], ascending, at most RANGE_MAX."""
    return await fetch_all(
        conn,
        EXPORT_SELECT
        + " WHERE a.group_id = ? AND a.number BETWEEN ? AND ?"
        + SERVED
        + " ORDER BY a.number LIMIT ?",
        (group_id, low, high, RANGE_MAX),
    )


async def hidden_threads(conn: Connection, group_id: int, low: int, high: int) -> set[int]:
    """The threads of the hidden articles numbered in [low, high]: left out of
    what NNTP serves, they come back with their numbers when shown again."""
    rows = await conn.execute_fetchall(
        "SELECT DISTINCT thread_id FROM articles WHERE group_id = ? AND number BETWEEN ? AND ?"
        " AND status = 'hidden'",
        (group_id, low, high),
    )
    return {r[0] for r in rows}


async def neighbour(conn: Connection, group_id: int, number: int, *, forward: bool) -> int | None:
    """The next (or previous) existing article number after (before) `number`."""
    if forward:
        sql = "SELECT min(number) FROM articles a WHERE group_id = ? AND number > ?" + SERVED
    else:
        sql = "SELECT max(number) FROM articles a WHERE group_id = ? AND number < ?" + SERVED
    return await fetch_value(conn, sql, (group_id, number))


async def new_articles(conn: Connection, group_id: int, since: str, limit: int = NEWNEWS_MAX) -> list[str]:
    """Message-IDs of a group's articles posted at or after `since`, oldest first
    (one range over articles_by_date)."""
    rows = await conn.execute_fetchall(
        "SELECT message_id FROM articles a WHERE group_id = ? AND created_at >= ?"
        + SERVED
        + " ORDER BY created_at, id LIMIT ?",
        (group_id, since, limit),
    )
    return [r[0] for r in rows]


async def last_known(conn: Connection, references: tuple[str, ...] | list[str]) -> sqlite3.Row | None:
    """The last of `references` that names an article here (a followup's parent), or None."""
    for message_id in reversed(references[-100:]):
        row = await fetch_one(
            conn,
            "SELECT a.id, a.message_id, g.name AS group_name FROM articles a"
            " JOIN groups g ON g.id = a.group_id WHERE a.message_id = ?",
            (message_id,),
        )
        if row is not None:
            return row
    return None

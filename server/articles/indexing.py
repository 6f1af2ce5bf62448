"""The search index kept off the acknowledgement path: a new article's
words go into `articles_fts` later, in batches, behind a high-water mark.

`search_indexed` holds one article id, the mark: every article with an id up
to it is indexed if its status is 'ok' (with its text as stored now), and
none after it is. Posting writes nothing for the index: a new article's id is
beyond the mark (ids only grow), so it waits by being there. The writer moves
the mark on in batches (`drain`): every DRAIN_EVERY seconds (`start`), as an
action of whichever group commit is forming then, or alone when no other
write comes; a drain writes the batch's rows and the mark's one page. A search
first drains what waits (`catch_up`), so it always finds every acknowledged
article; the index itself holds each one at most DRAIN_EVERY seconds, plus
the commit its drain joins, after the article was acknowledged (docs/API.md,
Search).

The index is external-content (FTS5): removing a row must name exactly the
words it was indexed with. So every change to an article's subject, body or
author name, or to its status, goes through `unindex` first (the row as
stored, before the change) and `index` after (the text as it will be, when
it stays or becomes visible). Both do nothing beyond the mark: there the
article is not indexed yet, and `drain` will take it as it is then (and skip
it if it is no longer 'ok')."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import Any

from ..store.db import Database, fetch_all, fetch_value

# An article's words in the search index, and out of it (FTS5 external content:
# a delete names the words the row was indexed with).
INDEX = "INSERT INTO articles_fts (rowid, subject, body, author_name) VALUES (?, ?, ?, ?)"
UNINDEX = (
    "INSERT INTO articles_fts (articles_fts, rowid, subject, body, author_name) VALUES ('delete', ?, ?, ?, ?)"
)

# Seconds between the writer's drains of what waits; the bound on how long an
# acknowledged article waits for the index (plus the commit its drain joins).
DRAIN_EVERY = 0.25
# Articles one drain passes; more are taken by the next drain, at once.
DRAIN_BATCH = 500

log = logging.getLogger("moot.search")


async def indexed_to(conn: Any) -> int:
    """The mark: the last article id the index has taken (see the module's docstring)."""
    return int(await fetch_value(conn, "SELECT article_id FROM search_indexed"))


async def index(conn: Any, article_id: int, subject: str, body: str, author_name: str) -> None:
    """Put the words of a visible article into the index (after `unindex`, or
    as it becomes visible); beyond the mark, `drain` will."""
    if article_id <= await indexed_to(conn):
        await conn.execute(INDEX, (article_id, subject, body, author_name))


async def unindex(conn: Any, row: sqlite3.Row | dict) -> None:
    """Take a visible article (its row as stored, before the change) out of
    the index with the words it was indexed with; beyond the mark it is not
    in it yet."""
    if row["id"] <= await indexed_to(conn):
        await conn.execute(UNINDEX, (row["id"], row["subject"], row["body"], row["author_name"]))


async def unindex_author(conn: Any, user_id: int) -> None:
    """`unindex` every visible article of the account `user_id` (before its name changes)."""
    await conn.execute(
        "INSERT INTO articles_fts (articles_fts, rowid, subject, body, author_name)"
        " SELECT 'delete', id, subject, body, author_name FROM articles"
        " WHERE user_id = ? AND status = 'ok' AND id <= (SELECT article_id FROM search_indexed)",
        (user_id,),
    )


async def index_author(conn: Any, user_id: int) -> None:
    """`index` every visible article of the account `user_id` (after its name changed)."""
    await conn.execute(
        "INSERT INTO articles_fts (rowid, subject, body, author_name)"
        " SELECT id, subject, body, author_name FROM articles"
        " WHERE user_id = ? AND status = 'ok' AND id <= (SELECT article_id FROM search_indexed)",
        (user_id,),
    )


async def drain(conn: Any, limit: int = DRAIN_BATCH) -> int:
    """Index the next (up to) `limit` articles beyond the mark, as they are
    now (those not 'ok' are passed over), and move the mark past them.
    Returns how many it passed; fewer than `limit` means none are left."""
    mark = await indexed_to(conn)
    taken, last = (
        await fetch_all(
            conn,
            "SELECT count(*), max(id) FROM (SELECT id FROM articles WHERE id > ? ORDER BY id LIMIT ?)",
            (mark, limit),
        )
    )[0]
    if not taken:
        return 0
    await conn.execute(
        "INSERT INTO articles_fts (rowid, subject, body, author_name)"
        " SELECT id, subject, body, author_name FROM articles WHERE id > ? AND id <= ? AND status = 'ok'",
        (mark, last),
    )
    await conn.execute("UPDATE search_indexed SET article_id = ?", (last,))
    return int(taken)


async def waiting(db: Database) -> bool:
    """Whether any article waits for the index (read beside the writer)."""
    async with db.read() as conn:
        return bool(
            await fetch_value(
                conn,
                "SELECT EXISTS (SELECT 1 FROM articles WHERE id > (SELECT article_id FROM search_indexed))",
            )
        )


async def catch_up(db: Database) -> None:
    """Index everything that waits (a search calls this first, so it finds
    every acknowledged article): nothing to write when nothing waits."""
    while await waiting(db) and await db.run(drain) >= DRAIN_BATCH:
        pass


async def _keep(db: Database) -> None:
    while True:
        await asyncio.sleep(DRAIN_EVERY)
        try:
            await catch_up(db)
        except Exception:  # a closed or busy database: the next round tries again
            log.exception("moving the search index on failed")


def start(db: Database) -> asyncio.Task:
    """The writer's drains (moves of the mark), every DRAIN_EVERY seconds."""
    return asyncio.get_running_loop().create_task(_keep(db), name="moot-search-index")


async def stop(task: asyncio.Task) -> None:
    """End the drains `start` began (what still waits is drained by the next start or search)."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

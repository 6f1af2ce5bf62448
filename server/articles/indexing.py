"""The search index kept off the acknowledgement path: a new article's
words go into `articles_fts` later, in batches, through an outbox.

Posting writes only the article's id into `search_queue` (`queue`); the
writer takes queued articles into the index in batches (`drain`): every
DRAIN_EVERY seconds (`start`), as an action of whichever group commit is
forming then, or alone when no other write comes. A search first drains
what is queued (`catch_up`), so it always finds every acknowledged article;
the index itself holds each one at most DRAIN_EVERY seconds, plus the commit
its drain joins, after the article was acknowledged (docs/API.md, Search).

The index is external-content (FTS5): removing a row must name exactly the
words it was indexed with. So the rule is: an article with status 'ok' is
either in `search_queue` (not indexed yet) or indexed with its subject, body
and author name as stored now; every change to those, or to its status,
goes through `unindex` first, which takes a queued article out of the queue
and an indexed one out of the index, and then indexes the new text (`INDEX`)
or leaves it out. `drain` indexes each queued article as it is when drained
(and skips one that is no longer 'ok')."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from typing import Any

from ..store.db import Database, fetch_value

# An article's words in the search index, and out of it (FTS5 external content:
# a delete names the words the row was indexed with).
INDEX = "INSERT INTO articles_fts (rowid, subject, body, author_name) VALUES (?, ?, ?, ?)"
UNINDEX = (
    "INSERT INTO articles_fts (articles_fts, rowid, subject, body, author_name) VALUES ('delete', ?, ?, ?, ?)"
)

# Seconds between the writer's drains of the queue; the bound on how long an
# acknowledged article waits for the index (plus the commit its drain joins).
DRAIN_EVERY = 0.25
# Articles one drain indexes; more are taken by the next drain, at once.
DRAIN_BATCH = 500

log = logging.getLogger("moot.search")


async def queue(conn: Any, article_id: int) -> None:
    """Queue a new 'ok' article for the search index (drained later)."""
    await conn.execute("INSERT OR IGNORE INTO search_queue (article_id) VALUES (?)", (article_id,))


async def unindex(conn: Any, row: sqlite3.Row | dict) -> None:
    """Take a visible article (its row as stored, before the change) out of
    the search: out of the queue if it waits there, else out of the index
    with the words it was indexed with."""
    cursor = await conn.execute("DELETE FROM search_queue WHERE article_id = ?", (row["id"],))
    if cursor.rowcount == 0:
        await conn.execute(UNINDEX, (row["id"], row["subject"], row["body"], row["author_name"]))


async def drain(conn: Any, limit: int = DRAIN_BATCH) -> int:
    """Index up to `limit` queued articles, oldest first, as they are now
    (those no longer 'ok' are only dropped from the queue). Returns how many
    queue rows it took; fewer than `limit` means the queue is empty."""
    last = await fetch_value(
        conn,
        "SELECT max(article_id) FROM (SELECT article_id FROM search_queue ORDER BY article_id LIMIT ?)",
        (limit,),
    )
    if last is None:
        return 0
    await conn.execute(
        "INSERT INTO articles_fts (rowid, subject, body, author_name)"
        " SELECT a.id, a.subject, a.body, a.author_name FROM search_queue q"
        " JOIN articles a ON a.id = q.article_id WHERE q.article_id <= ? AND a.status = 'ok'"
        " ORDER BY q.article_id",
        (last,),
    )
    cursor = await conn.execute("DELETE FROM search_queue WHERE article_id <= ?", (last,))
    return cursor.rowcount


async def waiting(db: Database) -> bool:
    """Whether any article waits for the index (read beside the writer)."""
    async with db.read() as conn:
        return bool(await fetch_value(conn, "SELECT EXISTS (SELECT 1 FROM search_queue)"))


async def catch_up(db: Database) -> None:
    """Index everything queued (a search calls this first, so it finds every
    acknowledged article): nothing to write when nothing waits."""
    while await waiting(db) and await db.run(drain) >= DRAIN_BATCH:
        pass


async def _keep(db: Database) -> None:
    while True:
        await asyncio.sleep(DRAIN_EVERY)
        try:
            await catch_up(db)
        except Exception:  # a closed or busy database: the next round tries again
            log.exception("draining the search queue failed")


def start(db: Database) -> asyncio.Task:
    """The writer's drains of the search queue, every DRAIN_EVERY seconds."""
    return asyncio.get_running_loop().create_task(_keep(db), name="moot-search-index")


async def stop(task: asyncio.Task) -> None:
    """End the drains `start` began (what is still queued is drained by the next start or search)."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

"""The article rows behind mbox downloads and Atom feeds. Every read is a
keyset read over an index (threads_new, articles_tree, articles_by_date), so
its cost is the page, not the group."""

from __future__ import annotations

from sqlite3 import Row

from aiosqlite import Connection

from ..store.db import fetch_all, fetch_value
from .reading import HIDDEN_NOTICE
from .subjects import REFERENCES_KEEP

# An article's ancestors in the thread it belongs to now, root first, space
# separated (NULL for a root): a walk up parent_id, one primary-key seek per
# level, that stops after the REFERENCES_KEEP - 1 nearest and then names the
# root alone (RFC 5537 §3.4.4 lets the middle go), so its cost is bounded
# whatever the depth.
TREE_PATH = f"""(
    WITH RECURSIVE up(parent_id, path, n) AS (
        SELECT p.parent_id, p.message_id, 1 FROM articles p WHERE p.id = a.parent_id
        UNION ALL
        SELECT q.parent_id, q.message_id || ' ' || up.path, up.n + 1
        FROM up JOIN articles q ON q.id = up.parent_id WHERE up.n < {REFERENCES_KEEP - 1}
    )
    SELECT iif(parent_id IS NULL, path, (SELECT message_id FROM articles WHERE id = t.root_article_id) || ' ' || path)
    FROM up ORDER BY n DESC LIMIT 1
)"""
# The article columns of ARTICLE_SELECT plus what its served References need
# (mbox.references): its tree path, and whether its thread's root came from a split.
EXPORT_SELECT = (
    "SELECT a.*, g.name AS group_name, u.username AS username,"
    f" {TREE_PATH} AS tree_path, t.split_from_thread_id AS split_from, ap.path AS news_path"
    " FROM articles a JOIN groups g ON g.id = a.group_id JOIN threads t ON t.id = a.thread_id"
    " LEFT JOIN users u ON u.id = a.user_id"
    " LEFT JOIN article_paths ap ON ap.article_id = a.id"
)
EXPORT_PAGE = 500
# What an export (and NNTP) serves. Placeholders for messages an import did not have
# (mailthreads.PLACEHOLDER_NOTICE) are not articles anyone wrote: an export leaves
# them out (their replies still name them in References). A notice by another node's
# moderator has no account here either, so the notice's own action tells them apart.
# A hidden article is out until its moderators decide (it keeps its number).
SERVED = (
    " AND a.status != 'hidden'"
    " AND NOT (a.status = 'notice' AND json_extract(a.notice, '$.action') = 'missing')"
)


async def thread_export_page(
    conn: Connection, thread_id: int, after: Row | None = None, limit: int = EXPORT_PAGE
) -> list[Row]:
    """A thread's articles in tree order after the row `after` (the previous
    page's last; None: from the start), with their parents' ids. Resumes from
    that article's key now (keys may have been renumbered since), or, if it
    has left the thread, from the key it had."""
    key = -1
    if after is not None:
        now = await fetch_value(
            conn, "SELECT seq FROM articles WHERE id = ? AND thread_id = ?", (after["id"], thread_id)
        )
        key = now if now is not None else after["seq"]
    return await fetch_all(
        conn,
        EXPORT_SELECT + " WHERE a.thread_id = ? AND a.seq > ?" + SERVED + " ORDER BY a.seq LIMIT ?",
        (thread_id, key, limit),
    )


async def group_export_page(
    conn: Connection,
    group_id: int,
    *,
    after: str | None = None,
    before: str | None = None,
    key: tuple[str, int] | None = None,
    limit: int = EXPORT_PAGE,
) -> list[Row]:
    """A group's articles oldest first, in [after, before), after the (created_at, id) `key`."""
    sql = EXPORT_SELECT + " WHERE a.group_id = ?" + SERVED
    params: list[object] = [group_id]
    if after:
        sql += " AND a.created_at >= ?"
        params.append(after)
    if before:
        sql += " AND a.created_at < ?"
        params.append(before)
    if key is not None:
        sql += " AND (a.created_at, a.id) > (?, ?)"
        params += list(key)
    return await fetch_all(conn, sql + " ORDER BY a.created_at, a.id LIMIT ?", (*params, limit))


async def new_threads(conn: Connection, group_row: Row, limit: int = 50) -> list[Row]:
    """A group's newest threads (by start) with their first articles, for its
    feed; a hidden first article shows the hidden notice, as the API does."""
    return await fetch_all(
        conn,
        "SELECT t.id AS thread_id, t.subject AS thread_subject, t.created_at AS started_at,"
        " a.message_id, a.author_name, iif(a.status = 'hidden', ?, a.body) AS body, a.status, a.created_at"
        " FROM threads t JOIN articles a ON a.id = t.root_article_id"
        " WHERE t.group_id = ? AND t.merged_into_thread_id IS NULL"
        " ORDER BY t.created_at DESC, t.id DESC LIMIT ?",
        (HIDDEN_NOTICE, group_row["id"], limit),
    )


async def thread_latest(conn: Connection, thread_id: int, limit: int = 100) -> list[Row]:
    """A thread's newest articles that still have their text, for its feed."""
    return await fetch_all(
        conn,
        "SELECT a.id, a.message_id, a.subject, a.author_name, a.body, a.created_at, a.status"
        " FROM articles a WHERE a.thread_id = ? AND a.status = 'ok'"
        " ORDER BY a.created_at DESC, a.id DESC LIMIT ?",
        (thread_id, limit),
    )

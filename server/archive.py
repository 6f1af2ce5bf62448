"""Reading the archive: a group's archived threads by the month they started,
and the article rows behind mbox downloads and Atom feeds. Every list is a
keyset read over an index (threads_by_date, threads_new, articles_tree,
articles_by_date), so its cost is the page, not the group."""

from __future__ import annotations

import re

from . import validate
from .db import fetch_all
from .errors import Invalid
from .threads import THREAD_SELECT, thread_json

# The article columns of ARTICLE_SELECT plus what an mbox needs of the parent.
EXPORT_SELECT = (
    "SELECT a.*, g.name AS group_name, u.username AS username,"
    " p.message_id AS parent_message_id, p.refs AS parent_refs"
    " FROM articles a JOIN groups g ON g.id = a.group_id"
    " LEFT JOIN users u ON u.id = a.user_id"
    " LEFT JOIN articles p ON p.id = a.parent_id")
EXPORT_PAGE = 500

_THREAD_CURSOR = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)_(\d{1,19})\Z")


def period(year, month=None) -> tuple[str, str]:
    """[start, end) in stored time for a year, or a month of it."""
    year = validate.integer(year, "year", minimum=1000, maximum=9998)
    if month in (None, ""):
        return f"{year:04d}-01-01T00:00:00.000Z", f"{year + 1:04d}-01-01T00:00:00.000Z"
    month = validate.integer(month, "month", minimum=1, maximum=12)
    end_year, end_month = (year + 1, 1) if month == 12 else (year, month + 1)
    return (f"{year:04d}-{month:02d}-01T00:00:00.000Z",
            f"{end_year:04d}-{end_month:02d}-01T00:00:00.000Z")


async def periods(conn, group_row) -> list[dict]:
    """The months that have archived threads, newest first, with their counts."""
    rows = await fetch_all(
        conn, "SELECT substr(created_at, 1, 7) AS ym, count(*) AS n FROM threads"
        " WHERE group_id = ? AND state = 'archived' AND merged_into_thread_id IS NULL"
        " GROUP BY ym ORDER BY ym DESC", (group_row["id"],))
    return [{"year": int(r["ym"][:4]), "month": int(r["ym"][5:7]), "threads": r["n"]} for r in rows]


async def archived_threads(conn, group_row, year, month=None, *, limit=None, cursor=None) -> dict:
    """Archived threads that started in a year or month, oldest first: `{threads, next_cursor}`."""
    start, end = period(year, month)
    limit = validate.limit(limit)
    sql = (THREAD_SELECT + " WHERE t.group_id = ? AND t.state = 'archived'"
           " AND t.merged_into_thread_id IS NULL AND t.created_at >= ? AND t.created_at < ?")
    params: list = [group_row["id"], start, end]
    if cursor:
        match = _THREAD_CURSOR.match(cursor) if isinstance(cursor, str) else None
        if not match:
            raise Invalid("cursor is not one this server issued")
        sql += " AND (t.created_at, t.id) > (?, ?)"
        params += [match[1], int(match[2])]
    rows = await fetch_all(conn, sql + " ORDER BY t.created_at, t.id LIMIT ?", (*params, limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return {"threads": [thread_json(r) for r in rows],
            "next_cursor": f"{rows[-1]['created_at']}_{rows[-1]['id']}" if more else None}


async def thread_export_page(conn, thread_id: int, after_path: str = "", limit: int = EXPORT_PAGE):
    """A thread's articles in tree order after `after_path`, with their parents' ids."""
    return await fetch_all(
        conn, EXPORT_SELECT + " WHERE a.thread_id = ? AND a.path > ? ORDER BY a.path LIMIT ?",
        (thread_id, after_path, limit))


async def group_export_page(conn, group_id: int, *, after: str | None = None,
                            before: str | None = None, key: tuple[str, int] | None = None,
                            limit: int = EXPORT_PAGE):
    """A group's articles oldest first, in [after, before), after the (created_at, id) `key`."""
    sql, params = EXPORT_SELECT + " WHERE a.group_id = ?", [group_id]
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


async def new_threads(conn, group_row, limit: int = 50):
    """A group's newest threads (by start) with their first articles, for its feed."""
    return await fetch_all(
        conn, "SELECT t.id AS thread_id, t.subject AS thread_subject, t.created_at AS started_at,"
        " a.message_id, a.author_name, a.body, a.status, a.created_at"
        " FROM threads t JOIN articles a ON a.id = t.root_article_id"
        " WHERE t.group_id = ? AND t.merged_into_thread_id IS NULL"
        " ORDER BY t.created_at DESC, t.id DESC LIMIT ?", (group_row["id"], limit))


async def thread_latest(conn, thread_id: int, limit: int = 100):
    """A thread's newest articles that still have their text, for its feed."""
    return await fetch_all(
        conn, "SELECT a.id, a.message_id, a.subject, a.author_name, a.body, a.created_at, a.status"
        " FROM articles a WHERE a.thread_id = ? AND a.status = 'ok'"
        " ORDER BY a.created_at DESC, a.id DESC LIMIT ?", (thread_id, limit))

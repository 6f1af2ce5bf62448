"""A group's archived threads by the month they started (the listing under
/g/NAME/archive): keyset reads over the threads_by_date index, so a page
costs its own rows, not the group's."""

from __future__ import annotations

from sqlite3 import Row

from aiosqlite import Connection

from ..store import validate
from ..store.db import fetch_all
from .reading import thread_list


def period(year: object, month: object = None) -> tuple[str, str]:
    """[start, end) in stored time for a year, or a month of it."""
    year = validate.integer(year, "year", minimum=1000, maximum=9998)
    if month in (None, ""):
        return f"{year:04d}-01-01T00:00:00.000Z", f"{year + 1:04d}-01-01T00:00:00.000Z"
    month = validate.integer(month, "month", minimum=1, maximum=12)
    end_year, end_month = (year + 1, 1) if month == 12 else (year, month + 1)
    return (f"{year:04d}-{month:02d}-01T00:00:00.000Z", f"{end_year:04d}-{end_month:02d}-01T00:00:00.000Z")


async def periods(conn: Connection, group_row: Row) -> list[dict]:
    """The months that have archived threads, newest first, with their counts."""
    rows = await fetch_all(
        conn,
        "SELECT substr(created_at, 1, 7) AS ym, count(*) AS n FROM threads"
        " WHERE group_id = ? AND state = 'archived' AND merged_into_thread_id IS NULL"
        " GROUP BY ym ORDER BY ym DESC",
        (group_row["id"],),
    )
    return [{"year": int(r["ym"][:4]), "month": int(r["ym"][5:7]), "threads": r["n"]} for r in rows]


async def archived_threads(
    conn: Connection,
    group_row: Row,
    year: object,
    month: object = None,
    *,
    limit: object = None,
    cursor: object = None,
) -> dict:
    """Archived threads that started in a year or month, oldest first: `{threads, next_cursor}`."""
    start, end = period(year, month)
    return await thread_list(
        conn,
        "t.group_id = ? AND t.state = 'archived' AND t.merged_into_thread_id IS NULL"
        " AND t.created_at >= ? AND t.created_at < ?",
        [group_row["id"], start, end],
        order="created_at",
        newest_first=False,
        limit=limit,
        cursor=cursor,
    )

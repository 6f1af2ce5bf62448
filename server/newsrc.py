"""What each signed-in reader has seen, group by group, kept the way a
newsreader's .newsrc keeps it: the highest article number of their last
visit. Article numbers only grow, so what is new is one index range."""

from __future__ import annotations

from aiosqlite import Connection

from .db import fetch_all, fetch_value

# Past this many new articles a group shows "999+": counting stops there.
COUNT_LIMIT = 1000


async def unread_counts(conn: Connection, user_id: int) -> dict[str, int]:
    """New articles per group since the reader's last visit, their own posts
    and moderation notices aside; at most COUNT_LIMIT each."""
    rows = await fetch_all(
        conn,
        "SELECT g.name, (SELECT count(*) FROM (SELECT 1 FROM articles a"
        "   WHERE a.group_id = g.id AND a.number > coalesce(n.seen_number, 0)"
        "   AND a.status = 'ok' AND a.user_id IS NOT ? LIMIT ?))"
        " FROM groups g LEFT JOIN newsrc n ON n.group_id = g.id AND n.user_id = ?",
        (user_id, COUNT_LIMIT, user_id))
    return {name: count for name, count in rows if count}


async def seen_number(conn: Connection, user_id: int, group_id: int) -> int:
    return await fetch_value(
        conn, "SELECT seen_number FROM newsrc WHERE user_id = ? AND group_id = ?",
        (user_id, group_id)) or 0


async def mark_seen(conn: Connection, user_id: int, group_id: int, number: int) -> None:
    """Record a visit that saw the group up to `number` (never moves back)."""
    await conn.execute(
        "INSERT INTO newsrc (user_id, group_id, seen_number) VALUES (?, ?, ?)"
        " ON CONFLICT (user_id, group_id) DO UPDATE SET seen_number = max(seen_number, excluded.seen_number)",
        (user_id, group_id, number))

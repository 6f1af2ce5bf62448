"""Who follows which thread: posting follows a thread, and both halves of a
split or merge keep the followers they had."""

from __future__ import annotations

from aiosqlite import Connection


async def follow(conn: Connection, user_id: int, thread_id: int) -> None:
    await conn.execute("INSERT OR IGNORE INTO follows (user_id, thread_id) VALUES (?, ?)",
                       (user_id, thread_id))


async def copy_followers(conn: Connection, from_thread_id: int, to_thread_id: int) -> None:
    """Everyone following `from_thread_id` also follows `to_thread_id`."""
    await conn.execute("INSERT OR IGNORE INTO follows (user_id, thread_id)"
                       " SELECT user_id, ? FROM follows WHERE thread_id = ?",
                       (to_thread_id, from_thread_id))

"""Who follows which thread and group: posting follows a thread, readers
follow and unfollow threads and groups explicitly, and both halves of a split
or merge keep the followers they had, by mail too. Followers are notified
(server/people/notifications.py); those who follow a thread by mail are mailed its
new articles (server/mail/mailqueue.py)."""

from __future__ import annotations

from aiosqlite import Connection


async def follow(conn: Connection, user_id: int, thread_id: int) -> None:
    await conn.execute(
        "INSERT OR IGNORE INTO follows (user_id, thread_id) VALUES (?, ?)", (user_id, thread_id)
    )


async def set_mail(conn: Connection, user_id: int, thread_id: int, on: bool) -> None:
    """Follow a thread by mail (following it if not yet), or stop its mail and keep following."""
    await conn.execute(
        "INSERT INTO follows (user_id, thread_id, mail) VALUES (?, ?, ?)"
        " ON CONFLICT DO UPDATE SET mail = excluded.mail",
        (user_id, thread_id, int(on)),
    )


async def copy_followers(conn: Connection, from_thread_id: int, to_thread_id: int) -> None:
    """Everyone following `from_thread_id` also follows `to_thread_id`, by mail if they did."""
    await conn.execute(
        "INSERT INTO follows (user_id, thread_id, mail)"
        " SELECT user_id, ?, mail FROM follows WHERE thread_id = ?"
        " ON CONFLICT DO UPDATE SET mail = max(mail, excluded.mail)",
        (to_thread_id, from_thread_id),
    )


async def unfollow(conn: Connection, user_id: int, thread_id: int) -> None:
    await conn.execute("DELETE FROM follows WHERE user_id = ? AND thread_id = ?", (user_id, thread_id))


async def follows_thread(conn: Connection, user_id: int, thread_id: int) -> bool:
    cur = await conn.execute(
        "SELECT 1 FROM follows WHERE user_id = ? AND thread_id = ?", (user_id, thread_id)
    )
    return await cur.fetchone() is not None


async def thread_follow(conn: Connection, user_id: int, thread_id: int) -> dict:
    """`{thread_id, following, mail}`: whether the reader follows the thread, and by mail."""
    cur = await conn.execute(
        "SELECT mail FROM follows WHERE user_id = ? AND thread_id = ?", (user_id, thread_id)
    )
    row = await cur.fetchone()
    return {"thread_id": thread_id, "following": row is not None, "mail": bool(row and row[0])}


async def set_group_follow(conn: Connection, user_id: int, group_id: int, on: bool) -> None:
    """Follow a whole group (each new thread there notifies) or stop."""
    if on:
        await conn.execute(
            "INSERT OR IGNORE INTO group_follows (user_id, group_id) VALUES (?, ?)", (user_id, group_id)
        )
    else:
        await conn.execute(
            "DELETE FROM group_follows WHERE user_id = ? AND group_id = ?", (user_id, group_id)
        )


async def follows_group(conn: Connection, user_id: int, group_id: int) -> bool:
    cur = await conn.execute(
        "SELECT 1 FROM group_follows WHERE user_id = ? AND group_id = ?", (user_id, group_id)
    )
    return await cur.fetchone() is not None

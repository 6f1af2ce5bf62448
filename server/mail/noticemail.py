"""Notifications by mail: each reader chooses none (`off`), a mail for every
notification (`immediately`, queued in the transaction that writes the
notification) or a summary of the unread ones once a day (`daily`, queued
with the list digests). Mail goes only to a confirmed address that is not
bouncing, and never for what the reader's killfile hides: such
notifications are never written (server/people/notifications.py)."""

from __future__ import annotations

from sqlite3 import Row

from aiosqlite import Connection

from ..store import clock
from ..store.db import fetch_all, fetch_one, fetch_value
from ..store.errors import Conflict, Invalid
from .mailqueue import queue_mail

MODES = ("off", "immediately", "daily")
# Notifications one summary lists; the rest are counted and wait on the inbox page.
SUMMARY_MAX = 100

# A confirmed address that is not bouncing: the only kind mail goes to.
_MAILABLE = "m.confirmed_at IS NOT NULL AND m.bouncing_at IS NULL"


def mode_of(value: object) -> str:
    if value not in MODES:
        raise Invalid(f"mode must be one of {', '.join(MODES)}")
    assert isinstance(value, str)
    return value


async def get_mode(conn: Connection, user_id: int) -> str:
    mode = await fetch_value(conn, "SELECT mode FROM notification_mail WHERE user_id = ?", (user_id,))
    return str(mode or "off")


async def set_mode(conn: Connection, user_id: int, value: object) -> str:
    """Choose how notifications reach the reader by mail. Any mode but `off`
    needs a confirmed address (409). A daily summary starts from the newest
    notification now, so the first one holds only what comes next."""
    mode = mode_of(value)
    if mode == "off":
        await conn.execute("DELETE FROM notification_mail WHERE user_id = ?", (user_id,))
        return mode
    if not await fetch_value(
        conn, "SELECT 1 FROM mail_addresses WHERE user_id = ? AND confirmed_at IS NOT NULL", (user_id,)
    ):
        raise Conflict("confirm an address first (PUT /api/me/email): notifications are mailed there")
    newest = await fetch_value(conn, "SELECT max(id) FROM notifications WHERE user_id = ?", (user_id,))
    await conn.execute(
        "INSERT INTO notification_mail (user_id, mode, summary_id) VALUES (?, ?, ?)"
        " ON CONFLICT (user_id) DO UPDATE SET mode = excluded.mode,"
        " summary_id = CASE WHEN mode = excluded.mode THEN summary_id ELSE excluded.summary_id END",
        (user_id, mode, newest or 0),
    )
    return mode


async def queue_immediate(
    conn: Connection, user_ids: list[int], *, article_id: int | None, entry_id: int | None
) -> int:
    """Queue a mail for each notification just written about this article (or
    log entry) to these readers who chose `immediately`: one statement, in the
    notifications' own transaction. Returns how many were queued."""
    now = clock.now()
    # Each reader's notification is found by its unique index, never by scanning
    # all of a reader's notifications (a follower of a busy thread has thousands).
    if entry_id is None:
        which, key = "n.article_id = ? AND n.entry_id IS NULL", article_id
    else:
        which, key = "n.entry_id = ?", entry_id
    cur = await conn.execute(
        "INSERT INTO mail_queue (kind, recipient, user_id, article_id, message_id, data, next_at, created_at)"
        " SELECT 'notification', m.email, n.user_id, n.article_id,"
        " '<notice.' || n.id || '.' || lower(hex(randomblob(6))) || '@'"
        " || substr(m.email, instr(m.email, '@') + 1) || '>', json_object('notification', n.id), ?, ?"
        " FROM notification_mail nm JOIN notifications n ON n.user_id = nm.user_id"
        " JOIN mail_addresses m ON m.user_id = nm.user_id"
        f" WHERE nm.user_id IN (SELECT value FROM json_each(?)) AND nm.mode = 'immediately' AND {_MAILABLE}"
        f" AND {which}",
        (now, now, "[" + ",".join(map(str, user_ids)) + "]", key),
    )
    return cur.rowcount


async def queue_summaries(conn: Connection, domain: str) -> int:
    """Queue one summary per `daily` reader with unread notifications past
    their last summary. Returns how many."""
    rows = await fetch_all(
        conn,
        "SELECT nm.user_id, nm.summary_id, m.email,"
        " (SELECT max(id) FROM notifications WHERE user_id = nm.user_id) AS newest"
        " FROM notification_mail nm JOIN mail_addresses m ON m.user_id = nm.user_id"
        f" WHERE nm.mode = 'daily' AND {_MAILABLE} AND EXISTS (SELECT 1 FROM notifications n"
        " WHERE n.user_id = nm.user_id AND n.id > nm.summary_id AND n.read = 0)",
    )
    for r in rows:
        await queue_mail(
            conn,
            "summary",
            r["email"],
            user_id=r["user_id"],
            data={"after": r["summary_id"], "upto": r["newest"]},
            domain_for_id=domain,
        )
        await conn.execute(
            "UPDATE notification_mail SET summary_id = ? WHERE user_id = ?", (r["newest"], r["user_id"])
        )
    return len(rows)


# What the mail sender reads to write these mails.

_SELECT = (
    "SELECT n.*, u.display_name AS actor_name, t.subject AS thread_subject, g.name AS group_name,"
    " a.subject AS article_subject, a.message_id AS article_message_id, a.body AS article_body,"
    " a.status AS article_status"
    " FROM notifications n LEFT JOIN users u ON u.id = n.actor_id"
    " LEFT JOIN threads t ON t.id = n.thread_id LEFT JOIN groups g ON g.id = t.group_id"
    " LEFT JOIN articles a ON a.id = n.article_id"
)


async def notification(conn: Connection, notification_id: int) -> Row | None:
    """One notification as its mail tells it: actor, thread, group and article."""
    return await fetch_one(conn, _SELECT + " WHERE n.id = ?", (notification_id,))


async def summary(conn: Connection, user_id: int, after: int, upto: int) -> tuple[list[Row], int]:
    """The reader's notifications after..upto still unread, oldest first: at
    most SUMMARY_MAX of them, and how many there are in all."""
    where = " WHERE n.user_id = ? AND n.id > ? AND n.id <= ? AND n.read = 0"
    rows = await fetch_all(
        conn, _SELECT + where + " ORDER BY n.id LIMIT ?", (user_id, after, upto, SUMMARY_MAX)
    )
    total = await fetch_value(conn, "SELECT count(*) FROM notifications n" + where, (user_id, after, upto))
    return rows, int(total or 0)

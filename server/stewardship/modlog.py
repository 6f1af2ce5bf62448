"""The public moderation log: every split, merge, move, lock, archive, cancel,
role change, group creation and undo, with actor, time, reason and target.

Entries are written by the action that they describe, inside its transaction
(`write`). `data` holds what an undo needs; its public form leaves out
nothing secret (there is nothing secret in it) but is returned as stored."""

from __future__ import annotations

import json
from dataclasses import dataclass
from sqlite3 import Row
from typing import Any

from aiosqlite import Connection

from ..people import notifications
from ..store import clock, keyset, validate
from ..store.db import fetch_all, fetch_one, fetch_value, row_by_id
from ..store.errors import NotFound
from .permissions import User

# Structural actions, removals (undo restores what they removed), and a
# group's moderators appointed or removed (undo reverses it).
UNDOABLE = ("split", "merge", "cancel", "suspend", "ban", "moderator.add", "moderator.remove")

ENTRY_SELECT = (
    "SELECT m.*, u.username AS actor_username, u.display_name AS actor_display_name,"
    " g.name AS group_name, og.name AS other_group_name,"
    " t.subject AS thread_subject, ot.subject AS other_thread_subject"
    " FROM modlog m LEFT JOIN users u ON u.id = m.actor_id"
    " LEFT JOIN groups g ON g.id = m.group_id LEFT JOIN groups og ON og.id = m.other_group_id"
    " LEFT JOIN threads t ON t.id = m.thread_id LEFT JOIN threads ot ON ot.id = m.other_thread_id"
)


@dataclass(frozen=True)
class Entry:
    """One entry of the public log, as every feature writes it: what was done
    (`action`), by whom (`actor`; None is the site itself, as the archive sweep
    and the command line; another node's moderator is named in `data`), to what
    (the group, thread and article, the other thread or group a split, merge or
    move touched, and `target`, the name or Message-ID shown), why, what else
    the action records (`data`), and the entry it undoes."""

    action: str
    actor: User | None
    group_id: int | None = None
    thread_id: int | None = None
    article_id: int | None = None
    other_thread_id: int | None = None
    other_group_id: int | None = None
    target: str = ""
    reason: str = ""
    data: dict | None = None
    undoes: int | None = None

    @classmethod
    def on_article(cls, action: str, actor: User | None, article: Row | dict, **more: Any) -> Entry:
        """An entry about an article (its row), shown by its Message-ID."""
        return cls(
            action,
            actor,
            group_id=article["group_id"],
            thread_id=article["thread_id"],
            article_id=article["id"],
            target=article["message_id"],
            **more,
        )

    @classmethod
    def on_thread(cls, action: str, actor: User | None, thread: Row | dict, **more: Any) -> Entry:
        """An entry about a thread (its row), shown by its subject."""
        return cls(
            action,
            actor,
            group_id=thread["group_id"],
            thread_id=thread["id"],
            target=thread["subject"],
            **more,
        )

    @classmethod
    def on_group(cls, action: str, actor: User | None, group: Row | dict, **more: Any) -> Entry:
        """An entry about a group (its row), shown by its name."""
        return cls(action, actor, group_id=group["id"], target=group["name"], **more)


async def write(conn: Connection, entry: Entry) -> int:
    """Append `entry` in the caller's transaction and return its id; the
    starters of the threads it touched hear of it (notifications.MODERATION_ACTIONS)."""
    actor, data = entry.actor, entry.data
    if actor is not None and actor.node:
        data = {**(data or {}), "by": actor.display_name, "peer": actor.node}
    cur = await conn.execute(
        "INSERT INTO modlog (action, actor_id, group_id, thread_id, article_id, other_thread_id,"
        " other_group_id, target, reason, data, created_at, undoes)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            entry.action,
            actor.account_id if actor else None,
            entry.group_id,
            entry.thread_id,
            entry.article_id,
            entry.other_thread_id,
            entry.other_group_id,
            entry.target,
            entry.reason,
            json.dumps(data or {}, separators=(",", ":")),
            clock.now(),
            entry.undoes,
        ),
    )
    assert cur.lastrowid is not None  # set by the INSERT just run
    threads = (entry.thread_id, entry.other_thread_id)
    await notifications.on_moderation(conn, cur.lastrowid, entry.action, actor, threads)
    return cur.lastrowid


def entry_json(row: Row) -> dict:
    actor = None
    if row["actor_id"] is not None:
        actor = {"username": row["actor_username"], "display_name": row["actor_display_name"]}
    return {
        "id": row["id"],
        "action": row["action"],
        "actor": actor,
        "group": row["group_name"],
        "other_group": row["other_group_name"],
        "thread_id": row["thread_id"],
        "other_thread_id": row["other_thread_id"],
        # Subjects as the threads have them now, so a log reads as words, not numbers.
        "thread_subject": row["thread_subject"],
        "other_thread_subject": row["other_thread_subject"],
        "article_id": row["article_id"],
        "target": row["target"],
        "reason": row["reason"],
        "data": json.loads(row["data"]),
        "created_at": row["created_at"],
        "undoes": row["undoes"],
        "undone_by": row["undone_by"],
        "undoable": row["action"] in UNDOABLE and row["undone_by"] is None,
    }


async def entry_row(conn: Connection, entry_id: object) -> Row:
    return await row_by_id(conn, ENTRY_SELECT + " WHERE m.id = ?", entry_id, "log entry")


async def get_entry(conn: Connection, entry_id: object) -> dict:
    return entry_json(await entry_row(conn, entry_id))


async def list_entries(
    conn: Connection, *, group: object = None, limit: object = None, cursor: object = None
) -> dict:
    """Newest first: `{entries, next_cursor}`. Keyset-paginated on the entry id
    (the cursor is the last id of the previous page). With `group`, entries on
    either side of a split or move into or out of it are included."""
    limit = validate.limit(limit)
    before = keyset.parse_id_cursor(cursor)
    where, params = [], []
    if group not in (None, ""):
        group_id = await fetch_value(conn, "SELECT id FROM groups WHERE name = ?", (group,))
        if group_id is None:
            raise NotFound("no such group")
        # Two index ranges (modlog_by_group, modlog_by_other_group) merged by SQLite's OR plan.
        where.append("(m.group_id = ? OR m.other_group_id = ?)")
        params += [group_id, group_id]
    if before is not None:
        where.append("m.id < ?")
        params.append(before)
    sql = ENTRY_SELECT + (" WHERE " + " AND ".join(where) if where else "")
    rows, more = keyset.split_page(
        await fetch_all(conn, sql + " ORDER BY m.id DESC LIMIT ?", (*params, limit + 1)), limit
    )
    return {"entries": [entry_json(r) for r in rows], "next_cursor": str(rows[-1]["id"]) if more else None}


async def emptied_by(conn: Connection, thread_id: int) -> dict:
    """Where the articles of an emptied thread (merged_into set) went, for its
    page: `{thread_id, subject}` of the thread that holds them now, `undone`
    (True when the undo of the split that made this thread took them back,
    False for a merge) and `at`, the entry's time (None for a thread emptied
    without an entry, as an import)."""
    row = await fetch_one(
        conn,
        "SELECT t.merged_into_thread_id AS into_id, i.subject, m.action, m.created_at"
        " FROM threads t JOIN threads i ON i.id = t.merged_into_thread_id LEFT JOIN modlog m ON m.id = ("
        # The latest, as a merge that was undone may have been made again; each
        # side is one range of an index of the log (modlog_by_group, modlog_by_other_group).
        "  SELECT id FROM modlog WHERE (group_id = t.group_id AND thread_id = t.id AND action = 'merge')"
        "  OR (other_group_id = t.group_id AND other_thread_id = t.id AND action = 'undo'"
        "   AND target LIKE 'split #%') ORDER BY id DESC LIMIT 1)"
        " WHERE t.id = ?",
        (thread_id,),
    )
    if row is None:
        raise NotFound(f"thread {thread_id} holds its articles")
    return {
        "thread_id": row["into_id"],
        "subject": row["subject"],
        "undone": row["action"] == "undo",
        "at": row["created_at"],
    }

"""Groups: topics that belong to no one."""

from __future__ import annotations

from sqlite3 import Row

from aiosqlite import Connection

from ..stewardship import modlog
from ..stewardship.permissions import User
from ..store import clock, validate
from ..store.db import fetch_all, fetch_one
from ..store.errors import Conflict, Invalid, NotFound
from ..store.events import emit

STATUSES = ("y", "n", "m")


def group_json(row: Row) -> dict:
    return {
        "name": row["name"],
        "description": row["description"],
        "charter": row["charter"],
        "status": row["status"],
        "thread_count": row["thread_count"],
        "article_count": row["article_count"],
        "last_article_at": row["last_article_at"],
        "created_at": row["created_at"],
        "archive_after_days": row["archive_after_days"],
        "archive_after_articles": row["archive_after_articles"],
        "stranger_mail": row["stranger_mail"],
        "review_new": bool(row["review_new"]),
    }


async def list_groups(conn: Connection) -> list[dict]:
    return [group_json(r) for r in await fetch_all(conn, "SELECT * FROM groups ORDER BY name")]


async def get_group_row(conn: Connection, name: object) -> Row:
    if not isinstance(name, str):
        raise NotFound("no such group")
    row = await fetch_one(conn, "SELECT * FROM groups WHERE name = ?", (name,))
    if row is None:
        raise NotFound(f"no group named {name[:100]!r}")
    return row


async def announce_change(conn: Connection, name: str, entry_id: int) -> dict:
    """Group `name` as it is now, sent as group.updated with the log entry that
    changed it (a setting, a policy, its home). Returns its JSON."""
    changed = await get_group(conn, name)
    await emit(
        conn, "group.updated", group=name, thread_id=None, data={"group": changed, "entry_id": entry_id}
    )
    return changed


async def get_group(conn: Connection, name: object) -> dict:
    """The group's JSON with its own moderators (`moderators`, see moderators_of)."""
    row = await get_group_row(conn, name)
    return {**group_json(row), "moderators": await moderators_of(conn, row["id"])}


async def moderators_of(conn: Connection, group_id: int) -> list[dict]:
    """The group's own moderators (group_moderators; site moderators and admins
    moderate every group and are not listed), longest serving first:
    `[{username, display_name, since}]`."""
    rows = await fetch_all(
        conn,
        "SELECT u.username, u.display_name, gm.created_at FROM group_moderators gm"
        " JOIN users u ON u.id = gm.user_id WHERE gm.group_id = ? ORDER BY gm.created_at, u.username",
        (group_id,),
    )
    return [
        {"username": r["username"], "display_name": r["display_name"], "since": r["created_at"]} for r in rows
    ]


async def create_group(
    conn: Connection,
    actor: User | None,
    name: object,
    description: object = "",
    charter: object = "",
    status: str = "y",
    *,
    reason: str = "",
) -> dict:
    """Create a group inside the caller's transaction: the row, a public log
    entry and a `group.created` event. `actor` is None for the site operator."""
    name = validate.group_name(name)
    description = validate.description(description if description is not None else "")
    charter = validate.charter(charter if charter is not None else "")
    if status not in STATUSES:
        raise Invalid("status must be y (open), n (read-only) or m (moderated)")
    if await fetch_one(conn, "SELECT 1 FROM groups WHERE name = ?", (name,)):
        raise Conflict(f"a group named {name!r} already exists")
    now = clock.now()
    cur = await conn.execute(
        "INSERT INTO groups (name, description, charter, status, created_at) VALUES (?, ?, ?, ?, ?)",
        (name, description, charter, status, now),
    )
    await modlog.write(
        conn, modlog.Entry("group.create", actor, group_id=cur.lastrowid, target=name, reason=reason)
    )
    row = await fetch_one(conn, "SELECT * FROM groups WHERE id = ?", (cur.lastrowid,))
    assert row is not None  # inserted just above, in this transaction
    group = group_json(row)
    await emit(conn, "group.created", group=name, thread_id=None, data=group)
    return group

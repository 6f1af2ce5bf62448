"""A group's own moderators (table group_moderators): members who moderate
that group alone (permissions.moderates), beside the site's moderators and
admins, who moderate every group.

Contract:
- an admin appoints or removes one (`appoint`, `dismiss`); the community does
  through a proposal that is carried (proposals.py calls `change` with no
  actor: the site did it, for the proposal named in the entry);
- every change runs in the caller's transaction, is logged publicly
  ("moderator.add" or "moderator.remove", the member as target, the entry
  that appointed a moderator kept as their row's entry_id) and is announced
  as the group's change (group.updated, whose group lists its moderators);
- an admin undoes a change from the log (undo.py): the appointment is
  removed or the removal reversed, if nothing changed it since;
- appointing a moderator already there, or removing one who is not, is a
  Conflict; an unknown (or deleted) account is NotFound; nothing changes."""

from __future__ import annotations

from sqlite3 import Row

from aiosqlite import Connection

from ..articles.groups import announce_change, get_group_row
from ..people.accounts import DELETED_HASH
from ..store import clock, validate
from ..store.db import fetch_one, fetch_value
from ..store.errors import Conflict, NotFound
from . import modlog
from .permissions import User, require

ADD, REMOVE = "moderator.add", "moderator.remove"


async def member_row(conn: Connection, username: object) -> Row:
    """The live account named `username`; NotFound otherwise."""
    if not isinstance(username, str) or not username:
        raise NotFound("no such member")
    row = await fetch_one(
        conn, "SELECT * FROM users WHERE username = ? AND password_hash != ?", (username, DELETED_HASH)
    )
    if row is None:
        raise NotFound(f"no member named {username[:64]!r}")
    return row


async def is_moderator(conn: Connection, group_id: int, user_id: int) -> bool:
    """Whether the account is one of the group's own moderators."""
    return bool(
        await fetch_value(
            conn, "SELECT 1 FROM group_moderators WHERE group_id = ? AND user_id = ?", (group_id, user_id)
        )
    )


async def check(conn: Connection, group: Row, member: Row, add: bool) -> None:
    """Conflict unless the change would change something: appointing a
    moderator already there, or removing one who is not."""
    there = await is_moderator(conn, group["id"], member["id"])
    if add and there:
        raise Conflict(f"{member['username']} is already a moderator of {group['name']}")
    if not add and not there:
        raise Conflict(f"{member['username']} is not a moderator of {group['name']}")


async def change(
    conn: Connection,
    actor: User | None,
    group: Row,
    member: Row,
    add: bool,
    *,
    reason: str,
    data: dict | None = None,
    undoes: int | None = None,
) -> int:
    """Add `member` to the moderators of `group` (or remove them), checked as
    `check` does, logged and announced; returns the log entry's id. `actor`
    None is the site (a carried proposal, named in `data`); with `undoes`,
    the entry is the "undo" of that entry."""
    await check(conn, group, member, add)
    entry_id = await modlog.write(
        conn,
        modlog.Entry(
            "undo" if undoes else ADD if add else REMOVE,
            actor,
            group_id=group["id"],
            target=member["username"],
            reason=reason,
            data={"username": member["username"], **(data or {})},
            undoes=undoes,
        ),
    )
    if add:
        await conn.execute(
            "INSERT INTO group_moderators (group_id, user_id, entry_id, created_at) VALUES (?, ?, ?, ?)",
            (group["id"], member["id"], entry_id, clock.now()),
        )
    else:
        await conn.execute(
            "DELETE FROM group_moderators WHERE group_id = ? AND user_id = ?", (group["id"], member["id"])
        )
    await announce_change(conn, group["name"], entry_id)
    return entry_id


async def _by_admin(
    conn: Connection, actor: User | None, group_name: object, username: object, reason: object, add: bool
) -> dict:
    actor = require(actor, "admin")
    group = await get_group_row(conn, group_name)
    member = await member_row(conn, username)
    reason = validate.reason(reason, required=False)
    entry_id = await change(conn, actor, group, member, add, reason=reason)
    return await modlog.get_entry(conn, entry_id)


async def appoint(
    conn: Connection, actor: User | None, group_name: object, username: object, reason: object = None
) -> dict:
    """An admin makes the member `username` a moderator of the group; returns the log entry."""
    return await _by_admin(conn, actor, group_name, username, reason, True)


async def dismiss(
    conn: Connection, actor: User | None, group_name: object, username: object, reason: object = None
) -> dict:
    """An admin removes the member `username` from the group's moderators; returns the log entry."""
    return await _by_admin(conn, actor, group_name, username, reason, False)

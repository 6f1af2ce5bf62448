"""Bans from one group: a moderator of the group bars an author (an account,
a mail address, a whole mail domain, or a news peer's origin) from adding to
it for a number of days, for a public reason, and can lift the bar early.

Contract:
- `ban` and `unban` run inside the caller's transaction; only a moderator of
  the group may call them (`actor` None is the operator at the command line);
  each writes the public moderation log ("ban", "unban") with who, until when
  and why; a new ban replaces the one in force;
- `ban_of` is the one check every channel's posting makes (posting.submit,
  mail at SMTP time, a peer's article): a ban is in force until its `until`
  passes (the check reads the clock; no job clears it);
- moderators and admins of the group are not banned from it (demote first)."""

from __future__ import annotations

from sqlite3 import Row

from aiosqlite import Connection

from ..articles.authors import Author
from ..store import clock
from ..store.db import fetch_one

# Ten years, as a suspension.
MAX_DAYS = 3650


async def ban_of(conn: Connection, group_id: int, author: Author) -> Row | None:
    """The ban from group `group_id` in force against `author` now, if any:
    a row with `author`, `until` and `reason`."""
    keys = author.keys
    if not keys:
        return None
    marks = ", ".join("?" * len(keys))
    return await fetch_one(
        conn,
        f"SELECT author, until, reason FROM bans WHERE group_id = ? AND author IN ({marks}) AND until > ?"
        " ORDER BY until DESC LIMIT 1",
        (group_id, *keys, clock.now()),
    )

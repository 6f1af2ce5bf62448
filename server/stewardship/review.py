"""Where new accounts' posts wait for a moderator (server/stewardship/trust.py
decides who is new): a group whose moderators ask for it (groups.review_new),
or every group while an admin has the site-wide switch on (a site under
attack; kept in `settings` as trust.REVIEW_ALL). Both are logged in the
public moderation log ("review_new", data {from, to}); setting what is
already set changes nothing (entry None)."""

from __future__ import annotations

from aiosqlite import Connection

from ..articles.groups import announce_change, get_group_row, group_json
from ..store import validate
from ..store.db import fetch_value
from ..store.errors import Invalid
from . import modlog, trust
from .permissions import User, require, require_moderator


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid("review_new must be true or false")
    return value


async def set_group(
    conn: Connection, user: User | None, group_name: object, value: object, reason: object = None
) -> dict:
    """Whether new accounts' posts in this group wait for its moderators
    (the group's moderators, its own included). Returns {group, entry}."""
    group = await get_group_row(conn, group_name)
    user = require_moderator(user, group["name"])
    on, reason = _flag(value), validate.reason(reason, required=False)
    if bool(group["review_new"]) == on:
        return {"group": group_json(group), "entry": None}
    await conn.execute("UPDATE groups SET review_new = ? WHERE id = ?", (int(on), group["id"]))
    entry_id = await modlog.write(
        conn,
        modlog.Entry.on_group(
            "review_new", user, group, reason=reason, data={"from": bool(group["review_new"]), "to": on}
        ),
    )
    changed = await announce_change(conn, group["name"], entry_id)
    return {"group": changed, "entry": await modlog.get_entry(conn, entry_id)}


async def site_wide(conn: Connection) -> bool:
    """Whether the site-wide switch is on: new accounts' posts wait in every group."""
    return await fetch_value(conn, "SELECT value FROM settings WHERE key = ?", (trust.REVIEW_ALL,)) == "1"


async def set_site_wide(conn: Connection, user: User | None, value: object, reason: object = None) -> dict:
    """Turn the site-wide switch on or off (admin). Returns {review_new, entry}."""
    user = require(user, "admin")
    on, reason = _flag(value), validate.reason(reason, required=False)
    was = await site_wide(conn)
    if was == on:
        return {"review_new": on, "entry": None}
    await conn.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (trust.REVIEW_ALL, "1" if on else "0"),
    )
    entry_id = await modlog.write(
        conn, modlog.Entry("review_new", user, target="site", reason=reason, data={"from": was, "to": on})
    )
    return {"review_new": on, "entry": await modlog.get_entry(conn, entry_id)}

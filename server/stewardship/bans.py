"""Bans from one group: a moderator of the group bars an author (an account,
a mail address, a whole mail domain, or a news peer's origin) from adding to
it for a number of days, for a public reason, and can lift the bar early.

Contract:
- `ban` and `unban` run inside the caller's transaction; only a moderator of
  the group may call them (`actor` None is the operator at the command line);
  each writes the public moderation log ("ban", "unban") with who, until when
  and why; a new ban replaces the one in force;
- an author is named as the API takes it: a username or 'user:NAME', or
  'mail:ADDRESS', 'domain:NAME', 'peer:NODE' (Invalid when malformed,
  NotFound for an unknown account); stored as a key (authors.Author.keys);
- `ban` with `remove_days` also removes the author's articles in the group
  from that many days back (cleanup.py), undoable with the ban as one entry;
- `ban_of` is the one check every channel's posting makes (posting.submit,
  mail at SMTP time, a peer's article): a ban is in force until its `until`
  passes (the check reads the clock; no job clears it); it lives beside the
  Author record (articles.authors) so that posting needs nothing from here;
- moderators and admins of the group are not banned from it (demote first)."""

from __future__ import annotations

import re
from sqlite3 import Row

from aiosqlite import Connection

from ..articles.authors import ban_of
from ..articles.groups import get_group_row
from ..news import peers
from ..people import accounts
from ..store import clock, validate
from ..store.db import fetch_all, fetch_one, fetch_value
from ..store.errors import Conflict, Forbidden, Invalid, NotFound
from . import cleanup, modlog
from .permissions import USER_SELECT, User, moderates, require

__all__ = ["ban", "ban_of", "bans", "unban"]

# Ten years, as a suspension.
MAX_DAYS = 3650

# A mail domain: dot-separated labels of letters, digits and inner dashes.
_DOMAIN = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+"
_FORMS = {
    "mail": re.compile(r"[a-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@" + _DOMAIN + r"\Z"),
    "domain": re.compile(_DOMAIN + r"\Z"),
    "peer": re.compile(peers.NAME.pattern, re.IGNORECASE),
    # A fediverse actor by its id (Author.keys 'actor:URL'; its path keeps its case).
    "actor": re.compile(r"https?://[!-~]+\Z"),
}


async def _group(conn: Connection, actor: User | None, group_name: object) -> Row:
    """The group, once `actor` is known to moderate it (None: the operator)."""
    if actor is not None:
        require(actor, "track")
    group = await get_group_row(conn, group_name)
    if actor is not None and not moderates(actor, group["name"]):
        raise Forbidden(f"only the moderators of {group['name']} ban from it")
    return group


async def author_key(conn: Connection, author: object) -> tuple[str, str, Row | None]:
    """(key, shown name, account row or None) of an author named as the API takes it."""
    if not isinstance(author, str) or not author.strip():
        raise Invalid(
            "author must be a username, user:NAME, mail:ADDRESS, domain:NAME, peer:NODE or actor:URL"
        )
    kind, colon, name = author.strip().partition(":")
    if not colon:
        kind, name = "user", kind
    if kind == "user":
        row = await fetch_one(
            conn,
            USER_SELECT + " WHERE username = ? AND password_hash != ?",
            (name, accounts.DELETED_HASH),
        )
        if row is None:
            raise NotFound(f"no user {name[:64]!r}")
        return f"user:{row['id']}", f"user:{row['username']}", row
    name = name if kind == "actor" else name.lower()
    if kind not in _FORMS or len(name) > 254 or not _FORMS[kind].match(name):
        raise Invalid(
            f"author {author[:80]!r} is not a username, user:NAME, mail:ADDRESS, domain:NAME, peer:NODE"
            " or actor:URL"
        )
    return f"{kind}:{name}", f"{kind}:{name}", None


async def _shown(conn: Connection, key: str) -> str:
    """An author key as the API names it ('user:3' is 'user:ada')."""
    kind, _, name = key.partition(":")
    if kind != "user":
        return key
    return f"user:{await fetch_value(conn, 'SELECT username FROM users WHERE id = ?', (int(name),))}"


async def ban(
    conn: Connection,
    actor: User | None,
    group_name: object,
    author: object,
    days: object,
    reason: object,
    *,
    remove_days: object = None,
) -> dict:
    """Ban `author` from the group for `days` from now, for `reason`, and with
    `remove_days` remove their articles there from that many days back (see
    the module's contract): `{ban: {group, author, until, reason}, removed}`
    and the log entry's id as `entry_id`."""
    group = await _group(conn, actor, group_name)
    key, shown, account = await author_key(conn, author)
    days = validate.integer(days, "days", minimum=1, maximum=MAX_DAYS)
    reason = validate.reason(reason, required=True)
    back = cleanup.period(remove_days)
    if account is not None and moderates(User.from_row(account), group["name"]):
        raise Forbidden(
            f"{account['username']} moderates {group['name']} and cannot be banned from it:"
            " change their role first"
        )
    rows = await cleanup.recent(conn, key, back, group["id"])
    until = clock.later(days=days)
    data: dict = {"author": shown, "days": days, "until": until}
    if back is not None:
        data |= {"remove_days": back, "removed": len(rows)}
    entry_id = await modlog.write(
        conn, modlog.Entry("ban", actor, group_id=group["id"], target=shown, reason=reason, data=data)
    )
    await conn.execute(
        "INSERT OR REPLACE INTO bans (group_id, author, until, reason, entry_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (group["id"], key, until, reason, entry_id, clock.now()),
    )
    await cleanup.take_down(conn, actor, rows, entry_id)
    shown_ban = {"group": group["name"], "author": shown, "until": until, "reason": reason}
    return {"ban": shown_ban, "removed": len(rows), "entry_id": entry_id}


async def unban(
    conn: Connection, actor: User | None, group_name: object, author: object, reason: object = None
) -> dict:
    """Lift the ban in force on `author` in the group now (Conflict when none); logged."""
    group = await _group(conn, actor, group_name)
    key, shown, _ = await author_key(conn, author)
    reason = validate.reason(reason, required=False)
    until = await fetch_value(
        conn,
        "SELECT until FROM bans WHERE group_id = ? AND author = ? AND until > ?",
        (group["id"], key, clock.now()),
    )
    if until is None:
        raise Conflict(f"{shown} is not banned from {group['name']}")
    await conn.execute("DELETE FROM bans WHERE group_id = ? AND author = ?", (group["id"], key))
    entry_id = await modlog.write(
        conn,
        modlog.Entry(
            "unban",
            actor,
            group_id=group["id"],
            target=shown,
            reason=reason,
            data={"author": shown, "was_until": until},
        ),
    )
    shown_ban = {"group": group["name"], "author": shown, "until": None, "reason": None}
    return {"ban": shown_ban, "entry_id": entry_id}


async def bans(conn: Connection, actor: User | None, group_name: object) -> dict:
    """The bans in force in the group, for its moderators, the latest first:
    `{group, bans: [{author, until, reason, created_at, entry_id}]}`."""
    group = await _group(conn, actor, group_name)
    rows = await fetch_all(
        conn,
        "SELECT * FROM bans WHERE group_id = ? AND until > ? ORDER BY created_at DESC",
        (group["id"], clock.now()),
    )
    return {
        "group": group["name"],
        "bans": [
            {
                "author": await _shown(conn, r["author"]),
                "until": r["until"],
                "reason": r["reason"],
                "created_at": r["created_at"],
                "entry_id": r["entry_id"],
            }
            for r in rows
        ],
    }


async def lift(conn: Connection, entry: Row) -> bool:
    """Lift the ban the log entry `entry` set, if it is still the one in force
    (an undo); whether it was."""
    cur = await conn.execute(
        "DELETE FROM bans WHERE group_id = ? AND entry_id = ? AND until > ?",
        (entry["group_id"], entry["id"], clock.now()),
    )
    return cur.rowcount > 0

"""A group's remote followers: a `Follow` recorded and answered with
`Accept` at once, or held 'pending' when the group asks approval
(groups.ap_follow_approval) until one of its moderators accepts (`Accept`)
or refuses (`Reject`) it; `Undo{Follow}` ends it. Each answer is an
activity queued (outbox.queue) with one delivery to the follower's own
inbox, in the caller's transaction. The inbox (inbox.py) calls `follow` and
`undo`; the web adapter the moderators' `decide` and `set_approval`."""

from __future__ import annotations

from sqlite3 import Row

from aiosqlite import Connection

from ..articles import groups
from ..stewardship import modlog
from ..stewardship.permissions import User, require_moderator
from ..store import clock, validate
from ..store.db import fetch_all, fetch_one
from ..store.errors import Conflict, Invalid, NotFound
from . import outbox
from .client import RemoteActor
from .objects import Record, actor_url


async def _group(conn: Connection, group: Record | str) -> Record:
    return await groups.get_group_row(conn, group) if isinstance(group, str) else group


async def _remember(conn: Connection, actor: RemoteActor) -> None:
    """The follower's ap_actors row (the client usually wrote it already)."""
    await conn.execute(
        "INSERT INTO ap_actors (uri, host, inbox, shared_inbox, key_id, public_pem, handle, name, url,"
        " fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(uri) DO NOTHING",
        (
            actor.uri,
            actor.host,
            actor.inbox,
            actor.shared_inbox,
            actor.key_id,
            actor.public_pem,
            actor.handle,
            actor.name,
            actor.url,
            clock.now(),
        ),
    )


async def _answer(conn: Connection, base: str, group: str, verb: str, follower: Row) -> None:
    """Queue `verb` (Accept or Reject) of the follower's Follow, to its own inbox only."""
    me = actor_url(base, f"group:{group}")
    follow = {"id": follower["follow_id"], "type": "Follow", "actor": follower["actor"], "object": me}
    inbox = outbox.inbox_of(follower, shared=False)
    if inbox is None or outbox.blocked(follower["host"], await outbox.blocked_hosts(conn)):
        return
    activity = {"type": verb, "actor": me, "object": follow, "to": [follower["actor"]]}
    await outbox.queue(conn, base, f"group:{group}", activity, [inbox])


def _base_of(follow_activity: dict, group: str) -> str:
    """The site's URL, from the group's id the Follow names (Invalid if it does not)."""
    named = follow_activity.get("object")
    named = named.get("id") if isinstance(named, dict) else named
    tail = actor_url("", f"group:{group}")
    if not isinstance(named, str) or not named.endswith(tail):
        raise Invalid("the Follow does not name this group")
    return named[: -len(tail)]


FOLLOWER_SELECT = (
    "SELECT f.actor, f.follow_id, f.state, f.created_at, a.host, a.inbox, a.shared_inbox, a.handle, a.name,"
    " a.url FROM ap_followers f JOIN ap_actors a ON a.uri = f.actor"
)


async def _follower(conn: Connection, group_id: int, actor: str) -> Row | None:
    return await fetch_one(conn, FOLLOWER_SELECT + " WHERE f.group_id = ? AND f.actor = ?", (group_id, actor))


async def follow(
    conn: Connection,
    group: Record | str,
    actor: RemoteActor,
    follow_activity: dict,
    *,
    base: str | None = None,
) -> str:
    """Record `actor`'s Follow (`follow_activity`, whose `id` Accept names) of
    `group` (a groups row or a name; NotFound for none) and queue the
    answer; returns the follower's state: 'accepted' (answered with Accept
    now) or 'pending' (the group asks approval; a moderator decides). A
    repeated Follow of an accepted follower is accepted again (its answer
    may have been lost); a new Follow id replaces the old one. `base` is
    the site's public URL; by default the part of the Follow's `object`
    (the group's id) before /g/NAME."""
    row = await _group(conn, group)
    base = base or _base_of(follow_activity, row["name"])
    await _remember(conn, actor)
    follow_id = str(follow_activity.get("id") or "")
    state = "pending" if row["ap_follow_approval"] else "accepted"
    await conn.execute(
        "INSERT INTO ap_followers (group_id, actor, follow_id, state, created_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT(group_id, actor) DO UPDATE SET follow_id = excluded.follow_id",
        (row["id"], actor.uri, follow_id, state, clock.now()),
    )
    follower = await _follower(conn, row["id"], actor.uri)
    assert follower is not None  # just written
    if follower["state"] == "accepted":
        await _answer(conn, base, row["name"], "Accept", follower)
    return str(follower["state"])


async def undo(
    conn: Connection,
    group: Record | str,
    actor: RemoteActor | str,
    follow_activity: dict | None = None,
) -> bool:
    """End `actor`'s following of `group` (Undo{Follow}); when the undone
    Follow's id is given it must be the one recorded. Returns whether a
    follower was removed."""
    row = await _group(conn, group)
    uri = actor if isinstance(actor, str) else actor.uri
    sql, args = "DELETE FROM ap_followers WHERE group_id = ? AND actor = ?", [row["id"], uri]
    follow_id = (follow_activity or {}).get("id")
    if isinstance(follow_id, str) and follow_id:
        sql += " AND follow_id = ?"
        args.append(follow_id)
    cur = await conn.execute(sql, args)
    return bool(cur.rowcount)


async def list_followers(conn: Connection, group_id: int, state: str | None = None) -> list[dict]:
    """A group's followers, pending first then oldest first:
    `[{actor, handle, name, url, state, since}]`."""
    sql = FOLLOWER_SELECT + " WHERE f.group_id = ?"
    args: list[object] = [group_id]
    if state is not None:
        sql += " AND f.state = ?"
        args.append(state)
    rows = await fetch_all(conn, sql + " ORDER BY f.state = 'accepted', f.created_at, f.actor", args)
    return [
        {
            "actor": r["actor"],
            "handle": r["handle"],
            "name": r["name"],
            "url": r["url"],
            "state": r["state"],
            "since": r["created_at"],
        }
        for r in rows
    ]


async def decide(
    conn: Connection, base: str, group: Record | str, actor: str, accept: bool, moderator: User
) -> int:
    """A moderator's decision on a pending Follow of `group` by `actor`:
    accepted (answered with Accept) or refused (Reject, and forgotten).
    Logged in the public moderation log ('follower.accept',
    'follower.reject'); returns the entry's id. NotFound when `actor` has
    no Follow of the group; Conflict when it was already accepted."""
    row = await _group(conn, group)
    follower = await _follower(conn, row["id"], actor)
    if follower is None:
        raise NotFound("no such follower of this group")
    if follower["state"] != "pending":
        raise Conflict("this follower was already accepted")
    if accept:
        await conn.execute(
            "UPDATE ap_followers SET state = 'accepted' WHERE group_id = ? AND actor = ?", (row["id"], actor)
        )
    else:
        await conn.execute("DELETE FROM ap_followers WHERE group_id = ? AND actor = ?", (row["id"], actor))
    await _answer(conn, base, row["name"], "Accept" if accept else "Reject", follower)
    return await modlog.write(
        conn,
        modlog.Entry(
            "follower.accept" if accept else "follower.reject",
            moderator,
            group_id=row["id"],
            target=follower["handle"],
            data={"actor": actor},
        ),
    )


async def set_approval(
    conn: Connection, base: str, user: User | None, group: object, value: object, reason: object = None
) -> dict:
    """Whether a Follow of `group` (a name) waits for one of its moderators
    (groups.ap_follow_approval; the Group actor's manuallyApprovesFollowers).
    The group's moderators only; logged in the public moderation log
    ('follow_approval', data {from, to}, the optional `reason`). Turning it
    off accepts the follows waiting (each answered with Accept); a
    group.updated event. Setting what is set changes nothing (entry None).
    Returns {follow_approval, entry: the log entry or None}. Invalid unless
    `value` is a boolean."""
    row = await groups.get_group_row(conn, group)
    moderator = require_moderator(user, row["name"])
    if not isinstance(value, bool):
        raise Invalid("follow_approval must be true or false")
    reason = validate.reason(reason, required=False)
    was = bool(row["ap_follow_approval"])
    if was == value:
        return {"follow_approval": value, "entry": None}
    await conn.execute("UPDATE groups SET ap_follow_approval = ? WHERE id = ?", (int(value), row["id"]))
    if not value:
        waiting = await fetch_all(
            conn, FOLLOWER_SELECT + " WHERE f.group_id = ? AND f.state = 'pending'", (row["id"],)
        )
        await conn.execute(
            "UPDATE ap_followers SET state = 'accepted' WHERE group_id = ? AND state = 'pending'",
            (row["id"],),
        )
        for follower in waiting:
            await _answer(conn, base, row["name"], "Accept", follower)
    entry_id = await modlog.write(
        conn,
        modlog.Entry.on_group(
            "follow_approval", moderator, row, reason=reason, data={"from": was, "to": value}
        ),
    )
    await groups.announce_change(conn, row["name"], entry_id)
    return {"follow_approval": value, "entry": await modlog.get_entry(conn, entry_id)}

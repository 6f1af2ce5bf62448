"""What the events outbox sets off on the fediverse: each event after the
cursor (settings 'federation.events_cursor') becomes the activities a
group's followers are sent, each an `ap_activities` row (its JSON, with a
stable id, and the local actor whose key signs it) with one `ap_deliveries`
row per inbox, written in ONE transaction with the cursor's step. So the
article's own write carries nothing of this, and a crash between the two
loses nothing: the events are read again.

What maps to what (FEP-1b12; Lemmy's and Mastodon's readings):

- thread.created, article.created: `Create` of the Page (a thread's root) or
  Note (a reply) by its author (the group for an author with no actor
  here), wrapped in `Announce` by the group; a root also gets the plain
  `Announce{Page}` Mastodon reads.
- article.updated: `Update` (wrapped in `Announce`).
- article.cancelled (a withdrawal, a moderator's removal): `Delete` of a
  Tombstone with the reason as `summary` (wrapped in `Announce`); by the
  group for a moderator's removal.
- An article that came from the fediverse is never spoken for: its
  author's own Create, Update and Delete are announced exactly as received
  (ap_objects.activity, the last one received, when it is the event's verb:
  an Update that arrived before the Create's event was read is announced
  on its own event only). A moderator's removal of it is the group's
  Delete, as for a local article.
- thread.locked, thread.unlocked: Lemmy's `Lock` and `Undo{Lock}` by the group.
- everything else (splits, merges, moves, hiding...): nothing; they stay local."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable

from aiosqlite import Connection

from ..stewardship import modlog
from ..stewardship.permissions import User
from ..store import clock
from ..store.db import Database, fetch_all, fetch_one, fetch_value
from ..store.errors import Conflict, Invalid, NotFound
from ..store.events import Event
from . import objects
from .objects import PUBLIC, Record, actor_url, followers_url

CURSOR = "federation.events_cursor"
# A host name an admin may block (IDN hosts in their punycode form).
HOST = re.compile(r"(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
# The verb of each event an article's activity follows.
VERBS = {
    "thread.created": "Create",
    "article.created": "Create",
    "article.updated": "Update",
    "article.cancelled": "Delete",
}
# Events read per transaction: each may fan out to every follower's inbox.
BATCH = 50


async def cursor(conn: Connection) -> int | None:
    """The id of the last event turned into activities; None before the first."""
    value = await fetch_value(conn, "SELECT value FROM settings WHERE key = ?", (CURSOR,))
    return None if value is None else int(value)


async def _set_cursor(conn: Connection, event_id: int) -> None:
    await conn.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?)"
        " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (CURSOR, str(event_id)),
    )


def blocked(host: str, blocks: Iterable[str]) -> bool:
    """Whether `host` is an instance an admin blocked (`blocks`), or under one."""
    host = host.lower()
    return any(host == b or host.endswith("." + b) for b in blocks)


async def blocked_hosts(conn: Connection) -> list[str]:
    return [r["host"].lower() for r in await fetch_all(conn, "SELECT host FROM ap_blocks")]


def inbox_of(actor: Record, *, shared: bool = True) -> str | None:
    """Where `actor` (an ap_actors row) takes deliveries: its shared inbox
    (when `shared`), else its own, whichever is on the actor's own host;
    None when neither is."""
    for inbox in (actor["shared_inbox"] if shared else None, actor["inbox"]):
        if inbox and objects.host_of(inbox) == actor["host"].lower():
            return str(inbox)
    return None


async def follower_inboxes(conn: Connection, group_id: int) -> list[str]:
    """One inbox per distinct inbox of the group's accepted followers (shared
    inboxes preferred), none on a blocked instance, each on its actor's host."""
    blocks = await blocked_hosts(conn)
    rows = await fetch_all(
        conn,
        "SELECT a.host, a.inbox, a.shared_inbox FROM ap_followers f JOIN ap_actors a ON a.uri = f.actor"
        " WHERE f.group_id = ? AND f.state = 'accepted'",
        (group_id,),
    )
    found: dict[str, None] = {}
    for row in rows:
        inbox = inbox_of(row)
        if inbox is not None and not blocked(row["host"], blocks):
            found[inbox] = None
    return list(found)


async def queue(
    conn: Connection, base: str, signer: str, activity: dict, inboxes: Iterable[str]
) -> int | None:
    """Store `activity` (signed by local actor `signer` when sent) and one
    delivery per inbox, due now; returns its ap_activities id. An activity
    without an `id` is given `{signer's id}/activities/{row id}`. One whose
    id is already stored is not queued again (None)."""
    now = clock.now()
    given = activity.get("id")
    cur = await conn.execute(
        "INSERT OR IGNORE INTO ap_activities (activity_id, signer, body, created_at) VALUES (?, ?, '', ?)",
        (given or f"urn:moot:pending:{secrets.token_hex(16)}", signer, now),
    )
    if not cur.rowcount:
        return None
    row_id = cur.lastrowid
    assert row_id is not None
    if not given:
        activity = {"id": f"{actor_url(base, signer)}/activities/{row_id}", **activity}
    body = json.dumps({"@context": objects.CONTEXT, **activity}, ensure_ascii=False, separators=(",", ":"))
    await conn.execute(
        "UPDATE ap_activities SET activity_id = ?, body = ? WHERE id = ?", (activity["id"], body, row_id)
    )
    await conn.executemany(
        "INSERT OR IGNORE INTO ap_deliveries (activity, inbox, next_at) VALUES (?, ?, ?)",
        [(row_id, inbox, now) for inbox in inboxes],
    )
    return row_id


def _addressed(base: str, group: str) -> dict:
    return {
        "to": [PUBLIC],
        "cc": [followers_url(base, group)],
        "audience": actor_url(base, f"group:{group}"),
    }


def announce(base: str, group: str, thing: dict | str) -> dict:
    """The group's Announce of an activity or object (id given when queued)."""
    return {
        "type": "Announce",
        "actor": actor_url(base, f"group:{group}"),
        "object": thing,
        **_addressed(base, group),
    }


async def _removal(conn: Connection, article_id: int) -> str | None:
    """The reason of the moderators' removal of a cancelled article (the log
    entry whose text is kept for an undo: a removal, a ban's or suspension's
    cleanup), '' for none given; None when it was withdrawn by its author."""
    row = await fetch_one(
        conn,
        "SELECT m.reason FROM removed_texts r JOIN modlog m ON m.id = r.entry_id WHERE r.article_id = ?",
        (article_id,),
    )
    return None if row is None else row["reason"] or ""


async def activities(conn: Connection, base: str, event: Event) -> list[tuple[str, dict]]:
    """The activities `event` sets off, as (signer, activity) pairs in the
    order they are sent; [] for an event that stays local."""
    group = event.group
    if group is None:
        return []
    signer = f"group:{group}"
    if event.type in VERBS:
        article_id = event.data["article"]["id"] if event.type == "thread.created" else event.data["id"]
        row = await fetch_one(conn, objects.ARTICLE_SELECT + " WHERE a.id = ?", (article_id,))
        if row is None or row["status"] not in ("ok", "cancelled") or row["group_name"] != group:
            return []
        verb = VERBS[event.type]
        if row["status"] != ("cancelled" if verb == "Delete" else "ok"):
            return []
        if row["ap_actor"]:  # from the fediverse: its author's activities announced as received
            received = json.loads(row["ap_activity"])
            if objects.type_of(received) == verb:
                return [(signer, announce(base, group, received))]
            if verb != "Delete":  # not received (yet): never spoken for
                return []
        author = objects.author_id(base, row) or actor_url(base, signer)
        me = objects.object_id(base, row)
        if verb == "Delete":
            reason = await _removal(conn, article_id)
            deleted = {
                "id": f"{me}#delete",
                "type": "Delete",
                "actor": actor_url(base, signer) if reason is not None or row["ap_actor"] else author,
                "object": objects.article_object(base, row),
                **_addressed(base, group),
            }
            if reason:
                deleted["summary"] = reason
            return [(signer, announce(base, group, deleted))]
        thing = objects.article_object(base, row)
        suffix = f"#update-{row['edited_at'] or clock.now()}" if verb == "Update" else "#create"
        made = {"id": me + suffix, "type": verb, "actor": author, "object": thing, **_addressed(base, group)}
        out = [(signer, announce(base, group, made))]
        if verb == "Create" and thing["type"] == objects.PAGE:
            out.append((signer, announce(base, group, thing)))
        return out
    if event.type in ("thread.locked", "thread.unlocked"):
        root = await objects.thread_root_row(conn, event.data["thread"]["id"])
        if root is None or root["ap_actor"]:
            return []
        lock = {
            "type": "Lock",
            "actor": actor_url(base, signer),
            "object": objects.object_id(base, root),
            **_addressed(base, group),
        }
        if event.type == "thread.unlocked":
            lock = {
                "type": "Undo",
                "actor": actor_url(base, signer),
                "object": lock,
                **_addressed(base, group),
            }
        return [(signer, lock)]
    return []


async def expand(db: Database, base: str, batch: int = BATCH) -> int:
    """Turn the events after the cursor (at most `batch`) into activities and
    deliveries, advancing the cursor in the same transaction; returns how
    many events were read (0: none left). The first run starts from the
    newest event: what happened before federation was on is not sent. With
    nothing new it only reads: no empty commit wakes the commit
    listeners (the delivery task among them) again."""
    async with db.read() as conn:
        after = await cursor(conn)
        if (
            after is not None
            and await fetch_value(conn, "SELECT 1 FROM events WHERE id > ? LIMIT 1", (after,)) is None
        ):
            return 0
    async with db.transaction() as conn:
        after = await cursor(conn)
        if after is None:
            newest = await fetch_value(conn, "SELECT coalesce(max(id), 0) FROM events")
            await _set_cursor(conn, newest)
            return 0
        rows = await fetch_all(
            conn,
            "SELECT id, type, group_name, thread_id, topics, data, created_at FROM events"
            " WHERE id > ? ORDER BY id LIMIT ?",
            (after, batch),
        )
        inboxes: dict[str, list[str]] = {}
        for row in rows:
            event = Event.from_row(row)
            made = await activities(conn, base, event)
            if not made:
                continue
            group = event.group
            assert group is not None  # activities() makes none without one
            if group not in inboxes:
                group_id = await fetch_value(conn, "SELECT id FROM groups WHERE name = ?", (group,))
                inboxes[group] = await follower_inboxes(conn, group_id) if group_id is not None else []
            if inboxes[group]:
                for signer, activity in made:
                    await queue(conn, base, signer, activity, inboxes[group])
        if rows:
            await _set_cursor(conn, rows[-1]["id"])
        return len(rows)


async def block(conn: Connection, host: object, reason: object, admin: User) -> int:
    """Block the instance `host` (a host name, lower-cased): nothing is taken
    in from it or sent to it (its pending deliveries are dropped). Logged
    ('instance.block'); returns the entry's id. Invalid for a host that is
    no host name; Conflict when it is already blocked."""
    if not isinstance(host, str) or not HOST.fullmatch(host.strip().lower()):
        raise Invalid("name the instance by its host name, as in mastodon.example")
    if not isinstance(reason, str) or len(reason) > 500:
        raise Invalid("the reason must be text of at most 500 characters")
    host = host.strip().lower()
    cur = await conn.execute(
        "INSERT OR IGNORE INTO ap_blocks (host, reason, created_by, created_at) VALUES (?, ?, ?, ?)",
        (host, reason.strip(), admin.account_id, clock.now()),
    )
    if not cur.rowcount:
        raise Conflict(f"{host} is already blocked")
    pending = await fetch_all(conn, "SELECT activity, inbox FROM ap_deliveries")
    await conn.executemany(
        "DELETE FROM ap_deliveries WHERE activity = ? AND inbox = ?",
        [(r["activity"], r["inbox"]) for r in pending if blocked(objects.host_of(r["inbox"]), [host])],
    )
    return await modlog.write(conn, modlog.Entry("instance.block", admin, target=host, reason=reason.strip()))


async def unblock(conn: Connection, host: object, admin: User) -> int:
    """Lift the block of `host` (NotFound when there is none); logged ('instance.unblock')."""
    host = host.strip().lower() if isinstance(host, str) else ""
    cur = await conn.execute("DELETE FROM ap_blocks WHERE host = ?", (host,))
    if not cur.rowcount:
        raise NotFound("that instance is not blocked")
    return await modlog.write(conn, modlog.Entry("instance.unblock", admin, target=host))


async def list_blocks(conn: Connection) -> list[dict]:
    rows = await fetch_all(conn, "SELECT host, reason, created_at FROM ap_blocks ORDER BY host")
    return [{"host": r["host"], "reason": r["reason"], "since": r["created_at"]} for r in rows]

"""News peers (docs/PEERING.md): who this node exchanges articles with, what
a peer offers (Incoming), and the outgoing queue: the peers' outbox, written in
the transaction that stores or cancels an article. Taking in what peers send is
news.intake, which builds on this module and on posting.

A peer's name is its Path name (RFC 5536 §3.1.5, its pathhost), so an
article that has passed through a peer is never offered to it again. This
node's own Path name is its configured domain."""

from __future__ import annotations

import hmac
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiosqlite import Connection

from ..store import clock
from ..store.db import fetch_all, fetch_one, fetch_value
from ..store.errors import Conflict, Invalid, NotFound
from . import wildmat as wildmats

DIRECTIONS = ("both", "incoming", "outgoing")
# A peer name is a Path name: RFC 5536 §3.1.5 path-identity (a host name).
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+_-]{0,79}\Z")
# Retry after a failure: doubling from RETRY_FIRST up to RETRY_MAX seconds.
RETRY_FIRST = 1.0
RETRY_MAX = 300.0
# A shared secret is sent with AUTHINFO PASS: one NNTP argument, at least this long.
SECRET_MIN = 12
# Seconds after its Date during which an article whose parent is not here yet (or a
# cancel whose article is not here yet) is answered "try later" rather than taken:
# the sender retries, the parent arrives meanwhile, and the tree is the same
# whatever order the articles travelled in (docs/PEERING.md). Intake applies it;
# it lives here because a group's structural actions (stewardship.actions) wait as long.
ORPHAN_WAIT = 600


def path_origin(path: str) -> str:
    """The node that injected an article: the last Path element before
    `not-for-mail` (RFC 5537 §3.2.1 tail entry), else the last element."""
    parts = [p for p in re.split(r"[!\s]+", path) if p]
    while parts and parts[-1] in ("not-for-mail", "news", "usenet"):
        parts.pop()
    return parts[-1].lower() if parts else ""


def path_names(path: str) -> set[str]:
    """Every node name in a Path (lower case), diagnostic markers included."""
    return {p.lower() for p in re.split(r"[!\s]+", path) if p}


def cancel_message_id(message_id: str) -> str:
    """The Message-ID of the cancel of `message_id`: derived from it, so every
    node that makes or relays that cancel names it alike and a copy is a duplicate."""
    return "<cancel." + message_id[1:]


# -- configuration -------------------------------------------------------------------


async def add_peer(
    conn: Connection,
    name: str,
    host: str,
    port: int,
    *,
    groups: str = "*",
    direction: str = "both",
    password: str | None = None,
) -> dict:
    """Configure a peer; Conflict if the name is taken, Invalid for a bad field."""
    if not NAME.match(name or ""):
        raise Invalid("a peer name is its Path name: letters, digits, dots and dashes, at most 80")
    if not host or len(host) > 255 or re.search(r"[\s/]", host):
        raise Invalid("the host is a name or an address")
    if not 1 <= int(port) <= 65535:
        raise Invalid("the port is between 1 and 65535")
    try:
        wildmats.parse(groups)
    except wildmats.BadWildmat as e:
        raise Invalid(f"--groups: {e}") from None
    if direction not in DIRECTIONS:
        raise Invalid(f"direction is one of {', '.join(DIRECTIONS)}")
    if password is not None and (len(password) < SECRET_MIN or re.search(r"\s", password)):
        raise Invalid(f"a shared secret has at least {SECRET_MIN} characters and no spaces")
    if await fetch_value(conn, "SELECT 1 FROM peers WHERE name = ?", (name,)):
        raise Conflict(f"a peer named {name} exists; remove it first")
    await conn.execute(
        "INSERT INTO peers (name, host, port, groups, direction, password, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (name, host, int(port), groups, direction, password, clock.now()),
    )
    return (await list_peers(conn, name))[0]


async def remove_peer(conn: Connection, name: str) -> None:
    """Forget a peer and its queue; NotFound if there is none of that name."""
    peer_id = await fetch_value(conn, "SELECT id FROM peers WHERE name = ?", (name,))
    if peer_id is None:
        raise NotFound(f"no peer named {name}")
    await conn.execute("DELETE FROM peer_queue WHERE peer_id = ?", (peer_id,))
    await conn.execute("DELETE FROM peers WHERE id = ?", (peer_id,))


async def list_peers(conn: Connection, name: str | None = None) -> list[dict]:
    """Every peer (or the one named) with its backlog and last error; secrets are not shown."""
    rows = await fetch_all(
        conn,
        "SELECT p.*, (SELECT count(*) FROM peer_queue q WHERE q.peer_id = p.id) AS backlog"
        " FROM peers p" + (" WHERE p.name = ?" if name else "") + " ORDER BY p.name",
        (name,) if name else (),
    )
    return [
        {
            "name": r["name"],
            "host": r["host"],
            "port": r["port"],
            "groups": r["groups"],
            "direction": r["direction"],
            "authenticated": r["password"] is not None,
            "backlog": r["backlog"],
            "last_ok_at": r["last_ok_at"],
            "last_error": r["last_error"],
            "last_error_at": r["last_error_at"],
        }
        for r in rows
    ]


async def outgoing_peers(conn: Connection) -> list[sqlite3.Row]:
    return await fetch_all(conn, "SELECT * FROM peers WHERE direction != 'incoming' ORDER BY id")


async def peer_by_secret(conn: Connection, secret: str) -> sqlite3.Row | None:
    """The incoming peer whose shared secret this is (compared in constant time)."""
    found = None
    for row in await fetch_all(
        conn, "SELECT * FROM peers WHERE password IS NOT NULL AND direction != 'outgoing'"
    ):
        if hmac.compare_digest(row["password"].encode(), secret.encode()):
            found = row
    return found


async def address_peers(conn: Connection) -> list[sqlite3.Row]:
    """The incoming peers recognised by address (configured without a secret)."""
    return await fetch_all(
        conn, "SELECT * FROM peers WHERE password IS NULL AND direction != 'outgoing' ORDER BY id"
    )


# -- the outgoing queue ---------------------------------------------------------------


async def enqueue(
    conn: Connection,
    *,
    message_id: str,
    group: str,
    path: str,
    kind: str = "article",
    article_id: int | None = None,
    control: str | None = None,
) -> int:
    """Queue an article (or control article) for every outgoing peer whose groups
    match and whose name is not in `path`; returns how many rows were queued."""
    names = path_names(path)
    now = clock.now()
    queued = 0
    for peer in await outgoing_peers(conn):
        if peer["name"].lower() in names or not wildmats.parse(peer["groups"])(group):
            continue
        cur = await conn.execute(
            "INSERT OR IGNORE INTO peer_queue (peer_id, message_id, kind, article_id, control, next_try_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (peer["id"], message_id, kind, article_id, control, now),
        )
        queued += cur.rowcount
    return queued


async def queue_article(conn: Connection, article: dict) -> int:
    """Queue a just posted article (article_json shape) for the peers."""
    return await enqueue(
        conn,
        message_id=article["message_id"],
        group=article["group"],
        path="not-for-mail",
        article_id=article["id"],
    )


async def queue_shown(conn: Connection, article: dict) -> int:
    """Queue again an article (article_json shape) shown after it was hidden:
    the feed sends nothing while an article is hidden and drops its row
    (nntp/feed.py), so it goes out now; a peer that had it already answers
    "not wanted". One that came from a peer is not offered back along its Path."""
    path = await fetch_value(conn, "SELECT path FROM article_paths WHERE article_id = ?", (article["id"],))
    return await enqueue(
        conn,
        message_id=article["message_id"],
        group=article["group"],
        path=path or "not-for-mail",
        article_id=article["id"],
    )


async def queue_cancel(conn: Connection, article: dict) -> int:
    """Queue the cancel control article of a just withdrawn article for the peers."""
    cancel_id = cancel_message_id(article["message_id"])
    return await _queue_control(conn, cancel_id, article["group"], "cancel", article["id"])


# Thread states a control article may set (docs/PEERING.md: last writer wins).
STATE_EVENTS = {
    "lock": ("locked", "thread.locked"),
    "unlock": ("open", "thread.unlocked"),
    "archive": ("archived", "thread.archived"),
    "unarchive": ("open", "thread.unarchived"),
}
STATE_CONTROL = "x-moot-thread"


async def queue_state(conn: Connection, thread_id: int, action: str, reason: str) -> int:
    """Record and queue a thread state change made here (lock, unlock, archive,
    unarchive) as a control article for the peers; its stamp wins over earlier ones.
    The queue row's `control` is `action time reason`: the article's Date is that time,
    so every node compares the same stamp."""
    root = await fetch_one(
        conn,
        "SELECT a.id, a.message_id, g.name AS group_name FROM threads t"
        " JOIN articles a ON a.id = t.root_article_id JOIN groups g ON g.id = t.group_id"
        " WHERE t.id = ?",
        (thread_id,),
    )
    if root is None:
        return 0
    now = clock.now()
    latest = await fetch_value(
        conn, "SELECT stamp FROM thread_state_stamps WHERE root_message_id = ?", (root["message_id"],)
    )
    if latest is not None and latest[:19] >= now[:19]:
        # A change made after seeing another comes after it, whatever the clocks say
        # (stamps have the Date header's one-second grain).
        now = clock.stamp(datetime.strptime(latest[:19], "%Y-%m-%dT%H:%M:%S") + timedelta(seconds=1))
    message_id = f"<{action}.{now[:19].replace('-', '').replace(':', '')}.{secrets.token_hex(6)}.{root['message_id'][1:]}"
    await stamp_state(conn, root["message_id"], f"{now[:19]} {message_id}")
    control = f"{action} {now} {reason}".strip()
    return await _queue_control(conn, message_id, root["group_name"], "state", root["id"], control)


async def _queue_control(
    conn: Connection, message_id: str, group: str, kind: str, article_id: int, control: str | None = None
) -> int:
    """Queue a control article made here about article `article_id`; its
    Message-ID is remembered, so a copy a peer sends back is a duplicate."""
    await conn.execute(
        "INSERT OR IGNORE INTO news_history (message_id, received_at) VALUES (?, ?)",
        (message_id, clock.now()),
    )
    return await enqueue(
        conn,
        message_id=message_id,
        group=group,
        path="not-for-mail",
        kind=kind,
        article_id=article_id,
        control=control,
    )


async def stamp_state(conn: Connection, root_message_id: str, stamp: str) -> bool:
    """Keep `stamp` as the thread's latest state change if it is later; whether it was."""
    current = await fetch_value(
        conn, "SELECT stamp FROM thread_state_stamps WHERE root_message_id = ?", (root_message_id,)
    )
    if current is not None and current >= stamp:
        return False
    await conn.execute(
        "INSERT OR REPLACE INTO thread_state_stamps (root_message_id, stamp) VALUES (?, ?)",
        (root_message_id, stamp),
    )
    return True


async def due(conn: Connection, peer_id: int, limit: int) -> list[sqlite3.Row]:
    """Queue rows of a peer whose time has come, oldest first."""
    return await fetch_all(
        conn,
        "SELECT * FROM peer_queue WHERE peer_id = ? AND next_try_at <= ? ORDER BY next_try_at, id LIMIT ?",
        (peer_id, clock.now(), limit),
    )


async def next_due(conn: Connection, peer_id: int) -> str | None:
    """When the peer's next queue row becomes due (None: its queue is empty)."""
    return await fetch_value(conn, "SELECT min(next_try_at) FROM peer_queue WHERE peer_id = ?", (peer_id,))


async def finished(conn: Connection, peer_id: int, ids: list[int]) -> None:
    """Rows the peer took or refused for good (235, 239, 435, 437, 438, 439): gone."""
    await conn.executemany("DELETE FROM peer_queue WHERE id = ?", [(i,) for i in ids])
    await conn.execute("UPDATE peers SET last_ok_at = ? WHERE id = ?", (clock.now(), peer_id))


async def retry_later(conn: Connection, peer_id: int, ids: list[int], error: str) -> None:
    """Rows to offer again (431, 436, a broken connection): each waits twice as
    long as the last time, up to RETRY_MAX; the error is kept for `moot peer list`."""
    for row_id in ids:
        attempts = await fetch_value(conn, "SELECT attempts FROM peer_queue WHERE id = ?", (row_id,))
        if attempts is None:
            continue
        wait = min(RETRY_MAX, RETRY_FIRST * 2 ** min(attempts, 20))
        await conn.execute(
            "UPDATE peer_queue SET attempts = attempts + 1, next_try_at = ? WHERE id = ?",
            (clock.later(seconds=wait), row_id),
        )
    await note_error(conn, peer_id, error)


async def note_error(conn: Connection, peer_id: int, error: str) -> None:
    await conn.execute(
        "UPDATE peers SET last_error = ?, last_error_at = ? WHERE id = ?", (error[:300], clock.now(), peer_id)
    )


@dataclass(frozen=True)
class Incoming:
    """An article a peer offers, as parsed from the wire (nntp/parse.transit_article)."""

    message_id: str
    newsgroups: tuple[str, ...]
    subject: str
    body: str
    from_name: str
    from_addr: str
    date: str  # stored time form
    references: tuple[str, ...]
    path: str  # as received, this node not yet in it
    control: str | None  # the Control header's value
    text: str  # the whole article (headers and body, LF lines) for relaying a control
    sequence: int | None = None  # X-Moot-Sequence: an x-moot-action's place in its group
    approved: str | None = None  # the Approved header: who let it into a moderated group
    cancel_key: str | None = None  # the Cancel-Key header (RFC 8315) of a cancel

"""News peers (docs/PEERING.md): who this node exchanges articles with, the
outgoing queue (an outbox written in the transaction that stores or cancels
an article), and the delivery here of articles and cancels a peer sends.

A peer's name is its Path name (RFC 5536 §3.1.5, its pathhost), so an
article that has passed through a peer is never offered to it again. This
node's own Path name is its configured domain."""

from __future__ import annotations

import dataclasses
import hmac
import json
import logging
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiosqlite import Connection

from ..articles import posting, tree
from ..articles.reading import ARTICLE_SELECT, article_json, thread_json, thread_row
from ..stewardship import modlog
from ..store import clock, validate
from ..store.db import fetch_all, fetch_one, fetch_value
from ..store.errors import Conflict, Invalid, MootError, NotFound
from ..store.events import emit
from . import wildmat as wildmats
from .newsreading import last_known

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
# whatever order the articles travelled in (docs/PEERING.md).
ORPHAN_WAIT = 600
# Held articles delivered by one settle pass (the rest wait for the next).
SETTLE_BATCH = 200

log = logging.getLogger("moot.peering")


class Duplicate(Conflict):
    """The Message-ID is already here (RFC 3977 §6.3.2: 435; RFC 4644: 438/439)."""

    code = "duplicate"


class Deferred(Conflict):
    """Not now: what it follows up (or cancels) is not here yet. IHAVE answers
    436; TAKETHIS takes it and holds it (`take`). `waits_for` is that Message-ID."""

    code = "deferred"
    status = 503

    def __init__(self, message: str, waits_for: str) -> None:
        super().__init__(message)
        self.waits_for = waits_for


class Refused(Invalid):
    """An offered article this node will never take (437/439): not retried."""

    code = "refused"


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


async def queue_cancel(conn: Connection, article: dict) -> int:
    """Queue the cancel control article of a just withdrawn article for the peers."""
    cancel_id = cancel_message_id(article["message_id"])
    await conn.execute(
        "INSERT OR IGNORE INTO news_history (message_id, received_at) VALUES (?, ?)", (cancel_id, clock.now())
    )
    return await enqueue(
        conn,
        message_id=cancel_id,
        group=article["group"],
        path="not-for-mail",
        kind="cancel",
        article_id=article["id"],
    )


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
    await _stamp(conn, root["message_id"], f"{now[:19]} {message_id}")
    await conn.execute(
        "INSERT OR IGNORE INTO news_history (message_id, received_at) VALUES (?, ?)", (message_id, now)
    )
    return await enqueue(
        conn,
        message_id=message_id,
        group=root["group_name"],
        path="not-for-mail",
        kind="state",
        article_id=root["id"],
        control=f"{action} {now} {reason}".strip(),
    )


async def _stamp(conn: Connection, root_message_id: str, stamp: str) -> bool:
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


# -- incoming -------------------------------------------------------------------------


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


async def known(conn: Connection, message_id: str) -> bool:
    """Whether an article or control article of this Message-ID is here (or held)."""
    return bool(
        await fetch_value(
            conn,
            "SELECT 1 FROM articles WHERE message_id = ?"
            " UNION ALL SELECT 1 FROM news_history WHERE message_id = ?"
            " UNION ALL SELECT 1 FROM peer_held WHERE message_id = ?",
            (message_id, message_id, message_id),
        )
    )


async def receive(conn: Connection, domain: str, item: Incoming) -> dict:
    """Deliver an article a peer sent exactly as a posted one (numbers, search,
    events) and queue it for the other peers; then what was held for it, and
    the structural actions that were waiting for it. Raises Duplicate when the
    Message-ID is here, Refused when this node will not carry it, Deferred
    when what it follows up or acts on is not here yet (and it is young)."""
    result = await _deliver(conn, domain, item)
    await _release(conn, domain, item.message_id)
    # Imported here: actions builds on maintenance and posting, which queue through this module.
    from ..stewardship import actions

    if await actions.waiting(conn):
        await actions.settle(conn, domain)
    return result


async def take(conn: Connection, domain: str, item: Incoming) -> dict:
    """`receive`, except that an article Deferred is taken and held until what it
    waits for arrives (or its orphan wait ends): TAKETHIS has no "try later"
    answer (RFC 4644 §2.5), and the result is the same in any order of arrival."""
    try:
        return await receive(conn, domain, item)
    except Deferred as e:
        await hold(conn, item, e.waits_for)
        return {"held": e.waits_for}


async def hold(conn: Connection, item: Incoming, waits_for: str) -> None:
    """Keep `item` until `waits_for` arrives or until ORPHAN_WAIT after its Date
    (after its arrival when it is dated later: a future Date holds nothing longer)."""
    due = clock.stamp(clock.parse(min(item.date, clock.now())) + timedelta(seconds=ORPHAN_WAIT))
    await conn.execute(
        "INSERT OR IGNORE INTO peer_held (message_id, waits_for, article, due_at, received_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (item.message_id, waits_for, json.dumps(dataclasses.asdict(item)), due, clock.now()),
    )


def _held_item(row: sqlite3.Row) -> Incoming:
    fields = json.loads(row["article"])
    return Incoming(
        **{**fields, "newsgroups": tuple(fields["newsgroups"]), "references": tuple(fields["references"])}
    )


async def _release(conn: Connection, domain: str, message_id: str) -> None:
    """Deliver what was held for `message_id`, and in turn what was held for those."""
    arrived = [message_id]
    while arrived:
        for row in await fetch_all(conn, "SELECT * FROM peer_held WHERE waits_for = ?", (arrived.pop(),)):
            if await _deliver_held(conn, domain, row):
                arrived.append(row["message_id"])


async def _deliver_held(conn: Connection, domain: str, row: sqlite3.Row, *, wait: bool = True) -> bool:
    """Deliver a held article now; whether it was (it may wait again, for another
    article, or be refused: a held article was taken, so a refusal is only logged).
    `wait` False: its wait is over, so it is placed as it is."""
    await conn.execute("DELETE FROM peer_held WHERE message_id = ?", (row["message_id"],))
    item = _held_item(row)
    try:
        await _deliver(conn, domain, item, wait=wait)
    except Deferred as e:
        await hold(conn, item, e.waits_for)
        return False
    except MootError as e:
        log.warning("held article %s not delivered: %s", item.message_id, e.message)
        return False
    return True


async def overdue(conn: Connection) -> bool:
    """Whether `settle` has work: a held article past its wait, or a received action
    that has waited ORPHAN_WAIT for its articles (one indexed look each)."""
    return bool(
        await fetch_value(
            conn,
            "SELECT 1 FROM peer_held WHERE due_at <= ?"
            " UNION ALL SELECT 1 FROM group_actions WHERE status = 'pending' AND received_at <= ?",
            (clock.now(), clock.ago(seconds=ORPHAN_WAIT)),
        )
    )


async def settle(conn: Connection, domain: str) -> int:
    """Deliver held articles whose wait is over as they are (an orphan starts a
    thread, a cancel of an article that never came is only recorded), then apply
    the structural actions that are ready or overdue. Returns how many held were delivered."""
    delivered = 0
    rows = await fetch_all(
        conn, "SELECT * FROM peer_held WHERE due_at <= ? ORDER BY due_at LIMIT ?", (clock.now(), SETTLE_BATCH)
    )
    for row in rows:
        if await _deliver_held(conn, domain, row, wait=False):
            delivered += 1
            await _release(conn, domain, row["message_id"])
    from ..stewardship import actions  # see receive

    await actions.settle(conn, domain)
    return delivered


async def _moved_from(conn: Connection, parent: sqlite3.Row, group_id: int) -> bool:
    """Whether a split, merge or move took the parent's thread out of group `group_id`
    (a reply then follows its parent, as it would have had it arrived before)."""
    return bool(
        await fetch_value(
            conn,
            "SELECT 1 FROM modlog WHERE group_id = ? AND action IN ('split', 'merge', 'move')"
            " AND (thread_id = ? OR other_thread_id = ?) LIMIT 1",
            (group_id, parent["thread_id"], parent["thread_id"]),
        )
    )


async def _deliver(conn: Connection, domain: str, item: Incoming, *, wait: bool = True) -> dict:
    """One article (or control article) as `receive` describes, without what follows
    it; `wait` False places it as it is, whatever its Date (its orphan wait is over)."""
    if await known(conn, item.message_id):
        raise Duplicate(f"{item.message_id} is already here")
    if domain.lower() in path_names(item.path):
        raise Refused("this node is already in the article's Path")
    path = f"{domain}!{item.path}"
    young = wait and item.date > clock.ago(seconds=ORPHAN_WAIT)
    if item.control is not None:
        words = item.control.split()
        target = (
            words[1]
            if len(words) == 2 and words[0].lower() == "cancel"
            else (words[2] if len(words) == 3 and words[0].lower() == STATE_CONTROL else None)
        )
        if (
            young
            and target is not None
            and not await fetch_value(conn, "SELECT 1 FROM articles WHERE message_id = ?", (target,))
        ):
            raise Deferred(f"the article {target[:100]} it acts on is not here yet", target)
        return await _control(conn, domain, item, path)
    group = None
    for name in item.newsgroups:
        group = await fetch_one(conn, "SELECT id, name FROM groups WHERE name = ?", (name,))
        if group is not None:
            break
    if group is None:
        raise Refused(f"no group here among {','.join(item.newsgroups)[:100]}")
    subject = validate.subject(item.subject) if item.subject.strip() else "(no subject)"
    body = validate.body(item.body, allow_empty=True)
    author = item.from_name or item.from_addr or "unknown"
    if (
        young
        and item.references
        and not await fetch_value(conn, "SELECT 1 FROM articles WHERE message_id = ?", (item.references[-1],))
    ):
        raise Deferred(
            f"the article it follows up, {item.references[-1][:100]}, is not here yet", item.references[-1]
        )
    parent = await last_known(conn, item.references)
    parent_row = None
    if parent is not None:
        parent_row = await fetch_one(conn, posting.PLACE_SELECT + " WHERE a.id = ?", (parent["id"],))
        assert parent_row is not None  # last_known has just found it
    if parent_row is not None and parent_row["group_id"] != group["id"]:
        # Only a parent a structural action took elsewhere is followed into its group.
        if await _moved_from(conn, parent_row, group["id"]):
            group = await fetch_one(
                conn, "SELECT id, name FROM groups WHERE id = ?", (parent_row["group_id"],)
            )
            assert group is not None  # the group of an article here
        else:
            parent_row = None
    if parent_row is not None:
        # Under the deepest level it attaches one level up, as a reply posted here would.
        parent_row = await tree.anchor(conn, parent_row, posting.PLACE_SELECT)
    # RFC 5536 §3.2.10: with no known parent here the article starts a thread.
    row, article = await posting.place_arrival(
        conn,
        group,
        parent_row,
        subject=subject,
        body=body,
        author_name=author,
        author_addr=item.from_addr or None,
        message_id=item.message_id,
        created_at=item.date,
        references=" ".join(item.references),
    )
    await conn.execute("INSERT INTO article_paths (article_id, path) VALUES (?, ?)", (row["id"], path))
    await enqueue(conn, message_id=item.message_id, group=group["name"], path=path, article_id=row["id"])
    return article


async def _control(conn: Connection, domain: str, item: Incoming, path: str) -> dict:
    """A control article: `cancel <id>` withdraws the article when it comes from
    the article's origin or its author (docs/PEERING.md); others are only relayed."""
    await conn.execute(
        "INSERT INTO news_history (message_id, received_at) VALUES (?, ?)", (item.message_id, clock.now())
    )
    words = item.control.split() if item.control else []
    result: dict = {"control": " ".join(words)[:200], "applied": False}
    target = None
    if len(words) == 2 and words[0].lower() == "cancel":
        target = await _cancel_target(conn, words[1])
    if target is not None and target["status"] == "ok" and _may_cancel(domain, item, target):
        await _withdraw(conn, target)
        result["applied"] = True
    if len(words) == 3 and words[0].lower() == STATE_CONTROL and words[1].lower() in STATE_EVENTS:
        result["applied"] = await _thread_state(conn, item, words[1].lower(), words[2])
    if len(words) == 2 and words[0].lower() == "x-moot-action":
        # Imported here: actions builds on maintenance and posting, which queue through this module.
        from ..stewardship import actions

        result["applied"] = await actions.receive(conn, domain, item, words[1].lower())
    group = item.newsgroups[0] if item.newsgroups else (target["group_name"] if target else "control")
    text = re.sub(r"(?im)^Path:[^\n]*", f"Path: {path}", item.text, count=1)
    await enqueue(conn, message_id=item.message_id, group=group, path=path, kind="control", control=text)
    return result


async def _thread_state(conn: Connection, item: Incoming, action: str, root_message_id: str) -> bool:
    """Apply a thread state change from a peer if it is the latest one for the
    thread (by Date, then Message-ID): the same state on every node, in any order."""
    thread = await fetch_one(
        conn,
        "SELECT t.*, g.name AS group_name FROM articles a"
        " JOIN threads t ON t.id = a.thread_id AND t.root_article_id = a.id"
        " JOIN groups g ON g.id = t.group_id WHERE a.message_id = ?",
        (root_message_id,),
    )
    if thread is None or not await _stamp(conn, root_message_id, f"{item.date[:19]} {item.message_id}"):
        return False
    state, event = STATE_EVENTS[action]
    if thread["state"] == state:
        return True
    await conn.execute(
        "UPDATE threads SET state = ?, archived_at = ? WHERE id = ?",
        (state, item.date if state == "archived" else None, thread["id"]),
    )
    reason = item.body.strip().splitlines()[0][:300] if item.body.strip() else ""
    entry_id = await modlog.write(
        conn,
        action,
        None,
        group_id=thread["group_id"],
        thread_id=thread["id"],
        target=thread["subject"],
        reason=reason,
        data={"from": thread["state"], "peer": path_origin(item.path)},
    )
    await emit(
        conn,
        event,
        group=thread["group_name"],
        thread_id=thread["id"],
        data={"thread": thread_json(await thread_row(conn, thread["id"])), "entry_id": entry_id},
    )
    return True


async def _cancel_target(conn: Connection, message_id: str) -> sqlite3.Row | None:
    return await fetch_one(
        conn,
        "SELECT a.*, g.name AS group_name, u.username AS username, ap.path AS news_path"
        " FROM articles a JOIN groups g ON g.id = a.group_id LEFT JOIN users u ON u.id = a.user_id"
        " LEFT JOIN article_paths ap ON ap.article_id = a.id WHERE a.message_id = ?",
        (message_id,),
    )


def _may_cancel(domain: str, item: Incoming, target: sqlite3.Row) -> bool:
    """The cancel comes from the node that injected the article, or names the
    article's own From address (RFC 5537 §5.3: the poster or an agent for them)."""
    origin = path_origin(target["news_path"]) if target["news_path"] else domain.lower()
    if path_origin(item.path) == origin:
        return True
    address = target["author_addr"] or (f"{target['username']}@{domain}" if target["username"] else "")
    return bool(address) and address.lower() == item.from_addr.lower()


async def _withdraw(conn: Connection, target: sqlite3.Row) -> None:
    """The same change as posting.cancel by the author: text replaced, out of search."""
    await conn.execute(
        "INSERT INTO articles_fts (articles_fts, rowid, subject, body, author_name)"
        " VALUES ('delete', ?, ?, ?, ?)",
        (target["id"], target["subject"], target["body"], target["author_name"]),
    )
    await conn.execute(
        "UPDATE articles SET status = 'cancelled', body = ? WHERE id = ?",
        (posting.CANCEL_NOTICE_AUTHOR, target["id"]),
    )
    row = await fetch_one(conn, ARTICLE_SELECT + " WHERE a.id = ?", (target["id"],))
    assert row is not None
    article = article_json(row)
    await emit(
        conn, "article.cancelled", group=target["group_name"], thread_id=target["thread_id"], data=article
    )

"""Taking in what news peers send (docs/PEERING.md): an offered article is
delivered exactly as a posted one (numbers, search, events) and queued for the
other peers; one that comes before what it follows up is held until that
arrives; cancels and thread state changes are applied when their sender may;
a group's structural actions are handed to stewardship.actions."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import sqlite3
from datetime import timedelta

from aiosqlite import Connection

from ..articles import held, posting, repetition, tree
from ..articles.reading import ARTICLE_SELECT, article_json, thread_json, thread_row
from ..stewardship import actions, bans, modlog
from ..store import clock, validate
from ..store.config import Config
from ..store.db import fetch_all, fetch_one, fetch_value
from ..store.errors import Conflict, Invalid, MootError
from ..store.events import emit
from . import cancellock, news
from .newsreading import last_known
from .peers import (
    ORPHAN_WAIT,
    STATE_CONTROL,
    STATE_EVENTS,
    Incoming,
    enqueue,
    path_names,
    path_origin,
    stamp_state,
)

# Characters of an Approved header kept (a name and an address).
APPROVED_MAX = 200
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


@dataclasses.dataclass(frozen=True)
class Node:
    """The node that takes what peers send: its Path name (`domain`), its
    repetition rules (None: no repetition check) and its secret, which checks
    the Cancel-Key of a cancel of an article injected here (cancellock;
    None: no key is checked)."""

    domain: str
    repeat: repetition.Rules | None = None
    secret: str | None = None

    @classmethod
    def of(cls, config: Config, secret: str) -> Node:
        """This site's node, as its configuration and its secret make it."""
        return cls(config.domain, repetition.Rules.from_config(config), secret)


def _known_sql(count: int) -> str:
    """Which of `count` Message-IDs (each bound three times, once a table) are
    here: stored as articles, in the news history, or held."""
    marks = ",".join("?" * count)
    tables = ("articles", "news_history", "peer_held")
    return " UNION ".join(f"SELECT message_id FROM {table} WHERE message_id IN ({marks})" for table in tables)


_KNOWN_ONE = _known_sql(1)
# Message-IDs looked up in one statement by known_among.
KNOWN_CHUNK = 300


async def known(conn: Connection, message_id: str) -> bool:
    """Whether an article or control article of this Message-ID is here (or held).
    For a Message-ID of a form this server derives for its control articles
    (validate.control_message_id) only a control counts: an article that took
    such an id (where ids were not yet refused) never stops the real control."""
    if validate.control_message_id(message_id):
        return await _control_known(conn, message_id)
    return await fetch_value(conn, _KNOWN_ONE, (message_id,) * 3) is not None


async def known_among(conn: Connection, message_ids: list[str]) -> set[str]:
    """Those of `message_ids` that `known` says are here, in one read for the
    lot (a control's Message-ID, of the form validate.control_message_id
    names, is looked up as `known` looks it up)."""
    found: set[str] = set()
    plain = []
    for message_id in dict.fromkeys(message_ids):
        if not validate.control_message_id(message_id):
            plain.append(message_id)
        elif await _control_known(conn, message_id):
            found.add(message_id)
    for start in range(0, len(plain), KNOWN_CHUNK):
        chunk = plain[start : start + KNOWN_CHUNK]
        found.update(row[0] for row in await fetch_all(conn, _known_sql(len(chunk)), chunk * 3))
    return found


async def _control_known(conn: Connection, message_id: str, control: str | None = None) -> bool:
    """Whether a control article of this Message-ID is here or held (the same
    `control` when it is given): an article of that id is no copy of it."""
    return bool(
        await fetch_value(
            conn,
            "SELECT 1 FROM news_history WHERE message_id = ?"
            " UNION ALL SELECT 1 FROM peer_held WHERE message_id = ?"
            " AND json_extract(article, '$.control') = coalesce(?, json_extract(article, '$.control'))",
            (message_id, message_id, control),
        )
    )


async def receive(conn: Connection, node: Node, item: Incoming) -> dict:
    """Deliver an article a peer sent exactly as a posted one (numbers, search,
    events) and queue it for the other peers; then what was held for it, and
    the structural actions that were waiting for it. Raises Duplicate when the
    Message-ID is here, Refused when this node will not carry it, Deferred
    when what it follows up or acts on is not here yet (and it is young).
    An article that repeats what was posted to other groups (by the node's
    repetition rules) is taken and held for the moderators: `{held}`."""
    result = await _deliver(conn, node, item)
    await _release(conn, node, item.message_id)
    if await actions.waiting(conn):
        await actions.settle(conn, node.domain)
    await _release_roots(conn, node)
    return result


async def take(conn: Connection, node: Node, item: Incoming) -> dict:
    """`receive`, except that an article Deferred is taken and held until what it
    waits for arrives (or its orphan wait ends): TAKETHIS has no "try later"
    answer (RFC 4644 §2.5), and the result is the same in any order of arrival."""
    try:
        return await receive(conn, node, item)
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


async def _release(conn: Connection, node: Node, message_id: str) -> None:
    """Deliver what was held for `message_id`, and in turn what was held for those."""
    arrived = [message_id]
    while arrived:
        for row in await fetch_all(conn, "SELECT * FROM peer_held WHERE waits_for = ?", (arrived.pop(),)):
            if await _deliver_held(conn, node, row):
                arrived.append(row["message_id"])


async def _release_roots(conn: Connection, node: Node) -> None:
    """Deliver what was held for an article that a structural action has since made
    a thread's root (a thread state change for the thread a split or undo makes)."""
    for row in await fetch_all(
        conn,
        "SELECT DISTINCT h.waits_for FROM peer_held h JOIN articles a ON a.message_id = h.waits_for"
        " JOIN threads t ON t.id = a.thread_id AND t.root_article_id = a.id",
    ):
        await _release(conn, node, row["waits_for"])


async def _deliver_held(conn: Connection, node: Node, row: sqlite3.Row, *, wait: bool = True) -> bool:
    """Deliver a held article now; whether it was (it may wait again, for another
    article, or be refused: a held article was taken, so a refusal is only logged).
    `wait` False: its wait is over, so it is placed as it is."""
    await conn.execute("DELETE FROM peer_held WHERE message_id = ?", (row["message_id"],))
    item = _held_item(row)
    try:
        await _deliver(conn, node, item, wait=wait)
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


async def settle(conn: Connection, node: Node) -> int:
    """Deliver held articles whose wait is over as they are (an orphan starts a
    thread, a cancel of an article that never came is only recorded), then apply
    the structural actions that are ready or overdue. Returns how many held were delivered."""
    delivered = 0
    rows = await fetch_all(
        conn, "SELECT * FROM peer_held WHERE due_at <= ? ORDER BY due_at LIMIT ?", (clock.now(), SETTLE_BATCH)
    )
    for row in rows:
        if await _deliver_held(conn, node, row, wait=False):
            delivered += 1
            await _release(conn, node, row["message_id"])

    await actions.settle(conn, node.domain)
    await _release_roots(conn, node)
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


async def _deliver(conn: Connection, node: Node, item: Incoming, *, wait: bool = True) -> dict:
    """One article (or control article) as `receive` describes, without what follows
    it; `wait` False places it as it is, whatever its Date (its orphan wait is over)."""
    # A control is a copy only of the same control; an article only of what has its id.
    if await (
        _control_known(conn, item.message_id, item.control)
        if item.control is not None
        else known(conn, item.message_id)
    ):
        raise Duplicate(f"{item.message_id} is already here")
    if item.control is None and validate.control_message_id(item.message_id):
        raise Refused(f"{item.message_id[:100]} has a form reserved for control articles")
    domain = node.domain
    if domain.lower() in path_names(item.path):
        raise Refused("this node is already in the article's Path")
    path = f"{domain}!{item.path}"
    young = wait and item.date > clock.ago(seconds=ORPHAN_WAIT)
    if item.control is not None:
        words = item.control.split()
        state = len(words) == 3 and words[0].lower() == STATE_CONTROL
        target = (
            words[1] if len(words) == 2 and words[0].lower() == "cancel" else (words[2] if state else None)
        )
        # A thread state waits for the thread: its root here, and a root (a split or
        # an undo the home made before the change may not be applied here yet).
        if (
            young
            and target is not None
            and not await fetch_value(
                conn,
                "SELECT 1 FROM articles a JOIN threads t ON t.id = a.thread_id AND t.root_article_id = a.id"
                " WHERE a.message_id = ?"
                if state
                else "SELECT 1 FROM articles WHERE message_id = ?",
                (target,),
            )
        ):
            raise Deferred(
                f"the {'thread' if state else 'article'} {target[:100]} it acts on is not here yet", target
            )
        return await _control(conn, node, item, path)
    group = None
    for name in item.newsgroups:
        group = await fetch_one(conn, "SELECT id, name, status FROM groups WHERE name = ?", (name,))
        if group is not None:
            break
    if group is None:
        raise Refused(f"no group here among {','.join(item.newsgroups)[:100]}")
    # A moderated group takes from a feed only what a moderator approved (as INN does):
    # nothing is queued here, so a feed cannot flood the group's queue.
    approved = item.approved.strip()[:APPROVED_MAX] if item.approved else None
    if group["status"] == "m" and not approved:
        raise Refused(f"unapproved for {group['name']}")
    author = posting.Author(
        item.from_name or item.from_addr or "unknown",
        address=item.from_addr or None,
        peer=path_origin(item.path),
    )
    if await bans.ban_of(conn, group["id"], author) is not None:
        raise Refused(f"its author is banned from {group['name']}")
    subject = validate.strip_invisible(item.subject)
    subject = validate.subject(subject) if subject.strip() else "(no subject)"
    body = validate.body(item.body, allow_empty=True)
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
    arrived = posting.NewArticle(
        subject,
        body,
        author,
        item.message_id,
        item.date,
        references=" ".join(item.references),
        approved=approved,
        channel="peer",
    )
    if await repetition.screen_arrival(conn, node.repeat, author, group["id"], body):
        return await _hold_repeated(conn, group["id"], parent_row, arrived)
    row, article = await posting.place_arrival(conn, group, parent_row, arrived)
    await conn.execute("INSERT INTO article_paths (article_id, path) VALUES (?, ?)", (row["id"], path))
    await enqueue(conn, message_id=item.message_id, group=group["name"], path=path, article_id=row["id"])
    return article


async def _hold_repeated(
    conn: Connection, group_id: int, parent: sqlite3.Row | None, arrived: posting.NewArticle
) -> dict:
    """Keep a peer's article that repeats what was posted to other groups for
    the group's moderators (why 'repeat'), sent nowhere until one approves it;
    its Message-ID is remembered, so other peers' copies are duplicates."""
    await conn.execute(
        "INSERT OR IGNORE INTO news_history (message_id, received_at) VALUES (?, ?)",
        (arrived.message_id, clock.now()),
    )
    item_id = await held.hold(
        conn,
        held.Held(
            group_id=group_id,
            why="repeat",
            channel="peer",
            message_id=arrived.message_id,
            author=arrived.author,
            subject=arrived.subject,
            body=arrived.body,
            refs=arrived.references,
            parent_id=parent["id"] if parent is not None else None,
        ),
    )
    return {"held": await held.item(conn, item_id)}


async def _control(conn: Connection, node: Node, item: Incoming, path: str) -> dict:
    """A control article: `cancel <id>` withdraws the article when its sender
    may (`_may_cancel`, docs/PEERING.md); others are only relayed."""
    await conn.execute(
        "INSERT INTO news_history (message_id, received_at) VALUES (?, ?)", (item.message_id, clock.now())
    )
    words = item.control.split() if item.control else []
    result: dict = {"control": " ".join(words)[:200], "applied": False}
    target = None
    if len(words) == 2 and words[0].lower() == "cancel":
        target = await _cancel_target(conn, words[1])
    if target is not None and target["status"] == "ok" and _may_cancel(node, item, target):
        await _withdraw(conn, target)
        result["applied"] = True
    if len(words) == 3 and words[0].lower() == STATE_CONTROL and words[1].lower() in STATE_EVENTS:
        result["applied"] = await _thread_state(conn, item, words[1].lower(), words[2])
    if len(words) == 2 and words[0].lower() == "x-moot-action":
        result["applied"] = await actions.receive(conn, node.domain, item, words[1].lower())
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
    if thread is None or not await stamp_state(conn, root_message_id, f"{item.date[:19]} {item.message_id}"):
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
        modlog.Entry.on_thread(
            action,
            None,
            thread,
            reason=reason,
            data={"from": thread["state"], "peer": path_origin(item.path)},
        ),
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


def _may_cancel(node: Node, item: Incoming, target: sqlite3.Row) -> bool:
    """A cancel with a Cancel-Key, of an article injected here (whose lock this
    node makes from `secret`), applies exactly when the key opens that lock,
    whoever sends it (RFC 8315). Any other: it comes from the node that injected
    the article, or names the article's own From address (RFC 5537 §5.3: the
    poster or an agent for them)."""
    if item.cancel_key is not None and node.secret is not None and news.injected_here(target):
        return cancellock.opens(item.cancel_key, cancellock.lock(node.secret, target["message_id"]))
    domain = node.domain
    origin = path_origin(target["news_path"]) if target["news_path"] else domain.lower()
    if path_origin(item.path) == origin:
        return True
    address = target["author_addr"] or (f"{target['username']}@{domain}" if target["username"] else "")
    return bool(address) and address.lower() == item.from_addr.lower()


async def _withdraw(conn: Connection, target: sqlite3.Row) -> None:
    """The same change as posting.cancel by the author."""
    await posting.withdraw(conn, target, posting.CANCEL_NOTICE_AUTHOR)
    row = await fetch_one(conn, ARTICLE_SELECT + " WHERE a.id = ?", (target["id"],))
    assert row is not None
    article = article_json(row)
    await emit(
        conn, "article.cancelled", group=target["group_name"], thread_id=target["thread_id"], data=article
    )

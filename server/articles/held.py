"""Submissions held for a group's moderators: never published, so no number,
no thread, no search entry and nothing sent anywhere; kept whole in the
`queue` table (kind 'held') until a moderator approves or rejects them
(server/stewardship/queue.py decides; this module only keeps them).

Contract of `hold`: the row is written in the caller's transaction, so a
held submission is as durable as a posted one; a Message-ID already waiting
here or posted is refused (Conflict); a group keeps at most GROUP_MAX waiting
submissions and one author at most AUTHOR_MAX in it (Busy past either, so a
flood cannot bury a group's queue). Mail that did not show it came from the
member it names (why 'unverified') has its own AUTHOR_MAX: anyone can write
a member's From, and forged mail must not keep the member's own posts out.
A post from the fediverse keeps its actor (the Author's) and the activity it
came as, and on approval becomes that actor's object again (`approved`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from sqlite3 import Row

from aiosqlite import Connection

from ..store import clock
from ..store.db import fetch_one, fetch_value
from ..store.errors import Busy, Conflict
from .authors import CHANNELS, Author

# Why a submission waits: the group is moderated; the mail came from an address
# no member confirmed; a member's mail did not show it came from them
# (server/mail/identity.py); spamd scored it as spam (server/stewardship/spam.py);
# it repeats what was posted to other groups (server/articles/repetition.py); a
# new account posted in a group that reviews new accounts' posts
# (server/stewardship/trust.py).
WHY = ("moderated", "stranger", "unverified", "spam", "repeat", "new")
GROUP_MAX = 1000
AUTHOR_MAX = 20
# Message-IDs of References a held submission keeps (RFC 5322 readers keep a few dozen).
REFS_MAX = 40


@dataclass(frozen=True, kw_only=True)
class Held:
    """A submission to keep: where and why, by which channel and from whom,
    its checked text, the article it answers (`parent_id`, None for a new
    thread) and the References it came with; `mail_from` is a mail's envelope
    sender, kept for the record and never written to; `activity` is the
    ActivityPub activity a post from the fediverse came as (its author's
    `actor` wrote it)."""

    group_id: int
    why: str
    channel: str
    message_id: str
    author: Author
    subject: str
    body: str
    refs: str = ""
    parent_id: int | None = None
    continued_from: int | None = None
    mail_from: str | None = None
    spam_score: float | None = None  # what spamd said of it, when it was scored
    spam_rules: str = ""
    activity: str | None = None

    def __post_init__(self) -> None:
        assert self.why in WHY and self.channel in CHANNELS, (self.why, self.channel)


async def hold(conn: Connection, held: Held) -> int:
    """Keep `held` (see the module's contract); returns its queue id."""
    if await fetch_value(
        conn,
        "SELECT 1 FROM queue WHERE message_id = ? AND kind = 'held' AND state = 'waiting'"
        " UNION ALL SELECT 1 FROM articles WHERE message_id = ?",
        (held.message_id, held.message_id),
    ):
        raise Conflict(f"the Message-ID {held.message_id} is already in use")
    waiting = await fetch_value(
        conn,
        "SELECT count(*) FROM queue WHERE group_id = ? AND state = 'waiting' AND kind = 'held'",
        (held.group_id,),
    )
    if waiting >= GROUP_MAX:
        raise Busy("this group's moderation queue is full; try again later", retry_after=3600)
    mine = await fetch_value(
        conn,
        "SELECT count(*) FROM queue WHERE group_id = ? AND state = 'waiting' AND kind = 'held'"
        " AND user_id IS ? AND author_addr IS ? AND (why = 'unverified') = ?",
        (held.group_id, held.author.user_id, held.author.address, held.why == "unverified"),
    )
    if mine >= AUTHOR_MAX:
        raise Busy(
            f"{AUTHOR_MAX} of your articles already wait for this group's moderators; try again later",
            retry_after=3600,
        )
    refs = " ".join(held.refs.split()[-REFS_MAX:])
    cur = await conn.execute(
        "INSERT INTO queue (group_id, kind, why, channel, message_id, user_id, author_name, author_addr,"
        " mail_from, subject, body, refs, parent_id, continued_from, created_at, spam_score, spam_rules,"
        " actor, activity) VALUES (?, 'held', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            held.group_id,
            held.why,
            held.channel,
            held.message_id,
            held.author.user_id,
            held.author.name,
            held.author.address,
            held.mail_from,
            held.subject,
            held.body,
            refs,
            held.parent_id,
            held.continued_from,
            clock.now(),
            held.spam_score,
            held.spam_rules,
            held.author.actor,
            held.activity,
        ),
    )
    assert cur.lastrowid is not None  # set by the INSERT just run
    return cur.lastrowid


def object_of(activity: str) -> str | None:
    """The id of the object an ActivityPub activity (as received) names: its
    `object`, an id or an object with one (or a list of one such); None when
    it names none."""
    try:
        obj = json.loads(activity).get("object")
    except (ValueError, AttributeError):
        return None
    if isinstance(obj, list) and len(obj) == 1:
        obj = obj[0]
    if isinstance(obj, dict):
        obj = obj.get("id")
    return obj if isinstance(obj, str) and obj.startswith(("https://", "http://")) else None


async def approved(conn: Connection, row: Row, article_id: int) -> None:
    """What approving held queue row `row` adds to the article `article_id`
    it became, in the approval's transaction: for a post from the fediverse
    (an actor and the activity kept), the ap_objects row that makes it that
    actor's object (its profile link, its later Update and Delete, and the
    activity it is announced as). Nothing for any other channel."""
    object_id = object_of(row["activity"]) if row["actor"] and row["activity"] else None
    if object_id is None:
        return
    await conn.execute(
        "INSERT INTO ap_objects (article_id, object_id, actor, activity, received_at) VALUES (?, ?, ?, ?, ?)",
        (article_id, object_id, row["actor"], row["activity"], clock.now()),
    )


async def item(conn: Connection, item_id: int) -> dict:
    """What the author of a held submission is told: `{id, group, message_id,
    subject, why, state, created_at}` (the queue id lets them refer to it)."""
    row = await fetch_one(
        conn,
        "SELECT q.id, g.name AS group_name, q.message_id, q.subject, q.why, q.state, q.created_at"
        " FROM queue q JOIN groups g ON g.id = q.group_id WHERE q.id = ?",
        (item_id,),
    )
    assert row is not None, item_id
    return {
        "id": row["id"],
        "group": row["group_name"],
        "message_id": row["message_id"],
        "subject": row["subject"],
        "why": row["why"],
        "state": row["state"],
        "created_at": row["created_at"],
    }

"""Telling readers what concerns them: a reply to their article (`reply`), a
new article in a thread they follow or a new thread in a group they follow
(`follow`), their `@username` in a body (`mention`), a moderation action on
their thread (`moderation`, with its log entry).

Written by the action itself, in its transaction. Never to the actor; at most
one per reader and article (a reply that also mentions its parent's author
is one `reply`); never what the reader's killfile hides (a muted author or
thread tells them nothing). Readers who chose so are mailed each one, or a
daily summary (server/mail/noticemail.py).
Each new notification is a `notification.created` event addressed to its
readers' own topics, so only their live connections hear of it; a fan-out
to many followers is a few event rows, each naming up to FANOUT_TOPICS readers."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterable
from sqlite3 import Row

from aiosqlite import Connection

from ..articles.reading import ARTICLE_SELECT, article_json
from ..mail import noticemail
from ..stewardship.permissions import User
from ..store import clock, keyset, validate
from ..store.db import fetch_all, fetch_one, fetch_value
from ..store.errors import Invalid, NotFound
from ..store.events import emit
from . import killfile, newsrc
from .newsrc import Ranges

KINDS = ("reply", "follow", "mention", "moderation")
# Log actions that tell the thread's starter (and a split-off part's author).
MODERATION_ACTIONS = ("split", "merge", "move", "lock", "unlock", "archive", "unarchive")
# `@name` where a username may stand: not inside an address (a@b) or a word.
MENTION = re.compile(r"(?<![\w@.])@([a-z0-9_.-]{3,32})(?![\w@-])", re.IGNORECASE)
# Distinct names one article may notify: a list of every member is not a mention.
MAX_MENTIONS = 20
# Readers named by one event row: a fan-out of 1,000 is two rows, not 1,000.
FANOUT_TOPICS = 500
# Ids one "mark read" call may name; EVERY, naming none, marks them all.
MAX_IDS = 200
EVERY = object()

SELECT = (
    "SELECT n.*, u.username AS actor_username, u.display_name AS actor_display_name,"
    " t.subject AS thread_subject, g.name AS group_name,"
    # a moderation notice's log entry: what was done to which article, thread or group
    " m.action, m.reason, m.data AS entry_data, m.created_at AS entry_at,"
    " ma.subject AS entry_subject, ma.user_id AS entry_author,"
    " ot.subject AS other_subject, og.name AS other_group"
    " FROM notifications n LEFT JOIN users u ON u.id = n.actor_id"
    " LEFT JOIN threads t ON t.id = n.thread_id LEFT JOIN groups g ON g.id = t.group_id"
    " LEFT JOIN modlog m ON m.id = n.entry_id LEFT JOIN articles ma ON ma.id = m.article_id"
    " LEFT JOIN threads ot ON ot.id = m.other_thread_id LEFT JOIN groups og ON og.id = m.other_group_id"
)
# What a moderator did to the reader's thread, as the notice says it.
THREAD_VERBS = {
    "lock": "locked",
    "unlock": "unlocked",
    "archive": "archived",
    "unarchive": "unarchived",
}
ARTICLE_VERBS = {"approve": "approved", "cancel": "removed", "dismiss": "restored"}


def mentioned(body: str) -> list[str]:
    """The usernames an article body mentions, first appearance first."""
    names = dict.fromkeys(m.group(1).lower().rstrip(".") for m in MENTION.finditer(body))
    return list(names)[:MAX_MENTIONS]


async def on_article(
    conn: Connection, article: dict, actor: User, *, parent_author: int | None, new_thread: bool
) -> dict[str, list[int]]:
    """Notify the readers an article concerns; returns who got which kind."""
    recipients: dict[int, str] = {}
    skip = {actor.id}
    if parent_author is not None and parent_author not in skip:
        recipients[parent_author] = "reply"
    names = mentioned(article["body"])
    if names:
        rows = await fetch_all(
            conn, f"SELECT id FROM users WHERE username IN ({','.join('?' * len(names))})", names
        )
        for row in rows:
            if row["id"] not in skip:
                recipients.setdefault(row["id"], "mention")
    followers = await fetch_all(
        conn, "SELECT user_id FROM follows WHERE thread_id = ?", (article["thread_id"],)
    )
    if new_thread:
        followers += await fetch_all(
            conn,
            "SELECT user_id FROM group_follows f JOIN groups g ON g.id = f.group_id WHERE g.name = ?",
            (article["group"],),
        )
    for row in followers:
        if row[0] not in skip:
            recipients.setdefault(row[0], "follow")
    parent_name = (
        await fetch_value(conn, "SELECT username FROM users WHERE id = ?", (parent_author,))
        if parent_author is not None
        else None
    )
    scored = {
        "author": actor.username,
        "subject": article["subject"],
        "group": article["group"],
        "thread_id": article["thread_id"],
        "parent_author": parent_name,
    }
    await _drop_killed(conn, recipients, scored)
    return await _deliver(conn, recipients, article=article, actor=actor)


async def _drop_killed(conn: Connection, recipients: dict[int, str], scored: dict) -> None:
    """Leave out the readers whose killfile hides this (a muted author tells them nothing)."""
    for uid, rules in (await killfile.rules_of_many(conn, recipients)).items():
        if killfile.score(rules, scored) <= killfile.KILL:
            del recipients[uid]


async def _deliver(
    conn: Connection,
    recipients: dict[int, str],
    *,
    article: dict | None,
    actor: User | None,
    thread_id: int | None = None,
    entry_id: int | None = None,
) -> dict[str, list[int]]:
    if not recipients:
        return {}
    now = clock.now()
    article_id = article["id"] if article else None
    thread_id = article["thread_id"] if article else thread_id
    await conn.executemany(
        "INSERT OR IGNORE INTO notifications (user_id, kind, article_id, thread_id, entry_id, actor_id,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (uid, kind, article_id, thread_id, entry_id, actor.account_id if actor else None, now)
            for uid, kind in recipients.items()
        ],
    )
    # the readers who chose mail for each notification get it in this transaction
    await noticemail.queue_immediate(conn, list(recipients), article_id=article_id, entry_id=entry_id)
    by_kind: dict[str, list[int]] = {}
    for uid, kind in sorted(recipients.items()):
        by_kind.setdefault(kind, []).append(uid)
    for kind, users in by_kind.items():
        for start in range(0, len(users), FANOUT_TOPICS):
            await emit(
                conn,
                "notification.created",
                group=None,
                thread_id=None,
                data={"kind": kind, "article": article, "thread_id": thread_id, "entry_id": entry_id},
                users=users[start : start + FANOUT_TOPICS],
            )
    return by_kind


async def on_moderation(
    conn: Connection, entry_id: int, action: str, actor: User | None, thread_ids: Iterable[int | None]
) -> None:
    """Tell the starters of the threads a logged action touched (not the actor)."""
    if action not in MODERATION_ACTIONS:
        return
    recipients: dict[int, str] = {}
    first_thread = None
    for tid in thread_ids:
        if tid is None:
            continue
        first_thread = first_thread or tid
        author = await fetch_value(
            conn,
            "SELECT a.user_id FROM threads t JOIN articles a ON a.id = t.root_article_id WHERE t.id = ?",
            (tid,),
        )
        if author is not None and (actor is None or author != actor.id):
            recipients.setdefault(author, "moderation")
    if first_thread is not None and actor is not None:
        thread = await fetch_one(
            conn,
            "SELECT t.subject, g.name FROM threads t JOIN groups g ON g.id = t.group_id WHERE t.id = ?",
            (first_thread,),
        )
        if thread is not None:
            await _drop_killed(
                conn,
                recipients,
                {
                    "author": actor.username,
                    "subject": thread["subject"],
                    "group": thread["name"],
                    "thread_id": first_thread,
                    "parent_author": None,
                },
            )
    await _deliver(conn, recipients, article=None, actor=actor, thread_id=first_thread, entry_id=entry_id)


async def on_decision(
    conn: Connection, entry_id: int, user_id: int | None, actor: User | None, thread_id: int | None
) -> None:
    """Tell account `user_id` of the logged decision `entry_id` about their
    own article (hidden after reports, removed, approved or rejected from the
    queue); never the actor, and nobody for an author with no account here."""
    if user_id is None or actor is not None and actor.account_id == user_id:
        return
    await _deliver(
        conn, {user_id: "moderation"}, article=None, actor=actor, thread_id=thread_id, entry_id=entry_id
    )


async def unread_count(conn: Connection, user_id: int) -> int:
    return int(
        await fetch_value(
            conn, "SELECT count(*) FROM notifications WHERE user_id = ? AND read = 0", (user_id,)
        )
    )


def moderation_text(row: Row) -> str:
    """A moderation notice as a sentence: "Marta split your article “…” into a
    new thread “…”" rather than the log's terms."""
    who = row["actor_display_name"] or "The site"
    thread, article = row["thread_subject"] or "", row["entry_subject"] or ""
    action = row["action"]
    if action == "split":
        what = (
            f"your article \u201c{article}\u201d"
            if row["entry_author"] == row["user_id"]
            else f"\u201c{article}\u201d from your thread \u201c{thread}\u201d"
        )
        return f"{who} split {what} into a new thread \u201c{row['other_subject']}\u201d"
    if action == "merge":
        return f"{who} merged your thread \u201c{thread}\u201d into \u201c{row['other_subject']}\u201d"
    if action == "move":
        return f"{who} moved your thread \u201c{thread}\u201d to {row['other_group']}"
    if action in THREAD_VERBS:
        return f"{who} {THREAD_VERBS[action]} your thread \u201c{thread}\u201d"
    if action == "hide":
        return f"Your article \u201c{article}\u201d was hidden after members reported it"
    if action == "reject":
        subject = json.loads(row["entry_data"] or "{}").get("subject", "")
        return f"{who} did not approve your article \u201c{subject}\u201d"
    if action in ARTICLE_VERBS:
        return f"{who} {ARTICLE_VERBS[action]} your article \u201c{article}\u201d"
    return f"{who} acted on your thread \u201c{thread}\u201d ({action})"


def notification_json(row: Row, article: dict | None) -> dict:
    actor = (
        {"username": row["actor_username"], "display_name": row["actor_display_name"]}
        if row["actor_username"]
        else None
    )
    thread = (
        {"id": row["thread_id"], "subject": row["thread_subject"], "group": row["group_name"]}
        if row["thread_subject"] is not None
        else None
    )
    return {
        "id": row["id"],
        "kind": row["kind"],
        "article": article,
        "thread": thread,
        "entry_id": row["entry_id"],
        "actor": actor,
        # moderation notices say what was done, and why
        "text": moderation_text(row) if row["action"] else None,
        "reason": row["reason"] or None,
        # dated by what it tells of: the article, or the log entry
        "created_at": article["created_at"] if article else row["entry_at"] or row["created_at"],
        "read": bool(row["read"]),
    }


async def list_notifications(
    conn: Connection, user_id: int, *, limit: object = None, cursor: object = None
) -> dict:
    """The reader's notifications, newest first: `{notifications, unread, next_cursor}`."""

    limit = validate.limit(limit)
    after = None
    if cursor not in (None, ""):
        try:
            after = validate.integer(cursor, "cursor")
        except Invalid:
            raise Invalid("cursor is not one this server issued") from None
    sql, params = SELECT + " WHERE n.user_id = ?", [user_id]
    if after is not None:
        sql += " AND n.id < ?"
        params.append(after)
    rows, more = keyset.split_page(
        await fetch_all(conn, sql + " ORDER BY n.id DESC LIMIT ?", (*params, limit + 1)), limit
    )
    ids = sorted({r["article_id"] for r in rows if r["article_id"] is not None})
    articles = {}
    if ids:
        found = await fetch_all(conn, ARTICLE_SELECT + f" WHERE a.id IN ({','.join('?' * len(ids))})", ids)
        articles = {r["id"]: article_json(r) for r in found}
    return {
        "notifications": [notification_json(r, articles.get(r["article_id"])) for r in rows],
        "unread": await unread_count(conn, user_id),
        "next_cursor": str(rows[-1]["id"]) if more else None,
    }


async def mark_read(conn: Connection, user_id: int, ids: object = EVERY) -> int:
    """Mark the listed notifications of the reader read (all of them for
    EVERY: a request that names none); returns the count left unread, and
    tells the reader's other pages."""
    if ids is EVERY:
        return await _mark(conn, user_id, None)
    if (
        not isinstance(ids, list)
        or not 1 <= len(ids) <= MAX_IDS
        or any(isinstance(i, bool) or not isinstance(i, int) or not 1 <= i <= validate.ID_MAX for i in ids)
    ):
        raise Invalid(f"ids must be a list of 1 to {MAX_IDS} notification ids")
    return await _mark(conn, user_id, ids)


async def _mark(conn: Connection, user_id: int, ids: list[int] | None) -> int:
    sql = "UPDATE notifications SET read = 1 WHERE user_id = ? AND read = 0"
    params: list[object] = [user_id]
    if ids is not None:
        sql += " AND id IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(ids))
    cur = await conn.execute(sql, params)
    left = await unread_count(conn, user_id)
    if cur.rowcount:
        await emit(
            conn, "notification.read", group=None, thread_id=None, data={"unread": left}, users=(user_id,)
        )
    return left


async def notified_among(conn: Connection, user_id: int, article_ids: list[int]) -> list[int]:
    """Those of the articles that the reader has an unread notification about."""
    rows = await fetch_all(
        conn,
        "SELECT article_id FROM notifications WHERE user_id = ? AND entry_id IS NULL"
        " AND article_id IN (SELECT value FROM json_each(?)) AND read = 0",
        (user_id, json.dumps(article_ids)),
    )
    return [r[0] for r in rows]


async def read_articles(conn: Connection, user_id: int, group_id: int, numbers: Ranges) -> None:
    """Reading articles (these numbers of a group) reads the reader's
    notifications that point to them; their open pages hear the new count."""
    rows = await fetch_all(
        conn,
        "SELECT n.id, a.number FROM notifications n JOIN articles a ON a.id = n.article_id"
        " WHERE n.user_id = ? AND n.entry_id IS NULL AND n.read = 0 AND a.group_id = ?",
        (user_id, group_id),
    )
    ids = [r["id"] for r in rows if newsrc.contains(numbers, r["number"])]
    if ids:
        await _mark(conn, user_id, ids)


# The notification feed's secret URL: 32 random bytes, only their hash kept.


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


async def new_feed_key(conn: Connection, user_id: int) -> str:
    """A new secret for the reader's feed URL; any earlier one stops working."""
    key = secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO feed_keys (user_id, key_hash, created_at) VALUES (?, ?, ?)"
        " ON CONFLICT (user_id) DO UPDATE SET key_hash = excluded.key_hash,"
        " created_at = excluded.created_at",
        (user_id, _key_hash(key), clock.now()),
    )
    return key


async def revoke_feed_key(conn: Connection, user_id: int) -> bool:
    cur = await conn.execute("DELETE FROM feed_keys WHERE user_id = ?", (user_id,))
    return cur.rowcount > 0


async def has_feed_key(conn: Connection, user_id: int) -> bool:
    return await fetch_value(conn, "SELECT 1 FROM feed_keys WHERE user_id = ?", (user_id,)) is not None


async def feed_owner(conn: Connection, key: object) -> Row:
    """The user whose feed `key` opens; NotFound for anything else (same answer
    for a revoked, replaced, malformed or never-issued key)."""
    if not isinstance(key, str) or not 20 <= len(key) <= 100:
        raise NotFound("no such feed")
    row = await fetch_one(
        conn,
        "SELECT u.* FROM feed_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = ?",
        (_key_hash(key),),
    )
    if row is None:
        raise NotFound("no such feed")
    return row

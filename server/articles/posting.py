"""Posting and withdrawing articles: every write that adds or cancels an
article goes through these functions, inside the caller's transaction, so
numbers, counters, the search index and the outbox event change together.

Two records cross into here from every channel: a member's Submission (the
web, NNTP POST, a member's mail), handed to `submit`, which checks it; and a
NewArticle that needs no account here (an article from a news peer, a
stranger's mail a moderator approved, a moderation notice), handed to
`place_arrival` or `insert_article`. An Author names who wrote either."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from dataclasses import dataclass

from aiosqlite import Connection

from ..mail import mailqueue
from ..news import peers
from ..people import follows, notifications
from ..stewardship import modlog
from ..stewardship.permissions import User, can, may_cancel, may_post_in, require
from ..store import clock, validate
from ..store.db import fetch_all, fetch_one, fetch_value
from ..store.errors import Archived, Conflict, Forbidden, Locked
from ..store.events import emit
from . import tree
from .groups import get_group_row
from .reading import ARTICLE_SELECT, PARENT_SELECT, article_json, article_row, thread_json, thread_row
from .subjects import child_references, reply_subject

# The id the next article takes: past every id ever used, deleted rows included.
# AUTOINCREMENT keeps sqlite_sequence at or above every id inserted, explicit ones too.
NEXT_ARTICLE_ID = "(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'articles'), 0) + 1)"

# An article's words in the search index, and out of it (FTS5 external content:
# a delete names the words the row was indexed with).
INDEX = "INSERT INTO articles_fts (rowid, subject, body, author_name) VALUES (?, ?, ?, ?)"
UNINDEX = (
    "INSERT INTO articles_fts (articles_fts, rowid, subject, body, author_name) VALUES ('delete', ?, ?, ?, ?)"
)

CANCEL_NOTICE_AUTHOR = "[This article was withdrawn by its author.]"
CANCEL_NOTICE_MODERATOR = "[This article was withdrawn by a moderator.]"


@dataclass(frozen=True)
class Author:
    """Who wrote an article, as every channel names them: an account of this
    site (`user_id`), or someone known here only by a name and an address (mail
    from a stranger, an article from a news peer, an imported message)."""

    name: str
    user_id: int | None = None
    address: str | None = None

    @classmethod
    def of(cls, user: User) -> Author:
        """The author an account (or another node's moderator, who has none here) writes as."""
        return cls(user.display_name, user.account_id)


@dataclass(frozen=True)
class NewArticle:
    """An article as it enters the store: checked text, its author, its
    Message-ID and date, and the References it came with (kept by a thread's
    root; a reply's follow from its parent). A `notice` status marks a
    moderation notice, which stays out of the search index."""

    subject: str
    body: str
    author: Author
    message_id: str
    created_at: str
    references: str = ""
    status: str = "ok"
    notice: dict | None = None


@dataclass(frozen=True, kw_only=True)
class Submission:
    """What a member sends to be posted, from any channel: a new thread in
    `group`, or a reply to `parent` (an id or a Message-ID). A reply's subject
    defaults to its parent's with "Re:"; `message_id` is the one a news or mail
    client chose (kept if well formed and unused); `continued_from` names the
    archived thread a new one follows up. Fields are untrusted until `submit`."""

    body: object
    subject: object = None
    group: object = None
    parent: object = None
    message_id: str | None = None
    continued_from: object = None


def new_message_id(domain: str) -> str:
    """A fresh `<unique@domain>`: time in base 36 plus 64 random bits."""
    stamp = _base36(time.time_ns() // 1000)
    return f"<{stamp}.{secrets.token_hex(8)}@{domain}>"


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, d = divmod(n, 36)
        out = digits[d] + out
    return out or "0"


def _check_group_accepts(status: str, name: str, user: User) -> None:
    if may_post_in(user, status):
        return
    if status == "m":
        raise Forbidden(f"{name} is moderated: only moderators post there")
    raise Forbidden(f"{name} is read-only")


def _check_thread_accepts(state: str, thread_id: int, group_name: str, user: User) -> None:
    if state == "archived":
        raise Archived(
            "this thread is archived; start a follow-up thread that continues it",
            follow_up={"group": group_name, "continued_from": thread_id},
        )
    if state == "locked" and not can(user, "moderate"):
        raise Locked("this thread is locked")


async def chosen_message_id(conn: Connection, domain: str, message_id: str | None) -> str:
    """`message_id` when given (well formed and never used here), else a fresh one.
    Raises Invalid for a malformed one and Conflict for one already taken."""
    if message_id is None:
        return new_message_id(domain)
    message_id = validate.message_id(message_id)
    if await fetch_value(conn, "SELECT 1 FROM articles WHERE message_id = ?", (message_id,)):
        raise Conflict(f"the Message-ID {message_id} is already in use")
    return message_id


# What placing a follow-up under an article needs of it (insert_article, tree.anchor),
# for articles that arrive without an account here (news peers, held mail).
PLACE_SELECT = (
    "SELECT a.id, a.parent_id, a.depth, a.seq, a.thread_id, a.group_id, a.refs, a.message_id FROM articles a"
)


async def insert_article(
    conn: Connection,
    article: NewArticle,
    *,
    group_id: int,
    thread_id: int,
    parent: sqlite3.Row | None,
    seq: int | None = None,
) -> dict:
    """Insert one article row, give it the group's next number, index it for
    search, and bump thread and group counters. Returns the new row as a dict
    with the columns articles has (article_json needs `group_name` and
    `username` added). `parent` is the parent's row (None for a root, which
    keeps the article's own References; a reply goes after its parent's
    sub-tree and its References follow from the parent's); `seq` overrides the order key."""
    # Ids and numbers are taken inside the write transaction, so they are
    # unique and grow in commit order; one statement bumps the group's number
    # high-water mark and counters and reads the next article id.
    number, article_id = (
        await fetch_all(
            conn,
            "UPDATE groups SET last_number = last_number + 1, article_count = article_count + 1,"
            " last_article_at = max(coalesce(last_article_at, ''), ?) WHERE id = ?"
            " RETURNING last_number, " + NEXT_ARTICLE_ID,
            (article.created_at, group_id),
        )
    )[0]
    if seq is None:
        seq = (await tree.last_child_keys(conn, parent))[0] if parent is not None else tree.STEP
    row = {
        "id": article_id,
        "message_id": article.message_id,
        "thread_id": thread_id,
        "group_id": group_id,
        "number": number,
        "parent_id": parent["id"] if parent is not None else None,
        "depth": parent["depth"] + 1 if parent is not None else 0,
        "seq": seq,
        "refs": child_references(parent["refs"], parent["message_id"]) if parent else article.references,
        "subject": article.subject,
        "body": article.body,
        "user_id": article.author.user_id,
        "author_name": article.author.name,
        "author_addr": article.author.address,
        "created_at": article.created_at,
        "status": article.status,
        "notice": json.dumps(article.notice) if article.notice is not None else None,
        "utc_offset": 0,
    }
    await conn.execute(
        f"INSERT INTO articles ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values())
    )
    if article.status == "ok":
        await conn.execute(INDEX, (article_id, article.subject, article.body, article.author.name))
    await conn.execute(
        "UPDATE threads SET article_count = article_count + 1,"
        " last_article_at = max(last_article_at, ?) WHERE id = ?",
        (article.created_at, thread_id),
    )
    return row


async def create_thread_row(
    conn: Connection, group_id: int, subject: str, created_at: str, **provenance: object
) -> int:
    cols = ", ".join(["group_id", "subject", "created_at", "last_article_at", *provenance])
    marks = ", ".join("?" * (4 + len(provenance)))
    cur = await conn.execute(
        f"INSERT INTO threads ({cols}) VALUES ({marks})",
        (group_id, subject, created_at, created_at, *provenance.values()),
    )
    await conn.execute("UPDATE groups SET thread_count = thread_count + 1 WHERE id = ?", (group_id,))
    assert cur.lastrowid is not None  # set by the INSERT just run
    return cur.lastrowid


async def place_arrival(
    conn: Connection, group: sqlite3.Row, parent: sqlite3.Row | None, article: NewArticle
) -> tuple[dict, dict]:
    """Store an article that came with no account here (from a news peer, or
    mail a moderator approved): under `parent` (a PLACE_SELECT row), or with
    none as a new thread keeping the article's own References; emits
    thread.created or article.created. Returns (the row, its article JSON)."""
    if parent is None:
        thread_id = await create_thread_row(conn, group["id"], article.subject, article.created_at)
    else:
        thread_id = parent["thread_id"]
    row = await insert_article(conn, article, group_id=group["id"], thread_id=thread_id, parent=parent)
    shown = article_json({**row, "group_name": group["name"], "username": None})
    if parent is None:
        await conn.execute("UPDATE threads SET root_article_id = ? WHERE id = ?", (row["id"], thread_id))
        thread = thread_json(await thread_row(conn, thread_id))
        data: dict = {"thread": thread, "article": shown}
        await emit(conn, "thread.created", group=group["name"], thread_id=thread_id, data=data)
    else:
        await emit(conn, "article.created", group=group["name"], thread_id=thread_id, data=shown)
    return row, shown


async def submit(conn: Connection, domain: str, user: User | None, submission: Submission) -> dict:
    """Post a member's submission: `{article}` for a reply, `{thread, article}`
    for a new thread. Every channel's members post through here: the checks
    (permission, group status, thread state, text limits, the Message-ID)
    are the same whichever channel it came by."""
    user = require(user, "post")
    if submission.parent is None:
        return await _start_thread(conn, domain, user, submission)
    return {"article": await _reply(conn, domain, user, submission)}


async def _start_thread(conn: Connection, domain: str, user: User, submission: Submission) -> dict:
    """A new thread: `{thread, article}`. A thread that continues an archived
    one (the archived thread's 409 points here) says so in its provenance."""
    group = await get_group_row(conn, submission.group)
    subject, body = validate.subject(submission.subject), validate.body(submission.body)
    _check_group_accepts(group["status"], group["name"], user)
    provenance = {}
    if submission.continued_from is not None:
        earlier = await thread_row(conn, submission.continued_from)
        provenance["continued_from_thread_id"] = earlier["id"]
    message_id = await chosen_message_id(conn, domain, submission.message_id)
    now = clock.now()
    thread_id = await create_thread_row(conn, group["id"], subject, now, **provenance)
    new = NewArticle(subject, body, Author.of(user), message_id, now)
    row = await insert_article(conn, new, group_id=group["id"], thread_id=thread_id, parent=None)
    article_id = row["id"]
    await mailqueue.queue_article(conn, row)  # the group's mail subscribers, in this transaction
    await conn.execute("UPDATE threads SET root_article_id = ? WHERE id = ?", (article_id, thread_id))
    await follows.follow(conn, user.id, thread_id)
    thread = thread_json(await thread_row(conn, thread_id))
    article = article_json(await article_row(conn, article_id))
    await emit(
        conn,
        "thread.created",
        group=group["name"],
        thread_id=thread_id,
        data={"thread": thread, "article": article},
    )
    await notifications.on_article(conn, article, user, parent_author=None, new_thread=True)
    await peers.queue_article(conn, article)
    return {"thread": thread, "article": article}


async def _reply(conn: Connection, domain: str, user: User, submission: Submission) -> dict:
    """A reply, which joins its parent's thread and group. Under an article at
    the deepest level (tree.MAX_DEPTH) it becomes a reply to that article's
    parent instead (tree.anchor)."""
    parent = await article_row(conn, submission.parent, PARENT_SELECT)
    body = validate.body(submission.body)
    subject = (
        validate.subject(submission.subject)
        if submission.subject not in (None, "")
        else reply_subject(parent["subject"])
    )
    parent = await tree.anchor(conn, parent, PARENT_SELECT)
    _check_thread_accepts(parent["thread_state"], parent["thread_id"], parent["group_name"], user)
    _check_group_accepts(parent["group_status"], parent["group_name"], user)
    message_id = await chosen_message_id(conn, domain, submission.message_id)
    new = NewArticle(subject, body, Author.of(user), message_id, clock.now())
    row = await insert_article(
        conn, new, group_id=parent["group_id"], thread_id=parent["thread_id"], parent=parent
    )
    await mailqueue.queue_article(conn, row)  # the group's mail subscribers, in this transaction
    article = article_json({**row, "group_name": parent["group_name"], "username": user.username})
    await emit(
        conn, "article.created", group=parent["group_name"], thread_id=parent["thread_id"], data=article
    )
    await notifications.on_article(conn, article, user, parent_author=parent["user_id"], new_thread=False)
    await follows.follow(conn, user.id, parent["thread_id"])  # posting in a thread follows it
    await peers.queue_article(conn, article)
    return article


async def cancel(conn: Connection, user: User | None, article_ref: object, reason: object = None) -> dict:
    """Withdraw an article: it keeps its place in the tree, its text is
    replaced by a notice and leaves the search index. Cancelling twice is a no-op."""
    row = await article_row(conn, article_ref)
    user = may_cancel(user, row["user_id"])
    reason = validate.reason(reason, required=False)
    if row["status"] != "ok":
        if row["status"] == "notice":
            raise Forbidden("moderation notices are undone through the moderation log")
        return article_json(row)
    by_moderator = row["user_id"] != user.id
    notice = CANCEL_NOTICE_MODERATOR if by_moderator else CANCEL_NOTICE_AUTHOR
    await withdraw(conn, row, notice)
    if by_moderator:
        await modlog.write(
            conn,
            modlog.Entry.on_article("cancel", user, row, reason=reason),
        )
    cancelled = await fetch_one(conn, ARTICLE_SELECT + " WHERE a.id = ?", (row["id"],))
    assert cancelled is not None  # the row just updated, in this transaction
    article = article_json(cancelled)
    await emit(conn, "article.cancelled", group=row["group_name"], thread_id=row["thread_id"], data=article)
    await peers.queue_cancel(conn, article)
    return article


async def withdraw(conn: Connection, row: sqlite3.Row, notice: str) -> None:
    """The change a withdrawal makes to an article (its row as stored), whoever
    asked: the text replaced by `notice`, its words out of the search index,
    and the texts an edit replaced gone with them."""
    await conn.execute(UNINDEX, (row["id"], row["subject"], row["body"], row["author_name"]))
    await conn.execute("UPDATE articles SET status = 'cancelled', body = ? WHERE id = ?", (notice, row["id"]))
    await conn.execute("DELETE FROM article_versions WHERE article_id = ?", (row["id"],))


async def next_article_id(conn: Connection) -> int:
    """The id the next article will get (the writer holds the lock, so it stays free)."""
    return await fetch_value(conn, "SELECT " + NEXT_ARTICLE_ID)


async def create_thread_rows(conn: Connection, group_id: int, rows: list[dict]) -> list[int]:
    """create_thread_row for many threads at once: each row has `subject`,
    `created_at` and `root_article_id`. Returns the new ids, in order."""
    if not rows:
        return []
    first = await fetch_value(conn, "SELECT COALESCE(MAX(id), 0) + 1 FROM threads")
    ids = list(range(first, first + len(rows)))
    await conn.executemany(
        "INSERT INTO threads (id, group_id, subject, created_at, last_article_at, root_article_id)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (tid, group_id, r["subject"], r["created_at"], r["created_at"], r["root_article_id"])
            for tid, r in zip(ids, rows, strict=False)
        ],
    )
    await conn.execute(
        "UPDATE groups SET thread_count = thread_count + ? WHERE id = ?", (len(rows), group_id)
    )
    return ids


async def insert_articles(conn: Connection, group_id: int, rows: list[dict]) -> None:
    """insert_article for many rows of one group at once, with one statement
    per kind of change (batched full-text inserts from the application are
    about 4x faster than one at a time). Each row carries the keys of
    insert_article plus its own `id` (from next_article_id, consecutive),
    `parent_id`, `depth` and `seq` (and may carry `status` and `notice`);
    parents come before their children."""
    if not rows:
        return
    last = await fetch_value(
        conn,
        "UPDATE groups SET last_number = last_number + ? WHERE id = ? RETURNING last_number",
        (len(rows), group_id),
    )
    first = last - len(rows) + 1
    await conn.executemany(
        "INSERT INTO articles (id, message_id, thread_id, group_id, number, parent_id, depth, seq,"
        " refs, subject, body, user_id, author_name, author_addr, created_at, status, notice, utc_offset)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                r["id"],
                r["message_id"],
                r["thread_id"],
                group_id,
                first + i,
                r["parent_id"],
                r["depth"],
                r["seq"],
                r.get("refs", ""),
                r["subject"],
                r["body"],
                r.get("user_id"),
                r["author_name"],
                r.get("author_addr"),
                r["created_at"],
                r.get("status", "ok"),
                json.dumps(r["notice"]) if r.get("notice") is not None else None,
                r.get("utc_offset", 0),
            )
            for i, r in enumerate(rows)
        ],
    )
    await conn.executemany(
        INDEX,
        [(r["id"], r["subject"], r["body"], r["author_name"]) for r in rows if r.get("status", "ok") == "ok"],
    )
    threads: dict[int, list] = {}
    for r in rows:
        entry = threads.setdefault(r["thread_id"], [0, ""])
        entry[0] += 1
        entry[1] = max(entry[1], r["created_at"])
    await conn.executemany(
        "UPDATE threads SET article_count = article_count + ?,"
        " last_article_at = max(last_article_at, ?) WHERE id = ?",
        [(count, latest, tid) for tid, (count, latest) in threads.items()],
    )
    await conn.execute(
        "UPDATE groups SET article_count = article_count + ?,"
        " last_article_at = max(coalesce(last_article_at, ''), ?) WHERE id = ?",
        (len(rows), max(r["created_at"] for r in rows), group_id),
    )

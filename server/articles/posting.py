"""Posting and withdrawing articles: every write that adds or cancels an
article goes through these functions, inside the caller's transaction, so
numbers, counters, the search index and the outbox event change together."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time

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

CANCEL_NOTICE_AUTHOR = "[This article was withdrawn by its author.]"
CANCEL_NOTICE_MODERATOR = "[This article was withdrawn by a moderator.]"


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
    *,
    group_id: int,
    thread_id: int,
    parent: sqlite3.Row | None,
    subject: str,
    body: str,
    author_name: str,
    user_id: int | None,
    author_addr: str | None = None,
    message_id: str,
    created_at: str,
    refs: str = "",
    status: str = "ok",
    notice: dict | None = None,
    seq: int | None = None,
) -> dict:
    """Insert one article row, give it the group's next number, index it for
    search, and bump thread and group counters. Returns the new row as a dict
    with the columns articles has (article_json needs `group_name` and
    `username` added). `parent` is the parent's row (None for a root; a
    reply goes after its parent's sub-tree); `seq` overrides the order key."""
    # Ids and numbers are taken inside the write transaction, so they are
    # unique and grow in commit order; one statement bumps the group's number
    # high-water mark and counters and reads the next article id.
    number, article_id = (
        await fetch_all(
            conn,
            "UPDATE groups SET last_number = last_number + 1, article_count = article_count + 1,"
            " last_article_at = max(coalesce(last_article_at, ''), ?) WHERE id = ?"
            " RETURNING last_number, " + NEXT_ARTICLE_ID,
            (created_at, group_id),
        )
    )[0]
    if seq is None:
        seq = (await tree.last_child_keys(conn, parent))[0] if parent is not None else tree.STEP
    row = {
        "id": article_id,
        "message_id": message_id,
        "thread_id": thread_id,
        "group_id": group_id,
        "number": number,
        "parent_id": parent["id"] if parent is not None else None,
        "depth": parent["depth"] + 1 if parent is not None else 0,
        "seq": seq,
        "refs": refs,
        "subject": subject,
        "body": body,
        "user_id": user_id,
        "author_name": author_name,
        "author_addr": author_addr,
        "created_at": created_at,
        "status": status,
        "notice": json.dumps(notice) if notice is not None else None,
        "utc_offset": 0,
    }
    await conn.execute(
        f"INSERT INTO articles ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values())
    )
    if status == "ok":
        await conn.execute(
            "INSERT INTO articles_fts (rowid, subject, body, author_name) VALUES (?, ?, ?, ?)",
            (article_id, subject, body, author_name),
        )
    await conn.execute(
        "UPDATE threads SET article_count = article_count + 1,"
        " last_article_at = max(last_article_at, ?) WHERE id = ?",
        (created_at, thread_id),
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
    conn: Connection,
    group: sqlite3.Row,
    parent: sqlite3.Row | None,
    *,
    subject: str,
    body: str,
    author_name: str,
    author_addr: str | None,
    message_id: str,
    created_at: str,
    references: str,
) -> tuple[dict, dict]:
    """Store an article that came with no account here (from a news peer, or
    mail a moderator approved): under `parent` (a PLACE_SELECT row), or with
    none as a new thread keeping the article's own `references`; emits
    thread.created or article.created. Returns (the row, its article JSON)."""
    if parent is None:
        thread_id = await create_thread_row(conn, group["id"], subject, created_at)
        refs = references
    else:
        thread_id = parent["thread_id"]
        refs = child_references(parent["refs"], parent["message_id"])
    row = await insert_article(
        conn,
        group_id=group["id"],
        thread_id=thread_id,
        parent=parent,
        subject=subject,
        body=body,
        author_name=author_name,
        user_id=None,
        author_addr=author_addr,
        message_id=message_id,
        created_at=created_at,
        refs=refs,
    )
    article = article_json({**row, "group_name": group["name"], "username": None})
    if parent is None:
        await conn.execute("UPDATE threads SET root_article_id = ? WHERE id = ?", (row["id"], thread_id))
        thread = thread_json(await thread_row(conn, thread_id))
        data: dict = {"thread": thread, "article": article}
        await emit(conn, "thread.created", group=group["name"], thread_id=thread_id, data=data)
    else:
        await emit(conn, "article.created", group=group["name"], thread_id=thread_id, data=article)
    return row, article


async def start_thread(
    conn: Connection,
    domain: str,
    user: User | None,
    group_name: object,
    subject: object,
    body: object,
    continued_from: object = None,
    *,
    message_id: str | None = None,
) -> dict:
    """Start a thread: `{thread, article}`. `continued_from` names an archived
    thread this one follows up (the archived thread's 409 points here);
    `message_id` is a client's own (news posting), kept if well formed and unused."""
    user = require(user, "post")
    group = await get_group_row(conn, group_name)
    subject, body = validate.subject(subject), validate.body(body)
    _check_group_accepts(group["status"], group["name"], user)
    provenance = {}
    if continued_from is not None:
        earlier = await thread_row(conn, continued_from)
        provenance["continued_from_thread_id"] = earlier["id"]
    message_id = await chosen_message_id(conn, domain, message_id)
    now = clock.now()
    thread_id = await create_thread_row(conn, group["id"], subject, now, **provenance)
    row = await insert_article(
        conn,
        group_id=group["id"],
        thread_id=thread_id,
        parent=None,
        subject=subject,
        body=body,
        author_name=user.display_name,
        user_id=user.id,
        message_id=message_id,
        created_at=now,
    )
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


async def reply(
    conn: Connection,
    domain: str,
    user: User | None,
    parent_ref: object,
    body: object,
    subject: object = None,
    *,
    message_id: str | None = None,
) -> dict:
    """Reply to an article; the reply joins the parent's thread and group.
    Under an article at the deepest level (tree.MAX_DEPTH) it becomes a
    reply to that article's parent instead (tree.anchor). `message_id` is a client's own
    (news posting), kept if well formed and unused."""
    user = require(user, "post")
    parent = await article_row(conn, parent_ref, PARENT_SELECT)
    body = validate.body(body)
    subject = validate.subject(subject) if subject not in (None, "") else reply_subject(parent["subject"])
    parent = await tree.anchor(conn, parent, PARENT_SELECT)
    _check_thread_accepts(parent["thread_state"], parent["thread_id"], parent["group_name"], user)
    _check_group_accepts(parent["group_status"], parent["group_name"], user)
    message_id = await chosen_message_id(conn, domain, message_id)
    row = await insert_article(
        conn,
        group_id=parent["group_id"],
        thread_id=parent["thread_id"],
        parent=parent,
        subject=subject,
        body=body,
        author_name=user.display_name,
        user_id=user.id,
        message_id=message_id,
        created_at=clock.now(),
        refs=child_references(parent["refs"], parent["message_id"]),
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
    await conn.execute(
        "INSERT INTO articles_fts (articles_fts, rowid, subject, body, author_name)"
        " VALUES ('delete', ?, ?, ?, ?)",
        (row["id"], row["subject"], row["body"], row["author_name"]),
    )
    await conn.execute("UPDATE articles SET status = 'cancelled', body = ? WHERE id = ?", (notice, row["id"]))
    # withdrawn means its words are gone: the texts an edit replaced go too
    await conn.execute("DELETE FROM article_versions WHERE article_id = ?", (row["id"],))
    if by_moderator:
        await modlog.write(
            conn,
            "cancel",
            user,
            group_id=row["group_id"],
            thread_id=row["thread_id"],
            article_id=row["id"],
            target=row["message_id"],
            reason=reason,
        )
    cancelled = await fetch_one(conn, ARTICLE_SELECT + " WHERE a.id = ?", (row["id"],))
    assert cancelled is not None  # the row just updated, in this transaction
    article = article_json(cancelled)
    await emit(conn, "article.cancelled", group=row["group_name"], thread_id=row["thread_id"], data=article)
    await peers.queue_cancel(conn, article)
    return article


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
        "INSERT INTO articles_fts (rowid, subject, body, author_name) VALUES (?, ?, ?, ?)",
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

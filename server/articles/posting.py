"""Posting and withdrawing articles: every write that adds or cancels an
article goes through these functions, inside the caller's transaction, so
numbers, counters, the search index and the outbox event change together.

Two records cross into here from every channel: a member's Submission (the
web, NNTP POST, a member's mail), handed to `submit`, which checks it and
publishes it or, in a moderated group, holds it for the moderators
(server/articles/held.py); and a NewArticle that needs no account here (an
article from a news peer, a stranger's mail a moderator approved, a
moderation notice), handed to `place_arrival` or `insert_article`. An Author
(server/articles/authors.py) names who wrote either.

An article is in one of four states: visible ('ok'), held (not an article
yet: a queue row), hidden (published, then hidden pending review: kept
whole, out of the search index, NNTP and feeds) or removed ('cancelled': the
text replaced by a notice; a moderator's removal keeps the text aside in
`removed_texts`, so undoing it from the log restores the article).
docs/MODERATION.md says what each channel shows in each state."""

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
from ..stewardship import modlog, trust
from ..stewardship.permissions import User, may_cancel, may_post_in, moderates, require, shown_time
from ..stewardship.spam import Verdict, judge
from ..store import clock, validate
from ..store.db import fetch_all, fetch_one, fetch_value
from ..store.errors import Archived, Banned, Conflict, Forbidden, Invalid, Locked
from ..store.events import emit
from . import held, indexing, repetition, tree
from .authors import CHANNELS, Author, ban_of
from .groups import get_group_row
from .reading import ARTICLE_SELECT, PARENT_SELECT, article_json, article_row, thread_json, thread_row
from .subjects import child_references, reply_subject

# The id the next article takes: past every id ever used, deleted rows included.
# AUTOINCREMENT keeps sqlite_sequence at or above every id inserted, explicit ones too.
NEXT_ARTICLE_ID = "(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'articles'), 0) + 1)"

CANCEL_NOTICE_AUTHOR = "[This article was withdrawn by its author.]"
CANCEL_NOTICE_MODERATOR = "[This article was withdrawn by a moderator.]"

__all__ = ["Author"]  # the record every channel fills, kept in .authors


@dataclass(frozen=True)
class NewArticle:
    """An article as it enters the store: checked text, its author, its
    Message-ID and date, and the References it came with (kept by a thread's
    root; a reply's follow from its parent). A `notice` status marks a
    moderation notice, which stays out of the search index. `approved` is the
    Approved header of an article in a moderated group: who approved it."""

    subject: str
    body: str
    author: Author
    message_id: str
    created_at: str
    references: str = ""
    status: str = "ok"
    notice: dict | None = None
    approved: str | None = None
    channel: str | None = None


@dataclass(frozen=True, kw_only=True)
class Submission:
    """What a member sends to be posted, from any channel: a new thread in
    `group`, or a reply to `parent` (an id or a Message-ID). A reply's subject
    defaults to its parent's with "Re:"; `message_id` is the one a news or mail
    client chose (kept if well formed and unused); `continued_from` names the
    archived thread a new one follows up; `channel` is the way it came
    (authors.CHANNELS); `spam` is spamd's verdict on it, asked before the
    write transaction (stewardship/spam.py; None: scoring is off). Fields are
    untrusted until `submit`."""

    body: object
    subject: object = None
    group: object = None
    parent: object = None
    message_id: str | None = None
    continued_from: object = None
    channel: str = "api"
    spam: Verdict | None = None


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


def _check_group_accepts(status: str, name: str, user: User) -> bool:
    """Whether `user`'s article appears in the group at once (True) or waits
    for its moderators (False, a moderated group); Forbidden if neither."""
    if not may_post_in(user, status):
        raise Forbidden(f"{name} is read-only")
    return status == "y" or moderates(user, name)


def _check_thread_accepts(state: str, thread_id: int, group_name: str, user: User) -> None:
    if state == "archived":
        raise Archived(
            "this thread is archived; start a follow-up thread that continues it",
            follow_up={"group": group_name, "continued_from": thread_id},
        )
    if state == "locked" and not moderates(user, group_name):
        raise Locked("this thread is locked")


async def chosen_message_id(conn: Connection, domain: str, message_id: str | None) -> str:
    """`message_id` when given (well formed, of no form this server reserves for
    its own control articles, and never used here), else a fresh one. Raises
    Invalid for a malformed or reserved one and Conflict for one already taken."""
    if message_id is None:
        return new_message_id(domain)
    message_id = validate.chosen_message_id(message_id)
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
    sub-tree and its References follow from the parent's); `seq` overrides the order key.
    Its words join the search index in the writer's next drain (articles/indexing.py)."""
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
        "approved": article.approved,
        "channel": article.channel,
    }
    await conn.execute(
        f"INSERT INTO articles ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values())
    )
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


async def submit(
    conn: Connection,
    domain: str,
    user: User | None,
    submission: Submission,
    rules: trust.Rules | None = None,
    *,
    repeat: repetition.Rules | None = None,
) -> dict:
    """Post a member's submission: `{article}` for a reply, `{thread, article}`
    for a new thread, or `{held}` (the queue item, held.held_json's shape)
    when it waits for the moderators: of a moderated group; as spam (spamd's
    verdict, stewardship/spam.py: Spam when refused); because it repeats
    what was posted to other groups (`repeat`: the site's repetition rules,
    None for no such check; server/articles/repetition.py); or (why 'new') of
    a group reviewing new accounts' posts when `user` is new by the site's
    trust `rules` (the defaults when None). Every channel's members post
    through here: the checks (permission, group status, thread state, text
    limits, a new account's links, the Message-ID) are the same whichever
    channel it came by."""
    rules = rules or trust.Rules()
    user = require(user, "post")
    if submission.channel not in CHANNELS:
        raise ValueError(f"unknown channel {submission.channel!r}")
    if submission.parent is None:
        group: dict = dict(await get_group_row(conn, submission.group))
        subject, body = validate.subject(submission.subject), validate.body(submission.body)
        at_once = _check_group_accepts(group["status"], group["name"], user)
        continued_from = None
        if submission.continued_from is not None:
            continued_from = (await continued_thread(conn, submission.continued_from))["id"]
        parent = None
    else:
        parent = await article_row(conn, submission.parent, PARENT_SELECT)
        body = validate.body(submission.body)
        subject = (
            validate.subject(submission.subject)
            if submission.subject not in (None, "")
            else reply_subject(parent["subject"])
        )
        parent = await tree.anchor(conn, parent, PARENT_SELECT)
        _check_thread_accepts(parent["thread_state"], parent["thread_id"], parent["group_name"], user)
        at_once = _check_group_accepts(parent["group_status"], parent["group_name"], user)
        group = {"id": parent["group_id"], "name": parent["group_name"], "status": parent["group_status"]}
        continued_from = None
    await check_not_banned(conn, group, Author.of(user))
    # The group's own moderators, as the site's, are held by no rule for new accounts or repetition.
    screened = not moderates(user, group["name"])
    if screened:
        trust.check_links(user, rules, body)
    message_id = await chosen_message_id(conn, domain, submission.message_id)
    verdict = submission.spam
    as_spam = judge(verdict, user)  # raises Spam when refused
    if as_spam and verdict is not None and verdict.score is not None:
        await trust.freeze(conn, user.account_id)
    repeated = await repetition.screen(conn, repeat, user, group["id"], body) if screened else None
    why = "spam" if as_spam else repeated or (None if at_once else "moderated")
    if (
        why is None
        and screened
        and trust.held_as_new(user, rules)
        and await trust.reviews_new(conn, group["id"])
    ):
        why = "new"
    if why is not None:
        item_id = await held.hold(
            conn,
            held.Held(
                group_id=group["id"],
                why=why,
                spam_score=verdict.score if as_spam and verdict is not None else None,
                spam_rules=verdict.rules_text if as_spam and verdict is not None else "",
                channel=submission.channel,
                message_id=message_id,
                author=Author.of(user),
                subject=subject,
                body=body,
                parent_id=parent["id"] if parent is not None else None,
                continued_from=continued_from,
            ),
        )
        return {"held": await held.item(conn, item_id)}
    approved = user.display_name if group["status"] == "m" else None
    new = NewArticle(
        subject, body, Author.of(user), message_id, clock.now(), approved=approved, channel=submission.channel
    )
    return await publish(conn, group, parent, new, user, continued_from=continued_from, counted=rules.counted)


async def continued_thread(conn: Connection, thread_ref: object) -> sqlite3.Row:
    """The archived thread `thread_ref` names, which a new thread may continue:
    NotFound for no such thread, Invalid for one that is not archived (it
    takes replies, or a moderator's unlock, instead)."""
    thread = await thread_row(conn, thread_ref)
    if thread["state"] != "archived":
        raise Invalid("continued_from must name an archived thread; this one is open for replies or locked")
    return thread


async def check_not_banned(conn: Connection, group: sqlite3.Row | dict, author: Author) -> None:
    """Raise Banned when a ban from `group` is in force against `author`."""
    ban = await ban_of(conn, group["id"], author)
    if ban is not None:
        raise Banned(
            f"you are banned from {group['name']} until {shown_time(ban['until'])}: {ban['reason']}",
            until=ban["until"],
            reason=ban["reason"],
            group=group["name"],
        )


async def publish(
    conn: Connection,
    group: sqlite3.Row | dict,
    parent: sqlite3.Row | None,
    new: NewArticle,
    user: User,
    *,
    continued_from: int | None = None,
    counted: int | None = None,
) -> dict:
    """Store an account's article that has passed every check (or a
    moderator's approval): a new thread in `group` ({id, name}) when `parent`
    (a PARENT_SELECT row, anchored) is None, else a reply joining its thread;
    with all it sets off in this transaction: list mail, following the
    thread, the live event, notifications and the peers' outbox. The
    author's post count moves on (up to `counted`: trust.published). Returns
    `{thread, article}` or `{article}` as `submit` does."""
    if parent is None:
        provenance = {"continued_from_thread_id": continued_from} if continued_from is not None else {}
        thread_id = await create_thread_row(conn, group["id"], new.subject, new.created_at, **provenance)
    else:
        thread_id = parent["thread_id"]
    row = await insert_article(conn, new, group_id=group["id"], thread_id=thread_id, parent=parent)
    await trust.published(conn, user.account_id, counted)
    await mailqueue.queue_article(conn, row)  # the group's mail subscribers, in this transaction
    if parent is None:
        await conn.execute("UPDATE threads SET root_article_id = ? WHERE id = ?", (row["id"], thread_id))
    await follows.follow(conn, user.id, thread_id)  # posting in a thread follows it
    article = article_json({**row, "group_name": group["name"], "username": user.username})
    result: dict = {"article": article}
    if parent is None:
        result = {"thread": thread_json(await thread_row(conn, thread_id)), "article": article}
        await emit(conn, "thread.created", group=group["name"], thread_id=thread_id, data=result)
    else:
        await emit(conn, "article.created", group=group["name"], thread_id=thread_id, data=article)
    await notifications.on_article(
        conn,
        article,
        user,
        parent_author=parent["user_id"] if parent is not None else None,
        new_thread=parent is None,
    )
    await peers.queue_article(conn, article)
    return result


async def publish_arrival(
    conn: Connection, group: sqlite3.Row, parent: sqlite3.Row | None, article: NewArticle
) -> dict:
    """place_arrival for an article a moderator let in with no account here
    (approved stranger mail), with the list mail and the peers' outbox a
    posted article sets off. Returns its article JSON."""
    row, shown = await place_arrival(conn, group, parent, article)
    await mailqueue.queue_article(conn, row)
    await peers.queue_article(conn, shown)
    return shown


async def cancel(conn: Connection, user: User | None, article_ref: object, reason: object = None) -> dict:
    """Withdraw an article: it keeps its place in the tree, its text is
    replaced by a notice and leaves the search index. By its author, the text
    is gone; by a moderator (a removal), it is logged and its text kept aside
    so the log entry can undo it. Cancelling twice is a no-op."""
    row = await article_row(conn, article_ref)
    user = may_cancel(user, row["user_id"], row["group_name"])
    reason = validate.reason(reason, required=False)
    if row["status"] not in ("ok", "hidden"):
        if row["status"] == "notice":
            raise Forbidden("moderation notices are undone through the moderation log")
        return article_json(row)
    if row["user_id"] == user.id:
        return await withdraw_own(conn, row)
    article, _ = await remove(conn, user, row, reason)
    return article


async def supersede(conn: Connection, user: User, article_ref: object, published: dict) -> None:
    """Withdraw the article `published` ({article} or {held}: submit's answer)
    supersedes (RFC 5537 §5.4), in the transaction that published it: only
    its author's own (Forbidden otherwise, a moderator's too: a moderator
    removes through cancel, with a reason), and only once the new one is
    published (Conflict while it waits for the moderators, who may refuse it)."""
    row = await article_row(conn, article_ref)
    if row["user_id"] != user.id or row["status"] == "notice":
        raise Forbidden("only its author may supersede an article")
    if "held" in published:
        raise Conflict(
            "this article waits for the moderators, so it cannot replace the one it supersedes yet;"
            " post it without Supersedes, and cancel the old one once it is approved"
        )
    if row["status"] in ("ok", "hidden"):
        await withdraw_own(conn, row)


async def withdraw_own(conn: Connection, row: sqlite3.Row) -> dict:
    """An author's own withdrawal of their visible or hidden article (its row
    as stored), once checked (a member's through `cancel`, a fediverse
    author's Delete through federation/inbox.py): withdrawn, announced live,
    a cancel queued for the peers. Returns the article now."""
    await withdraw(conn, row, CANCEL_NOTICE_AUTHOR)
    return await _changed(conn, row["id"], "article.cancelled", cancel=True)


async def remove(
    conn: Connection, user: User | None, row: sqlite3.Row, reason: str, data: dict | None = None
) -> tuple[dict, int]:
    """A moderator's removal of a visible or hidden article (its row as
    stored): withdrawn, logged as "cancel" with `reason` (and `data`), the
    text kept for an undo, its author told, a cancel queued for the peers.
    Returns (the article now, the log entry's id)."""
    entry_id = await modlog.write(
        conn, modlog.Entry.on_article("cancel", user, row, reason=reason, data=data)
    )
    article = await take_down(conn, row, entry_id, by=user.account_id if user else None)
    await notifications.on_decision(conn, entry_id, row["user_id"], user, row["thread_id"])
    return article, entry_id


async def take_down(conn: Connection, row: sqlite3.Row, entry_id: int, *, by: int | None) -> dict:
    """Remove a visible or hidden article (its row as stored) as the log
    entry `entry_id` of moderator `by` does (a removal, a suspension's or
    ban's cleanup): withdrawn with its text kept for `restore`, announced
    live, a cancel queued for the peers. Returns the article now."""
    await withdraw(conn, row, CANCEL_NOTICE_MODERATOR, entry_id=entry_id, by=by)
    await trust.struck(conn, row["user_id"])
    return await _changed(conn, row["id"], "article.cancelled", cancel=True)


async def _changed(conn: Connection, article_id: int, event: str, *, cancel: bool = False) -> dict:
    """The article as it is now, announced live as `event`; a cancel goes to the peers too."""
    fresh = await fetch_one(conn, ARTICLE_SELECT + " WHERE a.id = ?", (article_id,))
    assert fresh is not None  # the row just updated, in this transaction
    article = article_json(fresh)
    await emit(conn, event, group=article["group"], thread_id=article["thread_id"], data=article)
    if cancel:
        await peers.queue_cancel(conn, article)
    return article


async def withdraw(
    conn: Connection, row: sqlite3.Row, notice: str, *, entry_id: int | None = None, by: int | None = None
) -> None:
    """The change a withdrawal makes to an article (its row as stored), whoever
    asked: the text replaced by `notice`, its words out of the search index
    (a hidden article's are out already), and the texts an edit replaced gone
    with them. With `entry_id` (a moderator's removal, logged as that entry)
    the text is kept aside for `restore`. Reports waiting on it are settled
    with it (rejected, by the moderator `by` as `entry_id`, or by the site
    when its author or a peer withdrew it): a waiting reported item always
    names an article that is still visible or hidden."""
    if row["status"] == "ok":
        await indexing.unindex(conn, row)
    if entry_id is not None:
        await conn.execute(
            "INSERT OR REPLACE INTO removed_texts (article_id, entry_id, body) VALUES (?, ?, ?)",
            (row["id"], entry_id, row["body"]),
        )
    await conn.execute("UPDATE articles SET status = 'cancelled', body = ? WHERE id = ?", (notice, row["id"]))
    await conn.execute("DELETE FROM article_versions WHERE article_id = ?", (row["id"],))
    await conn.execute(
        "UPDATE queue SET state = 'rejected', decided_at = ?, decided_by = ?, entry_id = ?"
        " WHERE article_id = ? AND kind = 'reported' AND state = 'waiting'",
        (clock.now(), by, entry_id, row["id"]),
    )


async def restore(conn: Connection, entry_id: int) -> list[dict]:
    """Bring back every article the removal logged as `entry_id` took, as they
    were: visible, in the search index, announced live (`article.restored`).
    Peers and readers that honoured the cancel keep it gone. Returns them."""
    rows = await fetch_all(
        conn,
        "SELECT a.*, r.body AS kept FROM removed_texts r JOIN articles a ON a.id = r.article_id"
        " WHERE r.entry_id = ? AND a.status = 'cancelled' ORDER BY a.id",
        (entry_id,),
    )
    restored = []
    for row in rows:
        await conn.execute(
            "UPDATE articles SET status = 'ok', body = ? WHERE id = ?", (row["kept"], row["id"])
        )
        await indexing.index(conn, row["id"], row["subject"], row["kept"], row["author_name"])
        await conn.execute("DELETE FROM removed_texts WHERE article_id = ?", (row["id"],))
        restored.append(await _changed(conn, row["id"], "article.restored"))
    return restored


async def hide(conn: Connection, row: sqlite3.Row) -> dict:
    """Hide a visible article pending review: kept whole, out of the search
    index, NNTP and feeds until it is shown again (`show`) or removed.
    Announced live as `article.hidden`, with the hidden form's text."""
    await indexing.unindex(conn, row)
    await conn.execute("UPDATE articles SET status = 'hidden' WHERE id = ?", (row["id"],))
    return await _changed(conn, row["id"], "article.hidden")


async def show(conn: Connection, row: sqlite3.Row) -> dict:
    """Show a hidden article again, as it is now (`article.restored`), and
    offer it to the peers (nothing went out while it was hidden)."""
    await conn.execute("UPDATE articles SET status = 'ok' WHERE id = ?", (row["id"],))
    await indexing.index(conn, row["id"], row["subject"], row["body"], row["author_name"])
    article = await _changed(conn, row["id"], "article.restored")
    await peers.queue_shown(conn, article)
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
    per kind of change; like insert_article's, their words wait beyond the
    search index's mark (indexing.drain), not indexed here. Each row carries the keys of
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

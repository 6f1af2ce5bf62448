"""Mail from strangers, held for a group's moderators. A group's
`stranger_mail` says what becomes of mail from an address that is no
member's confirmed one: `bounce` (refused with an explanation, the default)
or `moderate` (kept here, at most HELD_MAX per group, until a moderator
approves or rejects it). Auto-replies, bounces and loops never get here
(server/mail/inbound.py drops them first).

Approving posts the message as an imported article is posted: the author's
name and address from its From, no account, under the nearest article its
References (or the signed reply address it came to) name in this group and
in an open thread, else as a new thread. Rejecting mails the sender a short,
polite notice. Both are logged in the public moderation log, without the
sender's address."""

from __future__ import annotations

from sqlite3 import Row

from aiosqlite import Connection

from ..articles import tree
from ..articles.groups import announce_change, get_group_row
from ..articles.messages import Parsed
from ..articles.posting import PLACE_SELECT, Author, NewArticle, place_arrival
from ..news import peers
from ..stewardship import modlog
from ..stewardship.permissions import User, require
from ..store import clock, validate
from ..store.db import fetch_all, fetch_one, fetch_value
from ..store.errors import Conflict, Forbidden, Invalid, NotFound
from . import mailing, mailqueue

STRANGER_MAIL = ("bounce", "moderate")
# Messages one group's queue holds; past it, strangers are told to try later.
HELD_MAX = 100
# What a message's References may name when it is approved (RFC 5322 readers keep a few dozen).
REFS_MAX = 40


async def set_stranger_mail(
    conn: Connection, user: User | None, group_name: object, value: object, reason: object = None
) -> dict:
    """Set what becomes of a group's mail from strangers; logged. Returns {group, entry}."""
    user = require(user, "moderate")
    if value not in STRANGER_MAIL:
        raise Invalid("stranger_mail must be bounce or moderate")
    reason = validate.reason(reason, required=False)
    group = await get_group_row(conn, group_name)
    await conn.execute("UPDATE groups SET stranger_mail = ? WHERE id = ?", (value, group["id"]))
    entry_id = await modlog.write(
        conn,
        modlog.Entry.on_group(
            "stranger_mail", user, group, reason=reason, data={"to": value, "from": group["stranger_mail"]}
        ),
    )
    changed = await announce_change(conn, group["name"], entry_id)
    return {"group": changed, "entry": await modlog.get_entry(conn, entry_id)}


async def hold(
    conn: Connection, group_id: int, message: Parsed, *, mail_from: str, reply_to: int | None
) -> str:
    """Keep a stranger's message for the moderators: 'held', 'already' (this
    Message-ID waits here or is posted), or 'full' (HELD_MAX wait already).
    `message` is the mail as read, its body already the text to post;
    `mail_from` its envelope sender; `reply_to` the article its reply address names."""
    refs = list(dict.fromkeys([*message.chain, *([message.parent_id] if message.parent_id else [])]))
    if await fetch_value(
        conn,
        "SELECT 1 FROM held_mail WHERE group_id = ? AND message_id = ?"
        " UNION ALL SELECT 1 FROM articles WHERE message_id = ?",
        (group_id, message.message_id, message.message_id),
    ):
        return "already"
    if await fetch_value(conn, "SELECT count(*) FROM held_mail WHERE group_id = ?", (group_id,)) >= HELD_MAX:
        return "full"
    await conn.execute(
        "INSERT INTO held_mail (group_id, message_id, mail_from, from_name, from_addr, subject, body, refs,"
        " reply_to, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            group_id,
            message.message_id,
            mail_from,
            message.author_name,
            message.author_addr,
            message.subject,
            message.body,
            " ".join(refs[-REFS_MAX:]),
            reply_to,
            clock.now(),
        ),
    )
    return "held"


def held_json(row: Row) -> dict:
    return {
        "id": row["id"],
        "message_id": row["message_id"],
        "from": {"name": row["from_name"], "address": row["from_addr"]},
        "subject": row["subject"],
        "body": row["body"],
        "received_at": row["received_at"],
    }


async def list_held(conn: Connection, user: User | None, group_name: object) -> dict:
    """A group's held mail, oldest first, for its moderators: {group, stranger_mail, held}."""
    require(user, "moderate")
    group = await get_group_row(conn, group_name)
    rows = await fetch_all(conn, "SELECT * FROM held_mail WHERE group_id = ? ORDER BY id", (group["id"],))
    return {
        "group": group["name"],
        "stranger_mail": group["stranger_mail"],
        "held": [held_json(r) for r in rows],
    }


async def _held(
    conn: Connection, user: User | None, group_name: object, held_id: object
) -> tuple[User, Row, Row]:
    user = require(user, "moderate")
    group = await get_group_row(conn, group_name)
    row = await fetch_one(
        conn,
        "SELECT * FROM held_mail WHERE id = ? AND group_id = ?",
        (validate.integer(held_id, "id"), group["id"]),
    )
    if row is None:
        raise NotFound("no such held message in this group (approved or rejected already?)")
    return user, group, row


async def _parent(conn: Connection, group_id: int, held: Row) -> Row | None:
    """The nearest article the message answers, in this group and an open thread
    (one level up when that article is at the deepest level, as for any reply)."""
    candidates = [held["reply_to"]] if held["reply_to"] is not None else []
    sql = (
        PLACE_SELECT + " JOIN threads t ON t.id = a.thread_id"
        " WHERE a.group_id = ? AND t.state = 'open' AND t.merged_into_thread_id IS NULL AND "
    )
    lookups = [("a.id", article_id) for article_id in candidates]
    lookups += [("a.message_id", ref) for ref in reversed(held["refs"].split())]
    for column, value in lookups:
        found = await fetch_one(conn, f"{sql}{column} = ?", (group_id, value))
        if found is not None:
            return await tree.anchor(conn, found, PLACE_SELECT)
    return None


async def approve(
    conn: Connection, user: User | None, group_name: object, held_id: object, reason: object = None
) -> dict:
    """Post a held message (see the module's contract). Returns {article, entry}."""
    user, group, held = await _held(conn, user, group_name, held_id)
    reason = validate.reason(reason, required=False)
    # The words are the stranger's, not the moderator's: only the group's status
    # matters (a moderator posts in open and moderated groups alike), not
    # whether the moderator's own account is suspended.
    if group["status"] == "n":
        raise Forbidden(f"{group['name']} is read-only: nothing can be posted there")
    await conn.execute("DELETE FROM held_mail WHERE id = ?", (held["id"],))
    if await fetch_value(conn, "SELECT 1 FROM articles WHERE message_id = ?", (held["message_id"],)):
        raise Conflict(f"{held['message_id']} is posted already")
    subject, body, now = validate.subject(held["subject"]), validate.body(held["body"]), clock.now()
    author = Author(held["from_name"] or held["from_addr"], address=held["from_addr"])
    arrived = NewArticle(subject, body, author, held["message_id"], now, references=held["refs"])
    row, article = await place_arrival(conn, group, await _parent(conn, group["id"], held), arrived)
    await mailqueue.queue_article(conn, row)
    await peers.queue_article(conn, article)
    entry_id = await modlog.write(
        conn,
        modlog.Entry.on_article("mail.approve", user, row, reason=reason),
    )
    return {"article": article, "entry": await modlog.get_entry(conn, entry_id)}


async def reject(
    conn: Connection,
    user: User | None,
    group_name: object,
    held_id: object,
    reason: object = None,
    *,
    list_domain: str,
) -> dict:
    """Drop a held message, mail its sender a polite notice, log it. Returns {entry}."""
    user, group, held = await _held(conn, user, group_name, held_id)
    reason = validate.reason(reason, required=False)
    await conn.execute("DELETE FROM held_mail WHERE id = ?", (held["id"],))
    entry_id = await modlog.write(
        conn,
        modlog.Entry(
            "mail.reject",
            user,
            group_id=group["id"],
            target=held["message_id"],
            reason=reason,
            data={"subject": held["subject"]},
        ),
    )
    address = mailing.group_address(group["name"], list_domain)
    why = f"\nThe moderators said: {reason}\n" if reason else ""
    for recipient in (held["mail_from"], held["from_addr"]):
        try:
            recipient = mailqueue.email_address(recipient)
        except Invalid:
            continue
        await mailqueue.queue_mail(
            conn,
            "notice",
            recipient,
            data={
                "subject": f"Your message to {address} was not posted",
                "text": f"Hello,\n\nyour message \u201c{held['subject']}\u201d to {address} was read by the "
                f"moderators of {group['name']}, who decided not to post it.\n{why}\n"
                "Only members post to this list without review: create an account on the site and "
                "confirm this address in its settings.\n",
            },
            domain_for_id=list_domain,
        )
        break
    return {"entry": await modlog.get_entry(conn, entry_id)}

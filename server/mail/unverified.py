"""A member's list mail that did not show it came from them
(server/mail/identity.py): never posted as them, never lost.

Contract:
- `hold` keeps it in its group's queue (why 'unverified', as the member's,
  so its moderators see it and the member finds it among their waiting
  posts), in the caller's transaction. Unless the member was already sent
  CONFIRMATIONS_PER_DAY such mails within a day, it queues one mail to the
  member's confirmed address (never to the From or the envelope sender,
  which proved nothing), `Auto-Submitted: auto-replied`, with the held text
  in full and a link bound to that one item: single use, expiring after
  MOOT_MAIL_CONFIRM_HOURS, only its SHA-256 kept. Past the allowance the
  item waits for the group's moderators alone, so forged mail cannot make
  Moot a mail-bomb;
- `pending` reads what a link would confirm and changes nothing (link
  scanners fetch links);
- `confirm` publishes it once, as the member, through posting.submit with
  every check a post has (bans, group and thread state, a moderated group
  holds it for its moderators), and marks the item approved by the member.
  A link already used, expired, unknown, or whose item the moderators
  decided meanwhile, is refused (Invalid or Conflict) and changes nothing."""

from __future__ import annotations

import hashlib
import secrets
from sqlite3 import Row
from typing import Any

from aiosqlite import Connection

from ..articles import held, posting, repetition
from ..articles.authors import Author
from ..articles.messages import Parsed
from ..stewardship import trust
from ..stewardship.permissions import USER_SELECT, User
from ..store import clock, validate
from ..store.db import fetch_one, fetch_value
from ..store.errors import Busy, Conflict, Invalid
from .mailqueue import queue_mail

# Confirmation mails one member is sent per day; later unverified mail waits for moderators only.
CONFIRMATIONS_PER_DAY = 3
TOKEN_MAX = 100


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def hold(
    conn: Connection,
    user: User,
    group_id: int,
    message: Parsed,
    *,
    message_id: str,
    parent_id: int | None,
    mail_from: str,
    site_url: str,
    confirm_hours: int,
    list_domain: str,
    ask: bool = True,
) -> str:
    """Hold a member's unproven mail (see the module's contract): 'mailed' (a
    confirmation link went to the member), 'held' (for the moderators only:
    always when not `ask`), 'already' (this Message-ID waits or is posted) or
    'full' (the queue is full)."""
    try:
        item_id = await held.hold(
            conn,
            held.Held(
                group_id=group_id,
                why="unverified",
                channel="mail",
                message_id=message_id,
                author=Author.of(user),
                subject=validate.subject(message.subject),
                body=message.body,
                refs=" ".join([*message.chain, *([message.parent_id] if message.parent_id else [])]),
                parent_id=parent_id,
                mail_from=mail_from,
            ),
        )
    except Conflict:
        return "already"
    except Busy:
        return "full"
    address = await fetch_value(
        conn,
        "SELECT email FROM mail_addresses WHERE user_id = ? AND confirmed_at IS NOT NULL AND bouncing_at IS NULL",
        (user.id,),
    )
    lately = await fetch_value(
        conn,
        "SELECT count(*) FROM mail_confirmations WHERE user_id = ? AND created_at > ?",
        (user.id, clock.ago(days=1)),
    )
    if not ask or address is None or lately >= CONFIRMATIONS_PER_DAY:
        return "held"
    token = secrets.token_urlsafe(24)
    await conn.execute(
        "INSERT INTO mail_confirmations (token_hash, item_id, user_id, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (_hash(token), item_id, user.id, clock.now(), clock.later(hours=confirm_hours)),
    )
    item = await held.item(conn, item_id)
    quoted = "".join(f"> {line}\n" for line in message.body.splitlines())
    text = (
        f"Hello {user.display_name},\n\n"
        f"a mail with your address as its sender came to {item['group']}, but nothing showed "
        "that you sent it (it did not come to your personal reply address, nor with a DKIM "
        "signature of your domain), so it was not posted.\n\n"
        f"If you sent it, publish it by opening this link and pressing the button on the page, "
        f"within {confirm_hours} hours:\n\n{site_url}/mail/held/{token}\n\n"
        "If you did not send it, do nothing: it stays unpublished, and the group's moderators "
        "see it was not shown to be yours.\n\n"
        f"The held mail, as it came:\n\nSubject: {item['subject']}\n\n{quoted}"
    )
    await queue_mail(
        conn,
        "notice",
        address,
        user_id=user.id,
        data={
            "subject": f"Did you send \u201c{item['subject']}\u201d to {item['group']}?",
            "text": text,
            "auto_replied": True,
        },
        domain_for_id=list_domain,
    )
    return "mailed"


async def _lookup(conn: Connection, token: object) -> Row:
    if not isinstance(token, str) or not 0 < len(token) <= TOKEN_MAX:
        raise Invalid("this confirmation link is not valid")
    row = await fetch_one(
        conn,
        "SELECT c.token_hash, c.user_id, c.expires_at, c.used_at, q.id AS item_id, q.state, q.subject,"
        " q.body, q.parent_id, q.message_id, g.name AS group_name"
        " FROM mail_confirmations c JOIN queue q ON q.id = c.item_id JOIN groups g ON g.id = q.group_id"
        " WHERE c.token_hash = ?",
        (_hash(token),),
    )
    if row is None:
        raise Invalid("this confirmation link is not valid")
    if row["used_at"] is not None:
        raise Invalid("this confirmation link was used already")
    if row["expires_at"] <= clock.now():
        raise Invalid("this confirmation link has expired; the moderators of the group may still approve it")
    if row["state"] != "waiting":
        raise Conflict(f"the moderators of {row['group_name']} decided on this message already")
    return row


async def pending(conn: Connection, token: object) -> dict[str, Any]:
    """What a link confirms, changing nothing: `{group, subject, body}`."""
    row = await _lookup(conn, token)
    return {"group": row["group_name"], "subject": row["subject"], "body": row["body"]}


async def confirm(
    conn: Connection,
    domain: str,
    token: object,
    rules: trust.Rules,
    repeat: repetition.Rules | None,
) -> dict:
    """Publish the held mail a link names, once (see the module's contract),
    under the site's trust and repetition `rules` as any post; returns
    posting.submit's answer (`{article}`, or `{held}` when it waits still)."""
    row = await _lookup(conn, token)
    author = await fetch_one(conn, USER_SELECT + " WHERE id = ?", (row["user_id"],))
    assert author is not None  # a confirmation goes with its account (ON DELETE CASCADE)
    user = User.from_row(author)
    now = clock.now()
    await conn.execute(
        "UPDATE mail_confirmations SET used_at = ? WHERE token_hash = ?", (now, row["token_hash"])
    )
    await conn.execute(
        "UPDATE queue SET state = 'approved', decided_at = ?, decided_by = ? WHERE id = ?",
        (now, user.id, row["item_id"]),
    )
    reply = row["parent_id"] is not None
    posted = await posting.submit(
        conn,
        domain,
        user,
        posting.Submission(
            body=row["body"],
            subject=row["subject"],
            group=None if reply else row["group_name"],
            parent=row["parent_id"],
            message_id=row["message_id"],
            channel="mail",
        ),
        rules,
        repeat=repeat,
    )
    if "article" in posted:
        await conn.execute(
            "UPDATE queue SET article_id = ? WHERE id = ?", (posted["article"]["id"], row["item_id"])
        )
    return posted

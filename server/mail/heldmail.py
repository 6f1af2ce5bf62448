"""Mail from strangers, held for a group's moderators. A group's
`stranger_mail` says what becomes of mail from an address that is no
member's confirmed one: `bounce` (refused at SMTP time with an explanation,
the default) or `moderate` (kept in the group's moderation queue, as a held
submission from that address, until a moderator approves or rejects it:
server/stewardship/queue.py). Auto-replies, bounces and loops never get here
(server/mail/inbound.py drops them first).

An approved stranger's message is published under the name and address of
its From, never as an account, under the nearest article its References (or
the signed reply address it came to) name in this group. The sender is never
written to: its address is not proven, and Moot sends no backscatter."""

from __future__ import annotations

from aiosqlite import Connection

from ..articles import held
from ..articles.authors import Author
from ..articles.groups import announce_change, get_group_row
from ..articles.messages import Parsed
from ..stewardship import modlog
from ..stewardship.permissions import User, require_moderator
from ..store import validate
from ..store.errors import Busy, Conflict, Invalid

STRANGER_MAIL = ("bounce", "moderate")


async def set_stranger_mail(
    conn: Connection, user: User | None, group_name: object, value: object, reason: object = None
) -> dict:
    """Set what becomes of a group's mail from strangers; logged. Returns {group, entry}."""
    group = await get_group_row(conn, group_name)
    user = require_moderator(user, group["name"])
    if value not in STRANGER_MAIL:
        raise Invalid("stranger_mail must be bounce or moderate")
    reason = validate.reason(reason, required=False)
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
    Message-ID waits or is posted), or 'full' (the group's queue is full).
    `message` is the mail as read, its body already the text to post;
    `mail_from` its envelope sender; `reply_to` the article its reply address names."""
    refs = list(dict.fromkeys([*message.chain, *([message.parent_id] if message.parent_id else [])]))
    try:
        await held.hold(
            conn,
            held.Held(
                group_id=group_id,
                why="stranger",
                channel="mail",
                message_id=message.message_id,
                author=Author(message.author_name or message.author_addr or "", address=message.author_addr),
                subject=validate.subject(message.subject),
                body=message.body,
                refs=" ".join(refs),
                parent_id=reply_to,
                mail_from=mail_from,
            ),
        )
    except Conflict:
        return "already"
    except Busy:
        return "full"
    return "held"

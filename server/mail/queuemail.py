"""The moderators' daily queue mail: a moderator asks, group by group, to be
mailed what has waited in the group's moderation queue for more than a day;
the periodic sweep (server/stewardship/sweep.py, given `job`) queues at most
one such mail per moderator per day, listing those items of all the groups
they asked for, to their confirmed address that is not bouncing.

The choice is kept in `settings`, one row per moderator (key
`queue_mail:USER_ID`, a JSON value `{"groups": [GROUP_ID, ...], "sent_at":
STAMP | null}`), so it needs no table of its own: it goes with the account
(a row whose account is gone, or no longer moderates a group, is skipped),
and turning the last group off deletes the row.

Contract:
- only the group's moderators (permissions.moderates) read or change their
  own choice; turning it on needs a confirmed address (409), as notification
  mail does;
- `queue_reminders` runs in the caller's transaction and mails a moderator
  only when a group they chose has an item waiting since more than
  WAITING_HOURS, and their last queue mail is WAITING_HOURS old or more;
  the mail lists each such group's oldest LISTED items and counts the rest."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from aiosqlite import Connection

from ..articles.groups import get_group_row
from ..stewardship.permissions import USER_COLUMNS, User, moderates, require
from ..store import clock
from ..store.config import Config
from ..store.db import Database, fetch_all, fetch_one, fetch_value
from ..store.errors import Conflict, Forbidden, Invalid
from .mailqueue import queue_mail

WAITING_HOURS = 24
# Items one group's section of the mail lists; the rest are counted.
LISTED = 20
KEY = "queue_mail:"
_WHY = {"moderated": "moderated group", "stranger": "stranger mail", "reports": "reports"}


def _key(user_id: int) -> str:
    return f"{KEY}{user_id}"


async def _choice(conn: Connection, user_id: int) -> dict:
    value = await fetch_value(conn, "SELECT value FROM settings WHERE key = ?", (_key(user_id),))
    return json.loads(value) if value else {"groups": [], "sent_at": None}


async def get(conn: Connection, user: User | None, group_name: object) -> dict:
    """`{group, daily}`: whether `user` asked for this group's queue mail."""
    user, group = await _moderator(conn, user, group_name)
    return {"group": group["name"], "daily": group["id"] in (await _choice(conn, user.id))["groups"]}


async def set_daily(conn: Connection, user: User | None, group_name: object, daily: object) -> dict:
    """Ask for (or stop) the daily mail of this group's waiting items: `{group, daily}`."""
    user, group = await _moderator(conn, user, group_name)
    if not isinstance(daily, bool):
        raise Invalid("daily must be true or false")
    choice = await _choice(conn, user.id)
    groups = [g for g in choice["groups"] if g != group["id"]] + ([group["id"]] if daily else [])
    if daily and not await fetch_value(
        conn, "SELECT 1 FROM mail_addresses WHERE user_id = ? AND confirmed_at IS NOT NULL", (user.id,)
    ):
        raise Conflict("confirm an address first (PUT /api/me/email): the queue mail is sent there")
    if groups:
        value = json.dumps({"groups": sorted(groups), "sent_at": choice["sent_at"]})
        await conn.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (_key(user.id), value),
        )
    else:
        await conn.execute("DELETE FROM settings WHERE key = ?", (_key(user.id),))
    return {"group": group["name"], "daily": daily}


async def _moderator(conn: Connection, user: User | None, group_name: object) -> tuple[User, dict]:
    user = require(user, "track")
    group = await get_group_row(conn, group_name)
    if not moderates(user, group["name"]):
        raise Forbidden(f"only the moderators of {group['name']} are mailed its queue")
    return user, dict(group)


async def queue_reminders(conn: Connection, domain: str, site_url: str, now: datetime) -> int:
    """Queue the day's queue mail for each moderator it is due to (see the
    module's contract). Returns how many mails were queued."""
    since = clock.stamp(now - timedelta(hours=WAITING_HOURS))
    rows = await fetch_all(
        conn,
        f"SELECT s.key, s.value, {USER_COLUMNS}, m.email FROM settings s"
        " JOIN users ON users.id = CAST(substr(s.key, ?) AS INTEGER)"
        " JOIN mail_addresses m ON m.user_id = users.id"
        " WHERE s.key LIKE ? AND m.confirmed_at IS NOT NULL AND m.bouncing_at IS NULL",
        (len(KEY) + 1, KEY + "%"),
    )
    queued = 0
    for row in rows:
        choice = json.loads(row["value"])
        if choice["sent_at"] is not None and choice["sent_at"] > since:
            continue
        user = User.from_row(row)
        sections = []
        for group_id in choice["groups"]:
            section = await _section(conn, user, group_id, since, site_url)
            if section:
                sections.append(section)
        if not sections:
            continue
        text = (
            f"These items have waited more than {WAITING_HOURS} hours for the moderators.\n\n"
            + "\n\n".join(sections)
            + f"\n\nYou asked for this mail; stop it on each group's queue page ({site_url})."
        )
        await queue_mail(
            conn,
            "notice",
            row["email"],
            user_id=user.id,
            data={"subject": "Items waiting in the moderation queue", "text": text},
            domain_for_id=domain,
        )
        choice["sent_at"] = clock.stamp(now)
        await conn.execute("UPDATE settings SET value = ? WHERE key = ?", (json.dumps(choice), row["key"]))
        queued += 1
    return queued


async def _section(conn: Connection, user: User, group_id: int, since: str, site_url: str) -> str:
    """One group's part of the mail: its items waiting since before `since`,
    oldest first; '' when none, or when `user` no longer moderates it."""
    group = await fetch_one(conn, "SELECT name FROM groups WHERE id = ?", (group_id,))
    if group is None or not moderates(user, group["name"]):
        return ""
    where = " FROM queue q WHERE q.group_id = ? AND q.state = 'waiting' AND q.created_at < ?"
    total = await fetch_value(conn, "SELECT count(*)" + where, (group_id, since))
    if not total:
        return ""
    items = await fetch_all(
        conn,
        "SELECT q.id, q.why, q.created_at, q.author_name, coalesce(a.subject, q.subject) AS subject"
        + where.replace("FROM queue q", "FROM queue q LEFT JOIN articles a ON a.id = q.article_id")
        + " ORDER BY q.id LIMIT ?",
        (group_id, since, LISTED),
    )
    lines = [f"{group['name']}: {total} waiting more than a day ({site_url}/g/{group['name']}/queue)"]
    lines += [
        f"  #{i['id']} {i['subject']!s} by {i['author_name']} ({_WHY[i['why']]}, since {i['created_at']})"
        for i in items
    ]
    if total > len(items):
        lines.append(f"  and {total - len(items)} more")
    return "\n".join(lines)


async def job(db: Database, config: Config, now: datetime) -> dict:
    """The sweep's part for the queue mail, in one write transaction: `{queue_mail}`."""
    async with db.transaction() as conn:
        queued = await queue_reminders(conn, config.list_domain, config.site_url, now)
    return {"queue_mail": queued}

"""The mail outbox (`mail_queue`): mail is queued in the very transaction of
the change that causes it, so a crash never loses a mail and a rollback never
sends one; the sender claims due mail, and reports back what became of it
(sent, retried with backoff, dead letter, dropped, bounced).

Kinds: `article` (a group's `each` subscribers), `thread` (a thread's
followers by mail), `digest`, `notification` and `summary`
(server/mail/noticemail.py), `confirm`, and `notice` (any other feature's plain
mail). What a recipient's killfile hides is never mailed to them: article
and thread mail is dropped, digests leave it out (decided when sent, so a
rule made meanwhile counts)."""

from __future__ import annotations

import json
import re
import secrets
from sqlite3 import Row

from aiosqlite import Connection

from ..articles.exports import EXPORT_SELECT
from ..people import killfile
from ..store import clock
from ..store.db import fetch_all, fetch_one, fetch_value
from ..store.errors import Invalid, NotFound

# RFC 5321 §4.5.3.1.3: a path is at most 256 octets; an address at most 254 of them.
EMAIL_MAX = 254
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+\Z"
)
# Most articles one digest carries; the rest wait for the next one.
DIGEST_MAX_ARTICLES = 200
# Sent rows are kept this long for the per-recipient rate, then pruned.
SENT_KEEP_DAYS = 2


def email_address(value: object) -> str:
    """A plain addr-spec (RFC 5321 §4.1.2 dot-atom local part), or Invalid.
    No display name, comments, quotes or spaces: nothing that can carry a header."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid("email must be an address like name@example.org")
    value = value.strip()
    if (
        len(value) > EMAIL_MAX
        or not _EMAIL.match(value)
        or ".." in value
        or value.startswith(".")
        or value.split("@")[0].endswith(".")
    ):
        raise Invalid("email must be an address like name@example.org (letters, digits and . _ + - only)")
    return value


async def queue_mail(
    conn: Connection,
    kind: str,
    recipient: str,
    *,
    user_id: int | None = None,
    group_id: int | None = None,
    data: dict | None = None,
    domain_for_id: str = "mail.invalid",
) -> int:
    """Queue one mail in the caller's transaction: the hook for every kind of
    mail. The sender renders it by `kind` (server/mail/mailformat.py) and delivers
    it after the commit, with retries, the recipient's rate and dead letters.
    Other features use kind `notice` with data `{subject, text}` (a password
    reset link, a notification): `queue_mail(conn, "notice", address,
    user_id=..., data={"subject": ..., "text": ...})`. Returns its queue id."""
    recipient = email_address(recipient)
    message_id = f"<mail.{secrets.token_hex(10)}@{domain_for_id}>"  # its own, kept across retries
    now = clock.now()
    cur = await conn.execute(
        "INSERT INTO mail_queue (kind, recipient, user_id, group_id, message_id, data,"
        " next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            kind,
            recipient,
            user_id,
            group_id,
            message_id,
            json.dumps(data or {}, ensure_ascii=False),
            now,
            now,
        ),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def _may_post(alias: str) -> str:
    """The subscriber `alias`.user_id may post to the group now: list mail goes
    to no one suspended or banned from it (stewardship: suspensions, bans)."""
    return (
        f" AND NOT EXISTS (SELECT 1 FROM users x WHERE x.id = {alias}.user_id AND x.suspended_until > :now)"
        f" AND NOT EXISTS (SELECT 1 FROM bans b WHERE b.group_id = :group"
        f" AND b.author = 'user:' || {alias}.user_id AND b.until > :now)"
    )


async def queue_article(conn: Connection, article: dict) -> int:
    """Queue a new article for every `each` subscriber of its group, and for
    every follower of its thread by mail who is not one, each with a
    confirmed address that is not bouncing and free to post there (not
    suspended or banned from the group), its author aside: one statement
    for both (it costs about the same whether or not it finds anyone), in the
    article's own transaction. Returns how many were queued."""
    now = clock.now()
    author, group_id = article.get("user_id"), article["group_id"]
    cur = await conn.execute(
        "INSERT INTO mail_queue (kind, recipient, user_id, group_id, article_id, message_id, next_at, created_at)"
        " SELECT 'article', m.email, s.user_id, s.group_id, :article, :message_id, :now, :now"
        " FROM mail_subscriptions s JOIN mail_addresses m ON m.user_id = s.user_id"
        " WHERE s.group_id = :group AND s.mode = 'each' AND m.confirmed_at IS NOT NULL"
        " AND m.bouncing_at IS NULL AND s.user_id IS NOT :author" + _may_post("s") + " UNION ALL"
        " SELECT 'thread', m.email, f.user_id, :group, :article, :message_id, :now, :now"
        " FROM follows f JOIN mail_addresses m ON m.user_id = f.user_id"
        " WHERE f.thread_id = :thread AND f.mail = 1 AND m.confirmed_at IS NOT NULL"
        " AND m.bouncing_at IS NULL AND f.user_id IS NOT :author AND NOT EXISTS (SELECT 1 FROM mail_subscriptions s"
        " WHERE s.group_id = :group AND s.user_id = f.user_id AND s.mode = 'each')" + _may_post("f"),
        {
            "article": article["id"],
            "message_id": article["message_id"],
            "now": now,
            "group": group_id,
            "author": author,
            "thread": article["thread_id"],
        },
    )
    return cur.rowcount


async def queue_digests(conn: Connection, domain: str) -> int:
    """Queue one digest per digest subscriber whose group has articles past
    the last digest; each covers at most DIGEST_MAX_ARTICLES. Returns how many."""
    rows = await fetch_all(
        conn,
        "SELECT s.group_id, s.user_id, s.digest_number, g.last_number, m.email"
        " FROM mail_subscriptions s JOIN groups g ON g.id = s.group_id"
        " JOIN mail_addresses m ON m.user_id = s.user_id"
        " WHERE s.mode = 'digest' AND g.last_number > s.digest_number"
        " AND m.confirmed_at IS NOT NULL AND m.bouncing_at IS NULL",
    )
    for r in rows:
        last = min(r["last_number"], r["digest_number"] + DIGEST_MAX_ARTICLES)
        await queue_mail(
            conn,
            "digest",
            r["email"],
            user_id=r["user_id"],
            group_id=r["group_id"],
            data={"from": r["digest_number"] + 1, "to": last},
            domain_for_id=domain,
        )
        await conn.execute(
            "UPDATE mail_subscriptions SET digest_number = ? WHERE group_id = ? AND user_id = ?",
            (last, r["group_id"], r["user_id"]),
        )
    return len(rows)


async def claim(conn: Connection, limit: int, lease: float) -> list[Row]:
    """Take queued mail whose time has come, oldest first, for `lease` seconds:
    another sender (process) skips it meanwhile; a sender that dies holding it
    leaves it to be sent again once the lease ends (at least once)."""
    now = clock.now()
    return await fetch_all(
        conn,
        "UPDATE mail_queue SET next_at = ? WHERE id IN (SELECT id FROM mail_queue"
        " WHERE status = 'queued' AND next_at <= ? ORDER BY next_at, id LIMIT ?) RETURNING *",
        (clock.later(seconds=lease), now, limit),
    )


async def any_due(conn: Connection) -> bool:
    """Whether any queued mail is due (a read, so an idle sender never writes)."""
    return bool(
        await fetch_value(
            conn, "SELECT 1 FROM mail_queue WHERE status = 'queued' AND next_at <= ? LIMIT 1", (clock.now(),)
        )
    )


async def digests_due(conn: Connection, interval: int) -> bool:
    last = await fetch_value(conn, "SELECT value FROM settings WHERE key = 'mail.digest_at'")
    return last is None or last <= clock.ago(seconds=interval)


async def start_digest_round(conn: Connection, interval: int) -> bool:
    """Whether `interval` seconds have passed since the last round of digests
    (list digests and daily notification summaries); if so this becomes the
    new round, and the caller queues its mail in the same transaction."""
    last = await fetch_value(conn, "SELECT value FROM settings WHERE key = 'mail.digest_at'")
    if last is not None and last > clock.ago(seconds=interval):
        return False
    await conn.execute(
        "INSERT INTO settings (key, value) VALUES ('mail.digest_at', ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (clock.now(),),
    )
    return True


async def digest_articles(conn: Connection, group_id: int, first: int, last: int, user_id: int) -> list[Row]:
    """The articles a digest for `user_id` covers (numbers first..last):
    withdrawn ones, and those the reader's killfile hides, left out."""
    rows = await fetch_all(
        conn,
        EXPORT_SELECT + " WHERE a.group_id = ? AND a.number BETWEEN ? AND ?"
        " AND a.status = 'ok' ORDER BY a.number",
        (group_id, first, last),
    )
    killed = await killfile.killed_ids(conn, await killfile.rules_of(conn, user_id), [r["id"] for r in rows])
    return [r for r in rows if r["id"] not in killed]


async def group_exists(conn: Connection, name: str) -> bool:
    return bool(await fetch_value(conn, "SELECT 1 FROM groups WHERE name = ?", (name,)))


async def group_row(conn: Connection, group_id: int) -> Row | None:
    return await fetch_one(conn, "SELECT * FROM groups WHERE id = ?", (group_id,))


async def article_for_mail(conn: Connection, article_id: int) -> tuple[Row, str] | None:
    """An article as a list mail needs it, with its group's description."""
    row = await fetch_one(conn, EXPORT_SELECT + " WHERE a.id = ?", (article_id,))
    if row is None:
        return None
    description = await fetch_value(conn, "SELECT description FROM groups WHERE id = ?", (row["group_id"],))
    return row, description or ""


async def sent_lately(conn: Connection, recipients: list[str], hours: float = 1.0) -> dict[str, int]:
    """Mails handed to the relay within the last `hours`, per address (lower case),
    for the given addresses: one query for a whole batch."""
    since = clock.later(seconds=-hours * 3600)
    rows = await fetch_all(
        conn,
        "SELECT lower(recipient), count(*) FROM mail_queue WHERE status = 'sent' AND sent_at >= ?"
        " AND recipient COLLATE NOCASE IN (SELECT value FROM json_each(?)) GROUP BY 1",
        (since, json.dumps(sorted({r.lower() for r in recipients}))),
    )
    return {r[0]: r[1] for r in rows}


async def unwanted(conn: Connection, queue_ids: list[int]) -> set[int]:
    """Which of these queued mails no longer qualify: a member's list,
    thread and notification mail stops when the address changed, went
    unconfirmed or bounces, thread mail when its follow by mail ended, and
    notification mail when its mode changed."""
    rows = await fetch_all(
        conn,
        "SELECT q.id FROM json_each(?) j JOIN mail_queue q ON q.id = j.value"
        " LEFT JOIN mail_addresses m ON m.user_id = q.user_id"
        " WHERE q.kind IN ('article', 'digest', 'thread', 'notification', 'summary') AND q.user_id IS NOT NULL"
        " AND (m.user_id IS NULL OR m.confirmed_at IS NULL OR m.bouncing_at IS NOT NULL"
        " OR m.email != q.recipient COLLATE NOCASE"
        " OR q.kind = 'thread' AND NOT EXISTS (SELECT 1 FROM articles a JOIN follows f ON f.thread_id = a.thread_id"
        "   WHERE a.id = q.article_id AND f.user_id = q.user_id AND f.mail = 1)"
        " OR q.kind IN ('notification', 'summary') AND NOT EXISTS (SELECT 1 FROM notification_mail nm"
        "   WHERE nm.user_id = q.user_id AND nm.mode = iif(q.kind = 'summary', 'daily', 'immediately')))",
        (json.dumps(queue_ids),),
    )
    return {r[0] for r in rows}


async def killed(conn: Connection, rows: list[Row]) -> set[int]:
    """Which of these queued article and thread mails carry an article the
    recipient's killfile hides (scored now, with the rules as they are)."""
    mails = [r for r in rows if r["kind"] in ("article", "thread") and r["user_id"] is not None]
    rules = await killfile.rules_of_many(conn, (r["user_id"] for r in mails))
    mails = [r for r in mails if r["user_id"] in rules]
    if not mails:
        return set()
    scored = {
        a["id"]: killfile.scored(a)
        for a in await fetch_all(
            conn,
            f"SELECT a.id, {killfile.SCORE_COLUMNS} FROM articles a{killfile.SCORE_JOINS}"
            " WHERE a.id IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted({r["article_id"] for r in mails})),),
        )
    }
    return {
        r["id"]
        for r in mails
        if r["article_id"] in scored
        and killfile.score(rules[r["user_id"]], scored[r["article_id"]]) <= killfile.KILL
    }


async def mark(conn: Connection, queue_id: int, status: str, error: str = "") -> None:
    """Record the end of a mail: sent, dead (with the reason) or dropped."""
    await conn.execute(
        "UPDATE mail_queue SET status = ?, last_error = ?, sent_at = ?,"
        " attempts = attempts + (? != 'dropped') WHERE id = ?",
        (status, error[:500], clock.now() if status == "sent" else None, status, queue_id),
    )


async def mark_sent(conn: Connection, queue_ids: list[int]) -> None:
    """Record many mails as handed to the relay, in one statement per batch."""
    now = clock.now()
    await conn.executemany(
        "UPDATE mail_queue SET status = 'sent', last_error = '', sent_at = ?,"
        " attempts = attempts + 1 WHERE id = ?",
        [(now, i) for i in queue_ids],
    )


async def retry(conn: Connection, row: Row, error: str, *, base_delay: float, max_attempts: int) -> str:
    """A failed attempt: back off exponentially, or to the dead letters once
    the attempts are spent. Returns the new status."""
    attempts = row["attempts"] + 1
    if attempts >= max_attempts:
        await conn.execute(
            "UPDATE mail_queue SET status = 'dead', attempts = ?, last_error = ? WHERE id = ?",
            (attempts, error[:500], row["id"]),
        )
        return "dead"
    delay = min(base_delay * 2 ** (attempts - 1), 86400.0)
    await conn.execute(
        "UPDATE mail_queue SET attempts = ?, last_error = ?, next_at = ? WHERE id = ?",
        (attempts, error[:500], clock.later(seconds=delay), row["id"]),
    )
    return "queued"


async def defer(conn: Connection, queue_id: int, seconds: float) -> None:
    """Put a mail back without counting an attempt (the recipient's rate is spent)."""
    await conn.execute(
        "UPDATE mail_queue SET next_at = ? WHERE id = ?", (clock.later(seconds=seconds), queue_id)
    )


async def prune(conn: Connection) -> None:
    await conn.execute(
        "DELETE FROM mail_queue WHERE status IN ('sent', 'dropped') AND created_at < ?",
        (clock.later(days=-SENT_KEEP_DAYS),),
    )


async def record_bounce(conn: Connection, queue_id: int, limit: int) -> str | None:
    """A delivery failure report (DSN) for a queued mail: count it against the
    recipient's address and mark the address bouncing at `limit`. Returns the address."""
    row = await fetch_one(conn, "SELECT recipient, user_id FROM mail_queue WHERE id = ?", (queue_id,))
    if row is None or row["user_id"] is None:
        return None
    await conn.execute(
        "UPDATE mail_addresses SET bounces = bounces + 1,"
        " bouncing_at = CASE WHEN bounces + 1 >= ? THEN coalesce(bouncing_at, ?) ELSE bouncing_at END"
        " WHERE user_id = ? AND email = ? COLLATE NOCASE",
        (limit, clock.now(), row["user_id"], row["recipient"]),
    )
    return str(row["recipient"])


async def dead_letters(conn: Connection, limit: int = 100, before: int | None = None) -> list[dict]:
    """The mails that could not be delivered, newest first (an admin's view)."""
    rows = await fetch_all(
        conn,
        "SELECT id, kind, recipient, message_id, attempts, last_error, created_at FROM mail_queue"
        " WHERE status = 'dead' AND id < ? ORDER BY id DESC LIMIT ?",
        (before or 2**62, limit),
    )
    return [dict(r) for r in rows]


async def requeue(conn: Connection, queue_id: int) -> None:
    """Give a dead letter another round of attempts."""
    cur = await conn.execute(
        "UPDATE mail_queue SET status = 'queued', attempts = 0, next_at = ? WHERE id = ? AND status = 'dead'",
        (clock.now(), queue_id),
    )
    if cur.rowcount == 0:
        raise NotFound("no such dead letter")

"""Drafts: what a reader is writing, kept per account and place so it follows
them from one device to another. A place is 'reply:ARTICLE_ID',
'thread:GROUP' or 'edit:ARTICLE_ID'. Every save names the version it
replaces; a save from a device that has not seen the stored version is a
Conflict carrying the stored draft, so nothing is overwritten unseen. Posting
the reply, thread or edit a draft was for discards it in the same
transaction (server/web/posting.py)."""

from __future__ import annotations

import re
from sqlite3 import Row

from aiosqlite import Connection

from ..store import clock, validate
from ..store.db import fetch_all, fetch_one
from ..store.errors import Conflict, Invalid, NotFound

# Enough for every open conversation of a prolific writer; past it a new
# draft is refused (the oldest is never dropped: that would lose text unseen).
MAX_DRAFTS = 200
EXCERPT_CHARS = 120
_PLACE = re.compile(r"(reply|edit):([1-9][0-9]{0,17})|thread:(.+)", re.DOTALL)


def place(value: object) -> str:
    """A valid place ('reply:ID', 'edit:ID' or 'thread:GROUP'), else Invalid."""
    if not isinstance(value, str) or len(value) > 100 or not (m := _PLACE.fullmatch(value)):
        raise Invalid("a draft's place is 'reply:ARTICLE_ID', 'edit:ARTICLE_ID' or 'thread:GROUP'")
    if m.group(3) is not None:
        validate.group_name(m.group(3))
    return value


async def discard_posted(conn: Connection, user_id: int, parent: object, group: object) -> None:
    """Forget the draft a post was written in: the reply to `parent` (an
    article id), else the new thread in `group`. A post never fails here: a
    parent named otherwise (a Message-ID) leaves the draft for the reader."""
    where = f"reply:{parent}" if parent else f"thread:{group}"
    if _PLACE.fullmatch(where):
        await conn.execute("DELETE FROM drafts WHERE user_id = ? AND place = ?", (user_id, where))


def _json(row: Row) -> dict:
    return {
        "place": row["place"],
        "subject": row["subject"],
        "body": row["body"],
        "version": row["version"],
        "updated_at": row["updated_at"],
    }


async def _where(conn: Connection, where: str) -> tuple[str, str]:
    """Where the draft of `where` is written, as (link, what it is for); NotFound when that is gone."""
    kind, _, target = where.partition(":")
    if kind == "thread":
        if not await fetch_one(conn, "SELECT 1 FROM groups WHERE name = ?", (target,)):
            raise NotFound(f"no group {target}")
        return f"/g/{target}/new", f"New thread in {target}"
    row = await fetch_one(conn, "SELECT subject FROM articles WHERE id = ?", (int(target),))
    if row is None:
        raise NotFound(f"no article {target}")
    return f"/a/{target}/{kind}", ("Reply to " if kind == "reply" else "Edit of ") + f"“{row['subject']}”"


async def get(conn: Connection, user_id: int, where: str) -> dict | None:
    """The reader's draft at a place: {place, subject, body, version, updated_at}, or None."""
    row = await fetch_one(
        conn, "SELECT * FROM drafts WHERE user_id = ? AND place = ?", (user_id, place(where))
    )
    return _json(row) if row else None


async def save(
    conn: Connection, user_id: int, where: object, subject: object, body: object, version: object
) -> dict:
    """Store the reader's draft at a place as the successor of `version` (0:
    a new draft) and return it with its new version. Conflict (409, the stored
    draft in `draft`) when a draft is stored with another version; Invalid on
    a bad place or text (the subject's and body's posting limits), or when
    the account already holds MAX_DRAFTS drafts; NotFound when the article or
    group is gone."""
    where = place(where)
    subject = validate.line(
        "" if subject is None else subject, "subject", max_len=validate.SUBJECT_MAX, min_len=0
    )
    body = validate.body(body, allow_empty=True)
    version = validate.integer(version, "version", minimum=0)
    await _where(conn, where)
    stored = await get(conn, user_id, where)
    if stored is None:
        count = await fetch_one(conn, "SELECT count(*) AS n FROM drafts WHERE user_id = ?", (user_id,))
        if count and count["n"] >= MAX_DRAFTS:
            raise Invalid(f"you already keep {MAX_DRAFTS} drafts; discard some on your account page")
    elif stored["version"] != version:
        raise Conflict("this draft was changed elsewhere meanwhile", draft=stored)
    draft = {
        "place": where,
        "subject": subject,
        "body": body,
        "version": version + 1,
        "updated_at": clock.now(),
    }
    await conn.execute(
        "INSERT INTO drafts (user_id, place, subject, body, version, updated_at) VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (user_id, place) DO UPDATE SET subject = excluded.subject, body = excluded.body,"
        " version = excluded.version, updated_at = excluded.updated_at",
        (user_id, where, subject, body, draft["version"], draft["updated_at"]),
    )
    return draft


async def discard(conn: Connection, user_id: int, where: str) -> bool:
    """Forget the reader's draft at a place; False when there was none."""
    cur = await conn.execute("DELETE FROM drafts WHERE user_id = ? AND place = ?", (user_id, place(where)))
    return cur.rowcount > 0


async def drafts_of(conn: Connection, user_id: int) -> list[dict]:
    """The reader's drafts, newest first, without bodies: {place, subject,
    excerpt, version, updated_at, link, about}; `link` is the form it belongs
    to, None (with `about` saying so) when that article or group is gone."""
    rows = await fetch_all(
        conn,
        "SELECT place, subject, substr(body, 1, ?) AS excerpt, version, updated_at FROM drafts"
        " WHERE user_id = ? ORDER BY updated_at DESC",
        (EXCERPT_CHARS, user_id),
    )
    listed = []
    for row in rows:
        try:
            link, about = await _where(conn, row["place"])
        except NotFound:
            link, about = None, "for something no longer here"
        listed.append(
            {**dict(row), "excerpt": " ".join(row["excerpt"].split()), "link": link, "about": about}
        )
    return listed

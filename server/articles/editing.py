"""Editing an article within the grace period: its author's new text
supersedes the old one, as a news supersede does, but the article keeps its
id, Message-ID, number and place, so every link still holds. The text it
replaced is kept (article_versions), the article says when it was edited,
and an `article.updated` event lets open pages show the new text. After the
grace period (`edit_grace_minutes`) an article can only be withdrawn.

An article hidden after reports may be edited by its author too: the first
such edit shows it again (reports made before it no longer count towards
hiding it: server/stewardship/reports.py); a later hiding stays until a
moderator decides."""

from __future__ import annotations

from datetime import datetime, timedelta
from sqlite3 import Row

from aiosqlite import Connection

from ..news import peers
from ..stewardship import trust
from ..stewardship.permissions import User, require
from ..store import clock, validate
from ..store.db import fetch_all, fetch_one
from ..store.errors import Conflict, Forbidden
from ..store.events import emit
from . import indexing
from .reading import ARTICLE_SELECT, article_json, article_row


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def editable_until(created_at: str, grace_minutes: int) -> str:
    return clock.stamp(_parse(created_at) + timedelta(minutes=grace_minutes))


async def editable(conn: Connection, user: User, ref: object, *, grace_minutes: int) -> Row:
    """The row of the article `ref` names if `user` may edit it now: 404 for
    no such article, 403 for anyone but its author, 409 `conflict` on a
    withdrawn article or after the grace period (with `editable_until`)."""
    row = await article_row(conn, ref)
    if row["user_id"] != user.id:
        raise Forbidden("only its author can edit an article")
    if row["status"] not in ("ok", "hidden"):
        raise Conflict("a withdrawn article cannot be edited")
    until = editable_until(row["created_at"], grace_minutes)
    if clock.now() >= until:
        raise Conflict(
            f"the {grace_minutes} minutes to edit it are over: it can only be withdrawn now",
            editable_until=until,
        )
    return row


async def edit(
    conn: Connection,
    user: User | None,
    ref: object,
    body: object,
    subject: object = None,
    *,
    grace_minutes: int,
    rules: trust.Rules | None = None,
) -> dict:
    """Replace an article's text (and subject, if given) by its author's new
    one; the article as the API shows it now. 403 for anyone but the author,
    409 `conflict` after the grace period or on a withdrawn article, 422
    `too_many_links` when a new account's edit adds links past the site's
    trust `rules` (the defaults when None), as posting refuses them."""
    user = require(user, "post")
    row = await editable(conn, user, ref, grace_minutes=grace_minutes)
    body = validate.body(body)
    trust.check_links(user, rules or trust.Rules(), body)
    subject = validate.subject(subject) if subject not in (None, "") else row["subject"]
    return await revise(conn, row, body, subject)


async def revise(conn: Connection, row: Row, body: str, subject: str) -> dict:
    """The change an edit makes to an article (its ARTICLE_SELECT row, visible
    or hidden), whoever's edit was checked (a member's through `edit`, a
    fediverse author's Update through federation/inbox.py): the old text kept
    as a version, the new one indexed, `article.updated` announced. `body`
    and `subject` are checked already. Returns the article now."""
    if body == row["body"] and subject == row["subject"]:
        return article_json(row)
    now = clock.now()
    await conn.execute(
        "INSERT INTO article_versions (article_id, subject, body, written_at, replaced_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (row["id"], row["subject"], row["body"], row["edited_at"] or row["created_at"], now),
    )
    # The search index follows the text: the old words out, the new ones in
    # (a hidden article's are out, and come in if this edit shows it again).
    if row["status"] == "ok":
        await indexing.unindex(conn, row)
    visible = row["status"] == "ok" or await _unhide_once(conn, row["id"], now)
    await conn.execute(
        "UPDATE articles SET subject = ?, body = ?, edited_at = ?, status = ? WHERE id = ?",
        (subject, body, now, "ok" if visible else "hidden", row["id"]),
    )
    if visible:
        await indexing.index(conn, row["id"], subject, body, row["author_name"])
    fresh = await fetch_one(conn, ARTICLE_SELECT + " WHERE a.id = ?", (row["id"],))
    assert fresh is not None
    article = article_json(fresh)
    await emit(conn, "article.updated", group=article["group"], thread_id=article["thread_id"], data=article)
    if row["status"] == "hidden" and visible:  # nothing went to the peers while it was hidden
        await peers.queue_shown(conn, article)
    return article


async def _unhide_once(conn: Connection, article_id: int, now: str) -> bool:
    """Whether this edit shows a hidden article again: only the first edit
    while its reports wait (the queue item records when), never a later one."""
    return (
        await fetch_one(
            conn,
            "UPDATE queue SET unhid_at = ? WHERE article_id = ? AND kind = 'reported'"
            " AND state = 'waiting' AND unhid_at IS NULL RETURNING id",
            (now, article_id),
        )
        is not None
    )


async def history(conn: Connection, ref: object) -> dict:
    """`{article, versions}`: the article now and the texts it had, oldest first,
    each `{subject, body, written_at, replaced_at}`."""
    row = await article_row(conn, ref)
    rows = await fetch_all(
        conn,
        "SELECT subject, body, written_at, replaced_at FROM article_versions"
        " WHERE article_id = ? ORDER BY id",
        (row["id"],),
    )
    return {"article": article_json(row), "versions": [dict(r) for r in rows]}

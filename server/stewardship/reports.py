"""Members' reports on articles. Any signed-in member reports an article
once, for spam, abuse, being off-topic or another reason, with a note; the
reports gather on one queue item of the article's group.

Contract of `report`:
- a suspended member, or one banned from the group, may not report; a
  withdrawn article or a moderation notice cannot be reported (Conflict);
- a second report by the same member changes nothing (`already`); a report
  on one's own article, or by a member DISMISSED_LIMIT or more of whose
  reports moderators dismissed, more than they upheld, counts for nothing
  (weight 0) but is kept for the moderators to see;
- any other report weighs by its reporter's trust level (trust.weight: new 1,
  member 2, regular 3), and the site's threshold counts member reports: the
  article hides once the weights reach threshold * trust.MEMBER_WEIGHT;
- when the counted spam and abuse reports on a visible article reach that
  weighted threshold, the article is hidden pending review (posting.hide), the
  hiding is logged as the site's ("hide") and its author is told. Off-topic
  and other reports never hide on their own, so a brigade cannot silence a
  post. An author's edit shows a hidden article again, once (articles.editing);
  reports made before that edit no longer count towards hiding it;
- the reporter is never shown to the author (only the moderators see who)."""

from __future__ import annotations

from sqlite3 import Row

from aiosqlite import Connection

from ..articles import posting
from ..articles.authors import Author
from ..articles.reading import article_json, article_row
from ..people import notifications
from ..store import clock, validate
from ..store.db import fetch_one
from ..store.errors import Conflict, Forbidden, Invalid
from . import modlog, trust
from .permissions import User, require

REASONS = ("spam", "abuse", "off-topic", "other")
HIDING = ("spam", "abuse")
NOTE_MAX = 1000
# Dismissed reports after which a member's reports count for nothing, while dismissed outnumber upheld.
DISMISSED_LIMIT = 3


async def _discredited(conn: Connection, user_id: int) -> bool:
    row = await fetch_one(
        conn,
        "SELECT sum(q.state = 'approved'), sum(q.state = 'rejected') FROM reports r"
        " JOIN queue q ON q.id = r.item_id WHERE r.user_id = ?",
        (user_id,),
    )
    dismissed, upheld = (row[0] or 0, row[1] or 0) if row is not None else (0, 0)
    return dismissed >= DISMISSED_LIMIT and dismissed > upheld


async def _item(conn: Connection, article: Row) -> Row:
    """The waiting reported item of `article`, made when there is none."""
    found = await fetch_one(
        conn,
        "SELECT * FROM queue WHERE article_id = ? AND kind = 'reported' AND state = 'waiting'",
        (article["id"],),
    )
    if found is not None:
        return found
    made = await fetch_one(
        conn,
        "INSERT INTO queue (group_id, kind, why, channel, message_id, article_id, user_id, author_name,"
        " author_addr, created_at) VALUES (?, 'reported', 'reports', ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        (
            article["group_id"],
            article["channel"] or ("mail" if article["author_addr"] else "web"),
            article["message_id"],
            article["id"],
            article["user_id"],
            article["author_name"],
            article["author_addr"],
            clock.now(),
        ),
    )
    assert made is not None  # RETURNING gives the row just inserted
    return made


async def report(
    conn: Connection,
    user: User | None,
    ref: object,
    reason: object,
    note: object = None,
    *,
    threshold: int,
    rules: trust.Rules | None = None,
) -> dict:
    """Report an article (see the module's contract): `{report, counted,
    already, article}`, `article` as the public sees it now. `rules` are the
    site's trust rules (the defaults when None), which weigh the report."""
    user = require(user, "report")
    if reason not in REASONS:
        raise Invalid(f"reason must be one of {', '.join(REASONS)}")
    note = validate.body(note if note is not None else "", what="note", max_bytes=NOTE_MAX, allow_empty=True)
    article = await article_row(conn, ref)
    if article["status"] == "notice":
        raise Forbidden("moderation notices are not reported; the moderation log answers for them")
    if article["status"] == "cancelled":
        raise Conflict("this article was withdrawn already")
    await posting.check_not_banned(
        conn, {"id": article["group_id"], "name": article["group_name"]}, Author.of(user)
    )
    existing = await fetch_one(
        conn,
        "SELECT id, reason, created_at FROM reports WHERE article_id = ? AND user_id = ?",
        (article["id"], user.id),
    )
    if existing is not None:
        return {"report": dict(existing), "counted": False, "already": True, "article": article_json(article)}
    item = await _item(conn, article)
    discounted = article["user_id"] == user.id or await _discredited(conn, user.id)
    weight = 0 if discounted else trust.weight(user, rules or trust.Rules())
    cur = await conn.execute(
        "INSERT INTO reports (item_id, article_id, user_id, reason, note, weight, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (item["id"], article["id"], user.id, reason, note, weight, clock.now()),
    )
    shown = article_json(article)
    if weight and reason in HIDING and article["status"] == "ok":
        counted = await fetch_one(
            conn,
            "SELECT coalesce(sum(weight), 0) AS weight, count(*) FILTER (WHERE weight > 0) AS reports"
            " FROM reports WHERE item_id = ? AND reason IN ('spam', 'abuse') AND created_at >= coalesce(?, '')",
            (item["id"], item["unhid_at"]),
        )
        assert counted is not None  # an aggregate always gives a row
        if counted["weight"] >= threshold * trust.MEMBER_WEIGHT:
            shown = await _hide(conn, article, counted["reports"], counted["weight"])
    made = await fetch_one(conn, "SELECT id, reason, created_at FROM reports WHERE id = ?", (cur.lastrowid,))
    assert made is not None
    return {"report": dict(made), "counted": bool(weight), "already": False, "article": shown}


async def _hide(conn: Connection, article: Row, counted: int, weight: int) -> dict:
    """Hide `article` pending review, log it as the site's, tell its author."""
    shown = await posting.hide(conn, article)
    entry_id = await modlog.write(
        conn,
        modlog.Entry.on_article(
            "hide",
            None,
            article,
            reason=f"{counted} members reported it as spam or abuse",
            data={"reports": counted, "weight": weight},
        ),
    )
    await notifications.on_decision(conn, entry_id, article["user_id"], None, article["thread_id"])
    return shown

"""Reading threads and articles: the JSON shapes of API.md and the
keyset-paginated queries behind every list (never OFFSET)."""

from __future__ import annotations

import json
from sqlite3 import Row

from aiosqlite import Connection

from ..store import keyset, validate
from ..store.db import fetch_all, fetch_one, fetch_value, row_by_id
from ..store.errors import Invalid, NotFound
from . import subjects, tree

# A fediverse author's profile page (the actor's `url`, else its id), for an
# article that came from the fediverse: one primary-key seek each, only for those.
AUTHOR_URL = (
    "CASE WHEN a.channel = 'fediverse' THEN (SELECT coalesce(x.url, x.uri) FROM ap_objects o"
    " JOIN ap_actors x ON x.uri = o.actor WHERE o.article_id = a.id) END AS author_url"
)

ARTICLE_SELECT = (
    f"SELECT a.*, g.name AS group_name, u.username AS username, {AUTHOR_URL}"
    " FROM articles a JOIN groups g ON g.id = a.group_id"
    " LEFT JOIN users u ON u.id = a.user_id"
)

# An article with what deciding on a reply to it needs: one query, not three.
PARENT_SELECT = (
    "SELECT a.*, g.name AS group_name, u.username AS username,"
    " g.status AS group_status, t.state AS thread_state"
    " FROM articles a JOIN groups g ON g.id = a.group_id JOIN threads t ON t.id = a.thread_id"
    " LEFT JOIN users u ON u.id = a.user_id"
)

THREAD_SELECT = "SELECT t.*, g.name AS group_name FROM threads t JOIN groups g ON g.id = t.group_id"


# What everyone but the moderators sees of a hidden article.
HIDDEN_NOTICE = "[This article is hidden while the moderators review reports about it.]"


def article_json(row: Row | dict) -> dict:
    """The public JSON of an article row (ARTICLE_SELECT's columns); a hidden
    article's text is not shown (its author and the moderators see it in the queue)."""
    article = {
        "id": row["id"],
        "message_id": row["message_id"],
        "thread_id": row["thread_id"],
        "group": row["group_name"],
        "parent_id": row["parent_id"],
        "references": row["refs"].split() if row["refs"] else [],
        "depth": row["depth"],
        "subject": row["subject"],
        "body": HIDDEN_NOTICE if row["status"] == "hidden" else row["body"],
        "author": {"username": row["username"], "display_name": row["author_name"]},
        "created_at": row["created_at"],
        "number": row["number"],
        "status": row["status"],
        "utc_offset": row["utc_offset"],
    }
    if row["notice"]:
        article["notice"] = json.loads(row["notice"])
    if "edited_at" in row.keys() and row["edited_at"]:  # noqa: SIM118 - "in" on a Row reads its values
        article["edited_at"] = row["edited_at"]
    if "approved" in row.keys() and row["approved"]:  # noqa: SIM118 - as above
        article["approved"] = row["approved"]
    url = row["author_url"] if "author_url" in row.keys() else None  # noqa: SIM118 - as above
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        article["author"]["url"] = url  # a fediverse author's profile
    return article


def thread_json(row: Row | dict) -> dict:
    thread = {
        "id": row["id"],
        "group": row["group_name"],
        "subject": row["subject"],
        "state": row["state"],
        "article_count": row["article_count"],
        "last_article_at": row["last_article_at"],
        "created_at": row["created_at"],
        "root_article_id": row["root_article_id"],
        "archived_at": row["archived_at"],
        "is_reference": bool(row["is_reference"]),
    }
    if row["split_from_thread_id"] is not None:
        thread["split_from"] = {
            "thread_id": row["split_from_thread_id"],
            "article_id": row["split_from_article_id"],
        }
    if row["merged_into_thread_id"] is not None:
        thread["merged_into"] = row["merged_into_thread_id"]
    if row["continued_from_thread_id"] is not None:
        thread["continued_from"] = row["continued_from_thread_id"]
    return thread


async def article_row(conn: Connection, ref: object, select: str = ARTICLE_SELECT) -> Row:
    """An article by integer id (or decimal string) or by Message-ID."""
    if not (isinstance(ref, str) and ref.startswith("<")):
        return await row_by_id(conn, select + " WHERE a.id = ?", ref, "article")
    row = await fetch_one(conn, select + " WHERE a.message_id = ?", (ref,))
    if row is None:
        raise NotFound("no such article")
    return row


async def hidden_texts(conn: Connection, articles: list[dict]) -> dict[int, str]:
    """The real text of the hidden ones among `articles` (article_json's), by
    id: what their authors alone see on a thread page."""
    ids = [a["id"] for a in articles if a["status"] == "hidden"]
    if not ids:
        return {}
    marks = ", ".join("?" * len(ids))
    rows = await fetch_all(conn, f"SELECT id, body FROM articles WHERE id IN ({marks})", tuple(ids))
    return {r["id"]: r["body"] for r in rows}


async def get_article(conn: Connection, ref: object) -> dict:
    return article_json(await article_row(conn, ref))


async def thread_row(conn: Connection, thread_id: object) -> Row:
    return await row_by_id(conn, THREAD_SELECT + " WHERE t.id = ?", thread_id, "thread")


async def get_thread(conn: Connection, thread_id: object) -> dict:
    return thread_json(await thread_row(conn, thread_id))


async def thread_page(
    conn: Connection, thread_id: object, *, limit: object = None, cursor: object = None, branch: object = None
) -> dict:
    """One page of a thread in tree order: `{thread, articles, next_cursor}`;
    with `branch` (an article id) only that article's sub-tree. The cursor
    names the last article shown (tree.parse_cursor, tree.after_article), so
    it survives renumbering. Reads the (thread_id, seq) index from the cursor
    on: cost is the page (and a branch's O(depth) seeks), not the thread."""
    thread = await get_thread(conn, thread_id)
    limit = validate.limit(limit)
    after = tree.parse_cursor(cursor)
    sql = ARTICLE_SELECT + " WHERE a.thread_id = ?"
    params: list = [thread["id"]]
    if branch is not None:
        top = await article_row(conn, validate.integer(branch, "branch"))
        if top["thread_id"] != thread["id"]:
            raise NotFound("that article is not in this thread now")
        where, more_params = (await tree.span(conn, top)).where("a")
        sql += " AND " + where
        params += more_params
    if after is not None:
        sql += " AND a.seq > ?"
        params.append(await tree.after_article(conn, thread["id"], after))
    rows, more = keyset.split_page(
        await fetch_all(conn, sql + " ORDER BY a.seq LIMIT ?", (*params, limit + 1)), limit
    )
    return {
        "thread": thread,
        "articles": [article_json(r) for r in rows],
        "next_cursor": tree.cursor(rows[-1]["id"]) if more else None,
    }


async def page_cursor(conn: Connection, thread_id: int, article_id: int, page_size: int) -> str | None:
    """The cursor of the thread_page (of `page_size` articles) that shows the
    article, None for the first page: its tree position, counted on the
    (thread_id, seq) index, rounded down to a page's start."""
    before = await fetch_value(
        conn,
        "SELECT count(*) FROM articles WHERE thread_id = ? AND seq < (SELECT seq FROM articles WHERE id = ?)",
        (thread_id, article_id),
    )
    start = int(before or 0) // page_size * page_size
    if start == 0:
        return None
    last = await fetch_value(
        conn,
        "SELECT id FROM articles WHERE thread_id = ? ORDER BY seq LIMIT 1 OFFSET ?",
        (thread_id, start - 1),
    )
    return tree.cursor(int(last))


# An outline line: what a subject/author/date tree shows, and the parent's
# subject (to tell a changed one), without any article's text.
OUTLINE_SELECT = (
    "SELECT a.id, a.parent_id, a.depth, a.subject, a.author_name, a.created_at, a.status,"
    " p.subject AS parent_subject FROM articles a LEFT JOIN articles p ON p.id = a.parent_id"
)


async def outline_page(conn: Connection, thread_id: object, *, limit: int, cursor: object = None) -> dict:
    """One page of a thread's outline in tree order, `limit` lines:
    `{thread, lines, next_cursor}`, each line `{id, parent_id, depth, subject,
    author, created_at, status, subject_changed}`. Cursors are thread_page's,
    so an outline page starts where a thread page does. A hidden or withdrawn
    article's subject is not shown (None), as its text is not."""
    thread = await get_thread(conn, thread_id)
    after = tree.parse_cursor(cursor)
    sql, params = OUTLINE_SELECT + " WHERE a.thread_id = ?", [thread["id"]]
    if after is not None:
        sql += " AND a.seq > ?"
        params.append(await tree.after_article(conn, thread["id"], after))
    rows, more = keyset.split_page(
        await fetch_all(conn, sql + " ORDER BY a.seq LIMIT ?", (*params, limit + 1)), limit
    )
    lines = [
        {
            "id": r["id"],
            "parent_id": r["parent_id"],
            "depth": r["depth"],
            "subject": r["subject"] if r["status"] in ("ok", "notice") else None,
            "author": r["author_name"],
            "created_at": r["created_at"],
            "status": r["status"],
            "subject_changed": r["parent_id"] is not None
            and r["subject"] != subjects.reply_subject(r["parent_subject"]),
        }
        for r in rows
    ]
    return {"thread": thread, "lines": lines, "next_cursor": tree.cursor(rows[-1]["id"]) if more else None}


async def list_threads(
    conn: Connection, group_row: Row, *, state: object = None, limit: object = None, cursor: object = None
) -> dict:
    """A group's threads, newest activity first: `{threads, next_cursor}`.
    `state` is `open` (open and locked, the default) or `archived`."""
    state = state or "open"
    if state not in ("open", "archived"):
        raise Invalid("state must be open or archived")
    return await thread_list(
        conn,
        "t.group_id = ? AND (t.state = 'archived') = ? AND t.merged_into_thread_id IS NULL",
        [group_row["id"], state == "archived"],
        order="last_article_at",
        newest_first=True,
        limit=limit,
        cursor=cursor,
    )


# The threads a moderator picks a merge's target from: a few, by subject.
FIND_MAX = 20
FIND_QUERY_MAX = 200


async def find_threads(
    conn: Connection, text: object, groups: list[str] | None, limit: object = None
) -> list[dict]:
    """Live threads of `groups` (None: every group) whose subject holds
    `text`, or whose number it is, most recently active first, at most
    `limit` (1 to FIND_MAX; 10 when not given)."""
    if not isinstance(text, str) or len(text) > FIND_QUERY_MAX:
        raise Invalid(f"q is text of at most {FIND_QUERY_MAX} characters")
    count = 10 if limit in (None, "") else validate.integer(limit, "limit", maximum=FIND_MAX)
    words = text.split()
    where, params = "t.merged_into_thread_id IS NULL", list[object]()
    for word in words:
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where += " AND (t.subject LIKE ? ESCAPE '\\'" + (" OR t.id = ?)" if word.isdigit() else ")")
        params += [f"%{escaped}%", *([int(word[:18])] if word.isdigit() else [])]
    if groups is not None:
        where += f" AND g.name IN ({','.join('?' * len(groups))})"
        params += groups
    listed = await thread_list(
        conn, where, params, order="last_article_at", newest_first=True, limit=count, cursor=None
    )
    return listed["threads"]


async def thread_list(
    conn: Connection,
    where: str,
    params: list,
    *,
    order: str,
    newest_first: bool,
    limit: object,
    cursor: object,
) -> dict:
    """One keyset page of the threads matching `where`, ordered by (`order`,
    id): `{threads, next_cursor}`; the cursor is the last (stamp, id) shown."""
    limit = validate.limit(limit)
    after = keyset.parse_stamp_cursor(cursor)
    if after is not None:
        where += f" AND (t.{order}, t.id) {'<' if newest_first else '>'} (?, ?)"
        params = [*params, *after]
    direction = "DESC" if newest_first else "ASC"
    rows, more = keyset.split_page(
        await fetch_all(
            conn,
            f"{THREAD_SELECT} WHERE {where} ORDER BY t.{order} {direction}, t.id {direction} LIMIT ?",
            (*params, limit + 1),
        ),
        limit,
    )
    next_cursor = keyset.stamp_cursor(rows[-1][order], rows[-1]["id"]) if more else None
    return {"threads": [thread_json(r) for r in rows], "next_cursor": next_cursor}


async def reference_threads(conn: Connection, group_row: Row, limit: int = 20) -> list[dict]:
    """A group's "read these first" shelf: its threads flagged as references,
    oldest first (a shelf holds a handful)."""
    rows = await fetch_all(
        conn,
        THREAD_SELECT + " WHERE t.group_id = ? AND t.is_reference = 1"
        " AND t.merged_into_thread_id IS NULL ORDER BY t.created_at LIMIT ?",
        (group_row["id"], limit),
    )
    return [thread_json(r) for r in rows]


async def subtree_size(conn: Connection, article: Row, cap: int) -> tuple[int, bool]:
    """Articles in the sub-tree of `article` (itself included), counted on
    the (thread_id, seq) index up to `cap`, and whether the count reached it."""
    where, params = (await tree.span(conn, article)).where()
    count = await fetch_value(
        conn, f"SELECT count(*) FROM (SELECT 1 FROM articles WHERE {where} LIMIT ?)", (*params, cap + 1)
    )
    return min(count, cap), count > cap

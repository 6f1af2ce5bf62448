"""Split suggestions: where a long thread drifted. Candidates are replies
whose subject changed from their parent's (often written 'New topic (was:
Old topic)') and the largest sub-trees, each with its sub-tree size.

Cost: one read of the whole thread without bodies (id, parent, depth,
subject, author, date) through the (thread_id, seq) index, then linear
work in Python: sizes come from one pass in reverse tree order."""

from __future__ import annotations

from collections.abc import Sequence
from sqlite3 import Row

from aiosqlite import Connection

from ..articles.reading import get_thread
from ..articles.subjects import base_subject, was_subject
from ..store.db import fetch_all

SUBJECT_CHANGES_MAX = 20  # a page's worth: more than that is noise, the largest come first
LARGEST_MAX = 5


def _key(subject: str) -> str:
    return base_subject(subject).casefold()


def suggest(
    rows: Sequence[Row], *, subject_changes: int = SUBJECT_CHANGES_MAX, largest: int = LARGEST_MAX
) -> list[dict]:
    """Candidate split points from a thread's rows in tree order (each with id,
    parent_id, depth, subject, author_name, created_at). Pure: no I/O."""
    sizes: dict[int, int] = {}
    for row in reversed(rows):  # children come after their parent in tree order
        sizes[row["id"]] = sizes.get(row["id"], 0) + 1
        if row["parent_id"] is not None:
            sizes[row["parent_id"]] = sizes.get(row["parent_id"], 0) + sizes[row["id"]]
    by_id = {row["id"]: row for row in rows}
    reasons: dict[int, list[str]] = {}
    changed = []
    for row in rows:
        parent = by_id.get(row["parent_id"])
        if parent is None or row["status"] == "notice":
            continue
        if _key(row["subject"]) != _key(parent["subject"]) and _key(row["subject"]):
            changed.append(row["id"])
    changed.sort(key=lambda i: (-sizes[i], i))
    for article_id in changed[:subject_changes]:
        reasons.setdefault(article_id, []).append("subject_changed")
    replies = [row["id"] for row in rows if row["parent_id"] is not None and row["status"] != "notice"]
    replies.sort(key=lambda i: (-sizes[i], i))
    for article_id in replies[:largest]:
        if sizes[article_id] > 1:
            reasons.setdefault(article_id, []).append("large_subtree")
    out = []
    for article_id, why in reasons.items():
        row = by_id[article_id]
        out.append(
            {
                "article_id": article_id,
                "subject": row["subject"],
                "parent_subject": by_id[row["parent_id"]]["subject"],
                "was": was_subject(row["subject"]),
                "author": row["author_name"],
                "created_at": row["created_at"],
                "depth": row["depth"],
                "size": sizes[article_id],
                "reasons": why,
            }
        )
    out.sort(key=lambda s: (-s["size"], s["article_id"]))
    return out


async def split_suggestions(conn: Connection, thread_id: object) -> dict:
    """`{thread, total, suggestions}` for GET /api/threads/{id}/split-suggestions."""
    thread = await get_thread(conn, thread_id)
    rows = await fetch_all(
        conn,
        "SELECT id, parent_id, depth, subject, author_name, created_at, status FROM articles"
        " WHERE thread_id = ? ORDER BY seq",
        (thread["id"],),
    )
    return {"thread": thread, "total": len(rows), "suggestions": suggest(rows)}

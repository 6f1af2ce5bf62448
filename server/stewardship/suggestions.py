"""Split suggestions: where a long thread drifted. Candidates are replies
whose subject changed from their parent's (often written 'New topic (was:
Old topic)') and the largest sub-trees, each with its sub-tree size, its
branch (the reply to the root it hangs under) and its drift: 0 for a
subject that stayed, else how far its words are from the root's, plus 1
when the writer said so with '(was: …)'. Branches come in the order of
their strongest drift, and within a branch the strongest drift first, so a
real change of topic is listed before a sub-tree that is merely long.

Cost: one read of the whole thread without bodies (id, parent, depth,
subject, author, date) through the (thread_id, seq) index, then linear
work in Python: sizes come from one pass in reverse tree order; then the
bodies of the few suggestions, for their excerpts."""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import groupby
from sqlite3 import Row

from aiosqlite import Connection

from ..articles.reading import get_thread
from ..articles.search import own_text
from ..articles.subjects import base_subject, was_subject
from ..store.db import fetch_all

SUBJECT_CHANGES_MAX = 20  # a page's worth: more than that is noise, the largest come first
LARGEST_MAX = 5
EXCERPT_CHARS = 160


def _key(subject: str) -> str:
    return base_subject(subject).casefold()


def _words(subject: str) -> set[str]:
    return set(re.findall(r"\w+", _key(subject)))


def drift(subject: str, parent_subject: str, root_subject: str) -> float:
    """How far `subject` moved: 0 when its topic is its parent's; else 1 less
    the share of words it has in common with the root's, plus 1 for '(was: …)'."""
    if _key(subject) == _key(parent_subject) or not _key(subject):
        return 0.0
    mine, root = _words(subject), _words(root_subject)
    apart = 1 - len(mine & root) / len(mine | root) if mine | root else 0.0
    return round(apart + (1 if was_subject(subject) else 0), 3)


def excerpt(body: str) -> str:
    """The first of the author's own words, for a suggestion's row."""
    text = " ".join(own_text(body).split()) or " ".join(body.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1].rstrip() + "…"


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
    branch_of: dict[int, int] = {}
    for row in rows:  # parents come before their children in tree order
        parent = by_id.get(row["parent_id"])
        if parent is not None:
            branch_of[row["id"]] = row["id"] if parent["parent_id"] is None else branch_of[parent["id"]]
    root_subject = rows[0]["subject"] if rows else ""
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
        parent_subject = by_id[row["parent_id"]]["subject"]
        out.append(
            {
                "article_id": article_id,
                "subject": row["subject"],
                "parent_subject": parent_subject,
                "branch": branch_of[article_id],
                "drift": drift(row["subject"], parent_subject, root_subject),
                "was": was_subject(row["subject"]),
                "author": row["author_name"],
                "created_at": row["created_at"],
                "depth": row["depth"],
                "size": sizes[article_id],
                "reasons": why,
            }
        )
    strongest: dict[int, float] = {}
    for s in out:
        strongest[s["branch"]] = max(strongest.get(s["branch"], 0.0), s["drift"])
    out.sort(key=lambda s: (-strongest[s["branch"]], s["branch"], -s["drift"], -s["size"], s["article_id"]))
    return out


def by_branch(found: Sequence[dict]) -> list[list[dict]]:
    """`suggest`'s list cut where the branch changes, its order kept."""
    return [list(group) for _, group in groupby(found, key=lambda s: s["branch"])]


async def split_suggestions(conn: Connection, thread_id: object) -> dict:
    """`{thread, total, suggestions}` for GET /api/threads/{id}/split-suggestions."""
    thread = await get_thread(conn, thread_id)
    rows = await fetch_all(
        conn,
        "SELECT id, parent_id, depth, subject, author_name, created_at, status FROM articles"
        " WHERE thread_id = ? ORDER BY seq",
        (thread["id"],),
    )
    found = suggest(rows)
    marks = ",".join("?" * len(found))
    texts = await fetch_all(
        conn, f"SELECT id, body FROM articles WHERE id IN ({marks})", [s["article_id"] for s in found]
    )
    bodies = {row["id"]: row["body"] for row in texts}
    for s in found:
        s["excerpt"] = excerpt(bodies.get(s["article_id"], ""))
    return {"thread": thread, "total": len(rows), "suggestions": found}

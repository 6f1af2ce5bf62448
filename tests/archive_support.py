"""Helpers shared by the archive tests: a varied group to export, and what
must survive an export and import (the tree, subjects, bodies, dates, ids)."""

from __future__ import annotations

import sqlite3

from moot.people import accounts
from moot.store import check
from tests.conftest import PASSWORD, password_hash

TRICKY_BODIES = [
    "Plain first post.\n\nWith a second paragraph.",
    "From the start of a line, a From_ trap.\n>From an escaped one\n>>From deeper",
    "Ünïcödé bödy — “quotes” and emoji 🦆\n\n> quoted reply\n>> deeper quote",
    "A line that is very long " * 60,
    "Tabs\tand trailing spaces   \nsecond line\n\n\n\nafter blank lines",
    "=?utf-8?q?not_an_encoded_word?= in a body\n.\n..\nFrom ",
]
TRICKY_SUBJECTS = [
    "Hello",
    "Ünïcödé — subject ☃",
    "=?utf-8?q?looks_encoded?=",
    'A subject with "quotes" and <brackets> and, commas; ' * 4,
]


async def named_client(site, username: str, display_name: str, role: str = "member"):
    """A signed-in client for an account with a chosen display name."""
    if username not in site.users:
        site.users[username] = await accounts.create_user(
            site.db, username, PASSWORD, display_name, role, password_hash=password_hash()
        )
    return await site.client(username)


async def build_group(site, group: str = "comp.lang.python", threads: int = 3) -> dict:
    """A group with several threads of nested replies from authors with plain,
    quoted and non-ASCII names, and bodies that stress the mbox format."""
    admin = await site.client("root", "admin")
    r = await admin.post("/api/groups", json={"name": group, "description": "Python"})
    assert r.status_code == 201, r.text
    authors = [
        await named_client(site, "ada", "Ada Lovelace"),
        await named_client(site, "bruno", 'Brünö Ça "the" Écrivain'),
        await named_client(site, "chidi", "Chidi, O'Neil <x>"),
    ]
    made = {"threads": [], "articles": []}
    for t in range(threads):
        author = authors[t % len(authors)]
        r = await author.post(
            f"/api/groups/{group}/threads",
            json={
                "subject": TRICKY_SUBJECTS[t % len(TRICKY_SUBJECTS)],
                "body": TRICKY_BODIES[t % len(TRICKY_BODIES)],
            },
        )
        assert r.status_code == 201, r.text
        root = r.json()["article"]
        made["threads"].append(r.json()["thread"])
        made["articles"].append(root)
        parents = [root]
        for i in range(5):
            parent = parents[(i * 7 + t) % len(parents)]
            body = TRICKY_BODIES[(i + t + 1) % len(TRICKY_BODIES)]
            payload = {"body": body}
            if i == 2:
                payload["subject"] = TRICKY_SUBJECTS[(i + t) % len(TRICKY_SUBJECTS)]
            r = await authors[(i + t + 1) % len(authors)].post(
                f"/api/articles/{parent['id']}/replies", json=payload
            )
            assert r.status_code == 201, r.text
            parents.append(r.json()["article"])
            made["articles"].append(r.json()["article"])
    return made


def shape(db_path: str, group: str) -> dict:
    """What an export and import must keep, keyed by Message-ID (ids differ between sites)."""
    conn = sqlite3.connect(db_path)
    try:
        rows = conn.execute(
            "SELECT a.message_id, p.message_id, r.message_id, a.subject, a.body, a.created_at,"
            " a.author_name, t.subject, t.created_at"
            " FROM articles a JOIN groups g ON g.id = a.group_id JOIN threads t ON t.id = a.thread_id"
            " JOIN articles r ON r.id = t.root_article_id LEFT JOIN articles p ON p.id = a.parent_id"
            " WHERE g.name = ?",
            (group,),
        ).fetchall()
        return {
            r[0]: {
                "parent": r[1],
                "thread_root": r[2],
                "subject": r[3],
                "body": r[4],
                "created_at": r[5],
                "author": r[6],
                "thread_subject": r[7],
                "thread_created_at": r[8],
            }
            for r in rows
        }
    finally:
        conn.close()


def check_consistency(db_path: str) -> None:
    """Counters equal fresh counts, every tree is whole, and the search index
    holds exactly the articles whose text is live."""
    conn = sqlite3.connect(db_path)
    try:
        bad = conn.execute(
            "SELECT t.id FROM threads t WHERE t.article_count <>"
            " (SELECT count(*) FROM articles a WHERE a.thread_id = t.id)"
            " OR t.last_article_at <> coalesce((SELECT max(created_at) FROM articles a"
            "   WHERE a.thread_id = t.id), t.created_at)"
        ).fetchall()
        assert bad == [], f"thread counters out of step: {bad}"
        bad = conn.execute(
            "SELECT g.name FROM groups g WHERE g.article_count <>"
            " (SELECT count(*) FROM articles a WHERE a.group_id = g.id)"
            " OR g.thread_count <> (SELECT count(*) FROM threads t WHERE t.group_id = g.id"
            "   AND t.merged_into_thread_id IS NULL)"
            " OR g.last_number < (SELECT coalesce(max(number), 0) FROM articles a WHERE a.group_id = g.id)"
            " OR coalesce(g.last_article_at, '') <> coalesce((SELECT max(created_at) FROM articles a"
            "   WHERE a.group_id = g.id), '')"
        ).fetchall()
        assert bad == [], f"group counters out of step: {bad}"
        assert (
            conn.execute(
                "SELECT count(*) FROM threads t LEFT JOIN articles a ON a.id = t.root_article_id"
                " WHERE t.merged_into_thread_id IS NULL"  # a merged thread holds no articles
                " AND (a.id IS NULL OR a.thread_id <> t.id OR a.parent_id IS NOT NULL)"
            ).fetchone()[0]
            == 0
        )
        assert check.CHECKS["reply trees"](conn) == []  # depths and order keys list each thread depth-first
        # rank 0, as moot check does: imports leave unindexed placeholders for
        # missing messages, which rank 1 would call malformed; the counts below
        # check that exactly the live articles are indexed.
        conn.execute("INSERT INTO articles_fts (articles_fts, rank) VALUES ('integrity-check', 0)")
        indexed = conn.execute("SELECT count(*) FROM articles_fts_docsize").fetchone()[0]
        live = conn.execute("SELECT count(*) FROM articles WHERE status = 'ok'").fetchone()[0]
        assert indexed == live, (indexed, live)
    finally:
        conn.close()

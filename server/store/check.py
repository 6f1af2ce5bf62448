"""`moot check`: what must hold in a Moot database, checked without changing it.

SQLite's own integrity and foreign keys; the full-text index; the counters
kept on threads and groups; the reply trees (depths and order keys
that list each thread depth-first, parents in the same thread, one root per
live thread); the events outbox (ids with no gaps).
Each check is one query over the whole table, so a large site is checked in
seconds. `check(path)` returns the problems found as readable lines; none
means the database is sound."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field

from . import migrate

# At most this many offending ids are named per problem; the count says the rest.
SHOWN = 10


@dataclass
class Report:
    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        lines = [f"ok    {name}" for name in self.checked if name not in self._failed()]
        lines += [f"FAIL  {problem}" for problem in self.problems]
        lines.append("database is sound" if self.ok else f"{len(self.problems)} problem(s) found")
        return "\n".join(lines)

    def _failed(self) -> set[str]:
        return {p.split(":", 1)[0] for p in self.problems}


def _ids(rows: list) -> str:
    shown = ", ".join(str(r[0]) for r in rows[:SHOWN])
    return shown + (f" and {len(rows) - SHOWN} more" if len(rows) > SHOWN else "")


def _integrity(conn: sqlite3.Connection, quick: bool) -> list[str]:
    rows = conn.execute("PRAGMA quick_check" if quick else "PRAGMA integrity_check").fetchall()
    return [] if rows == [("ok",)] else [r[0] for r in rows[:SHOWN]]


def _foreign_keys(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("PRAGMA foreign_key_check").fetchall()
    return [
        f"{table} row {rowid} refers to a missing {parent} row" for table, rowid, parent, _ in rows[:SHOWN]
    ]


def _schema(conn: sqlite3.Connection) -> list[str]:
    version = migrate.schema_version(conn)
    if version != migrate.SCHEMA_VERSION:
        return [f"schema version {version}, this Moot's is {migrate.SCHEMA_VERSION} (run `moot migrate`)"]
    unfinished = conn.execute("SELECT version FROM schema_history WHERE finished_at IS NULL").fetchall()
    return [f"schema step {r[0]} did not finish (run `moot migrate`)" for r in unfinished]


def _full_text_structure(conn: sqlite3.Connection) -> list[str]:
    # rank 0: the index's own structure. Not rank 1, which also compares the
    # index with every row of `articles`: moderation notices and cancelled
    # articles are deliberately not indexed, so on any site with a split or a
    # cancel it reports "malformed" although the index is right. What rank 1
    # would add, whether exactly the right rows are indexed, is _full_text's.
    # The command is an INSERT: it takes the write lock for its run, so it
    # runs alone, not inside the long read transaction of the other checks.
    try:
        conn.execute("INSERT INTO articles_fts (articles_fts, rank) VALUES ('integrity-check', 0)")
    except sqlite3.DatabaseError as error:
        return [f"the index structure is damaged ({error}); rebuild it"]
    return []


def _full_text(conn: sqlite3.Connection) -> list[str]:
    """Exactly the articles with status 'ok' are indexed (articles_fts_docsize
    holds one row per indexed article), but those still waiting for the
    writer's next batch: beyond the index's mark (search_indexed), or on an
    older schema, in its queue (search_queue) or none."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    waits = (
        "a.id > (SELECT article_id FROM search_indexed)"
        if "search_indexed" in tables
        else "a.id IN (SELECT article_id FROM search_queue)"
        if "search_queue" in tables
        else "0"
    )
    problems = []
    missing = conn.execute(
        f"SELECT a.id FROM articles a WHERE a.status = 'ok' AND NOT ({waits})"
        " AND NOT EXISTS (SELECT 1 FROM articles_fts_docsize d WHERE d.id = a.id)"
    ).fetchall()
    if missing:
        problems.append(f"articles missing from the index: {_ids(missing)}")
    early = conn.execute(
        f"SELECT a.id FROM articles_fts_docsize d JOIN articles a ON a.id = d.id WHERE {waits}"
    ).fetchall()
    if early:
        problems.append(f"articles indexed that still wait for the index (so indexed twice): {_ids(early)}")
    extra = conn.execute(
        "SELECT d.id FROM articles_fts_docsize d LEFT JOIN articles a ON a.id = d.id"
        " WHERE a.id IS NULL OR a.status != 'ok'"
    ).fetchall()
    if extra:
        problems.append(f"index entries for articles that must not be found: {_ids(extra)}")
    return problems


def _thread_counters(conn: sqlite3.Connection) -> list[str]:
    problems = []
    wrong = conn.execute(
        "SELECT t.id FROM threads t LEFT JOIN (SELECT thread_id, count(*) AS n,"
        " max(created_at) AS newest, sum(parent_id IS NULL) AS roots,"
        " max(CASE WHEN parent_id IS NULL THEN id END) AS root FROM articles GROUP BY thread_id) a"
        " ON a.thread_id = t.id"
        " WHERE (t.merged_into_thread_id IS NOT NULL AND (t.article_count != 0 OR a.n IS NOT NULL))"
        " OR (t.merged_into_thread_id IS NULL AND (a.n IS NULL OR t.article_count != a.n"
        "     OR t.last_article_at != a.newest OR a.roots != 1 OR t.root_article_id IS NOT a.root))"
    ).fetchall()
    if wrong:
        problems.append(
            "threads whose counters, last activity or root disagree with their articles: " + _ids(wrong)
        )
    return problems


def _group_counters(conn: sqlite3.Connection) -> list[str]:
    wrong = conn.execute(
        "SELECT g.id FROM groups g"
        " LEFT JOIN (SELECT group_id, count(*) AS n FROM threads WHERE merged_into_thread_id IS NULL"
        "   GROUP BY group_id) t ON t.group_id = g.id"
        " LEFT JOIN (SELECT group_id, count(*) AS n, max(created_at) AS newest, max(number) AS top"
        "   FROM articles GROUP BY group_id) a ON a.group_id = g.id"
        " WHERE g.thread_count != coalesce(t.n, 0) OR g.article_count != coalesce(a.n, 0)"
        " OR g.last_article_at IS NOT a.newest OR g.last_number < coalesce(a.top, 0)"
    ).fetchall()
    if wrong:
        return [f"groups whose counters disagree with their threads and articles: {_ids(wrong)}"]
    return []


def _trees(conn: sqlite3.Connection) -> list[str]:
    """The order keys list each thread depth-first (server/articles/tree.py): its root
    first at depth 0, and every reply one level below its parent and after
    it, with no article of the parent's level between them. Together these
    make thread order exactly the preorder of the parent links. A database
    older than schema 8 has paths instead: its schema version is the problem
    reported, and its trees are checked once `moot migrate` has converted them."""
    if "seq" not in [c[1] for c in conn.execute("PRAGMA table_info(articles)")]:
        return []
    problems = []
    checks = {
        "roots not at depth 0 or not first in their thread": "SELECT a.id FROM articles a WHERE a.parent_id IS NULL"
        " AND (a.depth != 0 OR EXISTS (SELECT 1 FROM articles b WHERE b.thread_id = a.thread_id AND b.seq < a.seq))",
        "replies whose parent is missing or in another thread": "SELECT a.id FROM articles a LEFT JOIN articles p ON p.id = a.parent_id"
        " WHERE a.parent_id IS NOT NULL AND (p.id IS NULL OR p.thread_id != a.thread_id)",
        "replies not one level below their parent": "SELECT a.id FROM articles a JOIN articles p ON p.id = a.parent_id"
        " WHERE a.depth != p.depth + 1",
        # In depth-first order a reply comes after its parent and before the
        # next article at its parent's level.
        "replies out of tree order": "WITH o AS (SELECT id, seq, lead(seq) OVER"
        " (PARTITION BY thread_id, depth ORDER BY seq) AS next_seq FROM articles)"
        " SELECT a.id FROM articles a JOIN o ON o.id = a.parent_id"
        " WHERE a.seq <= o.seq OR a.seq >= coalesce(o.next_seq, a.seq + 1)",
        "articles in a merged-away thread or another group than their thread's": "SELECT a.id FROM articles a JOIN threads t ON t.id = a.thread_id"
        " WHERE t.merged_into_thread_id IS NOT NULL OR t.group_id != a.group_id",
    }
    for what, sql in checks.items():
        rows = conn.execute(sql).fetchall()
        if rows:
            problems.append(f"{what}: {_ids(rows)}")
    return problems


def _events(conn: sqlite3.Connection) -> list[str]:
    low, high, count = conn.execute("SELECT min(id), max(id), count(*) FROM events").fetchone()
    seq = conn.execute(
        "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)"
    ).fetchone()[0]
    problems = []
    # Writers are serialised and only a prefix is ever pruned: ids have no gaps.
    if count and high - low + 1 != count:
        problems.append(f"event ids {low}..{high} have {high - low + 1 - count} gap(s)")
    if (high or 0) > seq:
        problems.append(f"event id {high} is above the id counter {seq}: ids would be reused")
    top = conn.execute("SELECT max(id) FROM articles").fetchone()[0] or 0
    article_seq = conn.execute(
        "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'articles'), 0)"
    ).fetchone()[0]
    if top > article_seq:
        problems.append(f"article id {top} is above the id counter {article_seq}: ids would be reused")
    return problems


CHECKS: dict[str, Callable[[sqlite3.Connection], list[str]]] = {
    "schema version": _schema,
    "foreign keys": _foreign_keys,
    "full-text index rows": _full_text,
    "thread counters": _thread_counters,
    "group counters": _group_counters,
    "reply trees": _trees,
    "events and id counters": _events,
}


def check(path: str, *, quick: bool = False) -> Report:
    """Run every check on the database at `path`; it is not changed."""
    report = Report()
    conn = migrate.connect(path)
    try:
        report.checked.append("sqlite integrity")
        report.problems += [f"sqlite integrity: {p}" for p in _integrity(conn, quick)]
        if report.problems:
            return report  # the other checks would read a damaged file
        report.checked.append("full-text index structure")
        report.problems += [f"full-text index structure: {p}" for p in _full_text_structure(conn)]
        # One read transaction: every check sees the same state while writers go on.
        conn.execute("BEGIN")
        try:
            for name, run in CHECKS.items():
                report.checked.append(name)
                report.problems += [f"{name}: {p}" for p in run(conn)]
        finally:
            conn.execute("ROLLBACK")
    finally:
        conn.close()
    return report

"""Where each article sits in its thread's reply tree, and the queries that
read and place sub-trees.

Every article stores its `parent_id`, its `depth` (0 for the root) and `seq`,
an integer order key unique within its thread: ordering a thread by `seq`
lists it depth-first, siblings oldest first. Each of these is a fixed-size
integer, so storage per article does not grow with depth: a chain 1,000
deep takes the room of a flat thread of as many articles with headers of
the same size (tests/test_tree.py measures both).

Sub-trees. The sub-tree of X is the contiguous key range [seq(X), seq(N)),
where N is the first article after X in thread order that is not below X:
the younger sibling of X or of its nearest ancestor that has one (no such
article: the range runs to the end of the thread). `span` finds N by walking
up the ancestors with one seek per level on articles_parent (parent_id, seq),
stopping at the first level that has a younger sibling, so a sub-tree costs
O(depth) index seeks, never a scan of the thread. Every sub-tree operation
(paging a branch, counting a split, moving rows) reads its range from `span`.

Placing rows. Keys are sparse: appending at the end of a thread adds STEP to
the last key, and rows arriving elsewhere (a reply going after its parent's
sub-tree, a sub-tree merged in) take evenly spaced keys in the gap where
they belong (`keys`). When the gap has no room, the rows around it are
renumbered evenly, in a window that doubles until it has room to spare
(ROOM between neighbours) or reaches the end of the thread, so each
renumbering buys many cheap inserts. Renumbering preserves order, so a
thread's order never depends on when it happened; cursors name an article,
never a key (see `after_article`).

Why not a materialised path (the parent's path plus a component per level):
a chain of depth d then stores O(d) bytes in every row, O(d²) in all. A
nested-set or interval encoding would renumber on every insert; sparse keys
renumber rarely and only locally. The price is the ancestor walk for the
end of a sub-tree, bounded by MAX_DEPTH.

Depth is capped: a thread is at most MAX_DEPTH levels deep (depths 0 to
MAX_DEPTH - 1). A reply under an article at the deepest level attaches to
that article's parent instead (`anchor`), for posting, peering and the
importer alike; a merge that would go deeper is refused."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from sqlite3 import Row

from aiosqlite import Connection

from ..store.db import fetch_all, fetch_one, fetch_value
from ..store.errors import Invalid
from ..store.validate import ID_MAX

MAX_DEPTH = 1000
# The distance between keys appended at the end of a thread: 2**20 leaves room
# for ~20 halvings in one gap before any renumbering, and 2**43 appends before
# the 64-bit key range ends.
STEP = 1 << 20
# A renumbered window spaces its rows at least this far apart (unless it
# reaches the thread's end, where STEP always fits): room for ~8 more inserts.
ROOM = 1 << 8
# Above every key in use: a window being renumbered is parked there, as keys
# are unique per thread. Keys grow by STEP per row appended at a thread's end,
# so they stay below it until one thread has had 2**42 articles.
PARKED = 1 << 62
# A cursor names the last article shown: "a<id>".
_CURSOR = re.compile(r"a([1-9][0-9]{0,18})\Z")

Article = Row | dict  # an article's row, or a dict with at least id, thread_id and seq


@dataclass(frozen=True)
class Span:
    """The keys of one sub-tree: thread `thread_id`, seq in [first, end);
    `end` None runs to the end of the thread."""

    thread_id: int
    first: int
    end: int | None

    def where(self, alias: str = "") -> tuple[str, list[int]]:
        """An SQL condition selecting the sub-tree's rows (on articles_tree), and its parameters."""
        col = f"{alias}." if alias else ""
        sql, params = f"{col}thread_id = ? AND {col}seq >= ?", [self.thread_id, self.first]
        if self.end is not None:
            sql += f" AND {col}seq < ?"
            params.append(self.end)
        return sql, params


# The sub-tree of article ?1: its thread, its key, and the key of the first
# article after it. The walk up stops at the first level with a younger
# sibling (none: NULL, the sub-tree runs to the thread's end), and does not
# start when nothing at all follows the article (a reply to a chain's newest).
_SPAN = """
WITH RECURSIVE up(parent_id, seq, next) AS (
    SELECT a.parent_id, a.seq,
           (SELECT min(s.seq) FROM articles s WHERE s.parent_id = a.parent_id AND s.seq > a.seq)
    FROM articles a WHERE a.id = ?1
    UNION ALL
    SELECT p.parent_id, p.seq,
           (SELECT min(s.seq) FROM articles s WHERE s.parent_id = p.parent_id AND s.seq > p.seq)
    FROM up JOIN articles p ON p.id = up.parent_id
    WHERE up.next IS NULL AND EXISTS (
        SELECT 1 FROM articles x JOIN articles t ON t.thread_id = x.thread_id AND t.seq > x.seq
        WHERE x.id = ?1
    )
)
SELECT a.thread_id, a.seq, (SELECT max(next) FROM up) FROM articles a WHERE a.id = ?1
"""


async def span(conn: Connection, article: Article) -> Span:
    """The sub-tree of `article` (itself included), read afresh by its id (keys
    may have been renumbered since the row was read): O(depth) index seeks."""
    row = await fetch_one(conn, _SPAN, (article["id"],))
    assert row is not None  # the caller's article exists (a notice is deleted only after its last use)
    return Span(*row)


# The keys on either side of the gap just before key ?2 in thread ?1: two index seeks.
_NEIGHBOURS = (
    "SELECT (SELECT max(seq) FROM articles WHERE thread_id = ?1 AND seq < ?2),"
    " (SELECT min(seq) FROM articles WHERE thread_id = ?1 AND seq >= ?2)"
)


async def keys(conn: Connection, thread_id: int, before: int | None, count: int) -> list[int]:
    """`count` increasing keys for rows arriving in thread `thread_id` just
    before key `before` (after every key below it; None: at the end of the
    thread). Renumbers the rows around the gap when it has no room."""
    if before is None:
        lo, hi = (
            await fetch_value(conn, "SELECT max(seq) FROM articles WHERE thread_id = ?", (thread_id,)),
            None,
        )
    else:
        row = await fetch_one(conn, _NEIGHBOURS, (thread_id, before))
        assert row is not None  # scalar subqueries: always one row
        lo, hi = row
    lo = lo if lo is not None else 0
    if hi is None:
        return [lo + STEP * i for i in range(1, count + 1)]
    spacing = min(STEP, (hi - lo) // (count + 1))
    if spacing >= 1:
        return [lo + spacing * i for i in range(1, count + 1)]
    return await _renumber(conn, thread_id, lo, hi, count)


async def _renumber(conn: Connection, thread_id: int, lo: int, hi: int, count: int) -> list[int]:
    """Spread the rows around the full gap (lo, hi) evenly, leaving `count`
    free keys between the row at `lo` and the row at `hi`; returns those keys.
    The window takes `reach` rows on each side, doubling until its rows can
    be ROOM apart or it reaches the end of the thread."""
    reach = count + 1
    while True:
        left = await fetch_all(
            conn,
            # Negative keys are rows still being placed (the importer's): not part of the order yet.
            "SELECT id, seq FROM articles WHERE thread_id = ? AND seq <= ? AND seq > 0 ORDER BY seq DESC LIMIT ?",
            (thread_id, lo, reach + 1),
        )
        right = await fetch_all(
            conn,
            "SELECT id, seq FROM articles WHERE thread_id = ? AND seq >= ? ORDER BY seq LIMIT ?",
            (thread_id, hi, reach + 1),
        )
        floor = left[reach]["seq"] if len(left) > reach else left[-1]["seq"] - 1 if left else 0
        ceiling = right[reach]["seq"] if len(right) > reach else None
        before, after = list(reversed(left[:reach])), right[:reach]
        slots = len(before) + count + len(after)
        spacing = STEP if ceiling is None else min(STEP, (ceiling - floor) // (slots + 1))
        if ceiling is None or spacing >= ROOM:
            break
        reach *= 2
    new = [floor + spacing * i for i in range(1, slots + 1)]
    moved = [*before, *after]
    positions = [*range(len(before)), *range(len(before) + count, slots)]
    # Keys are unique per thread: park the window above every key first.
    bound, params = ("AND seq < ?", [ceiling]) if ceiling is not None else ("", [])
    await conn.execute(
        f"UPDATE articles SET seq = seq + ? WHERE thread_id = ? AND seq > ? {bound}",
        (PARKED, thread_id, floor, *params),
    )
    await conn.executemany(
        "UPDATE articles SET seq = ? WHERE id = ?",
        [(new[pos], row["id"]) for pos, row in zip(positions, moved, strict=True)],
    )
    return new[len(before) : len(before) + count]


async def last_child_keys(conn: Connection, parent: Article, count: int = 1) -> list[int]:
    """Keys for `count` rows arriving as `parent`'s youngest sub-tree: right
    after its sub-tree (a new reply is always its parent's youngest child)."""
    return await keys(conn, parent["thread_id"], (await span(conn, parent)).end, count)


async def graft_keys(conn: Connection, parent: Article, child_id: int, count: int) -> list[int]:
    """Keys for a sub-tree of `count` rows, topped by article `child_id`,
    joining `parent`: just before the first of its children in thread order
    with a higher id (younger), or after its sub-tree when none is younger,
    so siblings stay oldest first."""
    younger = await fetch_value(
        conn,
        "SELECT seq FROM articles WHERE parent_id = ? AND id > ? ORDER BY seq LIMIT 1",
        (parent["id"], child_id),
    )
    if younger is None:
        return await last_child_keys(conn, parent, count)
    return await keys(conn, parent["thread_id"], younger, count)


async def anchor(conn: Connection, parent: Row, select: str) -> Row:
    """The article a reply under `parent` attaches to: `parent` itself, or,
    when it is at the deepest level, its ancestor at depth MAX_DEPTH - 2 (so
    the reply lands at depth MAX_DEPTH - 1). `select` reads the ancestor's
    row, ending in a WHERE clause that takes its id as `a.id`."""
    while parent["depth"] >= MAX_DEPTH - 1:
        row = await fetch_one(conn, select + " WHERE a.id = ?", (parent["parent_id"],))
        assert row is not None  # an article below the root has its parent in its thread
        parent = row
    return parent


def preorder(children: Mapping[int | None, Iterable[int]], root: int) -> list[int]:
    """Ids of the tree under `root` in thread order, given each id's children
    oldest first (pure: the importer orders the trees it builds in bulk)."""
    out: list[int] = []
    stack = [root]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed(list(children.get(node, ()))))
    return out


def cursor(article_id: int) -> str:
    return f"a{article_id}"


def parse_cursor(value: object) -> int | None:
    """The article id a tree-order cursor names, or None for no cursor; Invalid (400) otherwise."""
    if value is None or value == "":
        return None
    match = _CURSOR.match(value) if isinstance(value, str) else None
    if not match or int(match[1]) > ID_MAX:
        raise Invalid("cursor is not one this server issued")
    return int(match[1])


async def after_article(conn: Connection, thread_id: int, article_id: int) -> int:
    """The current key of the article a cursor names, which must still be in
    thread `thread_id`; Invalid (400) when it has left it (split off, merged
    or moved away, or a notice an undo removed): the reader starts again."""
    seq = await fetch_value(
        conn, "SELECT seq FROM articles WHERE id = ? AND thread_id = ?", (article_id, thread_id)
    )
    if seq is None:
        raise Invalid(
            "the article this cursor continues after is no longer in this thread;"
            " start again from the first page",
            stale_cursor=True,
        )
    return seq

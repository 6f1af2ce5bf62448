"""Scenario 3: size independence. The first and a deep page of a 100,000-article
thread, and the first and a deep page of the thread list of a group with
100,000 threads, against the same pages at 100 articles / 100 threads.
The page cache is off here, so every request runs its query.

    python bench/size.py [--big 100000] [--seconds 4] [--json OUT]

The data is written with direct batched inserts (documented shortcut: these
rows are what the write path would produce, without the search index, which
no page read touches)."""

from __future__ import annotations

import asyncio
import random
import sqlite3

from common import Row, command_line, server, temp_dir, wrk

from moot.articles import tree
from moot.store.db import Database

STAMP = "2026-01-01T00:00:{:02d}.{:03d}Z"


def stamp(n: int) -> str:
    # distinct, increasing times: minutes and seconds from a counter
    minutes, rest = divmod(n, 60_000)
    hours, minutes = divmod(minutes, 60)
    return (
        f"2026-01-{1 + hours // 24:02d}T{hours % 24:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}Z"
    )


def deep(size: int) -> int:
    """Where a deep page starts: 90% in, but always with a full page of 50 after it."""
    return min(int(size * 0.9), size - 51)


def build(db_path: str, big: int) -> dict:
    asyncio.run(_init(db_path))
    conn = sqlite3.connect(db_path)
    rng = random.Random(7)
    next_id = 1
    body = "A reply of a usual length, quoting a line or two of its parent.\n" * 8
    out = {}
    with conn:
        conn.execute(
            "INSERT INTO users (id, username, display_name, password_hash, created_at)"
            " VALUES (1, 'bench', 'Bench', 'x', ?)",
            (stamp(0),),
        )
        for gid, name in enumerate(["bench.big", "bench.small"], start=1):
            conn.execute("INSERT INTO groups (id, name, created_at) VALUES (?, ?, ?)", (gid, name, stamp(0)))
        number = {1: 0, 2: 0}
        article_rows, thread_rows = [], []

        def thread(gid: int, tid: int, size: int, start: int) -> str:
            """One thread of `size` articles in a random tree; returns the cursor
            after the article ~90% deep in tree order."""
            nonlocal next_id
            ids, parents, depths = [], {}, {}
            children: dict[int, list[int]] = {}
            for i in range(size):
                aid = next_id
                next_id += 1
                parent = None if i == 0 else ids[rng.randrange(len(ids))]  # random recursive tree
                parents[aid], depths[aid] = parent, 0 if parent is None else depths[parent] + 1
                children.setdefault(parent, []).append(aid)
                ids.append(aid)
            order = tree.preorder(children, ids[0])
            seq = {aid: tree.STEP * rank for rank, aid in enumerate(order, 1)}
            for i, aid in enumerate(ids):
                number[gid] += 1
                article_rows.append(
                    (
                        aid,
                        f"<{aid}@bench>",
                        tid,
                        gid,
                        number[gid],
                        parents[aid],
                        depths[aid],
                        seq[aid],
                        "Re: size",
                        body,
                        1,
                        "Bench",
                        stamp(start + i),
                    )
                )
            thread_rows.append((tid, gid, ids[0], size, stamp(start), stamp(start + size - 1)))
            return tree.cursor(order[deep(size)]) if size > 51 else ""

        out["big_thread_cursor"] = thread(1, 1, big, 0)
        out["small_thread_cursor"] = thread(2, 2, 100, 0)
        out["big_thread"], out["small_thread"] = 1, 2
        # groups of many one-article threads
        tid = 3
        for gid, count in ((1, big), (2, 100)):
            for i in range(count):
                thread(gid, tid, 1, i)
                tid += 1
        conn.executemany(
            "INSERT INTO articles (id, message_id, thread_id, group_id, number, parent_id, depth, seq,"
            " subject, body, user_id, author_name, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            article_rows,
        )
        conn.executemany(
            "INSERT INTO threads (id, group_id, root_article_id, subject, article_count,"
            " created_at, last_article_at) VALUES (?, ?, ?, 'size', ?, ?, ?)",
            thread_rows,
        )
        for gid, count in ((1, big), (2, 100)):
            row = conn.execute(
                "SELECT last_article_at, id FROM threads WHERE group_id = ? ORDER BY last_article_at DESC,"
                " id DESC LIMIT 1 OFFSET ?",
                (gid, deep(count)),
            ).fetchone()
            out[f"list_cursor_{gid}"] = f"{row[0]}_{row[1]}"
        conn.execute(
            "UPDATE groups SET last_number = (SELECT max(number) FROM articles WHERE group_id = groups.id)"
        )
    conn.execute("ANALYZE")
    conn.close()
    return out


async def _init(db_path):
    db = await Database(db_path, read_connections=1).open()
    await db.close()


def cost(url: str, seconds: int) -> tuple[float, float]:
    """Milliseconds of server time per request (inverse throughput) and p99."""
    result = wrk(url, seconds=seconds, connections=8)
    assert result.errors == 0, result.raw[-2000:]
    return 1000.0 / result.requests_per_s, result.p99_ms


def run(big: int, seconds: int) -> list[Row]:
    db_path = temp_dir() + "/size.db"
    data = build(db_path, big)
    pages = {
        "thread first page": ("/api/threads/{t}?limit=50", "big_thread", "small_thread", None),
        "thread deep page": (
            "/api/threads/{t}?limit=50&cursor={c}",
            "big_thread",
            "small_thread",
            "thread_cursor",
        ),
        "thread list first page": ("/api/groups/{g}/threads?limit=50", "bench.big", "bench.small", None),
        "thread list deep page": (
            "/api/groups/{g}/threads?limit=50&cursor={c}",
            "bench.big",
            "bench.small",
            "list",
        ),
    }
    rows = []
    with server(db_path, page_cache_mb=0) as (url, _):
        for label, (pattern, big_key, small_key, cursor) in pages.items():

            def target(which, pattern=pattern, big_key=big_key, small_key=small_key, cursor=cursor):
                key = big_key if which == "big" else small_key
                c = ""
                if cursor == "thread_cursor":
                    c = data[f"{which}_thread_cursor"]
                elif cursor == "list":
                    c = data["list_cursor_1" if which == "big" else "list_cursor_2"]
                return url + pattern.format(t=data.get(key, key), g=key, c=c)

            cost(target("small"), 1)  # warm up
            # interleaved, best of two each, so drift on a shared machine hits both alike
            smalls, larges = [], []
            for _ in range(2):
                smalls.append(cost(target("small"), seconds))
                larges.append(cost(target("big"), seconds))
            small, small_p99 = min(smalls)
            large, large_p99 = min(larges)
            rows.append(
                Row(
                    "size",
                    f"{label}, {big:,} vs 100",
                    large,
                    "ms/request",
                    small,
                    "same page at 100",
                    "ratio <= 1.2",
                    large / small <= 1.2,
                    f"p99 {large_p99:.1f} ms vs {small_p99:.1f} ms; page cache off",
                )
            )
    return rows


if __name__ == "__main__":
    command_line(run, __doc__, big=100_000, seconds=4)

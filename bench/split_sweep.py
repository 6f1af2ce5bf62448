"""Benchmark: split and undo of big sub-trees, and the archive sweep.

    python bench/split_sweep.py [--quick]

Builds one database in a temporary directory: a 50,000-article thread, a
5,000-article thread and 100,000 one-article threads (10% of them idle for a
year), with direct batched INSERTs (sqlite3.executemany, synchronous=OFF),
because posting 255,000 articles through the real write path would take
minutes and measures something else. The full-text index is not filled:
split and sweep never touch it (moved articles keep their rowid and text).
Then it reopens the database the way the server does (aiosqlite, WAL,
synchronous=FULL) and times the real domain functions, each in its own
transaction, commit included:

- split of a 10,000-article sub-tree out of the 50,000-article thread;
- split of a 2,000-article sub-tree out of the 50,000-article thread and out
  of the 5,000-article thread: their ratio shows the cost does not grow with
  the thread;
- the 10,000-article split undone, and redone into another group (renumbering);
- the archive sweep over the 100,000 small threads, then again with nothing
  left to archive.

Prints one JSON object. Bounded: it stops itself after 600 seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Row, emit  # noqa: E402

from moot.articles import tree
from moot.stewardship import maintenance, sweep, undo
from moot.stewardship.permissions import User  # noqa: E402
from moot.store import clock  # noqa: E402
from moot.store.config import Config  # noqa: E402
from moot.store.db import Database  # noqa: E402

DOMAIN = "bench.moot"
TIME_LIMIT = 600


class Builder:
    """Direct batched inserts with the same rows the write path would make."""

    def __init__(self, path: str):
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA synchronous=OFF")
        self.next_id = 1
        self.numbers: dict[int, int] = {}

    def group(self, name: str) -> int:
        now = clock.now()
        cur = self.conn.execute("INSERT INTO groups (name, created_at) VALUES (?, ?)", (name, now))
        self.numbers[cur.lastrowid] = 0
        return cur.lastrowid

    def thread(
        self, group_id: int, size: int, *, subtrees=(), when: str | None = None, rng: random.Random
    ) -> dict:
        """A thread of `size` articles in which, for each n in `subtrees`, a
        child of the root heads exactly n articles. Parents are random earlier
        articles of the same part, so the shapes are bushy and deep."""
        when = when or clock.now()
        cur = self.conn.execute(
            "INSERT INTO threads (group_id, subject, created_at, last_article_at, article_count)"
            " VALUES (?, 'Bench', ?, ?, ?)",
            (group_id, when, when, size),
        )
        thread_id = cur.lastrowid
        rows, depths, children = [], {}, {}

        def add(parent_id):
            article_id = self.next_id
            self.next_id += 1
            self.numbers[group_id] += 1
            depths[article_id] = depths[parent_id] + 1 if parent_id else 0
            children.setdefault(parent_id, []).append(article_id)
            rows.append(
                (
                    article_id,
                    f"<{article_id}.bench@{DOMAIN}>",
                    thread_id,
                    group_id,
                    self.numbers[group_id],
                    parent_id,
                    depths[article_id],
                    "Re: Bench",
                    "body text",
                    "Bench Author",
                    when,
                )
            )
            return article_id

        root = add(None)
        heads = []
        for n in subtrees:
            heads.append(add(root))
            inside = [heads[-1]]
            for _ in range(n - 1):
                inside.append(add(rng.choice(inside)))
        outside = [root]
        while len(rows) < size:
            outside.append(add(rng.choice(outside)))
        seq = {a: tree.STEP * rank for rank, a in enumerate(tree.preorder(children, root), 1)}
        self.conn.executemany(
            "INSERT INTO articles (id, message_id, thread_id, group_id, number, parent_id, depth,"
            " subject, body, author_name, created_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(*row, seq[row[0]]) for row in rows],
        )
        self.conn.execute("UPDATE threads SET root_article_id = ? WHERE id = ?", (root, thread_id))
        return {"id": thread_id, "root": root, "heads": heads, "last": rows[-1][0]}

    def small_threads(self, group_id: int, count: int, idle_share: float, rng: random.Random) -> int:
        """`count` one-article threads; `idle_share` of them last active a year ago."""
        recent, old = clock.now(), clock.ago(days=365)
        threads, articles, idle = [], [], 0
        first_thread = (self.conn.execute("SELECT coalesce(max(id), 0) FROM threads").fetchone()[0]) + 1
        for n in range(count):
            when = old if rng.random() < idle_share else recent
            idle += when == old
            thread_id, article_id = first_thread + n, self.next_id
            self.next_id += 1
            self.numbers[group_id] += 1
            threads.append((thread_id, group_id, article_id, when, when))
            articles.append(
                (
                    article_id,
                    f"<{article_id}.bench@{DOMAIN}>",
                    thread_id,
                    group_id,
                    self.numbers[group_id],
                    None,
                    tree.STEP,
                    "Small",
                    "body",
                    "Bench Author",
                    when,
                )
            )
        self.conn.executemany(
            "INSERT INTO threads (id, group_id, root_article_id, subject, created_at, last_article_at,"
            " article_count) VALUES (?, ?, ?, 'Small', ?, ?, 1)",
            threads,
        )
        self.conn.executemany(
            "INSERT INTO articles (id, message_id, thread_id, group_id, number, parent_id, seq,"
            " subject, body, author_name, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            articles,
        )
        return idle

    def finish(self) -> None:
        """Counters as the write path keeps them."""
        self.conn.execute(
            "UPDATE groups SET last_number = (SELECT coalesce(max(number), 0) FROM articles a WHERE a.group_id = groups.id),"
            " article_count = (SELECT count(*) FROM articles a WHERE a.group_id = groups.id),"
            " thread_count = (SELECT count(*) FROM threads t WHERE t.group_id = groups.id),"
            " last_article_at = (SELECT max(created_at) FROM articles a WHERE a.group_id = groups.id)"
        )
        self.conn.execute("ANALYZE")
        self.conn.close()


async def timed(db, fn):
    started = time.perf_counter()
    async with db.transaction() as conn:
        result = await fn(conn)
    return round(time.perf_counter() - started, 4), result


async def measure(
    path: str, big: dict, small: dict, mod: User, sweep_threads: int, idle: int, config: Config
) -> dict:
    db = await Database(path, read_connections=2, synchronous="FULL").open()
    out = {}
    try:

        async def split(thread, head, group=None):
            return await timed(
                db,
                lambda conn: maintenance.split(
                    conn, DOMAIN, mod, maintenance.Split(thread, head, "bench", group=group)
                ),
            )

        async def median_split(thread, head):
            """Split, undo, three times; the median split time (undo puts it all back)."""
            times = []
            for _ in range(3):
                seconds, result = await split(thread, head)
                times.append(seconds)
                entry_id = result["entry"]["id"]
                await timed(db, lambda conn, entry_id=entry_id: undo.undo(conn, mod, entry_id, "bench"))
            return sorted(times)[1]

        await split(small["id"], small["last"])  # warm up: caches, first statements prepared
        out["split_2k_from_50k_s"] = await median_split(big["id"], big["heads"][1])
        out["split_2k_from_5k_s"] = await median_split(small["id"], small["heads"][0])
        out["split_10k_from_50k_median_s"] = await median_split(big["id"], big["heads"][0])
        seconds, result = await split(big["id"], big["heads"][1])  # leave it split: 48,000 remain
        seconds, result = await split(big["id"], big["heads"][0])
        out["split_10k_from_48k_s"] = seconds  # 50,000 less the 2,000 split before
        out["moved_10k"] = result["thread"]["article_count"]
        entry = result["entry"]["id"]
        seconds, _ = await timed(db, lambda conn: undo.undo(conn, mod, entry, "bench"))
        out["undo_10k_s"] = seconds
        seconds, result = await split(big["id"], big["heads"][0], group="bench.other")
        out["split_10k_into_other_group_s"] = seconds
        out["ratio_2k_from_50k_over_2k_from_5k"] = round(
            out["split_2k_from_50k_s"] / out["split_2k_from_5k_s"], 2
        )
        out["ratio_10k_over_2k_same_thread"] = round(
            out["split_10k_from_48k_s"] / out["split_2k_from_50k_s"], 2
        )

        out["sweep_threads"] = sweep_threads
        out["sweep_idle_threads"] = idle
        result = await sweep.sweep(db, config)
        out["sweep_s"] = result["seconds"]
        out["sweep_archived"] = result["archived"]
        out["sweep_ms_per_archived_thread"] = round(1000 * result["seconds"] / max(1, result["archived"]), 3)
        result = await sweep.sweep(db, config)
        out["sweep_again_nothing_to_do_s"] = result["seconds"]
    finally:
        await db.close()
    return out


def rows(f: dict) -> list[Row]:
    """The figures as result rows; the targets are split < 1 s and cost that
    grows with the moved sub-tree, not the thread."""
    scale = f"{f['articles_total']:,} articles, {f['database_mb']} MB"
    return [
        Row(
            "split",
            "split 10,000-article sub-tree of a 50,000-article thread",
            1000 * f["split_10k_from_50k_median_s"],
            "ms",
            target="< 1000 ms",
            met=f["split_10k_from_50k_median_s"] < 1,
            note=f"median of 3; database {scale}",
        ),
        Row(
            "split",
            "split 2,000 out of 50,000",
            1000 * f["split_2k_from_50k_s"],
            "ms",
            1000 * f["split_2k_from_5k_s"],
            "split 2,000 out of 5,000",
            "ratio near 1: cost follows the sub-tree, not the thread",
        ),
        Row("split", "undo of the 10,000-article split", 1000 * f["undo_10k_s"], "ms"),
        Row(
            "split",
            "split 10,000 into another group (renumbered)",
            1000 * f["split_10k_into_other_group_s"],
            "ms",
        ),
        Row(
            "sweep",
            f"archive sweep over {f['sweep_threads']:,} threads",
            f["sweep_s"],
            "s",
            note=f"archived {f['sweep_archived']:,} ({f['sweep_ms_per_archived_thread']} ms each); database {scale}",
        ),
        Row("sweep", "sweep again with nothing to archive", 1000 * f["sweep_again_nothing_to_do_s"], "ms"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a tenth of the size, to check the script")
    parser.add_argument("--json", help="also write the rows as JSON here")
    args = parser.parse_args()
    quick = args.quick
    signal.alarm(TIME_LIMIT)
    scale = 10 if quick else 1
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.db")
        asyncio.run(_init(path))
        started = time.perf_counter()
        b = Builder(path)
        group = b.group("bench.big")
        b.group("bench.other")
        sweep_group = b.group("bench.sweep")
        b.conn.execute("BEGIN")
        b.conn.execute(
            "INSERT INTO users (username, display_name, password_hash, role, created_at)"
            " VALUES ('mod', 'Moderator', 'x', 'moderator', ?)",
            (clock.now(),),
        )
        big = b.thread(group, 50_000 // scale, subtrees=(10_000 // scale, 2_000 // scale), rng=rng)
        small = b.thread(group, 5_000 // scale, subtrees=(2_000 // scale,), rng=rng)
        idle = b.small_threads(sweep_group, 100_000 // scale, 0.10, rng)
        b.conn.execute("COMMIT")
        b.finish()
        built = time.perf_counter() - started
        config = Config(db_path=path, archive_after_days=180, archive_after_articles=0)
        mod = User(1, "mod", "Moderator", "moderator")
        figures = asyncio.run(measure(path, big, small, mod, 100_000 // scale, idle, config))
        size = os.path.getsize(path) + sum(os.path.getsize(p) for p in (path + "-wal",) if os.path.exists(p))
        figures.update(
            {
                "build_s": round(built, 1),
                "database_mb": round(size / 2**20, 1),
                "articles_total": 50_000 // scale + 5_000 // scale + 100_000 // scale,
                "quick": quick,
                "sqlite": sqlite3.sqlite_version,
                "synchronous": "FULL",
                "cpus": os.cpu_count(),
            }
        )
    # the work was really done: the split moved the whole sub-tree, the sweep archived the idle threads
    assert figures["moved_10k"] == 10_000 // scale, figures
    assert figures["sweep_archived"] >= figures["sweep_idle_threads"], figures
    print(json.dumps(figures, indent=2))
    emit(rows(figures), args.json)


async def _init(path: str) -> None:
    db = await Database(path).open()
    await db.close()


if __name__ == "__main__":
    main()

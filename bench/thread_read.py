"""Scenario 1: reading the first page of a 50-article thread, against a bare
JSON endpoint served by the same process (the framework's ceiling).

    python bench/thread_read.py [--seconds 8] [--json OUT]
"""

from __future__ import annotations

import asyncio
import random

from common import Row, command_line, server, temp_dir, wrk

from moot.articles import groups, posting
from moot.people import accounts
from moot.store.config import Config
from moot.store.db import Database

WORDS = [
    "thread",
    "reply",
    "group",
    "archive",
    "split",
    "moderator",
    "newsreader",
    "article",
    "quote",
    "topic",
    "charter",
    "python",
    "sqlite",
    "latency",
    "message",
    "reference",
]


def body(rng: random.Random, size: int = 1000) -> str:
    words = []
    while sum(len(w) + 1 for w in words) < size:
        words.append(rng.choice(WORDS))
    return "\n".join(" ".join(words[i : i + 12]) for i in range(0, len(words), 12))


async def build(db_path: str, articles_n: int = 50) -> int:
    """A group with one thread of `articles_n` ~1 KB articles in a random tree; returns its id."""
    rng = random.Random(1)
    config = Config(db_path=db_path)
    db = await Database(db_path, read_connections=1).open()
    try:
        user = await accounts.create_user(
            db,
            "bench",
            "bench-password",
            role="admin",
            password_hash=accounts.hash_password("bench-password", n=2**14),
        )
        async with db.transaction() as conn:
            await groups.create_group(conn, user, "bench.read", "Benchmark group")
            started = await posting.submit(
                conn,
                config.domain,
                user,
                posting.Submission(body=body(rng), subject="A long thread", group="bench.read"),
            )
            ids = [started["article"]["id"]]
            for _ in range(articles_n - 1):
                reply = (
                    await posting.submit(
                        conn, config.domain, user, posting.Submission(body=body(rng), parent=rng.choice(ids))
                    )
                )["article"]
                ids.append(reply["id"])
        return started["thread"]["id"]
    finally:
        await db.close()


def run(seconds: int) -> list[Row]:
    db_path = temp_dir() + "/read.db"
    thread_id = asyncio.run(build(db_path))
    with server(db_path) as (url, _):
        bare_runs, page_runs = [], []
        wrk(url + "/api/health", seconds=2)  # warm up
        for _ in range(2):  # interleaved so drift hits both alike
            bare_runs.append(wrk(url + "/api/health", seconds=seconds))
            page_runs.append(wrk(f"{url}/api/threads/{thread_id}?limit=50", seconds=seconds))
    for result in bare_runs + page_runs:
        assert result.errors == 0, result.raw  # a broken server cannot post a good number
    bare = max(bare_runs, key=lambda r: r.requests_per_s)
    page = max(page_runs, key=lambda r: r.requests_per_s)
    ratio = page.requests_per_s / bare.requests_per_s
    return [
        Row(
            "thread_read",
            "thread page requests/s",
            page.requests_per_s,
            "req/s",
            bare.requests_per_s,
            "bare JSON endpoint",
            "ratio >= 0.5",
            ratio >= 0.5,
            "first page, 50 articles of ~1 KB, wrk -t1 -c32",
        ),
        Row("thread_read", "thread page p50", page.p50_ms, "ms", bare.p50_ms, "bare JSON endpoint p50"),
        Row("thread_read", "thread page p99", page.p99_ms, "ms", bare.p99_ms, "bare JSON endpoint p99"),
    ]


if __name__ == "__main__":
    command_line(run, __doc__, seconds=8)

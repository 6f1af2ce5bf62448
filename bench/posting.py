"""Scenario 2: replies per second with 16 concurrent posters through the HTTP
API, against raw aiosqlite inserts of the same rows (same schema, indexes,
full-text index and durability) in the same run.

Both rates hang on this disk's fsync, whose cost wanders on a shared
machine by a factor of two within a minute; so the two are measured in
alternating rounds, each Moot round right after its own baseline, and the
ratio reported is the median of the rounds' ratios.

    python bench/posting.py [--seconds 8] [--rounds 5] [--json OUT]
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import statistics
import time

import httpx
from common import Row, command_line, cpu_seconds, server, temp_dir, wrk

from moot.articles import groups, posting, tree
from moot.people import accounts
from moot.store.config import Config
from moot.store.db import SCHEMA_PATH, Database

POSTERS = 16
BODY = "A benchmark reply.\n\n> quoted line from the parent\n\nSome text of a usual length " * 3

LUA = """
local cookies = {%s}
local n = 0
function setup(thread)
  n = n + 1
  thread:set("cookie", cookies[(n - 1) %% #cookies + 1])
end
function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Cookie"] = cookie
  wrk.body = '%s'
end
"""


async def build(db_path: str) -> int:
    """A group, a thread, and POSTERS accounts; returns the root article id."""
    config = Config(db_path=db_path)
    db = await Database(db_path, read_connections=1).open()
    try:
        # A cheap hash for the benchmark's own accounts: sign-in is not what is measured.
        cheap = accounts.hash_password("bench-password", n=2**14)
        users = [
            await accounts.create_user(db, f"poster{i}", "bench-password", password_hash=cheap)
            for i in range(POSTERS)
        ]
        async with db.transaction() as conn:
            await groups.create_group(conn, None, "bench.post", "Benchmark group")
            started = await posting.submit(
                conn,
                config.domain,
                users[0],
                posting.Submission(body="root", subject="Posting", group="bench.post"),
            )
        return started["article"]["id"]
    finally:
        await db.close()


def count_articles(db_path: str) -> int:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    finally:
        conn.close()


def moot_posts(seconds: int, synchronous: str, **env: object) -> tuple[float, float, float, float]:
    """Replies/s, p50 and p99 in ms, and the server's CPU milliseconds per
    reply; `env` adds MOOT_* settings to the server's."""
    directory = temp_dir()
    db_path = directory + "/post.db"
    root = asyncio.run(build(db_path))
    with server(db_path, synchronous=synchronous, **env) as (url, proc):
        cookies = []
        for i in range(POSTERS):
            r = httpx.post(url + "/api/login", json={"username": f"poster{i}", "password": "bench-password"})
            r.raise_for_status()
            cookies.append(f'"moot_session={r.cookies["moot_session"]}"')
        script = os.path.join(directory, "post.lua")
        with open(script, "w") as f:
            f.write(LUA % (", ".join(cookies), '{{"body": "{}"}}'.format(BODY.replace("\n", "\\\\n"))))
        before, cpu = count_articles(db_path), cpu_seconds(proc.pid)
        result = wrk(
            f"{url}/api/articles/{root}/replies",
            seconds=seconds,
            connections=POSTERS,
            threads=POSTERS,
            script=script,
        )
        cpu = cpu_seconds(proc.pid) - cpu
        time.sleep(0.5)
    landed = count_articles(db_path) - before
    ok = result.requests - result.errors
    # Every acknowledged reply exists; at most one in flight per poster at the cut-off.
    assert result.errors == 0, result.raw
    assert ok <= landed <= ok + POSTERS, (ok, landed)
    return result.requests_per_s, result.p50_ms, result.p99_ms, cpu / max(ok, 1) * 1000


async def raw_database(synchronous: str):
    """A fresh database of Moot's schema with one group and thread, on one
    aiosqlite connection in WAL mode at `synchronous`: (connection, path)."""
    import aiosqlite

    db_path = temp_dir() + "/raw.db"
    conn = await aiosqlite.connect(db_path, isolation_level=None)
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute(f"PRAGMA synchronous={synchronous}")
    await conn.executescript(SCHEMA_PATH.read_text())
    await conn.execute(
        "INSERT INTO groups (name, created_at) VALUES ('bench.raw', '2026-01-01T00:00:00.000Z')"
    )
    await conn.execute(
        "INSERT INTO threads (group_id, subject, created_at, last_article_at)"
        " VALUES (1, 's', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')"
    )
    return conn, db_path


async def raw_posts(conn, posters: int, seconds: float) -> int:
    """An article's and its full-text rows written by `posters` concurrent tasks
    over `conn` for `seconds`, a transaction each; returns how many were written."""
    lock = asyncio.Lock()
    counter = iter(range(1, 10**9))
    deadline = time.monotonic() + seconds
    done = 0

    async def poster():
        nonlocal done
        while time.monotonic() < deadline:
            async with lock:
                n = next(counter)
                await conn.execute("BEGIN IMMEDIATE")
                await conn.execute(
                    "INSERT INTO articles (id, message_id, thread_id, group_id, number, parent_id, seq,"
                    " refs, subject, body, user_id, author_name, created_at)"
                    " VALUES (?, ?, 1, 1, ?, NULL, ?, '', 'Re: Posting', ?, NULL, 'Poster', ?)",
                    (n, f"<{n}@raw>", n, tree.STEP * n, BODY, "2026-01-01T00:00:00.000Z"),
                )
                await conn.execute(
                    "INSERT INTO articles_fts (rowid, subject, body, author_name)"
                    " VALUES (?, 'Re: Posting', ?, 'Poster')",
                    (n, BODY),
                )
                await conn.execute("COMMIT")
                done += 1

    await asyncio.gather(*(poster() for _ in range(posters)))
    async with conn.execute("SELECT count(*) FROM articles") as cur:
        assert (await cur.fetchone())[0] == done
    return done


async def raw_inserts(seconds: float, synchronous: str) -> float:
    """The same article and full-text rows written by 16 concurrent tasks over one
    aiosqlite connection, a transaction each, with no HTTP, sessions or JSON."""
    conn, _ = await raw_database(synchronous)
    started = time.monotonic()
    done = await raw_posts(conn, POSTERS, seconds)
    elapsed = time.monotonic() - started
    await conn.close()
    return done / elapsed


def run(seconds: int, rounds: int = 5, synchronous: str = "FULL") -> list[Row]:
    measured = []
    for _ in range(rounds):
        raw = asyncio.run(raw_inserts(seconds, synchronous))
        rate, p50, p99, cpu = moot_posts(seconds, synchronous)
        measured.append((rate / raw, rate, raw, p50, p99, cpu))
        print(
            f"round: {rate:,.1f} replies/s vs {raw:,.1f} raw inserts/s, ratio {rate / raw:.2f};"
            f" server CPU {cpu:.2f} ms per reply",
            flush=True,
        )
    ratio, rate, raw, p50, p99, _ = statistics.median_low(measured)
    return [
        Row(
            "posting",
            f"replies/s, 16 posters, synchronous={synchronous} (median of {rounds} rounds' ratios)",
            rate,
            "replies/s",
            raw,
            "raw aiosqlite inserts, same rows and FTS, same round",
            "ratio >= 0.8",
            ratio >= 0.8,
            "every acknowledged reply checked in the database afterwards; rounds: "
            + ", ".join(f"{m[1]:.0f}/{m[2]:.0f}" for m in measured),
        ),
        Row("posting", "reply p50", p50, "ms"),
        Row("posting", "reply p99", p99, "ms"),
        Row(
            "posting",
            "server CPU per reply (median of rounds)",
            statistics.median(m[5] for m in measured),
            "ms",
            note="user and system time of the moot serve process during the load, over the replies",
        ),
    ]


if __name__ == "__main__":
    command_line(run, __doc__, seconds=8, rounds=5, synchronous="FULL")

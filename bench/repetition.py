"""Scenario: the write path's CPU per article with the repetition checks on
(fingerprints of the normalised body and links looked up and recorded, the
author's trust level derived) against off, in the same run.

In-process, through posting.submit in one write transaction per article, as
every channel posts: new threads by 50 new accounts spread over 10 groups,
each body of a usual length with one link, all different (the common case:
nothing repeats, so everything is looked up and recorded). The fingerprints
table starts with 20,000 rows inside the window, so lookups run on a table
of a busy day. CPU is process time (the writer thread included), measured in
alternating rounds; the ratio is the median of the rounds' ratios.

    python bench/repetition.py [--articles 400] [--rounds 5] [--json OUT]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Row, command_line, temp_dir  # noqa: E402

from moot.articles import groups, posting, repetition  # noqa: E402
from moot.people import accounts  # noqa: E402
from moot.store import clock  # noqa: E402
from moot.store.config import Config  # noqa: E402
from moot.store.db import Database  # noqa: E402

GROUPS = [f"bench.group{i}" for i in range(10)]
POSTERS = 50
PREFILLED = 20_000
TEXT = "Some text of a usual length about the topic of the group, with a thought or two. " * 4


async def _bench(articles: int, rounds: int) -> list[Row]:
    db_path = str(Path(temp_dir()) / "repetition.db")
    db = await Database(db_path, read_connections=1).open()
    rules = repetition.Rules.from_config(Config(db_path=db_path))
    try:
        cheap = accounts.hash_password("bench-password", n=2**14)
        users = [
            await accounts.create_user(db, f"poster{i}", "bench-password", password_hash=cheap)
            for i in range(POSTERS)
        ]
        async with db.transaction() as conn:
            for name in GROUPS:
                await groups.create_group(conn, None, name, "bench")
            now = clock.now()
            await conn.executemany(
                "INSERT INTO fingerprints (digest, group_id, author, new_author, created_at)"
                " VALUES (?, ?, ?, 1, ?)",
                [(f"l:{n:032x}", 1 + n % 10, f"user:{n % 500}", now) for n in range(PREFILLED)],
            )
        serial = 0

        async def post_round(rule: repetition.Rules | None) -> float:
            nonlocal serial
            started = time.process_time()
            for _ in range(articles):
                serial += 1
                user = users[serial % POSTERS]
                # Bodies differ in words, not only digits (which normalising folds together).
                word = "".join(chr(97 + serial // 26**k % 26) for k in range(4))
                body = f"{TEXT}\nOn {word}: https://example.org/page/{serial}-{serial * 7}\n"
                submission = posting.Submission(
                    body=body, subject=f"Bench {serial}", group=GROUPS[serial % 10]
                )
                # As Site.post writes a member's article: whole on the writer's thread.
                await db.run(
                    lambda conn, user=user, submission=submission: posting.submit(
                        conn, "bench.moot", user, submission, repeat=rule
                    )
                )
            return (time.process_time() - started) / articles * 1e6

        await post_round(rules)  # warm up
        pairs = [(await post_round(None), await post_round(rules)) for _ in range(rounds)]
    finally:
        await db.close()
    ratios = [on / off for off, on in pairs]
    median = statistics.median(ratios)
    off, on = min(pairs, key=lambda p: abs(p[1] / p[0] - median))
    return [
        Row(
            "repetition",
            "write path CPU per article, repetition checks on",
            on,
            "us",
            off,
            "checks off, same run",
            "ratio <= 1.10",
            median <= 1.10,
            f"median of {rounds} rounds' ratios ({', '.join(f'{r:.2f}' for r in ratios)});"
            f" {articles} new threads a round by new accounts over 10 groups, one link each;"
            f" {PREFILLED:,} fingerprints in the window",
        )
    ]


def run(articles: int, rounds: int) -> list[Row]:
    return asyncio.run(_bench(articles, rounds))


if __name__ == "__main__":
    command_line(run, __doc__, articles=400, rounds=5)

"""Archive benchmark: import rate of a generated mbox through `moot import`'s
code path, against raw sqlite3 batched inserts of the same rows (same schema,
full-text index and durability) in the same run; then search latency, first
page, for typical queries on the imported archive, through the HTTP app.

    python bench/archive.py [--articles N] [--queries Q] [--json OUT] [--keep]

Targets: import at >= 0.9 of the baseline's rate; search p50 < 20 ms and p99 < 100 ms.
The generated archive is deterministic (fixed seed): threads of about eight
articles with reply trees, interleaved in date order over ten years, bodies
of 48-156 words drawn from a Zipf vocabulary with English stop words on top."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import shutil
import sqlite3
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Row, emit, machine, temp_dir  # noqa: E402

from moot.articles import importer, tree
from moot.store import clock  # noqa: E402
from moot.store.db import SCHEMA_PATH, Database  # noqa: E402

GROUP = "comp.archive.bench"
SEED = 20261121
STOP_WORDS = [
    "the",
    "of",
    "and",
    "to",
    "a",
    "in",
    "is",
    "it",
    "that",
    "for",
    "was",
    "on",
    "are",
    "as",
    "with",
    "be",
    "at",
    "this",
    "have",
    "from",
    "or",
    "one",
    "had",
    "by",
    "not",
    "but",
    "what",
    "all",
    "were",
    "we",
    "when",
    "your",
    "can",
    "said",
    "there",
    "use",
    "an",
    "each",
    "which",
    "she",
    "do",
    "how",
    "their",
    "if",
    "will",
    "up",
    "other",
    "about",
    "out",
    "many",
    "then",
    "them",
    "these",
    "so",
    "some",
    "her",
    "would",
    "make",
    "like",
]
SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ne",
    "ru",
    "ta",
    "vi",
    "so",
    "pe",
    "da",
    "gu",
    "ri",
    "zo",
    "fa",
    "be",
    "xo",
    "qui",
    "tor",
    "lin",
    "mar",
    "sel",
    "dra",
    "pon",
    "vek",
    "shi",
    "ul",
    "an",
]
VOCABULARY = 30_000
ACTIVE_THREADS = 300
LINE_POOL = 200_000


def vocabulary(rng: random.Random) -> list[str]:
    words, seen = list(STOP_WORDS), set(STOP_WORDS)
    while len(words) < VOCABULARY:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def generate(n: int):
    """Yield n article records, date-ordered, threads interleaved; deterministic."""
    rng = random.Random(SEED)
    words = vocabulary(rng)
    weights = [1 / (rank + 1) for rank in range(len(words))]
    cumulative = list(itertools.accumulate(weights))
    # Bodies are drawn as lines from a large pool of Zipf-distributed lines:
    # the same word statistics as drawing every word, at a tenth of the cost.
    pool = [" ".join(rng.choices(words, cum_weights=cumulative, k=12)) for _ in range(LINE_POOL)]
    authors = [
        (" ".join(rng.choice(words[200:3000]).title() for _ in range(2)), f"user{i}@example.org")
        for i in range(2000)
    ]
    start = datetime(2015, 1, 1, tzinfo=UTC)
    step = timedelta(days=3650) / max(n, 1)
    active: list[dict] = []
    thread_no = 0
    for i in range(1, n + 1):
        moment = start + step * i
        if not active or len(active) < ACTIVE_THREADS and rng.random() < 0.125:
            thread_no += 1
            subject = " ".join(rng.choices(words[50:8000], k=rng.randint(3, 6))).capitalize()
            thread = {
                "no": thread_no,
                "subject": subject,
                "left": max(1, int(rng.expovariate(1 / 8))),
                "articles": [],
            }
            active.append(thread)
            parent = None
        else:
            thread = rng.choice(active)
            parent = rng.choice(thread["articles"][-20:])
        name, addr = rng.choice(authors)
        lines = rng.choices(pool, k=rng.randint(4, 13))
        mid = f"<{i}.{SEED}@bench.example>"
        if parent is None:
            refs, depth, subject = "", 0, thread["subject"]
        else:
            chain = (parent["refs"].split() if parent["refs"] else []) + [parent["mid"]]
            refs = " ".join(chain[:1] + chain[-39:] if len(chain) > 40 else chain)
            depth, subject = parent["depth"] + 1, "Re: " + thread["subject"]
        record = {
            "id": i,
            "mid": mid,
            "thread_no": thread["no"],
            "parent_id": parent and parent["id"],
            "depth": depth,
            # Raw rows keep posting order (the importer's keys are depth-first):
            # the same columns and sizes, which is what the baseline measures.
            "seq": tree.STEP * i,
            "refs": refs,
            "subject": subject,
            "body": "\n".join(lines),
            "name": name,
            "addr": addr,
            "moment": moment,
        }
        thread["articles"].append(record)
        thread["left"] -= 1
        if thread["left"] <= 0:
            active.remove(thread)
        yield record


def mbox_bytes(r: dict) -> bytes:
    head = [
        f"From {r['addr']} {time.asctime(r['moment'].timetuple())}",
        f"From: {r['name']} <{r['addr']}>",
        f"Date: {format_datetime(r['moment'])}",
        f"Subject: {r['subject']}",
        f"Message-ID: {r['mid']}",
    ]
    if r["refs"]:
        head.append("References: " + r["refs"].replace(" ", "\n "))
    head += [
        f"Newsgroups: {GROUP}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        r["body"],
        "",
        "",
    ]
    return "\n".join(head).encode()


def write_mbox(path: str, n: int) -> float:
    started = time.monotonic()
    with open(path, "wb", buffering=1 << 20) as f:
        for r in generate(n):
            f.write(mbox_bytes(r))
    return time.monotonic() - started


async def import_rate(db_path: str, mbox_path: str) -> tuple[float, importer.Report]:
    db = await Database(db_path, read_connections=1, synchronous="FULL").open()
    try:
        async with db.transaction() as conn:
            from moot.articles import groups

            await groups.create_group(conn, None, GROUP, "the generated archive")
        report = await importer.import_path(db, mbox_path, GROUP, progress_stream=sys.stderr)
    finally:
        await db.close()
    return report.imported / report.seconds, report


def baseline_rate(db_path: str, n: int) -> float:
    """Raw sqlite3, no email parsing and no thread hops: the same rows in batches
    of 1,000 per transaction, the full-text index written from the application."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.executescript(SCHEMA_PATH.read_text())
    now = clock.now()
    conn.execute("INSERT INTO groups (id, name, created_at) VALUES (1, ?, ?)", (GROUP, now))
    records = generate(n)
    elapsed = 0.0  # only the database work is timed, not the generation of the rows
    thread_ids: dict[int, int] = {}
    done = 0
    while done < n:
        batch = [next(records) for _ in range(min(1000, n - done))]
        done += len(batch)
        for r in batch:
            r["created_at"] = clock.stamp(r["moment"])
        started = time.monotonic()
        conn.execute("BEGIN IMMEDIATE")
        new = [r for r in batch if r["parent_id"] is None]
        first = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM threads").fetchone()[0]
        for k, r in enumerate(new):
            thread_ids[r["thread_no"]] = first + k
        conn.executemany(
            "INSERT INTO threads (id, group_id, subject, created_at, last_article_at,"
            " root_article_id) VALUES (?, 1, ?, ?, ?, ?)",
            [
                (thread_ids[r["thread_no"]], r["subject"], r["created_at"], r["created_at"], r["id"])
                for r in new
            ],
        )
        conn.executemany(
            "INSERT INTO articles (id, message_id, thread_id, group_id, number, parent_id, depth, seq, refs,"
            " subject, body, author_name, author_addr, created_at) VALUES (?,?,?,1,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    r["id"],
                    r["mid"],
                    thread_ids[r["thread_no"]],
                    r["id"],
                    r["parent_id"],
                    r["depth"],
                    r["seq"],
                    r["refs"],
                    r["subject"],
                    r["body"],
                    r["name"],
                    r["addr"],
                    r["created_at"],
                )
                for r in batch
            ],
        )
        conn.executemany(
            "INSERT INTO articles_fts (rowid, subject, body, author_name) VALUES (?,?,?,?)",
            [(r["id"], r["subject"], r["body"], r["name"]) for r in batch],
        )
        counts: dict[int, list] = {}
        for r in batch:
            c = counts.setdefault(thread_ids[r["thread_no"]], [0, ""])
            c[0], c[1] = c[0] + 1, max(c[1], r["created_at"])
        conn.executemany(
            "UPDATE threads SET article_count = article_count + ?,"
            " last_article_at = max(last_article_at, ?) WHERE id = ?",
            [(c, last, t) for t, (c, last) in counts.items()],
        )
        conn.execute(
            "UPDATE groups SET article_count = article_count + ?, last_number = last_number + ?,"
            " thread_count = thread_count + ?, last_article_at = ? WHERE id = 1",
            (len(batch), len(batch), len(new), batch[-1]["created_at"]),
        )
        conn.execute("COMMIT")
        elapsed += time.monotonic() - started
    conn.close()
    return n / elapsed


def queries(n: int, count: int) -> dict[str, list[str]]:
    """Typical searches, by kind; words from the same vocabulary as the archive."""
    rng = random.Random(SEED + 1)
    words = vocabulary(random.Random(SEED))
    topic, rare = words[300:3000], words[8000:20000]
    last_year = 2015 + max(1, int(10 * min(n, 1_000_000) / max(n, 1)))
    sample = [r for _, r in zip(range(2000), generate(min(n, 2000)), strict=False)]
    kinds = {
        "word": lambda: rng.choice(topic),
        "two words": lambda: f"{rng.choice(topic)} {rng.choice(topic)}",
        "phrase": lambda: '"' + " ".join(rng.choice(sample)["body"].split()[5:7]) + '"',
        "rare word": lambda: rng.choice(rare),
        "prefix": lambda: rng.choice(topic)[:4] + "*",
        "filtered": lambda: f"{rng.choice(topic)} group:{GROUP} after:2016 before:{last_year}",
        "author": lambda: f'{rng.choice(topic)} author:"{rng.choice(sample)["name"]}"',
        "stop word": lambda: rng.choice(STOP_WORDS[:20]),
    }
    return {kind: [make() for _ in range(count)] for kind, make in kinds.items()}


async def search_latency(db_path: str, n: int, count: int) -> dict[str, list[float]]:
    import httpx

    from moot.app import create_app
    from moot.store.config import Config

    app = create_app(Config(db_path=db_path, sweep_interval=0, read_connections=2))
    times: dict[str, list[float]] = {}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client,
    ):
        plan = queries(n, count)
        for qs in plan.values():  # warm the page cache the way a running site is warm
            for q in qs[:3]:
                await client.get("/api/search", params={"q": q})
        mixed = [(kind, q) for kind, qs in plan.items() for q in qs]
        random.Random(SEED + 2).shuffle(mixed)
        for kind, q in mixed:
            started = time.perf_counter()
            r = await client.get("/api/search", params={"q": q})
            elapsed = (time.perf_counter() - started) * 1000
            if r.status_code != 200:
                raise SystemExit(f"search {q!r} answered {r.status_code}: {r.text[:200]}")
            times.setdefault(kind, []).append(elapsed)
    return times


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", type=int, default=1_000_000, help="articles in the generated mbox")
    ap.add_argument("--queries", type=int, default=60, help="searches of each kind")
    ap.add_argument("--json", help="also write the rows as JSON here")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    args = ap.parse_args()
    work = temp_dir()
    rows: list[Row] = []
    try:
        print(f"machine: {machine()}", flush=True)
        mbox_path = os.path.join(work, "archive.mbox")
        seconds = write_mbox(mbox_path, args.articles)
        size = os.path.getsize(mbox_path)
        print(
            f"generated {args.articles:,} articles, {size / 1e6:,.0f} MB of mbox in {seconds:.0f} s",
            flush=True,
        )
        base = baseline_rate(os.path.join(work, "baseline.db"), args.articles)
        os.remove(os.path.join(work, "baseline.db"))
        print(f"baseline: {base:,.0f} articles/s", flush=True)
        rate, report = asyncio.run(import_rate(os.path.join(work, "moot.db"), mbox_path))
        print(report.summary().splitlines()[0], flush=True)
        assert report.imported == args.articles and report.skipped == 0, report.summary()
        rows.append(
            Row(
                "archive import",
                "import rate",
                rate,
                "articles/s",
                base,
                "raw sqlite3 batched inserts with FTS, no parsing",
                "ratio >= 0.9",
                rate >= 0.9 * base,
                f"{args.articles:,} articles, {size / 1e6:,.0f} MB mbox, synchronous=FULL",
            )
        )
        times = asyncio.run(search_latency(os.path.join(work, "moot.db"), args.articles, args.queries))
        everything = [t for kind, ts in times.items() if kind != "stop word" for t in ts]
        for kind, ts in times.items():
            rows.append(Row("archive search", f"{kind} p50", statistics.median(ts), "ms"))
            rows.append(Row("archive search", f"{kind} p99", percentile(ts, 99), "ms"))
        p50, p99 = statistics.median(everything), percentile(everything, 99)
        rows.append(
            Row(
                "archive search",
                "typical p50",
                p50,
                "ms",
                target="< 20",
                met=p50 < 20,
                note="first page of 20, all kinds except stop words, through the HTTP app",
            )
        )
        rows.append(Row("archive search", "typical p99", p99, "ms", target="< 100", met=p99 < 100))
        emit(rows, args.json)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

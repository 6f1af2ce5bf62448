"""The write path counted: WAL pages, bytes and commits per accepted article,
and server CPU per article, for web replies and NNTP POST at 1 and 16
posters, against raw inserts of the same rows measured the same way in the
same run; and the fsync bound of the disk the databases live on.

    python bench/writepath.py [--seconds 5] [--profile OUT] [--count 0|1] [--json OUT]

How pages are counted (moot.store.wal): before the load the bench empties the
log (PRAGMA wal_checkpoint(TRUNCATE)) and then holds a read transaction open
on the database, so no checkpoint can restart the log: every frame the server
writes stays in the -wal file, in order. After the load, and after the
server's deferred work is done (the search-index outbox empty), the frames are
read from the file: frames (pages written to the log, 24 + page-size bytes
each), commits (frames marking a commit: one fsync each at synchronous=FULL),
and the pages checkpoints would copy into the database file (each distinct page
once per checkpoint, with SQLite's autocheckpoint every 1,000 frames). Bytes
written per article = log frames + checkpointed pages, over the articles.
CPU is the server process's user + system time during the load (/proc), over
the articles, against the same server's CPU per GET /api/health under the
same connections afterwards (the HTTP stack's floor, measured in the same
run); with --profile, one more web and one more NNTP round (16 posters) run
the server under cProfile (every thread) and the top functions are written to
OUT. The NNTP posters sign in one at a time (the server checks one password
per address at once and refuses the others with 481)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import sqlite3
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from common import ROOT, Row, command_line, cpu_seconds, server, temp_dir, wrk
from posting import BODY, LUA, build, raw_database, raw_posts

from moot.store import wal

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import nntplib

PASSWORD = "bench-password"
DRAIN_WAIT = 10.0  # seconds the server's deferred writes may take after the load


def device_of(path: str) -> str:
    """The mount holding `path`: its source device and file system type."""
    best = ("", "?", "?")
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        mount = fields[4]
        dash = fields.index("-")
        fstype, source = fields[dash + 1], fields[dash + 2]
        if (path + "/").startswith(mount.rstrip("/") + "/") and len(mount) >= len(best[0]):
            best = (mount, source, fstype)
    return f"{best[1]} ({best[2]}, mounted on {best[0]})"


def fsync_bound(seconds: float) -> tuple[float, str]:
    """Minimal one-row commits per second at synchronous=FULL in WAL mode, one
    connection, in the directory the benchmark's databases use; and its device."""
    directory = temp_dir()
    conn = sqlite3.connect(directory + "/fsync.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (x INTEGER)")
    done, started = 0, time.monotonic()
    while time.monotonic() - started < seconds:
        conn.execute("INSERT INTO t VALUES (?)", (done,))  # autocommit: one commit, one fsync
        done += 1
    rate = done / (time.monotonic() - started)
    conn.close()
    return rate, device_of(directory)


def counted(db_path: str, frames: wal.Frames, articles: int) -> dict:
    per = max(articles, 1)
    checkpoint = frames.checkpoint_pages()
    return {
        "articles": articles,
        "pages": len(frames.pages) / per,
        "commits": len(frames.commits) / per,
        "checkpoint": checkpoint / per,
        "bytes": (frames.bytes_logged + checkpoint * frames.page_size) / per,
    }


def articles_in(db_path: str) -> int:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    finally:
        conn.close()


def deferred_left(db_path: str) -> int:
    """Rows of deferred write work the server still has to do (0 without any)."""
    conn = sqlite3.connect(db_path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
        if "search_indexed" in tables:  # articles beyond the search index's mark
            return conn.execute(
                "SELECT count(*) FROM articles WHERE id > (SELECT article_id FROM search_indexed)"
            ).fetchone()[0]
        if "search_queue" in tables:  # the code before the mark: a queue of ids
            return conn.execute("SELECT count(*) FROM search_queue").fetchone()[0]
        return 0
    finally:
        conn.close()


def _nntp_poster(args: tuple) -> int:
    port, root_id, seconds, barrier, signing_in, i = args
    try:
        # One sign-in at a time: the server checks one password per address at
        # once and answers 481 to the others (the web load signs in one by one too).
        with signing_in:
            n = nntplib.NNTP(
                "127.0.0.1", port, readermode=True, timeout=30, user=f"poster{i}", password=PASSWORD
            )
        barrier.wait(timeout=120)
    except BaseException:
        barrier.abort()  # the others stop waiting for a poster that will never come
        raise
    done, started = 0, time.monotonic()
    text = BODY.replace("\n", "\r\n")
    while time.monotonic() - started < seconds:
        n.post(
            (
                "Newsgroups: bench.post\r\nFrom: Poster <poster@example.test>\r\nSubject: Re: Posting\r\n"
                f"References: {root_id}\r\n\r\n{text}"
            ).encode()
        )
        done += 1
    n.quit()
    return done


def load_nntp(port: int, root_id: str, posters: int, seconds: float, signed_in: Callable[[], None]) -> int:
    """NNTP POST replies from `posters` processes for `seconds`; `signed_in()`
    is called once all have signed in, just before they start posting."""
    with multiprocessing.Manager() as manager:
        barrier, signing_in = manager.Barrier(posters + 1), manager.Lock()
        with multiprocessing.Pool(posters) as pool:
            jobs = [(port, root_id, seconds, barrier, signing_in, i) for i in range(posters)]
            done = pool.map_async(_nntp_poster, jobs, chunksize=1)
            try:
                barrier.wait(timeout=120)
            except threading.BrokenBarrierError:
                done.get()  # a poster's own error, if it failed
                raise
            signed_in()
            return sum(done.get())


def load_web(
    url: str, root: int, posters: int, seconds: float, directory: str, signed_in: Callable[[], None]
) -> int:
    """Web replies over `posters` connections (wrk) for `seconds`; `signed_in()`
    is called once all have signed in, just before the load."""
    import httpx

    cookies = []
    for i in range(posters):
        r = httpx.post(url + "/api/login", json={"username": f"poster{i}", "password": PASSWORD})
        r.raise_for_status()
        cookies.append(f'"moot_session={r.cookies["moot_session"]}"')
    script = os.path.join(directory, "post.lua")
    with open(script, "w") as f:
        f.write(LUA % (", ".join(cookies), '{{"body": "{}"}}'.format(BODY.replace("\n", "\\\\n"))))
    signed_in()
    result = wrk(
        f"{url}/api/articles/{root}/replies",
        seconds=int(seconds),
        connections=posters,
        threads=posters,
        script=script,
    )
    assert result.errors == 0, result.raw
    return result.requests


def moot_round(channel: str, posters: int, seconds: float, profile: str | None = None) -> dict:
    """One server, one load; the counts per article."""
    directory = temp_dir()
    db_path = directory + "/post.db"
    root = asyncio.run(build(db_path))
    conn = sqlite3.connect(db_path)
    root_id = conn.execute("SELECT message_id FROM articles WHERE id = ?", (root,)).fetchone()[0]
    conn.close()
    env = {"synchronous": "FULL", "domain": "bench.moot", "nntp_max_per_address": 0}
    with server(db_path, nntp=channel == "nntp", profile=profile, **env) as (url, proc):
        before = articles_in(db_path)
        with wal.held_snapshot(db_path) as start:
            cpu = 0.0

            def signed_in() -> None:  # sign-ins (scrypt) are not part of what is measured
                nonlocal cpu
                if profile:
                    os.kill(proc.pid, signal.SIGUSR1)  # bench/profiled.py: count from here
                cpu = cpu_seconds(proc.pid)

            if channel == "nntp":
                acknowledged = load_nntp(proc.listening().nntp, root_id, posters, seconds, signed_in)
            else:
                acknowledged = load_web(url, root, posters, seconds, directory, signed_in)
            cpu = cpu_seconds(proc.pid) - cpu
            deadline = time.monotonic() + DRAIN_WAIT
            while deferred_left(db_path) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert deferred_left(db_path) == 0, "the deferred writes were not done in time"
            frames = wal.read(db_path + "-wal", start)
        landed = articles_in(db_path) - before
        floor = health_cpu_ms(url, proc.pid, posters, seconds) if channel == "web" and not profile else None
    # Every acknowledged article is there; at most one in flight per poster at the cut-off.
    assert acknowledged <= landed <= acknowledged + posters, (acknowledged, landed)
    return {**counted(db_path, frames, landed), "cpu_ms": cpu / max(landed, 1) * 1000, "floor_ms": floor}


def health_cpu_ms(url: str, pid: int, connections: int, seconds: float) -> float:
    """The same server's CPU per GET /api/health under the same number of
    connections: the HTTP stack's floor, the same-run baseline of CPU per reply."""
    cpu = cpu_seconds(pid)
    result = wrk(url + "/api/health", seconds=int(seconds), connections=connections, threads=1)
    assert result.errors == 0, result.raw
    return (cpu_seconds(pid) - cpu) / max(result.requests, 1) * 1000


async def raw_round(posters: int, seconds: float) -> dict:
    """The same article and full-text rows written by `posters` tasks over one
    aiosqlite connection at synchronous=FULL, a transaction each, counted the same way."""
    conn, db_path = await raw_database("FULL")
    with wal.held_snapshot(db_path) as start:
        done = await raw_posts(conn, posters, seconds)
        frames = wal.read(db_path + "-wal", start)
    await conn.close()
    return counted(db_path, frames, done)


def profile_summary(path: str, articles: int, top: int = 30) -> str:
    import pstats

    stats = pstats.Stats(path)
    out = []
    total = stats.total_tt
    out.append(
        f"{total:.2f} s of thread CPU over all threads during the load, {articles} articles:"
        f" {total / max(articles, 1) * 1000:.2f} ms per article under the profiler"
    )
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][3], reverse=True)  # by cumulative
    out.append("cumulative s | own s | calls | function")
    for (file, line, name), (_, calls, own, cum, _) in rows[:top]:
        where = file.replace(str(ROOT) + "/", "").replace(sys.prefix, "<env>")
        out.append(f"{cum:.2f} | {own:.2f} | {calls} | {name} ({where}:{line})")
    out.append("")
    out.append("own s | calls | function (by own time)")
    for (file, line, name), (_, calls, own, _cum, _) in sorted(
        stats.stats.items(), key=lambda kv: kv[1][2], reverse=True
    )[:top]:
        where = file.replace(str(ROOT) + "/", "").replace(sys.prefix, "<env>")
        out.append(f"{own:.2f} | {calls} | {name} ({where}:{line})")
    return "\n".join(out)


def run(seconds: int, profile: str = "", count: int = 1) -> list[Row]:
    """The rows (none with `count` 0) and, with `profile`, the profile summary."""
    rows = [fsync_row()] if count else []
    for posters in (1, 16) if count else ():
        rows += counted_rows(posters, seconds)
    if profile:
        profile = str(Path(profile).resolve())  # the server runs in the project's root, not here
        summaries = []
        for channel in ("web", "nntp"):
            got = moot_round(channel, 16, seconds, profile=f"{profile}.{channel}.prof")
            summary = profile_summary(f"{profile}.{channel}.prof", got["articles"])
            summaries.append(f"## {channel}, 16 posters\n\n{summary}")
        Path(profile).write_text("\n\n".join(summaries) + "\n")
        print(Path(profile).read_text())
    return rows


def fsync_row() -> Row:
    bound, device = fsync_bound(3)
    note = device
    if "overlay" in device or "tmpfs" in device:
        note += "; an overlay or tmpfs: this bound says little about a real disk"
    return Row(
        "writepath", "fsync bound: one-row commits/s at synchronous=FULL", bound, "commits/s", note=note
    )


def counted_rows(posters: int, seconds: float) -> list[Row]:
    rows = []
    raw = asyncio.run(raw_round(posters, seconds))
    print(f"raw, {posters} posters: {raw}", flush=True)
    for channel in ("web", "nntp"):
        got = moot_round(channel, posters, seconds)
        print(f"{channel}, {posters} posters: {got}", flush=True)
        label = {"web": "web reply", "nntp": "NNTP POST reply"}[channel]
        rows += [
            Row(
                "writepath",
                f"{label}, {posters} poster{'s' * (posters > 1)}: WAL pages per article",
                got["pages"],
                "pages",
                raw["pages"],
                "raw inserts of the article and FTS rows, a commit each",
                note=f"{got['articles']} articles; checkpoint pages per article {got['checkpoint']:.2f}"
                f" (raw {raw['checkpoint']:.2f})",
            ),
            Row(
                "writepath",
                f"{label}, {posters} poster{'s' * (posters > 1)}: bytes written per article",
                got["bytes"],
                "bytes",
                raw["bytes"],
                "raw inserts",
                note="WAL frames plus checkpointed pages",
            ),
            Row(
                "writepath",
                f"{label}, {posters} poster{'s' * (posters > 1)}: commits (fsyncs) per article",
                got["commits"],
                "commits",
                raw["commits"],
                "raw inserts",
                note=f"articles per group commit {1 / got['commits']:.1f}" if got["commits"] else "",
            ),
            Row(
                "writepath",
                f"{label}, {posters} poster{'s' * (posters > 1)}: server CPU per article",
                got["cpu_ms"],
                "ms",
                got["floor_ms"],
                "server CPU per GET /api/health, same server, same connections" if got["floor_ms"] else "",
            ),
        ]
    return rows


if __name__ == "__main__":
    command_line(run, __doc__, seconds=5, profile="", count=1)

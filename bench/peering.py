"""Peering: articles/s between Moot and INN2, and replication lag between Moot nodes.

    python bench/peering.py [--articles 2000] [--seconds 10] [--rate 50] [--json OUT]

All on loopback, in one run, INN2 from Debian's inn2 configured and started
here (root; tests/inn_support.py), Moot as real `moot serve` processes
(synchronous=FULL). Rows:
- streaming intake: the same pipelined CHECK/TAKETHIS client (batches of 100)
  sends the same articles to INN2 and to Moot: articles/s each takes;
- Moot -> INN2: a backlog queued on Moot while INN2 was down, drained by
  Moot's feed (CHECK/TAKETHIS) once it is up, against INN2's intake above;
- INN2 -> Moot: articles posted to INN2 (nnrpd, 4 connections) reach Moot
  through innfeed (streaming on 4 connections, up before the burst): articles/s
  end to end, against INN2's own POST rate in the same run;
- Moot -> Moot: replication lag p50/p99, post on A (NNTP, --rate per second)
  to the event on B's /live, A and B peered with a shared secret."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import secrets
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import warnings
import weakref

from common import ROOT, Row, emit, poster_and_group, temp_dir

sys.path.insert(0, str(ROOT))
from tests import inn_support  # noqa: E402
from tests.processes import MootProcess, reserved_port  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import nntplib

GROUP = "bench.peering"
PASSWORD = "bench-password-1"
BODY = "A benchmark article of a few lines.\n" * 8


def _env(**settings: object) -> dict:
    return {
        **os.environ,
        "MOOT_POST_RATE": "1000000",
        "MOOT_POST_BURST": "1000000",
        "MOOT_SWEEP_INTERVAL": "0",
        **{f"MOOT_{k.upper()}": str(v) for k, v in settings.items()},
    }


def moot_cli(*args: str, input: str | None = None) -> None:
    subprocess.run(
        [sys.executable, "-m", "moot", *args],
        cwd=ROOT,
        env=_env(),
        input=input,
        text=True,
        check=True,
        capture_output=True,
    )


class MootNode:
    def __init__(self, name: str) -> None:
        self.name = name
        self.db = os.path.join(temp_dir(), f"{name}.db")
        # Its ports are its own while it lives: its peers are told them before it starts.
        held = contextlib.ExitStack()
        weakref.finalize(self, held.close)
        self.http, self.nntp = held.enter_context(reserved_port()), held.enter_context(reserved_port())
        self.proc: subprocess.Popen | None = None
        asyncio.run(poster_and_group(self.db, PASSWORD, GROUP))

    def start(self) -> None:
        args = [sys.executable, "-m", "moot", "serve", "--db", self.db]
        args += ["--port", str(self.http), "--nntp-port", str(self.nntp)]
        env = _env(domain=self.name, peer_poll_interval=0.5, synchronous="FULL")
        proc = MootProcess(args, self.db + ".log", ("http", "nntp"), env)
        proc.listening()
        self.proc = proc

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(20)
            self.proc = None

    def count(self, subject: str = "") -> int:
        """Articles held, or those whose subject starts with `subject`."""
        with sqlite3.connect(self.db, timeout=10) as conn:
            query = "SELECT count(*) FROM articles WHERE substr(subject, 1, ?) = ?"
            return conn.execute(query, (len(subject), subject)).fetchone()[0]

    def backlog(self) -> int:
        with sqlite3.connect(self.db, timeout=10) as conn:
            return conn.execute("SELECT count(*) FROM peer_queue").fetchone()[0]


async def _fill(db_path: str, count: int) -> None:
    """`count` threads posted through the domain layer (each queued for the peers)."""
    from moot.articles import posting
    from moot.stewardship.permissions import User
    from moot.store.db import Database

    db = await Database(db_path, read_connections=1).open()
    try:
        user = User(1, "bench", "Bench Poster", "member")
        for start in range(0, count, 500):
            async with db.transaction() as conn:
                for i in range(start, min(count, start + 500)):
                    await posting.submit(
                        conn,
                        "a.bench",
                        user,
                        posting.Submission(body=BODY, subject=f"Queued {i}", group=GROUP),
                    )
    finally:
        await db.close()


def wait_until(check, timeout: float = 180) -> float:
    """Seconds until `check()` is true (polled every 20 ms)."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise RuntimeError("timed out")
        time.sleep(0.02)
    return time.monotonic() - start


# -- a streaming client --------------------------------------------------------------------


def transit(i: int, tag: str) -> tuple[str, bytes]:
    mid = f"<{tag}.{i}.{secrets.token_hex(4)}@bench.test>"
    text = (
        f"Path: bench.test!not-for-mail\r\nFrom: Bench <bench@bench.test>\r\nNewsgroups: {GROUP}\r\n"
        f"Subject: Streamed {i}\r\nDate: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\r\n"
        f"Message-ID: {mid}\r\n\r\n" + BODY.replace("\n", "\r\n") + ".\r\n"
    )
    return mid, text.encode()


def stream(port: int, articles: list[tuple[str, bytes]], secret: str | None = None) -> float:
    """Articles/s a server takes from CHECK/TAKETHIS in pipelined batches of 100."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    f = sock.makefile("rb")

    def cmd(line: str) -> bytes:
        sock.sendall(line.encode() + b"\r\n")
        return f.readline()

    assert f.readline()[:3] in (b"200", b"201")
    if secret:
        cmd("AUTHINFO USER bench.test")
        assert cmd(f"AUTHINFO PASS {secret}")[:3] == b"281"
    assert cmd("MODE STREAM")[:3] == b"203"
    taken = 0
    start = time.monotonic()
    for first in range(0, len(articles), 100):
        batch = articles[first : first + 100]
        sock.sendall(b"".join(f"CHECK {mid}\r\n".encode() for mid, _ in batch))
        wanted = [a for a in batch if f.readline()[:3] == b"238"]
        sock.sendall(b"".join(f"TAKETHIS {mid}\r\n".encode() + text for mid, text in wanted))
        taken += sum(f.readline()[:3] == b"239" for _ in wanted)
    elapsed = time.monotonic() - start
    sock.sendall(b"QUIT\r\n")
    sock.close()
    if taken != len(articles):
        raise RuntimeError(f"only {taken} of {len(articles)} taken")
    return taken / elapsed


def _inn_poster(args: tuple) -> None:
    port, first, count = args
    with nntplib.NNTP("127.0.0.1", port, readermode=True, timeout=60) as n:
        for i in range(first, first + count):
            n.post(
                (
                    f"From: Bench <bench@example.test>\r\nNewsgroups: {GROUP}\r\nSubject: From INN {i}\r\n"
                    "\r\n" + BODY.replace("\n", "\r\n")
                ).encode()
            )


# -- Moot -> Moot lag ------------------------------------------------------------------------


async def lag(a: MootNode, b: MootNode, rate: float, seconds: float) -> list[float]:
    """Seconds from each 240 on A to its event on B's /live."""
    import websockets

    url = f"http://127.0.0.1:{b.http}"
    ws = await websockets.connect(
        f"ws://127.0.0.1:{b.http}/live", compression=None, ping_interval=None, origin=url, max_queue=None
    )
    await ws.send(json.dumps({"type": "subscribe", "groups": [GROUP]}))
    while json.loads(await ws.recv()).get("type") != "subscribed":
        pass
    posted: dict[str, float] = {}
    arrived: dict[str, float] = {}

    async def listen() -> None:
        while True:
            msg = json.loads(await ws.recv())
            if msg.get("type") == "thread.created":
                arrived[msg["data"]["article"]["message_id"]] = time.monotonic()

    def post() -> None:
        with nntplib.NNTP(
            "127.0.0.1", a.nntp, readermode=True, user="bench", password=PASSWORD, timeout=60
        ) as n:
            start = time.monotonic()
            i = 0
            while time.monotonic() - start < seconds:
                due = start + i / rate
                if due > time.monotonic():
                    time.sleep(due - time.monotonic())
                reply = n.post((f"Newsgroups: {GROUP}\r\nSubject: Lag {i}\r\n\r\n{BODY}").encode())
                posted[reply.split()[-1]] = time.monotonic()
                i += 1

    listener = asyncio.create_task(listen())
    await asyncio.to_thread(post)
    deadline = time.monotonic() + 60
    while set(posted) - set(arrived) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    listener.cancel()
    await ws.close()
    return [arrived[m] - posted[m] for m in posted if m in arrived]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--json")
    args = parser.parse_args()
    reason = inn_support.unavailable()
    if reason:
        raise SystemExit(reason)
    n = args.articles
    rows = []
    inn_port = inn_support.PORT
    node = MootNode("moot.bench")
    moot_cli(
        "peer", "add", inn_support.PATHHOST, "--host", "127.0.0.1", "--port", str(inn_port), "--db", node.db
    )
    asyncio.run(_fill(node.db, n))  # queued for INN2 while it is down
    node.start()
    try:
        with inn_support.inn((GROUP,), feed=(node.name, node.nntp)):
            # Moot's feed drains its backlog into INN2 (it retries within a second of INN2 coming up).
            seconds = wait_until(lambda: node.backlog() == 0)
            moot_to_inn = n / seconds
            # Intake with the same streaming client.
            inn_in = stream(inn_port, [transit(i, "inn") for i in range(n)])
            # INN2 feeds those to Moot through innfeed: Moot's intake is measured after.
            wait_until(lambda: node.count("Streamed") == n)
            moot_in = stream(node.nntp, [transit(i, "moot") for i in range(n)])
            # INN2 -> Moot through innfeed, end to end. innfeed connects when its first
            # article comes and spools to disk what arrives before that connection streams,
            # to read it back on its own timers (tests/inn_support.py): one article goes
            # through first, so the burst measures the feed, not innfeed's start.
            _inn_poster((inn_port, -1, 1))
            wait_until(lambda: node.count("From INN") == 1)
            start = time.monotonic()
            per = n // 4
            with multiprocessing.Pool(4) as pool:
                pool.map(_inn_poster, [(inn_port, k * per, per) for k in range(4)])
            inn_post = 4 * per / (time.monotonic() - start)
            wait_until(lambda: node.count("From INN") >= 1 + 4 * per)
            inn_to_moot = 4 * per / (time.monotonic() - start)
    finally:
        node.stop()
    rows += [
        Row(
            "peering",
            "streaming intake (CHECK/TAKETHIS), articles/s",
            moot_in,
            "per s",
            inn_in,
            "INN2",
            target=">= 0.5",
            met=moot_in >= 0.5 * inn_in,
        ),
        Row(
            "peering",
            "Moot -> INN2 backlog drained by Moot's feed, articles/s",
            moot_to_inn,
            "per s",
            inn_in,
            "INN2 intake",
            note=f"{n} queued while INN2 was down; the feed's wait before INN2 came up included",
        ),
        Row(
            "peering",
            "INN2 -> Moot through innfeed, posted to all on Moot, articles/s",
            inn_to_moot,
            "per s",
            inn_post,
            "INN2 POST",
            target=">= 0.8",
            met=inn_to_moot >= 0.8 * inn_post,
            note=f"{4 * per} posted to INN2 on 4 connections; innfeed streaming on "
            f"{inn_support.CONNECTIONS} connections (max-queue-size {inn_support.QUEUE}) before the burst",
        ),
    ]
    a, b = MootNode("a.bench"), MootNode("b.bench")
    secret = secrets.token_hex(12)
    moot_cli(
        "peer",
        "add",
        b.name,
        "--host",
        "127.0.0.1",
        "--port",
        str(b.nntp),
        "--password-stdin",
        "--db",
        a.db,
        input=secret + "\n",
    )
    moot_cli(
        "peer",
        "add",
        a.name,
        "--host",
        "127.0.0.1",
        "--port",
        str(a.nntp),
        "--password-stdin",
        "--db",
        b.db,
        input=secret + "\n",
    )
    a.start()
    b.start()
    try:
        lags = asyncio.run(lag(a, b, args.rate, args.seconds))
    finally:
        a.stop()
        b.stop()
    ms = [x * 1000 for x in lags]
    rows += [
        Row(
            "peering",
            f"Moot -> Moot lag p50 at {args.rate:g} posts/s",
            statistics.median(ms),
            "ms",
            note=f"{len(ms)} articles, post on A to /live event on B",
        ),
        Row(
            "peering",
            f"Moot -> Moot lag p99 at {args.rate:g} posts/s",
            percentile(ms, 99),
            "ms",
            target="<= 1000",
            met=percentile(ms, 99) <= 1000,
        ),
    ]
    emit(rows, args.json)


if __name__ == "__main__":
    main()

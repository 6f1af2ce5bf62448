"""Moot's NNTP server against INN2, in one run, with the same clients.

    python bench/nntp.py [--seconds 4] [--json OUT]

Both servers run on loopback: Moot as a real `moot serve` process (its default
synchronous=FULL: every post is on disk before 240), INN2 from Debian's inn2
package with its defaults (no fsync per article), configured and started here
as root by tests/inn_support.py (`./run tests` installs inn2). Rows, each Moot/INN2:
POST/s on 1 and 4 connections (nntplib, one process per connection), OVER
lines/s over a 10,000-article group, ARTICLE/s through plain nntplib (which
leaves delayed ACKs to the kernel) and through a raw client that forces its
ACKs (TCP_QUICKACK), and connect + MODE READER + GROUP + QUIT per second.
That last is also measured against public-inbox-nntpd (Debian's public-inbox,
when installed), in rounds interleaved with Moot's in the same run.

The POST rows have a third server: bench/nntp_floor.py, the least a Python
server does to store a POST (no accounts, checks or outboxes; one row and its
search row, group commits), run at synchronous=FULL and at OFF with the same
clients right after INN2. Its FULL rate is the most any Python server that
keeps Moot's promise (on disk before 240) reaches on this disk; the distance
to its OFF rate is that promise's price."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator

from common import ROOT, Row, emit, server, temp_dir

sys.path.insert(0, str(ROOT))
from tests import inn_support  # noqa: E402
from tests.processes import reserved_port  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import nntplib

GROUP = "bench.nntp"
FILL = 10_000
PASSWORD = "bench-password-1"
BODY = "A benchmark article of a few lines.\n" * 8


# -- Moot ------------------------------------------------------------------------------


async def moot_prepare(db_path: str) -> None:
    """An account and a group holding FILL articles, written through the domain layer."""
    from moot.articles import groups, posting
    from moot.people import accounts
    from moot.store.db import Database

    db = await Database(db_path, read_connections=1).open()
    try:
        user = await accounts.create_user(db, "bench", PASSWORD, "Bench Poster")
        async with db.transaction() as conn:
            await groups.create_group(conn, None, GROUP, "benchmark group")
            await groups.create_group(conn, None, GROUP + ".posts", "benchmark posts")
        for start in range(0, FILL, 1000):
            async with db.transaction() as conn:
                for i in range(start, start + 1000):
                    await posting.submit(
                        conn,
                        "bench.moot",
                        user,
                        posting.Submission(body=BODY, subject=f"Article {i}", group=GROUP),
                    )
    finally:
        await db.close()


# -- clients -----------------------------------------------------------------------------


def article_text(group: str, i: int) -> bytes:
    return (
        f"Newsgroups: {group}\r\nFrom: Bench <bench@example.test>\r\nSubject: Post {i}\r\n\r\n"
        + BODY.replace("\n", "\r\n")
    ).encode()


def connect(port: int, auth: bool) -> nntplib.NNTP:
    kwargs = {"user": "bench", "password": PASSWORD} if auth else {}
    return nntplib.NNTP("127.0.0.1", port, readermode=True, timeout=30, **kwargs)


def _poster(args: tuple) -> float:
    """Posts per second of one connection, timed after it connected and signed in."""
    port, auth, group, seconds, barrier = args
    n = connect(port, auth)
    barrier.wait()
    done, started = 0, time.monotonic()
    while time.monotonic() - started < seconds:
        n.post(article_text(group, done))
        done += 1
    rate = done / (time.monotonic() - started)
    n.quit()
    return rate


def post_rate(port: int, auth: bool, group: str, connections: int, seconds: float) -> float:
    with multiprocessing.Manager() as manager:
        barrier = manager.Barrier(connections)
        with multiprocessing.Pool(connections) as pool:
            return sum(pool.map(_poster, [(port, auth, group, seconds, barrier)] * connections))


class Raw:
    """A minimal NNTP client on a raw socket that can force its ACKs (TCP_QUICKACK)."""

    def __init__(self, port: int, quickack: bool = True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.quickack = quickack
        self.buf = b""
        self.line()

    def _more(self) -> None:
        if self.quickack:  # re-armed after every read: the kernel drops back to delayed ACKs
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionError("closed")
        self.buf += chunk

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._more()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def block(self) -> int:
        """Read a multi-line block to its end; the number of lines."""
        while b"\r\n.\r\n" not in self.buf and not self.buf.startswith(b".\r\n"):
            self._more()
        if self.buf.startswith(b".\r\n"):
            self.buf = self.buf[3:]
            return 0
        body, self.buf = self.buf.split(b"\r\n.\r\n", 1)
        return body.count(b"\r\n") + 1

    def cmd(self, text: str) -> bytes:
        self.sock.sendall(text.encode() + b"\r\n")
        return self.line()

    def close(self) -> None:
        self.sock.close()


def over_rate(port: int, seconds: float) -> float:
    raw = Raw(port)
    raw.cmd("MODE READER")
    status = raw.cmd(f"GROUP {GROUP}").split()
    low, high = int(status[2]), int(status[3])
    lines, end, started = 0, time.monotonic() + seconds, time.monotonic()
    while time.monotonic() < end:
        assert raw.cmd(f"OVER {low}-{high}").startswith(b"224")
        got = raw.block()
        assert got >= FILL, got
        lines += got
    rate = lines / (time.monotonic() - started)
    raw.close()
    return rate


def article_rate_nntplib(port: int, seconds: float) -> float:
    n = connect(port, False)
    _, _, low, high, _ = n.group(GROUP)
    done, number, started = 0, low, time.monotonic()
    while time.monotonic() - started < seconds:
        n.article(number)
        number = number + 1 if number < high else low
        done += 1
    n.quit()
    return done / (time.monotonic() - started)


def article_rate_quickack(port: int, seconds: float) -> float:
    raw = Raw(port)
    raw.cmd("MODE READER")
    status = raw.cmd(f"GROUP {GROUP}").split()
    low, high = int(status[2]), int(status[3])
    done, number, started = 0, low, time.monotonic()
    while time.monotonic() - started < seconds:
        assert raw.cmd(f"ARTICLE {number}").startswith(b"220")
        raw.block()
        number = number + 1 if number < high else low
        done += 1
    raw.close()
    return done / (time.monotonic() - started)


def connect_rate(port: int, seconds: float) -> float:
    done, started = 0, time.monotonic()
    while time.monotonic() - started < seconds:
        raw = Raw(port)
        raw.cmd("MODE READER")
        assert raw.cmd(f"GROUP {GROUP}").startswith(b"211")
        raw.cmd("QUIT")
        raw.close()
        done += 1
    return done / (time.monotonic() - started)


@contextlib.contextmanager
def public_inbox() -> Iterator[int | None]:
    """public-inbox-nntpd serving an inbox as GROUP on a free loopback port
    (None when public-inbox is not installed: `apt-get install public-inbox`)."""
    if shutil.which("public-inbox-nntpd") is None:
        yield None
        return
    home = temp_dir()
    env = {**os.environ, "HOME": home, "PI_CONFIG": os.path.join(home, "config")}
    inbox = os.path.join(home, "bench")
    subprocess.run(
        [
            "public-inbox-init",
            "-V2",
            "--ng",
            GROUP,
            "bench",
            inbox,
            "http://127.0.0.1/bench",
            "bench@bench.test",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    with reserved_port() as port:
        proc = subprocess.Popen(
            ["public-inbox-nntpd", "-l", f"nntp://127.0.0.1:{port}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    Raw(port).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("public-inbox-nntpd does not listen") from None
                    time.sleep(0.1)
            yield port
        finally:
            proc.terminate()
            proc.wait(10)


def inn_fill(port: int) -> None:
    """FILL articles into INN2's group through its own POST (IHAVE would need a peer entry)."""
    n = connect(port, False)
    _, count, _, _, _ = n.group(GROUP)
    for i in range(int(count), FILL):
        n.post(article_text(GROUP, i))
    n.quit()
    deadline = time.monotonic() + 60
    while connect(port, False).group(GROUP)[1] < FILL and time.monotonic() < deadline:
        time.sleep(0.5)


def floor_rates(seconds: float) -> dict[str, float]:
    """POST/s of bench/nntp_floor.py on 1 and 4 connections, at synchronous=FULL and OFF."""
    rates = {}
    for level in ("FULL", "OFF"):
        with reserved_port() as port:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    str(ROOT / "bench" / "nntp_floor.py"),
                    f"{temp_dir()}/floor.db",
                    str(port),
                    level,
                ],
                stdout=subprocess.PIPE,
            )
            try:
                assert proc.stdout is not None and proc.stdout.readline() == b"ready\n", (
                    "the floor did not start"
                )
                for connections in (1, 4):
                    rate = post_rate(port, False, GROUP, connections, seconds)
                    rates[f"POST/s, {connections} connection{'s' * (connections > 1)}, {level}"] = rate
            finally:
                proc.kill()
                proc.wait()
    return rates


def measure(port: int, auth: bool, post_group: str, seconds: float) -> dict[str, float]:
    return {
        "POST/s, 1 connection": post_rate(port, auth, post_group, 1, seconds),
        "POST/s, 4 connections": post_rate(port, auth, post_group, 4, seconds),
        "OVER lines/s, 10,000-article group": over_rate(port, seconds),
        "ARTICLE/s, plain nntplib": article_rate_nntplib(port, seconds),
        "ARTICLE/s, client forcing ACKs": article_rate_quickack(port, seconds),
        "connect+MODE READER+GROUP+QUIT/s": connect_rate(port, seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--json")
    args = parser.parse_args()
    reason = inn_support.unavailable()
    if reason is not None:
        raise SystemExit(f"the NNTP benchmark compares with INN2: {reason}")
    inn_port = inn_support.PORT
    with inn_support.inn((GROUP, GROUP + ".posts")):
        inn_fill(inn_port)
        inn = measure(inn_port, False, GROUP + ".posts", args.seconds)
    floor = floor_rates(args.seconds)
    db_path = os.path.join(temp_dir(), "nntp.db")
    asyncio.run(moot_prepare(db_path))
    rounds: list[tuple[float, float]] = []  # (Moot, public-inbox-nntpd) connections/s
    with server(db_path, nntp=True, domain="bench.moot", synchronous="FULL") as (_, proc):
        moot_port = proc.listening().nntp
        moot = measure(moot_port, True, GROUP + ".posts", args.seconds)
        with public_inbox() as pi_port:
            for _ in range(3 if pi_port is not None else 0):
                rounds.append((connect_rate(moot_port, args.seconds), connect_rate(pi_port, args.seconds)))
    rows = [
        Row(
            "nntp",
            metric,
            moot[metric],
            "per s",
            inn[metric],
            "INN2",
            target=">= 1.0",
            met=moot[metric] >= inn[metric],
        )
        for metric in moot
    ]
    for connections in ("1 connection", "4 connections"):
        posts = f"POST/s, {connections}"
        full, off = floor[f"{posts}, FULL"], floor[f"{posts}, OFF"]
        rows += [
            Row(
                "nntp",
                f"{posts}, least Python server at synchronous=FULL (bench/nntp_floor.py)",
                full,
                "per s",
                inn[posts],
                "INN2",
                note="the most a Python server reaches here with each article on disk before its 240",
            ),
            Row(
                "nntp",
                f"{posts}, least Python server at synchronous=OFF",
                off,
                "per s",
                inn[posts],
                "INN2",
                note="the same server not waiting for the disk, as INN2 does not",
            ),
            Row(
                "nntp",
                f"{posts}, Moot vs the least Python server at FULL",
                moot[posts],
                "per s",
                full,
                "floor",
            ),
        ]
    if rounds:
        ratios = [m / p for m, p in rounds]
        middle = sorted(rounds, key=lambda r: r[0] / r[1])[1]
        rows.append(
            Row(
                "nntp",
                "connect+MODE READER+GROUP+QUIT/s vs public-inbox-nntpd (median of 3 interleaved rounds)",
                middle[0],
                "per s",
                middle[1],
                "public-inbox-nntpd",
                target=">= 1.0",
                met=statistics.median(ratios) >= 1.0,
                note="rounds (Moot/public-inbox): " + ", ".join(f"{m:,.0f}/{p:,.0f}" for m, p in rounds),
            )
        )
    emit(rows, args.json)


if __name__ == "__main__":
    main()

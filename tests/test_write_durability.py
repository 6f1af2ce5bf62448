"""An NNTP POST answered 240 is durable: four concurrent nntplib posters
against a real `moot serve`, killed with SIGKILL and restarted, find every
acknowledged article there afterwards (and the search index consistent);
and, since kill -9 cannot tell synchronous=FULL from NORMAL, strace shows
that the server writes each 240 to its client only after an fsync or
fdatasync of the WAL that holds the article."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from moot.store import check
from tests.nntp_support import PASSWORD, nntplib, prepare
from tests.processes import start_process, stop_process

POSTERS = 4


def _article(message_id: str, n: int) -> bytes:
    return (
        "Newsgroups: comp.lang.python\r\nFrom: Ada <ada@example.test>\r\nSubject: Durable\r\n"
        f"Message-ID: {message_id}\r\n\r\nArticle {message_id} number {n}\r\n"
    ).encode()


def _drop(client) -> None:
    """Close a client whose server went away without a QUIT."""
    if client is not None:
        client.file.close()
        client.sock.close()


class Posters:
    """POSTER threads posting with chosen Message-IDs to whatever port `port()`
    gives, reconnecting when the server is gone; `acknowledged` holds the
    Message-IDs answered 240."""

    def __init__(self, port, per_poster: int | None = None):
        self.port, self.per_poster = port, per_poster
        self.acknowledged: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(k,)) for k in range(POSTERS)]

    def _run(self, k: int) -> None:
        i, client = 0, None
        while not self._stop.is_set() and (self.per_poster is None or i < self.per_poster):
            message_id = f"<d{k}.{i}.{time.monotonic_ns()}@test.moot>"
            try:
                if client is None:
                    client = nntplib.NNTP("127.0.0.1", self.port(), timeout=10, user="ada", password=PASSWORD)
                answer = client.post(_article(message_id, i))
            except (OSError, EOFError, nntplib.NNTPError):
                _drop(client)
                client = None
                time.sleep(0.02)  # the server is down: try again once it is back
                continue
            i += 1
            if answer.startswith("240"):
                with self._lock:
                    self.acknowledged.append(message_id)
        if client is not None:
            try:
                client.quit()
            except (OSError, EOFError, nntplib.NNTPError):
                _drop(client)

    def until(self, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acknowledged) < count:
            assert time.monotonic() < deadline, f"only {len(self.acknowledged)} of {count} acknowledged"
            time.sleep(0.01)

    def __enter__(self) -> Posters:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.per_poster is None or exc[0] is not None:  # else each posts its share first
            self._stop.set()
        for t in self._threads:
            t.join()


def test_every_240_of_four_concurrent_posters_survives_kill_9(tmp_path):
    db = tmp_path / "nntp.db"
    import asyncio

    asyncio.run(prepare(str(db)))
    log = tmp_path / "server.log"
    proc = start_process(db, log, nntp="any")
    ports = [proc.listening().nntp]
    with Posters(lambda: ports[0]) as posters:
        for round_ in range(2):
            posters.until(30 * (round_ + 1))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            proc = start_process(db, log, nntp="any")
            ports[0] = proc.listening().nntp
        posters.until(len(posters.acknowledged) + 20)
    stop_process(proc)
    conn = sqlite3.connect(db)
    try:
        stored = {m for (m,) in conn.execute("SELECT message_id FROM articles")}
    finally:
        conn.close()
    assert len(posters.acknowledged) >= 80
    assert [m for m in posters.acknowledged if m not in stored] == []
    report = check.check(str(db))  # the search queue and index came through the kills too
    assert report.ok, report.text()


# -- every 240 after the fsync of the WAL holding it ------------------------------------------

SYSCALL = re.compile(r"^(\d+)\s+(?:<\.\.\. (\w+) resumed>|(\w+)\((\d+)<([^>]*)>)(.*)$")


def _trace_order(text: str) -> tuple[list, list]:
    """From `strace -f -y -s N` output: WAL frame writes and completed WAL
    syncs, and writes to sockets, each (line index, call, detail)."""
    wal_events, sends = [], []
    open_calls: dict[str, tuple[str, str]] = {}  # pid -> (call, path) of an unfinished call
    for n, line in enumerate(text.splitlines()):
        match = SYSCALL.match(line)
        if not match:
            continue
        pid, resumed, call, _fd, path, rest = match.groups()
        if resumed:
            if pid in open_calls and resumed in ("fsync", "fdatasync"):
                wal_events.append((n, "sync", open_calls.pop(pid)[1]))
            continue
        unfinished = "<unfinished ...>" in rest
        if call in ("fsync", "fdatasync") and path.endswith("-wal"):
            if unfinished:
                open_calls[pid] = (call, path)
            else:
                wal_events.append((n, "sync", path))
        elif call in ("pwrite64", "write") and path.endswith("-wal"):
            wal_events.append((n, "frame", rest))
        elif call in ("write", "sendto", "sendmsg", "writev") and path.startswith(("TCP", "socket")):
            sends.append((n, rest))
    return wal_events, sends


@pytest.mark.skipif(sys.platform != "linux", reason="strace is Linux's")
def test_each_240_is_sent_after_the_wal_holding_it_is_synced(tmp_path):
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed (./run tests installs it with apt-get as root)")
    db = tmp_path / "nntp.db"
    import asyncio

    asyncio.run(prepare(str(db)))
    proc = start_process(db, tmp_path / "server.log", nntp="any")
    try:
        port = proc.listening().nntp
        out = tmp_path / "trace"
        with (tmp_path / "strace.err").open("wb") as err:  # the child keeps its own copy
            tracer = subprocess.Popen(
                [
                    strace,
                    "-f",
                    "-y",
                    "-s",
                    "8192",
                    "-o",
                    str(out),
                    "-p",
                    str(proc.pid),
                    "-e",
                    "trace=write,pwrite64,sendto,sendmsg,writev,fsync,fdatasync",
                ],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        deadline = time.monotonic() + 20
        while not (out.exists() and out.stat().st_size) and tracer.poll() is None:
            assert time.monotonic() < deadline, "strace wrote nothing"
            time.sleep(0.05)
            if out.exists() and not out.stat().st_size:
                # nothing traced yet while idle: a request makes the server write
                with nntplib.NNTP("127.0.0.1", port, timeout=10) as probe:
                    probe.date()
        if tracer.poll() is not None:
            pytest.skip(f"strace cannot attach here: {(tmp_path / 'strace.err').read_text()[-300:]}")
        with Posters(lambda: port, per_poster=8) as posters:
            pass  # __exit__ waits for every poster's 8 articles
        tracer.send_signal(signal.SIGINT)
        tracer.wait(20)
    finally:
        stop_process(proc)
    assert len(posters.acknowledged) == POSTERS * 8
    wal_events, sends = _trace_order(out.read_text(errors="replace"))
    assert any(kind == "sync" for _, kind, _ in wal_events), "no fsync of the WAL was traced"
    for message_id in posters.acknowledged:
        answered = [n for n, rest in sends if f"240 article received {message_id}" in rest]
        assert len(answered) == 1, message_id
        written = [n for n, kind, rest in wal_events if kind == "frame" and message_id in rest]
        assert written, f"{message_id} never reached the WAL before its 240"
        # Its first frame is its own transaction's; a later one may be the next
        # transaction rewriting the same page while this 240 is on its way. SQLite
        # syncs the WAL only after a transaction's last frame, so a sync after the
        # first frame covers the whole transaction that stored the article.
        first_frame = min(written)
        assert first_frame < answered[0], f"{message_id} never reached the WAL before its 240"
        synced = [n for n, kind, _ in wal_events if kind == "sync" and first_frame < n < answered[0]]
        assert synced, f"240 for {message_id} sent before the WAL holding it was synced"

"""Crash durability of a real `moot serve`: kill -9 under a posting load,
restart, repeat; every post the server acknowledged (201) is there exactly
once, and no post is there twice. With one process, and with two processes
sharing one database file."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections import Counter

import httpx

from tests.processes import start_process, tls

ROUNDS = 3
POSTS_PER_ROUND = 40  # acknowledged posts between one start and the next kill


class Load:
    """Posting threads: each posts replies with unique bodies to whichever
    server answers, and records the bodies acknowledged with a 201."""

    def __init__(self, bases: list[str], cookie: str, root_id: int, threads: int = 4):
        self.bases, self.cookie, self.root_id = bases, cookie, root_id
        self.acknowledged: list[str] = []
        self.sent = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, n: int) -> None:
        with httpx.Client(cookies={"moot_session": self.cookie}, timeout=5.0, verify=tls()) as client:
            i = 0
            while not self._stop.is_set():
                base = self.bases[(n + i) % len(self.bases)]
                body = f"post {n}-{i}-{time.monotonic_ns()}"
                i += 1
                try:
                    r = client.post(f"{base}/api/articles/{self.root_id}/replies", json={"body": body})
                except httpx.HTTPError:
                    time.sleep(0.02)  # the server is down: try again once it is back
                    continue
                with self._lock:
                    self.sent += 1
                    if r.status_code == 201:
                        self.acknowledged.append(body)

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def until_more_acknowledged(self, count: int, timeout: float = 60.0) -> None:
        """Wait until `count` more posts are acknowledged than now: the servers are up and posting."""
        deadline = time.monotonic() + timeout
        goal = len(self.acknowledged) + count
        while len(self.acknowledged) < goal:
            assert time.monotonic() < deadline, f"{goal - len(self.acknowledged)} posts never acknowledged"
            time.sleep(0.01)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()


def setup_site(base: str) -> tuple[str, int]:
    """The first account (an admin), a group and a thread: the session cookie and the root's id."""
    with httpx.Client(base_url=base, timeout=10.0, verify=tls()) as client:
        r = client.post("/api/register", json={"username": "admin", "password": "long enough"})
        assert r.status_code == 201, r.text
        assert client.post("/api/groups", json={"name": "test.load"}).status_code == 201
        r = client.post("/api/groups/test.load/threads", json={"subject": "Load", "body": "Root"})
        assert r.status_code == 201
        return client.cookies["moot_session"], r.json()["article"]["id"]


def crash_and_check(tmp_path, processes: int) -> None:
    db = tmp_path / "moot.db"
    logs = [tmp_path / f"log{n}" for n in range(processes)]
    procs = [start_process(db, logs[0])]
    bases = [procs[0].listening().url]  # the first creates the database alone
    procs += [start_process(db, log) for log in logs[1:]]
    bases += [proc.listening().url for proc in procs[1:]]
    cookie, root_id = setup_site(bases[0])
    kills = 0
    with Load(bases, cookie, root_id) as load:
        for _ in range(ROUNDS):
            load.until_more_acknowledged(POSTS_PER_ROUND)
            for proc in procs:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                kills += 1
            procs = [start_process(db, log) for log in logs]
            # Restarted on new ports: the posting threads follow (the list is theirs too).
            bases[:] = [proc.listening().url for proc in procs]
        load.until_more_acknowledged(POSTS_PER_ROUND)
    for proc in procs:
        proc.terminate()
        proc.wait(10)
    conn = sqlite3.connect(db)
    try:
        bodies = Counter(b for (b,) in conn.execute("SELECT body FROM articles WHERE body LIKE 'post %'"))
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    assert kills == ROUNDS * processes and load.acknowledged
    assert not [b for b in load.acknowledged if bodies[b] != 1]
    assert not [b for b, n in bodies.items() if n > 1]


def test_acknowledged_posts_survive_kill_9_exactly_once(tmp_path):
    crash_and_check(tmp_path, processes=1)


def test_two_processes_on_one_file_survive_kill_9_exactly_once(tmp_path):
    crash_and_check(tmp_path, processes=2)

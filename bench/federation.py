"""Fediverse fan-out: deliveries/s of one article, and of its Delete, to
1,000 followers' shared inboxes, against bare POSTs to the same inboxes.

    python bench/federation.py [--followers 1000] [--json OUT]

All on loopback, in one run. A real `moot serve` process (federation on,
private addresses allowed for the loopback sink) has a group with
`--followers` remote followers, each with its own shared inbox on one local
sink (a plain HTTP/1.1 server in its own process that answers 202 at once
and counts). Rows:
- one reply posted on the web to the group: time from the POST's answer
  until every inbox has its Announce, as deliveries/s (each signed with the
  group's RSA key, RFC 9421, on connections the client keeps open), and the
  server process's CPU time per delivery (user + system, all its threads);
- the reply withdrawn: the Announce{Delete} to every inbox, the same way;
- the baseline: the same number of POSTs of the same body, unsigned, from a
  bare asyncio client in this process, one connection per request, as many
  at once as the delivery task sends (delivery.CONCURRENCY); and the same
  with one connection kept open per worker, what the signed deliveries can
  at most reach."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import time

import httpx
from common import ROOT, Row, command_line, cpu_seconds, server, temp_dir

sys.path.insert(0, str(ROOT))
from moot.federation import delivery, outbox  # noqa: E402
from tests.federation_sink import Sink, add_followers_sql  # noqa: E402
from tests.federation_sink import followers as sink_followers  # noqa: E402

GROUP = "bench.federation"
BASE = "https://forum.example"
SETTINGS = {"federation": "on", "public_url": BASE, "federation_allow_private": "true"}


def _sink(port_out, count, ready) -> None:
    """The inboxes (tests/federation_sink.py's, in its own process): every
    POST answered 202 at once and counted."""

    def accept(path: str, seen: int) -> int:
        with count.get_lock():
            count.value += 1
        return 202

    async def main() -> None:
        sink = await Sink(answer=accept).start()
        port_out.value = sink.port
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def _wait(count, target: int, timeout: float = 300.0) -> float:
    """Seconds until the sink has counted `target` POSTs."""
    started = time.monotonic()
    while count.value < target:
        if time.monotonic() - started > timeout:
            raise SystemExit(f"only {count.value} of {target} deliveries arrived")
        time.sleep(0.002)
    return time.monotonic() - started


async def _bare(port: int, n: int, body: bytes, concurrency: int, *, reuse: bool = False) -> None:
    """`n` unsigned POSTs to the sink's shared inboxes, `concurrency` at once:
    one connection per request, or with `reuse` one kept open per worker."""
    pending = iter(range(n))

    async def worker() -> None:
        reader = writer = None
        for i in pending:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                f"POST /shared/{i}/inbox HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"{'' if reuse else 'Connection: close' + chr(13) + chr(10)}"
                f"Content-Type: application/activity+json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            await reader.readuntil(b"\r\n\r\n")
            if not reuse:
                writer.close()
                await writer.wait_closed()
                reader = writer = None
        if writer is not None:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def _cursor_reached(db: str, timeout: float = 30.0) -> None:
    """Wait until the server's delivery task has read every event so far."""
    deadline = time.monotonic() + timeout
    con = sqlite3.connect(db)
    try:
        while True:
            last = con.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
            at = con.execute("SELECT value FROM settings WHERE key = ?", (outbox.CURSOR,)).fetchone()
            if at is not None and int(at[0]) >= last:
                return
            if time.monotonic() > deadline:
                raise SystemExit("the delivery task did not read the events")
            time.sleep(0.02)
    finally:
        con.close()


def run(followers: int = 1000) -> list[Row]:
    tmp = temp_dir()
    db = os.path.join(tmp, "moot.db")
    env = {**os.environ, **{f"MOOT_{k.upper()}": v for k, v in SETTINGS.items()}}
    subprocess.run([sys.executable, "-m", "moot", "init", "--db", db], cwd=ROOT, env=env, check=True)
    con = sqlite3.connect(db)
    con.execute(
        "INSERT INTO groups (name, description, created_at) VALUES (?, '', '2026-01-01T00:00:00.000Z')",
        (GROUP,),
    )
    con.commit()
    port, count, ready = multiprocessing.Value("i", 0), multiprocessing.Value("i", 0), multiprocessing.Event()
    sink = multiprocessing.Process(target=_sink, args=(port, count, ready), daemon=True)
    sink.start()
    ready.wait(10)
    rows: list[Row] = []
    try:
        with server(db, **SETTINGS) as (url, proc), httpx.Client(base_url=url, timeout=60) as http:
            account = {"username": "ada", "password": "correct horse battery", "display_name": "Ada"}
            assert http.post("/api/register", json=account).status_code in (200, 201)
            r = http.post(f"/api/groups/{GROUP}/threads", json={"subject": "Everyone", "body": "hello"})
            assert r.status_code == 201, r.text
            root = r.json()["article"]
            _cursor_reached(db)  # the thread went out to no one: the followers come next
            for sql, args in add_followers_sql(
                GROUP, sink_followers(f"http://127.0.0.1:{port.value}", followers)
            ):
                con.executemany(sql, args)
            con.commit()
            timings, cpu = {}, {}
            for step in ("create", "delete"):
                count.value = 0
                cpu[step] = cpu_seconds(proc.pid)
                if step == "create":
                    r = http.post(f"/api/articles/{root['id']}/replies", json={"body": "to everyone here"})
                    assert r.status_code == 201, r.text
                    reply = r.json()["article"]
                else:
                    r = http.post(f"/api/articles/{reply['id']}/cancel", json={"reason": "enough"})
                    assert r.status_code == 200, r.text
                timings[step] = _wait(count, followers)
                cpu[step] = cpu_seconds(proc.pid) - cpu[step]
            body = (
                con.execute("SELECT body FROM ap_activities ORDER BY id DESC LIMIT 1").fetchone()[0].encode()
            )
            left = con.execute("SELECT count(*) FROM ap_deliveries").fetchone()[0]
        count.value = 0
        started = time.monotonic()
        asyncio.run(_bare(port.value, followers, body, delivery.CONCURRENCY))
        bare = time.monotonic() - started
        assert count.value == followers, count.value
        count.value = 0
        started = time.monotonic()
        asyncio.run(_bare(port.value, followers, body, delivery.CONCURRENCY, reuse=True))
        kept = time.monotonic() - started
        assert count.value == followers, count.value
    finally:
        sink.kill()
        con.close()
    baseline = followers / bare
    note = (
        f"{followers} followers, one shared inbox each on one loopback sink answering 202 at once;"
        f" {delivery.CONCURRENCY} at once on kept connections; {left} rows left after"
    )
    for step, what in (("create", "a reply's Announce{Create}"), ("delete", "its Announce{Delete}")):
        rows.append(
            Row(
                "federation",
                f"fan-out of {what}, signed deliveries/s",
                followers / timings[step],
                "per s",
                baseline,
                "bare unsigned POSTs, same sink, same body",
                note=note,
            )
        )
    for step, what in (("create", "a reply's Announce{Create}"), ("delete", "its Announce{Delete}")):
        rows.append(
            Row(
                "federation",
                f"fan-out of {what}, server CPU per delivery",
                1000 * cpu[step] / followers,
                "ms",
                note="the moot serve process, all threads, from the POST to the last delivery",
            )
        )
    rows.append(Row("federation", "bare unsigned POSTs/s", baseline, "per s", note=f"{len(body)}-byte body"))
    rows.append(
        Row(
            "federation",
            "bare unsigned POSTs/s, connections kept open",
            followers / kept,
            "per s",
            baseline,
            "one connection per request",
            note="what reusing connections to one host could gain at most",
        )
    )
    return rows


if __name__ == "__main__":
    command_line(run, __doc__, followers=1000)

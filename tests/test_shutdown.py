"""Liveness and readiness for load balancers, and a real `moot serve` stopped
with SIGTERM under posting load: clean exit, /live told "going away", and
every acknowledged post on disk."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess

import httpx
import websockets
from websockets.exceptions import ConnectionClosed

from moot.store import check, migrate
from tests.live_support import subscribe
from tests.processes import moot, start_process, stop_process, tls

PASSWORD = "operator-password"


async def test_liveness_stays_trivial_and_readiness_checks_writes_and_hub(site):
    client = await site.client()
    r = await client.get("/api/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = await client.get("/api/health/ready")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ready", "checks": {"database": "ok", "hub": "ok"}}

    # A newer Moot upgraded the file: this process must not write, so it is not ready.
    conn = sqlite3.connect(site.config.db_path)
    conn.execute(f"PRAGMA user_version={migrate.SCHEMA_VERSION + 1}")
    conn.commit()
    r = await client.get("/api/health/ready")
    assert r.status_code == 503
    error = r.json()["error"]
    assert error["code"] == "not_ready" and error["checks"]["hub"] == "ok"
    assert "newer than this Moot knows" in error["checks"]["database"]
    assert (await client.get("/api/health")).status_code == 200  # still alive
    conn.execute(f"PRAGMA user_version={migrate.SCHEMA_VERSION}")
    conn.commit()
    conn.close()
    assert (await client.get("/api/health/ready")).status_code == 200

    site.site.stopping = True  # what SIGTERM sets first
    r = await client.get("/api/health/ready")
    assert r.status_code == 503 and r.json()["error"]["checks"]["server"] == "stopping"


async def test_readiness_fails_when_the_hub_is_not_running(site):
    client = await site.client()
    await site.site.hub.stop()
    r = await client.get("/api/health/ready")
    assert r.status_code == 503 and r.json()["error"]["checks"]["hub"] == "not running"
    await site.site.hub.start()
    assert (await client.get("/api/health/ready")).status_code == 200


async def poster(client: httpx.AsyncClient, parent: int, acknowledged: list, statuses: list) -> None:
    """Post replies until the server is gone; keep every acknowledged id."""
    while True:
        try:
            r = await client.post(f"/api/articles/{parent}/replies", json={"body": "under load"})
        except httpx.TransportError:
            return  # the connection closed: that request was never acknowledged
        statuses.append(r.status_code)
        if r.status_code == 201:
            acknowledged.append(r.json()["article"]["id"])


async def test_a_stop_that_is_itself_cancelled_is_cancelled(site):
    """The background parts' stop() cancels its tasks and waits for them; were
    it cancelled meanwhile (a deadline on shutdown), the cancellation is its
    own and must reach its caller, not be taken for one of its tasks' and
    swallowed (a deadline on shutdown would then not hold)."""
    stopping = asyncio.ensure_future(site.site.hub.stop())
    await asyncio.sleep(0)  # it has cancelled the hub's tasks and waits for them
    stopping.cancel()
    await asyncio.wait([stopping])
    assert stopping.cancelled()


async def test_sigterm_under_load_finishes_in_flight_posts_and_exits_cleanly(tmp_path):
    db = tmp_path / "site.db"
    moot("adduser", "root", "--admin", "--password-stdin", "--db", str(db), input=PASSWORD + "\n")
    proc = start_process(db, tmp_path / "serve.log", shutdown_timeout=10)
    try:
        port = proc.listening().http
        base = f"http://127.0.0.1:{port}"
        clients = [httpx.AsyncClient(base_url=base, timeout=30, verify=tls()) for _ in range(6)]
        r = await clients[0].post("/api/login", json={"username": "root", "password": PASSWORD})
        assert r.status_code == 200
        for client in clients[1:]:
            client.cookies = clients[0].cookies
        assert (await clients[0].post("/api/groups", json={"name": "comp.lang.python"})).status_code == 201
        r = await clients[0].post("/api/groups/comp.lang.python/threads", json={"subject": "S", "body": "b"})
        thread, parent = r.json()["thread"]["id"], r.json()["article"]["id"]
        ws = await websockets.connect(f"ws://127.0.0.1:{port}/live", compression=None)
        await subscribe(ws, threads=[thread])

        acknowledged: list[int] = []
        statuses: list[int] = []
        posters = [asyncio.create_task(poster(c, parent, acknowledged, statuses)) for c in clients]
        while len(acknowledged) < 30:
            await asyncio.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        code = None
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 15)
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            reason = closed.rcvd.reason if closed.rcvd else None
        assert (code, reason) == (1001, "going away")
        await asyncio.wait_for(asyncio.gather(*posters), 30)
        returncode = await asyncio.to_thread(proc.wait, 30)
        for client in clients:
            await client.aclose()
    finally:
        stop_process(proc)
    assert returncode == 0, (tmp_path / "serve.log").read_text()
    assert statuses and all(s == 201 for s in statuses), sorted(set(statuses))
    conn = sqlite3.connect(db)
    try:
        stored = {r[0] for r in conn.execute("SELECT id FROM articles")}
    finally:
        conn.close()
    assert set(acknowledged) <= stored
    assert check.check(str(db)).ok


def test_sigterm_on_an_idle_server_exits_zero(tmp_path):
    proc = start_process(tmp_path / "idle.db", tmp_path / "serve.log")
    try:
        proc.listening()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    except subprocess.TimeoutExpired:
        raise AssertionError("moot serve did not stop on SIGTERM") from None
    finally:
        stop_process(proc)

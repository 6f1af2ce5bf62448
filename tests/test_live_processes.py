"""Two `moot serve` processes on one database file: each learns of the
other's commits by tailing the events table, with no broker between them."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.conftest import PASSWORD
from tests.db_support import one_thread_file
from tests.live_support import events_until, subscribe
from tests.processes import start_process, stop_process, tls


async def test_a_post_through_one_process_reaches_a_subscriber_of_the_other(tmp_path):
    db_path = str(tmp_path / "same.db")
    tid = (await one_thread_file(db_path, "Hello", "First post"))["thread"]["id"]
    procs = [start_process(db_path, str(tmp_path / f"server{n}.log")) for n in range(2)]
    try:
        ports = [proc.listening().http for proc in procs]
        http = [
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20, verify=tls()) for port in ports
        ]
        watchers = [
            await websockets.connect(f"ws://127.0.0.1:{port}/live", compression=None) for port in ports
        ]
        try:
            for ws in watchers:
                await subscribe(ws, threads=[tid])
            r = await http[0].post("/api/login", json={"username": "ada", "password": PASSWORD})
            assert r.status_code == 200
            for client in http[1:]:
                client.cookies = http[0].cookies  # one database, one session table
            root = (await http[1].get(f"/api/threads/{tid}")).json()["thread"]["root_article_id"]
            posted = []
            for client in (http[0], http[1], http[0]):
                r = await client.post(f"/api/articles/{root}/replies", json={"body": "across"})
                assert r.status_code == 201, r.text
                posted.append(r.json()["article"])
            for ws in watchers:
                got = await events_until(ws, 3)
                assert [e["data"] for e in got] == posted
                assert [e["id"] for e in got] == sorted({e["id"] for e in got})
            # `moot serve` turns down compression a browser offers, and refuses
            # a message over the limit before buffering it.
            offered = await websockets.connect(f"ws://127.0.0.1:{ports[0]}/live")
            assert offered.response.headers.get("Sec-WebSocket-Extensions") is None
            await offered.send("x" * 20_000)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(offered.recv(), 10)
            assert closed.value.rcvd.code == 1009
        finally:
            for ws in watchers:
                await ws.close()
            for client in http:
                await client.aclose()
    finally:
        for proc in procs:
            stop_process(proc)

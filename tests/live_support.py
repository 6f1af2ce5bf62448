"""Live-update test harness: the real app served by a real uvicorn on a
loopback port, in the test's own event loop, reached with the `websockets`
client library over a real socket.

`live_site(**config)` starts a site (tests/conftest.py's make_site) and serves
it; `await server.connect()` opens /live; `subscribe()` sends a subscribe and
returns the replayed events and the acknowledgement."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
import uvicorn
import websockets
from websockets.asyncio.client import ClientConnection

ROOT = Path(__file__).resolve().parent.parent
WAIT = 10.0  # seconds any single expected message may take on a loaded 2-core machine


class LiveServer:
    def __init__(self, test_site, server: uvicorn.Server, port: int):
        self.test_site, self.server, self.port = test_site, server, port
        self.url = f"ws://127.0.0.1:{port}/live"
        self.clients: list[ClientConnection] = []

    async def connect(self, **options) -> ClientConnection:
        options.setdefault("compression", None)
        options.setdefault("ping_interval", None)
        options.setdefault("open_timeout", WAIT)
        ws = await websockets.connect(self.url, **options)
        self.clients.append(ws)
        return ws

    async def close(self) -> None:
        for ws in self.clients:
            await ws.close()
        self.server.should_exit = True


async def serve(app, **options) -> tuple[uvicorn.Server, int, asyncio.Task]:
    """uvicorn on 127.0.0.1 and a free port, in this event loop; the app's
    lifespan is run by the caller (make_site), so uvicorn leaves it alone.
    `options` are more of uvicorn.Config's (ssl_certfile, ssl_keyfile)."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        lifespan="off",
        log_level="warning",
        ws="websockets-sansio",
        ws_ping_interval=None,
        ws_per_message_deflate=False,
        **options,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, port, task


@pytest.fixture
async def live_site(make_site):
    """Factory: `await live_site(**config)` gives a LiveServer over a fresh site."""
    running: list[tuple[LiveServer, asyncio.Task]] = []

    async def start(**overrides) -> LiveServer:
        test_site = await make_site(**overrides)
        server, port, task = await serve(test_site.app)
        live = LiveServer(test_site, server, port)
        running.append((live, task))
        return live

    yield start
    for live, task in reversed(running):
        await live.close()
        await task


async def recv(ws: ClientConnection, timeout: float = WAIT) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def subscribe(ws: ClientConnection, **request) -> tuple[list[dict], dict]:
    """Send a subscribe; return (messages before the acknowledgement, the acknowledgement)."""
    await ws.send(json.dumps({"type": "subscribe", **request}))
    before = []
    while True:
        msg = await recv(ws)
        if msg.get("type") == "subscribed":
            return before, msg
        before.append(msg)


async def events_until(ws: ClientConnection, count: int, timeout: float = WAIT) -> list[dict]:
    """The next `count` events (heartbeats and other control messages skipped)."""
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < count:
        msg = await recv(ws, max(0.01, deadline - time.monotonic()))
        if "id" in msg:
            out.append(msg)
    return out


def signed_in(client) -> dict:
    """Options for LiveServer.connect that send `client`'s session cookie, so /live knows the reader."""
    return {"additional_headers": {"Cookie": f"moot_session={client.cookies.get('moot_session')}"}}

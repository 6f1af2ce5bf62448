"""Live fan-out: post-to-delivery latency to 1,000 subscribers of one thread,
memory per idle connection, and 10,000 idle connections held by one process.

    python bench/live.py [--subscribers 1000] [--posts 100] [--idle 10000] [--json OUT]

The server is a real `moot serve` process; the baseline is a minimal
broadcast server (uvicorn + Starlette, one WebSocket list, a plain send loop,
no compression), measured in the same run with the same client. This
process is the load: it holds every WebSocket with a small sans-I/O client
that only timestamps bytes as they arrive (frames are parsed after the run,
so parsing does not inflate the figures) and posts over plain HTTP/1.1."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, Row, cpu_seconds, emit, machine, server, temp_dir  # noqa: E402
from websockets.client import ClientProtocol  # noqa: E402
from websockets.frames import Frame, Opcode  # noqa: E402
from websockets.http11 import Response  # noqa: E402
from websockets.uri import parse_uri  # noqa: E402

PASSWORD = "bench password"
BODY = "A reply of a typical length, a line or two of plain text. " * 6
# Loopback source addresses: each (source, destination) pair has ~28,000
# ephemeral ports, so spreading 10,000 connections over four never runs short.
SOURCES = [f"127.0.0.{i}" for i in range(1, 5)]
DEADLINE = 600  # the whole run stops by itself after this many seconds


def raise_nofile() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit; children (the servers) inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Client(asyncio.Protocol):
    """One WebSocket: parses until subscribed, then only timestamps raw chunks."""

    def __init__(self, url: str, subscribe: str):
        self.proto = ClientProtocol(parse_uri(url))
        self.request = self.proto.connect()
        self.subscribe = subscribe
        self.ready = asyncio.get_running_loop().create_future()
        self.capturing = False
        self.chunks: list[tuple[float, bytes]] = []
        self.transport = None
        self.closed = False

    def connection_made(self, transport):
        self.transport = transport
        self.proto.send_request(self.request)
        self._flush()

    def _flush(self):
        out = self.proto.data_to_send()
        if out:
            self.transport.write(b"".join(out))

    def data_received(self, data: bytes):
        if self.capturing:
            self.chunks.append((time.perf_counter(), data))
            return
        self.proto.receive_data(data)
        for event in self.proto.events_received():
            if isinstance(event, Response):
                self.proto.send_text(self.subscribe.encode())
            elif (
                isinstance(event, Frame)
                and event.opcode is Opcode.TEXT
                and b'"subscribed"' in event.data
                and not self.ready.done()
            ):
                self.capturing = True
                self.ready.set_result(None)
        self._flush()

    def connection_lost(self, exc):
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed before subscribing"))

    def messages(self) -> list[tuple[float, dict]]:
        """Every text frame captured since subscribing, with the arrival time of its last byte."""
        out = []
        for stamp, data in self.chunks:
            self.proto.receive_data(data)
            for event in self.proto.events_received():
                if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                    out.append((stamp, json.loads(event.data)))
        self.chunks.clear()
        return out


async def open_clients(port: int, count: int, subscribe: dict, batch: int = 250) -> list[Client]:
    loop = asyncio.get_running_loop()
    url, text = f"ws://127.0.0.1:{port}/live", json.dumps({"type": "subscribe", **subscribe})
    clients: list[Client] = []
    for start in range(0, count, batch):
        made = []
        for i in range(start, min(count, start + batch)):
            made.append(
                loop.create_connection(
                    lambda: Client(url, text), "127.0.0.1", port, local_addr=(SOURCES[i % len(SOURCES)], 0)
                )
            )
        for _, client in await asyncio.gather(*made):
            clients.append(client)
        await asyncio.wait_for(asyncio.gather(*(c.ready for c in clients[start:])), 60)
    return clients


def close_clients(clients: list[Client]) -> None:
    for c in clients:
        if c.transport is not None:
            c.transport.abort()


class Http:
    """A minimal keep-alive HTTP/1.1 client: the post is timed from the first byte written."""

    def __init__(self, port: int):
        self.port, self.cookie = port, ""

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict, str]:
        payload = json.dumps(body or {}).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            + (f"Cookie: {self.cookie}\r\n" if self.cookie else "")
            + "\r\n"
        )
        self.writer.write(head.encode() + payload)
        status_line = await self.reader.readline()
        if not status_line:  # the server closed an idle keep-alive connection: once more
            await self.open()
            self.writer.write(head.encode() + payload)
            status_line = await self.reader.readline()
        headers = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            key, _, value = line.decode().partition(":")
            headers.setdefault(key.strip().lower(), value.strip())
            if key.strip().lower() == "set-cookie":
                self.cookie = value.strip().split(";")[0]
        data = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return int(status_line.split()[1]), headers, data.decode()

    def close(self):
        self.writer.close()


async def measure_fanout(pid: int, clients: list[Client], post, posts: int, gap: float) -> dict:
    """Post `posts` times, `gap` seconds apart; latency = arrival - start of the POST.
    Also the server's CPU time per delivery, which the machine's noise moves less."""
    starts: dict[str, float] = {}
    answered: dict[str, float] = {}
    # The load's own full collections over thousands of client objects would
    # delay its timestamps: keep them out of the measurement.
    gc.collect()
    gc.freeze()
    cpu0 = cpu_seconds(pid)
    for i in range(posts):
        t0 = time.perf_counter()
        key = await post(i)
        starts[key] = t0
        answered[key] = (time.perf_counter() - t0) * 1000
        await asyncio.sleep(gap)
    await asyncio.sleep(1.0)  # stragglers
    cpu = cpu_seconds(pid) - cpu0
    gc.unfreeze()
    latencies, last_by_key, first_by_key, missing = [], {}, {}, 0
    for c in clients:
        got = {}
        for stamp, msg in c.messages():
            key = message_key(msg)
            if key in starts:
                got[key] = stamp
        missing += len(starts) - len(got)
        for key, stamp in got.items():
            ms = (stamp - starts[key]) * 1000
            latencies.append(ms)
            last_by_key[key] = max(last_by_key.get(key, 0.0), ms)
            first_by_key[key] = min(first_by_key.get(key, ms), ms)
    if os.environ.get("LIVE_BENCH_TRACE"):  # where the slow posts lose their time
        for key in sorted(starts, key=lambda k: -last_by_key.get(k, 0))[:8]:
            print(
                f"  {key}: POST answered {answered[key]:.1f} ms, first delivery"
                f" {first_by_key.get(key, 0):.1f} ms, last {last_by_key.get(key, 0):.1f} ms",
                flush=True,
            )
    return {
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "last_p50": percentile(list(last_by_key.values()), 50),
        "deliveries": len(latencies),
        "missing": missing,
        "cpu_us_per_delivery": cpu / max(1, len(latencies)) * 1e6,
    }


def message_key(msg: dict) -> str | None:
    data = msg.get("data")
    if isinstance(data, dict) and "body" in data:
        return data["body"].rsplit(" ", 1)[-1]
    return None


# The Moot side


def prepare_db(db_path: str) -> int:
    """Users, a group and a thread, written before the server starts; returns the thread id."""
    sys.path.insert(0, str(ROOT))
    from moot.articles import groups, posting
    from moot.people import accounts
    from moot.store.db import Database

    async def run():
        db = await Database(db_path, read_connections=1).open()
        try:
            user = await accounts.create_user(db, "bench", PASSWORD, "Bench")
            async with db.transaction() as conn:
                await groups.create_group(conn, None, "bench.live", "Live fan-out")
                started = await posting.submit(
                    conn,
                    "bench.moot",
                    user,
                    posting.Submission(
                        body="The thread everyone watches", subject="Fan-out", group="bench.live"
                    ),
                )
            return started["thread"]["id"], started["article"]["id"]
        finally:
            await db.close()

    return asyncio.run(run())


async def moot_run(port: int, pid: int, thread_id: int, root_id: int, args) -> dict:
    http = await (Http(port)).open()
    status, _, _ = await http.request("POST", "/api/login", {"username": "bench", "password": PASSWORD})
    assert status == 200, status
    result = {}

    async def post(i):
        status, _, text = await http.request(
            "POST", f"/api/articles/{root_id}/replies", {"body": f"{BODY} m{i}"}
        )
        assert status == 201, (status, text)
        return f"m{i}"

    await post(-1)  # warm the path
    result["rss_start_kib"] = rss_kib(pid)
    clients = await open_clients(port, args.subscribers, {"threads": [thread_id]})
    await asyncio.sleep(0.5)
    result["rss_subscribers_kib"] = rss_kib(pid)
    result["fanout"] = await measure_fanout(pid, clients, post, args.posts, args.gap)
    close_clients(clients)
    await asyncio.sleep(1.0)
    if args.idle:
        base = rss_kib(pid)
        idle = await open_clients(port, args.idle, {"threads": [thread_id]})
        await asyncio.sleep(1.0)
        result["idle_rss_delta_kib"] = rss_kib(pid) - base
        result["idle_open"] = sum(not c.closed for c in idle)
        # One post while all are held: every idle subscriber must get it.
        http.close()
        await http.open()
        result["idle_fanout"] = await measure_fanout(pid, idle, post, 1, 0.0)
        close_clients(idle)
    http.close()
    return result


# The baseline: a minimal broadcast server


def baseline_app():
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route, WebSocketRoute

    sockets = set()

    async def live(ws):
        await ws.accept()
        await ws.receive_text()
        await ws.send_text('{"type":"subscribed"}')
        sockets.add(ws)
        try:
            while (await ws.receive())["type"] != "websocket.disconnect":
                pass
        finally:
            sockets.discard(ws)

    async def post(request):
        body = (await request.json())["body"]
        text = json.dumps(
            {
                "id": 1,
                "type": "article.created",
                "group": "bench.live",
                "thread_id": 1,
                "data": {"id": 1, "body": body, "subject": "Re: Fan-out"},
            }
        )
        for ws in list(sockets):  # a plain send loop: asyncio.gather over 1,000 sockets measured slower
            await ws.send_text(text)
        return JSONResponse({"ok": True}, status_code=201)

    return Starlette(routes=[WebSocketRoute("/live", live), Route("/post", post, methods=["POST"])])


def serve_baseline(fd: int) -> None:
    """Serve the baseline on the listening socket inherited as descriptor `fd`."""
    import socket

    import uvicorn

    config = uvicorn.Config(
        baseline_app(), log_level="warning", ws_ping_interval=None, ws_per_message_deflate=False
    )
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=fd)])


async def baseline_run(port: int, pid: int, args) -> dict:
    http = await (Http(port)).open()
    result = {}

    async def post(i):
        status, _, _ = await http.request("POST", "/post", {"body": f"{BODY} m{i}"})
        assert status == 201
        return f"m{i}"

    await post(-1)
    clients = await open_clients(port, args.subscribers, {})
    await asyncio.sleep(0.5)
    result["fanout"] = await measure_fanout(pid, clients, post, args.posts, args.gap)
    close_clients(clients)
    await asyncio.sleep(1.0)
    if args.idle:
        base = rss_kib(pid)
        idle = await open_clients(port, args.idle, {})
        await asyncio.sleep(1.0)
        result["idle_rss_delta_kib"] = rss_kib(pid) - base
        result["idle_open"] = sum(not c.closed for c in idle)
        close_clients(idle)
    http.close()
    return result


def start_baseline():
    """The baseline in its own process, on a listening socket made here and
    handed over: its port is known and held from the start, and requests wait
    in the socket's queue until the baseline serves them."""
    import socket
    import subprocess

    with socket.create_server(("127.0.0.1", 0), backlog=4096) as listener:
        fd = listener.fileno()
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-baseline", str(fd)], cwd=ROOT, pass_fds=[fd]
        )
        return listener.getsockname()[1], proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--posts", type=int, default=100)
    parser.add_argument(
        "--gap",
        type=float,
        default=0.1,
        help="seconds between posts (longer than one fan-out: latency, not throughput)",
    )
    parser.add_argument("--idle", type=int, default=10000, help="idle connections to hold (0: skip)")
    parser.add_argument("--json", help="also write the rows as JSON here")
    parser.add_argument("--serve-baseline", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    limit = raise_nofile()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline)
        return 0
    signal.alarm(DEADLINE)
    if args.idle + args.subscribers + 100 > limit:
        raise SystemExit(f"RLIMIT_NOFILE hard limit {limit} is too low for {args.idle} connections")
    print(json.dumps(machine()), flush=True)
    folder = temp_dir()
    db_path = os.path.join(folder, "live.db")
    thread_id, root_id = prepare_db(db_path)

    port, proc = start_baseline()
    try:
        base = asyncio.run(baseline_run(port, proc.pid, args))
    finally:
        proc.terminate()
        proc.wait(10)
    gc.collect()
    # 10,000 held connections: far above the default connection cap.
    with server(db_path, max_connections=20000, live_max_connections=20000, live_max_per_address=0) as (
        url,
        proc,
    ):
        moot = asyncio.run(moot_run(int(url.rsplit(":", 1)[1]), proc.pid, thread_id, root_id, args))

    rows, n = [], args.subscribers
    fan, bfan = moot["fanout"], base["fanout"]
    rows.append(
        Row(
            "live",
            f"post-to-delivery p50, {n} subscribers",
            fan["p50"],
            "ms",
            bfan["p50"],
            "minimal broadcast",
        )
    )
    rows.append(
        Row(
            "live",
            f"post-to-delivery p99, {n} subscribers",
            fan["p99"],
            "ms",
            bfan["p99"],
            "minimal broadcast",
            "p99 < 50 ms",
            fan["p99"] < 50,
        )
    )
    rows.append(
        Row(
            "live",
            "post to last subscriber p50",
            fan["last_p50"],
            "ms",
            bfan["last_p50"],
            "minimal broadcast",
        )
    )
    rows.append(
        Row(
            "live",
            "server CPU per delivery (posting included)",
            fan["cpu_us_per_delivery"],
            "us",
            bfan["cpu_us_per_delivery"],
            "minimal broadcast",
        )
    )
    rows.append(
        Row("live", "deliveries missing", fan["missing"], "", note=f"of {fan['deliveries'] + fan['missing']}")
    )
    if args.idle:
        per = moot["idle_rss_delta_kib"] / args.idle
        rows.append(
            Row(
                "live",
                f"RSS per idle subscribed connection ({args.idle})",
                per,
                "KiB",
                base["idle_rss_delta_kib"] / args.idle,
                "minimal broadcast",
                "< 30 KiB",
                per < 30,
            )
        )
        rows.append(
            Row(
                "live",
                "idle connections held open",
                moot["idle_open"],
                "",
                base["idle_open"],
                "minimal broadcast",
                f"{args.idle}",
                moot["idle_open"] == args.idle,
            )
        )
        idle_fan = moot["idle_fanout"]
        rows.append(
            Row(
                "live",
                f"one post to all {args.idle} held: last delivery",
                idle_fan["last_p50"],
                "ms",
                note=f"missing {idle_fan['missing']}",
            )
        )
    emit(rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())

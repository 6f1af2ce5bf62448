"""A /live flood from one address: 1,000 WebSockets opened and reopened from
127.0.0.2 against a `moot serve` with its default budgets, while a visitor
from 127.0.0.3 loads a thread's page; its latency during the flood against
the same visitor's with the server idle, in the same run.

    python bench/doors.py [--sockets 1000] [--requests 200] [--json OUT]

The flood holds what the server lets it (MOOT_LIVE_MAX_PER_ADDRESS) and keeps
reopening every socket it is refused (1013, or 503 past the connections one
address may open), so the server is answering
handshakes all through the measurement. Stops by itself after DEADLINE."""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
import time
from pathlib import Path

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Row, command_line, server, temp_dir  # noqa: E402
from thread_read import build  # noqa: E402

DEADLINE = 240  # seconds for the whole run
ATTACKER, VISITOR = "127.0.0.2", "127.0.0.3"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def page_latencies(url: str, count: int) -> list[float]:
    """Seconds for each of `count` loads of the page `url` by the visitor, one after another."""
    seconds = []
    transport = httpx.AsyncHTTPTransport(local_address=VISITOR)
    async with httpx.AsyncClient(transport=transport, timeout=30) as client:
        for _ in range(count):
            started = time.perf_counter()
            answer = await client.get(url)
            assert answer.status_code == 200, answer.status_code
            seconds.append(time.perf_counter() - started)
    return seconds


async def flood(url: str, sockets: int, stop, ready, tally: dict) -> None:
    """`sockets` tasks, each holding a /live socket from ATTACKER, with
    heartbeats (pings), or reopening it when closed; `ready` is set once every
    socket has been refused at least once on average, `stop` ends it."""
    ws_url = url.replace("http://", "ws://") + "/live"

    async def one() -> None:
        while not stop.is_set():
            try:
                async with websockets.connect(
                    ws_url, origin=url, compression=None, ping_interval=None, local_addr=(ATTACKER, 0)
                ) as ws:
                    while not stop.is_set():
                        await ws.send('{"type": "ping"}')
                        await asyncio.wait_for(ws.recv(), 30)
                        tally["held"] = tally.get("held", 0) + 1
                        await asyncio.sleep(1)
            except websockets.ConnectionClosed as e:
                code = e.rcvd.code if e.rcvd else 0
                tally[str(code)] = tally.get(str(code), 0) + 1
            except (OSError, TimeoutError, websockets.InvalidStatus):
                tally["error"] = tally.get("error", 0) + 1
                await asyncio.sleep(0.1)
            if tally.get("1013", 0) + tally.get("error", 0) >= sockets:
                ready.set()

    tasks = [asyncio.create_task(one()) for _ in range(sockets)]
    while not stop.is_set():
        await asyncio.sleep(0.1)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def flood_process(url: str, sockets: int, stop, ready, out) -> None:
    """The flood in a process of its own, so its client work never delays the visitor's."""
    tally: dict[str, int] = {}
    asyncio.run(flood(url, sockets, stop, ready, tally))
    out.put(tally)


async def measure(url: str, page: str, sockets: int, requests: int) -> tuple[list[float], list[float], dict]:
    await page_latencies(page, 20)  # warm up
    idle = await page_latencies(page, requests)
    stop, ready, out = multiprocessing.Event(), multiprocessing.Event(), multiprocessing.Queue()
    attacker = multiprocessing.Process(target=flood_process, args=(url, sockets, stop, ready, out))
    attacker.start()
    try:
        while not ready.is_set():  # at its cap and being refused
            await asyncio.sleep(0.1)
        during = await page_latencies(page, requests)
    finally:
        stop.set()
    tally = out.get(timeout=60)
    attacker.join(60)
    return idle, during, tally


def run(sockets: int, requests: int) -> list[Row]:
    db_path = temp_dir() + "/doors.db"
    thread_id = asyncio.run(build(db_path))
    with server(db_path, http_max_per_address=32, live_max_per_address=32) as (url, _):  # the defaults
        page = f"{url}/t/{thread_id}"
        idle, during, tally = asyncio.run(asyncio.wait_for(measure(url, page, sockets, requests), DEADLINE))
    p50_idle, p50_during = percentile(idle, 50) * 1000, percentile(during, 50) * 1000
    p99_during = percentile(during, 99) * 1000
    note = (
        f"flood: {tally.get('1013', 0)} sockets closed 1013, {tally.get('error', 0)} refused at"
        f" connecting (503 past the address's connections), {tally.get('held', 0)} heartbeats answered"
    )
    return [
        Row("doors", "thread page p50 during the /live flood", p50_during, "ms", p50_idle, "idle p50"),
        Row(
            "doors",
            "thread page p99 during the /live flood",
            p99_during,
            "ms",
            percentile(idle, 99) * 1000,
            "idle p99",
            target="< 1000 ms",
            met=p99_during < 1000,
            note=note,
        ),
    ]


if __name__ == "__main__":
    command_line(run, __doc__, sockets=1000, requests=200)

"""Scenario: a legitimate sign-in while one address storms the sign-in
endpoint with 100 concurrent bogus attempts, against the same sign-in with
no storm (same server, same run). Each sign-in costs a real scrypt hash
(N=2^17), so without admission control the storm queues ahead of everyone.

    python bench/signin_storm.py [--samples 5] [--json OUT]

The storm comes from 127.0.0.1 and the legitimate client from 127.0.0.2 (both
loopback on Linux). The lockout limits are raised out of the way so what is
measured is the hashing gate alone."""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx
from common import Row, command_line, server, temp_dir

from moot.people import accounts
from moot.store.db import Database

PASSWORD = "legitimate password"
STORM = 100


async def build(db_path: str) -> None:
    db = await Database(db_path, read_connections=1).open()
    try:
        await accounts.create_user(db, "legit", PASSWORD)  # a real-cost hash, as users have
    finally:
        await db.close()


async def sign_in(client: httpx.AsyncClient, url: str) -> float:
    started = time.perf_counter()
    r = await client.post(url + "/api/login", json={"username": "legit", "password": PASSWORD})
    elapsed = time.perf_counter() - started
    assert r.status_code == 200, r.text  # a refused sign-in is no latency figure
    return elapsed


async def storm(url: str, stop: asyncio.Event, counts: dict) -> None:
    """STORM concurrent bogus sign-ins from 127.0.0.1, each resent as soon as it is answered."""
    limits = httpx.Limits(max_connections=STORM, max_keepalive_connections=STORM)
    async with httpx.AsyncClient(
        limits=limits,
        timeout=120,
        transport=httpx.AsyncHTTPTransport(local_address="127.0.0.1", limits=limits),
    ) as client:

        async def attacker(i: int) -> None:
            while not stop.is_set():
                try:
                    r = await client.post(
                        url + "/api/login", json={"username": f"nobody{i}", "password": "bogus password"}
                    )
                    outcome: int | str = r.status_code
                except httpx.HTTPError as error:  # a queue this deep can outlast the timeout
                    outcome = type(error).__name__
                counts[outcome] = counts.get(outcome, 0) + 1

        await asyncio.gather(*(attacker(i) for i in range(STORM)))


async def measure(url: str, samples: int) -> tuple[list[float], list[float], dict]:
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with httpx.AsyncClient(transport=transport, timeout=300) as legit:
        alone = [await sign_in(legit, url) for _ in range(samples)]
        stop, counts = asyncio.Event(), {}
        storming = asyncio.create_task(storm(url, stop, counts))
        await asyncio.sleep(1.0)  # the storm is in full flow
        during = []
        for _ in range(samples):
            during.append(await sign_in(legit, url))
            await asyncio.sleep(0.2)
        stop.set()
        await storming
        print(f"alone (s): {alone}; during (s): {during}; storm answers: {counts}", flush=True)
    return alone, during, counts


def run(samples: int) -> list[Row]:
    db_path = temp_dir() + "/signin.db"
    asyncio.run(build(db_path))
    with server(db_path, login_attempts=1_000_000, login_address_attempts=1_000_000) as (url, _):
        alone, during, counts = asyncio.run(measure(url, samples))
    a, d = statistics.median(alone), statistics.median(during)
    storm_note = ", ".join(f"{n}×{status}" for status, n in sorted(counts.items(), key=str))
    return [
        Row(
            "signin_storm",
            "legitimate sign-in during a 100-request storm",
            d * 1000,
            "ms",
            a * 1000,
            "the same sign-in alone",
            "ratio <= 3",
            d / a <= 3,
            f"median of {samples}; storm answers: {storm_note}",
        )
    ]


if __name__ == "__main__":
    command_line(run, __doc__, samples=5)

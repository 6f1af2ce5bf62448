"""Many clients drop and reconnect at random while posts flow; each resumes
with the last id it saw. At the end every client holds every matching event
exactly once, in id order."""

from __future__ import annotations

import asyncio
import json
import os
import random
import time

from tests.conftest import seed
from tests.live_support import live_site, subscribe  # noqa: F401

CLIENTS = 16
POSTS = 120
GROUP = "comp.lang.python"


async def test_random_disconnects_lose_and_repeat_nothing(live_site):
    seed_value = int(os.environ.get("MOOT_LIVE_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed_value)
    live = await live_site(live_heartbeat=0.2)
    site = live.test_site
    s = await seed(site)
    tid = s["thread"]["id"]
    async with site.db.read() as conn:
        start = (await (await conn.execute("SELECT max(id) FROM events")).fetchone())[0]
    posters = [s["ada"], await site.client("bob"), await site.client("cyd")]
    done = asyncio.Event()
    final = 0

    async def post_all():
        parents = [s["root"]["id"], s["reply"]["id"]]
        for i in range(POSTS):
            client = rng.choice(posters)
            if rng.random() < 0.1:
                r = await client.post(f"/api/groups/{GROUP}/threads", json={"subject": f"T{i}", "body": "b"})
            else:
                r = await client.post(f"/api/articles/{rng.choice(parents)}/replies", json={"body": f"{i}"})
                parents.append(r.json()["article"]["id"])
            assert r.status_code == 201, r.text
            if rng.random() < 0.3:
                await asyncio.sleep(rng.random() * 0.02)
        nonlocal final
        async with site.db.read() as conn:
            final = (
                await (
                    await conn.execute("SELECT max(id) FROM events WHERE topics NOT LIKE 'u:%'")
                ).fetchone()
            )[0]
        done.set()

    async def client(n: int) -> list[int]:
        """Connects, reads a while, drops (cleanly or not), and comes back with its last id."""
        crng = random.Random(seed_value * 1000 + n)
        subscription = {"groups": [GROUP]} if n % 2 else {"threads": [tid]}
        seen: list[int] = []
        last = start
        while True:
            finishing = done.is_set()
            ws = await live.connect()
            replayed, ack = await subscribe(ws, **subscription, since=last)
            assert all(m.get("type") != "reset" for m in replayed), (seed_value, replayed)
            for m in replayed:
                seen.append(m["id"])
                last = m["id"]
            last = max(last, ack["last_id"])
            if finishing and last >= final:
                await ws.close()
                return seen
            stay = time.monotonic() + (10.0 if finishing else crng.random() * 0.3)
            try:
                while time.monotonic() < stay:
                    raw = await asyncio.wait_for(ws.recv(), max(0.001, stay - time.monotonic()))
                    m = json.loads(raw)
                    if "id" in m:
                        seen.append(m["id"])
                        last = m["id"]
                    elif m["type"] == "heartbeat":
                        last = max(last, m["last_id"])  # a safe resume point
                    if finishing and last >= final:
                        await ws.close()
                        return seen
            except TimeoutError:
                pass
            if crng.random() < 0.5:
                ws.transport.abort()  # vanish without a close frame
            else:
                await ws.close()
            await asyncio.sleep(crng.random() * 0.1)

    poster = asyncio.create_task(post_all())
    clients = [asyncio.create_task(client(n)) for n in range(CLIENTS)]
    await asyncio.wait_for(poster, 30)
    async with site.db.read() as conn:
        rows = await (
            await conn.execute(
                # a reader's own events (notifications of these replies) go to no group or thread
                "SELECT id, topics FROM events WHERE id > ? AND topics NOT LIKE 'u:%' ORDER BY id",
                (start,),
            )
        ).fetchall()
    assert rows[-1][0] == final
    results = await asyncio.wait_for(asyncio.gather(*clients), 30)
    for n, seen in enumerate(results):
        topic = f"g:{GROUP}" if n % 2 else f"t:{tid}"
        expected = [r[0] for r in rows if topic in r[1].split()]
        assert seen == expected, f"client {n} (MOOT_LIVE_SEED={seed_value})"
    assert len(rows) == POSTS

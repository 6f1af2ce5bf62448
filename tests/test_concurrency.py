"""Concurrent writers: everything lands, counters are exact, numbers and events in order."""

import asyncio

from tests.conftest import seed


async def test_hundred_concurrent_replies(site):
    s = await seed(site)
    posters = [await site.client(f"user{n}") for n in range(5)]
    root = s["root"]["id"]

    async def post(i):
        r = await posters[i % 5].post(f"/api/articles/{root}/replies", json={"body": f"reply {i}"})
        assert r.status_code == 201, r.text
        return r.json()["article"]

    made = await asyncio.gather(*(post(i) for i in range(100)))
    assert len({a["id"] for a in made}) == 100

    async with site.db.read() as conn:
        thread = await (
            await conn.execute("SELECT article_count FROM threads WHERE id = ?", (s["thread"]["id"],))
        ).fetchone()
        group = await (
            await conn.execute("SELECT article_count, thread_count, last_number FROM groups")
        ).fetchone()
        counted = await (await conn.execute("SELECT count(*) FROM articles")).fetchone()
        numbers = [
            r[0] for r in await (await conn.execute("SELECT number FROM articles ORDER BY id")).fetchall()
        ]
        events = await (await conn.execute("SELECT id, type, data FROM events ORDER BY id")).fetchall()
    assert thread[0] == counted[0] == 102
    assert tuple(group) == (102, 1, 102)
    # numbers: unique, and strictly increasing in commit (= id) order
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers) == 102
    ids = [e["id"] for e in events]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # no gaps
    created = [e for e in events if e["type"] == "article.created"]
    assert len(created) == 101
    import json

    created_ids = [json.loads(e["data"])["id"] for e in created]
    assert created_ids == sorted(created_ids)  # event order is commit order

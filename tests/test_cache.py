"""Cached pages follow the events outbox: a writer reads its own write at once,
and a write by another process on the same database shows within the recheck time."""

import asyncio

from moot.articles import posting
from moot.store.db import Database
from tests.conftest import seed


async def test_reads_follow_writes(site):
    s = await seed(site)
    anon = await site.client()
    url = f"/api/threads/{s['thread']['id']}"
    first = (await anon.get(url)).json()
    assert (await anon.get(url)).json() == first  # served again, unchanged
    r = await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": "new"})
    new_id = r.json()["article"]["id"]
    assert new_id in [a["id"] for a in (await anon.get(url)).json()["articles"]]
    listing = (await anon.get("/api/groups/comp.lang.python/threads")).json()
    assert listing["threads"][0]["article_count"] == 3
    await s["ada"].post(f"/api/articles/{new_id}/cancel", json={})
    statuses = {a["id"]: a["status"] for a in (await anon.get(url)).json()["articles"]}
    assert statuses[new_id] == "cancelled"


async def test_another_process_writes_are_seen(site):
    s = await seed(site)
    anon = await site.client()
    url = f"/api/threads/{s['thread']['id']}"
    assert len((await anon.get(url)).json()["articles"]) == 2
    other = await Database(site.config.db_path, read_connections=1).open()  # a second server
    try:
        ada = site.users["ada"]
        async with other.transaction() as conn:
            await posting.submit(
                conn, "other.moot", ada, posting.Submission(body="from elsewhere", parent=s["root"]["id"])
            )
    finally:
        await other.close()
    await asyncio.sleep(site.site.responses.recheck + 0.05)
    bodies = [a["body"] for a in (await anon.get(url)).json()["articles"]]
    assert "from elsewhere" in bodies

"""Shared set-up for the maintenance tests: groups and a small reply tree."""

from __future__ import annotations

import json
import sqlite3

from moot.articles import groups


async def make_groups(site) -> None:
    async with site.db.transaction() as conn:
        await groups.create_group(conn, None, "comp.lang.python", "Python")
        await groups.create_group(conn, None, "comp.lang.misc", "Other languages")
        await groups.create_group(conn, None, "moot.readonly", "Frozen", status="n")


async def build_tree(site) -> dict:
    """comp.lang.python thread:  root ─ a1 ─ a2 'New topic (was: Hello)' ─ a3
                                      └ a4
    and a second thread `other` with one reply. Returns the articles' JSON."""
    await make_groups(site)
    ada = await site.client("ada")
    bob = await site.client("bob")
    r = await ada.post("/api/groups/comp.lang.python/threads", json={"subject": "Hello", "body": "Hi"})
    assert r.status_code == 201, r.text
    t = {"thread": r.json()["thread"], "root": r.json()["article"], "ada": ada, "bob": bob}

    async def reply(client, parent, body, subject=None):
        r = await client.post(
            f"/api/articles/{parent['id']}/replies",
            json={"body": body, **({"subject": subject} if subject else {})},
        )
        assert r.status_code == 201, r.text
        return r.json()["article"]

    t["a1"] = await reply(bob, t["root"], "one")
    t["a2"] = await reply(ada, t["a1"], "two", "New topic (was: Hello)")
    t["a3"] = await reply(bob, t["a2"], "three")
    t["a4"] = await reply(bob, t["root"], "four")
    r = await ada.post("/api/groups/comp.lang.python/threads", json={"subject": "Other", "body": "x"})
    t["other"] = r.json()["thread"]
    t["other_root"] = r.json()["article"]
    t["other_reply"] = await reply(bob, t["other_root"], "y")
    return t


def last_event(site, type: str | None = None) -> dict:
    conn = sqlite3.connect(site.config.db_path)
    try:
        sql, params = "SELECT type, group_name, thread_id, topics, data FROM events", ()
        if type:
            sql, params = sql + " WHERE type = ?", (type,)
        row = conn.execute(sql + " ORDER BY id DESC LIMIT 1", params).fetchone()
    finally:
        conn.close()
    assert row is not None, f"no {type} event"
    return {
        "type": row[0],
        "group": row[1],
        "thread_id": row[2],
        "topics": set(row[3].split()),
        "data": json.loads(row[4]),
    }


async def tree_of(client, thread_id: int) -> list[tuple]:
    """(id, parent_id, depth, status) of every article in tree order."""
    r = await client.get(f"/api/threads/{thread_id}", params={"limit": 200})
    assert r.status_code == 200, r.text
    return [(a["id"], a["parent_id"], a["depth"], a["status"]) for a in r.json()["articles"]]

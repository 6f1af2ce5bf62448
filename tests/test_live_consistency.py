"""Events carry enough to keep a client's copy current: fetch a thread and
its group over HTTP, act, apply the events /live delivered to the fetched
copy with a small pure function, fetch again, and compare (the way Zulip's
verify_action checks its event system)."""

from __future__ import annotations

import copy

from tests.conftest import seed
from tests.live_support import events_until, live_site, subscribe  # noqa: F401


def insert_block(articles: list[dict], block: list[dict], parent_id: int, key: int) -> None:
    """Put a sub-tree (in tree order) under its parent, among the siblings by id
    (a path component is the article's id, so siblings sort oldest first)."""
    at = next(i for i, a in enumerate(articles) if a["id"] == parent_id)
    depth = articles[at]["depth"]
    at += 1
    while at < len(articles) and articles[at]["depth"] > depth:
        if articles[at]["depth"] == depth + 1 and articles[at]["id"] > key:
            break
        at += 1
    articles[at:at] = block


def _later(a, b):
    return max(x for x in (a, b) if x is not None) if (a or b) else None


def _counted(counted: dict, article: dict) -> None:
    counted["article_count"] += 1
    counted["last_article_at"] = _later(counted["last_article_at"], article["created_at"])


def _restructure(state: dict, kind: str, data: dict) -> None:
    """thread.split / thread.merged: `article_ids` leave `source` for `thread`."""
    threads, source = state["threads"], state["threads"].get(data["source"]["id"])
    target = threads.get(data["thread"]["id"])
    moved = set(data["article_ids"])
    block = []
    if source is not None:
        by_id = {a["id"]: a for a in source["articles"]}
        block = [copy.deepcopy(by_id[i]) for i in data["article_ids"]]
        at = next(i for i, a in enumerate(source["articles"]) if a["id"] == data["root_article_id"])
        source["articles"] = [a for a in source["articles"] if a["id"] not in moved]
        if kind == "thread.split" and data["notice"]:
            source["articles"].insert(at, data["notice"])  # the notice takes the root's place
    for n, article in enumerate(block):
        article.update(
            thread_id=data["thread"]["id"],
            group=data["thread"]["group"],
            depth=article["depth"] + data["depth_shift"],
        )
        if data["numbers"] is not None:
            article["number"] = data["numbers"][n]
        if article["id"] == data["root_article_id"]:
            article["parent_id"] = data["parent_id"]
    if target is not None:
        if data["parent_id"] is None:
            target["articles"] = block
        else:
            insert_block(target["articles"], block, data["parent_id"], data["root_article_id"])
        if kind == "thread.merged" and data["notice"]:
            notice = data["notice"]
            insert_block(target["articles"], [notice], notice["parent_id"], notice["id"])
    removed = set(data["removed_article_ids"])
    for copy_ in threads.values():
        copy_["articles"] = [a for a in copy_["articles"] if a["id"] not in removed]


def apply(state: dict, event: dict) -> dict:
    """The client side: fetched {groups: {name: group}, threads: {id: {thread,
    articles}}} plus one event gives what a fresh fetch would."""
    state = copy.deepcopy(state)
    kind, data = event["type"], event["data"]
    groups, threads = state["groups"], state["threads"]
    if kind == "article.created":
        if data["thread_id"] in threads:
            held = threads[data["thread_id"]]
            insert_block(held["articles"], [data], data["parent_id"], data["id"])
            _counted(held["thread"], data)
        if data["group"] in groups:
            _counted(groups[data["group"]], data)
    elif kind == "article.cancelled":
        for held in threads.values():
            held["articles"] = [data if a["id"] == data["id"] else a for a in held["articles"]]
    elif kind == "thread.created":
        if data["thread"]["group"] in groups:
            group = groups[data["thread"]["group"]]
            group["thread_count"] += 1
            _counted(group, data["article"])
    elif kind in ("thread.split", "thread.merged"):
        _restructure(state, kind, data)
    elif kind == "thread.moved":
        held = threads.get(data["thread"]["id"])
        if held is not None:
            numbers = dict(zip(data["article_ids"], data["numbers"] or (), strict=False))
            for article in held["articles"]:
                article["group"] = data["thread"]["group"]
                article["number"] = numbers.get(article["id"], article["number"])
    elif kind == "group.updated":
        data = {"groups": [data["group"]]}
    elif kind not in (
        "thread.locked",
        "thread.unlocked",
        "thread.archived",
        "thread.unarchived",
        "thread.updated",
    ):
        raise AssertionError(f"no client rule for {kind}")
    # Every maintenance event carries the fresh JSON of what it touched.
    for key in ("thread", "source"):
        if isinstance(data.get(key), dict) and data[key].get("id") in threads:
            threads[data[key]["id"]]["thread"] = data[key]
    for group in data.get("groups") or ():
        if group["name"] in groups:
            groups[group["name"]] = group
    return state


async def fetch(client, group_names, thread_ids) -> dict:
    state = {"groups": {}, "threads": {}}
    for name in group_names:
        state["groups"][name] = (await client.get(f"/api/groups/{name}")).json()["group"]
    for tid in thread_ids:
        page = (await client.get(f"/api/threads/{tid}?limit=200")).json()
        state["threads"][tid] = {"thread": page["thread"], "articles": page["articles"]}
    return state


async def verify_action(live, client, groups, threads, action, expected_events: int):
    """Subscribe, fetch, act, apply what arrived, fetch again: the two must be equal.
    Fetched anonymously: events carry the shared shapes, and a signed-in reader's
    own fields (`unread`) follow their own events (read.changed)."""
    ws = await live.connect()
    await subscribe(ws, groups=list(groups), threads=list(threads))
    reader = await live.test_site.client()
    state = await fetch(reader, groups, threads)
    await action()
    events = await events_until(ws, expected_events)
    for event in events:
        state = apply(state, event)
    assert state == await fetch(reader, groups, threads), [e["type"] for e in events]
    await ws.close()
    return events


async def test_posting_and_cancelling_keep_a_fetched_copy_current(live_site):
    live = await live_site()
    s = await seed(live.test_site)
    ada, bob = s["ada"], await live.test_site.client("bob")
    tid, root, reply = s["thread"]["id"], s["root"]["id"], s["reply"]["id"]
    group = "comp.lang.python"

    async def post(client, parent, body):
        r = await client.post(f"/api/articles/{parent}/replies", json={"body": body})
        assert r.status_code == 201, r.text
        return r.json()["article"]["id"]

    async def replies():
        deep = await post(bob, reply, "deeper")
        await post(ada, root, "a second reply to the root")
        await post(bob, deep, "deeper still")
        await post(ada, reply, "a sibling of deeper")

    await verify_action(live, ada, [group], [tid], replies, 4)

    async def cancel():
        r = await ada.post(f"/api/articles/{reply}/cancel", json={"reason": "second thoughts"})
        assert r.status_code == 200

    await verify_action(live, ada, [group], [tid], cancel, 1)

    async def new_thread():
        r = await bob.post(f"/api/groups/{group}/threads", json={"subject": "Other", "body": "x"})
        assert r.status_code == 201
        await post(ada, root, "and one more here")

    await verify_action(live, ada, [group], [tid], new_thread, 2)


async def test_maintenance_keeps_a_fetched_copy_current(live_site):
    live = await live_site()
    site = live.test_site
    s = await seed(site)
    ada, bob, mod = s["ada"], await site.client("bob"), await site.client("marta", "moderator")
    g, m = "comp.lang.python", "rec.music"
    r = await s["admin"].post("/api/groups", json={"name": m, "description": "Music"})
    assert r.status_code == 201
    t1, a = s["thread"]["id"], s["reply"]["id"]

    async def post(client, parent, body):
        r = await client.post(f"/api/articles/{parent}/replies", json={"body": body})
        assert r.status_code == 201, r.text
        return r.json()["article"]["id"]

    b = await post(bob, a, "under a")
    c = await post(ada, s["root"]["id"], "second reply to the root")
    r = await bob.post(f"/api/groups/{g}/threads", json={"subject": "Elsewhere", "body": "r2"})
    t2, r2 = r.json()["thread"]["id"], r.json()["article"]["id"]
    await post(ada, r2, "d")

    async def call(path, body, status=200):
        r = await mod.post(path, json=body)
        assert r.status_code == status, r.text
        return r.json()

    async def lock_unlock():
        await call(f"/api/threads/{t1}/lock", {"reason": "cool off"})
        await call(f"/api/threads/{t1}/unlock", {})

    events = await verify_action(live, ada, [g], [t1], lock_unlock, 2)
    assert [e["type"] for e in events] == ["thread.locked", "thread.unlocked"]

    split = {}

    async def split_into_other_group():
        split.update(
            await call(f"/api/threads/{t1}/split", {"article_id": a, "group": m, "reason": "off topic"}, 201)
        )

    events = await verify_action(live, ada, [g, m], [t1, t2], split_into_other_group, 1)
    assert events[0]["type"] == "thread.split" and events[0]["data"]["numbers"]
    new = split["thread"]["id"]
    assert b in events[0]["data"]["article_ids"]

    async def undo_split():
        await call(f"/api/modlog/{split['entry']['id']}/undo", {"reason": "it was on topic"})

    events = await verify_action(live, ada, [g, m], [t1, new], undo_split, 1)
    assert events[0]["type"] == "thread.merged" and events[0]["data"]["undo_of"] == split["entry"]["id"]

    async def merge():
        await call(f"/api/threads/{t2}/merge", {"into_article_id": c, "reason": "same topic"})

    events = await verify_action(live, ada, [g], [t1, t2], merge, 1)
    assert events[0]["type"] == "thread.merged"

    async def move():
        await call(f"/api/threads/{t1}/move", {"group": m, "reason": "belongs there"})

    events = await verify_action(live, ada, [g, m], [t1], move, 1)
    assert events[0]["type"] == "thread.moved"

    async def archive_and_back():
        await call(f"/api/threads/{t1}/archive", {"reason": "done"})
        r = await ada.post(f"/api/articles/{c}/replies", json={"body": "too late"})
        assert r.status_code == 409
        await call(f"/api/threads/{t1}/unarchive", {})
        await post(bob, c, "open again")

    events = await verify_action(live, ada, [g, m], [t1], archive_and_back, 3)
    assert [e["type"] for e in events] == ["thread.archived", "thread.unarchived", "article.created"]

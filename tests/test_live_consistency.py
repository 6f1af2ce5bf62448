"""Events carry enough to keep a client's copy current: fetch a thread and
its group over HTTP, act, apply the events /live delivered to the fetched
copy with a small pure function, fetch again, and compare (the way Zulip's
verify_action checks its event system)."""

from __future__ import annotations

import copy

from tests.conftest import seed
from tests.live_support import events_until, live_site, subscribe  # noqa: F401


def _insert_in_tree(articles: list[dict], article: dict) -> None:
    """A new article goes after its parent's last descendant (siblings oldest first)."""
    if article["parent_id"] is None:
        articles.append(article)
        return
    at = next(i for i, a in enumerate(articles) if a["id"] == article["parent_id"])
    depth = articles[at]["depth"]
    at += 1
    while at < len(articles) and articles[at]["depth"] > depth:
        at += 1
    articles.insert(at, article)


def _later(a, b):
    return max(x for x in (a, b) if x is not None) if (a or b) else None


def apply(state: dict, event: dict) -> dict:
    """The client side: a fetched {group, thread, articles} plus one event."""
    state = copy.deepcopy(state)
    kind, data = event["type"], event["data"]
    group, thread, articles = state["group"], state["thread"], state["articles"]
    if kind == "article.created":
        if data["thread_id"] == thread["id"]:
            _insert_in_tree(articles, data)
            thread["article_count"] += 1
            thread["last_article_at"] = _later(thread["last_article_at"], data["created_at"])
        if data["group"] == group["name"]:
            group["article_count"] += 1
            group["last_article_at"] = _later(group["last_article_at"], data["created_at"])
    elif kind == "article.cancelled":
        state["articles"] = [data if a["id"] == data["id"] else a for a in articles]
    elif kind == "thread.created":
        if data["thread"]["group"] == group["name"]:
            group["thread_count"] += 1
            group["article_count"] += 1
            group["last_article_at"] = _later(group["last_article_at"], data["article"]["created_at"])
    else:
        raise AssertionError(f"no client rule for {kind}")
    return state


async def fetch(client, group: str, thread_id: int) -> dict:
    page = (await client.get(f"/api/threads/{thread_id}?limit=200")).json()
    return {"group": (await client.get(f"/api/groups/{group}")).json()["group"],
            "thread": page["thread"], "articles": page["articles"]}


async def verify_action(live, client, group: str, thread_id: int, action, expected_events: int):
    """Subscribe, fetch, act, apply what arrived, fetch again: the two must be equal."""
    ws = await live.connect()
    await subscribe(ws, groups=[group], threads=[thread_id])
    state = await fetch(client, group, thread_id)
    await action()
    for event in await events_until(ws, expected_events):
        state = apply(state, event)
    assert state == await fetch(client, group, thread_id)
    await ws.close()


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

    await verify_action(live, ada, group, tid, replies, 4)

    async def cancel():
        r = await ada.post(f"/api/articles/{reply}/cancel", json={"reason": "second thoughts"})
        assert r.status_code == 200

    await verify_action(live, ada, group, tid, cancel, 1)

    async def new_thread():
        r = await bob.post(f"/api/groups/{group}/threads", json={"subject": "Other", "body": "x"})
        assert r.status_code == 201
        await post(ada, root, "and one more here")

    await verify_action(live, ada, group, tid, new_thread, 2)

"""Unread counts on the group list: new since the reader's last visit to each group."""

import re

from tests.conftest import seed


def unread(html: str, group: str) -> str | None:
    match = re.search(rf'<a class="unread" href="/g/{re.escape(group)}">([^<]+) new</a>', html)
    return match and match[1]


async def test_unread_counts_follow_visits(site):
    s = await seed(site)  # ada posted a thread and a reply
    bob = await site.client("bob")
    assert unread((await bob.get("/")).text, "comp.lang.python") == "2"
    assert unread((await s["ada"].get("/")).text, "comp.lang.python") is None  # her own posts
    assert (await bob.get("/g/comp.lang.python")).status_code == 200  # the visit
    assert unread((await bob.get("/")).text, "comp.lang.python") is None
    await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": "one more"})
    assert unread((await bob.get("/")).text, "comp.lang.python") == "1"
    anon = await site.client()
    assert 'class="unread"' not in (await anon.get("/")).text  # signed out: no counts


async def test_cancelled_articles_are_not_counted(site):
    s = await seed(site)
    await s["ada"].post(f"/api/articles/{s['reply']['id']}/cancel", json={})
    bob = await site.client("bob")
    assert unread((await bob.get("/")).text, "comp.lang.python") == "1"

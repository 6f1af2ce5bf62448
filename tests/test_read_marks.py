"""Read marks end to end against the real app: thread pages mark what they
showed and say what is new, unread counts per thread and group, mark read,
catch up, mark unread, next unread, the forms without JavaScript, bad input
that changes nothing, each reader's marks their own (also over /live), NNTP
readers sharing the marks, and page views coalesced into one write."""

from __future__ import annotations

import asyncio
import json
import re
import time

from moot.nntp.session import Session
from moot.people import newsrc, readstate
from moot.store.db import fetch_value
from tests.conftest import PASSWORD, seed
from tests.db_support import rows
from tests.live_support import events_until, live_site, recv, signed_in, subscribe  # noqa: F401
from tests.nntp_support import replies


def new_marks(html: str) -> list[int]:
    """Ids of the articles a thread page marks new, in page order."""
    return [int(m) for m in re.findall(r'class="node status-ok new" id="a(\d+)"', html)]


def read_events(site) -> list[tuple[str, dict]]:
    changes = rows(site, "SELECT topics, data FROM events WHERE type = 'read.changed' ORDER BY id")
    return [(topics, json.loads(data)) for topics, data in changes]


async def csrf_of(client, url: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', (await client.get(url)).text).group(1)


async def test_thread_page_marks_what_it_showed_and_shows_what_is_new(site):
    s = await seed(site)
    bob, carol, anon = await site.client("bob"), await site.client("carol"), await site.client()
    url = f"/t/{s['thread']['id']}"
    root, reply = s["root"]["id"], s["reply"]["id"]

    page = (await bob.get(url)).text
    assert new_marks(page) == [root, reply]
    assert page.count('<span class="newmark">new</span>') == 2
    assert f'<a class="first-unread" href="#a{root}">First unread</a>' in page
    await site.site.reads.flush()
    page = (await bob.get(url)).text  # the reload: what the first view showed is read
    assert new_marks(page) == [] and "newmark" not in page and "first-unread" not in page

    r = await s["ada"].post(f"/api/articles/{root}/replies", json={"body": "Something new"})
    third = r.json()["article"]["id"]
    group_page = (await bob.get("/g/comp.lang.python")).text
    assert re.search(r'<li class="thread-row state-open unread" data-thread=', group_page)
    assert '<span class="unread">1 new</span>' in group_page
    assert re.search(r'class="unread" href="/g/comp.lang.python">1 new', (await bob.get("/")).text)
    page = (await bob.get(url)).text
    assert new_marks(page) == [third] and f'href="#a{third}">First unread' in page

    # Each reader has their own marks; an author's own articles are never new to them.
    assert new_marks((await carol.get(url)).text) == [root, reply, third]
    assert new_marks((await s["ada"].get(url)).text) == []
    await site.site.reads.flush()
    assert new_marks((await carol.get(url)).text) == []
    assert "1 new" not in (await bob.get("/g/comp.lang.python")).text
    # The shared (anonymous) page carries none of it.
    page = (await anon.get(url)).text
    assert "newmark" not in page and "Mark thread read" not in page and ' new"' not in page


async def test_api_counts_flags_and_changes(site):
    s = await seed(site)
    bob = await site.client("bob")
    tid, root, reply = s["thread"]["id"], s["root"]["id"], s["reply"]["id"]

    r = await bob.get("/api/groups")
    assert [g["unread"] for g in r.json()["groups"]] == [2] and r.headers[
        "cache-control"
    ] == "private, no-cache"
    r = await bob.get("/api/groups/comp.lang.python/threads")
    assert [t["unread"] for t in r.json()["threads"]] == [2]
    r = await bob.get(f"/api/threads/{tid}")
    assert [a["unread"] for a in r.json()["articles"]] == [True, True]
    r = await bob.get(f"/api/threads/{tid}")  # reading the JSON marks nothing
    assert [a["unread"] for a in r.json()["articles"]] == [True, True]
    anon = await (await site.client()).get(f"/api/threads/{tid}")
    assert "unread" not in anon.json()["articles"][0]

    r = await bob.post(f"/api/threads/{tid}/read", json={"up_to_article_id": root})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "group": "comp.lang.python",
        "read": "1",
        "unread": 1,
        "threads": [{"id": tid, "unread": 1}],
    }
    r = await bob.get(f"/api/threads/{tid}")
    assert [a["unread"] for a in r.json()["articles"]] == [False, True]
    r = await bob.post(f"/api/threads/{tid}/read", json={"article_ids": [reply]})  # just these
    assert r.json()["read"] == "1-2" and r.json()["unread"] == 0
    await bob.post(f"/api/articles/{root}/unread", json={})
    r = await bob.post(f"/api/threads/{tid}/read", json={})
    assert r.json()["read"] == "1-2" and r.json()["unread"] == 0
    r = await bob.post(f"/api/threads/{tid}/read", json={})  # again: nothing to write, same answer
    assert r.json()["read"] == "1-2"
    r = await bob.post(f"/api/articles/{reply}/unread", json={})
    assert r.json()["read"] == "1" and r.json()["threads"] == [{"id": tid, "unread": 1}]
    r = await bob.post(f"/api/articles/{s['root']['message_id']}/unread", json={})
    assert r.json()["read"] == "" and r.json()["unread"] == 2
    r = await bob.post("/api/groups/comp.lang.python/catch-up", json={})
    assert r.json() == {
        "group": "comp.lang.python",
        "read": "1-2",
        "unread": 0,
        "threads": [{"id": tid, "unread": 0}],
    }
    assert [g.get("unread") for g in (await bob.get("/api/groups")).json()["groups"]] == [0]

    # Withdrawn articles and notices are never unread.
    r = await bob.post(f"/api/articles/{root}/unread", json={})
    await s["ada"].post(f"/api/articles/{reply}/cancel", json={})
    assert [g["unread"] for g in (await bob.get("/api/groups")).json()["groups"]] == [1]
    # Every change reached bob's topic only, never a group's or thread's.
    events = read_events(site)
    assert events and {topics for topics, _ in events} == {f"u:{site.users['bob'].id}"}


async def test_next_unread_goes_through_threads_then_groups(site):
    s = await seed(site)
    other = await seed_more(site, s)
    bob = await site.client("bob")
    tid = s["thread"]["id"]

    r = await bob.get("/api/unread/next", params={"from": tid})
    assert r.json()["next"] == {"thread_id": tid, "article_id": s["root"]["id"], "group": "comp.lang.python"}
    await bob.post(f"/api/threads/{tid}/read", json={})
    r = await bob.get("/api/unread/next", params={"from": tid})
    assert r.json()["next"]["thread_id"] == other["python2"]  # same group first
    await bob.post(f"/api/threads/{other['python2']}/read", json={})
    r = await bob.get("/api/unread/next", params={"from": tid})
    assert r.json()["next"] == {
        "thread_id": other["folk"],
        "article_id": other["folk_root"],
        "group": "rec.music.folk",
    }  # then the next group
    page = await bob.get("/unread/next", params={"from": tid})  # the page link does the same
    assert page.status_code == 303 and page.headers["location"] == f"/t/{other['folk']}#a{other['folk_root']}"
    await bob.post("/api/groups/rec.music.folk/catch-up", json={})
    assert (await bob.get("/api/unread/next")).json() == {"next": None}
    page = await bob.get("/unread/next")
    # nothing unread is left: the front page says so, rather than appearing unexplained
    assert page.status_code == 303 and page.headers["location"] == "/?all-read"
    assert "Nothing unread is left" in (await bob.get("/?all-read")).text
    assert "Nothing unread is left" not in (await bob.get("/")).text
    assert (await (await site.client()).get("/unread/next")).headers["location"].startswith("/login")


async def seed_more(site, s) -> dict:
    r = await s["admin"].post("/api/groups", json={"name": "rec.music.folk"})
    assert r.status_code == 201
    chidi = await site.client("chidi")
    r = await chidi.post("/api/groups/rec.music.folk/threads", json={"subject": "Ballads", "body": "Sing"})
    folk, folk_root = r.json()["thread"]["id"], r.json()["article"]["id"]
    r = await chidi.post("/api/groups/comp.lang.python/threads", json={"subject": "Typing", "body": "Hints"})
    return {"folk": folk, "folk_root": folk_root, "python2": r.json()["thread"]["id"]}


async def test_forms_work_without_javascript(site):
    s = await seed(site)
    bob = await site.client("bob")
    tid, reply = s["thread"]["id"], s["reply"]["id"]
    token = await csrf_of(bob, "/g/comp.lang.python")
    await site.site.reads.flush()

    r = await bob.post(f"/a/{reply}/unread", data={"csrf": token})
    assert r.status_code == 303 and r.headers["location"] == "/g/comp.lang.python"
    r = await bob.post(f"/t/{tid}/read", data={"csrf": "forged"})
    assert r.status_code == 403
    assert [a["unread"] for a in (await bob.get(f"/api/threads/{tid}")).json()["articles"]] == [True, True]
    r = await bob.post(f"/t/{tid}/read", data={"csrf": token})
    assert r.status_code == 303 and r.headers["location"] == f"/t/{tid}"
    assert [a["unread"] for a in (await bob.get(f"/api/threads/{tid}")).json()["articles"]] == [False, False]
    await bob.post(f"/a/{s['root']['id']}/unread", data={"csrf": token})
    r = await bob.post("/g/comp.lang.python/catch-up", data={"csrf": token})
    assert r.status_code == 303 and r.headers["location"] == "/g/comp.lang.python"
    assert [a["unread"] for a in (await bob.get(f"/api/threads/{tid}")).json()["articles"]] == [False, False]


async def test_refused_requests_change_nothing(site):
    s = await seed(site)
    r = await s["ada"].post("/api/groups/comp.lang.python/threads", json={"subject": "Other", "body": "x"})
    elsewhere = r.json()["article"]["id"]
    bob, anon = await site.client("bob"), await site.client()
    tid = s["thread"]["id"]
    before = site.snapshot()
    calls = [
        (anon, f"/api/threads/{tid}/read", {}, 401),
        (anon, "/api/groups/comp.lang.python/catch-up", {}, 401),
        (anon, f"/api/articles/{s['root']['id']}/unread", {}, 401),
        (bob, f"/api/threads/{tid}/read", {"up_to_article_id": elsewhere}, 404),
        (bob, f"/api/threads/{tid}/read", {"up_to_article_id": 999999}, 404),
        (bob, f"/api/threads/{tid}/read", {"up_to_article_id": "nonsense"}, 404),
        (bob, f"/api/threads/{tid}/read", {"up_to_article_id": [1]}, 404),
        (bob, f"/api/threads/{tid}/read", {"article_ids": [elsewhere]}, 404),
        (bob, f"/api/threads/{tid}/read", {"article_ids": []}, 400),
        (bob, f"/api/threads/{tid}/read", {"article_ids": [True]}, 400),
        (bob, f"/api/threads/{tid}/read", {"article_ids": list(range(1, 202))}, 400),
        (bob, f"/api/threads/{tid}/read", {"article_ids": [s["root"]["id"]], "up_to_article_id": 1}, 400),
        (bob, "/api/threads/999999/read", {}, 404),
        (bob, "/api/threads/abc/read", {}, 404),
        (bob, "/api/groups/no.such.group/catch-up", {}, 404),
        (bob, "/api/articles/0/unread", {}, 404),
        (bob, "/api/articles/%3Cnone%40x%3E/unread", {}, 404),
    ]
    for client, url, body, status in calls:
        r = await client.post(url, json=body)
        assert r.status_code == status, (url, body, r.text)
        assert r.json()["error"]["code"]
    r = await bob.post(f"/api/threads/{tid}/read", content=b"{}", headers={"content-type": "text/plain"})
    assert r.status_code == 415
    r = await bob.post(f"/api/threads/{tid}/read", json=[1])
    assert r.status_code == 400
    assert (await anon.get("/api/unread/next")).status_code == 401
    assert site.snapshot() == before


async def test_page_views_are_written_together(site):
    s = await seed(site)
    r = await s["ada"].post("/api/groups/comp.lang.python/threads", json={"subject": "Two", "body": "x"})
    second = r.json()["thread"]["id"]
    bob = await site.client("bob", settle=False)  # the views' marks are left to the queue
    urls = [f"/t/{s['thread']['id']}", f"/t/{second}"] * 20
    pages = await asyncio.gather(*(bob.get(u) for u in urls))
    assert all(p.status_code == 200 for p in pages)
    await site.site.reads.flush()
    events = read_events(site)
    # forty views of two threads: one write, one event, every article shown now read
    assert len(events) == 1 and events[0][1]["read"] == "1-3" and events[0][1]["unread"] == 0


async def test_marks_noted_while_the_last_ones_are_written_are_written_too(site):
    await seed(site)
    bob, reads = await site.user("bob"), site.site.reads
    async with site.db.read() as conn:
        group_id = await fetch_value(conn, "SELECT id FROM groups WHERE name = 'comp.lang.python'")
    async with site.db.transaction():  # the write door held: the queue's batch waits for it
        reads.note(bob.id, group_id, newsrc.of_numbers([1]))
        deadline = time.monotonic() + 10
        while reads.pending:  # taken for writing
            assert time.monotonic() < deadline, "the queue never took the first mark"
            await asyncio.sleep(0.01)
        reads.note(bob.id, group_id, newsrc.of_numbers([2]))  # while the first is being written
    deadline = time.monotonic() + 10
    while True:  # no further view comes: the second mark is written all the same
        async with site.db.read() as conn:
            if newsrc.format(await readstate.ranges_of(conn, bob.id, group_id)) == "1-2":
                break
        assert time.monotonic() < deadline, "a mark noted during a write was never written"
        await asyncio.sleep(0.01)


async def test_nntp_readers_share_the_marks(site):
    s = await seed(site)
    await site.user("bob")
    bob = await site.client("bob")
    session = Session(site.site, "192.0.2.1")
    anon = Session(site.site, "192.0.2.2")
    got = replies(await anon.receive(b"GROUP comp.lang.python\r\nARTICLE 1\r\nBODY 2\r\n"))
    assert [c for c, _ in got] == [211, 220, 222]
    await site.site.reads.flush()
    assert read_events(site) == []  # nobody signed in: nothing to mark
    got = replies(
        await session.receive(
            f"AUTHINFO USER bob\r\nAUTHINFO PASS {PASSWORD}\r\nGROUP comp.lang.python\r\nHEAD 1\r\nSTAT 2\r\n".encode()
        )
    )
    assert [c for c, _ in got] == [381, 281, 211, 221, 223]
    await site.site.reads.flush()
    assert read_events(site) == []  # headers and STAT are not reading
    got = replies(await session.receive(f"BODY {s['reply']['message_id']}\r\n".encode()))
    assert got[0][0] == 222
    await site.site.reads.flush()
    flags = [a["unread"] for a in (await bob.get(f"/api/threads/{s['thread']['id']}")).json()["articles"]]
    assert flags == [True, False]


async def test_read_changes_reach_only_that_readers_live_connections(live_site):
    live = await live_site()
    site = live.test_site
    s = await seed(site)
    bob, carol = await site.client("bob"), await site.client("carol")

    tabs = [await live.connect(**signed_in(bob)), await live.connect(**signed_in(bob))]
    others = [await live.connect(**signed_in(carol)), await live.connect()]
    for ws in tabs + others:
        await subscribe(ws, groups=["comp.lang.python"], threads=[s["thread"]["id"]])
    r = await bob.post(f"/api/threads/{s['thread']['id']}/read", json={"up_to_article_id": s["root"]["id"]})
    assert r.status_code == 200
    for ws in tabs:  # both of bob's tabs hear it
        (event,) = await events_until(ws, 1)
        assert event["type"] == "read.changed" and event["group"] is None and event["thread_id"] is None
        assert event["data"] == r.json()
    for ws in others:  # carol and the anonymous reader hear nothing of it
        await ws.send(json.dumps({"type": "ping"}))
        assert await recv(ws) == {"type": "pong"}
    # A reconnecting tab gets its own missed events in the replay, and only its own.
    await carol.post(f"/api/threads/{s['thread']['id']}/read", json={})
    late = await live.connect(**signed_in(bob))
    replayed, _ = await subscribe(late, groups=["comp.lang.python"], since=0)
    assert [e["data"]["read"] for e in replayed if e["type"] == "read.changed"] == ["1"]
    assert newsrc.parse(replayed[-1]["data"]["read"]) == ((1, 1),)


def home_unread(html: str, group: str) -> str | None:
    match = re.search(rf'<a class="unread" href="/g/{re.escape(group)}">([^<]+) new</a>', html)
    return match and match[1]


async def test_home_counts_follow_what_thread_pages_showed(site):
    """(Carried over from the high-water-mark days, when a group's list marked it
    all read: now only a thread page marks, and only what it showed.)"""
    s = await seed(site)  # ada posted a thread and a reply
    bob = await site.client("bob")
    assert home_unread((await bob.get("/")).text, "comp.lang.python") == "2"
    assert home_unread((await s["ada"].get("/")).text, "comp.lang.python") is None  # her own posts
    assert (await bob.get("/g/comp.lang.python")).status_code == 200  # a list marks nothing
    assert home_unread((await bob.get("/")).text, "comp.lang.python") == "2"
    await bob.get(f"/t/{s['thread']['id']}")
    await site.site.reads.flush()
    assert home_unread((await bob.get("/")).text, "comp.lang.python") is None
    await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": "one more"})
    assert home_unread((await bob.get("/")).text, "comp.lang.python") == "1"
    anon = await site.client()
    assert 'class="unread"' not in (await anon.get("/")).text  # signed out: no counts


async def test_withdrawn_articles_are_not_counted_on_the_home_page(site):
    s = await seed(site)
    await s["ada"].post(f"/api/articles/{s['reply']['id']}/cancel", json={})
    bob = await site.client("bob")
    assert home_unread((await bob.get("/")).text, "comp.lang.python") == "1"

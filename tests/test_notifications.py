"""Notifications and follows against the real app: who is told of what
(reply, follow, mention, moderation), never the actor and never twice for one
article, explicit follows of threads and groups carried over a split, the
inbox over JSON and as a page, marking read, live delivery to the reader
alone, and a reply in a thread with 1,000 followers."""

from __future__ import annotations

import asyncio
import json
import re

import feedparser

from moot.people import notifications
from tests.conftest import password_hash, seed
from tests.db_support import rows
from tests.live_support import events_until, live_site, recv, signed_in, subscribe  # noqa: F401


async def inbox(client) -> dict:
    r = await client.get("/api/notifications")
    assert r.status_code == 200, r.text
    return r.json()


def test_mentions_are_usernames_where_a_name_stands():
    assert notifications.mentioned("@ada and @Bob_2, again @ada.") == ["ada", "bob_2"]
    assert notifications.mentioned("mail ada@example.org or x@ada; email@ada.org") == []
    assert notifications.mentioned("@ab @" + "x" * 33) == []  # too short, too long
    assert (
        len(notifications.mentioned(" ".join(f"@user{i}" for i in range(50)))) == notifications.MAX_MENTIONS
    )


async def test_reply_follow_and_mention_without_duplicates_or_self(site):
    s = await seed(site)  # ada's thread with ada's own reply: she was told nothing
    ada, bob, carol = s["ada"], await site.client("bob"), await site.client("carol")
    await site.user("dagny")
    assert (await inbox(ada))["notifications"] == []
    tid = s["thread"]["id"]
    r = await carol.post(f"/api/threads/{tid}/follow", json={"on": True})
    assert r.json() == {"thread_id": tid, "following": True, "mail": False}

    r = await bob.post(
        f"/api/articles/{s['root']['id']}/replies",
        json={"body": "Agreed, @ada, and @carol and @dagny should see this. @nobody"},
    )
    reply = r.json()["article"]
    got = await inbox(ada)
    assert [(n["kind"], n["article"]["id"], n["read"]) for n in got["notifications"]] == [
        ("reply", reply["id"], False)
    ]
    assert got["unread"] == 1 and got["notifications"][0]["actor"] == {
        "username": "bob",
        "display_name": "Bob",
    }
    assert got["notifications"][0]["thread"] == {"id": tid, "subject": "Hello", "group": "comp.lang.python"}
    assert [n["kind"] for n in (await inbox(carol))["notifications"]] == ["mention"]  # not also "follow"
    assert [n["kind"] for n in (await inbox(await site.client("dagny")))["notifications"]] == ["mention"]
    assert (await inbox(bob))["notifications"] == []  # never the actor
    # One notification per reader and article, whatever the reasons.
    assert (
        rows(
            site, "SELECT user_id, article_id, count(*) FROM notifications GROUP BY 1, 2 HAVING count(*) > 1"
        )
        == []
    )

    # bob follows now (he posted); ada's next reply tells him and carol, as "follow"
    r = await ada.post(f"/api/articles/{s['reply']['id']}/replies", json={"body": "Thanks"})
    assert [n["kind"] for n in (await inbox(bob))["notifications"]] == ["follow"]
    assert [n["kind"] for n in (await inbox(carol))["notifications"]] == ["follow", "mention"]
    await carol.post(f"/api/threads/{tid}/follow", json={"on": False})
    await ada.post(f"/api/articles/{s['reply']['id']}/replies", json={"body": "More"})
    assert len((await inbox(carol))["notifications"]) == 2  # unfollowed: nothing new


async def test_group_follows_and_follows_carried_over_a_split(site):
    s = await seed(site)
    bob, carol = await site.client("bob"), await site.client("carol")
    mod = await site.client("marta", "moderator")
    r = await carol.post("/api/groups/comp.lang.python/follow", json={"on": True})
    assert r.json() == {"group": "comp.lang.python", "following": True}
    r = await s["ada"].post("/api/groups/comp.lang.python/threads", json={"subject": "News", "body": "x"})
    assert [n["kind"] for n in (await inbox(carol))["notifications"]] == ["follow"]
    await carol.post("/api/groups/comp.lang.python/follow", json={"on": False})

    r = await bob.post(f"/api/articles/{s['reply']['id']}/replies", json={"body": "A tangent"})
    tangent = r.json()["article"]
    r = await mod.post(
        f"/api/threads/{s['thread']['id']}/split", json={"article_id": s["reply"]["id"], "reason": "drift"}
    )
    new = r.json()["thread"]["id"]
    before = len((await inbox(bob))["notifications"])
    await s["ada"].post(f"/api/articles/{tangent['id']}/replies", json={"body": "in the new thread"})
    got = (await inbox(bob))["notifications"]
    assert len(got) == before + 1 and got[0]["kind"] == "reply" and got[0]["thread"]["id"] == new
    # The moderation told ada (whose thread it was), not the moderator.
    mods = [n for n in (await inbox(s["ada"]))["notifications"] if n["kind"] == "moderation"]
    assert [(n["thread"]["id"], n["article"]) for n in mods] == [(s["thread"]["id"], None)]
    entry = (await (await site.client()).get(f"/api/modlog/{mods[0]['entry_id']}")).json()["entry"]
    assert entry["action"] == "split"
    # told in words, dated by the log entry (the reply notifications by their articles)
    subject = r.json()["thread"]["subject"]
    said = f"Marta split your article \u201c{s['reply']['subject']}\u201d into a new thread \u201c{subject}\u201d"
    assert mods[0]["text"] == said
    assert mods[0]["reason"] == "drift" and mods[0]["created_at"] == entry["created_at"]
    assert got[0]["created_at"] == got[0]["article"]["created_at"] and got[0]["text"] is None
    assert (await inbox(mod))["notifications"] == []
    r = await mod.post(f"/api/threads/{new}/lock", json={"reason": "calm"})
    kinds = [(n["kind"], n["thread"]["id"]) for n in (await inbox(s["ada"]))["notifications"]]
    assert ("moderation", new) in kinds  # the split-off thread's root is ada's article
    page = (await s["ada"].get("/notifications")).text
    assert f"Marta locked your thread \u201c{subject}\u201d" in page and "(calm)" in page


async def test_reading_an_article_reads_the_notifications_that_point_to_it(site):
    s = await seed(site)
    ada, bob = s["ada"], await site.client("bob")
    tid, group = s["thread"]["id"], s["thread"]["group"]
    for body in ("one", "two"):
        await bob.post(f"/api/articles/{s['root']['id']}/replies", json={"body": body})
    assert (await inbox(ada))["unread"] == 2
    await ada.get(f"/t/{tid}")  # the page shows both replies
    await site.site.reads.flush()
    got = await inbox(ada)
    assert got["unread"] == 0 and all(n["read"] for n in got["notifications"])
    assert rows(site, "SELECT data FROM events WHERE type = 'notification.read'")[-1] == (
        json.dumps({"unread": 0}, separators=(",", ":")),
    )
    before = site.snapshot()
    await ada.get(f"/t/{tid}")  # a reload with nothing to mark writes nothing
    await site.site.reads.flush()
    assert site.snapshot() == before

    # Read already (a catch-up does not read notifications), yet notified: the page reads it.
    await bob.post(f"/api/articles/{s['root']['id']}/replies", json={"body": "three"})
    await ada.post(f"/api/groups/{group}/catch-up", json={})
    assert (await inbox(ada))["unread"] == 1
    await ada.get(f"/t/{tid}")
    await site.site.reads.flush()
    assert (await inbox(ada))["unread"] == 0
    # Marking the thread read over the API reads them too.
    await bob.post(f"/api/articles/{s['root']['id']}/replies", json={"body": "four"})
    await ada.post(f"/api/threads/{tid}/read", json={})
    assert (await inbox(ada))["unread"] == 0


async def test_one_notification_marked_read_from_the_inbox(site):
    s = await seed(site)
    ada, bob = s["ada"], await site.client("bob")
    for body in ("one", "two"):
        await bob.post(f"/api/articles/{s['root']['id']}/replies", json={"body": body})
    page = (await ada.get("/notifications")).text
    assert page.count(">Mark read</button>") == 2
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    ids = [n["id"] for n in (await inbox(ada))["notifications"]]
    before = site.snapshot()
    for data, status in (({"csrf": "nope", "id": ids[0]}, 403), ({"csrf": token, "id": "x"}, 400)):
        assert (await ada.post("/notifications/read", data=data)).status_code == status
    theirs = re.search(r'name="csrf" value="([^"]+)"', (await bob.get("/notifications")).text).group(1)
    r = await bob.post("/notifications/read", data={"csrf": theirs, "id": ids[0]})
    # a bad form, or another reader's id, changes nothing
    assert r.status_code == 303 and site.snapshot() == before
    r = await ada.post("/notifications/read", data={"csrf": token, "id": ids[0]})
    assert r.status_code == 303 and r.headers["location"] == "/notifications"
    got = await inbox(ada)
    assert got["unread"] == 1 and [n["read"] for n in got["notifications"]] == [True, False]
    r = await ada.post("/api/notifications/read", json={"ids": [ids[1]]})
    assert r.json() == {"unread": 0}


async def test_mark_read_pages_and_refusals(site):
    s = await seed(site)
    bob, anon = await site.client("bob"), await site.client()
    for body in ("one", "two", "three"):
        await bob.post(f"/api/articles/{s['root']['id']}/replies", json={"body": body})
    got = await inbox(s["ada"])
    ids = [n["id"] for n in got["notifications"]]
    assert got["unread"] == 3 and len(ids) == 3
    r = await s["ada"].get("/api/notifications", params={"limit": 2})
    assert [n["id"] for n in r.json()["notifications"]] == ids[:2]
    r = await s["ada"].get("/api/notifications", params={"limit": 2, "cursor": r.json()["next_cursor"]})
    assert [n["id"] for n in r.json()["notifications"]] == ids[2:] and r.json()["next_cursor"] is None

    # The header count is on shared (cached) pages and on the others alike
    # (not the thread's page: showing the replies would read their notifications).
    assert (
        '<a class="inbox" href="/notifications" id="inbox">Inbox <span class="count">3</span></a>'
        in (await s["ada"].get(f"/g/{s['thread']['group']}")).text
    )
    assert 'Inbox <span class="count">3</span>' in (await s["ada"].get("/notifications")).text
    assert 'Inbox <span class="count">' not in (await bob.get(f"/t/{s['thread']['id']}")).text

    await site.site.reads.flush()  # the page views' read marks, written before the snapshot
    before = site.snapshot()
    for client, body, status in (
        (anon, {}, 401),
        (bob, {"ids": ids}, 200),
        (s["ada"], {"ids": []}, 400),
        (s["ada"], {"ids": "all"}, 400),
        (s["ada"], {"ids": [True]}, 400),
        (s["ada"], {"ids": list(range(201))}, 400),
        (s["ada"], {"ids": None}, 400),  # naming none is leaving ids out, not null
        (s["ada"], {"ids": [2**70]}, 400),
        (s["ada"], {"ids": [0]}, 400),
    ):
        r = await client.post("/api/notifications/read", json=body)
        assert r.status_code == status, (body, r.text)
    assert site.snapshot() == before  # bob cannot touch ada's, bad lists change nothing
    assert (await anon.get("/api/notifications")).status_code == 401
    assert (await anon.get("/notifications")).headers["location"].startswith("/login")
    for bad in ({"on": "yes"}, {}, {"on": 1}):
        r = await bob.post(f"/api/threads/{s['thread']['id']}/follow", json=bad)
        assert r.status_code == 400
    assert (await bob.post("/api/threads/999/follow", json={"on": True})).status_code == 404
    assert (await bob.post("/api/groups/no.such/follow", json={"on": True})).status_code == 404
    assert site.snapshot() == before

    r = await s["ada"].post("/api/notifications/read", json={"ids": ids[:1]})
    assert r.json() == {"unread": 2}
    token = re.search(r'name="csrf" value="([^"]+)"', (await s["ada"].get("/notifications")).text).group(1)
    assert (await s["ada"].post("/notifications/read", data={"csrf": "nope"})).status_code == 403
    r = await s["ada"].post("/notifications/read", data={"csrf": token})
    assert r.status_code == 303 and (await inbox(s["ada"]))["unread"] == 0
    page = (await s["ada"].get("/notifications")).text
    assert "Reply to you" in page and "Mark all" not in page

    # Following and unfollowing from the pages, without JavaScript.
    page = (await bob.get(f"/t/{s['thread']['id']}")).text
    assert 'action="/t/1/follow"' in page and "Unfollow this thread" in page  # bob posted: he follows
    r = await bob.post(f"/t/{s['thread']['id']}/follow", data={"csrf": token, "on": "0"})
    assert r.status_code == 403  # ada's token is not bob's
    bob_token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    r = await bob.post(f"/t/{s['thread']['id']}/follow", data={"csrf": bob_token, "on": "0"})
    assert r.status_code == 303
    assert "Follow this thread" in (await bob.get(f"/t/{s['thread']['id']}")).text
    r = await bob.post("/g/comp.lang.python/follow", data={"csrf": bob_token, "on": "1"})
    assert r.status_code == 303 and "Unfollow this group" in (await bob.get("/g/comp.lang.python")).text


async def test_notifications_reach_only_their_readers_live(live_site):
    live = await live_site()
    site = live.test_site
    s = await seed(site)
    bob, carol = await site.client("bob"), await site.client("carol")

    mine = await live.connect(**signed_in(s["ada"]))
    others = [
        await live.connect(**signed_in(carol)),
        await live.connect(**signed_in(bob)),
        await live.connect(),
    ]
    for ws in [mine, *others]:
        await subscribe(ws, groups=["comp.lang.python"])
    r = await bob.post(f"/api/articles/{s['root']['id']}/replies", json={"body": "hello @ada"})
    reply = r.json()["article"]
    events = await events_until(mine, 2)
    assert [e["type"] for e in events] == ["article.created", "notification.created"]
    assert events[1]["data"] == {
        "kind": "reply",
        "article": reply,
        "thread_id": s["thread"]["id"],
        "entry_id": None,
    }
    for ws in others:
        (created,) = await events_until(ws, 1)
        assert created["type"] == "article.created"  # the group's event, but no notification
        await ws.send(json.dumps({"type": "ping"}))
        assert await recv(ws) == {"type": "pong"}
    await s["ada"].post("/api/notifications/read", json={})
    (read,) = await events_until(mine, 1)
    assert read["type"] == "notification.read" and read["data"] == {"unread": 0}


async def test_a_reply_in_a_thread_with_a_thousand_followers(site):
    s = await seed(site)
    async with site.db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO users (username, display_name, password_hash, created_at)"
            " VALUES (?, ?, ?, '2026-01-01T00:00:00.000Z')",
            [(f"follower{i}", f"Follower {i}", password_hash()) for i in range(1000)],
        )
        await conn.execute(
            "INSERT INTO follows (user_id, thread_id) SELECT id, ? FROM users"
            " WHERE username LIKE 'follower%'",
            (s["thread"]["id"],),
        )
    before = rows(site, "SELECT max(id) FROM events")[0][0]
    bob = await site.client("bob")
    r = await bob.post(f"/api/articles/{s['reply']['id']}/replies", json={"body": "To all of you"})
    assert r.status_code == 201
    told = rows(
        site,
        "SELECT count(*), count(DISTINCT user_id) FROM notifications WHERE article_id = ?",
        (r.json()["article"]["id"],),
    )[0]
    assert told == (1001, 1001)  # the thousand, and ada (as "reply")
    events = rows(
        site, "SELECT type, topics FROM events WHERE id > ? AND type = 'notification.created'", (before,)
    )
    topics = [set(t.split()) for _, t in events]
    assert len(events) == 3 and sum(len(t) for t in topics) == 1001  # reply once, followers in two rows
    assert all(topic.startswith("u:") for t in topics for topic in t)


async def test_notification_feed_behind_a_revocable_secret_url(site):
    s = await seed(site)
    bob, anon = await site.client("bob"), await site.client()
    await bob.post(f"/api/articles/{s['root']['id']}/replies", json={"body": "Feed me, @ada"})
    r = await s["ada"].post("/api/notifications/feed", json={})
    assert r.status_code == 201
    url = r.json()["url"]
    key = url.rsplit("/", 1)[1].removesuffix(".atom")
    assert url.startswith("http://testserver/feeds/notifications/") and len(key) >= 40
    assert rows(site, "SELECT count(*) FROM feed_keys WHERE key_hash = ?", (key,))[0][0] == 0  # stored hashed

    r = await anon.get(url)  # the URL alone opens it: no cookie needed
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
    assert "private" in r.headers["cache-control"] and r.headers["referrer-policy"] == "no-referrer"
    parsed = feedparser.parse(r.content)
    assert not parsed.bozo and parsed.feed.title.startswith("Notifications for ada")
    (entry,) = parsed.entries
    assert entry.title == "Reply from Bob: Re: Hello" and entry.summary == "Feed me, @ada"
    assert entry.link.endswith(f"/t/{s['thread']['id']}#a{rows(site, 'SELECT max(id) FROM articles')[0][0]}")

    r = await s["ada"].post("/api/notifications/feed", json={})  # a new URL replaces the old
    assert (await anon.get(url)).status_code == 404
    newer = r.json()["url"]
    assert (await anon.get(newer)).status_code == 200
    r = await s["ada"].post("/api/notifications/feed/revoke", json={})
    assert r.status_code == 204 and (await anon.get(newer)).status_code == 404
    for bad in ("/feeds/notifications/x.atom", "/feeds/notifications/" + "A" * 43 + ".atom"):
        assert (await anon.get(bad)).status_code == 404
    assert (await anon.post("/api/notifications/feed", json={})).status_code == 401

    # At most five new URLs an hour, however many ask at once.
    results = await asyncio.gather(*(bob.post("/api/notifications/feed", json={}) for _ in range(100)))
    assert sorted(r.status_code for r in results) == [201] * 5 + [429] * 95

    # The inbox page makes one and shows it once, and revokes it.
    page = (await s["ada"].get("/notifications")).text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    page = (await s["ada"].post("/notifications/feed", data={"csrf": token})).text
    shown = re.search(r'value="(http://testserver/feeds/notifications/[^"]+)"', page).group(1)
    assert (await anon.get(shown)).status_code == 200
    assert (
        "Revoke it" in page and "http://testserver/feeds" not in (await s["ada"].get("/notifications")).text
    )
    r = await s["ada"].post("/notifications/feed", data={"csrf": token, "action": "revoke"})
    assert r.status_code == 303 and (await anon.get(shown)).status_code == 404

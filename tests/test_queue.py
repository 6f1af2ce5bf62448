"""The moderation queue over the JSON API: a moderated group's submissions
wait (202) and appear with an Approved header once a moderator approves
them; rejected ones never appear and their author is told; reports gather
on one item and hide an article at the threshold; moderators dismiss or
remove; two moderators deciding one item: one wins, the other is told."""

from __future__ import annotations

import asyncio

from moot.store.db import fetch_one
from tests.conftest import seed

MODERATED = "comp.lang.python.announce"


async def moderated_site(make_site):
    site = await make_site()
    seeded = await seed(site)
    admin = seeded["admin"]
    r = await admin.post(
        "/api/groups", json={"name": MODERATED, "description": "Announcements", "status": "m"}
    )
    assert r.status_code == 201, r.text
    return site, seeded


async def test_a_moderated_group_holds_a_members_thread_until_a_moderator_approves_it(make_site):
    site, seeded = await moderated_site(make_site)
    ada, mona = seeded["ada"], await site.client("mona", "moderator")
    before = site.snapshot()["articles"]
    r = await ada.post(f"/api/groups/{MODERATED}/threads", json={"subject": "mylib 2.0", "body": "Out now."})
    assert r.status_code == 202, r.text
    held = r.json()["held"]
    assert held["group"] == MODERATED and held["why"] == "moderated" and held["state"] == "waiting"
    assert site.snapshot()["articles"] == before  # no article, no number
    r = await ada.get(f"/api/groups/{MODERATED}/threads")
    assert r.json()["threads"] == []
    assert (await ada.get(f"/api/groups/{MODERATED}/queue")).status_code == 403
    mine = (await ada.get("/api/me/queue")).json()["items"]
    assert [i["article"]["body"] for i in mine] == ["Out now."]

    r = await mona.get(f"/api/groups/{MODERATED}/queue")
    assert r.status_code == 200, r.text
    (item,) = r.json()["items"]
    assert item["id"] == held["id"] and item["channel"] == "api" and item["author"]["username"] == "ada"
    r = await mona.post(f"/api/groups/{MODERATED}/queue/{item['id']}/approve", json={"reason": "on topic"})
    assert r.status_code == 200, r.text
    article = r.json()["article"]
    assert article["approved"] == "Mona" and article["author"]["username"] == "ada"
    assert article["number"] == 1 and r.json()["entry"]["action"] == "approve"
    threads = (await ada.get(f"/api/groups/{MODERATED}/threads")).json()["threads"]
    assert [t["subject"] for t in threads] == ["mylib 2.0"]
    # A moderator's own post appears at once, approved by themselves.
    r = await mona.post(f"/api/groups/{MODERATED}/threads", json={"subject": "Rules", "body": "Be kind."})
    assert r.status_code == 201 and r.json()["article"]["approved"] == "Mona"


async def test_a_rejected_submission_never_appears_and_its_author_is_told(make_site):
    site, seeded = await moderated_site(make_site)
    ada, mona = seeded["ada"], await site.client("mona", "moderator")
    r = await ada.post(f"/api/groups/{MODERATED}/threads", json={"subject": "Buy", "body": "cheap things"})
    item = r.json()["held"]
    r = await mona.post(f"/api/groups/{MODERATED}/queue/{item['id']}/reject", json={"reason": "advertising"})
    assert r.status_code == 200, r.text
    assert r.json()["entry"]["action"] == "reject" and r.json()["item"]["state"] == "rejected"
    assert (await ada.get(f"/api/groups/{MODERATED}/threads")).json()["threads"] == []
    notes = (await ada.get("/api/notifications")).json()["notifications"]
    assert any(n["kind"] == "moderation" for n in notes)
    r = await mona.post(f"/api/groups/{MODERATED}/queue/{item['id']}/approve", json={})
    assert r.status_code == 409 and "rejected already by mona" in r.json()["error"]["message"]
    decided = (await mona.get(f"/api/groups/{MODERATED}/queue?state=rejected")).json()["items"]
    assert [i["id"] for i in decided] == [item["id"]]


async def test_two_moderators_deciding_one_item_at_once_one_wins(make_site):
    site, seeded = await moderated_site(make_site)
    ada = seeded["ada"]
    mona, max_ = await site.client("mona", "moderator"), await site.client("max", "moderator")
    item = (await ada.post(f"/api/groups/{MODERATED}/threads", json={"subject": "S", "body": "B"})).json()[
        "held"
    ]
    url = f"/api/groups/{MODERATED}/queue/{item['id']}"
    a, b = await asyncio.gather(mona.post(url + "/approve", json={}), max_.post(url + "/reject", json={}))
    assert sorted([a.status_code, b.status_code]) == [200, 409]
    loser = a if a.status_code == 409 else b
    assert loser.json()["error"]["code"] == "conflict"
    async with site.db.read() as conn:
        decided = await fetch_one(conn, "SELECT state, decided_by FROM queue WHERE id = ?", (item["id"],))
    assert decided["state"] in ("approved", "rejected") and decided["decided_by"] is not None  # decided once


async def test_reports_gather_and_hide_an_article_at_the_threshold_until_a_moderator_decides(make_site):
    site, seeded = await moderated_site(make_site)
    ada, reply = seeded["ada"], seeded["reply"]
    readers = [await site.client(name) for name in ("bea", "cyd", "dot")]
    mona = await site.client("mona", "moderator")
    url = f"/api/articles/{reply['id']}/report"
    r = await ada.post(url, json={"reason": "spam"})  # her own: counts for nothing
    assert r.status_code == 201 and r.json()["counted"] is False
    r = await readers[0].post(url, json={"reason": "off-topic", "note": "wrong group"})
    assert r.status_code == 201 and r.json()["article"]["status"] == "ok"
    r = await readers[0].post(url, json={"reason": "spam"})  # a second report by the same member
    assert r.status_code == 200 and r.json()["already"] is True
    for reader in readers[1:]:
        r = await reader.post(url, json={"reason": "spam"})
        assert r.json()["article"]["status"] == "ok"  # off-topic never hides; two spam are under 3
    assert (await mona.post(url, json={"reason": "abuse"})).json()["article"]["status"] == "hidden"
    shown = (await readers[0].get(f"/api/articles/{reply['id']}")).json()["article"]
    assert shown["status"] == "hidden" and "A reply" not in shown["body"]
    (item,) = (await mona.get("/api/groups/comp.lang.python/queue")).json()["items"]
    assert item["reports"]["counts"] == {"spam": 3, "off-topic": 1, "abuse": 1}
    assert item["article"]["body"] == "A reply"
    assert (await ada.get("/api/me/queue")).json()["items"][0]["reports"] is None  # never who reported
    r = await readers[0].post(f"/api/groups/comp.lang.python/queue/{item['id']}/approve", json={})
    assert r.status_code == 403
    r = await mona.post(f"/api/groups/comp.lang.python/queue/{item['id']}/approve", json={"reason": "fine"})
    assert r.status_code == 200 and r.json()["article"]["status"] == "ok"
    assert r.json()["article"]["body"] == "A reply"


async def test_a_moderator_removes_a_reported_article_with_a_cancel(make_site):
    site, seeded = await moderated_site(make_site)
    root, mona, bea = seeded["root"], await site.client("mona", "moderator"), await site.client("bea")
    r = await bea.post(f"/api/articles/{root['id']}/report", json={"reason": "abuse", "note": "rude"})
    (item,) = (await mona.get("/api/groups/comp.lang.python/queue")).json()["items"]
    r = await mona.post(f"/api/groups/comp.lang.python/queue/{item['id']}/reject", json={"reason": "rude"})
    assert r.status_code == 200, r.text
    assert r.json()["article"]["status"] == "cancelled" and r.json()["entry"]["action"] == "cancel"
    assert r.json()["entry"]["reason"] == "rude"
    r = await bea.post(f"/api/articles/{root['id']}/report", json={"reason": "spam"})
    assert r.status_code == 409


async def test_a_held_reply_whose_article_went_to_another_group_is_refused_and_changes_nothing(make_site):
    site, seeded = await moderated_site(make_site)
    ada, mona = seeded["ada"], await site.client("mona", "moderator")
    r = await mona.post(f"/api/groups/{MODERATED}/threads", json={"subject": "Plans", "body": "Ours."})
    root = r.json()["article"]
    r = await mona.post(f"/api/articles/{root['id']}/replies", json={"body": "A side topic."})
    side = r.json()["article"]
    moved = await ada.post(f"/api/articles/{root['id']}/replies", json={"body": "Held, then moved."})
    split = await ada.post(f"/api/articles/{side['id']}/replies", json={"body": "Held, then split."})
    assert moved.status_code == split.status_code == 202, (moved.text, split.text)
    # The side topic is split off into another group, then the rest of the thread is moved there too.
    r = await mona.post(
        f"/api/threads/{root['thread_id']}/split",
        json={"article_id": side["id"], "reason": "its own topic", "group": "comp.lang.python"},
    )
    assert r.status_code == 201, r.text
    r = await mona.post(
        f"/api/threads/{root['thread_id']}/move",
        json={"group": "comp.lang.python", "reason": "belongs there"},
    )
    assert r.status_code == 200, r.text
    before = site.snapshot()
    for held in (moved.json()["held"], split.json()["held"]):
        r = await mona.post(f"/api/groups/{MODERATED}/queue/{held['id']}/approve", json={})
        assert r.status_code == 409, r.text
        assert "is in comp.lang.python now" in r.json()["error"]["message"]
    assert site.snapshot() == before  # no article in a thread of another group, the items still waiting
    r = await mona.post(f"/api/groups/{MODERATED}/queue/{moved.json()['held']['id']}/reject", json={})
    assert r.status_code == 200 and r.json()["item"]["state"] == "rejected"


async def test_bad_report_and_queue_requests_get_clear_errors_and_change_nothing(make_site):
    site, seeded = await moderated_site(make_site)
    reply, mona = seeded["reply"], await site.client("mona", "moderator")
    anonymous, bea = await site.client(), await site.client("bea")
    before = site.snapshot()
    cases = [
        (anonymous, f"/api/articles/{reply['id']}/report", {"reason": "spam"}, 401),
        (bea, f"/api/articles/{reply['id']}/report", {"reason": "boring"}, 400),
        (bea, f"/api/articles/{reply['id']}/report", {"reason": "spam", "note": 5}, 400),
        (bea, "/api/articles/999999/report", {"reason": "spam"}, 404),
        (mona, "/api/groups/comp.lang.python/queue/999/approve", {}, 404),
        (mona, "/api/groups/comp.lang.python/queue/1/maybe", {}, 400),
        (mona, "/api/groups/comp.lang.python/queue/approve", {"ids": "all"}, 400),
        (mona, "/api/groups/no.such.group/queue/1/approve", {}, 404),
    ]
    for client, url, body, status in cases:
        r = await client.post(url, json=body)
        assert r.status_code == status, (url, body, r.text)
        assert "error" in r.json()
    assert site.snapshot() == before

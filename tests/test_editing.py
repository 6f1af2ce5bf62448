"""Editing within the grace period against the real app: the author's new
text supersedes the old one in place (same id, Message-ID and number), the
earlier text stays readable, search follows, open pages hear of it; others,
withdrawn articles and late edits are refused and change nothing."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime
from email.utils import format_datetime

from moot.news import intake
from moot.nntp import parse
from tests.conftest import seed
from tests.live_support import events_until, live_site, subscribe  # noqa: F401


async def test_the_author_edits_within_the_grace_period(site):
    s = await seed(site)
    ada, bob, anon = s["ada"], await site.client("bob"), await site.client()
    reply = s["reply"]
    r = await ada.put(
        f"/api/articles/{reply['id']}", json={"body": "A better reply", "subject": "Re: Hello!"}
    )
    assert r.status_code == 200, r.text
    edited = r.json()["article"]
    assert (edited["id"], edited["message_id"], edited["number"]) == (
        reply["id"],
        reply["message_id"],
        reply["number"],
    )
    assert edited["body"] == "A better reply" and edited["subject"] == "Re: Hello!" and edited["edited_at"]
    history = (await anon.get(f"/api/articles/{reply['message_id']}/history")).json()
    assert history["article"] == edited
    assert [(v["subject"], v["body"], v["written_at"]) for v in history["versions"]] == [
        ("Re: Hello", "A reply", reply["created_at"])
    ]
    r = await ada.put(f"/api/articles/{reply['id']}", json={"body": "Best reply"})
    versions = (await anon.get(f"/api/articles/{reply['id']}/history")).json()["versions"]
    assert [v["body"] for v in versions] == ["A reply", "A better reply"]
    assert versions[1]["written_at"] == edited["edited_at"]

    found = (await anon.get("/api/search", params={"q": "best"})).json()["results"]
    assert [x["article"]["id"] for x in found] == [reply["id"]]
    assert (await anon.get("/api/search", params={"q": "better"})).json()["results"] == []
    page = (await anon.get(f"/t/{s['thread']['id']}")).text
    assert f'<a class="edited" href="/a/{reply["id"]}/history"' in page and "Best reply" in page
    history_page = (await anon.get(f"/a/{reply['id']}/history")).text
    assert "A better reply" in history_page and "Best reply" in history_page
    # The Edit button shows for the author only.
    assert re.search(
        rf'href="/a/{reply["id"]}/edit"[^>]*data-author="ada">Edit',
        (await ada.get(f"/t/{s['thread']['id']}")).text,
    )
    # another reader's copy has none at all (a hidden one would still show in text browsers)
    assert f'href="/a/{reply["id"]}/edit"' not in (await bob.get(f"/t/{s['thread']['id']}")).text
    assert "/edit" not in page  # nobody signed in: no button at all

    # Withdrawn: the texts an edit replaced go too.
    await ada.post(f"/api/articles/{reply['id']}/cancel", json={})
    assert (await anon.get(f"/api/articles/{reply['id']}/history")).json()["versions"] == []


async def test_refused_edits_change_nothing(make_site):
    site = await make_site()
    s = await seed(site)
    ada, bob, anon = s["ada"], await site.client("bob"), await site.client()
    root = s["root"]
    before = site.snapshot()
    for client, body, status in (
        (anon, {"body": "x"}, 401),
        (bob, {"body": "x"}, 403),
        (ada, {"body": "   "}, 400),
        (ada, {"body": "x" * 70000}, 413),
        (ada, {"body": "x", "subject": "a\nb"}, 400),
        (ada, {}, 400),
    ):
        r = await client.put(f"/api/articles/{root['id']}", json=body)
        assert r.status_code == status, (body, r.text)
    assert (await ada.put("/api/articles/99999", json={"body": "x"})).status_code == 404
    assert site.snapshot() == before
    # After the grace period: withdraw only.
    conn = sqlite3.connect(site.config.db_path)
    conn.execute("UPDATE articles SET created_at = '2026-01-01T00:00:00.000Z' WHERE id = ?", (root["id"],))
    conn.commit()
    conn.close()
    before = site.snapshot()
    r = await ada.put(f"/api/articles/{root['id']}", json={"body": "too late"})
    assert r.status_code == 409 and r.json()["error"]["editable_until"] == "2026-01-01T00:15:00.000Z"
    # the edit page offers no form that cannot be sent: it says why at once
    r = await ada.get(f"/a/{root['id']}/edit")
    assert r.status_code == 409 and "can only be withdrawn now" in r.text and 'name="body"' not in r.text
    r = await bob.get(f"/a/{s['reply']['id']}/edit")
    assert r.status_code == 403 and "only its author can edit" in r.text and 'name="body"' not in r.text
    await ada.post(f"/api/articles/{s['reply']['id']}/cancel", json={})
    assert (await ada.put(f"/api/articles/{s['reply']['id']}", json={"body": "x"})).status_code == 409
    assert (await ada.get(f"/a/{s['reply']['id']}/edit")).status_code == 409
    # A site that allows no editing.
    other = await make_site(edit_grace_minutes=0)
    t = await seed(other)
    assert (await t["ada"].put(f"/api/articles/{t['root']['id']}", json={"body": "no"})).status_code == 409
    assert "/edit" not in (await t["ada"].get(f"/t/{t['thread']['id']}")).text


async def test_edit_form_without_javascript(site):
    s = await seed(site)
    ada = s["ada"]
    page = (await ada.get(f"/a/{s['reply']['id']}/edit")).text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert ">A reply</textarea>" in page
    r = await ada.post(f"/a/{s['reply']['id']}/edit", data={"csrf": token, "body": "  ", "subject": ""})
    assert r.status_code == 400 and 'class="form-error"' in r.text
    r = await ada.post(f"/a/{s['reply']['id']}/edit", data={"csrf": "forged", "body": "Changed"})
    assert r.status_code == 403
    r = await ada.post(f"/a/{s['reply']['id']}/edit", data={"csrf": token, "body": "Changed", "subject": ""})
    assert r.status_code == 303 and r.headers["location"] == f"/t/{s['thread']['id']}#a{s['reply']['id']}"
    assert (await ada.get(f"/api/articles/{s['reply']['id']}")).json()["article"]["body"] == "Changed"
    assert (
        (await (await site.client()).get(f"/a/{s['reply']['id']}/edit"))
        .headers["location"]
        .startswith("/login")
    )


async def test_open_pages_hear_of_an_edit(live_site):
    live = await live_site()
    s = await seed(live.test_site)
    ws = await live.connect()
    await subscribe(ws, threads=[s["thread"]["id"]])
    r = await s["ada"].put(f"/api/articles/{s['reply']['id']}", json={"body": "Edited live"})
    (event,) = await events_until(ws, 1)
    assert event["type"] == "article.updated" and event["data"] == r.json()["article"]
    assert json.loads(json.dumps(event["data"]))["edited_at"]


async def test_a_cancel_from_a_peer_takes_the_earlier_texts_too(site):
    """A withdrawal is the same change whoever asks: a cancel in the author's
    name that comes back through a news peer leaves no earlier text behind."""
    s = await seed(site)
    ada, anon, reply = s["ada"], await site.client(), s["reply"]
    assert (await ada.put(f"/api/articles/{reply['id']}", json={"body": "A better reply"})).status_code == 200
    cancel_id = "<cancel.x@peer.test>"
    data = "\r\n".join(
        [
            "Path: peer.test!not-for-mail",
            f"Date: {format_datetime(datetime.now(UTC))}",
            f"From: Ada <ada@{site.config.domain}>",
            "Newsgroups: comp.lang.python",
            f"Subject: cmsg cancel {reply['message_id']}",
            f"Control: cancel {reply['message_id']}",
            f"Message-ID: {cancel_id}",
            "",
            "Withdrawn.",
        ]
    ).encode()
    async with site.db.transaction() as conn:
        result = await intake.receive(
            conn, intake.Node(site.config.domain), parse.transit_article(data, cancel_id)
        )
    assert result["applied"] is True
    history = (await anon.get(f"/api/articles/{reply['id']}/history")).json()
    assert history["article"]["status"] == "cancelled" and history["versions"] == []

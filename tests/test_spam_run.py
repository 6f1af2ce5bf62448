"""The spam run replayed on two peered `moot serve` nodes: an account
registered a moment earlier posts the same link as a new thread in six
groups through the API and four more over NNTP, and the peer receives all
ten; one admin suspension with `remove_days` removes every one of them (gone
on the web and API, over NNTP and, by the cancels it sends, on the peer);
one undo of that log entry brings all ten back here, visible and
searchable, and lifts the suspension, while the peer that honoured the
cancels keeps them gone."""

from __future__ import annotations

import asyncio
import secrets
from urllib.parse import quote

import httpx

from moot.articles import groups
from moot.articles.posting import CANCEL_NOTICE_MODERATOR
from moot.store.db import Database
from tests.conftest import PASSWORD
from tests.peering_support import GROUPS, Node, eventually
from tests.processes import tls

MORE_GROUPS = ("alt.test", "misc.misc", "news.software.readers", "sci.math")
LINK = "Cheap watches: http://spam.example/buy-now"


async def _add_groups(db_path: str) -> None:
    db = await Database(db_path, read_connections=1).open()
    try:
        async with db.transaction() as conn:
            for name in MORE_GROUPS:
                await groups.create_group(conn, None, name, f"{name} for the spam run")
    finally:
        await db.close()


def client(node: Node) -> httpx.Client:
    return httpx.Client(base_url=node.url, headers={"Origin": node.url}, timeout=10, verify=tls())


def test_one_suspension_cleans_up_a_spam_run_everywhere_and_one_undo_restores_it(tmp_path):
    a, b = Node(tmp_path, "a.test"), Node(tmp_path, "b.test")
    for node in (a, b):
        asyncio.run(_add_groups(node.db))
    six = (*GROUPS, *MORE_GROUPS)
    secret = secrets.token_hex(12)
    try:
        a.start(repeat_window_hours=0)  # no repetition checks: the run must pass, to be cleaned up
        b.start(repeat_window_hours=0)
        a.peer(b, secret=secret)
        b.peer(a, secret=secret)

        # A fresh account: six threads through the API, four more over NNTP.
        spam = []
        with client(a) as spammer:
            r = spammer.post("/api/register", json={"username": "spammer", "password": PASSWORD})
            assert r.status_code == 201, r.text
            for group in six:
                r = spammer.post(f"/api/groups/{group}/threads", json={"subject": "Deal", "body": LINK})
                assert r.status_code == 201, r.text
                spam.append(r.json()["article"]["message_id"])
        for group in six[:4]:
            spam.append(a.post(group, "Deal", LINK, user="spammer"))
        assert len(set(spam)) == 10
        eventually(lambda: all(b.article(mid) for mid in spam), "the ten spam articles on the peer")

        # One action: suspended, and everything of the last day removed.
        with client(a) as root:
            root.post("/api/login", json={"username": "root", "password": PASSWORD}).raise_for_status()
            r = root.post(
                "/api/users/spammer/suspend", json={"days": 30, "reason": "spam run", "remove_days": 1}
            )
            assert r.status_code == 200, r.text
            assert r.json()["removed"] == 10 and r.json()["user"]["suspension_reason"] == "spam run"
            entry = r.json()["entry"]
            assert entry["action"] == "suspend" and entry["data"]["removed"] == 10 and entry["undoable"]

            for mid in spam:  # the web and the API
                article = a.article(mid)
                assert article["status"] == "cancelled" and "spam.example" not in article["body"]
            assert "spam.example" not in root.get(f"/t/{a.article(spam[0])['thread_id']}").text
            assert root.get("/api/search", params={"q": "watches"}).json()["results"] == []
            with a.reader() as n:  # NNTP readers get the withdrawal, not the link
                for mid in spam:
                    _, info = n.article(mid)
                    body = b"\n".join(info.lines).decode()
                    assert CANCEL_NOTICE_MODERATOR in body and "spam.example" not in body
            eventually(
                lambda: all(b.status(mid) == "cancelled" for mid in spam), "the ten cancels on the peer"
            )
            assert all("spam.example" not in b.article(mid)["body"] for mid in spam)

            # One undo: all ten back here, searchable, and the account may post again.
            r = root.post(f"/api/modlog/{entry['id']}/undo", json={"reason": "it was a test account"})
            assert r.status_code == 200, r.text
            assert r.json()["entry"]["data"] == {"action": "suspend", "count": 10, "lifted": True}
            for mid in spam:
                article = a.article(mid)
                assert article["status"] == "ok" and article["body"] == LINK
            hits = root.get("/api/search", params={"q": "watches", "limit": 50}).json()["results"]
            assert sorted(h["article"]["message_id"] for h in hits) == sorted(spam)
            with a.reader() as n:
                assert LINK in b"\n".join(n.article(spam[-1])[1].lines).decode()
            profile = root.get("/api/users/spammer").json()["user"]
            assert profile["suspended_until"] is None
            log = root.get("/api/modlog").json()["entries"]
            assert log[0]["action"] == "undo" and log[0]["undoes"] == entry["id"]
        # The peer honoured the cancels and keeps them (docs/MODERATION.md).
        assert all(b.status(mid) == "cancelled" for mid in spam)
        with client(a) as again:
            again.post("/api/login", json={"username": "spammer", "password": PASSWORD}).raise_for_status()
            r = again.post(f"/api/articles/{quote(spam[0], safe='')}/replies", json={"body": "sorry"})
            assert r.status_code == 201, r.text
    finally:
        a.stop()
        b.stop()

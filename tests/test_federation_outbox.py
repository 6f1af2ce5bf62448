"""What leaves for the fediverse: a thread posted on the web reaches every
follower's inbox (a local sink over loopback HTTP) as the group's signed
Announces; an edit is an Update, a withdrawal a Delete with its reason, a
lock Lemmy's Lock; a split sends nothing; a blocked host gets nothing;
failed deliveries are retried and given up; and a kill -9 in the middle of
a fan-out to 1,000 inboxes loses none of them."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from datetime import timedelta

import httpx
import pytest

from moot.federation import delivery, keys, objects, outbox, signatures
from moot.store import clock
from tests.conftest import seed
from tests.federation_sink import Sink, add_followers_sql, expanded, followers
from tests.processes import moot, start_process, stop_process, tls

BASE = "https://forum.example"
GROUP = "comp.lang.python"


@pytest.fixture
async def sink():
    made = await Sink().start()
    yield made
    await made.stop()


async def fed_site(make_site, sink: Sink, n: int = 3):
    site = await make_site(federation=True, public_url=BASE, federation_allow_private=True)
    s = await seed(site)
    await expanded(site)  # the seed's events find no followers yet
    rows = followers(sink.base, n)
    async with site.db.transaction() as conn:
        for sql, args in add_followers_sql(GROUP, rows):
            await conn.executemany(sql, args)
    return site, s


async def verified(site, sink, got) -> list[dict]:
    """Each POST's signature checked against its signer's key; the activities."""
    found = []
    for r in got:
        activity = r.activity
        signer = "group:" + GROUP if activity["actor"].endswith(GROUP) else None
        assert signer, activity["actor"]
        _, public = await keys.pair(site.db, signer)
        key = signatures.verify("POST", sink.base + r.path, r.headers, r.body, public)
        assert key == objects.key_id(BASE, signer)
        found.append(activity)
    return found


async def test_a_new_thread_is_announced_to_each_inbox_signed(make_site, sink):
    site, s = await fed_site(make_site, sink, n=3)
    ada = s["ada"]
    r = await ada.post(f"/api/groups/{GROUP}/threads", json={"subject": "Fediverse", "body": "Hi <all>"})
    assert r.status_code == 201
    mid = r.json()["article"]["message_id"]
    got = await sink.wait_for(6)  # Announce{Create} and Announce{Page} to 3 inboxes
    await asyncio.sleep(0.05)
    assert len(sink.received) == 6
    activities = await verified(site, sink, got)
    assert sorted({g.path for g in got}) == [f"/shared/{i}/inbox" for i in range(3)]
    url = objects.article_url(BASE, mid)
    creates = [a for a in activities if a["object"]["type"] == "Create"]
    pages = [a for a in activities if a["object"]["type"] == "Page"]
    assert len(creates) == len(pages) == 3
    assert len({a["id"] for a in creates}) == 1  # one activity, one id, to every inbox
    create = creates[0]
    assert create["type"] == "Announce" and create["actor"] == f"{BASE}/g/{GROUP}"
    assert create["to"] == [objects.PUBLIC] and create["cc"] == [f"{BASE}/g/{GROUP}/followers"]
    assert create["object"]["id"] == url + "#create"
    assert create["object"]["actor"] == f"{BASE}/u/ada"
    page = create["object"]["object"]
    assert page["id"] == url and page["name"] == "Fediverse" and page["content"] == "<p>Hi &lt;all&gt;</p>"
    assert pages[0]["object"] == page
    # the Announce's id can be fetched
    anon = await site.client()
    fetched = await anon.get(create["id"].removeprefix(BASE))
    assert fetched.status_code == 200 and fetched.json()["id"] == create["id"]
    # everything was delivered: nothing is left once the last answers are recorded
    deadline = time.monotonic() + 10
    while True:
        async with site.db.read() as conn:
            if not list(await conn.execute_fetchall("SELECT * FROM ap_deliveries")):
                break
        assert time.monotonic() < deadline, "delivered rows were not deleted"
        await asyncio.sleep(0.02)
    # a reply is a Note in reply to the root, by its author
    r = await ada.post(f"/api/articles/{r.json()['article']['id']}/replies", json={"body": "more"})
    got = await sink.wait_for(9)
    note = got[-1].activity["object"]["object"]
    assert note["type"] == "Note" and note["inReplyTo"] == url


async def test_edit_withdrawal_lock_split_and_blocks(make_site, sink):
    site, s = await fed_site(make_site, sink, n=2)
    admin, ada = s["admin"], s["ada"]
    r = await ada.post(f"/api/groups/{GROUP}/threads", json={"subject": "Topic", "body": "one"})
    root = r.json()["article"]
    thread_id = r.json()["thread"]["id"]
    r = await ada.post(f"/api/articles/{root['id']}/replies", json={"body": "two"})
    reply = r.json()["article"]
    await sink.wait_for(6)
    sink.received.clear()

    assert (await ada.put(f"/api/articles/{reply['id']}", json={"body": "two, fixed"})).status_code == 200
    update = (await sink.wait_for(2))[0].activity
    assert update["type"] == "Announce" and update["object"]["type"] == "Update"
    assert update["object"]["object"]["source"]["content"] == "two, fixed"
    sink.received.clear()

    r = await admin.post(f"/api/articles/{reply['id']}/cancel", json={"reason": "off topic"})
    assert r.status_code == 200, r.text
    deleted = (await sink.wait_for(2))[0].activity["object"]
    assert deleted["type"] == "Delete" and deleted["summary"] == "off topic"
    assert deleted["actor"] == f"{BASE}/g/{GROUP}"  # a moderator's removal: the group's
    assert deleted["object"]["type"] == "Tombstone"
    assert deleted["object"]["id"] == objects.article_url(BASE, reply["message_id"])
    sink.received.clear()

    assert (await admin.post(f"/api/threads/{thread_id}/lock", json={"reason": "done"})).status_code == 200
    lock = (await sink.wait_for(2))[0].activity
    assert lock["type"] == "Lock" and lock["object"] == objects.article_url(BASE, root["message_id"])
    sink.received.clear()
    assert (await admin.post(f"/api/threads/{thread_id}/unlock", json={"reason": "again"})).status_code == 200
    undo = (await sink.wait_for(2))[0].activity
    assert undo["type"] == "Undo" and undo["object"]["type"] == "Lock"
    sink.received.clear()

    # A split stays local; so does everything after a block, for the blocked host.
    r = await ada.post(f"/api/articles/{root['id']}/replies", json={"body": "three"})
    third = r.json()["article"]
    await sink.wait_for(2)
    sink.received.clear()
    r = await admin.post(f"/api/threads/{thread_id}/split", json={"article_id": third["id"], "reason": "own"})
    assert r.status_code == 201, r.text
    assert (await admin.post("/api/federation/blocks", json={"host": "127.0.0.1"})).status_code == 201
    await ada.post(f"/api/groups/{GROUP}/threads", json={"subject": "Unseen", "body": "x"})
    await expanded(site)
    async with site.db.read() as conn:  # written with the cursor's step: none will ever be
        assert list(await conn.execute_fetchall("SELECT * FROM ap_deliveries")) == []
    assert sink.received == []


async def test_retries_then_gives_up(make_site, sink):
    down = {"/shared/0/inbox", "/shared/1/inbox"}

    def answer(path: str, count: int) -> int:
        return 500 if path in down else 202

    sink.answer = answer
    site, s = await fed_site(make_site, sink, n=2)
    await s["ada"].post(f"/api/groups/{GROUP}/threads", json={"subject": "Again", "body": "x"})
    deadline = time.monotonic() + 10
    while True:  # the first round: every POST answered 500
        async with site.db.read() as conn:
            rows = await conn.execute_fetchall("SELECT attempts, state, last_error FROM ap_deliveries")
        if len(rows) == 4 and all(r[0] == 1 for r in rows):
            break
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.02)
    assert {r[2] for r in rows} == {"HTTP 500"} and {r[1] for r in rows} == {"pending"}
    down.discard("/shared/0/inbox")  # back up; /shared/1 stays down
    client = site.app.state.federation_client
    later = clock.stamp(clock.parse(clock.now()) + timedelta(hours=1))
    counts = await delivery.deliver_due(site.site, client, now=later)
    assert counts == {"sent": 2, "retry": 2, "failed": 0}  # /shared/0 took them the second time
    async with site.db.read() as conn:
        rows = await conn.execute_fetchall("SELECT inbox, attempts, state FROM ap_deliveries")
    assert {(r[0].split("/")[4], r[1], r[2]) for r in rows} == {("1", 2, "pending")}
    past = clock.stamp(clock.parse(clock.now()) + timedelta(hours=49))
    counts = await delivery.deliver_due(site.site, client, now=past)
    assert counts == {"sent": 0, "retry": 0, "failed": 2}
    async with site.db.read() as conn:
        rows = await conn.execute_fetchall("SELECT state, last_error FROM ap_deliveries")
    assert [tuple(r) for r in rows] == [("failed", "HTTP 500")] * 2
    assert (
        delivery.judge(404) == "failed" and delivery.judge(429) == "retry" and delivery.judge(401) == "retry"
    )


def test_kill_9_during_fan_out_loses_no_delivery(tmp_path):
    """1,000 followers, a real `moot serve` killed with SIGKILL while it sends
    a reply to them, then started again: every inbox gets the activity at
    least once, repeats only for the few in flight at the kill, one id."""
    asyncio.run(_kill_9(tmp_path))


async def _kill_9(tmp_path):
    db = tmp_path / "moot.db"
    settings = {"federation": "on", "public_url": BASE, "federation_allow_private": "true"}
    moot("init", "--db", str(db), **settings)
    sink = await Sink().start()
    try:
        con = sqlite3.connect(db)
        con.execute(
            "INSERT INTO groups (name, description, created_at) VALUES (?, '', '2026-01-01T00:00:00.000Z')",
            (GROUP,),
        )
        con.commit()
        log = tmp_path / "moot.log"
        proc = start_process(db, log, **settings)
        try:
            async with httpx.AsyncClient(base_url=proc.listening().url, verify=tls()) as http:
                root = await _post_thread(http)
                # The thread's events read with no followers yet: the fan-out is the reply's one activity.
                await _read_up_to(con, con.execute("SELECT max(id) FROM events").fetchone()[0])
                for sql, args in add_followers_sql(GROUP, followers(sink.base, 1000)):
                    con.executemany(sql, args)
                con.commit()
                r = await http.post(f"/api/articles/{root['id']}/replies", json={"body": "to everyone"})
                assert r.status_code == 201, r.text
            # Killed once a hundred of the 1,000 POSTs have landed.
            deadline = time.monotonic() + 20
            while len(sink.received) < 100:
                assert time.monotonic() < deadline, len(sink.received)
                await asyncio.sleep(0.002)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        finally:
            stop_process(proc)
        assert len(sink.received) < 1000, "the fan-out finished before the kill"
        proc = start_process(db, log, **settings)
        try:
            proc.listening()
            await sink.wait_for(1000, timeout=30)
            deadline = time.monotonic() + 10
            while left := con.execute("SELECT count(*) FROM ap_deliveries").fetchone()[0]:
                assert time.monotonic() < deadline, left
                await asyncio.sleep(0.05)
        finally:
            stop_process(proc)
        con.close()
    finally:
        await sink.stop()
    seen: dict[tuple[str, str], int] = {}
    for r in sink.received:
        key = (r.path, r.activity["id"])
        seen[key] = seen.get(key, 0) + 1
    assert len({k[1] for k in seen}) == 1  # the reply's Announce{Create}, one id
    assert {k[0] for k in seen} == {f"/shared/{i}/inbox" for i in range(1000)}
    assert len(seen) == 1000  # every inbox
    repeats = sum(n - 1 for n in seen.values())
    assert repeats <= delivery.CONCURRENCY, repeats  # only what was in flight at the kill


async def _read_up_to(con: sqlite3.Connection, event_id: int) -> None:
    """Wait until the server's delivery task has read the events up to `event_id`."""
    deadline = time.monotonic() + 10
    while int(con.execute(f"SELECT coalesce(({CURSOR_SQL}), -1)").fetchone()[0]) < event_id:
        assert time.monotonic() < deadline, "the events were not read"
        await asyncio.sleep(0.02)


CURSOR_SQL = f"SELECT value FROM settings WHERE key = '{outbox.CURSOR}'"


async def _post_thread(http: httpx.AsyncClient) -> dict:
    """A member and a thread, posted the way the web does: its root article."""
    account = {"username": "ada", "password": "correct horse battery", "display_name": "Ada"}
    r = await http.post("/api/register", json=account)
    assert r.status_code in (200, 201), r.text
    r = await http.post(
        f"/api/groups/{GROUP}/threads", json={"subject": "Everyone", "body": "hello, fediverse"}
    )
    assert r.status_code == 201, r.text
    return r.json()["article"]


async def test_an_idle_delivery_task_commits_nothing(make_site, sink):
    """With no new event the outbox only reads: a commit of its own would wake
    the delivery task again (it listens for commits), and it would spin."""
    site, _ = await fed_site(make_site, sink)
    await expanded(site)
    commits: list[int] = []

    def count() -> None:
        commits.append(1)

    site.db.add_commit_listener(count)
    try:
        for _ in range(3):
            assert await outbox.expand(site.db, BASE) == 0
    finally:
        site.db.remove_commit_listener(count)
    assert commits == []

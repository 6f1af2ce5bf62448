"""/live over a real socket: delivery of each event type, resume, reset,
slow clients, the Origin check and the protocol's limits."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from moot.runtime.hub import encode
from moot.store.errors import Invalid
from moot.store.events import Event
from moot.web.live import PING, Subscribe, parse_request, topic_filter
from tests.conftest import seed
from tests.live_support import WAIT, events_until, live_site, recv, subscribe  # noqa: F401

# Pure parts


def test_parse_request():
    assert parse_request('{"type":"ping"}') == PING
    got = parse_request(
        json.dumps(
            {
                "type": "subscribe",
                "groups": ["comp.lang.python", "rec.*", "*", "comp.lang.python"],
                "threads": [12, 12, 3],
                "since": 0,
            }
        )
    )
    assert got == Subscribe(("comp.lang.python",), ("rec.", ""), (12, 3), 0)
    assert got.topics() == ["g:comp.lang.python", "t:12", "t:3"]
    assert got.names() == ["comp.lang.python", "rec.*", "*"]
    bad = [
        "",
        "[]",
        "nope",
        '{"type":"subscribe"}',
        '{"type":"other","threads":[1]}',
        '{"type":"subscribe","threads":[0]}',
        '{"type":"subscribe","threads":[true]}',
        '{"type":"subscribe","threads":"1"}',
        '{"type":"subscribe","groups":["Bad Name"]}',
        '{"type":"subscribe","groups":[".*"]}',
        '{"type":"subscribe","groups":[1]}',
        '{"type":"subscribe","threads":[1],"since":-1}',
        '{"type":"subscribe","threads":[1],"since":"5"}',
        "[" * 100000,
    ]
    for text in bad:
        with pytest.raises(Invalid):
            parse_request(text)


def test_topic_filter_matches_exactly():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, topics TEXT)")
    rows = ["g:comp.lang.python t:1", "g:comp.lang.python_x t:12", "g:comp.lang t:2", "g:rec.music t:3"]
    conn.executemany("INSERT INTO events (topics) VALUES (?)", [(r,) for r in rows])

    def ids(request):
        where, params = topic_filter(request)
        return [r[0] for r in conn.execute(f"SELECT id FROM events WHERE {where} ORDER BY id", params)]

    assert ids(Subscribe(groups=("comp.lang.python",))) == [1]  # `_` is no wildcard here
    assert ids(Subscribe(threads=(1,))) == [1]  # t:1 is not t:12
    assert ids(Subscribe(prefixes=("comp.",))) == [1, 2, 3]
    assert ids(Subscribe(prefixes=("",))) == [1, 2, 3, 4]
    assert ids(Subscribe(groups=("rec.music",), threads=(2,))) == [3, 4]


def test_encode_is_the_event_wire_shape():
    row = {
        "id": 7,
        "type": "article.created",
        "group_name": "comp.lang.python",
        "thread_id": 3,
        "topics": "g:comp.lang.python t:3",
        "data": '{"body":"caf\u00e9 \\"q\\"","id":9}',
        "created_at": "2026-01-01T00:00:00.000Z",
    }
    assert json.loads(encode(row)) == Event.from_row(row).wire()
    assert json.loads(encode({**row, "thread_id": None, "group_name": None}))["thread_id"] is None


# Delivery


async def test_each_core_event_type_is_delivered(live_site):
    live = await live_site()
    site = live.test_site
    watcher = await live.connect()
    _, ack = await subscribe(watcher, groups=["*"])
    assert ack["groups"] == ["*"] and ack["last_id"] >= 0
    s = await seed(site)
    admin, ada = s["admin"], s["ada"]
    got = await events_until(watcher, 3)
    assert [e["type"] for e in got] == ["group.created", "thread.created", "article.created"]
    group = (await admin.get("/api/groups/comp.lang.python")).json()["group"]
    assert got[0]["group"] == "comp.lang.python" and got[0]["thread_id"] is None
    assert got[0]["data"]["name"] == group["name"] and got[0]["data"]["charter"] == group["charter"]
    assert got[1]["data"] == {"thread": s["thread"], "article": s["root"]}
    assert got[2]["data"] == s["reply"] and got[2]["thread_id"] == s["thread"]["id"]
    assert [e["id"] for e in got] == sorted(e["id"] for e in got)

    thread_watcher = await live.connect()
    await subscribe(thread_watcher, threads=[s["thread"]["id"]])
    r = await ada.post(f"/api/articles/{s['reply']['id']}/cancel", json={"reason": "oops"})
    cancelled = r.json()["article"]
    for ws in (watcher, thread_watcher):
        [event] = await events_until(ws, 1)
        assert event["type"] == "article.cancelled" and event["data"] == cancelled
        assert event["data"]["status"] == "cancelled"


async def test_each_maintenance_event_type_is_delivered_to_both_sides(live_site):
    live = await live_site()
    site = live.test_site
    s = await seed(site)
    mod = await site.client("marta", "moderator")
    await s["admin"].post("/api/groups", json={"name": "rec.music", "description": "Music"})
    t1, reply = s["thread"]["id"], s["reply"]["id"]
    r = await s["ada"].post("/api/groups/comp.lang.python/threads", json={"subject": "T2", "body": "b"})
    t2 = r.json()["thread"]["id"]
    everything, thread, music = [await live.connect() for _ in range(3)]
    await subscribe(everything, groups=["*"])
    await subscribe(thread, threads=[t1])
    await subscribe(music, groups=["rec.music"])
    answers = {}
    for kind, path, body in [
        ("thread.locked", f"{t1}/lock", {}),
        ("thread.unlocked", f"{t1}/unlock", {}),
        ("thread.archived", f"{t1}/archive", {}),
        ("thread.unarchived", f"{t1}/unarchive", {}),
        ("thread.split", f"{t1}/split", {"article_id": reply, "group": "rec.music", "reason": "r"}),
        ("thread.merged", f"{t2}/merge", {"into_article_id": s["root"]["id"], "reason": "r"}),
        ("thread.moved", f"{t1}/move", {"group": "rec.music", "reason": "r"}),
    ]:
        r = await mod.post(f"/api/threads/{path}", json=body)
        assert r.status_code in (200, 201), r.text
        answers[kind] = r.json()["thread"]
    kinds = list(answers)
    got = await events_until(everything, len(kinds))
    assert [e["type"] for e in got] == kinds
    for event in got:
        assert event["data"]["thread"] == answers[event["type"]]
    assert [e["type"] for e in await events_until(thread, len(kinds))] == kinds
    assert [e["type"] for e in await events_until(music, 2)] == ["thread.split", "thread.moved"]


async def test_subscriptions_route_by_group_and_thread(live_site):
    live = await live_site()
    s = await seed(live.test_site)
    await s["admin"].post("/api/groups", json={"name": "rec.music", "description": "Music"})
    one_thread, one_group, hierarchy = [await live.connect() for _ in range(3)]
    await subscribe(one_thread, threads=[s["thread"]["id"]])
    await subscribe(one_group, groups=["rec.music"])
    await subscribe(hierarchy, groups=["comp.*"])
    r = await s["ada"].post("/api/groups/rec.music/threads", json={"subject": "Folk", "body": "Tunes"})
    music = r.json()["thread"]["id"]
    r = await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": "python"})
    py_reply = r.json()["article"]["id"]
    assert [e["data"]["thread"]["id"] for e in await events_until(one_group, 1)] == [music]
    assert [e["data"]["id"] for e in await events_until(one_thread, 1)] == [py_reply]
    assert [e["data"]["id"] for e in await events_until(hierarchy, 1)] == [py_reply]
    # A later subscribe adds a topic from now on, acknowledged in stream order.
    _, ack = await subscribe(one_thread, groups=["rec.music"])
    assert ack["groups"] == ["rec.music"] and ack["threads"] == []
    r = await s["ada"].post("/api/groups/rec.music/threads", json={"subject": "Jazz", "body": "Tunes"})
    [event] = await events_until(one_thread, 1)
    assert event["data"]["thread"]["subject"] == "Jazz"


async def test_resume_after_disconnect_misses_and_repeats_nothing(live_site):
    live = await live_site()
    s = await seed(live.test_site)
    tid, root = s["thread"]["id"], s["root"]["id"]
    ws = await live.connect()
    await subscribe(ws, threads=[tid])

    async def post(n):
        ids = []
        for i in range(n):
            r = await s["ada"].post(f"/api/articles/{root}/replies", json={"body": f"reply {i}"})
            ids.append(r.json()["article"]["id"])
        return ids

    first = await post(3)
    seen = await events_until(ws, 3)
    assert [e["data"]["id"] for e in seen] == first
    await ws.close()
    missed = await post(4)
    ws = await live.connect()
    replayed, ack = await subscribe(ws, threads=[tid], since=seen[-1]["id"])
    assert [e["data"]["id"] for e in replayed] == missed
    assert ack["last_id"] == replayed[-1]["id"]
    later = await post(2)
    assert [e["data"]["id"] for e in await events_until(ws, 2)] == later

    # Resuming from the very start replays the thread's whole history once.
    again = await live.connect()
    everything, _ = await subscribe(again, threads=[tid], since=0)
    created = [e for e in everything if e["type"] == "article.created"]
    assert [e["data"]["id"] for e in created] == [s["reply"]["id"], *first, *missed, *later]
    assert len({e["id"] for e in everything}) == len(everything)


async def test_reset_when_since_is_older_than_kept(live_site):
    live = await live_site(event_retention_days=1)
    site = live.test_site
    s = await seed(site)
    tid = s["thread"]["id"]
    async with site.db.transaction() as conn:  # age the seed's events past the retention window
        await conn.execute("UPDATE events SET created_at = '2000-01-01T00:00:00.000Z'")
    r = await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": "fresh"})
    fresh = r.json()["article"]
    assert await site.site.hub.prune() == 3
    ws = await live.connect()
    before, ack = await subscribe(ws, threads=[tid], since=1)
    assert [m["type"] for m in before] == ["reset"]
    assert before[0]["last_id"] == ack["last_id"] == 4
    # Streaming goes on after a reset: the client reloads and keeps listening.
    r = await s["ada"].post(f"/api/articles/{fresh['id']}/replies", json={"body": "after"})
    [event] = await events_until(ws, 1)
    assert event["data"] == r.json()["article"]
    # The oldest id still resumable (the last pruned) replays without a reset.
    ok = await live.connect()
    before, _ = await subscribe(ok, threads=[tid], since=3)
    assert [m["id"] for m in before] == [4, 5]
    # An id this database never assigned also resets.
    future = await live.connect()
    before, _ = await subscribe(future, threads=[tid], since=10**9)
    assert [m["type"] for m in before] == ["reset"]


async def test_replay_shows_withdrawn_articles_as_the_api_does(live_site):
    live = await live_site()
    s = await seed(live.test_site)
    r = await s["ada"].post(f"/api/articles/{s['reply']['id']}/cancel", json={})
    notice = r.json()["article"]["body"]
    ws = await live.connect()
    replayed, _ = await subscribe(ws, threads=[s["thread"]["id"]], since=0)
    created = [e for e in replayed if e["type"] == "article.created"]
    assert [e["data"]["id"] for e in created] == [s["reply"]["id"]]
    assert created[0]["data"]["body"] == notice and created[0]["data"]["status"] == "cancelled"
    assert "A reply" not in json.dumps(replayed)


async def test_slow_client_is_cut_off_while_a_fast_one_keeps_up(live_site):
    live = await live_site(live_queue=8)
    s = await seed(live.test_site)
    tid, root = s["thread"]["id"], s["root"]["id"]
    fast = await live.connect()
    # The slow client reads nothing: a tiny receive buffer and a one-message
    # client queue make the server's socket back up after a few messages.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", live.port))
    slow = await live.connect(sock=sock, max_queue=1)
    await subscribe(fast, threads=[tid])
    await subscribe(slow, threads=[tid])
    body = "x" * 60_000
    posted, received = [], []

    async def read_fast():
        while len(received) < 60:
            received.append(await recv(fast))

    reader = asyncio.create_task(read_fast())
    for _ in range(60):
        r = await s["ada"].post(f"/api/articles/{root}/replies", json={"body": body})
        assert r.status_code == 201
        posted.append(r.json()["article"]["id"])
    await asyncio.wait_for(reader, WAIT)
    assert [m["data"]["id"] for m in received] == posted
    # Now the slow client drains its socket: some events in order, then 4008.
    got = []
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            got.append(json.loads(await asyncio.wait_for(slow.recv(), WAIT)))
    assert closed.value.rcvd.code == 4008
    assert [m["data"]["id"] for m in got] == posted[: len(got)] and len(got) < len(posted)
    assert live.test_site.site.hub.subscriber_count == 1
    # It resumes from its last id and gets the rest, each once.
    again = await live.connect()
    rest, _ = await subscribe(again, threads=[tid], since=got[-1]["id"] if got else s["reply"]["id"])
    assert [m["data"]["id"] for m in got + rest] == posted


# Security and limits


async def test_cross_origin_handshake_is_refused(live_site):
    live = await live_site(allowed_origins=("https://client.example",))
    with pytest.raises(InvalidStatus) as refused:
        await live.connect(origin="https://evil.example")
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        await live.connect(origin=f"http://127.0.0.1:{live.port}.evil.example")
    for origin in (f"http://127.0.0.1:{live.port}", "https://client.example", None):
        ws = await live.connect(origin=origin)
        await ws.send('{"type":"ping"}')
        assert await recv(ws) == {"type": "pong"}


async def test_malformed_messages_get_errors_then_a_close(live_site):
    live = await live_site(live_max_errors=3)
    await seed(live.test_site)
    ws = await live.connect()
    await ws.send("not json")
    assert (await recv(ws))["type"] == "error"
    await ws.send(b"\x00binary")
    assert (await recv(ws))["code"] == "invalid"
    await ws.send('{"type":"subscribe","groups":["no.such.group"]}')
    error = await recv(ws)
    assert error["type"] == "error" and error["code"] == "not_found"
    with pytest.raises(ConnectionClosed) as closed:
        await recv(ws)
    assert closed.value.rcvd.code == 1008


async def test_limits_on_size_subscriptions_and_idleness(live_site):
    live = await live_site(
        live_max_message=1000, live_max_subscriptions=3, live_idle_timeout=0.5, live_heartbeat=0.3
    )
    s = await seed(live.test_site)
    big = await live.connect()
    await big.send(json.dumps({"type": "subscribe", "threads": [1] * 400}))
    with pytest.raises(ConnectionClosed) as closed:
        await recv(big)
    assert closed.value.rcvd.code == 1009

    many = await live.connect()
    await many.send(json.dumps({"type": "subscribe", "groups": ["a.*", "b.*", "c.*", "d.*"]}))
    assert (await recv(many))["code"] == "too_large"
    _, ack = await subscribe(many, groups=["a.*", "b.*"])
    await many.send(json.dumps({"type": "subscribe", "threads": [s["thread"]["id"], 2]}))
    replies = [await recv(many), await recv(many)]
    assert {"type": "error", "code": "too_large"}.items() <= [m for m in replies if m["type"] != "heartbeat"][
        0
    ].items()
    # Nothing happened to this connection: the heartbeat carries a safe resume
    # point, at or past the acknowledged one (the hub may since have passed
    # events this connection does not follow).
    beats = [m for m in replies if m["type"] == "heartbeat"]
    assert beats and beats[0]["last_id"] >= ack["last_id"]
    # Following what is already followed costs nothing against the limit.
    await many.send(
        json.dumps({"type": "subscribe", "groups": ["a.*", "b.*"], "threads": [s["thread"]["id"]]})
    )
    again = [m for m in [await recv(many), await recv(many)] if m["type"] != "heartbeat"]
    assert again and again[0]["type"] == "subscribed", again

    idle = await live.connect()
    with pytest.raises(ConnectionClosed) as closed:
        await recv(idle)
    assert closed.value.rcvd.code == 4000


async def test_pruning_removes_only_the_oldest_run(make_site):
    from moot.runtime.hub import oldest_event_id, prune_events
    from moot.store.events import emit

    site = await make_site(event_retention_days=0)  # 0: the hub never prunes by itself
    async with site.db.transaction() as conn:
        for n in range(5):
            await emit(conn, "group.created", group=f"g{n}", thread_id=None, data={})
        # A younger event among old ones (another process's clock): pruning stops at it,
        # so the smallest id kept still says exactly which resumes are possible.
        await conn.execute("UPDATE events SET created_at = '2000-01-01T00:00:00.000Z' WHERE id IN (1, 2, 4)")
    async with site.db.transaction() as conn:
        assert await prune_events(conn, "2001-01-01T00:00:00.000Z", 100) == 2
    async with site.db.read() as conn:
        assert await oldest_event_id(conn) == 3


async def test_heartbeats_come_after_an_interval_of_silence(live_site):
    live = await live_site(live_heartbeat=0.4)
    s = await seed(live.test_site)
    ws = await live.connect()
    _, ack = await subscribe(ws, threads=[s["thread"]["id"]])
    loop = asyncio.get_running_loop()
    start, beats = loop.time(), []
    while len(beats) < 3:
        beats.append((await recv(ws), loop.time()))
    assert all(m == {"type": "heartbeat", "last_id": ack["last_id"]} for m, _ in beats)
    gaps = [b - a for a, b in zip([start] + [t for _, t in beats], [t for _, t in beats], strict=False)]
    assert all(gap < 0.4 + 0.25 for gap in gaps), gaps  # never much longer than the interval
    assert all(gap > 0.3 for gap in gaps[1:]), gaps  # and not at every half-interval tick

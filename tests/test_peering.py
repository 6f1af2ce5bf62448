"""Peering between real Moot nodes (docs/PEERING.md): `moot serve` processes on
loopback, configured with `moot peer`, exchanging articles and cancels with
IHAVE and CHECK/TAKETHIS; readers are nntplib and the JSON API."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hmac
import io
import secrets
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest
import websockets

from tests import inn_support
from tests.live_support import events_until, subscribe
from tests.nntp_support import nntplib
from tests.peering_support import (
    GROUPS,
    WAIT,
    Node,
    eventually,
    raw_session,
    read_block,
    read_line,
    send,
    wire_article,
)
from tests.processes import moot, tls


@pytest.fixture
def line(tmp_path):
    """Three nodes in a line, A - B - C, each pair with its own shared secret
    (all three share one address, so the secret tells the peers apart)."""
    a, b, c = (Node(tmp_path, f"{n}.test").start() for n in "abc")
    try:
        yield a, b, c
    finally:
        for node in (a, b, c):
            node.stop()


def link(x: Node, y: Node, *args: str) -> None:
    secret = secrets.token_hex(12)
    x.peer(y, *args, secret=secret)
    y.peer(x, *args, secret=secret)


def converged(nodes: tuple[Node, ...], expected: int) -> dict | None:
    """The common state when every node holds `expected` articles and they agree."""
    states = [node.state() for node in nodes]
    if sum(len(g) for g in states[0].values()) != expected:
        return None
    return states[0] if all(s == states[0] for s in states) else None


def test_three_nodes_in_a_line_converge_across_restarts(line):
    a, b, c = line
    # Peers added while the servers run: they are picked up without a restart.
    link(a, b)
    link(b, c)

    root_a = a.post("comp.lang.python", "From A", "Posted on A.")
    root_c = c.post("rec.music.folk", "From C", "Posted on C.")
    eventually(lambda: all(n.article(m) for n in (a, b, c) for m in (root_a, root_c)), "the first articles")

    # Replies on every node to articles that came from elsewhere, threaded by References.
    reply_b = b.post("comp.lang.python", "Re: From A", "B answers.", references=root_a)
    reply_c = c.post("comp.lang.python", "Re: From A", "C answers too.", references=root_a)
    reply_a = a.post("rec.music.folk", "Re: From C", "A answers C.", references=root_c)
    state = eventually(lambda: converged((a, b, c), 5), "convergence of five articles")
    assert state["comp.lang.python"][reply_b][0] == root_a
    assert state["comp.lang.python"][reply_c][0] == root_a
    assert state["rec.music.folk"][reply_a][0] == root_c
    on_c = c.article(reply_b)
    assert on_c["parent_id"] == c.article(root_a)["id"] and on_c["author"]["display_name"] == "Ada"

    # Thread states travel too: a lock on A, then an archive on C once C saw the lock.
    a.moderate(root_a, "lock")
    eventually(lambda: all(n.thread_state(root_a) == "locked" for n in (a, b, c)), "the lock everywhere")
    c.moderate(root_a, "archive")
    eventually(lambda: all(n.thread_state(root_a) == "archived" for n in (a, b, c)), "the archive everywhere")

    # C goes down: B keeps what C has not had in its queue, with the error.
    c.stop()
    late_a = a.post("comp.lang.python", "While C is away", "Queued on B for C.")
    cancelled = root_c
    a.cancel(cancelled, "marta")  # a moderator on A withdraws C's article
    eventually(lambda: b.article(late_a) and b.status(cancelled) == "cancelled", "B receiving A's news")
    waiting = eventually(
        lambda: (p := b.peers()["c.test"])["backlog"] >= 2 and p["last_error"] and p, "B's backlog for C"
    )
    assert b.peers()["a.test"]["backlog"] == 0  # never offered back to where it came from
    # B restarts too: its queue for C is in its database and survives.
    b.stop()
    late_b = b.start().post("comp.lang.python", "B is back", "Posted after B restarted.")
    c.start()
    state = eventually(lambda: converged((a, b, c), 7), "convergence after the restarts")
    assert {late_a, late_b} <= set(state["comp.lang.python"])
    assert state["rec.music.folk"][cancelled][2] == "cancelled"
    assert waiting["backlog"] >= 2
    eventually(lambda: all(p["backlog"] == 0 for n in (a, b, c) for p in n.peers().values()), "empty queues")
    # Each article arrived once at each node: nothing was numbered twice.
    with c.reader() as n:
        assert n.group("comp.lang.python")[1] == len(state["comp.lang.python"])


def test_a_ring_converges_under_concurrent_posting(line):
    a, b, c = line
    link(a, b)
    link(b, c)
    link(c, a, "--groups", "comp.*")  # the closing link carries one group only

    def post_many(node: Node) -> list[str]:
        ids = []
        for i in range(6):
            group = GROUPS[i % 2]
            ids.append(node.post(group, f"{node.name} {i}", f"Article {i} from {node.name}."))
        return ids

    with ThreadPoolExecutor(3) as pool:
        posted = [mid for ids in pool.map(post_many, (a, b, c)) for mid in ids]
    state = eventually(lambda: converged((a, b, c), len(posted)), "convergence in the ring")
    assert {mid for g in state.values() for mid in g} == set(posted)
    # Around the ring every article reached every node once, and no queue is left behind.
    eventually(lambda: all(p["backlog"] == 0 for n in (a, b, c) for p in n.peers().values()), "empty queues")
    with a.reader() as n:
        assert n.group("comp.lang.python")[1] == len(state["comp.lang.python"])
        assert n.group("rec.music.folk")[1] == len(state["rec.music.folk"])


def test_peer_list_remove_and_bad_peer_input(tmp_path):
    node = Node(tmp_path, "a.test")
    node.peer("b.test", port=1190, secret="s" * 16)
    short = moot(
        "peer",
        "add",
        "c.test",
        "--host",
        "h",
        "--password-stdin",
        "--db",
        node.db,
        input="short\n",
        check=False,
    )
    assert short.returncode == 2 and "at least" in short.stderr
    node.peer("inn.example.test", "--groups", "comp.*,!comp.private", "--outgoing-only", port=119)
    listed = node.peers()
    assert listed["b.test"]["authenticated"] and listed["b.test"]["direction"] == "both"
    assert listed["inn.example.test"]["groups"] == "comp.*,!comp.private"
    assert "password" not in listed["b.test"]
    for argv, expected in (
        (["peer", "add", "b.test", "--host", "127.0.0.1", "--port", "1190"], "exists"),
        (["peer", "add", "c.test", "--host", "127.0.0.1", "--groups", "comp.[x]"], "wildmat"),
        (["peer", "add", "bad name", "--host", "127.0.0.1"], "Path name"),
        (["peer", "add", "d.test", "--host", "127.0.0.1", "--port", "70000"], "port"),
        (["peer", "remove", "nobody.test"], "no peer"),
    ):
        r = moot(*argv, "--db", node.db, check=False)
        assert r.returncode == 2 and expected in r.stderr
    assert set(node.peers()) == {"b.test", "inn.example.test"}
    moot("peer", "remove", "b.test", "--db", node.db)
    assert set(node.peers()) == {"inn.example.test"}
    # The admin page and JSON show the peers (never their secrets); others are refused.
    node.start()
    try:
        with node.signed_in("root") as admin:
            peers = admin.get("/api/peers").json()["peers"]
            assert [p["name"] for p in peers] == ["inn.example.test"] and "password" not in peers[0]
            html = admin.get("/admin/peers").text
            assert 'id="peer-inn.example.test"' in html and "comp.*,!comp.private" in html
        with node.signed_in("ada") as member:
            assert member.get("/api/peers").status_code == 403
            assert member.get("/admin/peers").status_code == 403
        assert httpx.get(f"{node.url}/api/peers", timeout=10, verify=tls()).status_code == 401
    finally:
        node.stop()


@pytest.fixture
def request_close():
    opened = []
    yield lambda sock: opened.append(sock) or sock
    for sock in opened:
        sock.close()


@pytest.fixture
def pair(tmp_path):
    a, b = Node(tmp_path, "a.test").start(), Node(tmp_path, "b.test").start()
    secret = secrets.token_hex(12)
    b.peer(a, secret=secret)
    try:
        yield a, b, secret
    finally:
        a.stop()
        b.stop()


def test_loops_duplicates_and_strangers_change_nothing(pair, request_close):
    a, b, secret = pair
    mid = b.post("comp.lang.python", "Here first", "Already on B.")
    before = b.state()
    # A has no peer entry for B, so it refuses B's secret (481): the article waits in B's queue.
    refused = eventually(lambda: (p := b.peers()["a.test"])["last_error"] and p, "B's feed to A refused")
    assert refused["backlog"] == 1 and "481" in refused["last_error"]

    # A stranger (no secret; its address is not a peer's) may not feed.
    stranger = request_close(raw_session(b))
    assert send(stranger, f"IHAVE {mid}").startswith("480")
    assert send(stranger, "MODE STREAM").startswith("480")
    assert send(stranger, "CAPABILITIES").startswith("101")
    assert "STREAMING" not in read_block(stranger)
    assert send(stranger, "AUTHINFO USER a.test").startswith("381")
    assert send(stranger, "AUTHINFO PASS not-the-secret").startswith("481")

    peer = request_close(raw_session(b, secret))
    assert send(peer, "MODE STREAM").startswith("203")
    # Duplicates: refused at the offer and after transfer, as often as they come.
    assert send(peer, f"IHAVE {mid}").startswith("435")
    for _ in range(50):
        assert send(peer, f"CHECK {mid}").startswith("438")
    flood = b"".join(
        f"TAKETHIS {mid}\r\n".encode() + wire_article(mid, "comp.lang.python", "a.test!x") for _ in range(50)
    )
    peer.sendall(flood)
    assert all(read_line(peer).startswith("439") for _ in range(50))
    # A loop: an article whose Path already holds B is refused, and not stored.
    looped = "<looped.1@a.test>"
    assert send(peer, f"CHECK {looped}").startswith("238")
    answer = send(
        peer,
        f"TAKETHIS {looped}\r\n".encode() + wire_article(looped, "comp.lang.python", "a.test!b.test!x.test"),
    )
    assert answer.startswith("439") and "Path" in answer
    # Bad articles: no Newsgroups, a group B does not carry, a Message-ID other than offered.
    bad = [
        ("<bad.1@a.test>", wire_article("<bad.1@a.test>", "", "a.test")),
        ("<bad.2@a.test>", wire_article("<bad.2@a.test>", "alt.nowhere", "a.test")),
        ("<bad.3@a.test>", wire_article("<other@a.test>", "comp.lang.python", "a.test")),
    ]
    for bad_id, text in bad:
        assert send(peer, f"IHAVE {bad_id}").startswith("335")
        assert send(peer, text).startswith("437")
    assert send(peer, "CHECK not-a-message-id").startswith("501")
    assert b.state() == before
    assert b.peers()["a.test"]["backlog"] == 1  # nothing more queued for A by any of it
    # A good article over IHAVE is taken once, with B's name prepended to its Path.
    good = "<good.1@a.test>"
    assert send(peer, f"IHAVE {good}").startswith("335")
    assert send(peer, wire_article(good, "comp.lang.python", "a.test!not-for-mail")).startswith("235")
    assert send(peer, f"IHAVE {good}").startswith("435")
    with b.reader() as n:
        _, info = n.head(good)
        path = [line for line in info.lines if line.startswith(b"Path:")]
    assert path == [b"Path: b.test!a.test!not-for-mail"]
    assert set(b.state()["comp.lang.python"]) == set(before["comp.lang.python"]) | {good}
    assert set(GROUPS) == set(before)


def _head(node: Node, message_id: str) -> dict[str, str]:
    """The header fields of an article as `node` serves it over NNTP (HEAD)."""
    with node.reader() as n:
        _, info = n.head(message_id)
    lines = [line.decode() for line in info.lines]
    return dict(line.split(": ", 1) for line in lines if ": " in line and not line[:1].isspace())


def _cancel(message_id: str, target: str, sender: str, key: str) -> bytes:
    """A cancel of `target` as a peer relays it, from `sender`, with a Cancel-Key."""
    text = wire_article(
        message_id,
        "comp.lang.python",
        "a.test!not-for-mail",
        subject=f"cmsg cancel {target}",
        body="Withdrawn.",
        extra=f"Control: cancel {target}\r\nCancel-Key: sha256:{key}\r\n",
    )
    return text.replace(b"Peer Poster <poster@peer.test>", sender.encode())


def test_injection_date_and_cancel_keys(pair, request_close, tmp_path):
    a, b, secret = pair
    posted = b.post("comp.lang.python", "Injected on B", "Posted on B.")
    kept = b.post("comp.lang.python", "Also on B", "Posted on B too.")
    archive = tmp_path / "old.mbox"
    archive.write_text(
        "From old@example.org Mon Jan  1 00:00:00 2001\nFrom: Old <old@example.org>\n"
        "Subject: Archived\nDate: Mon, 01 Jan 2001 00:00:00 +0000\n"
        "Message-ID: <archived.1@example.org>\n\nFrom the archive.\n"
    )
    moot("import", str(archive), "--group", "comp.lang.python", "--db", b.db)
    peer = request_close(raw_session(b, secret))
    arrived = "<arrived.1@a.test>"
    assert send(peer, f"IHAVE {arrived}").startswith("335")
    assert send(peer, wire_article(arrived, "comp.lang.python", "a.test!not-for-mail")).startswith("235")

    # Injection-Date (RFC 5536 §3.2.8) on what was injected here, when it was; not on an
    # imported archive nor on what a peer sent (its Injection-Date was the injecting node's).
    head = _head(b, posted)
    injected = email.utils.parsedate_to_datetime(head["Injection-Date"])
    assert abs((datetime.now(UTC) - injected).total_seconds()) < WAIT
    assert "Injection-Date" not in _head(b, "<archived.1@example.org>")
    assert "Injection-Date" not in _head(b, arrived)
    with b.reader() as n:
        (line,) = n.xhdr("Injection-Date", posted)[1]
        assert str(line).endswith(head["Injection-Date"])
    reader = request_close(raw_session(b))
    assert send(reader, "LIST HEADERS").startswith("215") and "Injection-Date" in read_block(reader)

    # A cancel whose Cancel-Key does not match the article's lock (RFC 8315) is refused,
    # though it names the article's own From, which alone would do without a key.
    author = head["From"]
    assert send(peer, "IHAVE <forged.1@a.test>").startswith("335")
    assert send(peer, _cancel("<forged.1@a.test>", posted, author, "bm90IHRoZSBrZXk=")).startswith("235")
    assert b.status(posted) == "ok"
    # The right key withdraws it, whoever sends it: only this node's secret makes it.
    with sqlite3.connect(b.db) as db:
        (site_secret,) = db.execute("SELECT value FROM settings WHERE key = 'secret_key'").fetchone()
    lock_secret = hmac.digest(site_secret.encode(), b"moot cancel-lock", "sha256")
    key = base64.b64encode(hmac.digest(lock_secret, kept.encode(), "sha256")).decode()
    stranger = "Someone Else <someone@elsewhere.test>"
    cancel_id = "<cancel." + kept[1:]
    assert send(peer, f"IHAVE {cancel_id}").startswith("335")
    assert send(peer, _cancel(cancel_id, kept, stranger, key)).startswith("235")
    assert b.status(kept) == "cancelled"


# -- INN2 ---------------------------------------------------------------------------


async def _live_events(node: Node, group: str, action: Callable[[], object]) -> tuple[object, list[dict]]:
    """Subscribe to `group` on /live, run `action` (on a thread), then the event it caused."""
    ws = await websockets.connect(
        f"ws://127.0.0.1:{node.http}/live", compression=None, ping_interval=None, origin=node.url
    )
    try:
        await subscribe(ws, groups=[group])
        result = await asyncio.to_thread(action)
        return result, await events_until(ws, 1, timeout=WAIT)
    finally:
        await ws.close()


@pytest.mark.xdist_group("inn2")  # one INN2 per machine (inn_support.LOCK): its tests share a worker
def test_inn2_and_moot_exchange_articles_and_cancels(tmp_path):
    reason = inn_support.unavailable()
    if reason:
        pytest.skip(reason)
    inn_port = inn_support.PORT
    node = Node(tmp_path, "moot.test")
    # INN2 is recognised by its address (no shared secret): it feeds through innfeed.
    node.peer(inn_support.PATHHOST, port=inn_port)
    # Moot first: innfeed, started with innd, waits 30 s before retrying a refused connection.
    node.start()
    try:
        with inn_support.inn(GROUPS, feed=(node.name, node.nntp)):
            # Moot -> INN2, offered with CHECK/TAKETHIS; read back from INN2's reader, nnrpd.
            mid = node.post("comp.lang.python", "Moot to INN", "Posted on Moot, read on INN2.")

            def on_inn(message_id: str) -> list[bytes] | None:
                with nntplib.NNTP("127.0.0.1", inn_port, readermode=True, timeout=20) as n:
                    try:
                        return n.article(message_id)[1].lines
                    except nntplib.NNTPTemporaryError:
                        return None

            lines = eventually(lambda: on_inn(mid), "the Moot article on INN2")
            assert b"Posted on Moot, read on INN2." in lines
            assert any(line.startswith(b"Path: inn.example.test!moot.test") for line in lines)
            # Injected here: dated (RFC 5536 §3.2.8) and locked (RFC 8315) as INN2 holds it.
            assert any(line.startswith(b"Injection-Date: ") for line in lines)
            assert any(line.startswith(b"Cancel-Lock: sha256:") for line in lines)
            assert node.peers()[inn_support.PATHHOST]["backlog"] == 0

            # INN2 -> Moot: posted to INN2's nnrpd, fed by innfeed, seen on /live, JSON and the page.
            inn_mid = f"<inn.{secrets.token_hex(6)}@example.test>"
            text = (
                f"From: Inn Poster <poster@example.test>\r\nNewsgroups: rec.music.folk\r\n"
                f"Subject: INN to Moot\r\nMessage-ID: {inn_mid}\r\n\r\nPosted on INN2.\r\n"
            ).encode()

            def arrived() -> dict | None:
                return node.article(inn_mid)

            def post_on_inn() -> dict:
                with nntplib.NNTP("127.0.0.1", inn_port, readermode=True, timeout=20) as n:
                    n.post(io.BytesIO(text))
                return eventually(arrived, "the INN2 article on Moot")

            article, (event,) = asyncio.run(_live_events(node, "rec.music.folk", post_on_inn))
            assert article["body"] == "Posted on INN2." and article["author"]["display_name"] == "Inn Poster"
            assert event["type"] == "thread.created" and event["data"]["article"]["message_id"] == inn_mid
            page = httpx.get(f"{node.url}/g/rec.music.folk", timeout=10, verify=tls()).text
            assert "INN to Moot" in page

            # Cancels both ways: Moot's author withdraws, INN2 drops it (at its default
            # `docancels: require-auth`, by the Cancel-Key); INN2's poster cancels, Moot withdraws.
            node.cancel(mid, "ada")
            eventually(lambda: on_inn(mid) is None, "the Moot cancel applied on INN2")
            cancel = (
                f"From: Inn Poster <poster@example.test>\r\nNewsgroups: rec.music.folk\r\n"
                f"Subject: cmsg cancel {inn_mid}\r\nControl: cancel {inn_mid}\r\n\r\n"
                "Withdrawn.\r\n"
            ).encode()
            with nntplib.NNTP("127.0.0.1", inn_port, readermode=True, timeout=20) as n:
                n.post(io.BytesIO(cancel))

            def withdrawn() -> bool:
                return node.status(inn_mid) == "cancelled"

            eventually(withdrawn, "the INN2 cancel applied on Moot")
    finally:
        node.stop()


# -- structural actions: one home node per group ------------------------------------


def _modlog(node: Node, group: str) -> list[tuple]:
    """(action, who) of a group's public log entries, oldest first."""
    entries = httpx.get(f"{node.url}/api/modlog", params={"group": group}, timeout=10, verify=tls()).json()[
        "entries"
    ]
    return [(e["action"], e["data"].get("by"), e["data"].get("peer")) for e in reversed(entries)]


def test_splits_merges_moves_and_undos_on_the_home_node_reach_every_node(line):
    a, b, c = line
    link(a, b)
    link(b, c)
    for node in (b, c):
        for group in GROUPS:
            node.set_home(group, a)
    assert moot("group", "home", GROUPS[0], "--db", b.db).stdout.strip() == f"{GROUPS[0]}: home node a.test"

    root = a.post(GROUPS[0], "Trains", "About trains.")
    eventually(lambda: b.article(root), "the root on B")
    side = b.post(GROUPS[0], "Re: Trains", "And boats?", references=root)
    eventually(lambda: c.article(side), "B's reply on C")
    deep = c.post(GROUPS[0], "Re: Trains", "Boats, yes.", references=f"{root} {side}")
    other = a.post(GROUPS[0], "Re: Trains", "Back to trains.", references=root)
    eventually(lambda: converged((a, b, c), 4), "four articles everywhere")

    # Only the home node splits, merges and moves; elsewhere a 409 names it, and the form says so.
    with b.signed_in("marta") as mod:
        on_b = b.article(side)
        r = mod.post(
            f"/api/threads/{on_b['thread_id']}/split", json={"article_id": on_b["id"], "reason": "x"}
        )
        assert r.status_code == 409
        assert r.json()["error"] == {
            "code": "not_home",
            "message": r.json()["error"]["message"],
            "group": GROUPS[0],
            "home": "a.test",
        }
        assert "a.test" in r.json()["error"]["message"]
        form = mod.get(f"/t/{on_b['thread_id']}/moderate/split", params={"article": on_b["id"]}).text
        assert 'id="home-note"' in form and "<strong>a.test</strong>" in form and 'name="reason"' not in form
        assert mod.get(f"/api/groups/{GROUPS[0]}").json()["home"] == {"node": "a.test", "here": False}
        assert "home node a.test</span>" in mod.get(f"/g/{GROUPS[0]}").text
    assert b.state() == a.state()

    # A split on A: every node makes the same new thread and the same notice, by Message-ID.
    with a.signed_in("marta") as mod:
        on_a = a.article(side)
        split = mod.post(
            f"/api/threads/{on_a['thread_id']}/split",
            json={"article_id": on_a["id"], "subject": "Boats", "reason": "a topic of its own"},
        ).json()
        assert mod.get(f"/api/groups/{GROUPS[0]}").json()["home"] == {"node": "a.test", "here": True}
    notice = split["notice"]
    expected = {side: (GROUPS[0], "Boats", side, None), deep: (GROUPS[0], "Boats", side, side)}

    def split_everywhere() -> bool:
        return all(n.tree(m) == t for n in (b, c) for m, t in expected.items())

    eventually(split_everywhere, "the split on B and C")
    with b.signed_in("ada") as ada:  # B's Ada started the new thread: told, as for a local split
        told = ada.get("/api/notifications").json()["notifications"]
        assert [(n["kind"], n["thread"]["subject"]) for n in told] == [("moderation", "Trains")]
    for node in (b, c):
        copy = node.article(notice["message_id"])
        assert (copy["subject"], copy["body"], copy["status"]) == (
            notice["subject"],
            notice["body"],
            "notice",
        )
        assert node.tree(notice["message_id"]) == (GROUPS[0], "Trains", root, root)

    # C is away while A merges the new thread back, undoes that and moves it: C catches up in order.
    c.stop()
    with a.signed_in("marta") as mod:
        boats = split["thread"]["id"]
        into = a.article(other)["id"]
        merged = mod.post(
            f"/api/threads/{boats}/merge", json={"into_article_id": into, "reason": "same"}
        ).json()
        undone = mod.post(f"/api/modlog/{merged['entry']['id']}/undo", json={"reason": "it was not"})
        assert undone.status_code == 200, undone.text
        moved = mod.post(f"/api/threads/{boats}/move", json={"group": GROUPS[1], "reason": "music"})
        assert moved.status_code == 200, moved.text
    expected = {side: (GROUPS[1], "Boats", side, None), deep: (GROUPS[1], "Boats", side, side)}
    c.start()

    def moved_everywhere() -> bool:
        return all(n.tree(m) == t for n in (a, b, c) for m, t in expected.items())

    eventually(moved_everywhere, "the merge, undo and move on B and C")
    assert a.state() == b.state() == c.state()
    merge_notice = merged["notice"]["message_id"]
    assert all(n.article(merge_notice) is None for n in (a, b, c))  # the undo removed it everywhere
    log_a = _modlog(a, GROUPS[0])
    assert [entry[0] for entry in log_a][-4:] == ["split", "merge", "undo", "move"]
    for node in (b, c):
        assert _modlog(node, GROUPS[0])[-4:] == [
            (x, "Marta", "a.test") for x in ("split", "merge", "undo", "move")
        ]
    page = httpx.get(f"{c.url}/modlog", params={"group": GROUPS[0]}, timeout=10, verify=tls()).text
    assert "by Marta on a.test" in page
    with c.reader() as n:  # NNTP numbering on C: the moved articles are numbered in their new group
        _, count, _, _, _ = n.group(GROUPS[1])
        assert count == 2


def test_group_home_command_and_its_errors(tmp_path):
    node = Node(tmp_path, "b.test")
    assert moot("group", "home", GROUPS[0], "--db", node.db).stdout.strip().endswith("(this node)")
    moot("group", "home", GROUPS[0], "a.test", "--reason", "A keeps the threads", "--db", node.db)
    assert (
        moot("group", "home", GROUPS[0], "--db", node.db).stdout.strip() == f"{GROUPS[0]}: home node a.test"
    )
    for argv, expected in (
        (["group", "home", "alt.nowhere", "a.test"], "no group"),
        (["group", "home", GROUPS[0], "not a name"], "Path name"),
        (["group", "home", GROUPS[0], "a" * 81], "Path name"),
    ):
        r = moot(*argv, "--db", node.db, check=False)
        assert r.returncode == 2 and expected in r.stderr, r.stderr
    assert (
        moot("group", "home", GROUPS[0], "--db", node.db).stdout.strip() == f"{GROUPS[0]}: home node a.test"
    )
    # The change is in the public log, by the site, with its reason.
    node.start()
    try:
        entry = httpx.get(f"{node.url}/api/modlog", timeout=10, verify=tls()).json()["entries"][0]
        assert (entry["action"], entry["target"], entry["reason"]) == (
            "home",
            "a.test",
            "A keeps the threads",
        )
        assert entry["data"] == {"from": None, "to": "a.test"}
        assert (
            "Made a.test the home node of" in httpx.get(f"{node.url}/modlog", timeout=10, verify=tls()).text
        )
    finally:
        node.stop()


def test_an_action_streamed_before_its_articles_waits_for_them(pair, request_close):
    a, b, secret = pair
    b.set_home(GROUPS[0], a)
    now = email.utils.format_datetime(datetime.now(UTC))
    root, reply, deeper = "<root.1@a.test>", "<reply.1@a.test>", "<deeper.1@a.test>"
    action = "<x-moot-action.1@a.test>"
    control = wire_article(
        action,
        GROUPS[0],
        "a.test!not-for-mail",
        subject="cmsg x-moot-action split",
        body=f"Article: {reply}\r\nSubject: Split off\r\nGroup: {GROUPS[0]}\r\nBy: Marta\r\nReason: its own topic",
        extra="Control: x-moot-action split\r\nX-Moot-Sequence: 1\r\nContent-Type: text/plain; charset=utf-8\r\n",
        date=now,
    )
    peer = request_close(raw_session(b, secret))
    assert send(peer, "MODE STREAM").startswith("203")
    # The action, then a reply to a reply, the reply, and last their root: each is taken (239),
    # never "try later", and held until what it follows or acts on has arrived.
    offers = [
        (action, control),
        (
            deeper,
            wire_article(
                deeper, GROUPS[0], "a.test!not-for-mail", extra=f"References: {root} {reply}\r\n", date=now
            ),
        ),
        (
            reply,
            wire_article(reply, GROUPS[0], "a.test!not-for-mail", extra=f"References: {root}\r\n", date=now),
        ),
    ]
    for mid, text in offers:
        assert send(peer, f"TAKETHIS {mid}\r\n".encode() + text).startswith("239")
    assert b.article(reply) is None and b.article(deeper) is None
    assert send(peer, f"CHECK {deeper}").startswith("438")  # held is here: not wanted again
    text = wire_article(root, GROUPS[0], "a.test!not-for-mail", subject="Root", date=now)
    assert send(peer, f"TAKETHIS {root}\r\n".encode() + text).startswith("239")
    assert b.tree(reply) == (GROUPS[0], "Split off", reply, None)
    assert b.tree(deeper) == (GROUPS[0], "Split off", reply, reply)
    assert b.tree(f"<notice.{action[1:]}") == (GROUPS[0], "Root", root, root)
    assert _modlog(b, GROUPS[0])[-1] == ("split", "Marta", "a.test")
    # The same action again is a duplicate and changes nothing.
    assert send(peer, f"TAKETHIS {action}\r\n".encode() + control).startswith("439")

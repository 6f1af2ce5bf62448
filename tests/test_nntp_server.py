"""NNTP end to end: a real `moot serve` process, Python's nntplib (and raw
sockets for what nntplib will not send) over real loopback connections."""

from __future__ import annotations

import asyncio
import io
import socket
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import websockets

from moot.articles import posting
from moot.people import accounts
from moot.store.db import Database
from tests.conftest import PASSWORD
from tests.live_support import events_until, subscribe
from tests.nntp_support import nntplib, read_reply, serve
from tests.processes import stop_process, tls


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = serve(tmp_path_factory.mktemp("nntp"))
    yield running
    stop_process(running.proc)


def test_reading_with_nntplib(server):
    with server.reader() as n:
        assert n.getwelcome().startswith("200 ")
        caps = n.getcapabilities()
        assert caps["VERSION"] == ["2"] and "READER" in caps and "OVER" in caps and "NEWNEWS" in caps
        assert caps["AUTHINFO"] == ["USER"]
        _, listed = n.list()
        active = {g.group: g for g in listed}
        assert set(active) >= {"comp.lang.python", "comp.lang.c", "rec.music.folk", "news.readonly"}
        assert active["news.readonly"].flag == "n" and active["comp.lang.python"].flag == "y"
        _, some = n.list("comp.*")
        assert {g.group for g in some} >= {"comp.lang.python", "comp.lang.c"}
        assert all(g.group.startswith("comp.") for g in some)
        assert n.description("comp.lang.python") == "Python, the language"
        assert n.descriptions("rec.*")[1] == {"rec.music.folk": "Folk music"}
        _, count, first, last, name = n.group("comp.lang.python")
        assert (first, last, name) == (1, 2, "comp.lang.python") and count == 2
        _, overviews = n.over((1, 2))
        (n1, o1), (n2, o2) = overviews[:2]
        assert (n1, n2) == (1, 2)
        assert o1["subject"] == "Hello" and o1["from"] == "Ada <ada@test.moot>"
        assert nntplib.decode_header(o2["subject"]) == "Re: Héllo"
        assert o2["references"] == o1["message-id"]
        assert o2["xref"] == "test.moot comp.lang.python:2"
        assert int(o1[":lines"]) == 2 and int(o1[":bytes"]) > 100
        _, info = n.article(1)
        assert info.number == 1 and info.message_id == o1["message-id"]
        head = b"\n".join(info.lines[: info.lines.index(b"")])
        assert b"Content-Type: text/plain; charset=utf-8" in head and b"Lines: 2" in head
        assert info.lines[info.lines.index(b"") + 1 :] == [b"First post", b".starts with a dot"]
        _, info = n.body(o2["message-id"])
        assert info.lines == ["A reply from Märta".encode()]
        _, info = n.head(2)
        assert any(line.startswith(b"Subject: =?utf-8?") for line in info.lines)
        assert n.stat(1)[1:] == (1, o1["message-id"])
        assert n.next()[1] == 2
        assert n.last()[1] == 1
        _, numbers = n.xhdr("subject", "1-")
        assert numbers[0] == ("1", "Hello")
        assert isinstance(n.date()[1], datetime)
        assert "LISTGROUP" in "".join(n.help()[1])
        with pytest.raises(nntplib.NNTPTemporaryError, match="423"):
            n.article(999)
        with pytest.raises(nntplib.NNTPTemporaryError, match="430"):
            n.article("<missing@nowhere>")
        with pytest.raises(nntplib.NNTPTemporaryError, match="411"):
            n.group("no.such.group")


def test_newnews_and_newgroups_since_a_date(server):
    with server.reader() as n:
        since = datetime.now(UTC) - timedelta(hours=1)
        _, ids = n.newnews("comp.lang.*", since)
        assert len(ids) >= 2
        _, ids = n.newnews("rec.*", since)
        assert ids == []
        _, ids = n.newnews("comp.*", datetime.now(UTC) + timedelta(hours=1))
        assert ids == []
        _, new = n.newgroups(since)
        assert {g.group for g in new} >= {"comp.lang.python", "rec.music.folk"}


def test_listgroup_ranges_and_hdr(server):
    with server.reader() as n:
        resp = n._shortcmd("GROUP comp.lang.python")
        assert resp.startswith("211")
        resp, lines = n._longcmdstring("LISTGROUP comp.lang.python 2-")
        assert resp.startswith("211") and lines[0] == "2"
        resp, lines = n._longcmdstring("HDR Message-ID 1-1")
        assert resp.startswith("225") and lines[0].startswith("1 <")
        resp, lines = n._longcmdstring("LIST OVERVIEW.FMT")
        assert lines[:2] == ["Subject:", "From:"]
        resp, lines = n._longcmdstring("LIST ACTIVE.TIMES comp.lang.c")
        assert len(lines) == 1 and lines[0].startswith("comp.lang.c ")


def test_posting_needs_authinfo_and_goes_through_the_domain(server):
    new = b"Newsgroups: rec.music.folk\r\nSubject: A tune\r\nFrom: x@example.org\r\n\r\nFiddle away.\r\n"
    with server.reader() as n, pytest.raises(nntplib.NNTPTemporaryError, match="480"):
        n.post(new)
    with pytest.raises(nntplib.NNTPTemporaryError, match="481"):
        server.reader(user="ada", password="not the password")
    with server.poster() as n:
        assert "AUTHINFO" not in n.getcapabilities()
        assert n.post(new).startswith("240")
        _, count, first, last, _ = n.group("rec.music.folk")
        _, info = n.article(last)
        root_id = info.message_id
        followup = (
            f"Newsgroups: rec.music.folk\r\nSubject: Re: A tune\r\nReferences: {root_id}\r\n"
            "Message-ID: <tune.reply@client.example>\r\n\r\n> Fiddle away.\r\nAnd a reel.\r\n"
        )
        assert n.post(followup.encode()).startswith("240")
        with pytest.raises(nntplib.NNTPTemporaryError, match="441.*in use"):
            n.post(followup.encode())
        with pytest.raises(nntplib.NNTPTemporaryError, match="441.*cross-posting"):
            n.post(b"Newsgroups: rec.music.folk,comp.lang.c\r\nSubject: s\r\n\r\nx\r\n")
        with pytest.raises(nntplib.NNTPTemporaryError, match="441.*read-only"):
            n.post(b"Newsgroups: news.readonly\r\nSubject: s\r\n\r\nx\r\n")
        with pytest.raises(nntplib.NNTPTemporaryError, match="441.*no group"):
            n.post(b"Newsgroups: no.such.group\r\nSubject: s\r\n\r\nx\r\n")
    reply = httpx.get(f"{server.url}/api/articles/<tune.reply@client.example>", verify=tls()).json()[
        "article"
    ]
    parent = httpx.get(f"{server.url}/api/articles/{root_id}", verify=tls()).json()["article"]
    assert reply["parent_id"] == parent["id"] and reply["body"] == "> Fiddle away.\nAnd a reel."
    assert reply["author"]["username"] == "ada"


def test_robustness_on_raw_sockets(server):
    sock = server.raw()
    sock.sendall(b"DATE\r\nGROUP comp.lang.python\r\nSTAT 1\r\nNOPE\r\n")  # pipelined
    replies = b""
    while replies.count(b"\r\n") < 4:
        replies += sock.recv(65536)
    assert [r[:3] for r in replies.split(b"\r\n")[:4]] == [b"111", b"211", b"223", b"500"]
    sock.sendall(b"X" * 600 + b"\r\n")
    assert read_reply(sock).startswith(b"501 ")
    sock.sendall(bytes(range(256)) * 4 + b"\r\n")
    assert read_reply(sock)[:3] in (b"500", b"501")
    for byte in b"DATE\r\n":  # a very slow client
        sock.sendall(bytes([byte]))
        time.sleep(0.01)
    assert read_reply(sock).startswith(b"111 ")
    sock.shutdown(socket.SHUT_WR)  # half-closed: the server answers nothing more and closes
    assert sock.recv(100) == b""
    sock.close()
    with server.reader() as n:  # and it is still serving
        assert n.group("comp.lang.python")[0].startswith("211")


def test_connection_limits_and_idle_timeout(tmp_path):
    running = serve(tmp_path, nntp_max_per_address=2, nntp_idle_timeout=1)
    try:
        first, second = running.raw(), running.raw()
        third = socket.create_connection(("127.0.0.1", running.nntp), timeout=20)
        assert read_reply(third).startswith(b"400 ")
        assert third.recv(100) == b""
        third.close()
        for sock in (first, second):  # silent for the idle timeout (1 s): each is told, then closed
            assert read_reply(sock).startswith(b"400 idle")
            assert sock.recv(100) == b""
            sock.close()
        with running.reader() as n:  # the slots were freed
            assert n.date()
    finally:
        stop_process(running.proc)


def test_post_size_limit_stores_nothing(server):
    with server.poster() as n:
        _, before, _, last, _ = n.group("comp.lang.c")
        big = b"Newsgroups: comp.lang.c\r\nSubject: big\r\n\r\n" + (b"y" * 1000 + b"\r\n") * 300
        with pytest.raises(nntplib.NNTPTemporaryError, match="441.*larger than"):
            n.post(io.BytesIO(big))
        assert n.group("comp.lang.c")[3] == last


async def test_an_nntp_post_reaches_a_live_subscriber(server):
    ws = await websockets.connect(
        f"ws://127.0.0.1:{server.http}/live", compression=None, ping_interval=None, origin=server.url
    )
    try:
        await subscribe(ws, groups=["comp.lang.c"])
        text = b"Newsgroups: comp.lang.c\r\nSubject: Pointers\r\n\r\nLive over NNTP.\r\n"

        def post() -> None:
            with server.poster() as n:
                n.post(text)

        await asyncio.to_thread(post)
        (event,) = await events_until(ws, 1)
        assert event["type"] == "thread.created"
        assert event["data"]["article"]["body"] == "Live over NNTP."
    finally:
        await ws.close()


async def _post_from_another_process(db_path: str, group: str) -> None:
    """An article committed by a writer the server does not own (as another
    `moot` process sharing the file would): only the file tells the server."""
    db = await Database(db_path, read_connections=1).open()
    try:
        async with db.transaction() as conn:
            ada = await accounts.get_user(conn, "ada")
            await posting.submit(
                conn, "test.moot", ada, posting.Submission(body="from elsewhere", subject="Far", group=group)
            )
    finally:
        await db.close()


def test_group_counts_follow_posts_on_other_connections_and_from_other_processes(server):
    """GROUP answers from memory, never stale: a post on another connection
    shows in the very next GROUP; an article another process commits shows
    within the live hub's bound (live_poll_interval; polled with a deadline)."""
    with server.reader() as reader, server.poster() as poster:
        _, count, first, last, _ = reader.group("comp.lang.c")
        assert reader.group("comp.lang.c")[1:4] == (count, first, last)  # the same, from memory
        assert poster.post(b"Newsgroups: comp.lang.c\r\nSubject: Counted\r\n\r\none\r\n").startswith("240")
        _, now, _, now_last, _ = reader.group("comp.lang.c")
        assert (now, now_last) == (count + 1, last + 1)
        asyncio.run(_post_from_another_process(server.db_path, "comp.lang.c"))
        deadline = time.monotonic() + 10
        while reader.group("comp.lang.c")[1] != count + 2:
            assert time.monotonic() < deadline, "GROUP never saw the other process's article"
            time.sleep(0.02)
        assert reader.group("comp.lang.c")[3] == last + 2


async def test_a_web_split_is_visible_to_an_nntp_client_at_once(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=20, verify=tls()) as web:
        r = await web.post("/api/login", json={"username": "marta", "password": PASSWORD})
        assert r.status_code == 200
        r = await web.post("/api/groups/comp.lang.python/threads", json={"subject": "Long", "body": "root"})
        thread = r.json()["thread"]["id"]
        parent = r.json()["article"]["id"]
        chain = []
        for body in ("one", "two", "three"):
            r = await web.post(f"/api/articles/{parent}/replies", json={"body": body})
            parent = r.json()["article"]["id"]
            chain.append(r.json()["article"])
        r = await web.post(
            f"/api/threads/{thread}/split",
            json={"article_id": chain[1]["id"], "reason": "drift", "group": "comp.lang.c"},
        )
        assert r.status_code == 201, r.text
        notice = r.json()["notice"]

    def read() -> None:
        with server.reader() as n:
            nums = [int(x) for x in n._longcmdstring("LISTGROUP comp.lang.python")[1]]
            assert chain[0]["number"] in nums and notice["number"] in nums
            assert chain[1]["number"] not in nums and chain[2]["number"] not in nums  # the gaps
            _, info = n.article(notice["number"])
            assert any(b"moved to the thread" in line for line in info.lines)
            _, info = n.head(chain[2]["message_id"])
            xref = next(line for line in info.lines if line.startswith(b"Xref:"))
            assert xref.startswith(b"Xref: test.moot comp.lang.c:")
            _, count, first, last, _ = n.group("comp.lang.c")
            _, overviews = n.over((first, last))
            moved = {o["message-id"]: o for _, o in overviews}
            assert chain[1]["message_id"] in moved and moved[chain[1]["message_id"]]["references"] == ""
            # Its path in the tree it has now, not the stored chain from the old root.
            assert moved[chain[2]["message_id"]]["references"] == chain[1]["message_id"]

    await asyncio.to_thread(read)


def test_split_off_replies_are_served_with_their_path_in_the_new_thread(server):
    """After a split, the split-off replies' References begin at the new root
    (never naming the old thread) in OVER and ARTICLE by number (the encoded
    blocks, filled before the split) and in OVER, HDR, XHDR and HEAD by
    Message-ID; undoing the split serves the old chains again."""
    with httpx.Client(base_url=server.url, timeout=20, verify=tls()) as web:
        assert web.post("/api/login", json={"username": "marta", "password": PASSWORD}).status_code == 200
        r = web.post("/api/groups/rec.music.folk/threads", json={"subject": "Tunes", "body": "root"})
        thread, parent = r.json()["thread"]["id"], r.json()["article"]
        chain = [parent]
        for body in ("one", "two", "three", "four"):
            parent = web.post(f"/api/articles/{parent['id']}/replies", json={"body": body}).json()["article"]
            chain.append(parent)
        mids = [a["message_id"] for a in chain]
        history = {mid: " ".join(mids[:i]) for i, mid in enumerate(mids)}

        def served(n: nntplib.NNTP) -> list[dict[str, str]]:
            """References of each article of the chain, on every path."""
            _, _, first, last, _ = n.group("rec.music.folk")
            fast = {o["message-id"]: o["references"] for _, o in n.over((first, last))[1]}
            numbered = {}
            for a in chain:
                head = n.article(a["number"])[1].lines
                numbered[a["message_id"]] = _references(head[: head.index(b"")])
            by_id = {mid: n.over(mid)[1][0][1]["references"] for mid in mids}
            heads = {mid: _references(n.head(mid)[1].lines) for mid in mids}
            hdr = dict(n.xhdr("References", f"{first}-{last}")[1])
            # XHDR says "(none)" for a header an article lacks, HDR an empty value.
            xhdr = {o: hdr[str(a["number"])].replace("(none)", "") for o, a in zip(mids, chain, strict=True)}
            hdr_ids = {mid: n._longcmdstring(f"HDR References {mid}")[1][0].partition(" ")[2] for mid in mids}
            return [
                {mid: path[mid] for mid in mids} for path in (fast, numbered, by_id, heads, xhdr, hdr_ids)
            ]

        with server.reader() as n:
            assert served(n) == [history] * 6  # and the blocks now hold the chains
            r = web.post(
                f"/api/threads/{thread}/split",
                json={"article_id": chain[2]["id"], "reason": "a tune of its own"},
            )
            assert r.status_code == 201, r.text
            entry = r.json()["entry"]["id"]
            split = {
                **{mid: history[mid] for mid in mids[:2]},
                **{mid: " ".join(mids[2:i]) for i, mid in enumerate(mids) if i >= 2},
            }
            assert split[mids[4]] == f"{mids[2]} {mids[3]}"
            assert served(n) == [split] * 6
            r = web.post(f"/api/modlog/{entry}/undo", json={"reason": "it belongs there"})
            assert r.status_code == 200, r.text
            assert served(n) == [history] * 6


def _references(head: list[bytes]) -> str:
    """The unfolded References value of a header block ('' when it has none)."""
    value, inside = [], False
    for line in head:
        if line[:1] in (b" ", b"\t") and inside:
            value.append(line.strip().decode())
            continue
        inside = line.lower().startswith(b"references:")
        if inside:
            value.append(line.split(b":", 1)[1].strip().decode())
    return " ".join(value)

"""Moderated groups and article states between two real Moot nodes (`moot
serve` processes peering over NNTP, docs/PEERING.md): a peer's article for a
moderated group without Approved is refused as INN does (437 / 439
"unapproved"), one with Approved is stored with it; a banned origin or
address is refused; an approved submission reaches the peer carrying
Approved; a hidden article sends nothing while hidden (one hidden before it
left goes out when a moderator keeps it), and its removal is a cancel the
peer applies."""

from __future__ import annotations

import secrets
import sqlite3
from urllib.parse import quote

import pytest

from moot.store import clock
from tests.peering_support import Node, eventually, raw_session, send, wire_article

MODERATED = "rec.music.folk"
OPEN = "comp.lang.python"


@pytest.fixture
def nodes(tmp_path):
    """A and B peering both ways; on A two spam reports hide an article."""
    a = Node(tmp_path, "a.test").start(report_threshold=2)
    b = Node(tmp_path, "b.test").start()
    secret = secrets.token_hex(12)
    a.peer(b, secret=secret)
    b.peer(a, secret=secret)
    for node in (a, b):
        with node.signed_in("root") as admin:
            r = admin.put(f"/api/groups/{MODERATED}/policy", json={"status": "m"})
            assert r.status_code == 200, r.text
    try:
        yield a, b, secret
    finally:
        a.stop()
        b.stop()


def ban(node: Node, author: str) -> None:
    """A ban from MODERATED as bans.ban writes it, into the node's database."""
    conn = sqlite3.connect(node.db, timeout=30)
    try:
        with conn:
            conn.execute(
                "INSERT INTO bans (group_id, author, until, reason, created_at)"
                " SELECT id, ?, '2999-01-01T00:00:00.000000Z', 'spam feed', ? FROM groups WHERE name = ?",
                (author, clock.now(), MODERATED),
            )
    finally:
        conn.close()


def head(node: Node, message_id: str) -> list[bytes]:
    with node.reader() as n:
        return n.head(message_id)[1].lines


def test_a_peers_article_for_a_moderated_group_needs_approved_and_an_unbanned_author(nodes):
    _, b, secret = nodes
    sock = raw_session(b, secret)
    try:
        unapproved = "<unapproved.1@x.test>"
        assert send(sock, f"IHAVE {unapproved}").startswith("335")
        answer = send(sock, wire_article(unapproved, MODERATED, "x.test!not-for-mail"))
        assert answer.startswith("437") and "unapproved" in answer.lower()
        assert send(sock, "MODE STREAM").startswith("203")
        answer = send(
            sock, f"TAKETHIS {unapproved}\r\n".encode() + wire_article(unapproved, MODERATED, "x.test")
        )
        assert answer.startswith("439") and "unapproved" in answer.lower()
        assert b.article(unapproved) is None
        with b.signed_in("marta") as marta:
            assert marta.get(f"/api/groups/{MODERATED}/queue").json()["items"] == []  # not queued

        approved = "<approved.1@x.test>"
        text = wire_article(
            approved, MODERATED, "x.test!not-for-mail", extra="Approved: Moderator <mod@x.test>\r\n"
        )
        assert send(sock, f"TAKETHIS {approved}\r\n".encode() + text).startswith("239")
        article = b.article(approved)
        assert article["approved"] == "Moderator <mod@x.test>"
        assert b"Approved: Moderator <mod@x.test>" in head(b, approved)
        conn = sqlite3.connect(b.db)
        try:
            channel = conn.execute(
                "SELECT channel FROM articles WHERE message_id = ?", (approved,)
            ).fetchone()
        finally:
            conn.close()
        assert channel == ("peer",)

        # A banned origin (the Path's injecting node) or From address is refused, approved or not.
        ban(b, "peer:spam.example")
        ban(b, "mail:poster@peer.test")
        for mid, path, sender in [
            ("<banned.1@x.test>", "x.test!spam.example!not-for-mail", "Someone <someone@ok.test>"),
            ("<banned.2@x.test>", "x.test!not-for-mail", None),
        ]:
            text = wire_article(mid, MODERATED, path, extra="Approved: mod@x.test\r\n")
            if sender:
                text = text.replace(b"Peer Poster <poster@peer.test>", sender.encode())
            answer = send(sock, f"TAKETHIS {mid}\r\n".encode() + text)
            assert answer.startswith("439") and "banned" in answer, answer
            assert b.article(mid) is None
        # Elsewhere the same author is welcome.
        welcome = "<welcome.1@x.test>"
        assert send(
            sock, f"TAKETHIS {welcome}\r\n".encode() + wire_article(welcome, OPEN, "x.test")
        ).startswith("239")
    finally:
        sock.close()


def test_approved_hidden_and_removed_articles_as_the_peer_sees_them(nodes):
    a, b, _ = nodes
    # A member's submission is held on A (nothing sent), then approved: B gets it with Approved.
    with a.signed_in("ada") as ada:
        r = ada.post(f"/api/groups/{MODERATED}/threads", json={"subject": "Session tunes", "body": "Reels."})
        assert r.status_code == 202, r.text
        held = r.json()["held"]
    assert a.peers()["b.test"]["backlog"] == 0
    with a.signed_in("marta") as marta:
        r = marta.post(f"/api/groups/{MODERATED}/queue/{held['id']}/approve", json={})
        assert r.status_code == 200, r.text
    mid = held["message_id"]
    article = eventually(lambda: b.article(mid), "the approved article on B")
    assert article["approved"] == "Marta"
    assert b"Approved: Marta" in head(b, mid)

    # Sent, then hidden on A: nothing new goes to B; removed: B applies the cancel.
    shown = a.post(OPEN, "Cheap pills", "Buy now.")
    eventually(lambda: b.article(shown), "the article on B")
    report(a, shown)
    assert a.article(shown)["status"] == "hidden"
    assert a.peers()["b.test"]["backlog"] == 0
    assert b.status(shown) == "ok"
    decide(a, OPEN, "reject")
    eventually(lambda: b.status(shown) == "cancelled", "the cancel applied on B")

    # Hidden before it left: not sent while hidden, sent once a moderator keeps it.
    b.stop()
    early = a.post(OPEN, "Looks like spam", "But is not.")
    report(a, early)
    b.start()
    eventually(lambda: a.peers()["b.test"]["backlog"] == 0, "A's queue for B drained")
    assert b.article(early) is None
    decide(a, OPEN, "approve")
    assert eventually(lambda: b.article(early), "the kept article on B")["status"] == "ok"


def report(node: Node, message_id: str) -> None:
    """Two spam reports: the node's threshold, so the article is hidden."""
    for user in ("marta", "root"):
        with node.signed_in(user) as client:
            r = client.post(f"/api/articles/{quote(message_id, safe='')}/report", json={"reason": "spam"})
            assert r.status_code == 201, r.text


def decide(node: Node, group: str, action: str) -> None:
    with node.signed_in("marta") as marta:
        (item,) = marta.get(f"/api/groups/{group}/queue").json()["items"]
        r = marta.post(f"/api/groups/{group}/queue/{item['id']}/{action}", json={"reason": "checked"})
        assert r.status_code == 200, r.text

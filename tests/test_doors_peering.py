"""Cancel squatting between two real `moot serve` nodes (docs/PEERING.md): a
node that took an article with the Message-ID of another article's cancel
(before such ids were refused) still applies, and passes on, the real
withdrawal; a peer offering an ordinary article with a reserved id is refused."""

from __future__ import annotations

import asyncio
import io
import secrets

from moot.articles import posting
from moot.news import peers
from moot.store import clock
from moot.store.db import Database, fetch_one
from tests.conftest import PASSWORD
from tests.nntp_support import nntplib
from tests.peering_support import Node, eventually, raw_session, send, wire_article

GROUP = "comp.lang.python"


async def squat(db_path: str, message_id: str) -> None:
    """An article taken under `message_id` as an older node would have taken it from a feed."""
    db = await Database(db_path, read_connections=1).open()
    try:
        async with db.transaction() as conn:
            group = await fetch_one(conn, "SELECT id, name, status FROM groups WHERE name = ?", (GROUP,))
            author = posting.Author("Mallory", address="mallory@evil.example", peer="evil.example")
            article = posting.NewArticle("squat", "mine now", author, message_id, clock.now(), channel="peer")
            await posting.place_arrival(conn, group, None, article)
    finally:
        await db.close()


def test_a_squatted_cancel_id_does_not_stop_the_real_withdrawal(tmp_path):
    a, b = Node(tmp_path, "a.test"), Node(tmp_path, "b.test")
    target = f"<target.{secrets.token_hex(4)}@a.test>"
    asyncio.run(squat(b.db, peers.cancel_message_id(target)))
    secret = secrets.token_hex(12)
    a.peer(b, secret=secret)
    b.peer(a, secret=secret)
    a.start()
    b.start()
    try:
        with a.reader("ada") as n:
            n.post(
                io.BytesIO(
                    f"Newsgroups: {GROUP}\r\nSubject: mine\r\nMessage-ID: {target}\r\n\r\nAda's.\r\n".encode()
                )
            )
        eventually(lambda: b.status(target) == "ok", "the article on B")
        a.cancel(target, "ada")
        withdrawn = a.status(target)
        assert withdrawn != "ok"
        eventually(lambda: b.status(target) == withdrawn, "the withdrawal on B")
        assert b.status(peers.cancel_message_id(target)) == "ok"  # the squatter's article, untouched

        # A peer's ordinary article under a reserved id is refused (437), its control is not.
        sock = raw_session(b, secret)
        other = f"<other.{secrets.token_hex(4)}@a.test>"
        assert send(sock, f"IHAVE {peers.cancel_message_id(other)}").startswith("335")
        assert send(sock, wire_article(peers.cancel_message_id(other), GROUP, "a.test")).startswith("437")
        sock.close()
        # A member cannot take such an id on B either.
        with nntplib.NNTP("127.0.0.1", b.nntp, user="ada", password=PASSWORD) as n:
            text = f"Newsgroups: {GROUP}\r\nSubject: x\r\nMessage-ID: {peers.cancel_message_id(other)}\r\n\r\nx\r\n"
            try:
                n.post(io.BytesIO(text.encode()))
                refused = ""
            except nntplib.NNTPTemporaryError as e:
                refused = str(e)
        assert refused.startswith("441"), refused
    finally:
        a.stop()
        b.stop()

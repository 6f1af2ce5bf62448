"""A feeding peer on the site's real NNTP listener (in process, loopback): a peer
known by its address streams on the listener's lookup of peers, and streamed
articles sent in many writes, without waiting for replies, are all stored and
answered in the order they were sent."""

from __future__ import annotations

import asyncio

from moot.articles import groups
from moot.news import intake, peers
from moot.store.db import fetch_value
from tests.conftest import ANY_PORT
from tests.peering_support import wire_article

GROUP = "comp.lang.python"


async def connect(port: int, source: str = "127.0.0.1") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to the listener from `source` (any 127/8 address is loopback), greeted."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    assert (await reader.readline()).startswith(b"200 ")
    return reader, writer


async def ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: str) -> bytes:
    writer.write(line.encode() + b"\r\n")
    return await reader.readline()


async def add_peer(site, name: str, host: str) -> None:
    async with site.db.transaction() as conn:
        await peers.add_peer(conn, name, host, 119, direction="incoming")


async def streaming(make_site):
    """A site with GROUP and a peer at 127.0.0.1, and that peer's connection in MODE STREAM."""
    site = await make_site(nntp_port=ANY_PORT)
    async with site.db.transaction() as conn:
        await groups.create_group(conn, None, GROUP, "Python")
    await add_peer(site, "near.test", "127.0.0.1")
    reader, writer = await connect(site.config.nntp_port)
    assert (await ask(reader, writer, "MODE STREAM")).startswith(b"203 ")
    return site, reader, writer


async def test_a_peer_known_by_address_streams_on_the_listeners_lookup(make_site):
    site = await make_site(nntp_port=ANY_PORT)
    port = site.config.nntp_port
    await add_peer(site, "near.test", "127.0.0.1")
    reader, writer = await connect(port)
    assert (await ask(reader, writer, "MODE STREAM")).startswith(b"203 ")
    writer.close()

    # Forgotten in the database, the peer is still known to the listener, which
    # read its address moments ago: a second connection streams without reading it.
    async with site.db.transaction() as conn:
        await peers.remove_peer(conn, "near.test")
    reader, writer = await connect(port)
    assert (await ask(reader, writer, "MODE STREAM")).startswith(b"203 ")
    writer.close()

    # An address the listener does not know is looked up afresh: a peer added
    # since is known at once, and a stranger is refused.
    await add_peer(site, "other.test", "127.0.0.2")
    reader, writer = await connect(port, "127.0.0.2")
    assert (await ask(reader, writer, "MODE STREAM")).startswith(b"203 ")
    writer.close()
    reader, writer = await connect(port, "127.0.0.3")
    assert (await ask(reader, writer, "MODE STREAM")).startswith(b"480 ")
    assert (await ask(reader, writer, "CHECK <x@y.test>")).startswith(b"480 ")
    writer.close()


async def test_streamed_articles_in_many_writes_are_answered_in_order(make_site):
    site, reader, writer = await streaming(make_site)
    ids = [f"<streamed.{i}@near.test>" for i in range(40)]
    # Twenty writes of two articles each, sent without reading a reply, then a
    # CHECK for one that never came: every reply comes back, in the order sent.
    for first in range(0, len(ids), 2):
        for mid in ids[first : first + 2]:
            writer.write(f"TAKETHIS {mid}\r\n".encode() + wire_article(mid, GROUP, "near.test!not-for-mail"))
        await writer.drain()
    writer.write(b"CHECK <never.sent@near.test>\r\n")
    answers = [(await reader.readline()).decode().split()[:2] for _ in range(len(ids) + 1)]
    assert answers == [["239", mid] for mid in ids] + [["238", "<never.sent@near.test>"]]
    assert (await ask(reader, writer, f"CHECK {ids[0]}")).startswith(b"438 ")
    assert (await ask(reader, writer, "QUIT")).startswith(b"205 ")
    writer.close()
    async with site.db.read() as conn:
        stored = await fetch_value(
            conn, "SELECT count(*) FROM articles WHERE message_id LIKE '<streamed.%@near.test>'"
        )
    assert stored == len(ids)


async def test_an_offer_that_is_no_message_id_is_read_then_refused(make_site):
    site, reader, writer = await streaming(make_site)
    before = site.snapshot()
    for offered in ("<no-domain>", "<a<b@near.test>", "two words"):
        writer.write(
            f"TAKETHIS {offered}\r\n".encode() + wire_article(offered, GROUP, "near.test!not-for-mail")
        )
        assert (await reader.readline()).startswith(b"439 "), offered  # RFC 4644 §2.5: read, then refused
        assert (await ask(reader, writer, "DATE")).startswith(b"111 ")  # the article was not read as commands
    assert site.snapshot() == before
    writer.close()


async def test_pipelined_checks_are_answered_as_one_at_a_time(make_site):
    """A peer's CHECKs sent together (read ahead in one look-up) get the answers
    the same CHECKs get one at a time, in order: articles here, articles not,
    a control's Message-ID, a malformed one, a command in lower case."""
    site, reader, writer = await streaming(make_site)
    here = [f"<here.{i}@near.test>" for i in range(4)]
    for mid in here:
        writer.write(f"TAKETHIS {mid}\r\n".encode() + wire_article(mid, GROUP, "near.test!not-for-mail"))
    assert [(await reader.readline()).split()[0] for _ in here] == [b"239"] * len(here)
    offered = [
        *here,
        *(f"<new.{i}@near.test>" for i in range(4)),
        "<cancel.never@near.test>",
        "no-id",
        here[0],
    ]
    lines = [f"CHECK {mid}" for mid in offered] + [f"check {here[1]}"]
    writer.write("".join(line + "\r\n" for line in lines).encode())
    together = [(await reader.readline()).split()[:2] for _ in lines]
    alone = [(await ask(reader, writer, line)).split()[:2] for line in lines]
    assert together == alone
    assert [answer[0] for answer in together] == [b"438"] * 4 + [b"238"] * 5 + [b"501", b"438", b"438"]
    # CHECK lines quoted in an article are looked up with the rest, but an
    # answer lives for its read only: with a command still half read after it,
    # the article it names stored since, a CHECK of it is answered afresh.
    y = "<quoted.y@near.test>"
    body = f"How streaming goes:\r\nCHECK {y}\r\nCHECK <quoted.z@near.test>"
    article = wire_article("<quoting@near.test>", GROUP, "near.test!not-for-mail", body=body)
    writer.write(b"TAKETHIS <quoting@near.test>\r\n" + article + b"MODE")
    assert (await reader.readline()).startswith(b"239 ")
    writer.write(
        f" STREAM\r\nTAKETHIS {y}\r\n".encode() + wire_article(y, GROUP, "near.test!not-for-mail") + b"MO"
    )
    assert (await reader.readline()).startswith(b"203 ")
    assert (await reader.readline()).startswith(b"239 ")
    writer.write(f"DE STREAM\r\nCHECK {y}\r\nQU".encode())
    assert (await reader.readline()).startswith(b"203 ")
    assert (await reader.readline()).startswith(b"438 ")
    assert (await ask(reader, writer, "IT")).startswith(b"205 ")
    writer.close()
    # The look-up behind it says what `known` says of each, a control's form included.
    async with site.db.read() as conn:
        ids = [*offered[:9], "<cancel.x@test.moot>"]
        assert await intake.known_among(conn, ids) == {m for m in ids if await intake.known(conn, m)}


async def test_a_peer_feed_stops_even_when_stopped_as_a_commit_wakes_it(make_site):
    """As the mail sender (tests/test_mail.py): a stop landing in the loop turn
    in which a commit set the feed's wake event still ends it."""
    from moot.nntp.feed import PeerFeed

    site = await make_site(peer_poll_interval=3600.0)
    async with site.db.transaction() as conn:
        await peers.add_peer(conn, "far.test", "127.0.0.1", 9, direction="outgoing")
    async with site.db.read() as conn:
        (row,) = await peers.outgoing_peers(conn)
    for _ in range(5):
        feed = PeerFeed(site.site, row)
        while not feed.wake._waiters:  # until it idles, waiting for the event (its queue is empty)
            await asyncio.sleep(0)
        feed.wake.set()
        await asyncio.sleep(0)  # the event's waiter is done; the feed has not run yet
        stopping = asyncio.ensure_future(feed.stop())
        done, _ = await asyncio.wait([stopping], timeout=20)  # a deadline for a hang, not a timing
        assert stopping in done and feed.task.cancelled()

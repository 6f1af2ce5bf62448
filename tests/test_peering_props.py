"""Order independence of what peers deliver (docs/PEERING.md): the same set of
articles, cancels, thread state changes, duplicate copies and the structural
actions of the groups' home node, received in any order (what is "not yet"
offered again later, as an IHAVE feed retries, or taken and held, as TAKETHIS
does), gives the same articles, the same threads, thread states, withdrawals
and notices as on the home node itself. Runs the real transit parser and
delivery on a real database per example; the actions are the control
articles a real home node queued for its peers. And whatever Message-IDs
members choose, a home node's withdrawals, locks and actions end alike on
its peer: the reserved forms are refused at the door and from a peer."""

from __future__ import annotations

import asyncio
import random
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiosqlite import Connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moot.articles import groups, posting
from moot.news import intake, peers
from moot.nntp import feed, parse
from moot.people import accounts
from moot.stewardship import actions, maintenance
from moot.store import validate
from moot.store.db import Database, fetch_all, fetch_value
from moot.store.errors import Invalid
from tests.conftest import PASSWORD, password_hash

NODE = "n.test"
HOME = "h.test"  # the groups' home node: it splits, merges and moves
GROUPS = ("comp.lang.python", "rec.music.folk")


# The articles are made once, when this module is imported, and delivered up to a
# whole test run later; dated from an hour ahead, they stay within the orphan wait
# (peers.ORPHAN_WAIT: an article whose parent is missing waits for it) throughout.
_EPOCH = datetime.now(UTC) + timedelta(hours=1)


def _date(seconds_ago: int) -> str:
    return format_datetime(_EPOCH - timedelta(seconds=seconds_ago))


def _wire(
    mid: str,
    group: str,
    origin: str,
    refs: tuple[str, ...] = (),
    *,
    sender: str = "",
    control: str = "",
    via: str = "",
    date: str = "",
) -> tuple[str, bytes]:
    head = [
        f"Path: {via + '!' if via else ''}{origin}!not-for-mail",
        f"Date: {date or _date(120)}",
        f"From: Someone <{sender or 'someone@' + origin}>",
        f"Newsgroups: {group}",
        f"Subject: {'cmsg ' + control if control else 'About ' + mid}",
        f"Message-ID: {mid}",
    ]
    if refs:
        head.append("References: " + " ".join(refs))
    if control:
        head.append(f"Control: {control}")
    return mid, ("\r\n".join(head) + "\r\n\r\nText of " + mid).encode()


R1, A, B, C = "<r1@x.test>", "<a@y.test>", "<b@x.test>", "<c@z.test>"
R2, D, E = "<r2@y.test>", "<d@y.test>", "<e@z.test>"
ITEMS = [
    _wire(R1, GROUPS[0], "x.test"),
    _wire(A, GROUPS[0], "y.test", (R1,)),
    _wire(B, GROUPS[0], "x.test", (R1, A)),
    _wire(C, GROUPS[0], "z.test", (R1,)),
    _wire(R2, GROUPS[1], "y.test"),
    _wire(D, GROUPS[1], "y.test", (R2,)),
    _wire(E, GROUPS[1], "z.test", (R2, D)),
    # Cancels: by B's origin (applied), and a stranger's for D (neither origin nor author: not applied).
    _wire(peers.cancel_message_id(B), GROUPS[0], "x.test", control=f"cancel {B}"),
    _wire("<forged@w.test>", GROUPS[1], "w.test", control=f"cancel {D}"),
    # Thread states from several nodes: the latest by Date wins, whatever the order of arrival.
    _wire("<lock.1@x.test>", GROUPS[0], "x.test", control=f"x-moot-thread lock {R1}", date=_date(60)),
    _wire("<unlock.1@z.test>", GROUPS[0], "z.test", control=f"x-moot-thread unlock {R1}", date=_date(30)),
    _wire("<archive.1@y.test>", GROUPS[1], "y.test", control=f"x-moot-thread archive {R2}", date=_date(50)),
    _wire("<lock.2@x.test>", GROUPS[1], "x.test", control=f"x-moot-thread lock {R2}", date=_date(55)),
    # Copies of the same articles over another route: duplicates.
    _wire(A, GROUPS[0], "y.test", (R1,), via="m.test"),
    _wire(E, GROUPS[1], "z.test", (R2, D), via="m.test"),
]


STATE = (
    "SELECT a.message_id, p.message_id AS parent, r.message_id AS root, a.status,"
    " g.name AS grp, t.article_count, t.state, CASE a.status WHEN 'notice' THEN a.subject || a.body END"
    " FROM articles a JOIN threads t ON t.id = a.thread_id JOIN groups g ON g.id = a.group_id"
    " LEFT JOIN articles p ON p.id = a.parent_id"
    " JOIN articles r ON r.id = t.root_article_id ORDER BY a.message_id"
)


async def _open(tmp: str, name: str, home: str | None) -> Database:
    db = await Database(str(Path(tmp) / f"{name}.db"), read_connections=1).open()
    async with db.transaction() as conn:
        for group in GROUPS:
            await groups.create_group(conn, None, group, "peered")
            if home:
                await actions.set_home(conn, None, group, home)
    return db


async def _receive(db: Database, domain: str, items: list[tuple[str, bytes]], hold: bool) -> None:
    """Deliver `items` in order, as an IHAVE feed (what is "not yet" is offered
    again in a later round) or as TAKETHIS (taken and held until it can be placed)."""
    pending, rounds = items, 0
    while pending:
        rounds += 1
        assert rounds < 100, "deliveries did not settle"
        later = []
        for mid, data in pending:
            item = parse.transit_article(data, mid)
            try:
                async with db.transaction() as conn:
                    await (intake.take if hold else intake.receive)(conn, intake.Node(domain), item)
            except intake.Deferred:
                later.append((mid, data))  # the feed offers it again later
            except intake.Duplicate:
                pass
        pending = later


async def _home_actions() -> tuple[list[tuple], list[tuple[str, bytes]]]:
    """The home node: every item, then a split, a merge, its undo and a move in
    the first group and a split in the second. Returns its state and the
    x-moot-action articles it queued for its peer, in the order it made them."""
    with tempfile.TemporaryDirectory() as tmp:
        db = await _open(tmp, "home", None)
        try:
            mod = await accounts.create_user(
                db, "marta", PASSWORD, "Marta", "moderator", password_hash=password_hash()
            )
            await _receive(db, HOME, ITEMS, hold=False)
            async with db.transaction() as conn:
                await peers.add_peer(conn, NODE, "127.0.0.1", 119)

            async def article(mid: str) -> tuple[int, int]:
                async with db.read() as conn:
                    row = (
                        await fetch_all(
                            conn, "SELECT id, thread_id FROM articles WHERE message_id = ?", (mid,)
                        )
                    )[0]
                return row["id"], row["thread_id"]

            async with db.transaction() as conn:
                a_id, thread = await article(A)
                split = await actions.split(
                    conn, HOME, mod, maintenance.Split(thread, a_id, "its own topic", subject="Side")
                )
                side = split["thread"]["id"]
                c_id, _ = await article(C)
                merged = await actions.merge(
                    conn, HOME, mod, maintenance.Merge(side, c_id, "same topic after all")
                )
                await actions.undo_entry(conn, HOME, mod, merged["entry"]["id"], reason="it was not")
                await actions.move(conn, HOME, mod, side, GROUPS[1], reason="belongs there")
                d_id, thread = await article(D)
                await actions.split(conn, HOME, mod, maintenance.Split(thread, d_id, "a tangent"))
            async with db.read() as conn:
                state = [tuple(r) for r in await fetch_all(conn, STATE)]
                queued = await fetch_all(
                    conn, "SELECT message_id, control FROM peer_queue WHERE kind = 'control' ORDER BY id"
                )
            wire = [(r["message_id"], r["control"].replace("\n", "\r\n").encode()) for r in queued]
            return state, wire
        finally:
            await db.close()


HOME_STATE, ACTIONS = asyncio.run(_home_actions())
# A stranger's action in a group homed elsewhere, with the next sequence number: ignored.
FORGED = (
    "<x-moot-action.forged@z.test>",
    ACTIONS[0][1]
    .replace(f"{HOME}!".encode(), b"z.test!")
    .replace(ACTIONS[0][0].encode(), b"<x-moot-action.forged@z.test>"),
)
EVERYTHING = [*ITEMS, *ACTIONS, FORGED]


async def _deliver(order: list[int], *, hold: bool = False, items: list = EVERYTHING) -> list[tuple]:
    with tempfile.TemporaryDirectory() as tmp:
        db = await _open(tmp, "node", HOME)
        try:
            await _receive(db, NODE, [items[i] for i in order], hold)
            async with db.read() as conn:
                left = await fetch_all(
                    conn,
                    "SELECT message_id FROM peer_held UNION ALL"
                    " SELECT message_id FROM group_actions WHERE status = 'pending'",
                )
                assert not left, "held articles or actions remain"
                return [tuple(r) for r in await fetch_all(conn, STATE)]
        finally:
            await db.close()


EXPECTED = asyncio.run(_deliver(list(range(len(ITEMS))), items=ITEMS))


def test_the_canonical_order_gives_the_trees_it_should():
    by_id = {row[0]: row for row in EXPECTED}
    assert set(by_id) == {R1, A, B, C, R2, D, E}
    assert by_id[B][1:4] == (A, R1, "cancelled")
    assert by_id[E][1:3] == (D, R2) and by_id[D][3] == "ok"
    assert by_id[C][1:3] == (R1, R1) and by_id[R1][5] == 4
    assert by_id[R1][6] == "open" and by_id[R2][6] == "archived"


def test_the_home_node_made_the_actions_it_should():
    assert [parse.transit_article(data, mid).control for mid, data in ACTIONS] == [
        f"{actions.CONTROL} {kind}" for kind in ("split", "merge", "undo", "move", "split")
    ]
    assert [parse.transit_article(data, mid).sequence for mid, data in ACTIONS] == [1, 2, 3, 4, 1]
    by_id = {row[0]: row for row in HOME_STATE}
    # A and its reply B left R1's thread, were merged back and unmerged, then moved.
    assert by_id[A][1:5] == (None, A, "ok", GROUPS[1]) and by_id[B][1:3] == (A, A)
    assert by_id[D][1:3] == (None, D) and by_id[E][1:3] == (D, D)
    notices = sorted(row[0] for row in HOME_STATE if row[3] == "notice")
    assert notices == sorted(actions.notice_message_id(ACTIONS[i][0]) for i in (0, 4))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.permutations(list(range(len(ITEMS)))))
def test_any_order_converges_to_the_same_state(order):
    assert asyncio.run(_deliver(order, items=ITEMS)) == EXPECTED


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.permutations(list(range(len(EVERYTHING)))), st.booleans())
def test_articles_and_home_actions_in_any_order_give_the_home_nodes_threads(order, hold):
    assert asyncio.run(_deliver(order, hold=hold)) == HOME_STATE


# -- whatever Message-IDs members choose -----------------------------------------------
# Members choose the ids of their articles (NNTP POST, mail). The forms Moot derives for
# what it makes itself (validate.RESERVED_ID_PREFIXES) are refused to them at the door,
# and the control forms (validate.CONTROL_ID_PREFIXES) to a peer's ordinary article, so
# no choice stops a withdrawal, lock or action.


def _well_formed(mid: str) -> bool:
    try:
        validate.message_id(mid)
    except Invalid:
        return False
    return True


# Ordinary ids, many of them close to the reserved forms (`<cancel-7@x.test>`, `<notice@...>`).
_PIECE = st.sampled_from(("cancel", "Lock", "unarchive", "notice", "x-moot-action", "a", "7", "b$c")).flatmap(
    lambda p: st.sampled_from((p, p + ".", p + "-"))
)
ORDINARY = st.builds(
    lambda pieces, domain: f"<{''.join(pieces)}@{domain}>",
    st.lists(_PIECE, min_size=1, max_size=3),
    st.sampled_from(("x.test", HOME, "N.Test")),
).filter(lambda mid: _well_formed(mid) and not validate.reserved_message_id(mid))
# A reserved prefix, in any case, before the id part of one of the example's articles.
SQUAT = st.tuples(
    st.sampled_from(validate.CONTROL_ID_PREFIXES).flatmap(
        lambda p: st.sampled_from((p, p.upper(), p.title()))
    ),
    st.integers(0, 4),
)


def _unstuffed(text: bytes) -> bytes:
    """A fed article, dot-stuffed and ended by ".", as the receiving session reads it (RFC 3977 §3.1.1)."""
    assert text.endswith(b"\r\n.\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in text[:-3].split(b"\r\n"))


async def _home_makes(db: Database, ids: list[str], squats: list[str]) -> list[tuple[str, bytes]]:
    """On the home node, members post under `ids` (after trying `squats`, which are
    refused); the author withdraws one; the moderators lock, split, lock the new
    thread, merge it back, undo that, move it, remove an article and archive a thread;
    then the members try every reserved id the home made, refused too. Returns
    what its feed offers the peer, each article rendered as the feed does when queued."""
    ada = await accounts.create_user(db, "ada", PASSWORD, "Ada", password_hash=password_hash())
    mod = await accounts.create_user(
        db, "marta", PASSWORD, "Marta", "moderator", password_hash=password_hash()
    )
    async with db.transaction() as conn:
        await peers.add_peer(conn, NODE, "127.0.0.1", 119)
    # What the feed's rendering reads of its PeerFeed: the node's name and its site's secret.
    sender = SimpleNamespace(domain=HOME, site=SimpleNamespace(secret="home node secret"))
    sent: list[tuple[str, bytes]] = []
    queued = 0

    async def step(action: Callable[[Connection], Awaitable[object]]) -> None:
        """One transaction, then what the feed renders of what it queued."""
        nonlocal queued
        async with db.transaction() as conn:
            await action(conn)
        async with db.read() as conn:
            rows = await fetch_all(conn, "SELECT * FROM peer_queue WHERE id > ? ORDER BY id", (queued,))
            articles = await feed._articles(
                conn, [row["article_id"] for row in rows if row["kind"] != "control"]
            )
        for row in rows:
            text = feed.PeerFeed._text(sender, row, articles.get(row["article_id"]))
            assert text is not None
            sent.append((row["message_id"], _unstuffed(text)))
            queued = row["id"]

    async def refused(mid: str) -> None:
        with pytest.raises(Invalid, match="reserves"):
            async with db.transaction() as conn:
                await posting.submit(
                    conn,
                    HOME,
                    ada,
                    posting.Submission(body="x", group=GROUPS[0], subject="x", message_id=mid),
                )

    async def post(mid: str, **where: str) -> None:
        submission = posting.Submission(body=f"Text of {mid}", subject="About it", message_id=mid, **where)
        await step(lambda conn: posting.submit(conn, HOME, ada, submission))

    async def thread_of(conn: Connection, mid: str) -> int:
        return await fetch_value(conn, "SELECT thread_id FROM articles WHERE message_id = ?", (mid,))

    async def article(conn: Connection, mid: str) -> int:
        return await fetch_value(conn, "SELECT id FROM articles WHERE message_id = ?", (mid,))

    async def lock(conn: Connection, mid: str, action: str = "lock") -> None:
        await maintenance.set_state(conn, mod, await thread_of(conn, mid), action, "heated")

    async def split(conn: Connection) -> None:
        request = maintenance.Split(await thread_of(conn, r1), await article(conn, a), "its own topic")
        await actions.split(conn, HOME, mod, request)

    async def merge_and_undo(conn: Connection) -> None:
        request = maintenance.Merge(await thread_of(conn, a), await article(conn, r1), "same topic")
        merged = await actions.merge(conn, HOME, mod, request)
        await actions.undo_entry(conn, HOME, mod, merged["entry"]["id"], reason="it was not")

    async def move(conn: Connection) -> None:
        await actions.move(conn, HOME, mod, await thread_of(conn, a), GROUPS[1], reason="belongs there")

    r1, a, b, r2, d = ids
    for mid in squats:
        await refused(mid)
    await post(r1, group=GROUPS[0])
    await post(a, parent=r1)
    await post(b, parent=a)
    await post(r2, group=GROUPS[1])
    await post(d, parent=r2)
    await step(lambda conn: posting.cancel(conn, ada, b))
    await step(lambda conn: lock(conn, r1))
    await step(split)
    await step(lambda conn: lock(conn, a))
    await step(merge_and_undo)
    await step(move)
    await step(lambda conn: posting.cancel(conn, mod, d, "off topic"))
    await step(lambda conn: lock(conn, r2, "archive"))
    for mid in {m for m, _ in sent if validate.reserved_message_id(m)}:
        await refused(mid)
    return sent


async def _offer(db: Database, items: list[tuple[str, bytes, bool]], hold: bool) -> None:
    """`_receive`, where the items marked True are a peer's ordinary articles under
    reserved ids: each is refused (or, after the control of its id, a duplicate),
    and nothing else is ever refused or a duplicate."""
    pending, rounds = items, 0
    while pending:
        rounds += 1
        assert rounds < 100, "deliveries did not settle"
        later = []
        for mid, data, squat in pending:
            try:
                async with db.transaction() as conn:
                    await (intake.take if hold else intake.receive)(
                        conn, intake.Node(NODE), parse.transit_article(data, mid)
                    )
            except intake.Deferred:
                assert not squat, f"{mid} deferred, not refused"
                later.append((mid, data, squat))
            except (intake.Refused, intake.Duplicate) as e:
                assert squat, f"{mid}: {e.message}"
            else:
                assert not squat, f"{mid} taken"
        pending = later


async def _both_nodes(
    ids: list[str], squats: list[tuple[str, int]], shuffle: random.Random, hold: bool
) -> None:
    """The home node's story under `ids`, fed to the peer in the order `shuffle`
    gives, with a third node's ordinary articles under every reserved id the home
    made (its notices' included) and under `squats`: both end alike."""
    with tempfile.TemporaryDirectory() as tmp:
        home, node = await _open(tmp, "home", None), await _open(tmp, "node", HOME)
        try:
            squatted = ["<" + prefix + ids[i][1:] for prefix, i in squats]
            sent = await _home_makes(home, ids, squatted)
            made = [mid for mid, _ in sent if validate.reserved_message_id(mid)]
            notices = [actions.notice_message_id(mid) for mid in made if mid.startswith("<x-moot-action.")]
            offers = [(mid, data, False) for mid, data in sent] + [
                (*_wire(mid, GROUPS[0], "z.test", (ids[0],)), True) for mid in squatted + made + notices
            ]
            shuffle.shuffle(offers)
            await _offer(node, offers, hold)
            async with node.read() as conn:
                assert not await fetch_all(
                    conn,
                    "SELECT message_id FROM peer_held UNION ALL"
                    " SELECT message_id FROM group_actions WHERE status = 'pending'",
                )
            states = []
            for db in (home, node):
                async with db.read() as conn:
                    states.append([tuple(r) for r in await fetch_all(conn, STATE)])
            assert states[0] == states[1]
        finally:
            await home.close()
            await node.close()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(ORDINARY, min_size=5, max_size=5, unique=True),
    st.lists(SQUAT, max_size=4),
    st.randoms(use_true_random=False),
    st.booleans(),
)
def test_whatever_ids_members_choose_withdrawals_locks_and_actions_converge(ids, squats, shuffle, hold):
    asyncio.run(_both_nodes(ids, squats, shuffle, hold))

"""Order independence of what peers deliver (docs/PEERING.md): the same set of
articles, cancels, thread state changes, duplicate copies and the structural
actions of the groups' home node, received in any order (what is "not yet"
offered again later, as an IHAVE feed retries, or taken and held, as TAKETHIS
does), gives the same articles, the same threads, thread states, withdrawals
and notices as on the home node itself. Runs the real transit parser and
delivery on a real database per example; the actions are the control
articles a real home node queued for its peers."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moot.articles import groups
from moot.news import intake, peers
from moot.nntp import parse
from moot.people import accounts
from moot.stewardship import actions, maintenance
from moot.store.db import Database, fetch_all
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
                    await (intake.take if hold else intake.receive)(conn, domain, item)
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

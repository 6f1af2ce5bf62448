"""Order independence of what peers deliver (docs/PEERING.md): the same set of
articles, cancels, thread state changes and duplicate copies, received in any order (what is
"not yet" offered again later, as a feed retries), gives the same articles,
the same threads, thread states and withdrawals. Runs the real transit parser and
delivery on a real database per example."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moot import groups, peering
from moot.db import Database, fetch_all
from moot.nntp import parse

NODE = "n.test"
GROUPS = ("comp.lang.python", "rec.music.folk")


def _date(seconds_ago: int) -> str:
    return format_datetime(datetime.now(UTC) - timedelta(seconds=seconds_ago))


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
    _wire(peering.cancel_message_id(B), GROUPS[0], "x.test", control=f"cancel {B}"),
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


async def _deliver(order: list[int]) -> list[tuple]:
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database(str(Path(tmp) / "node.db"), read_connections=1).open()
        try:
            async with db.transaction() as conn:
                for name in GROUPS:
                    await groups.create_group(conn, None, name, "peered")
            pending = [ITEMS[i] for i in order]
            rounds = 0
            while pending:
                rounds += 1
                assert rounds < 100, "deliveries did not settle"
                later = []
                for mid, data in pending:
                    try:
                        async with db.transaction() as conn:
                            await peering.receive(conn, NODE, parse.transit_article(data, mid))
                    except peering.Deferred:
                        later.append((mid, data))  # the feed offers it again later
                    except peering.Duplicate:
                        pass
                pending = later
            async with db.read() as conn:
                rows = await fetch_all(
                    conn,
                    "SELECT a.message_id, p.message_id AS parent, r.message_id AS root, a.status,"
                    " g.name AS grp, t.article_count, t.state FROM articles a"
                    " JOIN threads t ON t.id = a.thread_id JOIN groups g ON g.id = a.group_id"
                    " LEFT JOIN articles p ON p.id = a.parent_id"
                    " JOIN articles r ON r.id = t.root_article_id ORDER BY a.message_id",
                )
            return [tuple(r) for r in rows]
        finally:
            await db.close()


EXPECTED = asyncio.run(_deliver(list(range(len(ITEMS)))))


def test_the_canonical_order_gives_the_trees_it_should():
    by_id = {row[0]: row for row in EXPECTED}
    assert set(by_id) == {R1, A, B, C, R2, D, E}
    assert by_id[B][1:4] == (A, R1, "cancelled")
    assert by_id[E][1:3] == (D, R2) and by_id[D][3] == "ok"
    assert by_id[C][1:3] == (R1, R1) and by_id[R1][5] == 4
    assert by_id[R1][6] == "open" and by_id[R2][6] == "archived"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.permutations(list(range(len(ITEMS)))))
def test_any_order_converges_to_the_same_state(order):
    assert asyncio.run(_deliver(order)) == EXPECTED

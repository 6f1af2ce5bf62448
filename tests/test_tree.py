"""Reply-tree order keys (server/tree.py): replies crowding into one gap
renumber their neighbours and keep depth-first order; storage per article
does not grow with depth; a chain past the deepest level pages whole; a
cursor survives renumbering, and one whose article left the thread is a
clear 400."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moot.articles import groups, importer, posting, tree
from moot.people import accounts
from moot.store import check
from moot.store.db import Database, fetch_all, fetch_value
from tests.conftest import seed
from tests.test_depth import deep_chain
from tests.test_import import message

DOMAIN = "tree.moot"


async def order_and_reference(conn, thread_id: int) -> tuple[list[int], list[int]]:
    """The thread's order by key, and the reference: depth first, children by id."""
    rows = await fetch_all(
        conn, "SELECT id, parent_id, depth FROM articles WHERE thread_id = ? ORDER BY seq", (thread_id,)
    )
    children: dict[int, list[int]] = {}
    depth = {r["id"]: r["depth"] for r in rows}
    for r in sorted(rows, key=lambda r: r["id"]):
        if r["parent_id"] is not None:
            children.setdefault(r["parent_id"], []).append(r["id"])
            assert depth[r["id"]] == depth[r["parent_id"]] + 1
    root = next(r["id"] for r in rows if r["parent_id"] is None)
    return [r["id"] for r in rows], tree.preorder(children, root)


async def replies(path: str, picks: list[int]) -> tuple[list[int], list[int], dict[int, int]]:
    """A thread whose root has two replies; then a reply per pick, under the
    picked article (an index into those posted so far). Returns the order,
    the reference, and each article's key."""
    db = await Database(path, read_connections=1, synchronous="OFF").open()
    try:
        user = await accounts.create_user(db, "ada", "password-x", None, "member", password_hash="x")
        async with db.transaction() as conn:
            await groups.create_group(conn, None, "g.tree")
            started = await posting.submit(
                conn, DOMAIN, user, posting.Submission(body="x", subject="Topic", group="g.tree")
            )
            ids = [started["article"]["id"]]
            for _ in range(2):
                ids.append(
                    (
                        (
                            await posting.submit(
                                conn, DOMAIN, user, posting.Submission(body="x", parent=ids[0])
                            )
                        )["article"]
                    )["id"]
                )
            for pick in picks:
                ids.append(
                    (
                        (
                            await posting.submit(
                                conn, DOMAIN, user, posting.Submission(body="x", parent=ids[pick % len(ids)])
                            )
                        )["article"]
                    )["id"]
                )
            order, reference = await order_and_reference(conn, started["thread"]["id"])
            keys = {r["id"]: r["seq"] for r in await fetch_all(conn, "SELECT id, seq FROM articles")}
        assert check.CHECKS["reply trees"](sqlite3.connect(path)) == []
        return order, reference, keys
    finally:
        await db.close()


def test_replies_crowding_one_gap_renumber_and_keep_the_order(tmp_path):
    # Every reply goes under the first reply or the newest article below it, so
    # each lands between that sub-tree and the second reply: one gap, halved
    # each time, which runs out of room after about log2(STEP) replies.
    picks = [1, -1] * 40
    order, reference, keys = asyncio.run(replies(str(tmp_path / "gap.db"), picks))
    assert order == reference
    # The replies posted before the crowd were renumbered: they no longer have
    # the keys appending gave them (the root's, the first, STEP apart).
    assert [keys[i] for i in order[:2]] == [tree.STEP, 2 * tree.STEP]
    assert keys[reference[-1]] != 3 * tree.STEP


@settings(
    max_examples=int(os.environ.get("MOOT_PROPERTY_EXAMPLES", "15")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(st.one_of(st.integers(0, 4), st.integers(-3, -1), st.integers(0, 10_000)), max_size=120))
def test_random_replies_keep_depth_first_order(picks):
    with tempfile.TemporaryDirectory() as tmp:
        order, reference, _ = asyncio.run(replies(os.path.join(tmp, "prop.db"), picks))
    assert order == reference


def database_bytes(path: str) -> int:
    conn = sqlite3.connect(path)
    try:
        conn.execute("VACUUM")
        return (
            conn.execute("PRAGMA page_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0]
        )
    finally:
        conn.close()


# Each article names this many ancestors in References, in both shapes below.
NAMED = 20


def shaped_mbox(path, count: int, deep: bool) -> None:
    """`count` messages: a chain (each replying to the one before) or a flat
    thread (each replying to the first). References headers are the same
    size in both, so only the shape differs: a chain names its NAMED nearest
    ancestors; a flat reply names the first message after as many of the
    same width that are not here (the importer files it under the first)."""
    mids = [f"<s{i:06d}@example.org>" for i in range(count)]
    parts = []
    for i, mid in enumerate(mids):
        named = min(i, NAMED)
        if deep:
            refs = mids[i - named : i]
        else:
            refs = [f"<g{i:04d}{k:02d}@example.org>" for k in range(named - 1)] + mids[:1] * (named > 0)
        parts.append(message(mid, refs=" ".join(refs) or None, body="The same words, quoted a little."))
    path.write_bytes(b"".join(parts))


async def test_a_chain_1000_deep_takes_the_room_of_a_flat_thread(make_site, tmp_path):
    """Storage per article is O(1) whatever the depth (a materialised path was
    the parent's plus 8 bytes, quadratic over a chain, twice with its index):
    a size, not a time, so a plain bound holds it."""
    sizes = {}
    for shape in ("chain", "flat"):
        site = await make_site(db_path=str(tmp_path / f"{shape}.db"))
        await seed(site)
        box = tmp_path / f"{shape}.mbox"
        shaped_mbox(box, tree.MAX_DEPTH, deep=shape == "chain")
        report = await importer.import_path(site.db, box, "comp.lang.python")
        assert report.imported == tree.MAX_DEPTH and report.threads == 1, report.summary()
        async with site.db.read() as conn:
            depth = await fetch_value(conn, "SELECT max(depth) FROM articles")
        assert depth == (tree.MAX_DEPTH - 1 if shape == "chain" else 1)
        await site.close()
        sizes[shape] = database_bytes(site.config.db_path)
    ratio = sizes["chain"] / sizes["flat"]
    print(f"1,000 articles: chain {sizes['chain']:,} bytes, flat {sizes['flat']:,} bytes, ratio {ratio:.3f}")
    assert ratio < 1.5


async def test_a_4343_article_chain_pages_whole_in_tree_order(site, tmp_path):
    s = await seed(site)
    mids = await deep_chain(site, 4343, tmp_path)
    ada = s["ada"]
    thread_id = (await ada.get(f"/api/articles/{mids[0]}")).json()["article"]["thread_id"]
    seen, cursor = [], None
    while True:
        r = await ada.get(
            f"/api/threads/{thread_id}", params={"limit": 200, **({"cursor": cursor} if cursor else {})}
        )
        assert r.status_code == 200, r.text
        seen += [a["message_id"] for a in r.json()["articles"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    # Past the deepest level each reply attaches one level up: siblings, oldest first.
    assert seen == mids
    async with site.db.read() as conn:
        order, reference = await order_and_reference(conn, thread_id)
    assert order == reference
    assert check.check(site.config.db_path).ok


async def test_a_cursor_survives_renumbering_and_a_departed_article_is_a_400(site):
    s = await seed(site)
    ada, root = s["ada"], s["root"]["id"]
    first = s["reply"]["id"]
    r = await ada.post(f"/api/articles/{root}/replies", json={"body": "second"})
    second = r.json()["article"]["id"]
    thread = s["thread"]["id"]
    page = (await ada.get(f"/api/threads/{thread}", params={"limit": 2})).json()
    assert [a["id"] for a in page["articles"]] == [root, first]
    cursor = page["next_cursor"]
    added, parent = [], first
    for i in range(40):  # all between `first` and `second`: keys there are renumbered
        r = await ada.post(f"/api/articles/{parent}/replies", json={"body": f"crowded {i}"})
        added.append(r.json()["article"]["id"])
        parent = added[-1] if i % 2 else first
    page = (await ada.get(f"/api/threads/{thread}", params={"limit": 200, "cursor": cursor})).json()
    rest = [a["id"] for a in page["articles"]]
    async with site.db.read() as conn:
        order, reference = await order_and_reference(conn, thread)
    assert order == reference and rest == order[2:] and sorted(rest) == sorted([*added, second])

    mod = await site.client("marta", "moderator")
    r = await mod.post(f"/api/threads/{thread}/split", json={"article_id": first, "reason": "own topic"})
    assert r.status_code == 201, r.text
    r = await ada.get(f"/api/threads/{thread}", params={"cursor": cursor})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid"
    assert "no longer in this thread" in r.json()["error"]["message"]
    assert r.json()["error"]["stale_cursor"] is True

"""The reply depth limit: a thread is at most tree.MAX_DEPTH levels deep.
A reply under the deepest level attaches one level up (for the site, the
importer and articles from news peers alike), and a merge that would go deeper is refused, so every
thread stays pageable with the cursors the server issues."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from moot.articles import importer, mbox, tree
from moot.news import intake, newsreading
from moot.nntp import parse
from moot.store import check
from moot.store.errors import Invalid
from tests.conftest import seed
from tests.test_import import message


def test_cursors_name_an_article_and_nothing_else():
    assert tree.parse_cursor(None) is None and tree.parse_cursor("") is None
    assert tree.parse_cursor(tree.cursor(42)) == 42
    for bad in ["42", "a0", "a042", "0000000a", "a" + "9" * 20, "a-1", 42, ["a1"]]:
        with pytest.raises(Invalid, match="not one this server issued"):
            tree.parse_cursor(bad)


def test_preorder_lists_a_tree_depth_first_children_in_the_order_given():
    children = {1: [2, 5], 2: [3, 4], 5: [6]}
    assert tree.preorder(children, 1) == [1, 2, 3, 4, 5, 6]
    assert tree.preorder(children, 2) == [2, 3, 4]


async def deep_chain(site, length: int, tmp_path, group: str = "comp.lang.python") -> list[str]:
    """A chain of `length` replies imported into `group`; their Message-IDs, root first."""
    mids = [f"<c{i}@example.org>" for i in range(length)]
    raw = b"".join(message(mid, refs=mids[i - 1] if i else None) for i, mid in enumerate(mids))
    (tmp_path / "chain.mbox").write_bytes(raw)
    report = await importer.import_path(site.db, tmp_path / "chain.mbox", group, batch_size=400)
    assert report.imported == length and report.threads == 1, report.summary()
    return mids


async def test_replies_past_the_deepest_level_attach_one_level_up_and_page_whole(site, tmp_path):
    s = await seed(site)
    mids = await deep_chain(site, tree.MAX_DEPTH, tmp_path)
    ada = s["ada"]
    deepest = (await ada.get(f"/api/articles/{mids[-1]}")).json()["article"]
    assert deepest["depth"] == tree.MAX_DEPTH - 1
    replies = []
    target = mids[-1]
    for i in range(5):  # each reply to the newest one: a chain that would keep growing
        r = await ada.post(f"/api/articles/{target}/replies", json={"body": f"still going {i}"})
        assert r.status_code == 201, r.text
        replies.append(r.json()["article"])
        target = replies[-1]["message_id"]
    assert {a["depth"] for a in replies} == {tree.MAX_DEPTH - 1}
    assert {a["parent_id"] for a in replies} == {deepest["parent_id"]}
    seen, cursor = [], None
    while True:
        page = (
            await ada.get(
                f"/api/threads/{deepest['thread_id']}",
                params={"limit": 200, **({"cursor": cursor} if cursor else {})},
            )
        ).json()
        seen += [a["id"] for a in page["articles"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == tree.MAX_DEPTH + 5
    # Served References are the path up the tree, the middle trimmed past REFERENCES_KEEP (RFC 5537).
    async with site.db.read() as conn:
        served = {
            i: mbox.references(await newsreading.by_message_id(conn, mids[i])) for i in (39, 40, 41, -1)
        }
    assert served[39] == mids[:39] and served[40] == mids[:40]
    assert served[41] == [mids[0], *mids[2:41]] and served[-1] == [mids[0], *mids[-40:-1]]


@pytest.mark.parametrize(("into_depth", "allowed"), [(tree.MAX_DEPTH - 3, True), (tree.MAX_DEPTH - 2, False)])
async def test_a_merge_that_would_go_too_deep_is_refused(site, tmp_path, into_depth, allowed):
    s = await seed(site)  # a thread with a root and one reply: depth 1 under its root
    mids = await deep_chain(site, tree.MAX_DEPTH - 1, tmp_path)
    before = site.snapshot()
    r = await s["admin"].post(
        f"/api/threads/{s['thread']['id']}/merge",
        json={"into_article_id": mids[into_depth], "reason": "same topic"},
    )
    if allowed:
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 409 and "deeper than" in r.json()["error"]["message"]
        assert site.snapshot() == before


async def test_an_article_from_a_peer_under_the_deepest_level_attaches_one_level_up(site, tmp_path):
    await seed(site)
    mids = await deep_chain(site, tree.MAX_DEPTH, tmp_path)
    mid = "<arrived@peer.test>"
    data = "\r\n".join(
        [
            "Path: peer.test!not-for-mail",
            f"Date: {format_datetime(datetime.now(UTC) - timedelta(minutes=30))}",
            "From: Someone <someone@peer.test>",
            "Newsgroups: comp.lang.python",
            "Subject: Re: deep",
            f"Message-ID: {mid}",
            "References: " + " ".join(mids[-20:]),
            "",
            "From another node.",
        ]
    ).encode()
    async with site.db.transaction() as conn:
        article = await intake.receive(conn, intake.Node("here.test"), parse.transit_article(data, mid))
    ada = await site.client("ada")
    deepest = (await ada.get(f"/api/articles/{mids[-1]}")).json()["article"]
    assert article["depth"] == tree.MAX_DEPTH - 1 and article["parent_id"] == deepest["parent_id"]
    assert check.check(site.config.db_path).ok

"""Property tests: random reply trees under random sequences of split, merge,
move, undo, archive and replies, with the tree invariants checked after
every step (server/maintenance.py states them), and every thread's order
compared with a reference: a model kept in Python of each article's
children, changed by each action as its contract says, listed depth-first.
Domain functions are called directly inside db.transaction(), on a real
database file, for speed."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from moot.articles import groups, posting, reading, tree
from moot.people import accounts
from moot.stewardship import maintenance, undo
from moot.store.db import Database, fetch_all, fetch_value
from moot.store.errors import MootError

settings.register_profile(
    "maintenance",
    max_examples=int(os.environ.get("MOOT_PROPERTY_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

DOMAIN = "prop.moot"
GROUPS = ["g.zero", "g.one", "g.two"]
OPS = ["split", "split", "merge", "move", "undo", "undo_last", "archive", "reply"]


class Model:
    """The reference: each article's children, oldest first except where an
    action's contract places one elsewhere (a split notice takes the split
    article's place; a merged root goes before its first younger sibling)."""

    def __init__(self) -> None:
        self.children: dict[int, list[int]] = {}

    def reply(self, article: dict) -> None:
        self.children[article["id"]] = []
        if article["parent_id"] is not None:
            self.children[article["parent_id"]].append(article["id"])

    def swap(self, parent_id: int, old: int, new: int) -> None:
        siblings = self.children[parent_id]
        siblings[siblings.index(old)] = new

    def split(self, parent_id: int, article_id: int, notice_id: int) -> None:
        self.children[notice_id] = []
        self.swap(parent_id, article_id, notice_id)

    def unsplit(self, parent_id: int, article_id: int, notice_id: int) -> None:
        self.swap(parent_id, notice_id, article_id)
        del self.children[notice_id]

    def merge(self, into_id: int, root_id: int, notice_id: int) -> None:
        siblings = self.children[into_id]
        at = next((i for i, c in enumerate(siblings) if c > root_id), len(siblings))
        siblings.insert(at, root_id)
        siblings.append(notice_id)
        self.children[notice_id] = []

    def unmerge(self, into_id: int, root_id: int, notice_id: int) -> None:
        self.children[into_id].remove(root_id)
        self.children[into_id].remove(notice_id)
        del self.children[notice_id]

    def order(self, root_id: int) -> list[int]:
        return tree.preorder(self.children, root_id)


async def thread_orders(conn) -> dict[int, list[int]]:
    orders: dict[int, list[int]] = {}
    for r in await fetch_all(conn, "SELECT thread_id, id FROM articles ORDER BY thread_id, seq"):
        orders.setdefault(r["thread_id"], []).append(r["id"])
    return orders


async def structure(conn) -> dict:
    """What an undo must restore: every article's place (thread, parent,
    depth, position in thread order), and the live threads."""
    arts = await fetch_all(
        conn, "SELECT id, message_id, thread_id, parent_id, depth, group_id FROM articles ORDER BY id"
    )
    live = await fetch_all(
        conn,
        "SELECT id, group_id, root_article_id, article_count FROM threads"
        " WHERE merged_into_thread_id IS NULL ORDER BY id",
    )
    return {
        "articles": [tuple(r) for r in arts],
        "threads": [tuple(r) for r in live],
        "orders": await thread_orders(conn),
    }


async def check_invariants(conn, posted: dict[str, int], model: Model) -> None:
    thread_rows = {r["id"]: r for r in await fetch_all(conn, "SELECT * FROM threads")}
    arts = await fetch_all(conn, "SELECT * FROM articles ORDER BY thread_id, seq")
    by_id = {a["id"]: a for a in arts}
    per_thread: dict[int, list] = {}
    for a in arts:
        t = thread_rows[a["thread_id"]]  # each article is in exactly one existing thread
        assert t["merged_into_thread_id"] is None, "an article sits in a merged-away thread"
        assert a["group_id"] == t["group_id"], "article and thread disagree on the group"
        per_thread.setdefault(t["id"], []).append(a)
        if a["parent_id"] is None:
            assert a["depth"] == 0, "a root is at depth 0"
        else:
            parent = by_id[a["parent_id"]]
            assert parent["thread_id"] == a["thread_id"], "parent in another thread"
            assert a["depth"] == parent["depth"] + 1  # so no cycle is possible
    for t in thread_rows.values():
        members = per_thread.get(t["id"], [])
        if t["merged_into_thread_id"] is not None:
            assert members == [] and t["article_count"] == 0
            continue
        assert t["article_count"] == len(members) > 0
        roots = [a["id"] for a in members if a["parent_id"] is None]
        assert roots == [t["root_article_id"]], "a live thread has exactly one root"
        # Thread order is the reference's depth-first order of the parent links.
        assert [a["id"] for a in members] == model.order(roots[0]), "thread order differs from the reference"
        assert t["last_article_at"] == max(a["created_at"] for a in members)
    for g in await fetch_all(conn, "SELECT * FROM groups"):
        live = [
            t for t in thread_rows.values() if t["group_id"] == g["id"] and t["merged_into_thread_id"] is None
        ]
        mine = [a for a in arts if a["group_id"] == g["id"]]
        assert g["thread_count"] == len(live)
        assert g["article_count"] == len(mine)
        assert g["last_article_at"] == (max(a["created_at"] for a in mine) if mine else None)
        assert g["last_number"] >= max((a["number"] for a in mine), default=0)
    for message_id, article_id in posted.items():  # every Message-ID still reaches its article
        found = await reading.get_article(conn, message_id)
        assert found["id"] == article_id and by_id[article_id]["thread_id"] == found["thread_id"]


async def scenario(data, path: str) -> None:
    db = await Database(path, read_connections=1, synchronous="OFF").open()
    try:
        await run(db, data)
    finally:
        await db.close()


async def run(db, data) -> None:
    mod = await accounts.create_user(db, "marta", "password-x", None, "moderator", password_hash="x")
    posted: dict[str, int] = {}
    model = Model()
    async with db.transaction() as conn:
        for name in GROUPS:
            await groups.create_group(conn, None, name)
        for n in range(data.draw(st.integers(1, 3), label="threads")):
            started = await posting.submit(
                conn, DOMAIN, mod, posting.Submission(body="x", subject=f"Topic {n}", group=GROUPS[n % 2])
            )
            ids = [started["article"]["id"]]
            posted[started["article"]["message_id"]] = ids[0]
            model.reply(started["article"])
            for _ in range(data.draw(st.integers(0, 10), label="replies")):
                parent = data.draw(st.sampled_from(ids))
                art = (
                    await posting.submit(conn, DOMAIN, mod, posting.Submission(body="reply", parent=parent))
                )["article"]
                ids.append(art["id"])
                posted[art["message_id"]] = art["id"]
                model.reply(art)
        await check_invariants(conn, posted, model)

    last = None  # (entry id, structure before it, action) of the latest split or merge
    for op in data.draw(st.lists(st.sampled_from(OPS), min_size=1, max_size=10), label="ops"):
        async with db.read() as conn:
            before = await structure(conn)
            arts = await fetch_all(conn, "SELECT id, thread_id FROM articles ORDER BY id")
            live = [
                r["id"]
                for r in await fetch_all(
                    conn, "SELECT id FROM threads WHERE merged_into_thread_id IS NULL ORDER BY id"
                )
            ]
            entries = [
                r["id"]
                for r in await fetch_all(
                    conn, "SELECT id FROM modlog WHERE action IN ('split', 'merge') ORDER BY id"
                )
            ]
        article = data.draw(st.sampled_from(arts))
        thread_id = data.draw(st.sampled_from(live + [article["thread_id"]] * 3))
        group = data.draw(st.sampled_from(GROUPS + [None]))
        undone = None
        try:
            async with db.transaction() as conn:
                change = None  # how the reference changes, applied once the action holds
                if op == "split":
                    parent_id = await fetch_value(
                        conn, "SELECT parent_id FROM articles WHERE id = ?", (article["id"],)
                    )
                    result = await maintenance.split(
                        conn, DOMAIN, mod, maintenance.Split(thread_id, article["id"], "drift", group=group)
                    )
                    change = (model.split, parent_id, article["id"], result["notice"]["id"])
                    new_last = (result["entry"]["id"], before, op)
                elif op == "merge":
                    thread_id = data.draw(st.sampled_from(live))
                    result = await maintenance.merge(
                        conn, DOMAIN, mod, maintenance.Merge(thread_id, article["id"], "same")
                    )
                    root_id = result["source"]["root_article_id"]
                    change = (model.merge, article["id"], root_id, result["notice"]["id"])
                    new_last = (result["entry"]["id"], before, op)
                elif op == "move":
                    await maintenance.move(conn, mod, thread_id, group or GROUPS[0], reason="topic")
                    new_last = None
                elif op in ("undo", "undo_last"):
                    if not entries:
                        continue
                    undone = entries[-1] if op == "undo_last" else data.draw(st.sampled_from(entries))
                    await undo.undo(conn, mod, undone, "mistake")
                    entry = (
                        await fetch_all(
                            conn, "SELECT action, article_id, data FROM modlog WHERE id = ?", (undone,)
                        )
                    )[0]
                    done = json.loads(entry["data"])
                    if entry["action"] == "split":
                        change = (
                            model.unsplit,
                            done["old_parent_id"],
                            entry["article_id"],
                            done["notice_id"],
                        )
                    else:
                        change = (
                            model.unmerge,
                            done["into_article_id"],
                            entry["article_id"],
                            done["notice_id"],
                        )
                    new_last = None
                elif op == "archive":
                    state = await fetch_value(conn, "SELECT state FROM threads WHERE id = ?", (thread_id,))
                    action = "unarchive" if state == "archived" else "archive"
                    await maintenance.set_state(conn, mod, thread_id, action, "done")
                    new_last = last  # the state is not structure: an undo may still follow
                else:
                    art = (
                        await posting.submit(
                            conn, DOMAIN, mod, posting.Submission(body="more", parent=article["id"])
                        )
                    )["article"]
                    posted[art["message_id"]] = art["id"]
                    change = (model.reply, art)
                    new_last = None
                if change is not None:
                    change[0](*change[1:])
                await check_invariants(conn, posted, model)
        except MootError as error:
            event(f"{op} refused: {error.code}")
            async with db.read() as conn:
                assert await structure(conn) == before, f"a refused {op} changed something"
            continue
        event(f"{op} done")
        if undone is not None and last is not None and undone == last[0]:
            event(f"undo of the latest {last[2]} checked exactly")
            async with db.read() as conn:
                assert await structure(conn) == last[1], "undo did not restore the structure"
        last = new_last


@settings(settings.get_profile("maintenance"))
@given(st.data())
def test_random_maintenance_keeps_invariants(data):
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(scenario(data, os.path.join(tmp, "prop.db")))

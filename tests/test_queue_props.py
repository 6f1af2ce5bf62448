"""Property test of the moderation queue: any sequence of submissions (new
threads and replies, to open and moderated groups, by several members and
moderators), reports (every reason, repeated, on one's own article), approvals
and rejections (one item or many, held or reported, and stale ones), removals
by a moderator, withdrawals by an author, suspensions and unsuspensions, run
through the real app's HTTP API, leaves after every step:

- every submission in exactly one of four states: visible (an article 'ok'),
  held (a waiting held item, no article), hidden (an article 'hidden') or
  removed (an article 'cancelled', or a rejected held item and no article),
  and in the state a reference model (kept here, changed by each action as
  the contracts in server/stewardship/queue.py and reports.py say) expects;
- the waiting items agreeing with the articles: a waiting reported item's
  article is ok or hidden, a hidden article has one, no two waiting items
  name one article or Message-ID;
- one moderation log entry per decision, each decided item naming its entry;
- NNTP (server/news/newsreading.py) serving exactly the numbered articles
  that are not hidden, each under the number it got when published, numbers
  never reused and only growing, held submissions and hidden articles absent;
- and at the end `moot check` sound: the search index holds exactly the
  visible articles; each member's /api/me/queue lists what of theirs waits.

A moderator's removal is undone from the log by the "undo" step: the
article is visible again (modlog.UNDOABLE names "cancel")."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moot.app import create_app
from moot.news import newsreading
from moot.stewardship import modlog
from moot.store import check
from moot.store.config import Config
from tests.conftest import TestSite, seed

settings.register_profile(
    "queue",
    max_examples=int(os.environ.get("MOOT_PROPERTY_EXAMPLES", "8")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

THRESHOLD = 2
OPEN = ("o.one", "o.two")
MODERATED = ("m.one", "m.two")
GROUPS = OPEN + MODERATED
MEMBERS = ("ana", "ben", "cai", "dee")
MODERATORS = ("mona", "max")
POSTERS = MEMBERS + MODERATORS
REASONS = ("spam", "abuse", "off-topic", "other")
HIDING = ("spam", "abuse")
DISMISSED_LIMIT = 3  # reports.DISMISSED_LIMIT
UNDO_REMOVALS = "cancel" in modlog.UNDOABLE
KINDS = ["submit", "submit", "submit", "report", "report", "report", "decide", "decide", "many"]
KINDS += ["remove", "withdraw", "suspend", "unsuspend", "stale"] + (["undo"] if UNDO_REMOVALS else [])


@dataclass
class Sub:
    """One submission as the model knows it."""

    mid: str
    group: str
    author: str
    state: str  # visible, held, hidden, removed
    text: str
    article_id: int | None = None
    number: int | None = None
    item_id: int | None = None  # its held item
    removal_entry: int | None = None


@dataclass
class Item:
    id: int
    group: str
    kind: str  # held, reported
    sub: Sub
    state: str = "waiting"
    reports: list[tuple[str, str, int]] = field(default_factory=list)  # (reporter, reason, weight)


class Model:
    def __init__(self) -> None:
        self.subs: dict[str, Sub] = {}
        self.items: dict[int, Item] = {}
        self.reported: set[tuple[int | None, str]] = set()  # (article id, reporter): one report each, ever
        self.suspended: set[str] = set()
        self.entries: dict[str, int] = {}  # expected log entries by action
        self.numbers: dict[str, dict[int, str]] = {g: {} for g in GROUPS}  # every number ever given
        self.high: dict[str, int] = dict.fromkeys(GROUPS, 0)
        self.seen: set[str] = set()  # states some submission was in after some step

    def log(self, action: str) -> None:
        self.entries[action] = self.entries.get(action, 0) + 1

    def published(self, sub: Sub, article: dict) -> None:
        sub.state, sub.article_id, sub.number = "visible", article["id"], article["number"]
        assert article["message_id"] == sub.mid
        assert sub.number > self.high[sub.group], "numbers only grow"
        assert sub.number not in self.numbers[sub.group], "numbers are never reused"
        self.numbers[sub.group][sub.number] = sub.mid
        self.high[sub.group] = sub.number

    def with_article(self, group: str | None = None) -> list[Sub]:
        return [s for s in self.subs.values() if s.article_id is not None and group in (None, s.group)]

    def waiting(self, group: str) -> list[Item]:
        return [i for i in self.items.values() if i.group == group and i.state == "waiting"]

    def reported_item(self, sub: Sub) -> Item | None:
        found = [
            i for i in self.items.values() if i.kind == "reported" and i.sub is sub and i.state == "waiting"
        ]
        assert len(found) <= 1
        return found[0] if found else None

    def discredited(self, member: str) -> bool:
        dismissed = upheld = 0
        for item in self.items.values():
            for reporter, _, _ in item.reports:
                if reporter == member:
                    dismissed += item.state == "approved"
                    upheld += item.state == "rejected"
        return dismissed >= DISMISSED_LIMIT and dismissed > upheld

    def settle_reports(self, sub: Sub) -> None:
        """A removed article's waiting reported item is decided with it."""
        item = self.reported_item(sub)
        if item is not None:
            item.state = "rejected"


OPS = st.lists(
    st.tuples(st.sampled_from(KINDS), st.integers(0, 63), st.integers(0, 63), st.integers(0, 63)),
    min_size=10,
    max_size=45,
)


class Run:
    def __init__(self, site: TestSite) -> None:
        self.site = site
        self.model = Model()
        self.clients: dict = {}
        self.steps: list[str] = []

    async def setup(self) -> None:
        self.admin = await self.site.client("root", "admin")
        for name in GROUPS:
            status = "m" if name in MODERATED else "y"
            r = await self.admin.post(
                "/api/groups", json={"name": name, "description": name, "status": status}
            )
            assert r.status_code == 201, r.text
            self.model.log("group.create")
        for name in MEMBERS:
            self.clients[name] = await self.site.client(name)
        for name in MODERATORS:
            self.clients[name] = await self.site.client(name, "moderator")

    # The steps. Each asks the API, checks the answer against the model and changes the model.

    async def submit(self, a: int, b: int, c: int) -> None:
        m, author, group = self.model, POSTERS[a % len(POSTERS)], GROUPS[b % len(GROUPS)]
        parents = [s for s in m.with_article(group) if s.state in ("visible", "hidden")]
        client = self.clients[author]
        body = {"subject": f"s{len(m.subs)}", "body": f"text {len(m.subs)} by {author}"}
        if c % 3 == 0 or not parents:
            r = await client.post(f"/api/groups/{group}/threads", json=body)
        else:
            parent = parents[c % len(parents)]
            r = await client.post(f"/api/articles/{parent.article_id}/replies", json={"body": body["body"]})
        self.steps.append(f"submit {author} {group} -> {r.status_code}")
        if author in m.suspended:
            assert r.status_code == 403, r.text
            return
        if group in MODERATED and author not in MODERATORS:
            assert r.status_code == 202, r.text
            held = r.json()["held"]
            sub = Sub(held["message_id"], group, author, "held", body["body"], item_id=held["id"])
            m.subs[sub.mid] = sub
            m.items[held["id"]] = Item(held["id"], group, "held", sub)
            return
        assert r.status_code == 201, r.text
        article = r.json()["article"]
        assert (article.get("approved") is not None) == (group in MODERATED)
        sub = Sub(article["message_id"], group, author, "visible", body["body"])
        m.subs[sub.mid] = sub
        m.published(sub, article)

    async def report(self, a: int, b: int, c: int) -> None:
        m, reporter, reason = self.model, POSTERS[a % len(POSTERS)], REASONS[c % len(REASONS)]
        targets = m.with_article()
        if not targets:
            return
        sub = targets[b % len(targets)]
        r = await self.clients[reporter].post(
            f"/api/articles/{sub.article_id}/report", json={"reason": reason}
        )
        self.steps.append(f"report {reporter} {sub.mid} {reason} -> {r.status_code}")
        if reporter in m.suspended:
            assert r.status_code == 403, r.text
            return
        if sub.state == "removed":
            assert r.status_code == 409, r.text
            return
        if (sub.article_id, reporter) in m.reported:
            assert r.status_code == 200 and r.json()["already"] is True, r.text
            return
        assert r.status_code == 201, r.text
        m.reported.add((sub.article_id, reporter))
        weight = 0 if reporter == sub.author or m.discredited(reporter) else 1
        assert r.json()["counted"] is bool(weight), (reporter, sub, r.text)
        item = m.reported_item(sub)
        if item is None:
            items = (await self.clients["mona"].get(f"/api/groups/{sub.group}/queue")).json()["items"]
            (found,) = [i for i in items if i["kind"] == "reported" and i["article"]["id"] == sub.article_id]
            item = m.items[found["id"]] = Item(found["id"], sub.group, "reported", sub)
        item.reports.append((reporter, reason, weight))
        counted = sum(w for _, why, w in item.reports if why in HIDING)
        if weight and reason in HIDING and sub.state == "visible" and counted >= THRESHOLD:
            sub.state = "hidden"
            m.log("hide")
        assert r.json()["article"]["status"] == ("hidden" if sub.state == "hidden" else "ok"), r.text

    async def decide(self, a: int, b: int, c: int) -> None:
        m, moderator, group = self.model, MODERATORS[a % 2], GROUPS[b % len(GROUPS)]
        waiting = m.waiting(group)
        if not waiting:
            return
        item, action = waiting[c % len(waiting)], ("approve", "reject")[c // 7 % 2]
        r = await self.clients[moderator].post(
            f"/api/groups/{group}/queue/{item.id}/{action}", json={"reason": "r"}
        )
        self.steps.append(f"{action} {moderator} item {item.id} ({item.kind}) -> {r.status_code}")
        assert r.status_code == 200, r.text
        self.decided(item, action, r.json())

    async def many(self, a: int, b: int, c: int) -> None:
        m, group = self.model, GROUPS[b % len(GROUPS)]
        waiting = m.waiting(group)
        if not waiting:
            return
        chosen, action = waiting[: 1 + c % 3], ("approve", "reject")[a % 2]
        ids = [i.id for i in chosen]
        r = await self.clients["max"].post(f"/api/groups/{group}/queue/{action}", json={"ids": ids})
        self.steps.append(f"{action} many {ids} -> {r.status_code}")
        assert r.status_code == 200 and r.json()["failed"] == [], r.text
        for item, result in zip(chosen, r.json()["decided"], strict=True):
            self.decided(item, action, result)

    def decided(self, item: Item, action: str, result: dict) -> None:
        m, sub = self.model, item.sub
        state = {"approve": "approved", "reject": "rejected"}[action]
        assert result["item"]["id"] == item.id and result["item"]["state"] == state
        item.state = state
        if item.kind == "held":
            m.log(action)
            if action == "approve":
                m.published(sub, result["article"])
                assert result["article"]["approved"] in ("Mona", "Max")
            else:
                sub.state = "removed"
        elif action == "approve":
            m.log("dismiss")
            if sub.state == "hidden":
                sub.state = "visible"
        else:
            m.log("cancel")
            sub.state, sub.removal_entry = "removed", result["entry"]["id"]
        assert result["entry"]["action"] == (
            "cancel"
            if item.kind == "reported" and action == "reject"
            else "dismiss"
            if item.kind == "reported"
            else action
        )

    async def stale(self, a: int, b: int, c: int) -> None:
        decided = [i for i in self.model.items.values() if i.state != "waiting"]
        if not decided:
            return
        item = decided[b % len(decided)]
        action = ("approve", "reject")[c % 2]
        r = await self.clients[MODERATORS[a % 2]].post(
            f"/api/groups/{item.group}/queue/{item.id}/{action}", json={}
        )
        self.steps.append(f"stale {action} item {item.id} -> {r.status_code}")
        assert r.status_code == 409 and r.json()["error"]["code"] == "conflict", r.text

    async def remove(self, a: int, b: int, c: int) -> None:
        m, targets = self.model, self.model.with_article()
        if not targets:
            return
        sub = targets[b % len(targets)]
        r = await self.clients[MODERATORS[a % 2]].post(
            f"/api/articles/{sub.article_id}/cancel", json={"reason": "x"}
        )
        self.steps.append(f"remove {sub.mid} ({sub.state}) -> {r.status_code}")
        assert r.status_code == 200 and r.json()["article"]["status"] == "cancelled", r.text
        if sub.state == "removed":
            return
        mine = sub.author in MODERATORS and MODERATORS[a % 2] == sub.author
        if not mine:  # a moderator's own article is withdrawn as its author's
            m.log("cancel")
        sub.state = "removed"
        m.settle_reports(sub)

    async def withdraw(self, a: int, b: int, c: int) -> None:
        m = self.model
        own = [s for s in m.with_article() if s.author == POSTERS[a % len(POSTERS)]]
        if not own:
            return
        sub = own[b % len(own)]
        r = await self.clients[sub.author].post(f"/api/articles/{sub.article_id}/cancel", json={})
        self.steps.append(f"withdraw {sub.author} {sub.mid} ({sub.state}) -> {r.status_code}")
        assert r.status_code == 200 and r.json()["article"]["status"] == "cancelled", r.text
        if sub.state != "removed":
            sub.state = "removed"
            m.settle_reports(sub)

    async def suspend(self, a: int, b: int, c: int) -> None:
        member = MEMBERS[a % len(MEMBERS)]
        r = await self.admin.post(
            f"/api/users/{member}/suspend", json={"days": 1 + c % 5, "reason": "spam run"}
        )
        self.steps.append(f"suspend {member} -> {r.status_code}")
        assert r.status_code == 200, r.text
        self.model.suspended.add(member)
        self.model.log("suspend")

    async def unsuspend(self, a: int, b: int, c: int) -> None:
        member = MEMBERS[a % len(MEMBERS)]
        r = await self.admin.post(f"/api/users/{member}/unsuspend", json={})
        self.steps.append(f"unsuspend {member} -> {r.status_code}")
        if member not in self.model.suspended:
            assert r.status_code == 409, r.text
            return
        assert r.status_code == 200, r.text
        self.model.suspended.discard(member)
        self.model.log("unsuspend")

    async def undo(self, a: int, b: int, c: int) -> None:
        """Undo a moderator's removal from the log: the article is visible again."""
        removed = [
            s for s in self.model.subs.values() if s.removal_entry is not None and s.state == "removed"
        ]
        if not removed:
            return
        sub = removed[b % len(removed)]
        r = await self.clients[MODERATORS[a % 2]].post(
            f"/api/modlog/{sub.removal_entry}/undo", json={"reason": "removed in error"}
        )
        self.steps.append(f"undo removal of {sub.mid} -> {r.status_code}")
        assert r.status_code == 200, r.text
        sub.state, sub.removal_entry = "visible", None
        self.model.log("undo")

    # The invariants.

    async def check(self) -> None:
        m = self.model
        conn = sqlite3.connect(self.site.config.db_path)
        conn.row_factory = sqlite3.Row
        try:
            articles = {
                r["message_id"]: r
                for r in conn.execute(
                    "SELECT a.*, g.name AS group_name FROM articles a JOIN groups g"
                    " ON g.id = a.group_id WHERE a.status != 'notice'"
                )
            }
            queue = conn.execute("SELECT * FROM queue ORDER BY id").fetchall()
            entries = conn.execute("SELECT * FROM modlog ORDER BY id").fetchall()
        finally:
            conn.close()
        # Every submission in exactly one state, and the one the model expects.
        held = {r["message_id"]: r for r in queue if r["kind"] == "held"}
        assert set(articles) | set(held) == set(m.subs), self.steps
        for mid, sub in m.subs.items():
            article, item = articles.get(mid), held.get(mid)
            states = [
                article is not None and article["status"] == "ok",
                article is None and item is not None and item["state"] == "waiting",
                article is not None and article["status"] == "hidden",
                (article is not None and article["status"] == "cancelled")
                or (article is None and item is not None and item["state"] == "rejected"),
            ]
            assert sum(states) == 1, (mid, states, self.steps)
            found = ("visible", "held", "hidden", "removed")[states.index(True)]
            assert found == sub.state, (mid, found, sub, self.steps)
            m.seen.add(found)
            if article is not None:
                assert (article["id"], article["number"], article["group_name"]) == (
                    sub.article_id,
                    sub.number,
                    sub.group,
                ), (mid, self.steps)
        # The waiting items agree with the articles.
        by_id = {a["id"]: a for a in articles.values()}
        waiting = [r for r in queue if r["state"] == "waiting"]
        assert {r["id"] for r in waiting} == {i.id for i in m.items.values() if i.state == "waiting"}, (
            self.steps
        )
        for r in waiting:
            if r["kind"] == "reported":
                assert by_id[r["article_id"]]["status"] in ("ok", "hidden"), (dict(r), self.steps)
        assert len({r["message_id"] for r in waiting}) == len(waiting)
        ids = [r["article_id"] for r in waiting if r["article_id"] is not None]
        assert len(set(ids)) == len(ids)
        for a in articles.values():
            if a["status"] == "hidden":
                assert a["id"] in ids, (a["message_id"], self.steps)
        # One log entry per decision; every decided item names its own.
        counts: dict[str, int] = {}
        for e in entries:
            counts[e["action"]] = counts.get(e["action"], 0) + 1
        assert counts == m.entries, (counts, m.entries, self.steps)
        actions = {e["id"]: e["action"] for e in entries}
        named = [r["entry_id"] for r in queue if r["entry_id"] is not None]
        assert len(set(named)) == len(named), "an entry answers for one decision"
        for r in queue:
            if r["state"] == "waiting":
                assert r["entry_id"] is None
            elif r["kind"] == "held":
                assert actions[r["entry_id"]] == ("approve" if r["state"] == "approved" else "reject")
            elif r["state"] == "approved":
                assert actions[r["entry_id"]] == "dismiss"
            elif r["entry_id"] is not None:  # none when its author withdrew it
                assert actions[r["entry_id"]] == "cancel"
        # What NNTP serves: every numbered article but the hidden ones, under its number.
        async with self.site.db.read() as rconn:
            for name in GROUPS:
                group = await newsreading.group(rconn, name)
                assert group is not None and group["last_number"] == m.high[name]
                served = await newsreading.numbers(rconn, group["id"], 1, max(group["last_number"], 1))
                expected = sorted(
                    s.number
                    for s in m.subs.values()
                    if s.group == name and s.number is not None and s.state != "hidden"
                )
                assert served == expected, (name, served, expected, self.steps)
            for sub in m.subs.values():
                row = await newsreading.by_message_id(rconn, sub.mid)
                if sub.state in ("held", "hidden") or sub.number is None:
                    assert row is None, (sub, self.steps)
                else:
                    assert row["number"] == sub.number
                    assert (row["body"] == sub.text) == (sub.state == "visible"), (sub, row["body"])

    async def finish(self) -> None:
        report = check.check(self.site.config.db_path)
        assert report.ok, report.text()
        for name in POSTERS:
            items = (await self.clients[name].get("/api/me/queue")).json()["items"]
            expected = {
                s.mid for s in self.model.subs.values() if s.author == name and s.state in ("held", "hidden")
            }
            assert {i["message_id"] for i in items} == expected, (name, items, self.steps)
            assert all(i["reports"] is None for i in items)


async def _run(ops: list[tuple[str, int, int, int]]) -> Model:
    with tempfile.TemporaryDirectory() as tmp:
        config = Config(
            db_path=os.path.join(tmp, "moot.db"),
            post_rate=100000.0,
            post_burst=100000,
            domain="props.moot",
            nntp_port=0,
            read_connections=2,
            report_threshold=THRESHOLD,
            trust_new_days=0.0,  # accounts start as members, as conftest's sites
            trust_new_posts=0,
        ).checked()
        app = create_app(config, {})
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        site = TestSite(app, config)
        try:
            run = Run(site)
            await run.setup()
            for kind, a, b, c in ops:
                await getattr(run, kind)(a, b, c)
                await run.check()
            await run.finish()
            return run.model
        finally:
            await site.close()
            await lifespan.__aexit__(None, None, None)


@settings(settings.get_profile("queue"))
@given(OPS)
def test_any_sequence_leaves_each_submission_in_one_state_and_the_channels_agreeing(ops):
    asyncio.run(_run(ops))


def test_a_long_mixed_sequence_reaches_every_state():
    """One fixed sequence that surely holds, approves, rejects, hides, dismisses and removes."""
    ops = [
        ("submit", 0, 2, 0),
        ("submit", 1, 2, 0),
        ("submit", 0, 0, 0),
        ("submit", 1, 0, 1),
        ("report", 1, 2, 0),
        ("report", 2, 2, 1),
        ("report", 3, 2, 2),
        ("decide", 0, 2, 0),
        ("decide", 0, 2, 7),
        ("report", 2, 3, 0),
        ("report", 3, 3, 0),
        ("decide", 1, 0, 0),
        ("suspend", 0, 0, 0),
        ("submit", 0, 0, 0),
        ("report", 0, 0, 0),
        ("unsuspend", 0, 0, 0),
        ("submit", 0, 2, 1),
        ("many", 1, 2, 2),
        ("remove", 0, 0, 0),
        ("withdraw", 1, 0, 0),
        ("stale", 0, 0, 0),
        ("submit", 2, 3, 0),
        ("report", 0, 1, 0),
    ]
    model = asyncio.run(_run(ops))
    assert model.seen == {"visible", "held", "hidden", "removed"}
    assert {"approve", "reject", "hide", "dismiss", "cancel", "suspend", "unsuspend"} <= set(model.entries)
    assert {i.kind for i in model.items.values() if i.state == "rejected"} == {"held", "reported"}


async def test_a_removal_outside_the_queue_settles_the_reports_waiting_on_the_article(make_site):
    """A moderator's cancel from the thread, or the author's own withdrawal, of a
    reported article decides its waiting item with it: nothing waits on a
    withdrawn article, and the item names the removal's log entry."""
    site = await make_site(report_threshold=1)
    seeded = await seed(site)
    ada, bea, mona = seeded["ada"], await site.client("bea"), await site.client("mona", "moderator")
    root, reply = seeded["root"], seeded["reply"]
    for article in (root, reply):
        r = await bea.post(f"/api/articles/{article['id']}/report", json={"reason": "spam"})
        assert r.json()["article"]["status"] == "hidden"
    items = (await mona.get("/api/groups/comp.lang.python/queue")).json()["items"]
    assert len(items) == 2
    r = await mona.post(f"/api/articles/{root['id']}/cancel", json={"reason": "spam"})
    assert r.status_code == 200, r.text
    r = await ada.post(f"/api/articles/{reply['id']}/cancel", json={})
    assert r.status_code == 200, r.text
    queue = (await mona.get("/api/groups/comp.lang.python/queue")).json()
    assert queue["items"] == [] and queue["waiting"] == 0
    decided = (await mona.get("/api/groups/comp.lang.python/queue?state=rejected")).json()["items"]
    by_article = {i["article"]["id"]: i for i in decided}
    removal = by_article[root["id"]]
    assert removal["decided_by"] == "mona" and removal["entry_id"] is not None
    entry = (await mona.get(f"/api/modlog/{removal['entry_id']}")).json()["entry"]
    assert entry["action"] == "cancel"
    withdrawn = by_article[reply["id"]]
    assert withdrawn["decided_by"] is None and withdrawn["entry_id"] is None
    r = await mona.post(f"/api/groups/comp.lang.python/queue/{removal['id']}/approve", json={})
    assert r.status_code == 409

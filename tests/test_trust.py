"""Trust earned by posting: levels at their boundaries, what a new account
may do at once (a share of the posting rate, few links, posts reviewed where
a group or the site asks), moderators never held, the level on profiles and
reports weighed by their reporter's level."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from moot.stewardship import trust
from moot.stewardship.permissions import User
from moot.store import clock
from tests.conftest import ANY_PORT, seed
from tests.nntp_support import nntplib
from tests.test_moderated_channels import nntp_post

# The site defaults: new for two days and until three articles are published.
NEW = {"trust_new_days": 2.0, "trust_new_posts": 3}
LINKS = "See https://a.example, http://b.example and www.c.example"


async def established(site, name: str, *, days: float = 30, posts: int = 3, role: str = "member"):
    """A signed-in client for an account `days` old with `posts` published (a member by the defaults)."""
    user = await site.user(name, role)
    async with site.db.transaction() as conn:
        await conn.execute(
            "UPDATE users SET created_at = ?, posts = ? WHERE id = ?",
            (clock.stamp(clock.parse(clock.now()) - timedelta(days=days)), posts, user.id),
        )
    return await site.client(name, role)


def test_levels_at_their_boundaries():
    rules, now = trust.Rules(), clock.now()

    def account(
        days: float, posts: int, *, strike_days: float | None = None, frozen: bool = False, role="member"
    ):
        ago = lambda d: clock.stamp(clock.parse(now) - timedelta(days=d))  # noqa: E731
        return User(
            1,
            "u",
            "U",
            role,
            created_at=ago(days),
            posts=posts,
            strike_at=None if strike_days is None else ago(strike_days),
            trust_frozen_at=now if frozen else None,
        )

    def level(*args, **kwargs) -> str:
        return trust.level(account(*args, **kwargs), rules, now)

    assert level(2, 3) == "member"  # exactly new_days old, exactly new_posts
    assert level(1.999, 3) == "new" and level(2, 2) == "new" and level(400, 0) == "new"
    assert level(400, 500, frozen=True) == "new"  # held as spam: new until a moderator approves
    assert level(180, 50) == "regular"
    assert level(179.9, 50) == "member" and level(180, 49) == "member"
    assert level(180, 50, strike_days=89.9) == "member"  # a recent strike
    assert level(180, 50, strike_days=90) == "regular"  # it ages out
    assert trust.held_as_new(account(0, 0), rules, now)
    assert not trust.held_as_new(account(0, 0, role="moderator"), rules, now)
    assert not trust.held_as_new(account(0, 0, role="admin"), rules, now)
    assert [trust.weight(account(d, p), rules, now) for d, p in ((0, 0), (5, 5), (200, 60))] == [1, 2, 3]


async def test_new_accounts_post_at_a_share_of_the_sites_rate(make_site):
    site = await make_site(post_rate=4.0, post_burst=8, **NEW)  # new accounts: 1 a minute, 2 at once
    s = await seed(site)  # ada, new, spent her two
    r = await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": "third"})
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert int(r.headers["retry-after"]) >= 1
    mia = await established(site, "mia")
    for n in range(8):  # a member has the whole burst
        r = await mia.post(f"/api/articles/{s['root']['id']}/replies", json={"body": f"reply {n}"})
        assert r.status_code == 201, (n, r.text)
    r = await mia.post(f"/api/articles/{s['root']['id']}/replies", json={"body": "one too many"})
    assert r.status_code == 429


async def test_new_accounts_links_are_limited_on_the_api_and_over_nntp(make_site):
    site = await make_site(nntp_port=ANY_PORT, **NEW)
    s = await seed(site)
    before = site.snapshot()
    r = await s["ada"].post("/api/groups/comp.lang.python/threads", json={"subject": "Deals", "body": LINKS})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "too_many_links" and error["limit"] == 2 and "at most 2 links" in error["message"]
    text = f"Newsgroups: comp.lang.python\r\nSubject: Deals\r\n\r\n{LINKS}\r\n"
    with pytest.raises(nntplib.NNTPTemporaryError) as refused:
        await asyncio.to_thread(nntp_post, site, "ada", text)
    assert refused.value.response.startswith("441") and "at most 2 links" in refused.value.response
    assert site.snapshot() == before  # nothing stored, no rate spent on either
    r = await s["ada"].post(
        f"/api/articles/{s['root']['id']}/replies", json={"body": "http://a.example www.b.example"}
    )
    assert r.status_code == 201, r.text
    reply = r.json()["article"]
    r = await s["ada"].put(f"/api/articles/{reply['id']}", json={"body": LINKS})  # nor added by an edit
    assert r.status_code == 422 and r.json()["error"]["code"] == "too_many_links"
    assert (await s["ada"].get(f"/api/articles/{reply['id']}")).json()["article"]["body"] == reply["body"]
    mia = await established(site, "mia")
    r = await mia.post("/api/groups/comp.lang.python/threads", json={"subject": "Links", "body": LINKS})
    assert r.status_code == 201, r.text


async def test_posts_are_counted_up_to_the_most_a_level_asks_for_then_leave_the_account_alone(make_site):
    """Past Rules.counted an article changes no level, so it writes nothing to
    the account's row; a higher threshold later counts on from there."""
    site = await make_site(
        trust_new_days=0.0, trust_new_posts=1, trust_regular_days=0.0, trust_regular_posts=3
    )
    s = await seed(site)
    bode = await established(site, "bode", days=1, posts=0)

    async def count() -> int:
        async with site.db.read() as conn:
            return (await conn.execute_fetchall("SELECT posts FROM users WHERE username = 'bode'"))[0][0]

    levels = []
    for i in range(5):
        r = await bode.post(f"/api/articles/{s['root']['id']}/replies", json={"body": f"reply {i}"})
        assert r.status_code == 201, r.text
        levels.append((await count(), (await bode.get("/api/users/bode")).json()["user"]["trust"]))
    assert levels == [(1, "member"), (2, "member"), (3, "regular"), (3, "regular"), (3, "regular")]
    # A moderator's approval counts exactly (it has no site rules at hand), and a
    # site that raises the threshold counts on from the capped figure.
    async with site.db.transaction() as conn:
        await trust.published(conn, (await site.user("bode")).id)
        await trust.published(conn, (await site.user("bode")).id, trust.Rules(regular_posts=5).counted)
    assert await count() == 5


async def test_a_new_accounts_posts_wait_in_a_reviewing_group_and_approvals_promote_it(make_site):
    site = await make_site(trust_new_days=0.0, trust_new_posts=2)
    s = await seed(site)  # ada has two articles: a member
    marta = await site.client("marta", "moderator")
    group = "comp.lang.python"
    r = await s["ada"].put(f"/api/groups/{group}/review-new", json={"review_new": True})
    assert r.status_code == 403
    r = await marta.put(f"/api/groups/{group}/review-new", json={"review_new": True, "reason": "spam wave"})
    assert r.status_code == 200, r.text
    assert r.json()["group"]["review_new"] is True
    assert r.json()["entry"]["action"] == "review_new" and r.json()["entry"]["data"] == {
        "from": False,
        "to": True,
    }
    nell = await site.client("nell")

    async def level() -> str:
        return (await nell.get("/api/users/nell")).json()["user"]["trust"]

    async def post_and_approve(subject: str) -> dict:
        r = await nell.post(f"/api/groups/{group}/threads", json={"subject": subject, "body": "Hello all"})
        assert r.status_code == 202, r.text
        held = r.json()["held"]
        assert held["why"] == "new" and held["group"] == group
        threads = (await nell.get(f"/api/groups/{group}/threads")).json()["threads"]
        assert subject not in [t["subject"] for t in threads]  # not shown while it waits
        r = await marta.post(f"/api/groups/{group}/queue/{held['id']}/approve", json={})
        assert r.status_code == 200, r.text
        return r.json()

    assert await level() == "new"
    await post_and_approve("First words")
    assert await level() == "new"  # one approved of two
    await post_and_approve("Second words")
    assert await level() == "member"
    r = await nell.post(f"/api/groups/{group}/threads", json={"subject": "Third", "body": "Now at once"})
    assert r.status_code == 201, r.text
    subjects = [t["subject"] for t in (await nell.get(f"/api/groups/{group}/threads")).json()["threads"]]
    assert {"First words", "Second words", "Third"} <= set(subjects)
    r = await s["ada"].post(f"/api/groups/{group}/threads", json={"subject": "Member", "body": "At once"})
    assert r.status_code == 201  # a member is not reviewed
    page = await nell.get("/u/nell")
    assert page.status_code == 200 and "<dt>Trust</dt><dd>member</dd>" in page.text


async def test_the_site_wide_switch_is_logged_and_never_holds_moderators(make_site):
    site = await make_site(**NEW)
    s = await seed(site)  # ada: new
    admin, marta = s["admin"], await site.client("marta", "moderator")
    before = site.snapshot()
    for client, body, status in (
        (marta, {"review_new": True}, 403),
        (admin, {"review_new": "yes"}, 400),
        (admin, {}, 400),
    ):
        r = await client.put("/api/admin/review-new", json=body)
        assert r.status_code == status, r.text
    assert site.snapshot() == before
    r = await admin.put("/api/admin/review-new", json={"review_new": True, "reason": "under attack"})
    assert r.status_code == 200, r.text
    entry = r.json()["entry"]
    assert entry["action"] == "review_new" and entry["reason"] == "under attack"
    assert (await admin.get("/api/admin/review-new")).json() == {"review_new": True}
    logged = (await admin.get("/api/modlog")).json()["entries"]
    assert [e["id"] for e in logged if e["action"] == "review_new"] == [entry["id"]]
    r = await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": "a reply"})
    assert r.status_code == 202 and r.json()["held"]["why"] == "new"
    for client in (marta, admin):  # moderators and admins, new as they may be, are never held
        r = await client.post(f"/api/articles/{s['root']['id']}/replies", json={"body": "at once"})
        assert r.status_code == 201, r.text
    r = await admin.put("/api/admin/review-new", json={"review_new": False})
    assert r.status_code == 200 and r.json()["entry"]["data"] == {"from": True, "to": False}
    r = await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": "shown again"})
    assert r.status_code == 201


async def test_reports_weigh_by_the_reporters_level(make_site):
    site = await make_site(**NEW)  # threshold 3: three members' reports hide
    s = await seed(site)
    ada = s["ada"]
    first = s["root"]
    r = await ada.post(f"/api/articles/{first['id']}/replies", json={"body": "another"})
    second = r.json()["article"]

    async def report(client, article) -> dict:
        r = await client.post(f"/api/articles/{article['id']}/report", json={"reason": "spam"})
        assert r.status_code == 201, r.text
        return r.json()

    members = [await established(site, f"member{n}") for n in range(3)]
    assert [(await report(m, first))["article"]["status"] for m in members] == ["ok", "ok", "hidden"]
    newcomers = [await site.client(f"newcomer{n}") for n in range(5)]
    for newcomer in newcomers:  # 5 < 6: new accounts' reports alone weigh little
        assert (await report(newcomer, second))["article"]["status"] == "ok"
    regular = await established(site, "regular", days=365, posts=60)
    assert (await report(regular, second))["article"]["status"] == "hidden"  # 5 + 3
    profile = (await regular.get("/api/users/regular")).json()["user"]
    assert profile["trust"] == "regular"
    hide = [e for e in (await ada.get("/api/modlog")).json()["entries"] if e["action"] == "hide"]
    assert [e["data"] for e in hide] == [{"reports": 6, "weight": 8}, {"reports": 3, "weight": 6}]

"""Killfiles against the real app: rule matching and the regex checks (a
slow or invalid pattern is refused at save time), rules applied to pages,
unread counts, next unread, notifications and the fragments live pages
fetch; one-click mutes; the /rules page; limits and refusals."""

from __future__ import annotations

import asyncio
import re

import pytest

from moot.people import killfile
from moot.store.errors import Invalid
from tests.conftest import seed


def article(**over) -> dict:
    return {
        "author": "ada",
        "subject": "Re: The GIL in 3.13",
        "group": "comp.lang.python",
        "thread_id": 7,
        "parent_author": "bob",
        **over,
    }


def rule(field, pattern, score, regex=False) -> killfile.Rule:
    return killfile.Rule(1, field, pattern, regex, score, re.compile(pattern, re.I) if regex else None)


def test_rules_match_and_add_up():
    rules = [
        rule("author", "ada", -50),
        rule("subject", "gil", -60),
        rule("group", "comp.*", 5),
        rule("thread", "7", 0),
        rule("replies_to", "bob", 1),
        rule("subject", r"^re:\s", 3, regex=True),
    ]
    assert killfile.score(rules, article()) == -50 - 60 + 5 + 0 + 1 + 3
    assert killfile.verdict(killfile.score(rules, article())) == "killed"
    assert (
        killfile.score(rules, article(author="carol", subject="Hello", group="rec.x", parent_author=None))
        == 0
    )
    assert (
        killfile.verdict(100) == "high"
        and killfile.verdict(99) is None
        and killfile.verdict(-100) == "killed"
    )


@pytest.mark.parametrize(
    "pattern, why",
    [
        ("(unclosed", "not a valid regular expression"),
        ("[a-z]{0,99999999999}", "not a valid regular expression"),  # a count past what re can count
        ("(a+)+$", "repeat something that repeats"),
        (r"(\w)\1", "back-references"),
        ("(?=x)y", "look-arounds"),
        ("a*b*c*d*", "at most 3 unbounded"),
        (".*.*.*=", "too slow"),
    ],
)
async def test_slow_or_invalid_patterns_are_refused(pattern, why):
    with pytest.raises(Invalid, match=why):
        await killfile.checked_rule("subject", pattern, True, -100)


async def test_sound_patterns_pass():
    assert await killfile.checked_rule("subject", r"^re:\s+(gil|nogil)\b", True, -100) == (
        "subject",
        r"^re:\s+(gil|nogil)\b",
        True,
        -100,
    )
    assert await killfile.checked_rule("group", "comp.lang.*", None, 5) == ("group", "comp.lang.*", False, 5)


async def test_rules_apply_to_pages_counts_next_unread_and_notifications(site):
    s = await seed(site)  # ada's thread: root and one reply
    bob, carol = await site.client("bob"), await site.client("carol")
    tid = s["thread"]["id"]
    r = await bob.post(f"/api/articles/{s['root']['id']}/replies", json={"body": "bob's own"})
    mine = r.json()["article"]
    assert (await bob.get("/api/unread", params={"groups": "comp.lang.python", "threads": tid})).json() == {
        "groups": {"comp.lang.python": 2},
        "threads": {str(tid): 2},
    }

    r = await bob.post("/api/users/ada/mute", json={"on": True})
    assert r.json() == {"username": "ada", "muted": True}
    assert (await bob.get("/api/unread", params={"groups": "comp.lang.python", "threads": tid})).json() == {
        "groups": {"comp.lang.python": 0},
        "threads": {str(tid): 0},
    }
    assert (await bob.get("/api/unread/next")).json() == {"next": None}
    assert [g["unread"] for g in (await bob.get("/api/groups")).json()["groups"]] == [0]

    page = (await bob.get(f"/t/{tid}")).text
    assert page.count("<summary>Hidden by your rules: show</summary>") == 2
    assert re.search(rf'class="node status-ok killed" id="a{s["root"]["id"]}"', page)
    assert "First post" in page  # collapsed, not removed: one click shows it
    assert "Hidden by your rules" not in (await carol.get(f"/t/{tid}")).text
    # the fragment a live page fetches for a new article is collapsed for bob too
    r = await s["ada"].post(f"/api/articles/{mine['id']}/replies", json={"body": "ada answers bob"})
    answer = r.json()["article"]
    frag = (await bob.get(f"/t/{tid}/fragment/a/{answer['id']}")).text
    assert (
        "Hidden by your rules" in frag
        and "Hidden by your rules" not in (await carol.get(f"/t/{tid}/fragment/a/{answer['id']}")).text
    )
    # a muted author never notifies
    assert (await bob.get("/api/notifications")).json()["notifications"] == []

    # A highlight by subject; a muted thread is marked on the group page and tells nothing.
    await bob.post("/api/users/ada/mute", json={"on": False})
    r = await bob.post("/api/rules", json={"field": "subject", "pattern": "hello", "score": 150})
    assert r.status_code == 201 and r.json()["rule"]["score"] == 150
    page = (await bob.get(f"/t/{tid}")).text
    assert re.search(rf'class="node status-ok[a-z ]* high" id="a{s["root"]["id"]}"', page)
    r = await bob.post(f"/api/threads/{tid}/mute", json={"on": True})
    assert r.json() == {"thread_id": tid, "muted": True}
    group_page = (await bob.get("/g/comp.lang.python")).text
    assert 'class="thread-row state-open killed"' in group_page and "muted</span>" in group_page
    await s["ada"].post(f"/api/articles/{mine['id']}/replies", json={"body": "again"})
    assert (await bob.get("/api/notifications")).json()["notifications"] == []


async def test_rule_editing_limits_and_refusals(site):
    await seed(site)
    bob, carol, anon = await site.client("bob"), await site.client("carol"), await site.client()
    before = site.snapshot()
    bad = [
        ({"field": "colour", "pattern": "x", "score": 1}, 400),
        ({"field": "author", "pattern": "", "score": 1}, 400),
        ({"field": "author", "pattern": "ada", "score": 1, "regex": True}, 400),
        ({"field": "subject", "pattern": "x", "score": 10000}, 400),
        ({"field": "subject", "pattern": "x", "score": True}, 400),
        ({"field": "subject", "pattern": "x" * 201, "score": 1}, 413),
        ({"field": "subject", "pattern": "a\x01", "score": 1}, 400),
        ({"field": "thread", "pattern": "abc", "score": 1}, 400),
        ({"field": "subject", "pattern": "(a*)*", "score": 1, "regex": True}, 400),
    ]
    for body, status in bad:
        r = await bob.post("/api/rules", json=body)
        assert r.status_code == status, (body, r.text)
    assert (
        await anon.post("/api/rules", json={"field": "author", "pattern": "ada", "score": 1})
    ).status_code == 401
    assert (await anon.get("/api/rules")).status_code == 401
    assert (await bob.post("/api/users/nobody/mute", json={"on": True})).status_code == 404
    assert (await bob.post("/api/users/bob/mute", json={"on": True})).status_code == 400
    assert (await bob.post("/api/threads/999/mute", json={"on": True})).status_code == 404
    assert site.snapshot() == before

    r = await carol.post("/api/rules", json={"field": "author", "pattern": "ada", "score": -5})
    carols = r.json()["rule"]["id"]
    assert (await bob.post(f"/api/rules/{carols}/delete", json={})).status_code == 404  # not bob's
    assert [x["id"] for x in (await carol.get("/api/rules")).json()["rules"]] == [carols]
    assert (await carol.post(f"/api/rules/{carols}/delete", json={})).status_code == 204

    # At most 200 rules.
    async with site.db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO kill_rules (user_id, field, pattern, regex, score, created_at)"
            " VALUES (?, 'subject', ?, 0, -1, '2026-01-01T00:00:00.000Z')",
            [(site.users["carol"].id, f"word{i}") for i in range(199)],
        )
    assert (
        await carol.post("/api/rules", json={"field": "subject", "pattern": "last", "score": 1})
    ).status_code == 201
    r = await carol.post("/api/rules", json={"field": "subject", "pattern": "over", "score": 1})
    assert r.status_code == 413

    # Rule edits are limited per reader, however many arrive at once: a burst of 30,
    # reserved before the checks, so bob's 13 refused edits above spent 13 of them.
    results = await asyncio.gather(
        *(
            bob.post("/api/rules", json={"field": "subject", "pattern": f"w{i}", "score": -1})
            for i in range(60)
        )
    )
    assert sorted(r.status_code for r in results) == [201] * 17 + [429] * 43


async def test_rules_page_without_javascript(site):
    s = await seed(site)
    bob = await site.client("bob")
    page = (await bob.get("/rules")).text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    r = await bob.post(
        "/rules", data={"csrf": token, "field": "subject", "pattern": "(x+)+", "regex": "1", "score": "-100"}
    )
    assert r.status_code == 400 and "repeat something that repeats" in r.text and 'value="(x+)+"' in r.text
    r = await bob.post("/rules", data={"csrf": token, "field": "author", "pattern": "ada", "score": "-100"})
    assert r.status_code == 303
    page = (await bob.get("/rules")).text
    assert "<code>ada</code>" in page
    rid = re.search(r'action="/rules/(\d+)/delete"', page).group(1)
    assert (await bob.post(f"/rules/{rid}/delete", data={"csrf": "forged"})).status_code == 403
    assert (await bob.post(f"/rules/{rid}/delete", data={"csrf": token})).status_code == 303
    assert "<code>ada</code>" not in (await bob.get("/rules")).text
    # one-click mutes from the profile and the thread page
    r = await bob.post("/u/ada/mute", data={"csrf": token, "on": "1"})
    assert r.status_code == 303 and "Unmute ada" in (await bob.get("/u/ada")).text
    r = await bob.post(f"/t/{s['thread']['id']}/mute", data={"csrf": token, "on": "1"})
    assert r.status_code == 303 and "Unmute this thread" in (await bob.get(f"/t/{s['thread']['id']}")).text
    # the killfile is found from the account page, and names what each mute hides with a link to it
    assert 'href="/rules"' in (await bob.get("/account")).text
    page = (await bob.get("/rules")).text
    assert f'<a href="/t/{s["thread"]["id"]}">' in page and '<a href="/u/ada">' in page
    assert (await (await site.client()).get("/rules")).headers["location"].startswith("/login")

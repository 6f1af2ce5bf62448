"""Drafts over the JSON API and the account page: saved with the version
they replace, a stale save refused with the stored draft, limits, bad input,
privacy, and discarded by posting what they were for."""

from __future__ import annotations

import re

from conftest import seed

from moot.people import drafts


async def test_save_get_list_and_discard(site):
    s = await seed(site)
    ada, place = s["ada"], f"reply:{s['reply']['id']}"
    r = await ada.put(f"/api/drafts/{place}", json={"body": "Half a thought", "version": 0})
    assert r.status_code == 200, r.text
    assert r.json()["draft"]["version"] == 1
    r = await ada.put(
        f"/api/drafts/{place}", json={"body": "A whole thought", "subject": "New", "version": 1}
    )
    assert r.json()["draft"]["version"] == 2
    r = await ada.get(f"/api/drafts/{place}")
    assert r.json()["draft"] == {
        **r.json()["draft"],
        "body": "A whole thought",
        "subject": "New",
        "version": 2,
    }
    listed = (await ada.get("/api/drafts")).json()["drafts"]
    assert [(d["place"], d["link"], d["excerpt"]) for d in listed] == [
        (place, f"/a/{s['reply']['id']}/reply", "A whole thought")
    ]
    page = (await ada.get("/account")).text
    assert f'href="/a/{s["reply"]["id"]}/reply"' in page and "A whole thought" in page
    r = await ada.request("DELETE", f"/api/drafts/{place}", json={})
    assert r.status_code == 204
    assert (await ada.get(f"/api/drafts/{place}")).json() == {"draft": None}


async def test_a_stale_save_is_a_conflict_that_returns_the_stored_draft(site):
    s = await seed(site)
    ada, place = s["ada"], f"thread:{s['thread']['group']}"
    await ada.put(f"/api/drafts/{place}", json={"subject": "S", "body": "laptop", "version": 0})
    await ada.put(f"/api/drafts/{place}", json={"subject": "S", "body": "laptop, more", "version": 1})
    before = site.snapshot()
    r = await ada.put(f"/api/drafts/{place}", json={"subject": "S", "body": "phone", "version": 1})
    assert r.status_code == 409
    assert r.json()["error"]["draft"]["body"] == "laptop, more"
    assert r.json()["error"]["draft"]["version"] == 2
    assert site.snapshot() == before


async def test_bad_input_limits_and_privacy(site):
    s = await seed(site)
    ada, place = s["ada"], f"reply:{s['root']['id']}"
    bob = await site.client("bob")
    await ada.put(f"/api/drafts/{place}", json={"body": "mine", "version": 0})
    before = site.snapshot()
    bad = [
        ("reply:abc", {"body": "x", "version": 0}, 400),
        ("reply:0", {"body": "x", "version": 0}, 400),
        ("thread:Not A Group", {"body": "x", "version": 0}, 400),
        ("thread:no.such.group", {"body": "x", "version": 0}, 404),
        ("reply:999999", {"body": "x", "version": 0}, 404),
        (place, {"body": 5, "version": 1}, 400),
        (place, {"body": "x", "version": -1}, 400),
        (place, {"body": "x", "version": "one"}, 400),
        (place, {"body": "x", "subject": "a\x07b", "version": 1}, 400),
        (place, {"body": "x" * (64 * 1024 + 1), "version": 1}, 413),
        (place, {"body": "x", "subject": "s" * 251, "version": 1}, 400),
    ]
    for where, payload, status in bad:
        r = await ada.put(f"/api/drafts/{where}", json=payload)
        assert r.status_code == status, (where, payload, r.text)
    r = await ada.put(f"/api/drafts/{place}", content=b'{"body": "x", "version": 1}')
    assert r.status_code == 415  # not JSON: what a cross-site form would send
    anonymous = await site.client()
    assert (await anonymous.put(f"/api/drafts/{place}", json={"body": "x", "version": 0})).status_code == 401
    assert (await anonymous.get("/api/drafts")).status_code == 401
    # Another reader sees none of ada's drafts and cannot discard them.
    assert (await bob.get(f"/api/drafts/{place}")).json() == {"draft": None}
    assert (await bob.get("/api/drafts")).json()["drafts"] == []
    await bob.request("DELETE", f"/api/drafts/{place}", json={})
    after = site.snapshot()
    assert after["drafts"] == before["drafts"]


async def test_the_cap_refuses_a_new_draft_and_keeps_the_old(site, monkeypatch):
    s = await seed(site)
    ada = s["ada"]
    monkeypatch.setattr(drafts, "MAX_DRAFTS", 2)
    for article in (s["root"], s["reply"]):
        r = await ada.put(f"/api/drafts/reply:{article['id']}", json={"body": "x", "version": 0})
        assert r.status_code == 200
    r = await ada.put(f"/api/drafts/thread:{s['thread']['group']}", json={"body": "x", "version": 0})
    assert r.status_code == 400 and "2 drafts" in r.json()["error"]["message"]
    # Saving over a kept draft still works at the cap.
    r = await ada.put(f"/api/drafts/reply:{s['root']['id']}", json={"body": "y", "version": 1})
    assert r.status_code == 200


async def test_saves_are_rate_limited_per_account(site):
    s = await seed(site)
    ada, place = s["ada"], f"reply:{s['root']['id']}"
    version, statuses = 0, []
    for _ in range(12):
        r = await ada.put(f"/api/drafts/{place}", json={"body": "x", "version": version})
        statuses.append(r.status_code)
        if r.status_code == 200:
            version = r.json()["draft"]["version"]
    assert statuses.count(200) == 10 and statuses[-1] == 429
    bob = await site.client("bob")  # the budget is per account
    assert (await bob.put(f"/api/drafts/{place}", json={"body": "x", "version": 0})).status_code == 200


async def test_posting_discards_the_draft_it_was_written_in(site):
    s = await seed(site)
    ada, root = s["ada"], s["root"]
    group = s["thread"]["group"]
    for where in (f"reply:{root['id']}", f"thread:{group}", f"edit:{s['reply']['id']}"):
        await ada.put(f"/api/drafts/{where}", json={"body": "draft", "version": 0})
    await ada.post(f"/api/articles/{root['id']}/replies", json={"body": "Sent"})
    await ada.post(f"/api/groups/{group}/threads", json={"subject": "T", "body": "Sent"})
    r = await ada.put(f"/api/articles/{s['reply']['id']}", json={"body": "Edited"})
    assert r.status_code == 200, r.text
    assert (await ada.get("/api/drafts")).json()["drafts"] == []


async def test_account_page_discards_without_javascript(site):
    s = await seed(site)
    ada, place = s["ada"], f"reply:{s['root']['id']}"
    await ada.put(f"/api/drafts/{place}", json={"body": "draft", "version": 0})
    page = (await ada.get("/account")).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    r = await ada.post("/account/drafts/discard", data={"csrf": "wrong", "place": place})
    assert r.status_code == 403
    r = await ada.post("/account/drafts/discard", data={"csrf": csrf, "place": place})
    assert r.status_code == 303
    assert (await ada.get("/api/drafts")).json()["drafts"] == []

"""A group's own moderators: appointed by an admin or by a carried proposal,
they act on that group's queue, reports, bans and threads and on no other
group's; site moderators and admins act everywhere."""

from __future__ import annotations

import re

from tests.maint_support import build_tree

KNIT, YARN = "rec.knitting", "rec.yarn"


async def knitting_site(make_site, **config):
    """Two moderated groups, an admin, and members ada, bob, cyd and gia."""
    site = await make_site(**config)
    admin = await site.client("root", "admin")
    for name in (KNIT, YARN):
        r = await admin.post("/api/groups", json={"name": name, "description": name, "status": "m"})
        assert r.status_code == 201, r.text
    people = {name: await site.client(name) for name in ("ada", "bob", "cyd", "gia")}
    return site, admin, people


async def held_item(client, group: str) -> int:
    r = await client.post(
        f"/api/groups/{group}/threads", json={"subject": "Socks", "body": "Wool or cotton?"}
    )
    assert r.status_code == 202, r.text
    return int(r.json()["held"]["id"])


async def test_a_moderator_added_by_a_proposal_acts_on_that_groups_queue_and_not_on_anothers(make_site):
    site, _, p = await knitting_site(make_site, proposal_threshold=2)
    gia = p["gia"]  # signed in before: her session must learn of the change
    assert (await gia.get(f"/api/groups/{KNIT}/queue")).status_code == 403
    r = await p["ada"].post(
        "/api/proposals",
        json={"kind": "add_moderator", "name": KNIT, "username": "gia", "description": "She knits daily"},
    )
    assert r.status_code == 201, r.text
    proposal = r.json()["proposal"]
    assert (proposal["kind"], proposal["user"]["username"], proposal["status"]) == (
        "add_moderator",
        "gia",
        "open",
    )
    r = await p["bob"].post(f"/api/proposals/{proposal['id']}/endorse", json={})
    assert r.status_code == 200 and r.json()["proposal"]["status"] == "carried"
    entry = (await gia.get("/api/modlog")).json()["entries"][0]
    assert (entry["action"], entry["target"], entry["group"]) == ("moderator.add", "gia", KNIT)
    assert entry["actor"] is None and entry["data"]["proposal"] == proposal["id"]
    group = (await gia.get(f"/api/groups/{KNIT}")).json()["group"]
    assert [m["username"] for m in group["moderators"]] == ["gia"]
    assert "Gia</a> and the site" in (await p["cyd"].get(f"/g/{KNIT}")).text

    mine, theirs = await held_item(p["cyd"], KNIT), await held_item(p["cyd"], YARN)
    listed = (await gia.get(f"/api/groups/{KNIT}/queue")).json()["items"]
    assert [i["id"] for i in listed] == [mine]
    assert "/queue" in (await gia.get(f"/g/{KNIT}")).text  # the moderators' page, with its Queue link
    r = await gia.post(f"/api/groups/{KNIT}/queue/{mine}/approve", json={})
    assert r.status_code == 200 and r.json()["article"]["approved"] == "Gia"

    before = site.snapshot()
    assert (await gia.get(f"/api/groups/{YARN}/queue")).status_code == 403
    assert (await gia.post(f"/api/groups/{YARN}/queue/{theirs}/approve", json={})).status_code == 403
    assert f"/g/{YARN}/queue" not in (await gia.get(f"/g/{YARN}")).text
    assert site.snapshot() == before


async def test_an_admin_appoints_and_removes_a_groups_moderator_and_undoes_it(make_site):
    site, admin, p = await knitting_site(make_site)
    before = site.snapshot()
    for who, body, status in (
        (p["ada"], {"username": "gia"}, 403),  # members do not appoint
        (admin, {"username": "nobody"}, 404),
        (admin, {}, 404),
    ):
        assert (await who.post(f"/api/groups/{KNIT}/moderators", json=body)).status_code == status
    assert (await admin.post("/api/groups/no.such/moderators", json={"username": "gia"})).status_code == 404
    assert (
        await admin.post(f"/api/groups/{KNIT}/moderators/remove", json={"username": "gia"})
    ).status_code == 409
    assert site.snapshot() == before

    r = await admin.post(f"/api/groups/{KNIT}/moderators", json={"username": "gia", "reason": "volunteered"})
    assert r.status_code == 201, r.text
    assert [m["username"] for m in r.json()["moderators"]] == ["gia"]
    appointed = r.json()["entry"]
    assert (appointed["action"], appointed["actor"]["username"]) == ("moderator.add", "root")
    assert (await admin.post(f"/api/groups/{KNIT}/moderators", json={"username": "gia"})).status_code == 409
    assert (await p["gia"].get(f"/api/groups/{KNIT}/queue")).status_code == 200
    listed = (await p["ada"].get(f"/api/groups/{KNIT}/moderators")).json()["moderators"]
    assert [m["username"] for m in listed] == ["gia"]

    r = await admin.post(f"/api/groups/{KNIT}/moderators/remove", json={"username": "gia"})
    assert r.status_code == 200 and r.json()["moderators"] == []
    assert (await p["gia"].get(f"/api/groups/{KNIT}/queue")).status_code == 403
    removed = r.json()["entry"]
    # A group's moderator may not undo their own removal; an admin may.
    assert (await p["gia"].post(f"/api/modlog/{removed['id']}/undo", json={"reason": "r"})).status_code == 403
    r = await admin.post(f"/api/modlog/{removed['id']}/undo", json={"reason": "removed by mistake"})
    assert r.status_code == 200 and r.json()["entry"]["action"] == "undo"
    assert (await p["gia"].get(f"/api/groups/{KNIT}/queue")).status_code == 200
    assert (await admin.post(f"/api/modlog/{appointed['id']}/undo", json={"reason": "r"})).status_code == 200
    assert (await p["gia"].get(f"/api/groups/{KNIT}/queue")).status_code == 403

    # The group page's form: a refusal says why, shows the form again as typed
    # and leads back to the group
    page = (await admin.get(f"/g/{KNIT}")).text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    r = await admin.post(f"/g/{KNIT}/moderators", data={"csrf": token, "username": "nobody", "change": "add"})
    assert r.status_code == 404 and "no member named" in r.text
    assert 'id="moderator-username" name="username" maxlength="64" value="nobody"' in r.text
    assert f'<a href="/g/{KNIT}#moderators">Back to {KNIT}</a>' in r.text
    token = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
    r = await admin.post(
        f"/g/{KNIT}/moderators",
        data={"csrf": token, "username": "gia", "change": "add"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/g/{KNIT}#moderators"
    assert [
        m["username"] for m in (await admin.get(f"/api/groups/{KNIT}")).json()["group"]["moderators"]
    ] == ["gia"]


async def test_removal_by_proposal(make_site):
    site, admin, p = await knitting_site(make_site, proposal_threshold=2)
    await admin.post(f"/api/groups/{KNIT}/moderators", json={"username": "gia"})
    item = await held_item(p["cyd"], KNIT)
    r = await p["ada"].post(
        "/api/proposals", json={"kind": "remove_moderator", "name": KNIT, "username": "gia"}
    )
    assert r.status_code == 201, r.text
    assert (await p["gia"].get(f"/api/groups/{KNIT}/queue")).status_code == 200  # still hers while open
    r = await p["cyd"].post(f"/api/proposals/{r.json()['proposal']['id']}/endorse", json={})
    assert r.json()["proposal"]["status"] == "carried"
    assert (await p["gia"].post(f"/api/groups/{KNIT}/queue/{item}/approve", json={})).status_code == 403
    entry = (await admin.get("/api/modlog")).json()["entries"][0]
    assert (entry["action"], entry["target"]) == ("moderator.remove", "gia")
    assert (await admin.get(f"/api/groups/{KNIT}")).json()["group"]["moderators"] == []
    listed = (await admin.get("/api/proposals?status=carried")).json()["proposals"]
    assert [(x["kind"], x["status"]) for x in listed] == [("remove_moderator", "carried")]


async def test_bad_moderator_proposals_are_refused_and_change_nothing(make_site):
    site, admin, p = await knitting_site(make_site, proposal_threshold=3)
    await admin.post(f"/api/groups/{KNIT}/moderators", json={"username": "bob"})
    r = await p["ada"].post("/api/proposals", json={"kind": "add_moderator", "name": KNIT, "username": "gia"})
    assert r.status_code == 201
    before = site.snapshot()
    for body, status in (
        ({"kind": "add_moderator", "name": "no.such.group", "username": "gia"}, 404),
        ({"kind": "add_moderator", "name": KNIT, "username": "nobody"}, 404),
        ({"kind": "add_moderator", "name": KNIT}, 404),
        ({"kind": "add_moderator", "name": KNIT, "username": "gia"}, 409),  # open already
        ({"kind": "add_moderator", "name": KNIT, "username": "bob"}, 409),  # moderates it already
        ({"kind": "remove_moderator", "name": KNIT, "username": "cyd"}, 409),  # does not
        ({"kind": "crown", "name": KNIT, "username": "gia"}, 400),
    ):
        r = await p["cyd"].post("/api/proposals", json=body)
        assert r.status_code == status, (body, r.text)
    assert site.snapshot() == before


async def test_a_group_moderator_maintains_their_group_only_and_site_moderators_act_everywhere(make_site):
    site = await make_site()
    t = await build_tree(site)  # comp.lang.python: thread and other; comp.lang.misc
    admin, marta = await site.client("root", "admin"), await site.client("marta", "moderator")
    gia = await site.client("gia")
    assert (
        await admin.post("/api/groups/comp.lang.python/moderators", json={"username": "gia"})
    ).status_code == 201
    r = await t["ada"].post("/api/groups/comp.lang.misc/threads", json={"subject": "Lisp", "body": "(hi)"})
    misc = r.json()
    reply = await t["bob"].post(f"/api/articles/{misc['article']['id']}/replies", json={"body": "()"})
    misc_reply = reply.json()["article"]

    before = site.snapshot()
    refused = [
        ("POST", f"/api/threads/{misc['thread']['id']}/lock", {"reason": "r"}),
        (
            "POST",
            f"/api/threads/{misc['thread']['id']}/split",
            {"article_id": misc_reply["id"], "reason": "r"},
        ),
        (
            "POST",
            f"/api/threads/{t['other']['id']}/move",
            {"group": "comp.lang.misc", "reason": "r"},
        ),  # both sides
        (
            "POST",
            f"/api/threads/{t['thread']['id']}/split",
            {"article_id": t["a2"]["id"], "reason": "r", "group": "comp.lang.misc"},
        ),
        ("POST", "/api/groups/comp.lang.misc/bans", {"author": "ada", "days": 3, "reason": "r"}),
        ("POST", f"/api/articles/{misc_reply['id']}/cancel", {"reason": "r"}),
        ("PUT", "/api/groups/comp.lang.misc/policy", {"archive_after_days": 9}),
        ("POST", "/api/groups/comp.lang.python/moderators", {"username": "bob"}),  # admins appoint
    ]
    for method, path, body in refused:
        r = await gia.request(method, path, json=body)
        assert r.status_code == 403, (path, r.text)
    assert site.snapshot() == before
    assert 'data-moderator="1"' not in (await gia.get(f"/t/{misc['thread']['id']}")).text

    assert 'data-moderator="1"' in (await gia.get(f"/t/{t['thread']['id']}")).text
    r = await gia.post(
        f"/api/threads/{t['thread']['id']}/split", json={"article_id": t["a2"]["id"], "reason": "drift"}
    )
    assert r.status_code == 201, r.text
    assert (await gia.post(f"/api/threads/{t['thread']['id']}/lock", json={"reason": "r"})).status_code == 200
    r = await gia.post("/api/groups/comp.lang.python/bans", json={"author": "bob", "days": 3, "reason": "r"})
    assert r.status_code == 200, r.text
    assert (await gia.post(f"/api/articles/{t['a4']['id']}/cancel", json={"reason": "r"})).status_code == 200

    # Site moderators still act everywhere, and a group's moderator is not banned from it.
    assert (
        await marta.post(f"/api/threads/{misc['thread']['id']}/lock", json={"reason": "r"})
    ).status_code == 200
    r = await marta.post(
        f"/api/threads/{t['other']['id']}/move", json={"group": "comp.lang.misc", "reason": "r"}
    )
    assert r.status_code == 200, r.text
    r = await marta.post(
        "/api/groups/comp.lang.python/bans", json={"author": "gia", "days": 3, "reason": "r"}
    )
    assert r.status_code == 403


async def test_a_new_account_moderating_a_group_is_not_held_by_the_new_account_rules_there(make_site):
    site, admin, p = await knitting_site(make_site, trust_new_days=2.0, trust_new_posts=3)
    r = await admin.post(f"/api/groups/{KNIT}/moderators", json={"username": "gia"})
    assert r.status_code in (200, 201), r.text
    for group in (KNIT, YARN):
        r = await admin.put(f"/api/groups/{group}/policy", json={"status": "y", "reason": "open"})
        assert r.status_code == 200, r.text
        r = await admin.put(f"/api/groups/{group}/review-new", json={"review_new": True, "reason": "a wave"})
        assert r.status_code == 200, r.text
    links = "See http://a.example/1 http://b.example/2 and http://c.example/3"
    # In her own group: shown at once, links and all. In another: a new account like any.
    r = await p["gia"].post(f"/api/groups/{KNIT}/threads", json={"subject": "Patterns", "body": links})
    assert r.status_code == 201, r.text
    r = await p["gia"].post(f"/api/groups/{YARN}/threads", json={"subject": "Patterns", "body": links})
    assert r.status_code == 422 and r.json()["error"]["code"] == "too_many_links", r.text
    r = await p["gia"].post(f"/api/groups/{YARN}/threads", json={"subject": "Wool", "body": "Merino?"})
    assert r.status_code == 202 and r.json()["held"]["why"] == "new", r.text


async def test_a_groups_moderator_sets_review_of_new_accounts_there_and_not_elsewhere(make_site):
    site, admin, p = await knitting_site(make_site)
    r = await admin.post(f"/api/groups/{KNIT}/moderators", json={"username": "gia"})
    assert r.status_code == 201, r.text
    before = site.snapshot()
    assert (
        await p["ada"].put(f"/api/groups/{KNIT}/review-new", json={"review_new": True})
    ).status_code == 403
    assert (
        await p["gia"].put(f"/api/groups/{YARN}/review-new", json={"review_new": True})
    ).status_code == 403
    assert site.snapshot() == before
    r = await p["gia"].put(f"/api/groups/{KNIT}/review-new", json={"review_new": True, "reason": "a wave"})
    assert r.status_code == 200, r.text
    assert r.json()["group"]["review_new"] is True and r.json()["entry"]["actor"]["username"] == "gia"
    assert (await admin.get(f"/api/groups/{YARN}")).json()["group"]["review_new"] is False


async def test_a_proposal_an_admin_carried_out_meanwhile_closes_when_endorsed(make_site):
    _, admin, p = await knitting_site(make_site, proposal_threshold=2)
    r = await p["ada"].post(
        "/api/proposals",
        json={"kind": "add_moderator", "name": KNIT, "username": "gia", "description": "Yes"},
    )
    assert r.status_code == 201, r.text
    proposal = r.json()["proposal"]
    r = await admin.post(f"/api/groups/{KNIT}/moderators", json={"username": "gia"})
    assert r.status_code in (200, 201), r.text
    r = await p["bob"].post(f"/api/proposals/{proposal['id']}/endorse", json={})
    assert r.status_code == 200 and r.json()["proposal"]["status"] == "carried", r.text
    adds = [e for e in (await admin.get("/api/modlog")).json()["entries"] if e["action"] == "moderator.add"]
    assert len(adds) == 1 and adds[0]["actor"]["username"] == "root"  # made once, by the admin
